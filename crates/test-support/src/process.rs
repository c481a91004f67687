//! Whether a process is gone, for tests that check that nothing outlives a kill.

use std::time::Duration;

/// Whether `pid` is gone. A zombie counts as dead: it no longer runs, and PID 1 may reap orphans
/// late (or never, in some containers).
pub fn is_dead(pid: impl Into<i64>) -> bool {
    let pid = pid.into();
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let after_comm = &stat[stat.rfind(')').expect("stat has comm") + 1..];
            let state = after_comm.split_whitespace().next().expect("stat has state");
            state == "Z" || state == "X"
        }
    }
}

/// Polls [`is_dead`] for up to five seconds; whether `pid` died in that time.
pub async fn wait_dead(pid: impl Into<i64>) -> bool {
    let pid = pid.into();
    for _ in 0..100 {
        if is_dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Whether any live process on the machine runs exactly `argv` (tests give their processes an
/// argv of their own, e.g. `sleep 971`, so that tests running side by side do not see each
/// other's).
pub fn is_running(argv: &[&str]) -> bool {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.filter_map(Result::ok).any(|entry| {
        let pid = entry.file_name().to_string_lossy().parse::<i64>().ok();
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok();
        matches!((pid, cmdline), (Some(pid), Some(c)) if c == wanted && !is_dead(pid))
    })
}

/// Live processes (not zombies, not this process) that belong to a test's directory `dir`: their
/// working directory is inside it, or their command line names it. A test's temporary directory
/// is its own, so this finds what the test started (and what those started) and nothing of
/// tests running beside it: `(pid, command line with spaces for NULs)`.
pub fn processes_under(dir: &std::path::Path) -> Vec<(i64, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let own = i64::from(std::process::id());
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i64>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_owned();
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
            let ours = cwd.is_some_and(|c| c.starts_with(dir)) || cmdline.contains(&needle);
            (ours && pid != own && !is_dead(pid)).then_some((pid, cmdline))
        })
        .collect()
}
