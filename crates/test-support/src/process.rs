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
