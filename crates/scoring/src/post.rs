//! Post commands: an independent benchmark run through the shell after an attempt (and for the
//! baseline and the restored checkpoint). Its stdout must be exactly one JSON object.
//!
//! With [`PostCommand::remote`] the command runs on another host (a GPU machine) through
//! `harnessgym_proc::remote`: the workspace is mirrored there with rsync (the snapshot crate's
//! copy policy: `.git`, `.harnessgym`, caches, object files and `.harnessgymignore` paths are never
//! synced), the command runs in the mirror with the same timeout semantics (the remote process
//! group is killed), and the mirror is synced back. The record then carries a `remote` object.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::remote::{RemoteOutcome, RemoteSpec, RemoteWorkspace};
use harnessgym_proc::{CommandSpec, ProcError, RemoteError};
use harnessgym_types::post::PostRecord;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::extract_score;

/// Largest stdout we parse as the score JSON; a benchmark printing more is not a score report.
const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

/// Statuses in the post JSON that count as passing (case-insensitive); a missing status passes.
const PASSING_STATUSES: [&str; 5] = ["passed", "pass", "ok", "success", "solved"];

pub struct PostCommand<'a> {
    pub command: &'a str,
    pub cwd: &'a Utf8Path,
    /// `<log_dir>/<prefix>.stdout.txt` and `.stderr.txt` are written (and `.remote.txt`, the
    /// ssh/rsync log, for a remote command).
    pub log_dir: &'a Utf8Path,
    pub prefix: &'a str,
    pub timeout: Duration,
    pub score_key: &'a str,
    /// Run the command in a mirror of `cwd` on this remote host instead of locally.
    pub remote: Option<&'a RemoteWorkspace>,
}

/// What the command did, locally or remotely.
struct Ran {
    return_code: Option<i32>,
    timed_out: bool,
    cancelled: bool,
    duration: Duration,
}

/// rsync filter rules of the copy policy (harnessgym-snapshot's `Purpose::Copy`) for `workspace`.
fn remote_copy_rules(workspace: &Utf8Path) -> Vec<String> {
    let ignore = std::fs::read_to_string(workspace.join(harnessgym_snapshot::IGNORE_FILE)).ok();
    harnessgym_snapshot::rsync_rules(harnessgym_snapshot::Purpose::Copy, ignore.as_deref())
}

/// Runs the command with `/bin/sh -c` in its own process group (bug B7: a timeout kills the
/// whole group, so a grandchild holding the pipe cannot hang the run) — on the remote host when
/// [`PostCommand::remote`] is set. Never fails: problems are reported in the record (`status`,
/// `message`).
pub async fn run_post_command(cmd: &PostCommand<'_>, cancel: watch::Receiver<bool>) -> PostRecord {
    let stdout_path = cmd.log_dir.join(format!("{}.stdout.txt", cmd.prefix));
    let stderr_path = cmd.log_dir.join(format!("{}.stderr.txt", cmd.prefix));
    let mut record = PostRecord {
        command: cmd.command.to_owned(),
        status: "failed".into(),
        return_code: None,
        timed_out: false,
        duration_seconds: 0.0,
        stdout_path: Some(stdout_path.clone()),
        stderr_path: Some(stderr_path.clone()),
        json: None,
        score: None,
        score_key: cmd.score_key.to_owned(),
        message: None,
        extra: Default::default(),
    };
    let mut notes: Vec<String> = Vec::new();
    let ran = match cmd.remote {
        None => {
            let spec = CommandSpec::shell(cmd.command, cmd.cwd.to_owned(), stdout_path.clone(), stderr_path.clone())
                .timeout(cmd.timeout);
            match harnessgym_proc::run_with_cancel(spec, cancel).await {
                Ok(o) => Ran {
                    return_code: o.return_code,
                    timed_out: o.timed_out,
                    cancelled: o.cancelled,
                    duration: o.duration,
                },
                Err(e) => {
                    record.message = Some(spawn_message(&e, cmd.command));
                    return record;
                }
            }
        }
        Some(target) => {
            let log_path = cmd.log_dir.join(format!("{}.remote.txt", cmd.prefix));
            let mut spec = RemoteSpec::shell(
                target.clone(),
                cmd.cwd.to_owned(),
                cmd.command,
                stdout_path.clone(),
                stderr_path.clone(),
                log_path.clone(),
            );
            spec.timeout = Some(cmd.timeout);
            spec.filter_rules = remote_copy_rules(cmd.cwd);
            let result = harnessgym_proc::run_remote(spec, cancel).await;
            record.extra.insert("remote".into(), remote_json(target, &log_path, result.as_ref().ok()));
            match result {
                Ok(o) => {
                    if let Some(e) = &o.sync_back_error {
                        notes.push(format!("the workspace was not synced back: {e}"));
                    }
                    Ran {
                        return_code: o.return_code,
                        timed_out: o.timed_out,
                        cancelled: o.cancelled,
                        duration: o.duration,
                    }
                }
                Err(e) => {
                    if matches!(e, RemoteError::Interrupted { .. }) {
                        record.status = "interrupted".into();
                    }
                    let _ = harnessgym_proc::append_note(&stderr_path, &e.to_string());
                    record.message = Some(remote_message(&e, cmd.command, target, &log_path));
                    return record;
                }
            }
        }
    };
    record.return_code = ran.return_code;
    record.timed_out = ran.timed_out;
    record.duration_seconds = ran.duration.as_secs_f64();
    let where_ = cmd.remote.map(|t| format!(" on {}", t.host.describe())).unwrap_or_default();
    record.status = if ran.timed_out {
        let _ = harnessgym_proc::append_note(
            &stderr_path,
            &format!("\nTimed out after {} seconds{where_}.\n", cmd.timeout.as_secs()),
        );
        "timeout".into()
    } else if ran.cancelled {
        "interrupted".into()
    } else if ran.return_code == Some(0) {
        "completed".into()
    } else {
        "failed".into()
    };
    if ran.cancelled {
        record.message = Some(format!("post command `{}` was stopped: the run was interrupted", cmd.command));
        return record;
    }
    match parse_stdout(&stdout_path).await {
        Ok(json) => {
            record.score = extract_score(&json, cmd.score_key);
            record.json = Some(json);
        }
        Err(problem) => {
            if cmd.remote.is_some() && ran.return_code == Some(255) {
                notes.insert(0, format!("{problem} (exit code 255 is also ssh's own failure code: see {stderr_path})"));
            } else {
                notes.insert(0, problem);
            }
        }
    }
    if !notes.is_empty() {
        record.message = Some(notes.join("; "));
    }
    record
}

/// The record's `remote` object: where it ran and what the remote side did.
fn remote_json(target: &RemoteWorkspace, log_path: &Utf8Path, outcome: Option<&RemoteOutcome>) -> Value {
    let mut value = json!({
        "host": target.host.destination,
        "port": target.host.port,
        "dir": target.dir,
        "log_path": log_path,
    });
    if let (Some(o), Some(map)) = (outcome, value.as_object_mut()) {
        map.insert("synced_back".into(), json!(o.synced_back));
        if let Some(pgid) = o.remote_pgid {
            map.insert("remote_pgid".into(), json!(pgid));
        }
        if let Some(kill) = &o.remote_kill {
            map.insert("remote_kill".into(), json!(kill));
        }
    }
    value
}

fn remote_message(e: &RemoteError, command: &str, target: &RemoteWorkspace, log_path: &Utf8Path) -> String {
    match e {
        RemoteError::Interrupted { .. } => {
            format!("post command `{command}` was stopped: the run was interrupted ({e})")
        }
        _ => format!(
            "post command `{command}` could not run on {}: {e} (ssh/rsync log: {log_path})",
            target.host.describe()
        ),
    }
}

fn spawn_message(e: &ProcError, command: &str) -> String {
    format!("post command `{command}` could not be started: {e}")
}

/// The whole stdout must be one JSON object (surrounding whitespace allowed).
async fn parse_stdout(path: &Utf8PathBuf) -> Result<Value, String> {
    let (bytes, truncated) = harnessgym_proc::read_capped(path, MAX_JSON_BYTES)
        .await
        .map_err(|e| format!("could not read the post command's stdout: {e}"))?;
    stdout_json(path, &bytes, truncated)
}

/// The score JSON from the post command's captured stdout (`truncated`: more than
/// [`MAX_JSON_BYTES`] were printed): a JSON object, or a message naming `path`.
fn stdout_json(path: &Utf8Path, bytes: &[u8], truncated: bool) -> Result<Value, String> {
    if truncated {
        return Err(format!(
            "{path}: stdout is larger than {MAX_JSON_BYTES} bytes; print only one JSON object with the score to stdout"
        ));
    }
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!(
            "{path}: the post command printed nothing on stdout; it must print one JSON object such as {{\"status\": \"passed\", \"score\": 1.0}}"
        ));
    }
    match harnessgym_types::json::parse_lenient(trimmed) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        Ok(other) => Err(format!(
            "{path}: stdout is {}, not a JSON object; print one JSON object such as {{\"score\": 1.0}}",
            harnessgym_types::json::kind_name(&other)
        )),
        Err(_) => {
            let hint = if trimmed.lines().count() > 1
                && trimmed.lines().last().is_some_and(|l| l.trim_start().starts_with('{'))
            {
                " (it looks like log lines come before the JSON: print logs to stderr)"
            } else {
                ""
            };
            Err(format!(
                "{path}: stdout is not one JSON object{hint}; the whole of stdout must be a single JSON object"
            ))
        }
    }
}

/// Passing = exit 0, stdout a JSON object, and its `status` missing or one of the passing words.
pub fn post_command_passed(record: &PostRecord) -> bool {
    if record.status != "completed" {
        return false;
    }
    let Some(Value::Object(json)) = &record.json else {
        return false;
    };
    match json.get("status") {
        None | Some(Value::Null) => true,
        Some(status) => {
            let text = match status {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string().to_lowercase(),
            };
            PASSING_STATUSES.contains(&text.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
            proptest::sample::select(&["passed", "ok", "failed", "NaN", "1.5"][..]).prop_map(Value::from),
        ];
        let key = proptest::sample::select(&["status", "score", "best_ms", "metrics", "verification", "x"][..]);
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone().prop_map(str::to_owned), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Arbitrary stdout bytes, and JSON documents with log lines before them, python
        /// `NaN` spliced in or cut short: an object, or a message naming the file; the pass rule
        /// answers on whatever was read.
        #[test]
        fn stdout_is_an_object_or_a_clear_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            doc in arb_json(),
            log in proptest::option::of("[ -~]{0,20}\n"),
            cut in any::<prop::sample::Index>(),
            truncated in proptest::bool::weighted(0.1),
        ) {
            let path = Utf8Path::new("/logs/post.stdout.txt");
            let text = doc.to_string();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let near = [
                format!("{}{text}", log.unwrap_or_default()),
                text[..at].to_owned(),
                format!("{}NaN{}", &text[..at], &text[at..]),
            ];
            for input in std::iter::once(bytes).chain(near.into_iter().map(String::into_bytes)) {
                match stdout_json(path, &input, truncated) {
                    Ok(v) => {
                        prop_assert!(!truncated && v.is_object());
                        let _ = post_command_passed(&record("completed", Some(v)));
                    }
                    Err(e) => prop_assert!(e.starts_with(path.as_str()) && e.len() > path.as_str().len()),
                }
            }
        }
    }

    fn record(status: &str, json: Option<Value>) -> PostRecord {
        PostRecord {
            command: "c".into(),
            status: status.into(),
            return_code: Some(0),
            timed_out: false,
            duration_seconds: 0.0,
            stdout_path: None,
            stderr_path: None,
            json,
            score: None,
            score_key: "score".into(),
            message: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn post_command_pass_rule() {
        assert!(post_command_passed(&record("completed", Some(json!({"score": 1})))));
        assert!(post_command_passed(&record("completed", Some(json!({"status": "OK"})))));
        assert!(!post_command_passed(&record("completed", Some(json!({"status": "failed"})))));
        assert!(!post_command_passed(&record("failed", Some(json!({"score": 1})))));
        assert!(!post_command_passed(&record("timeout", Some(json!({"score": 1})))));
    }

    mod remote {
        use super::*;
        use harnessgym_test_support::sshd::{TestSshd, unused_port};

        struct Dirs {
            _tmp: tempfile::TempDir,
            ws: Utf8PathBuf,
            logs: Utf8PathBuf,
            target: RemoteWorkspace,
        }

        fn dirs(sshd: &TestSshd) -> Dirs {
            let tmp = tempfile::tempdir().unwrap();
            let root = Utf8PathBuf::from_path_buf(tmp.path().canonicalize().unwrap()).unwrap();
            let ws = root.join("ws");
            std::fs::create_dir_all(ws.join(".harnessgym/runs/r1")).unwrap();
            std::fs::write(ws.join(".harnessgym/runs/r1/keep.json"), "{}").unwrap();
            std::fs::write(ws.join("solution.txt"), "42\n").unwrap();
            let target = RemoteWorkspace { host: sshd.host(), dir: root.join("gpu/ws").to_string() };
            Dirs { _tmp: tmp, logs: root.join("logs"), ws, target }
        }

        fn post<'a>(d: &'a Dirs, command: &'a str, timeout: Duration) -> PostCommand<'a> {
            PostCommand {
                command,
                cwd: &d.ws,
                log_dir: &d.logs,
                prefix: "post_attempt",
                timeout,
                score_key: "score",
                remote: Some(&d.target),
            }
        }

        #[tokio::test]
        async fn remote_post_command_scores_the_synced_workspace() {
            let Some(sshd) = TestSshd::start_or_skip("remote_post_command_scores_the_synced_workspace") else {
                return;
            };
            let d = dirs(&sshd);
            let command = "test ! -e .harnessgym/runs || exit 9; echo benchmark log >&2; \
                           v=$(cat solution.txt); echo \"ran $v\" > bench.log; \
                           printf '{\"status\": \"passed\", \"score\": %s}\\n' \"$v\"";
            let (_tx, rx) = watch::channel(false);
            let record = run_post_command(&post(&d, command, Duration::from_secs(60)), rx).await;
            assert_eq!(record.status, "completed", "{record:?}");
            assert_eq!(record.score, Some(42.0));
            assert!(post_command_passed(&record));
            assert_eq!(record.json.as_ref().unwrap()["status"], "passed");
            assert_eq!(record.message, None);
            assert_eq!(std::fs::read_to_string(d.ws.join("bench.log")).unwrap(), "ran 42\n");
            assert!(std::fs::read_to_string(d.logs.join("post_attempt.stderr.txt")).unwrap().contains("benchmark log"));
            assert!(d.ws.join(".harnessgym/runs/r1/keep.json").is_file());
            let remote = &record.extra["remote"];
            assert_eq!(remote["dir"], d.target.dir.as_str());
            assert_eq!(remote["synced_back"], true);
            assert!(d.logs.join("post_attempt.remote.txt").is_file());
        }

        #[tokio::test]
        async fn remote_post_timeout_is_a_timeout_record() {
            let Some(sshd) = TestSshd::start_or_skip("remote_post_timeout_is_a_timeout_record") else {
                return;
            };
            let d = dirs(&sshd);
            let (_tx, rx) = watch::channel(false);
            let started = std::time::Instant::now();
            let record =
                run_post_command(&post(&d, "echo '{\"score\": 1}'; sleep 300", Duration::from_secs(1)), rx).await;
            assert!(started.elapsed() < Duration::from_secs(30));
            assert_eq!(record.status, "timeout");
            assert!(record.timed_out && record.return_code.is_none());
            assert!(!post_command_passed(&record));
            assert!(record.extra["remote"]["remote_pgid"].as_u64().is_some(), "{record:?}");
            let stderr = std::fs::read_to_string(d.logs.join("post_attempt.stderr.txt")).unwrap();
            assert!(stderr.contains("Timed out after 1 seconds on"), "{stderr}");
        }

        #[tokio::test]
        async fn unreachable_remote_host_is_a_failed_record_naming_it() {
            let Some(sshd) = TestSshd::start_or_skip("unreachable_remote_host_is_a_failed_record_naming_it") else {
                return;
            };
            let mut d = dirs(&sshd);
            d.target.host.port = Some(unused_port());
            let (_tx, rx) = watch::channel(false);
            let started = std::time::Instant::now();
            let record = run_post_command(&post(&d, "echo '{}'", Duration::from_secs(60)), rx).await;
            assert!(started.elapsed() < Duration::from_secs(30));
            assert_eq!(record.status, "failed");
            assert_eq!(record.score, None);
            let message = record.message.unwrap();
            assert!(
                message.contains(&format!("{}@127.0.0.1", sshd.user)) && message.contains("cannot reach"),
                "{message}"
            );
        }
    }

    #[test]
    fn null_or_array_output_never_passes() {
        assert!(!post_command_passed(&record("completed", None)));
        assert!(!post_command_passed(&record("completed", Some(json!([1])))));
    }

    #[test]
    fn stdout_parser_messages() {
        let path = Utf8Path::new("/l/o.txt");
        assert_eq!(stdout_json(path, b" {\"score\": NaN} \n", false), Ok(json!({"score": null})));
        assert!(stdout_json(path, b"{}", true).is_err_and(|e| e.contains("larger than")));
        assert!(stdout_json(path, b"  \n", false).is_err_and(|e| e.contains("printed nothing")));
        assert!(stdout_json(path, b"[1]", false).is_err_and(|e| e.contains("an array")));
        assert!(stdout_json(path, b"log\n{\"a\": 1}", false).is_err_and(|e| e.contains("log lines")));
    }
}
