//! SIGINT / SIGTERM during a post command: exit 130 / 143, summary `interrupted`, and the
//! post command's process does not outlive the run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::common::{Tmp, binary, read_json, s, workspace_with_task};

const EXIT_WITHIN: Duration = Duration::from_secs(30);
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Field 4 (ppid) and 3 (state) of `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
}

fn is_descendant(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        match stat(pid) {
            Some((_, ppid)) if ppid == ancestor => return true,
            Some((_, ppid)) if ppid > 1 => pid = ppid,
            _ => return false,
        }
    }
    false
}

/// Live (non-zombie) processes running exactly `argv` that descend from `ancestor`.
fn descendants_running(argv: &[&str], ancestor: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| cmdline(*pid).is_some_and(|c| c == argv))
        .filter(|pid| is_descendant(*pid, ancestor))
        .collect()
}

/// Whether `pid` still runs `argv` (and is not a zombie).
fn still_running(pid: u32, argv: &[&str]) -> bool {
    cmdline(pid).is_some_and(|c| c == argv) && stat(pid).is_some_and(|(state, _)| state != 'Z')
}

fn find_post_stdout(ws: &Path) -> Option<PathBuf> {
    let runs = fs::read_dir(ws.join(".harnessgym/runs")).ok()?;
    runs.filter_map(Result::ok).map(|run| run.path().join("iterations/1/post_attempt.stdout.txt")).find(|p| p.exists())
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Kills what this test started if an assertion fails half-way.
struct Cleanup {
    harnessgym: Option<Child>,
    sleeps: Vec<(u32, Vec<&'static str>)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.harnessgym
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        for (pid, argv) in &self.sleeps {
            let argv: Vec<&str> = argv.clone();
            if still_running(*pid, &argv) {
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

fn interrupt_during_post_command(signal: &str, sleep_seconds: &'static str, expected_code: i32) {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Wait for it.\n");
    let post = format!("sleep {sleep_seconds}");
    let argv: [&'static str; 2] = ["sleep", sleep_seconds];
    let child = std::process::Command::new(binary())
        .current_dir(&tmp.root)
        .args(["run", "--runner", "fake", "--iterations", "1", "--task", "task.md", "--workspace", s(&ws)])
        .args(["--post-attempt-command", &post])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(fs::File::create(tmp.path("stdout.txt")).expect("stdout file"))
        .stderr(fs::File::create(tmp.path("stderr.txt")).expect("stderr file"))
        .spawn()
        .expect("spawn harnessgym");
    let pid = child.id();
    let mut guard = Cleanup { harnessgym: Some(child), sleeps: Vec::new() };

    // Wait for the post command to start: its stdout file, then its `sleep` process.
    let started = Instant::now();
    let sleeps = loop {
        assert!(started.elapsed() < STARTUP_LIMIT, "the post command never started");
        if let Some(child) = &mut guard.harnessgym {
            assert!(child.try_wait().expect("try_wait").is_none(), "harnessgym exited before the signal");
        }
        if find_post_stdout(&ws).is_some() {
            let found = descendants_running(&argv, pid);
            if !found.is_empty() {
                break found;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    guard.sleeps = sleeps.iter().map(|p| (*p, argv.to_vec())).collect();

    let sent = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
    assert!(sent.success());
    let status = wait_exit(guard.harnessgym.as_mut().expect("child"), EXIT_WITHIN)
        .unwrap_or_else(|| panic!("harnessgym did not exit within {EXIT_WITHIN:?} of {signal}"));
    let stdout = fs::read_to_string(tmp.path("stdout.txt")).expect("stdout");
    let stderr = fs::read_to_string(tmp.path("stderr.txt")).expect("stderr");
    assert_eq!(status.code(), Some(expected_code), "stdout: {stdout}\nstderr: {stderr}");

    // The post command's process dies with the run (allow a moment for reaping).
    let deadline = Instant::now() + Duration::from_secs(5);
    while sleeps.iter().any(|p| still_running(*p, &argv)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<u32> = sleeps.iter().copied().filter(|p| still_running(*p, &argv)).collect();
    assert!(survivors.is_empty(), "`{post}` survived the interrupt: {survivors:?}");

    let run_dir = find_post_stdout(&ws).and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()));
    let run_dir = run_dir.expect("run dir");
    let summary = read_json(&run_dir.join("summary.json"));
    assert_eq!(summary["final_status"], "interrupted");
    // The run report is written for an interrupted run too.
    let report = fs::read_to_string(run_dir.join("report.md")).expect("report.md");
    assert!(report.contains("Final status: **interrupted**"), "{report}");
    assert!(run_dir.join("report.html").is_file());
    assert!(stdout.contains("Final status: interrupted\n"), "{stdout}");
    assert!(stderr.contains("harnessgym: interrupted;"), "{stderr}");
    assert!(stderr.contains(" interrupted; go on later with: harnessgym run --resume "), "{stderr}");
}

#[test]
fn sigint_during_post_command_exits_130_and_kills_it() {
    interrupt_during_post_command("-INT", "317", 130);
}

#[test]
fn sigterm_during_post_command_exits_143_and_kills_it() {
    interrupt_during_post_command("-TERM", "318", 143);
}
