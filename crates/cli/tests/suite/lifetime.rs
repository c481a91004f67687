//! Nothing harnessgym starts outlives it, however it dies (issue 11, process lifetime): children
//! die of their parent-death signal, what they started is killed (and reported) by the next
//! command on the workspace, and no JSON file is left half-written.
//!
//! Processes are found by the test's own temporary directory (their working directory or their
//! command line; `processes_under`) and by argv tags (`sleep 4716.x`, `sleep 4717.x`) of their own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harnessgym_test_support::process::{is_dead, is_running, processes_under};
use serde_json::Value;

use super::common::{Tmp, binary, harnessgym, output, s, write};

/// How long a child may take to die of its parent-death signal.
const DEATH_BOUND: Duration = Duration::from_secs(5);

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn sigkill(pid: i64) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

/// Kills whatever the test left running if it fails half-way.
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for (pid, _) in processes_under(&self.0) {
            sigkill(pid);
        }
    }
}

/// A command-runner profile for an agent that starts a background `sleep <tag>.1` (which outlives
/// it when harnessgym is killed: it gets no parent-death signal), sleeps `seconds`, appends
/// `<its pid> <time in ns>` to `finished` (so a test can tell an agent that outlived harnessgym
/// from one that died with it), then prints a session id and a final message.
fn sleeper_profile(tag: &str, seconds: &str, finished: &Path) -> String {
    let script = |n: u32| {
        format!(
            "sleep {tag}.{n} >/dev/null 2>&1 & sleep {seconds}; echo \"$$ $(date +%s%N)\" >> {}; \
             echo '{{\"type\":\"session\",\"id\":\"s1\"}}'; echo '{{\"type\":\"final\",\"text\":\"done\"}}'",
            finished.display()
        )
    };
    let quote = |text: String| serde_json::to_string(&text).expect("string");
    format!(
        "program = \"sh\"\nfresh = [\"-c\", {}]\nresume = [\"-c\", {}, \"sh\", \"{{session_id}}\"]\nagent = \"Sleeper\"\n\
         [output]\nsession_id = {{ when = {{ \"/type\" = \"session\" }}, pointer = \"/id\" }}\n\
         final_message = {{ when = {{ \"/type\" = \"final\" }}, pointer = \"/text\" }}\n",
        quote(script(1)),
        quote(script(2)),
    )
}

/// Agents that finished their work (see [`sleeper_profile`]): (pid, time in ns).
fn finished_agents(tmp: &Tmp) -> Vec<(i64, u128)> {
    fs::read_to_string(tmp.path("finished.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pid, ns) = l.split_once(' ')?;
            Some((pid.parse().ok()?, ns.parse().ok()?))
        })
        .collect()
}

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A workspace with a task, an MCP server in its bundle (smoke-probed and self-tested every
/// iteration), a post command with a background `sleep <tag>.3`, and `agent.toml` beside it.
fn sleeper_workspace(tmp: &Tmp, tag: &str, agent_seconds: &str) -> PathBuf {
    let ws = tmp.dir("ws");
    write(&ws.join("task.md"), "Make it faster.\n");
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures/mcp_server.py");
    write(&ws.join(".harnessgym/mcp/srv/server.py"), &fs::read_to_string(server).expect("fixture"));
    write(
        &ws.join(".harnessgym/mcp/srv/mcp.json"),
        r#"{"name": "srv", "command": "python3", "args": ["server.py"], "cwd": ".harnessgym/mcp/srv", "self_test": true}"#,
    );
    write(
        &ws.join("post.sh"),
        &format!("sleep {tag}.3 >/dev/null 2>&1 &\nsleep 0.3\necho '{{\"status\": \"failed\", \"score\": 1}}'\n"),
    );
    write(&tmp.path("agent.toml"), &sleeper_profile(tag, agent_seconds, &tmp.path("finished.log")));
    ws
}

fn run_args(tmp: &Tmp, ws: &Path, run_id: &str) -> Vec<String> {
    let agent = tmp.path("agent.toml");
    [
        "run",
        "--runner",
        "command",
        "--runner-profile",
        s(&agent),
        "--task",
        "task.md",
        "--workspace",
        s(ws),
        "--iterations",
        "100",
        "--post-attempt-command",
        "sh post.sh",
        "--run-id",
        run_id,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn start(tmp: &Tmp, args: &[String], stderr: &Path) -> Child {
    Command::new(binary())
        .current_dir(&tmp.root)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("spawn harnessgym")
}

/// What the recorded groups run, in words: `agent`, `post command`, `MCP server`, `other`.
fn recorded_kinds(ws: &Path) -> Vec<&'static str> {
    let Ok(text) = fs::read_to_string(ws.join(".harnessgym/live-processes.json")) else { return Vec::new() };
    let record: Value = serde_json::from_str(&text).expect("the live record parses");
    let commands = record["groups"].as_array().expect("groups").iter();
    commands
        .map(|g| match g["command"].as_str().unwrap_or_default() {
            c if c.starts_with("sh -c sleep") => "agent",
            c if c.contains("post.sh") => "post command",
            c if c.contains("server.py") => "MCP server",
            _ => "other",
        })
        .collect()
}

/// (pgid, leader pid) of every group in the workspace's record of live groups.
fn recorded_groups(ws: &Path) -> Vec<(i64, i64)> {
    let Ok(text) = fs::read_to_string(ws.join(".harnessgym/live-processes.json")) else { return Vec::new() };
    let record: Value = serde_json::from_str(&text).expect("the live record parses");
    record["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["pgid"].as_i64().expect("pgid"), g["pid"].as_i64().expect("pid")))
        .collect()
}

/// Every `*.json` under `dir` that does not parse, with the error.
fn broken_json(dir: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    let mut stack = vec![dir.to_owned()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                seen += 1;
                let bytes = fs::read(&path).expect("read json");
                if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
                    broken.push(format!("{}: {e}", path.display()));
                }
            }
        }
    }
    assert!(seen > 0 || broken.is_empty());
    broken
}

/// The `sleep 4716.x` among `processes`.
fn tagged(processes: &[(i64, String)]) -> impl Iterator<Item = &(i64, String)> {
    processes.iter().filter(|(_, command)| command.starts_with("sleep 4716."))
}

/// splitmix64: a reproducible sequence from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }
}

/// SIGKILLs `harnessgym run` (then `run --resume`) at points drawn from a seed: after each kill,
/// every child it had started dies within the bound, every process still running is in a group
/// the record lists, and every JSON file parses; the next command kills and reports those
/// processes. `HARNESSGYM_KILL_SEED=<n>` replays a sequence.
#[test]
fn sigkill_at_random_points_leaves_no_process_and_no_broken_json() {
    const KILLS: usize = 6;
    let seed = std::env::var("HARNESSGYM_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("HARNESSGYM_KILL_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = Tmp::new();
    let _reaper = Reaper(tmp.root.clone());
    let ws = sleeper_workspace(&tmp, "4716", "1");
    let mut left_over: Vec<(i64, String)> = Vec::new();
    let mut log = Vec::new();
    for round in 0..KILLS {
        let args = match round {
            0 => run_args(&tmp, &ws, "k"),
            _ => ["run", "--resume", "k", "--workspace", s(&ws)].map(str::to_owned).to_vec(),
        };
        // The first kill comes after the run directory exists, so that there is a run to resume.
        let delay = Duration::from_millis(if round == 0 { 1000 } else { 300 } + rng.next(2200));
        let stderr_path = tmp.path(&format!("stderr-{round}.txt"));
        let mut child = start(&tmp, &args, &stderr_path);
        let started = Instant::now();
        while started.elapsed() < delay {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("seed {seed}, round {round}: harnessgym ended before its kill ({status}): {stderr}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        // What the last kill left was killed, and reported, when this command took the lock
        // (the tagged sleeps by pid: they never end on their own, unlike, say, a python shim's
        // helpers).
        let still: Vec<&(i64, String)> = left_over.iter().filter(|(pid, _)| !is_dead(*pid)).collect();
        assert!(still.is_empty(), "seed {seed}, round {round}: survivors of the last kill still run: {still:?}");
        for (pid, command) in tagged(&left_over) {
            let said = format!("pid {pid} (`{command}`)");
            assert!(stderr.contains(&said), "seed {seed}, round {round}: no `{said}` in {stderr}");
        }

        let killed_at = now_ns();
        sigkill(i64::from(child.id()));
        child.wait().expect("wait");
        let groups = recorded_groups(&ws);
        let kinds = recorded_kinds(&ws);
        let leaders_dead = wait_until(DEATH_BOUND, || groups.iter().all(|(_, pid)| is_dead(*pid)));
        assert!(leaders_dead, "seed {seed}, round {round}: a child outlived harnessgym: {groups:?}");
        // Died at once, not at the end of its work (an agent ends on its own within a second).
        let late: Vec<(i64, u128)> = finished_agents(&tmp)
            .into_iter()
            .filter(|(pid, ns)| *ns > killed_at + 200_000_000 && groups.iter().any(|(_, leader)| leader == pid))
            .collect();
        assert!(late.is_empty(), "seed {seed}, round {round}: an agent finished after harnessgym was killed: {late:?}");
        // Only what the children started is left, and the next command can find each: the
        // record names its group, or its environment names the killed harnessgym (a process
        // started in the instant between a spawn and its record).
        left_over = processes_under(&tmp.root);
        let marker = format!("{}:", child.id());
        for (pid, command) in &left_over {
            let pgid = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat[stat.rfind(')')? + 2..].split(' ').nth(2)?.parse::<i64>().ok());
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let marked = environ
                .split(|b| *b == 0)
                .filter_map(|e| e.strip_prefix(b"HARNESSGYM_SPAWNED_BY="))
                .any(|value| value.split(|b| *b == b',').any(|m| m.starts_with(marker.as_bytes())));
            let findable = marked || pgid.is_none_or(|pgid| groups.iter().any(|(g, _)| *g == pgid));
            assert!(
                findable,
                "seed {seed}, round {round}: `{command}` (pid {pid}) runs outside every recorded group {groups:?} \
                 without the marker {marker}…"
            );
        }
        let broken = broken_json(&ws.join(".harnessgym"));
        assert!(broken.is_empty(), "seed {seed}, round {round}: broken JSON after a kill: {broken:?}");
        log.push(format!(
            "kill {round} after {delay:?}, children running: {kinds:?}; {} processes left for the next command ({} tagged)",
            left_over.len(),
            tagged(&left_over).count()
        ));
    }
    // The next command on the workspace (gc takes the lock too) kills what the last kill left.
    let gc = output(harnessgym(&tmp.root).args(["gc", "--workspace", s(&ws)]));
    assert_eq!(gc.code, Some(0), "{}", gc.stderr);
    for (pid, command) in tagged(&left_over) {
        assert!(gc.stderr.contains(&format!("pid {pid} (`{command}`)")), "{}", gc.stderr);
    }
    let remaining = processes_under(&tmp.root);
    assert!(remaining.is_empty(), "seed {seed}: still running after gc: {remaining:?}");
    assert!(!ws.join(".harnessgym/live-processes.json").exists());
    eprintln!("seed {seed}: {KILLS} kills, 0 processes left, 0 JSON files broken\n{}", log.join("\n"));
}

/// The scenario of issue 11 defect 7: a run SIGKILLed while its agent works leaves the agent's
/// background process running; `run --resume` kills it before going on, and says so.
#[test]
fn resume_kills_and_reports_what_a_killed_run_left() {
    let tmp = Tmp::new();
    let _reaper = Reaper(tmp.root.clone());
    let ws = sleeper_workspace(&tmp, "4717", "4717.5");
    let mut run = start(&tmp, &run_args(&tmp, &ws, "orphaned"), &tmp.path("stderr-run.txt"));
    // Killed once the agent's group is on record (a child killed in the instant before is found
    // by its environment instead: the random-kill test covers that).
    assert!(
        wait_until(Duration::from_secs(30), || {
            is_running(&["sleep", "4717.1"]) && is_running(&["sleep", "4717.5"]) && !recorded_groups(&ws).is_empty()
        }),
        "the agent never started: {}",
        fs::read_to_string(tmp.path("stderr-run.txt")).unwrap_or_default()
    );
    run.kill().expect("SIGKILL");
    run.wait().expect("wait");
    let groups = recorded_groups(&ws);
    assert_eq!(groups.len(), 1, "one group (the agent's) was live: {groups:?}");
    assert!(wait_until(DEATH_BOUND, || is_dead(groups[0].1)), "the agent outlived harnessgym");
    // The agent's shell is gone; its background job and its long `sleep` are not.
    let orphans = processes_under(&tmp.root);
    let mut commands: Vec<&str> = orphans.iter().map(|(_, c)| c.as_str()).collect();
    commands.sort_unstable();
    assert_eq!(commands, ["sleep 4717.1", "sleep 4717.5"]);

    let mut resumed = start(
        &tmp,
        &["run", "--resume", "orphaned", "--workspace", s(&ws)].map(str::to_owned),
        &tmp.path("stderr-resume.txt"),
    );
    let reported = wait_until(Duration::from_secs(20), || {
        fs::read_to_string(tmp.path("stderr-resume.txt")).is_ok_and(|e| e.contains("resuming at"))
    });
    resumed.kill().expect("SIGKILL");
    resumed.wait().expect("wait");
    let stderr = fs::read_to_string(tmp.path("stderr-resume.txt")).expect("stderr");
    assert!(reported, "{stderr}");
    assert!(orphans.iter().all(|(pid, _)| is_dead(*pid)), "resume left an orphan running: {orphans:?}");
    let mut line = stderr.lines().find(|l| l.contains("left by an interrupted command")).expect("a report").to_owned();
    for (pid, _) in &orphans {
        line = line.replace(&format!("pid {pid} "), "pid [PID] ");
    }
    // Either order: sorted by pid.
    assert!(
        line == "harnessgym: killed 2 processes left by an interrupted command: pid [PID] (`sleep 4717.1`), pid [PID] (`sleep 4717.5`)"
            || line
                == "harnessgym: killed 2 processes left by an interrupted command: pid [PID] (`sleep 4717.5`), pid [PID] (`sleep 4717.1`)",
        "{line}"
    );
}

/// A SIGKILLed `harnessgym mcp-proxy` does not orphan its server.
#[test]
fn a_sigkilled_mcp_proxy_takes_its_server_with_it() {
    let tmp = Tmp::new();
    let _reaper = Reaper(tmp.root.clone());
    let ws = tmp.dir("ws");
    let mut proxy = Command::new(binary())
        .current_dir(&ws)
        .args(["mcp-proxy", "--workspace", s(&ws), "--cwd", s(&ws), "--", "sleep", "4718.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the proxy");
    assert!(wait_until(Duration::from_secs(10), || is_running(&["sleep", "4718.1"])), "the server never started");
    proxy.kill().expect("SIGKILL");
    proxy.wait().expect("wait");
    assert!(wait_until(DEATH_BOUND, || !is_running(&["sleep", "4718.1"])), "the server outlived its proxy");
}
