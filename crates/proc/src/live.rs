//! Live process groups, recorded on disk so that what a harnessgym left running when it died
//! (SIGKILL, the OOM killer) is found and killed by the next command on the workspace.
//!
//! Every child is a process-group leader with a parent-death signal (see `spawn.rs`), so the
//! direct child dies with harnessgym. What it started (a shell's background job, an agent's tool
//! process) does not get that signal: it is reparented and keeps running. Hence the record: a
//! command holding a workspace's exclusive lock calls [`record_in`] with
//! `<workspace>/.harnessgym/`[`LIVE_FILE`], which writes the file at once (naming this process);
//! from then on every group this process starts is added when it starts and removed when it
//! ends (the file rewritten atomically each time: a temporary file renamed over it, not fsynced:
//! no process survives a power loss); the file is
//! removed when recording stops with no group left. The next command that takes the lock first
//! calls [`kill_survivors`], which SIGKILLs what is left and deletes the file.
//!
//! Recording is off unless the process calls [`enable_recording`] (the CLI does, at start-up), so
//! that tests running several workspaces in one process never mix their records. One record is in
//! use at a time: a record taken while another is in use records nothing, and the groups go to
//! the first (`compare` holds its output directory's lock around its trials' runs, so every
//! trial's groups are in the output directory's record).
//!
//! # The file
//!
//! ```json
//! {
//!   "groups": [
//!     {"command": "codex exec --json -", "pgid": 4250, "pid": 4250, "since": "2026-…Z", "start_ticks": 1834567}
//!   ],
//!   "recorded_by": 4242,
//!   "recorded_by_start_ticks": 1834000
//! }
//! ```
//!
//! `pid` is a group's leader (the direct child, whose pid is the group id); the `start_ticks` are
//! start times in clock ticks after boot (field 22 of `/proc/<pid>/stat`), so that a pid reused by
//! an unrelated process is never mistaken for ours.
//!
//! # Which processes are killed
//!
//! * Every process whose environment has `<recorded_by>:<its start ticks>` in
//!   [`SPAWNED_BY_ENV`]: every child gets that variable, and its descendants inherit it — also
//!   those that left the group, those started in the instant between a spawn and its record, and
//!   those a nested harnessgym (an agent's `mcp-proxy`, a compare's trial) started.
//! * The live members of each recorded group (for descendants that were started with a cleared
//!   environment): all of them when the leader still runs with the recorded start time; none when
//!   a process with the leader's pid runs with another start time (the number was reused); when
//!   the leader is gone (the usual case: it died of its parent-death signal), the members started
//!   no earlier than the leader.
//!
//! A descendant that both leaves the group and clears its environment is not found; that is the
//! sandbox's job (a PID namespace).

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::group::{ProcStat, read_stat};

/// The record's name inside a workspace's `.harnessgym/`, beside the lock holder's record.
pub const LIVE_FILE: &str = "live-processes.json";

/// The longest command line kept in the record (the rest is cut, with `…`).
const COMMAND_CHARS: usize = 300;

/// How long [`kill_survivors`] waits for SIGKILLed processes to be gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// One live process group, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGroup {
    /// The process group id (the leader's pid).
    pub pgid: i32,
    /// The leader: the child harnessgym started.
    pub pid: u32,
    /// The leader's start time, clock ticks after boot (`/proc/<pid>/stat` field 22; 0 if unknown).
    pub start_ticks: u64,
    /// The leader's command line (shortened).
    pub command: String,
    /// When it started (UTC).
    pub since: String,
}

/// The environment variable every child gets: `<harnessgym pid>:<its start ticks>`, after the
/// markers of the harnessgym processes above it (comma-separated: a run's agent starts
/// `harnessgym mcp-proxy`, whose server then carries both). Inherited by the child's descendants,
/// so that [`kill_survivors`] finds them even outside the group.
pub const SPAWNED_BY_ENV: &str = "HARNESSGYM_SPAWNED_BY";

/// The most markers [`SPAWNED_BY_ENV`] holds (the nearest harnessgym processes are kept).
const MAX_MARKERS: usize = 8;

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LiveFile {
    /// The harnessgym process that recorded the groups.
    recorded_by: u32,
    /// Its start time (0 if unknown).
    #[serde(default)]
    recorded_by_start_ticks: u64,
    groups: Vec<LiveGroup>,
}

/// A process an interrupted command left running, killed by [`kill_survivors`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survivor {
    /// Its pid.
    pub pid: u32,
    /// Its command line (shortened).
    pub command: String,
}

/// This process's [`SPAWNED_BY_ENV`] value.
pub(crate) fn own_marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}:{}", read_stat(pid).map_or(0, |s| s.start_ticks))
    })
}

/// The [`SPAWNED_BY_ENV`] value this process gives its children: what it inherited, then its own
/// marker.
pub(crate) fn child_marker() -> &'static str {
    static VALUE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| chain_markers(std::env::var(SPAWNED_BY_ENV).ok().as_deref(), own_marker()))
}

fn chain_markers(inherited: Option<&str>, own: &str) -> String {
    let mut chain: Vec<&str> =
        inherited.unwrap_or_default().split(',').filter(|m| !m.is_empty() && *m != own).collect();
    chain.push(own);
    chain[chain.len().saturating_sub(MAX_MARKERS)..].join(",")
}

fn own_start_ticks() -> u64 {
    own_marker().rsplit(':').next().and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// Why [`kill_survivors`] could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The record exists but cannot be read or removed.
    #[error("{path}: {source}")]
    Io {
        /// The record.
        path: Utf8PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
static LEDGER: Mutex<Option<Ledger>> = Mutex::new(None);

struct Ledger {
    token: u64,
    path: Utf8PathBuf,
    groups: BTreeMap<i32, LiveGroup>,
    /// A failed write is logged once, not at every spawn.
    warned: bool,
}

impl Ledger {
    /// Writes the file; with `closing` and no group left, removes it instead.
    fn save(&mut self, closing: bool) {
        let result = if closing && self.groups.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            }
        } else {
            let file = LiveFile {
                recorded_by: std::process::id(),
                recorded_by_start_ticks: own_start_ticks(),
                groups: self.groups.values().cloned().collect(),
            };
            write_replacing(&self.path, &file).map_err(|e| e.to_string())
        };
        if let Err(error) = result
            && !self.warned
        {
            self.warned = true;
            tracing::warn!(path = %self.path, %error, "cannot record live process groups");
        }
    }
}

/// Writes `file` to a temporary file beside `path` and renames it over `path`: a reader (the
/// next command, after this one was killed at any instant) sees the old record or the new one,
/// never a part. Not fsynced, unlike the run's state files: the record is worthless after a
/// power loss (no process survives one), and it is rewritten at every spawn, where the delay of
/// an fsync would widen the instant in which a child runs unrecorded.
fn write_replacing(path: &Utf8Path, file: &LiveFile) -> io::Result<()> {
    // The house format (sorted keys, 2-space indent, trailing newline; docs/files.md).
    let bytes = harnessgym_types::json::to_pretty(file).map_err(io::Error::other)?;
    let tmp = path.with_file_name(format!(".{LIVE_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn ledger() -> std::sync::MutexGuard<'static, Option<Ledger>> {
    LEDGER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lets [`record_in`] record this process's groups. Called once by the CLI at start-up.
pub fn enable_recording() {
    RECORDING.store(true, Ordering::SeqCst);
}

/// While held, every process group this process starts is recorded in the file given to
/// [`record_in`]. Dropping it stops recording; the file is removed if no recorded group is left
/// (a group still running stays recorded, so that the next command kills it).
#[derive(Debug)]
#[must_use = "recording stops when this is dropped"]
pub struct LiveRecord {
    token: Option<u64>,
}

impl LiveRecord {
    /// Whether this record is the one in use (recording is enabled and no other was in use).
    pub fn is_active(&self) -> bool {
        self.token.is_some()
    }
}

impl Drop for LiveRecord {
    fn drop(&mut self) {
        let Some(token) = self.token else { return };
        let mut ledger = ledger();
        if ledger.as_ref().is_some_and(|l| l.token == token)
            && let Some(mut l) = ledger.take()
        {
            l.save(true);
        }
    }
}

/// Starts recording this process's groups in `path` (see the module docs). Inactive (records
/// nothing) unless [`enable_recording`] was called, or while another record is in use.
pub fn record_in(path: &Utf8Path) -> LiveRecord {
    if !RECORDING.load(Ordering::SeqCst) {
        return LiveRecord { token: None };
    }
    let mut ledger = ledger();
    if let Some(other) = ledger.as_ref() {
        tracing::debug!(path = %path, other = %other.path, "live process groups are already recorded elsewhere");
        return LiveRecord { token: None };
    }
    let token = NEXT_TOKEN.fetch_add(1, Ordering::SeqCst);
    // Written before anything is started: a child started and killed before its group is
    // recorded is still found by its environment.
    let mut new = Ledger { token, path: path.to_owned(), groups: BTreeMap::new(), warned: false };
    new.save(false);
    *ledger = Some(new);
    LiveRecord { token: Some(token) }
}

/// A group has started: record it (if recording).
pub(crate) fn started(pgid: Pid, pid: u32, program: &str, args: &[String]) {
    let mut ledger = ledger();
    let Some(l) = ledger.as_mut() else { return };
    let start_ticks = read_stat(pid).map_or(0, |s| s.start_ticks);
    let command =
        shorten(std::iter::once(program).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" "));
    let group =
        LiveGroup { pgid: pgid.as_raw(), pid, start_ticks, command, since: harnessgym_types::timefmt::utc_now() };
    l.groups.insert(pgid.as_raw(), group);
    l.save(false);
}

/// A group has ended (its members were killed or had exited): forget it.
pub(crate) fn ended(pgid: Pid) {
    let mut ledger = ledger();
    let Some(l) = ledger.as_mut() else { return };
    if l.groups.remove(&pgid.as_raw()).is_some() {
        l.save(false);
    }
}

fn shorten(mut command: String) -> String {
    if let Some((cut, _)) = command.char_indices().nth(COMMAND_CHARS) {
        command.truncate(cut);
        command.push('…');
    }
    command
}

/// SIGKILLs every process an interrupted command left running according to the record in `path`
/// (see the module docs for which processes count), waits briefly for them to go, and removes the
/// file. Call it only while holding the lock that keeps every other recorder of `path` away: the
/// record then belongs to a command that is gone. An unreadable or malformed record is removed
/// (nothing can be known from it) and yields no survivor.
pub fn kill_survivors(path: &Utf8Path) -> Result<Vec<Survivor>, LiveError> {
    let io_err = |source| LiveError::Io { path: path.to_owned(), source };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let recorded: LiveFile = serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(path = %path, error = %e, "unreadable record of live process groups; ignored");
        LiveFile::default()
    });
    let processes = all_processes();
    let mut doomed = std::collections::BTreeSet::new();
    if recorded.recorded_by != 0 && recorded.recorded_by_start_ticks != 0 {
        let marker = format!("{}:{}", recorded.recorded_by, recorded.recorded_by_start_ticks);
        doomed.extend(processes.iter().map(|(pid, _)| *pid).filter(|pid| carries_marker(*pid, &marker)));
    }
    for group in &recorded.groups {
        let members = members_to_kill(group, &processes);
        if members.contains(&group.pid) {
            // The leader runs with its recorded start time: the whole group is ours.
            signal_quietly(killpg(Pid::from_raw(group.pgid), Signal::SIGKILL), group.pgid);
        }
        doomed.extend(members);
    }
    doomed.remove(&std::process::id());
    let mut survivors = Vec::new();
    for pid in doomed {
        let command = command_of(pid);
        if let Ok(raw) = i32::try_from(pid) {
            signal_quietly(kill(Pid::from_raw(raw), Signal::SIGKILL), raw);
        }
        tracing::info!(pid, command = %command, "killed a process left by an interrupted command");
        survivors.push(Survivor { pid, command });
    }
    let deadline = Instant::now() + KILL_WAIT;
    while survivors.iter().any(|s| read_stat(s.pid).is_some_and(|s| s.is_live())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(e)),
        _ => {}
    }
    Ok(survivors)
}

/// `pid`'s command line, shortened; `[name]` (as `ps` shows it) when it has none (it is exiting).
fn command_of(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_owned();
    if command.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("[{}]", comm.trim_end())
    } else {
        shorten(command)
    }
}

/// Whether `pid`'s environment (`/proc/<pid>/environ`) has `marker` in [`SPAWNED_BY_ENV`].
/// Unreadable (another user's process, or gone): no.
fn carries_marker(pid: u32, marker: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let prefix = format!("{SPAWNED_BY_ENV}=");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .any(|value| value.split(|b| *b == b',').any(|m| m == marker.as_bytes()))
}

fn signal_quietly(result: nix::Result<()>, id: i32) {
    match result {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => tracing::warn!(id, %errno, "cannot kill a process left by an interrupted command"),
    }
}

/// Every live process: (pid, its stat).
fn all_processes() -> Vec<(u32, ProcStat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(|pid| read_stat(pid).filter(ProcStat::is_live).map(|s| (pid, s)))
        .collect()
}

/// The live members of `group` that belong to it (see the module docs).
fn members_to_kill(group: &LiveGroup, processes: &[(u32, ProcStat)]) -> Vec<u32> {
    let in_group: Vec<&(u32, ProcStat)> = processes.iter().filter(|(_, s)| s.pgrp == group.pgid).collect();
    let leader = processes.iter().find(|(pid, _)| *pid == group.pid);
    match leader {
        Some((_, stat)) if stat.start_ticks != group.start_ticks => Vec::new(),
        Some(_) => in_group.iter().map(|(pid, _)| *pid).collect(),
        None => in_group.iter().filter(|(_, s)| s.start_ticks >= group.start_ticks).map(|(pid, _)| *pid).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pgrp: i32, start_ticks: u64) -> ProcStat {
        ProcStat { state: 'S', pgrp, start_ticks }
    }

    fn group(pgid: i32, start_ticks: u64) -> LiveGroup {
        LiveGroup { pgid, pid: pgid as u32, start_ticks, command: "x".into(), since: "t".into() }
    }

    #[test]
    fn a_live_leader_with_its_start_time_gives_the_whole_group() {
        let procs = [(10, stat(10, 100)), (11, stat(10, 90)), (12, stat(12, 100))];
        assert_eq!(members_to_kill(&group(10, 100), &procs), [10, 11]);
    }

    #[test]
    fn a_reused_leader_pid_gives_nothing() {
        let procs = [(10, stat(10, 500)), (11, stat(10, 600))];
        assert!(members_to_kill(&group(10, 100), &procs).is_empty());
    }

    #[test]
    fn without_the_leader_only_members_started_after_it_count() {
        let procs = [(11, stat(10, 150)), (12, stat(10, 50)), (13, stat(7, 150))];
        assert_eq!(members_to_kill(&group(10, 100), &procs), [11]);
    }

    #[test]
    fn markers_chain_the_harnessgym_processes_above_a_child() {
        assert_eq!(chain_markers(None, "9:90"), "9:90");
        assert_eq!(chain_markers(Some(""), "9:90"), "9:90");
        assert_eq!(chain_markers(Some("1:10,2:20"), "9:90"), "1:10,2:20,9:90");
        assert_eq!(chain_markers(Some("1:10,9:90"), "9:90"), "1:10,9:90", "not twice");
        let long: Vec<String> = (1..=20).map(|n| format!("{n}:{n}")).collect();
        let chained = chain_markers(Some(&long.join(",")), "99:99");
        assert_eq!(chained.split(',').count(), MAX_MARKERS);
        assert!(chained.starts_with("14:14,") && chained.ends_with(",20:20,99:99"), "{chained}");
    }

    #[test]
    fn own_environment_carries_no_foreign_marker() {
        // This test process was not started by harnessgym with this marker.
        assert!(!carries_marker(std::process::id(), "1:1"));
    }

    #[test]
    fn a_missing_record_has_no_survivors_and_a_malformed_one_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().join(LIVE_FILE)).expect("utf-8");
        assert!(kill_survivors(&path).expect("no file").is_empty());
        std::fs::write(&path, "{not json").expect("write");
        assert!(kill_survivors(&path).expect("malformed").is_empty());
        assert!(!path.exists());
    }

    #[test]
    fn recording_is_off_until_enabled() {
        // Not enabled in this test binary's unit tests: nothing is installed.
        if !RECORDING.load(Ordering::SeqCst) {
            assert!(!record_in(Utf8Path::new("/nonexistent/live.json")).is_active());
        }
    }
}
