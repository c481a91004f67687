//! Process-group signalling and liveness checks.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::{Instant, sleep};

/// How often group liveness is polled while waiting for it to die.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Sends `signal` to every process in group `pgid`. A group that no longer
/// exists is not an error.
pub(crate) fn signal_group(pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        Ok(()) => tracing::debug!(pgid = pgid.as_raw(), %signal, "signalled process group"),
        Err(Errno::ESRCH) => {}
        Err(errno) => {
            tracing::warn!(pgid = pgid.as_raw(), %signal, %errno, "could not signal process group");
        }
    }
}

/// Whether group `pgid` still has a member that is not a zombie.
///
/// Zombies are ignored because orphaned members are reaped by PID 1 (or a
/// subreaper), which may be slow or never happen in a container.
pub(crate) async fn group_alive(pgid: Pid) -> bool {
    match killpg(pgid, None) {
        Err(Errno::ESRCH) => false,
        _ => {
            let raw = pgid.as_raw();
            tokio::task::spawn_blocking(move || live_member_in_proc(raw).unwrap_or(true)).await.unwrap_or(true)
        }
    }
}

/// Polls until group `pgid` has no live member or `limit` elapses. Returns
/// whether the group died in time.
pub(crate) async fn wait_group_gone(pgid: Pid, limit: Duration) -> bool {
    let deadline = deadline_after(limit);
    loop {
        if !group_alive(pgid).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Scans `/proc` for a non-zombie process whose process group is `pgid`.
/// `None` when `/proc` cannot be listed (then callers assume "alive").
#[cfg(target_os = "linux")]
fn live_member_in_proc(pgid: i32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // A process can vanish between listing and reading: skip it.
        if let Some(stat) = read_stat(pid)
            && stat.pgrp == pgid
            && stat.is_live()
        {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(not(target_os = "linux"))]
fn live_member_in_proc(_pgid: i32) -> Option<bool> {
    None
}

/// `now + limit`, saturating to a far-future instant instead of panicking
/// on overflow (e.g. for `Duration::MAX`).
pub(crate) fn deadline_after(limit: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(limit).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// What this crate reads from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// `R`, `S`, `D`, `Z`, …
    pub(crate) state: char,
    /// The process group id.
    pub(crate) pgrp: i32,
    /// The start time, clock ticks after boot (field 22).
    pub(crate) start_ticks: u64,
}

impl ProcStat {
    /// Not a zombie (a zombie no longer runs; PID 1 may reap it late, or never in a container).
    pub(crate) fn is_live(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// `/proc/<pid>/stat`, parsed; `None` if the process is gone (or `/proc` is not Linux's).
pub(crate) fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses a `/proc/<pid>/stat` line. The command name is in parentheses and may itself contain
/// `)` or spaces, so parsing starts after the *last* `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn parse_stat(stat: &str) -> Option<ProcStat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    // Fields 6 to 21 lie between the group id (5) and the start time (22).
    let start_ticks = fields.nth(16)?.parse().ok()?;
    Some(ProcStat { state, pgrp, start_ticks })
}

/// SIGKILLs the group when dropped unless disarmed, so a `run` future that is
/// dropped half-way (e.g. by a caller's `select!`) leaves nothing behind.
pub(crate) struct GroupGuard {
    pgid: Pid,
    armed: bool,
}

impl GroupGuard {
    pub(crate) fn new(pgid: Pid) -> Self {
        Self { pgid, armed: true }
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!(pgid = self.pgid.as_raw(), "run abandoned; killing process group");
            signal_group(self.pgid, Signal::SIGKILL);
        }
        crate::live::ended(self.pgid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_after_saturates_instead_of_panicking() {
        assert!(deadline_after(Duration::MAX) > Instant::now() + Duration::from_secs(3600));
        assert!(deadline_after(Duration::ZERO) <= Instant::now());
    }

    const TAIL: &str = "0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 200";

    #[test]
    fn parse_stat_reads_state_pgrp_and_start_time() {
        let line = format!("4242 (sleep) S 4240 4240 4240 {TAIL}");
        assert_eq!(parse_stat(&line), Some(ProcStat { state: 'S', pgrp: 4240, start_ticks: 987_654 }));
    }

    #[test]
    fn parse_stat_handles_parentheses_and_spaces_in_comm() {
        let line = format!("7 (evil) Z (x) y) Z 1 99 99 {TAIL}");
        let stat = parse_stat(&line).expect("parses");
        assert_eq!((stat.state, stat.pgrp, stat.is_live()), ('Z', 99, false));
    }

    #[test]
    fn parse_stat_rejects_garbage() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("12 (x)"), None);
        assert_eq!(parse_stat("12 (x) S 1 notanumber"), None);
        assert_eq!(parse_stat("12 (x) S 1 5 5 0 -1"), None, "no start time");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_stat_is_read() {
        let own = read_stat(std::process::id()).expect("own stat");
        assert_eq!(own.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(own.start_ticks > 0 && own.is_live());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_process_group_has_a_live_member() {
        let own = nix::unistd::getpgrp().as_raw();
        assert_eq!(live_member_in_proc(own), Some(true));
    }

    #[tokio::test]
    async fn nonexistent_group_is_not_alive() {
        // Beyond pid_max on Linux (at most 2^22), so never a real group.
        let pgid = Pid::from_raw(i32::MAX - 1);
        assert!(!group_alive(pgid).await);
        assert!(wait_group_gone(pgid, Duration::ZERO).await);
        signal_group(pgid, Signal::SIGTERM); // ESRCH is ignored
    }
}
