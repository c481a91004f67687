//! Small filesystem helpers: atomic file/symlink writes, symlink-safe removal, listing.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::SnapshotError;
use crate::error::io_err;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh name in `dir` for a temporary entry, later renamed over its final name.
pub(crate) fn tmp_path(dir: &Path, tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".hg-{tag}-{}-{n}", std::process::id()))
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

/// Copies the regular file `src` (whose metadata is `meta`) to `dest` by writing a temporary
/// file next to `dest` and renaming it over `dest`; the permissions and mtime of `src` are
/// applied. Whatever is at `dest` (file or symlink, never a directory) is replaced, never written
/// through. Returns the number of bytes copied.
pub(crate) fn copy_file_atomic(src: &Path, meta: &Metadata, dest: &Path) -> Result<u64, SnapshotError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = tmp_path(dir, "tmp");
    let mut input = File::open(src).map_err(io_err("open", src))?;
    let mut out =
        OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io_err("create temporary file", &tmp))?;
    let mut guard = TmpGuard { path: &tmp, armed: true };
    let n = io::copy(&mut input, &mut out).map_err(io_err("copy into", &tmp))?;
    if let Ok(mtime) = meta.modified() {
        out.set_times(FileTimes::new().set_modified(mtime)).map_err(io_err("set modification time of", &tmp))?;
    }
    out.set_permissions(meta.permissions()).map_err(io_err("set permissions of", &tmp))?;
    drop(out);
    fs::rename(&tmp, dest).map_err(io_err("rename temporary file onto", dest))?;
    guard.armed = false;
    Ok(n)
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

#[cfg(unix)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    // The target may dangle; guess the kind from what it points at now.
    let base = link.parent().unwrap_or(Path::new("."));
    if base.join(target).is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = meta.permissions();
        let mode = perms.mode();
        if mode & 0o700 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700)).map_err(io_err("make writable", dir))?;
            return Ok(Some(perms));
        }
        Ok(None)
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, meta);
        Ok(None)
    }
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

/// Posix-style relative path for reports (lossy for non-UTF-8 names).
pub(crate) fn posix(rel: &Path) -> String {
    let mut out = String::new();
    for c in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&c.as_os_str().to_string_lossy());
    }
    out
}
