//! Small filesystem helpers: atomic file/symlink writes, symlink-safe removal, listing, stat
//! identities.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::SnapshotError;
use crate::error::io_err;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh name in `dir` for a temporary entry, later renamed over its final name:
/// `.hg-<tag>-<pid>-<n>` (see [`tmp_prefix`]).
pub(crate) fn tmp_path(dir: &Path, tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{}{n}", tmp_prefix(tag, std::process::id())))
}

/// The prefix of every temporary name process `pid` gives with `tag`.
pub(crate) fn tmp_prefix(tag: &str, pid: u32) -> String {
    format!(".hg-{tag}-{pid}-")
}

/// Permission bits (including setuid/setgid/sticky) of an entry.
pub(crate) fn mode_of(meta: &Metadata) -> u32 {
    meta.mode() & 0o7777
}

/// Modification time of an entry, to the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

impl Mtime {
    pub(crate) fn of(meta: &Metadata) -> Self {
        Self { secs: meta.mtime(), nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0) }
    }

    pub(crate) fn to_system_time(self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        if self.secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(self.secs.unsigned_abs()))?.checked_add(nanos)
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(self.secs.unsigned_abs()))?.checked_add(nanos)
        }
    }
}

/// What one `lstat` says about a regular file, enough to tell that it was not touched since: any
/// write, truncation, chmod, rename or replacement changes the inode, size, mtime or ctime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Stat {
    pub(crate) fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// Now, in nanoseconds since the epoch.
pub(crate) fn now_ns() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// Opens a regular file for reading without following a symlink put in its place meanwhile.
pub(crate) fn open_nofollow(path: &Path) -> Result<File, SnapshotError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(io_err("open", path))
}

/// Creates a new file (never an existing one, never through a symlink) writable by us.
pub(crate) fn create_new(path: &Path) -> Result<File, SnapshotError> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err("create", path))
}

/// Applies a snapshot entry's mode and mtime to an open file.
pub(crate) fn apply_file_meta(file: &File, path: &Path, mode: u32, mtime: Mtime) -> Result<(), SnapshotError> {
    if let Some(t) = mtime.to_system_time() {
        file.set_times(FileTimes::new().set_modified(t)).map_err(io_err("set modification time of", path))?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_err("set permissions of", path))
}

/// Removes a temporary path on drop unless disarmed.
struct TmpGuard<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for TmpGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}

/// `symlink_metadata`, with "not found" mapped to `None`.
pub(crate) fn lstat(path: &Path) -> Result<Option<Metadata>, SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

/// The names in a directory.
pub(crate) fn list_dir(dir: &Path, names: &mut BTreeSet<OsString>) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        names.insert(entry.map_err(io_err("read directory", dir))?.file_name());
    }
    Ok(())
}

/// Creates a symlink at `dest` with exactly `target` as its text (temp name + rename, so an
/// existing file or symlink at `dest` is replaced, never followed).
pub(crate) fn symlink_atomic(target: &Path, dest: &Path) -> Result<(), SnapshotError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = tmp_path(dir, "tmp");
    make_symlink(target, &tmp).map_err(io_err("create symlink", &tmp))?;
    let mut guard = TmpGuard { path: &tmp, armed: true };
    fs::rename(&tmp, dest).map_err(io_err("rename temporary symlink onto", dest))?;
    guard.armed = false;
    Ok(())
}

fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Whether two regular files have identical bytes (sizes already known equal or not).
pub(crate) fn same_content(a: &Path, a_meta: &Metadata, b: &Path, b_meta: &Metadata) -> Result<bool, SnapshotError> {
    if a_meta.len() != b_meta.len() {
        return Ok(false);
    }
    let mut fa = File::open(a).map_err(io_err("open", a))?;
    let mut fb = File::open(b).map_err(io_err("open", b))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(io_err("read", a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(io_err("read", b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Gives the owner full access to the real directory `dir` if it lacks it (read-only trees such
/// as Go's module cache), returning the permissions to put back afterwards.
pub(crate) fn make_dir_writable(dir: &Path, meta: &Metadata) -> Result<Option<fs::Permissions>, SnapshotError> {
    let perms = meta.permissions();
    let mode = perms.mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700)).map_err(io_err("make writable", dir))?;
        return Ok(Some(perms));
    }
    Ok(None)
}

/// Removes `path` whatever it is, never following symlinks, coping with read-only directories.
pub(crate) fn remove_tree(path: &Path) -> Result<(), SnapshotError> {
    let Some(meta) = lstat(path)? else {
        return Ok(());
    };
    if meta.is_dir() {
        make_dir_writable(path, &meta)?;
        let mut names = BTreeSet::new();
        list_dir(path, &mut names)?;
        for name in names {
            remove_tree(&path.join(name))?;
        }
        fs::remove_dir(path).map_err(io_err("remove directory", path))
    } else {
        fs::remove_file(path).map_err(io_err("remove", path))
    }
}

/// Posix-style relative path for reports and manifests, escaped (see [`crate::escape`]).
pub(crate) fn posix(rel: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::with_capacity(rel.as_os_str().len());
    for c in rel.components() {
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(c.as_os_str().as_bytes());
    }
    crate::escape::escape_bytes(&bytes)
}
