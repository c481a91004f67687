//! Journals: what an operation in progress will change, so that a process killed at any point
//! leaves either the old tree, the new tree, or a journal that the next command completes.
//!
//! A journal is a small text file in `<store>/journal/`. It is created under a temporary name,
//! locked (`flock`, released by the kernel when its process dies), written, synced and only
//! then renamed into place; it is removed — while still locked — when the operation is done.
//! Recovery takes every journal whose lock it can get (its owner is dead) and whose file is
//! still the one it locked, completes it, and removes it.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::io_err;
use crate::escape::{escape_os, unescape_os};
use crate::fsutil::tmp_path;
use crate::manifest::{parse_purpose, purpose_name};
use crate::{Purpose, SnapshotError};

const HEADER: &str = "harnessgym-journal 1";

/// What a journal promises to finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Make `target` equal to the snapshot at `snapshot` under the recorded policy; temporary
    /// files of process `pid` are leftovers to remove.
    Restore { snapshot: PathBuf, target: PathBuf, purpose: Purpose, ignore: Option<String>, pid: u32 },
    /// A new tree is being built at `staging` and swapped in at `dest` (the old tree may sit at
    /// `old` for a moment). Completing it means: put `old` back if `dest` is missing, then
    /// remove `staging` and `old`.
    Install { staging: PathBuf, dest: PathBuf, old: PathBuf },
}

/// A journal held by the running operation. Dropped without [`Journal::finish`] — the
/// operation failed with an error — it is removed all the same: only a process that was killed
/// leaves its journal for the next one to complete (an operation that reported an error must
/// not be replayed later over whatever happened since).
pub(crate) struct Journal {
    path: PathBuf,
    _file: File,
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Journal {
    /// Writes and locks a journal for `intent` in `dir`.
    pub(crate) fn begin(dir: &Path, intent: &Intent) -> Result<Self, SnapshotError> {
        let tmp = tmp_path(dir, "journal");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create journal", &tmp))?;
        file.lock().map_err(io_err("lock journal", &tmp))?;
        // No fsync: the journal protects against a killed process (the page cache survives it),
        // not against power loss, for which objects would need syncing too.
        let text = encode(intent);
        let written = file.write_all(text.as_bytes());
        let path = tmp_path(dir, "op");
        let renamed = written.and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write journal", &tmp)(e));
        }
        Ok(Self { path, _file: file })
    }

    /// The operation is complete: the journal goes (its lock with it).
    pub(crate) fn finish(self) -> Result<(), SnapshotError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove journal", &self.path)(e)),
            _ => Ok(()),
        }
    }
}

fn encode(intent: &Intent) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    match intent {
        Intent::Restore { snapshot, target, purpose, ignore, pid } => {
            let _ = writeln!(out, "op\trestore");
            let _ = writeln!(out, "snapshot\t{}", escape_os(snapshot.as_os_str()));
            let _ = writeln!(out, "target\t{}", escape_os(target.as_os_str()));
            let _ = writeln!(out, "purpose\t{}", purpose_name(*purpose));
            let _ = writeln!(out, "pid\t{pid}");
            match ignore {
                Some(text) => {
                    let _ = writeln!(out, "ignore\t{}", crate::escape::escape_bytes(text.as_bytes()));
                }
                None => {
                    let _ = writeln!(out, "no-ignore\t");
                }
            }
        }
        Intent::Install { staging, dest, old } => {
            let _ = writeln!(out, "op\tinstall");
            let _ = writeln!(out, "staging\t{}", escape_os(staging.as_os_str()));
            let _ = writeln!(out, "dest\t{}", escape_os(dest.as_os_str()));
            let _ = writeln!(out, "old\t{}", escape_os(old.as_os_str()));
        }
    }
    out
}

fn decode(text: &str) -> Option<Intent> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut map = std::collections::HashMap::new();
    for line in lines {
        let (k, v) = line.split_once('\t')?;
        map.insert(k, v);
    }
    let path = |k: &str| map.get(k).and_then(|v| unescape_os(v)).map(PathBuf::from);
    match *map.get("op")? {
        "restore" => Some(Intent::Restore {
            snapshot: path("snapshot")?,
            target: path("target")?,
            purpose: parse_purpose(map.get("purpose")?)?,
            pid: map.get("pid")?.parse().ok()?,
            ignore: match map.get("ignore") {
                Some(v) => Some(String::from_utf8(crate::escape::unescape_bytes(v)?).ok()?),
                None => {
                    map.get("no-ignore")?;
                    None
                }
            },
        }),
        "install" => Some(Intent::Install { staging: path("staging")?, dest: path("dest")?, old: path("old")? }),
        _ => None,
    }
}

/// A journal left by a dead process, locked by us.
pub(crate) struct Orphan {
    pub path: PathBuf,
    pub intent: Option<Intent>,
    _file: File,
}

impl Orphan {
    /// Removes the journal once its intent is complete.
    pub(crate) fn finish(self) -> Result<(), SnapshotError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove journal", &self.path)(e)),
            _ => Ok(()),
        }
    }
}

/// Journals in `dir` whose owners are gone. Journals still locked by a live process are left
/// alone; half-written ones (temporary names) are removed once unlocked.
/// Whether the process that named a temporary journal `.hg-journal-<pid>-<n>` (`rest` is
/// `<pid>-<n>`) no longer runs. A name that does not parse counts as gone.
fn writer_is_gone(rest: &str) -> bool {
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return true };
    pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
}

pub(crate) fn orphans(dir: &Path) -> Result<Vec<Orphan>, SnapshotError> {
    let mut out = Vec::new();
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    let mut names: Vec<_> = read.filter_map(Result::ok).map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&path) else { continue };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(io_err("lock journal", &path)(e)),
        }
        // The owner may have finished and removed it between our open and our lock.
        let still_there = match (fs::symlink_metadata(&path), file.metadata()) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if !still_there {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(rest) = name.strip_prefix(".hg-journal-") {
            // Never renamed into place: the operation had not started. Its writer locks it only
            // after creating it, so a free lock is not enough — the writer must be gone too (a
            // second process opening the store in that instant must not take it away).
            if !writer_is_gone(rest) {
                continue;
            }
            let _ = fs::remove_file(&path);
            continue;
        }
        let mut text = String::new();
        let intent = file.read_to_string(&mut text).ok().and_then(|_| decode(&text));
        out.push(Orphan { path, intent, _file: file });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlocked_temporary_journal_of_a_live_writer_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // Created, not yet locked: the instant between `create_new` and `lock` in `begin`.
        let live = dir.path().join(format!(".hg-journal-{}-7", std::process::id()));
        std::fs::write(&live, "").unwrap();
        let dead = dir.path().join(".hg-journal-4294967295-1");
        std::fs::write(&dead, "").unwrap();
        assert!(orphans(dir.path()).unwrap().is_empty());
        assert!(live.exists(), "a live writer's journal was taken away");
        assert!(!dead.exists(), "a dead writer's leftover stays");
    }

    #[test]
    fn intents_round_trip() {
        let intents = [
            Intent::Restore {
                snapshot: PathBuf::from("/a/snap shot"),
                target: PathBuf::from("/w\tx"),
                purpose: Purpose::TaskState,
                ignore: Some("*.log\n!keep.log\n".into()),
                pid: 42,
            },
            Intent::Restore {
                snapshot: PathBuf::from("/s"),
                target: PathBuf::from("/t"),
                purpose: Purpose::Copy,
                ignore: None,
                pid: 1,
            },
            Intent::Install {
                staging: PathBuf::from("/p/.hg-x"),
                dest: PathBuf::from("/p/d"),
                old: PathBuf::from("/p/o"),
            },
        ];
        for intent in intents {
            assert_eq!(decode(&encode(&intent)), Some(intent.clone()));
        }
    }
}
