//! One lock per workspace: an `flock` on the workspace's `.harnessgym` directory itself.
//!
//! `run` (for its whole life, a resumed run included), `activate` and `gc` hold it exclusively;
//! readers (`gc --dry-run`) share it. There is no lock file, so the lock works on a read-only
//! workspace, and a holder that died — however it died — holds nothing: the kernel drops an
//! `flock` with its last descriptor. Beside the lock, the holder records who it is
//! (`.harnessgym/lock-holder.json`: pid, command line, since when) so that a refusal can name it;
//! a record left by a holder that died says an earlier command was interrupted.
//!
//! An exclusive holder also records the process groups it starts
//! (`.harnessgym/`[`LIVE_FILE`], see [`harnessgym_proc::live`]); taking the lock first kills
//! whatever a holder that died left running there ([`WorkspaceLock::killed_survivors`]).

use std::fs::{File, TryLockError};
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::live::{LiveRecord, Survivor};
use harnessgym_types::timefmt::utc_now;
use serde::{Deserialize, Serialize};

/// The holder record's name inside `.harnessgym/`.
pub const HOLDER_FILE: &str = "lock-holder.json";

/// The record of live process groups inside `.harnessgym/`.
pub use harnessgym_proc::live::LIVE_FILE;

/// How a command uses the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// It changes the workspace's harness state: nobody else may use it meanwhile.
    Exclusive,
    /// It only reads: other readers may too, writers wait their turn.
    Shared,
}

/// Who holds (or held) a workspace's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The holder's process id.
    pub pid: u32,
    /// Its command line.
    pub command: String,
    /// When it took the lock (UTC).
    pub since: String,
}

/// Why a workspace's lock cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("the workspace {workspace} is in use by {holder}; wait for it to finish (or stop it), then try again")]
    Busy {
        /// The workspace.
        workspace: Utf8PathBuf,
        /// Who holds it, in words.
        holder: String,
    },
    /// Another compare uses the output directory.
    #[error("the output directory {dir} is in use by {holder}; wait for it to finish (or stop it), then try again")]
    OutputDirBusy {
        /// The output directory.
        dir: Utf8PathBuf,
        /// Who holds it, in words.
        holder: String,
    },
    /// The `.harnessgym` directory cannot be created or opened.
    #[error("cannot lock the workspace {workspace} ({dir}: {source}); check that it exists and is readable")]
    Io {
        /// The workspace.
        workspace: Utf8PathBuf,
        /// The directory the lock is taken on.
        dir: Utf8PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// A held workspace lock; dropping it releases the lock and removes the holder record this
/// process wrote.
#[derive(Debug)]
pub struct WorkspaceLock {
    _dir: Option<File>,
    record: Option<Utf8PathBuf>,
    previous: Option<LockHolder>,
    survivors: Vec<Survivor>,
    live: Option<LiveRecord>,
}

impl WorkspaceLock {
    /// Takes `workspace`'s lock in `mode`, without waiting. An exclusive lock creates
    /// `.harnessgym` if needed; a shared one on a workspace without it locks nothing (there is
    /// nothing to read).
    pub fn acquire(workspace: &Utf8Path, mode: LockMode) -> Result<Self, LockError> {
        let dir = workspace.join(".harnessgym");
        if mode == LockMode::Shared && !dir.is_dir() {
            return Ok(Self { _dir: None, record: None, previous: None, survivors: Vec::new(), live: None });
        }
        Self::acquire_on(workspace, &dir, mode, |holder| LockError::Busy { workspace: workspace.to_owned(), holder })
    }

    /// Takes a compare output directory's exclusive lock (an `flock` on the directory itself,
    /// the holder recorded in it), creating the directory if needed.
    pub fn acquire_output_dir(dir: &Utf8Path) -> Result<Self, LockError> {
        Self::acquire_on(dir, dir, LockMode::Exclusive, |holder| LockError::OutputDirBusy {
            dir: dir.to_owned(),
            holder,
        })
    }

    fn acquire_on(
        owner: &Utf8Path,
        dir: &Utf8Path,
        mode: LockMode,
        busy: impl FnOnce(String) -> LockError,
    ) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io { workspace: owner.to_owned(), dir: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let file = File::open(dir).map_err(io_err)?;
        let try_lock = || match mode {
            LockMode::Exclusive => file.try_lock(),
            LockMode::Shared => file.try_lock_shared(),
        };
        let record_path = dir.join(HOLDER_FILE);
        let mut locked = try_lock();
        // A lock held with no holder record is usually a lock being let go: the holder removed
        // its record, or a child forked in that instant (by any thread of a process) still
        // holds a copy of the descriptor until it execs. Give it a moment before refusing.
        let grace = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while matches!(locked, Err(TryLockError::WouldBlock))
            && read_holder(&record_path).is_none()
            && std::time::Instant::now() < grace
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
            locked = try_lock();
        }
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&record_path).map_or_else(
                    || "another harnessgym command".to_owned(),
                    |h| format!("`{}` (pid {}, since {})", h.command, h.pid, h.since),
                );
                return Err(busy(holder));
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        // A record found while the lock was free was left by a holder that died.
        let previous = read_holder(&record_path);
        let record = (mode == LockMode::Exclusive)
            .then(|| {
                let me = LockHolder { pid: std::process::id(), command: command_line(), since: utc_now() };
                // A read-only workspace keeps no record: the lock itself still holds.
                harnessgym_types::json::write_json(&record_path, &me).ok().map(|()| record_path.clone())
            })
            .flatten();
        // Nobody else holds the lock: groups recorded in the live record belong to a command
        // that died. Kill what is left of them before starting anything of ours.
        let (survivors, live) = match mode {
            LockMode::Exclusive => {
                let live_path = dir.join(LIVE_FILE);
                let survivors = harnessgym_proc::live::kill_survivors(&live_path).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot clear the record of live process groups");
                    Vec::new()
                });
                (survivors, Some(harnessgym_proc::live::record_in(&live_path)))
            }
            LockMode::Shared => (Vec::new(), None),
        };
        Ok(Self { _dir: Some(file), record, previous, survivors, live })
    }

    /// The processes an interrupted command left running in its process groups, killed when this
    /// exclusive lock was taken.
    pub fn killed_survivors(&self) -> &[Survivor] {
        &self.survivors
    }

    /// The holder an earlier exclusive lock recorded and never released: a command that was
    /// killed (its run can be resumed).
    pub fn interrupted_holder(&self) -> Option<&LockHolder> {
        self.previous.as_ref()
    }
}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        // Before the lock is released: the live record is this holder's to write.
        drop(self.live.take());
        if let Some(path) = &self.record {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `killed 2 processes left by an interrupted command: pid 41 (`sleep 300`), pid 43 (`…`)`, or
/// `None` if nothing was killed.
pub fn survivors_report(survivors: &[Survivor]) -> Option<String> {
    let listed: Vec<String> = survivors.iter().map(|s| format!("pid {} (`{}`)", s.pid, s.command)).collect();
    let noun = match survivors.len() {
        0 => return None,
        1 => "process",
        _ => "processes",
    };
    Some(format!("killed {} {noun} left by an interrupted command: {}", survivors.len(), listed.join(", ")))
}

fn read_holder(path: &Utf8Path) -> Option<LockHolder> {
    harnessgym_types::json::read_typed(path).ok().flatten()
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().map(|p| Utf8Path::new(p).file_name().unwrap_or(p).to_owned()).unwrap_or_default();
    std::iter::once(program).chain(args.into_iter().skip(1)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        (dir, path)
    }

    #[test]
    fn a_second_exclusive_lock_is_refused_naming_the_holder_and_free_once_released() {
        let (_dir, ws) = workspace();
        let first = WorkspaceLock::acquire(&ws, LockMode::Exclusive).unwrap();
        let err = WorkspaceLock::acquire(&ws, LockMode::Exclusive).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        assert!(matches!(WorkspaceLock::acquire(&ws, LockMode::Shared), Err(LockError::Busy { .. })));
        drop(first);
        assert!(!ws.join(".harnessgym").join(HOLDER_FILE).exists(), "the record goes with the lock");
        let again = WorkspaceLock::acquire(&ws, LockMode::Exclusive).unwrap();
        assert!(again.interrupted_holder().is_none());
    }

    #[test]
    fn readers_share_and_keep_writers_out() {
        let (_dir, ws) = workspace();
        std::fs::create_dir(ws.join(".harnessgym")).unwrap();
        let a = WorkspaceLock::acquire(&ws, LockMode::Shared).unwrap();
        let _b = WorkspaceLock::acquire(&ws, LockMode::Shared).unwrap();
        assert!(WorkspaceLock::acquire(&ws, LockMode::Exclusive).is_err());
        drop(a);
    }

    #[test]
    fn survivors_are_reported_with_their_pids_and_commands() {
        let survivor = |pid: u32, command: &str| Survivor { pid, command: command.into() };
        assert_eq!(survivors_report(&[]), None);
        let survivors = [survivor(41, "sleep 300"), survivor(50, "python3 server.py")];
        assert_eq!(
            survivors_report(&survivors).unwrap(),
            "killed 2 processes left by an interrupted command: pid 41 (`sleep 300`), pid 50 (`python3 server.py`)"
        );
        assert_eq!(
            survivors_report(&survivors[1..]).unwrap(),
            "killed 1 process left by an interrupted command: pid 50 (`python3 server.py`)"
        );
    }

    #[test]
    fn taking_the_lock_clears_the_live_record_of_a_dead_holder() {
        let (_dir, ws) = workspace();
        std::fs::create_dir(ws.join(".harnessgym")).unwrap();
        // A group that is long gone: nothing to kill, and the stale record goes.
        let stale = r#"{"recorded_by": 999999, "groups": [{"pgid": 2147483646, "pid": 4000000000,
            "start_ticks": 1, "command": "sleep 1", "since": "then"}]}"#;
        std::fs::write(ws.join(".harnessgym").join(LIVE_FILE), stale).unwrap();
        let lock = WorkspaceLock::acquire(&ws, LockMode::Exclusive).unwrap();
        assert!(lock.killed_survivors().is_empty());
        assert!(!ws.join(".harnessgym").join(LIVE_FILE).exists());
    }

    #[test]
    fn a_record_left_by_a_dead_holder_is_reported_as_an_interrupted_command() {
        let (_dir, ws) = workspace();
        std::fs::create_dir(ws.join(".harnessgym")).unwrap();
        let dead = LockHolder { pid: 999_999, command: "harnessgym run --task t.md".into(), since: "then".into() };
        harnessgym_types::json::write_json(&ws.join(".harnessgym").join(HOLDER_FILE), &dead).unwrap();
        let lock = WorkspaceLock::acquire(&ws, LockMode::Exclusive).unwrap();
        assert_eq!(lock.interrupted_holder(), Some(&dead));
    }
}
