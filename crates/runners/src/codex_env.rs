//! Codex's environment, checked: where its home may live, and an agent whose every shell command
//! failed the same way (a broken environment, not a completed attempt).
//!
//! Codex (0.169.0 and later, `codex-rs/arg0`) puts helper aliases — `apply_patch` and the
//! `codex-linux-sandbox` that bubblewrap runs every shell command through — in
//! `$CODEX_HOME/tmp/arg0/` at start-up, and refuses to do so when the canonical `CODEX_HOME`
//! starts with the temp dir (`std::env::temp_dir()`: `$TMPDIR`, else `/tmp`; compared component
//! by component, not canonicalized). It goes on with a one-line warning on stderr; where
//! bubblewrap is installed each shell command then fails with `bwrap: execvp codex-linux-sandbox:
//! No such file or directory`, and `codex exec --json` emits no `command_execution` item for it —
//! the failures are seen only in the session's rollout file.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

/// The start of Codex's warning when it could not create its helper aliases.
pub const ALIAS_WARNING: &str = "could not create PATH aliases";

/// The temp dir a process sees with `TMPDIR` = `tmpdir` (Rust's `std::env::temp_dir` on Unix).
pub fn temp_dir(tmpdir: Option<&str>) -> Utf8PathBuf {
    Utf8PathBuf::from(tmpdir.filter(|t| !t.is_empty()).unwrap_or("/tmp"))
}

/// `Some(temp dir)` when Codex, started with `TMPDIR` = `tmpdir`, would refuse to create its
/// helpers in `home` (see the module docs). `home` need not exist yet: its nearest existing
/// ancestor is canonicalized. Both the given and the canonical temp dir are compared, so a
/// symlinked temp dir counts either way.
pub fn home_under_temp_dir(home: &Utf8Path, tmpdir: Option<&str>) -> Option<Utf8PathBuf> {
    let temp = temp_dir(tmpdir);
    let canonical_temp = temp.canonicalize_utf8().unwrap_or_else(|_| temp.clone());
    let home = canonical_prefix(home);
    (home.starts_with(&temp) || home.starts_with(&canonical_temp)).then_some(temp)
}

/// `path` with its longest existing prefix canonicalized (symlinks and `..` resolved).
fn canonical_prefix(path: &Utf8Path) -> Utf8PathBuf {
    let mut rest = Vec::new();
    let mut current = path.to_owned();
    loop {
        if let Ok(canonical) = current.canonicalize_utf8() {
            return rest.iter().rev().fold(canonical, |acc, part: &String| acc.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                current = parent.to_owned();
            }
            _ => return path.to_owned(),
        }
    }
}

/// One shell command the agent ran, as Codex reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellOutcome {
    /// The command line.
    pub command: String,
    /// Its exit code (`None` when Codex gave none).
    pub exit_code: Option<i64>,
    /// Its output (stdout and stderr together, as Codex aggregates them).
    pub output: String,
}

impl ShellOutcome {
    fn failed(&self) -> bool {
        self.exit_code != Some(0)
    }

    /// The first non-empty output line: what "failed the same way" compares.
    fn signature(&self) -> &str {
        self.output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
    }
}

/// The `command_execution` items of a `codex exec --json` stream, completed or failed.
pub fn outcomes_from_events(stdout: &str) -> Vec<ShellOutcome> {
    let mut out = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if event.get("type").and_then(Value::as_str) != Some("item.completed") {
            continue;
        }
        let Some(item) = event.get("item") else { continue };
        if item.get("type").and_then(Value::as_str) != Some("command_execution") {
            continue;
        }
        let status = item.get("status").and_then(Value::as_str).unwrap_or("");
        let exit_code = item.get("exit_code").and_then(Value::as_i64).or((status == "completed").then_some(0));
        out.push(ShellOutcome {
            command: item.get("command").and_then(Value::as_str).unwrap_or("").to_owned(),
            exit_code: if status == "failed" && exit_code == Some(0) { None } else { exit_code },
            output: item.get("aggregated_output").and_then(Value::as_str).unwrap_or("").to_owned(),
        });
    }
    out
}

/// The shell calls (`exec_command`, `shell`, `local_shell`) of the last turn of a Codex rollout
/// file (`$CODEX_HOME/sessions/…/rollout-…-<thread>.jsonl`), with their outputs. A resumed phase
/// appends one turn to its thread's file, so the last turn is the phase's own.
pub fn outcomes_from_rollout(text: &str) -> Vec<ShellOutcome> {
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut outputs: std::collections::HashMap<String, String> = Default::default();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        if entry.get("type").and_then(Value::as_str) == Some("turn_context") {
            calls.clear();
            outputs.clear();
            continue;
        }
        let Some(payload) =
            entry.get("payload").filter(|_| entry.get("type").and_then(Value::as_str) == Some("response_item"))
        else {
            continue;
        };
        let call_id = payload.get("call_id").and_then(Value::as_str).unwrap_or("").to_owned();
        match payload.get("type").and_then(Value::as_str) {
            Some("function_call")
                if matches!(
                    payload.get("name").and_then(Value::as_str),
                    Some("exec_command" | "shell" | "local_shell")
                ) =>
            {
                let arguments = payload.get("arguments").and_then(Value::as_str).unwrap_or("");
                let command = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .and_then(|a| a.get("cmd").or_else(|| a.get("command")).map(command_text))
                    .unwrap_or_else(|| arguments.to_owned());
                calls.push((call_id, command));
            }
            Some("function_call_output") => {
                let output = match payload.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                outputs.insert(call_id, output);
            }
            _ => {}
        }
    }
    calls
        .into_iter()
        .filter_map(|(id, command)| {
            let raw = outputs.get(&id)?;
            let exit_code = raw
                .lines()
                .find_map(|l| l.trim().strip_prefix("Process exited with code "))
                .and_then(|c| c.trim().parse().ok());
            let output = raw.split_once("Output:\n").map_or(raw.as_str(), |(_, o)| o).to_owned();
            Some(ShellOutcome { command, exit_code, output })
        })
        .collect()
}

fn command_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The home named in Codex's alias warning on `stderr`, when it printed one.
pub fn alias_warning_home(stderr: &str) -> Option<Option<String>> {
    let line = stderr.lines().find(|l| l.contains(ALIAS_WARNING))?;
    let home = line
        .split_once("codex_home: ")
        .map(|(_, rest)| rest.trim_start_matches("AbsolutePathBuf(").trim_start_matches('"'))
        .and_then(|rest| rest.split_once('"'))
        .map(|(home, _)| home.to_owned());
    Some(home)
}

/// `Some(message)` when the phase's environment is broken: every shell command failed the same
/// way — at least two different commands, or any number when Codex said it could not create
/// its helpers (then the message names that cause and its fix).
pub fn diagnose(outcomes: &[ShellOutcome], stderr: &str) -> Option<String> {
    let first = outcomes.first()?;
    let signature = first.signature();
    if signature.is_empty() || !outcomes.iter().all(|o| o.failed() && o.signature() == signature) {
        return None;
    }
    let distinct: std::collections::BTreeSet<&str> = outcomes.iter().map(|o| o.command.as_str()).collect();
    let helpers_missing = alias_warning_home(stderr);
    if distinct.len() < 2 && helpers_missing.is_none() {
        return None;
    }
    let n = outcomes.len();
    let every = if n == 1 {
        "the agent's only shell command failed".to_owned()
    } else {
        format!("all {n} shell commands of the agent failed the same way")
    };
    let mut message = format!("broken environment: {every}: `{signature}`");
    match helpers_missing {
        Some(home) => {
            let home = home.map_or_else(|| "CODEX_HOME".to_owned(), |h| format!("CODEX_HOME ({h})"));
            message.push_str(&format!(
                ". Cause: Codex refused to create its codex-linux-sandbox helper because {home} is under the temp dir, \
                 and bubblewrap runs every shell command through that helper. Fix: point CODEX_HOME at a directory \
                 outside the temp dir ($TMPDIR, else /tmp)"
            ));
        }
        None => message.push_str(
            ". The agent could not run anything; fix the environment it runs in (its sandbox, PATH, permissions) \
             and run again",
        ),
    }
    Some(message)
}

/// The rollout file of `thread` under `codex_home` (`sessions/YYYY/MM/DD/rollout-…-<thread>.jsonl`).
pub fn find_rollout(codex_home: &Utf8Path, thread: &str) -> Option<Utf8PathBuf> {
    let suffix = format!("-{thread}.jsonl");
    let mut dirs = vec![(codex_home.join("sessions"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = dir.read_dir_utf8() else { continue };
        for entry in entries.flatten() {
            let path = entry.path().to_owned();
            if depth < 3 && entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push((path, depth + 1));
            } else if entry.file_name().starts_with("rollout-") && entry.file_name().ends_with(&suffix) {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BWRAP: &str = "bwrap: execvp codex-linux-sandbox: No such file or directory";

    fn failed(command: &str, output: &str) -> ShellOutcome {
        ShellOutcome { command: command.into(), exit_code: Some(1), output: output.into() }
    }

    #[test]
    fn a_home_under_the_temp_dir_is_refused_component_by_component() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        let home = root.join("ws/.harnessgym/rehearsal/codex-home");
        assert_eq!(home_under_temp_dir(&home, Some(root.as_str())), Some(root.clone()));
        assert_eq!(home_under_temp_dir(&home, Some(root.join("ws").as_str())), Some(root.join("ws")));
        // A sibling whose name merely starts the same is not under it.
        std::fs::create_dir_all(root.join("tmpx")).unwrap();
        assert_eq!(home_under_temp_dir(&root.join("tmpx/home"), Some(root.join("tmp").as_str())), None);
        assert_eq!(home_under_temp_dir(&home, Some(root.join("elsewhere").as_str())), None);
        // `..` and symlinks are resolved as Codex's canonicalize does.
        std::os::unix::fs::symlink(root.join("ws"), root.join("link")).unwrap();
        std::fs::create_dir_all(root.join("ws")).unwrap();
        assert!(home_under_temp_dir(&root.join("link/h"), Some(root.join("ws").as_str())).is_some());
        assert!(home_under_temp_dir(&root.join("tmpx/../ws/h"), Some(root.join("ws").as_str())).is_some());
        assert_eq!(temp_dir(None), "/tmp");
        assert_eq!(temp_dir(Some("")), "/tmp");
    }

    #[test]
    fn different_commands_failing_alike_are_a_broken_environment() {
        let outcomes = [failed("echo a > f", BWRAP), failed("python3 r.py", &format!("{BWRAP}\n"))];
        let message = diagnose(&outcomes, "").unwrap();
        assert!(message.starts_with("broken environment: all 2 shell commands of the agent failed the same way"));
        assert!(message.contains(BWRAP), "{message}");
    }

    #[test]
    fn the_alias_warning_names_the_cause_and_the_fix() {
        let stderr = "WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper \
                      binaries under temporary dir \"/tmp\" (codex_home: AbsolutePathBuf(\"/tmp/w/codex-home\"))\n";
        let message = diagnose(&[failed("echo a", BWRAP)], stderr).unwrap();
        assert!(
            message.starts_with(&format!("broken environment: the agent's only shell command failed: `{BWRAP}`")),
            "{message}"
        );
        assert!(message.contains("CODEX_HOME (/tmp/w/codex-home) is under the temp dir"), "{message}");
        assert!(message.contains("Fix: point CODEX_HOME at a directory outside the temp dir"), "{message}");
    }

    #[test]
    fn ordinary_failures_are_not_a_broken_environment() {
        // One command failing twice (a test suite the agent gave up on) is the task, not the environment.
        assert_eq!(diagnose(&[failed("make test", "FAIL"), failed("make test", "FAIL")], ""), None);
        // Different errors, a success among failures, no commands at all.
        assert_eq!(diagnose(&[failed("a", "x: not found"), failed("b", "y: not found")], ""), None);
        let ok = ShellOutcome { command: "ls".into(), exit_code: Some(0), output: BWRAP.into() };
        assert_eq!(diagnose(&[failed("a", BWRAP), ok], ""), None);
        assert_eq!(diagnose(&[], "could not create PATH aliases"), None);
        assert_eq!(diagnose(&[failed("a", ""), failed("b", "")], ""), None);
    }

    #[test]
    fn command_executions_come_from_the_event_stream() {
        let events = r#"{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"x","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hi'","aggregated_output":"hi\n","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"/bin/bash -lc ls","aggregated_output":"boom\n","exit_code":2,"status":"failed"}}
{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"done"}}"#;
        assert_eq!(
            outcomes_from_events(events),
            [
                ShellOutcome { command: "/bin/bash -lc 'echo hi'".into(), exit_code: Some(0), output: "hi\n".into() },
                ShellOutcome { command: "/bin/bash -lc ls".into(), exit_code: Some(2), output: "boom\n".into() },
            ]
        );
    }

    #[test]
    fn the_rollout_gives_the_last_turns_shell_calls() {
        let call = |id: &str, cmd: &str| {
            serde_json::json!({"type": "response_item", "payload": {"type": "function_call", "name": "exec_command",
                "arguments": serde_json::json!({"cmd": cmd}).to_string(), "call_id": id}})
            .to_string()
        };
        let output = |id: &str, code: i32, out: &str| {
            serde_json::json!({"type": "response_item", "payload": {"type": "function_call_output", "call_id": id,
                "output": format!("Chunk ID: 1\nWall time: 0.0000 seconds\nProcess exited with code {code}\nOriginal token count: 16\nOutput:\n{out}")}})
            .to_string()
        };
        let mcp = r#"{"type":"response_item","payload":{"type":"function_call","name":"echo","namespace":"mcp__probe","arguments":"{}","call_id":"m"}}"#;
        let turn = r#"{"type":"turn_context","payload":{}}"#;
        let text = [
            turn.to_owned(),
            call("a", "echo old"),
            output("a", 0, "old\n"),
            turn.to_owned(),
            call("b", "echo new > f"),
            mcp.to_owned(),
            output("b", 1, &format!("{BWRAP}\n")),
            call("c", "python3 r.py"),
            output("c", 1, &format!("{BWRAP}\n")),
        ]
        .join("\n");
        let outcomes = outcomes_from_rollout(&text);
        assert_eq!(
            outcomes,
            [
                ShellOutcome { command: "echo new > f".into(), exit_code: Some(1), output: format!("{BWRAP}\n") },
                ShellOutcome { command: "python3 r.py".into(), exit_code: Some(1), output: format!("{BWRAP}\n") },
            ]
        );
    }

    #[test]
    fn the_rollout_file_is_found_by_thread() {
        let dir = tempfile::tempdir().unwrap();
        let home = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        let day = home.join("sessions/2026/12/06");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("rollout-2026-12-06T09-51-31-other.jsonl"), "").unwrap();
        let mine = day.join("rollout-2026-12-06T09-51-31-01a2-thread.jsonl");
        std::fs::write(&mine, "").unwrap();
        assert_eq!(find_rollout(&home, "01a2-thread"), Some(mine));
        assert_eq!(find_rollout(&home, "missing"), None);
    }
}
