//! The store's `objects/` directory, addressed through one open directory descriptor.
//!
//! Capture, restore, copy-out and views touch an object per file (tens of thousands per
//! operation). Naming each by its absolute path made the kernel walk every component of the
//! store's path each time and the process build a fresh `PathBuf`; relative to the descriptor a
//! lookup walks two components (`<2 hex>/<62 hex>`) and the name lives on the stack.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::SnapshotError;
use crate::error::io_err;
use crate::tree::Hash;

/// `<2 hex>/<62 hex>`: an object's path relative to `objects/`.
pub(crate) struct ObjectName([u8; 65]);

impl ObjectName {
    pub(crate) fn of(h: &Hash) -> Self {
        let hex = blake3::Hash::from_bytes(*h).to_hex();
        let hex = hex.as_bytes();
        let mut name = [b'/'; 65];
        name[..2].copy_from_slice(&hex[..2]);
        name[3..].copy_from_slice(&hex[2..]);
        Self(name)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits and '/' are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    fn shard(&self) -> &str {
        self.as_str().get(..2).unwrap_or("")
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The open `objects/` directory of a store.
#[derive(Debug)]
pub(crate) struct ObjectDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl ObjectDir {
    pub(crate) fn open(path: PathBuf) -> Result<Self, SnapshotError> {
        let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_err("open", &path)(e.into()))?;
        Ok(Self { fd, path })
    }

    /// Whether the directory open is still the one at its path.
    pub(crate) fn is_current(&self) -> bool {
        match (rustix::fs::fstat(&self.fd), rustix::fs::lstat(&self.path)) {
            (Ok(open), Ok(now)) => open.st_dev == now.st_dev && open.st_ino == now.st_ino && open.st_nlink > 0,
            _ => false,
        }
    }

    /// The absolute path of object `h` (for messages and the rare path-based caller).
    pub(crate) fn path_of(&self, h: &Hash) -> PathBuf {
        self.path.join(ObjectName::of(h).as_str())
    }

    /// The object's `lstat`, `None` when it is absent.
    pub(crate) fn stat(&self, h: &Hash) -> Result<Option<rustix::fs::Stat>, SnapshotError> {
        match rustix::fs::statat(&self.fd, ObjectName::of(h).as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("inspect", &self.path_of(h))(e.into())),
        }
    }

    pub(crate) fn exists(&self, h: &Hash) -> Result<bool, SnapshotError> {
        self.stat(h).map(|st| st.is_some())
    }

    /// Opens object `h` for reading (never through a symlink).
    pub(crate) fn open_read(&self, h: &Hash) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(&self.fd, ObjectName::of(h).as_str(), flags, Mode::empty())?))
    }

    /// A new, empty, read-only file under a temporary name in the shard directory of `h` (made
    /// if missing), so that [`ObjectDir::publish`] is a rename within one directory. The name
    /// starts `.hg-tmp-<pid>-` like every temporary of this crate; gc removes leftovers.
    pub(crate) fn create_tmp(&self, h: &Hash) -> Result<(String, File), SnapshotError> {
        let name = ObjectName::of(h);
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{}/{}{n}", name.shard(), crate::fsutil::tmp_prefix("tmp", std::process::id()));
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o444);
        let opened = match rustix::fs::openat(&self.fd, tmp.as_str(), flags, mode) {
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&self.fd, name.shard(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_err("create directory", &self.path.join(name.shard()))(e.into())),
                }
                rustix::fs::openat(&self.fd, tmp.as_str(), flags, mode)
            }
            other => other,
        };
        let fd = opened.map_err(|e| io_err("create", &self.path.join(&tmp))(e.into()))?;
        Ok((tmp, File::from(fd)))
    }

    /// Moves the finished temporary `tmp` (from [`ObjectDir::create_tmp`]) to the name of `h`
    /// (replacing an identical object written concurrently is harmless); removes it on failure.
    pub(crate) fn publish(&self, tmp: &str, h: &Hash) -> Result<(), SnapshotError> {
        rustix::fs::renameat(&self.fd, tmp, &self.fd, ObjectName::of(h).as_str()).map_err(|e| {
            self.remove_tmp(tmp);
            io_err("store object", &self.path_of(h))(e.into())
        })
    }

    pub(crate) fn remove_tmp(&self, tmp: &str) {
        let _ = rustix::fs::unlinkat(&self.fd, tmp, AtFlags::empty());
    }

    /// The absolute path of a temporary from [`ObjectDir::create_tmp`].
    pub(crate) fn tmp_path(&self, tmp: &str) -> PathBuf {
        self.path.join(tmp)
    }

    /// Hard-links object `h` at `rel` under the directory `dir`.
    pub(crate) fn link_into(&self, h: &Hash, dir: impl AsFd, rel: &Path) -> io::Result<()> {
        Ok(rustix::fs::linkat(&self.fd, ObjectName::of(h).as_str(), dir, rel, AtFlags::empty())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_the_hex_after_two_digits() {
        let h = *blake3::hash(b"x").as_bytes();
        let hex = blake3::Hash::from_bytes(h).to_hex().to_string();
        assert_eq!(ObjectName::of(&h).as_str(), format!("{}/{}", &hex[..2], &hex[2..]));
    }

    #[test]
    fn create_publish_stat_and_link() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).unwrap();
        let od = ObjectDir::open(objects).unwrap();
        let h = *blake3::hash(b"content").as_bytes();
        assert!(!od.exists(&h).unwrap());
        let (tmp, mut f) = od.create_tmp(&h).unwrap();
        std::io::Write::write_all(&mut f, b"content").unwrap();
        drop(f);
        od.publish(&tmp, &h).unwrap();
        assert!(od.exists(&h).unwrap());
        assert_eq!(std::fs::read(od.path_of(&h)).unwrap(), b"content");
        let view = rustix::fs::open(dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        od.link_into(&h, &view, Path::new("linked")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("linked")).unwrap(), b"content");
        let mut s = String::new();
        std::io::Read::read_to_string(&mut od.open_read(&h).unwrap(), &mut s).unwrap();
        assert_eq!(s, "content");
    }
}
