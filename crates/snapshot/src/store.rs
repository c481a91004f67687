//! The content-addressed snapshot store.
//!
//! ```text
//! <store>/                       (<workspace>/.harnessgym/store for the loop)
//!   ID                           random id; manifests name the store they belong to
//!   lock                         shared flock per operation, exclusive for gc
//!   objects/<2 hex>/<62 hex>     file contents by BLAKE3 hash (read-only mode)
//!   refs/<32 hex>                one per snapshot directory: where it is (for gc)
//!   statcache/<32 hex>           per directory: stat identity → hash (see statcache.rs)
//!   journal/                     operations in progress (see journal.rs)
//!   tmp/                         objects being written
//! ```
//!
//! A snapshot is a directory: its files are hard links to objects (a free, browsable view: the
//! space is counted once), its directories and symlinks are real, and its manifest
//! (`.harnessgym/snapshot`) records every entry with mode, mtime and hash. Restores and copies
//! read the manifest and the objects, never the view, and always write new inodes: a workspace or
//! a room never shares an inode with the store.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use camino::Utf8Path;
use rustix::fs::{FileType, Mode, OFlags};

use crate::error::io_err;
use crate::escape::{escape_os, unescape_os};
use crate::fsutil::{Stat, lstat, now_ns, open_nofollow, remove_tree, tmp_path};
use crate::journal::{Intent, Journal, orphans};
use crate::manifest::{META_DIR, Manifest, manifest_path};
use crate::objects::ObjectDir;
use crate::restore::{RestoreArgs, restore_tree};
use crate::statcache::{StatCache, cache_target, write_replace};
use crate::tree::{
    Content, Entry, Hash, Kind, Tree, dir_key, hex, install_dir, materialize, parallel, resolve_copy, resolve_dest,
};
use crate::{CopyPolicy, Purpose, SnapshotError, TreeReport};

/// Files up to this size are read whole before deciding whether their object must be written.
const SMALL_FILE: u64 = 1 << 20;
const BUF: usize = 256 * 1024;

thread_local! {
    /// Each thread's buffer for whole small files and for hashing big ones (allocated once, not
    /// per file).
    static SMALL_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static HASH_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A content-addressed snapshot store. Cheap to open; every operation takes the store's lock
/// in shared mode, garbage collection in exclusive mode.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    id: String,
    reflink: bool,
    /// The open `objects/` directory, reopened by an operation that finds it replaced.
    objects: Arc<RwLock<Arc<ObjectDir>>>,
    /// Opened with [`Store::open_read_only`]: nothing may be created, completed or removed.
    read_only: bool,
}

/// What [`Store::gc`] found and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Snapshots still present (their objects are kept).
    pub snapshots: usize,
    /// Objects kept, and their bytes.
    pub objects_kept: usize,
    pub bytes_kept: u64,
    /// Objects no snapshot references, and their bytes: removed (or, with `dry_run`, removable).
    pub objects_removed: usize,
    pub bytes_removed: u64,
    /// References to snapshots that are gone.
    pub refs_removed: usize,
    /// Leftovers of interrupted operations (temporary objects, stale caches).
    pub leftovers_removed: usize,
    pub dry_run: bool,
}

/// What [`Store::recover`] completed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Restores finished on behalf of a killed process.
    pub restores_completed: usize,
    /// Interrupted captures or copies cleaned up (the old tree kept or the new one finished).
    pub installs_completed: usize,
    /// Journals that could not be completed (unreadable, or their snapshot is gone), removed.
    pub abandoned: Vec<String>,
}

/// What a snapshot directory holds besides its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotView {
    /// The captured tree as hard links to the objects (browsable; `du` counts them once).
    Browsable,
    /// Only the manifest (`.harnessgym/snapshot`) and a marker saying so.
    ManifestOnly,
}

/// Marker file beside the manifest of a [`SnapshotView::ManifestOnly`] snapshot.
const NO_VIEW_MARKER: &str = "manifest-only";

impl SnapshotView {
    fn of(snapshot: &Path) -> Self {
        if snapshot.join(META_DIR).join(NO_VIEW_MARKER).exists() { Self::ManifestOnly } else { Self::Browsable }
    }
}

/// A held lock on the store (none for a read-only store without a lock file).
struct StoreLock {
    _file: Option<File>,
}

impl Store {
    /// Opens the store at `root`, creating it if needed, and completes the operations that a
    /// killed process left journaled (see [`Store::recover`]).
    pub fn open(root: &Utf8Path) -> Result<Self, SnapshotError> {
        let root = root.as_std_path();
        for sub in ["objects", "refs", "statcache", "journal", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        let root = fs::canonicalize(root).map_err(io_err("resolve", root))?;
        let lock_path = root.join("lock");
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("create", &lock_path))?;
        let id_path = root.join("ID");
        let id = match fs::read_to_string(&id_path) {
            Ok(id) => id.trim().to_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let seed = format!("{}:{}:{}", root.display(), std::process::id(), now_ns());
                let id = blake3::hash(seed.as_bytes()).to_hex()[..32].to_owned();
                match OpenOptions::new().write(true).create_new(true).open(&id_path) {
                    Ok(mut f) => {
                        f.write_all(format!("{id}\n").as_bytes()).map_err(io_err("write", &id_path))?;
                        id
                    }
                    // Another process created it first.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        fs::read_to_string(&id_path).map_err(io_err("read", &id_path))?.trim().to_owned()
                    }
                    Err(e) => return Err(io_err("create", &id_path)(e)),
                }
            }
            Err(e) => return Err(io_err("read", &id_path)(e)),
        };
        let reflink = reflink_of(&root);
        let objects = Arc::new(RwLock::new(Arc::new(ObjectDir::open(root.join("objects"))?)));
        let store = Self { root, id, reflink, objects, read_only: false };
        let recovered = store.recover()?;
        if recovered != RecoveryReport::default() {
            tracing::warn!(?recovered, store = %store.root.display(), "completed interrupted snapshot operations");
        }
        Ok(store)
    }

    /// Opens an existing store for reading only — what [`Store::gc`] needs for a dry run, also on
    /// a read-only file system: nothing is created or completed (no directories, no lock file, no
    /// `ID`, no reflink probe, no recovery of journaled operations). Missing `refs/`, `tmp/`,
    /// `statcache/` read as empty; `objects/` must exist.
    pub fn open_read_only(root: &Utf8Path) -> Result<Self, SnapshotError> {
        let root = fs::canonicalize(root.as_std_path()).map_err(io_err("resolve", root.as_std_path()))?;
        let id_path = root.join("ID");
        let id = match fs::read_to_string(&id_path) {
            Ok(id) => id.trim().to_owned(),
            // A store that never recorded its ID holds no snapshot of its own.
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("read", &id_path)(e)),
        };
        let objects = Arc::new(RwLock::new(Arc::new(ObjectDir::open(root.join("objects"))?)));
        Ok(Self { root, id, reflink: false, objects, read_only: true })
    }

    /// The store of a workspace: `<workspace>/.harnessgym/store`.
    pub fn for_workspace(workspace: &Utf8Path) -> Result<Self, SnapshotError> {
        Self::open(&workspace.join(".harnessgym/store"))
    }

    /// The store directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether copies use reflinks (copy-on-write clones): probed when the store is opened.
    pub fn reflink_supported(&self) -> bool {
        self.reflink
    }

    /// Whether `path` is a store snapshot (a directory with a manifest).
    pub fn is_snapshot(path: &Path) -> bool {
        manifest_path(path).is_file()
    }

    /// The store holding snapshot `snapshot`, when it is a store snapshot.
    pub(crate) fn of_snapshot(snapshot: &Path) -> Result<Option<Self>, SnapshotError> {
        if !Self::is_snapshot(snapshot) {
            return Ok(None);
        }
        let manifest = read_manifest(snapshot)?;
        Self::locate(snapshot, &manifest).map(Some)
    }

    fn locate(snapshot: &Path, m: &Manifest) -> Result<Self, SnapshotError> {
        let mut candidates = Vec::new();
        if let Some(rel) = &m.store_rel {
            candidates.push(snapshot.join(rel));
        }
        candidates.push(m.store_abs.clone());
        for c in candidates {
            let id = fs::read_to_string(c.join("ID")).ok();
            if id.as_deref().map(str::trim) == Some(m.store_id.as_str())
                && let Some(utf8) = Utf8Path::from_path(&c)
            {
                return Self::open(utf8);
            }
        }
        Err(SnapshotError::StoreMissing { snapshot: snapshot.to_path_buf(), store: m.store_abs.clone() })
    }

    fn lock(&self, exclusive: bool) -> Result<StoreLock, SnapshotError> {
        let path = self.root.join("lock");
        let file = if self.read_only {
            match File::open(&path) {
                Ok(file) => file,
                // No lock file: no process ever operated on this store since it was copied here.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.refresh_objects()?;
                    return Ok(StoreLock { _file: None });
                }
                Err(e) => return Err(io_err("open", &path)(e)),
            }
        } else {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err("open", &path))?
        };
        if exclusive {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(SnapshotError::StoreBusy { store: self.root.clone() }),
                Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
            }
        } else {
            file.lock_shared().map_err(io_err("lock", &path))?;
        }
        // Every operation starts here: the moment to notice a replaced `objects/`.
        self.refresh_objects()?;
        Ok(StoreLock { _file: Some(file) })
    }

    pub(crate) fn object_path(&self, h: &Hash) -> PathBuf {
        self.objects().path_of(h)
    }

    /// The store's `objects/` directory, for descriptor-relative access.
    pub(crate) fn objects(&self) -> Arc<ObjectDir> {
        Arc::clone(&self.objects.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Reopens `objects/` when the directory open is no longer the one at its path (someone
    /// deleted or replaced it since this store was opened); done when an operation takes the lock.
    fn refresh_objects(&self) -> Result<(), SnapshotError> {
        let current = self.objects();
        if current.is_current() {
            return Ok(());
        }
        let path = self.root.join("objects");
        if !self.read_only {
            fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        let fresh = Arc::new(ObjectDir::open(path)?);
        *self.objects.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn statcache_dir(&self) -> PathBuf {
        self.root.join("statcache")
    }

    fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// Reads `src` (a regular file), stores its content as an object if the store lacks it, and
    /// returns the hash, the size read and the file's stat — `None` when the file changed while
    /// it was read (the content stored is what was read; it is just not cached).
    ///
    /// The hash is computed before anything is written, so content the store already holds
    /// (a duplicate, or a file seen before under another stat) costs no write at all.
    pub(crate) fn ingest(&self, src: &Path) -> Result<(Hash, u64, Option<Stat>), SnapshotError> {
        let mut file = open_nofollow(src)?;
        let before = Stat::of(&file.metadata().map_err(io_err("inspect", src))?);
        if before.size <= SMALL_FILE {
            return SMALL_BUF.with_borrow_mut(|buf| self.ingest_small(&mut file, src, before, buf));
        }
        let (hash, size) = hash_reader(&mut file, src)?;
        let objects = self.objects();
        if !objects.exists(&hash)? {
            file.seek(io::SeekFrom::Start(0)).map_err(io_err("read", src))?;
            let (tmp, mut out) = objects.create_tmp(&hash)?;
            let copied = if self.reflink && rustix::fs::ioctl_ficlone(&out, &file).is_ok() {
                Ok(())
            } else {
                io::copy(&mut file, &mut out).map(drop).map_err(io_err("copy into", &objects.tmp_path(&tmp)))
            };
            drop(out);
            if let Err(e) = copied {
                objects.remove_tmp(&tmp);
                return Err(e);
            }
            let now = Stat::of(&file.metadata().map_err(io_err("inspect", src))?);
            if now != before {
                // Changed between hashing and copying: keep the copy, under its own hash.
                let tmp_abs = objects.tmp_path(&tmp);
                let (hash2, size2) = hash_reader(&mut open_nofollow(&tmp_abs)?, &tmp_abs)?;
                objects.publish(&tmp, &hash2)?;
                return Ok((hash2, size2, None));
            }
            objects.publish(&tmp, &hash)?;
        }
        let after = Stat::of(&file.metadata().map_err(io_err("inspect", src))?);
        Ok((hash, size, (after == before && after.size == size).then_some(after)))
    }

    /// [`Store::ingest`] of a file of at most [`SMALL_FILE`] bytes (by `before`), read whole into
    /// `buf` (reused by the thread): open, read, hash, one `statat` of the object, and a write
    /// only when the object is new.
    fn ingest_small(
        &self,
        file: &mut File,
        src: &Path,
        before: Stat,
        buf: &mut Vec<u8>,
    ) -> Result<(Hash, u64, Option<Stat>), SnapshotError> {
        // One byte more than expected: a read that fills less than the buffer ended at the end
        // of the file (regular files only read short there), so no second read to see EOF. A
        // file that grew or shrank meanwhile shows in the stat taken after.
        let want = usize::try_from(before.size).unwrap_or(0) + 1;
        buf.clear();
        buf.resize(want, 0);
        let mut len = 0;
        loop {
            if len == buf.len() {
                buf.resize(len * 2, 0);
            }
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    if len < want && len as u64 == before.size {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read", src)(e)),
            }
        }
        let data = &buf[..len];
        let hash = *blake3::hash(data).as_bytes();
        let objects = self.objects();
        if !objects.exists(&hash)? {
            let (tmp, mut out) = objects.create_tmp(&hash)?;
            let written = out.write_all(data).map_err(io_err("write", &objects.tmp_path(&tmp)));
            drop(out);
            match written {
                Ok(()) => objects.publish(&tmp, &hash)?,
                Err(e) => {
                    objects.remove_tmp(&tmp);
                    return Err(e);
                }
            }
        }
        let after = Stat::of(&file.metadata().map_err(io_err("inspect", src))?);
        Ok((hash, len as u64, (after == before && after.size == len as u64).then_some(after)))
    }

    /// Captures `src` under `policy` as the snapshot directory `snapshot` (replaced if present):
    /// unchanged files (same `lstat` as last seen) are not read, new contents become objects,
    /// the snapshot's files are hard links to them. The new snapshot is built beside the old one
    /// and swapped in atomically, so a kill leaves the old snapshot or the new one.
    pub fn capture(
        &self,
        src: &Utf8Path,
        snapshot: &Utf8Path,
        policy: &CopyPolicy,
    ) -> Result<TreeReport, SnapshotError> {
        self.capture_as(src, snapshot, policy, SnapshotView::Browsable)
    }

    /// [`Store::capture`] with the choice of view: an internal snapshot nobody browses (the
    /// task-state snapshot, the qualification template) skips the 1 hard link per file and 1
    /// directory per directory of a browsable one; restores and copies read only the manifest
    /// and the objects either way.
    pub fn capture_as(
        &self,
        src: &Utf8Path,
        snapshot: &Utf8Path,
        policy: &CopyPolicy,
        view: SnapshotView,
    ) -> Result<TreeReport, SnapshotError> {
        let started = std::time::Instant::now();
        let _lock = self.lock(false)?;
        let (src_c, src_meta, dest_c) = resolve_copy(src, snapshot)?;
        // The snapshot's staging directory is made after the scan, so only these can be in it.
        let skip = vec![dest_c.clone(), self.root.clone()];
        let (mut tree, stats) = Tree::scan(&src_c, &src_meta, policy, &skip)?;
        let scanned = started.elapsed();
        let mut cache = StatCache::load(&self.statcache_dir(), &src_c);

        // Contents: from the stat cache when trusted, else read (and stored when new).
        let jobs: Vec<(usize, Stat)> = stats.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i, s))).collect();
        let hashed = parallel(
            &jobs,
            |_| None,
            |&(i, stat)| {
                let e = &tree.entries[i];
                if let Some(h) = cache.lookup(&e.path, &stat) {
                    return Ok((h, stat.size, None, true));
                }
                let abs = src_c.join(&e.rel);
                let (h, size, seen) = self.ingest(&abs)?;
                Ok((h, size, seen, false))
            },
        )?;
        // Objects this capture stored or found itself need no second look when it is installed.
        let mut verified = vec![false; tree.entries.len()];
        for (&(i, _), (hash, read_size, seen, hit)) in jobs.iter().zip(hashed) {
            verified[i] = !hit;
            let e = &mut tree.entries[i];
            if hit {
                cache.keep(&e.path);
            } else if let Some(stat) = seen {
                cache.record(e.path.clone(), stat, hash);
            } else {
                cache.forget(&e.path);
            }
            if let Kind::File { content, size, .. } = &mut e.kind {
                *content = Content::Object(hash);
                *size = read_size;
            }
        }

        let contents = started.elapsed();
        let known = Known { objects: &verified, report: None };
        let report = self.install(&tree, known, &src_c, &dest_c, policy.purpose(), view)?;
        let installed = started.elapsed();
        cache.save();
        tracing::debug!(?scanned, ?contents, ?installed, "capture phases");
        tracing::info!(
            src = %src,
            snapshot = %snapshot,
            purpose = ?policy.purpose(),
            files = report.file_count,
            bytes = report.bytes,
            digest = report.digest.as_deref().unwrap_or(""),
            elapsed_ms = started.elapsed().as_millis(),
            "captured snapshot"
        );
        Ok(report)
    }

    /// A new snapshot at `snapshot` of the part of snapshot `from` (of this store) that `policy`
    /// keeps: the tree `from` recorded, filtered, without reading the tree it came from. Used for
    /// the qualification template at run start, which is the task-state snapshot taken a moment
    /// before under the narrower copy policy.
    pub fn derive(
        &self,
        from: &Utf8Path,
        snapshot: &Utf8Path,
        policy: &CopyPolicy,
        view: SnapshotView,
    ) -> Result<TreeReport, SnapshotError> {
        let started = std::time::Instant::now();
        let _lock = self.lock(false)?;
        let (from_c, manifest) = Self::open_snapshot(from)?;
        if manifest.store_id != self.id {
            return Err(SnapshotError::SnapshotMissing { path: from.to_owned() });
        }
        let dest_c = resolve_dest(from, snapshot)?;
        let tree = filter_tree(&manifest.tree, policy);
        // The objects of `from` are present: a live snapshot's objects are never collected (gc
        // keeps every object a snapshot references and needs the store to itself), and the
        // fallback of a capture (reading the file again) has nothing to read here anyway.
        let verified = vec![true; tree.entries.len()];
        // Nothing filtered out (the usual case): the source's report is this tree's report.
        let source_report = (tree.entries.len() == manifest.tree.entries.len()).then_some(&manifest.report);
        let known = Known { objects: &verified, report: source_report };
        let report = self.install(&tree, known, &from_c, &dest_c, policy.purpose(), view)?;
        tracing::info!(
            from = %from,
            snapshot = %snapshot,
            files = report.file_count,
            elapsed_ms = started.elapsed().as_millis(),
            "derived snapshot"
        );
        Ok(report)
    }

    /// Gives the store snapshot `snapshot` its browsable view (hard links to its objects) when it
    /// has only its manifest: a capture that had to be quick ([`SnapshotView::ManifestOnly`]) gets
    /// its view later, e.g. on another thread while the caller goes on. The view is built beside
    /// the snapshot and swapped in atomically (journaled), so readers of the snapshot — restores
    /// and copies read only its manifest and the objects — are never disturbed.
    pub fn add_view(&self, snapshot: &Utf8Path) -> Result<TreeReport, SnapshotError> {
        let started = std::time::Instant::now();
        let _lock = self.lock(false)?;
        let (snap_c, manifest) = Self::open_snapshot(snapshot)?;
        if manifest.store_id != self.id {
            return Err(SnapshotError::SnapshotMissing { path: snapshot.to_owned() });
        }
        if SnapshotView::of(&snap_c) == SnapshotView::Browsable {
            return Ok(manifest.report.clone());
        }
        // A snapshot's objects stay while it exists (see `derive`).
        let verified = vec![true; manifest.tree.entries.len()];
        let report = self.install(
            &manifest.tree,
            Known { objects: &verified, report: Some(&manifest.report) },
            &snap_c,
            &snap_c,
            manifest.purpose,
            SnapshotView::Browsable,
        )?;
        tracing::info!(snapshot = %snapshot, elapsed_ms = started.elapsed().as_millis(), "added a browsable view");
        Ok(report)
    }

    /// Puts `tree` (contents already objects) at `dest_c` as a snapshot, unless the snapshot
    /// there is exactly it: built beside the old one and swapped in atomically (journaled).
    /// `src_c` is where a file whose object has gone missing is read again.
    fn install(
        &self,
        tree: &Tree,
        known: Known<'_>,
        src_c: &Path,
        dest_c: &Path,
        purpose: Purpose,
        view: SnapshotView,
    ) -> Result<TreeReport, SnapshotError> {
        // Nothing changed since the snapshot already there was taken: keep it as it is.
        if let Some(existing) = self.unchanged_snapshot(dest_c, tree, purpose, view) {
            self.write_ref(dest_c)?;
            tracing::debug!(snapshot = %dest_c.display(), "snapshot unchanged");
            return Ok(existing.report.clone());
        }
        let parent = dest_c.parent().unwrap_or(Path::new("/")).to_path_buf();
        let staging = tmp_path(&parent, "partial");
        let old = tmp_path(&parent, "old");
        let journal = Journal::begin(
            &self.journal_dir(),
            &Intent::Install { staging: staging.clone(), dest: dest_c.to_path_buf(), old: old.clone() },
        )?;
        fs::create_dir(&staging).map_err(io_err("create directory", &staging))?;
        let built = self.build_view(tree, known, src_c, &staging, purpose, dest_c, view);
        let (report, manifest) = match built {
            Ok(built) => built,
            Err(e) => {
                let _ = remove_tree(&staging);
                return Err(e);
            }
        };
        self.write_ref(dest_c)?;
        install_dir(&staging, dest_c, &old)?;
        journal.finish()?;
        let manifest_file = manifest_path(dest_c);
        if let Some(key) = FileKey::of(&manifest_file) {
            remember_manifest(manifest_file, key, &manifest);
        }
        Ok(report)
    }

    /// The snapshot at `dest` when it is exactly `tree` (same entries, modes, mtimes and contents,
    /// same purpose, this store, every object present).
    fn unchanged_snapshot(
        &self,
        dest: &Path,
        tree: &Tree,
        purpose: Purpose,
        view: SnapshotView,
    ) -> Option<Arc<Manifest>> {
        // A browsable snapshot also serves where only a manifest is asked for.
        if !Self::is_snapshot(dest) || (SnapshotView::of(dest) != view && view == SnapshotView::Browsable) {
            return None;
        }
        let m = read_manifest(dest).ok()?;
        let same = m.store_id == self.id
            && m.purpose == purpose
            && m.tree.root_mode == tree.root_mode
            && m.tree.entries == tree.entries
            && {
                let objects = self.objects();
                m.objects().all(|h| {
                    objects.stat(h).ok().flatten().is_some_and(|st| FileType::from_raw_mode(st.st_mode).is_file())
                })
            };
        same.then_some(m)
    }

    /// Fills `staging` with the view of `tree` (hard links to objects) and its manifest.
    #[allow(clippy::too_many_arguments)]
    fn build_view(
        &self,
        tree: &Tree,
        known: Known<'_>,
        src: &Path,
        staging: &Path,
        purpose: Purpose,
        final_path: &Path,
        view: SnapshotView,
    ) -> Result<(TreeReport, Arc<Manifest>), SnapshotError> {
        let mut tree = tree.clone();
        let mut files = Vec::new();
        // Entries are made relative to the staging directory's descriptor (a short lookup each).
        let staging_fd = rustix::fs::open(staging, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_err("open", staging)(e.into()))?;
        for (i, e) in tree.entries.iter().enumerate() {
            match &e.kind {
                Kind::Dir if view == SnapshotView::Browsable => {
                    rustix::fs::mkdirat(&staging_fd, &e.rel, Mode::from_raw_mode(0o777))
                        .map_err(|err| io_err("create directory", &staging.join(&e.rel))(err.into()))?;
                }
                Kind::Symlink(target) if view == SnapshotView::Browsable => {
                    rustix::fs::symlinkat(target, &staging_fd, &e.rel)
                        .map_err(|err| io_err("create symlink", &staging.join(&e.rel))(err.into()))?;
                }
                Kind::File { .. } => files.push(i),
                Kind::Dir | Kind::Symlink(_) => {}
            }
        }
        // Each file's object is linked into the view, or (manifest only) checked to exist —
        // unless this operation has just stored or found it (`verified`).
        let objects = self.objects();
        let place = |h: &Hash, rel: &Path, known: bool| match view {
            SnapshotView::Browsable => self.link_object(h, &staging_fd, rel, staging),
            SnapshotView::ManifestOnly if known => Ok(()),
            SnapshotView::ManifestOnly => match objects.exists(h) {
                Ok(true) => Ok(()),
                Ok(false) => Err(LinkError::Missing),
                Err(e) => Err(LinkError::Io(e)),
            },
        };
        let fixes = parallel(
            &files,
            |&i| dir_key(&tree, i),
            |&i| {
                let e = &tree.entries[i];
                let Kind::File { content: Content::Object(h), .. } = &e.kind else {
                    return Ok(None);
                };
                match place(h, &e.rel, known.objects.get(i).copied().unwrap_or(false)) {
                    Ok(()) => Ok(None),
                    Err(LinkError::Missing) => {
                        // The cache knew the file but its object is gone (collected): read it again.
                        let (h2, size, _) = self.ingest(&src.join(&e.rel))?;
                        match place(&h2, &e.rel, true) {
                            Ok(()) => Ok(Some((i, h2, size))),
                            Err(LinkError::Missing) => {
                                Err(SnapshotError::ObjectMissing { object: hex(&h2), store: self.root.clone() })
                            }
                            Err(LinkError::Io(e)) => Err(e),
                        }
                    }
                    Err(LinkError::Io(e)) => Err(e),
                }
            },
        )?;
        let mut fixed = false;
        for (i, h, new_size) in fixes.into_iter().flatten() {
            fixed = true;
            if let Kind::File { content, size, .. } = &mut tree.entries[i].kind {
                *content = Content::Object(h);
                *size = new_size;
            }
        }
        let report = match known.report {
            Some(report) if !fixed => report.clone(),
            _ => tree.report(),
        };
        let manifest = Manifest {
            store_id: self.id.clone(),
            store_rel: relative_path(final_path, &self.root),
            store_abs: self.root.clone(),
            purpose,
            tree,
            report: report.clone(),
        };
        let meta = staging.join(META_DIR);
        fs::create_dir(&meta).map_err(io_err("create directory", &meta))?;
        if view == SnapshotView::ManifestOnly {
            let marker = meta.join(NO_VIEW_MARKER);
            fs::write(&marker, b"the files of this snapshot are in the manifest and the store only\n")
                .map_err(io_err("write", &marker))?;
        }
        let path = meta.join(crate::manifest::MANIFEST);
        let mut f = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err("create", &path))?;
        f.write_all(manifest.to_text().as_bytes()).map_err(io_err("write", &path))?;
        Ok((report, Arc::new(manifest)))
    }

    /// Hard-links object `h` at `rel` under the directory `dir` (at `dir_path`); falls back to a
    /// copy when the object has too many links.
    fn link_object(&self, h: &Hash, dir: &OwnedFd, rel: &Path, dir_path: &Path) -> Result<(), LinkError> {
        match self.objects().link_into(h, dir, rel) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LinkError::Missing),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MLINK.raw_os_error()) => {
                let path = dir_path.join(rel);
                let out = crate::fsutil::create_new(&path).map_err(LinkError::Io)?;
                crate::tree::fill_file(&Content::Object(*h), Some(self), &out, &path).map_err(LinkError::Io)
            }
            Err(e) => Err(LinkError::Io(io_err("link", &dir_path.join(rel))(e))),
        }
    }

    fn ref_path(&self, snapshot: &Path) -> PathBuf {
        let key = blake3::hash(snapshot.as_os_str().as_bytes());
        self.root.join("refs").join(&key.to_hex()[..32])
    }

    /// Records where snapshot `snapshot` lives (relative to the store's parent when inside it,
    /// so a moved workspace keeps its references).
    fn write_ref(&self, snapshot: &Path) -> Result<(), SnapshotError> {
        let path = self.ref_path(snapshot);
        let rel = relative_path(&self.root, snapshot).map(|r| escape_os(r.as_os_str())).unwrap_or_default();
        let text = format!("{rel}\n{}\n", escape_os(snapshot.as_os_str()));
        write_replace(&path, text.as_bytes()).map_err(io_err("write", &path))
    }

    /// The canonical path of a snapshot of this store and its manifest.
    fn open_snapshot(snapshot: &Utf8Path) -> Result<(PathBuf, Arc<Manifest>), SnapshotError> {
        let snap_c = fs::canonicalize(snapshot)
            .ok()
            .filter(|p| Self::is_snapshot(p))
            .ok_or_else(|| SnapshotError::SnapshotMissing { path: snapshot.to_owned() })?;
        let manifest = read_manifest(&snap_c)?;
        Ok((snap_c, manifest))
    }

    /// Makes `target` equal to the snapshot `snapshot` for every path `policy` does not exclude
    /// (see [`crate::restore()`] for the rules). Only files whose content differs are rewritten:
    /// a file whose `lstat` matches what the store last saw there is not read. The restore is
    /// journaled: if the process dies, the next [`Store::open`] finishes it.
    pub fn restore(
        &self,
        snapshot: &Utf8Path,
        target: &Utf8Path,
        policy: &CopyPolicy,
    ) -> Result<TreeReport, SnapshotError> {
        let started = std::time::Instant::now();
        let _lock = self.lock(false)?;
        let (snap_c, manifest) = Self::open_snapshot(snapshot)?;
        match fs::metadata(target) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(SnapshotError::NotADirectory { path: target.to_owned() }),
            Err(_) => fs::create_dir_all(target).map_err(io_err("create directory", target.as_std_path()))?,
        }
        let target_c = fs::canonicalize(target).map_err(io_err("resolve", target.as_std_path()))?;
        if target_c.starts_with(&snap_c) {
            return Err(SnapshotError::Overlap {
                src: snapshot.to_owned(),
                dest: target.to_owned(),
                reason: "the workspace is inside (or is) the snapshot",
            });
        }
        let journal = Journal::begin(
            &self.journal_dir(),
            &Intent::Restore {
                snapshot: snap_c.clone(),
                target: target_c.clone(),
                purpose: policy.purpose(),
                ignore: policy.ignore_text().map(str::to_owned),
                pid: std::process::id(),
            },
        )?;
        let report = self.restore_inner(&snap_c, &manifest, &target_c, policy, Vec::new())?;
        journal.finish()?;
        tracing::info!(
            snapshot = %snapshot,
            target = %target,
            purpose = ?policy.purpose(),
            files = report.file_count,
            elapsed_ms = started.elapsed().as_millis(),
            "restored snapshot"
        );
        Ok(report)
    }

    fn restore_inner(
        &self,
        snap_c: &Path,
        manifest: &Manifest,
        target_c: &Path,
        policy: &CopyPolicy,
        stale_tmp: Vec<String>,
    ) -> Result<TreeReport, SnapshotError> {
        let mut cache = StatCache::load(&self.statcache_dir(), target_c);
        let report = restore_tree(RestoreArgs {
            tree: &manifest.tree,
            target: target_c,
            policy,
            skip: vec![snap_c.to_path_buf(), self.root.clone()],
            store: Some(self),
            cache: Some(&mut cache),
            stale_tmp,
        })?;
        cache.save();
        Ok(report)
    }

    /// Copies snapshot `snapshot` to `dest` (replaced if present) as real files — new inodes,
    /// reflinked where the filesystem allows — under `policy`. For qualification rooms and
    /// compare trials. Built beside `dest` and swapped in atomically.
    pub fn copy_out(
        &self,
        snapshot: &Utf8Path,
        dest: &Utf8Path,
        policy: &CopyPolicy,
    ) -> Result<TreeReport, SnapshotError> {
        let started = std::time::Instant::now();
        let _lock = self.lock(false)?;
        let (snap_c, manifest) = Self::open_snapshot(snapshot)?;
        let dest_c = resolve_dest(snapshot, dest)?;
        if snap_c.starts_with(&dest_c) || dest_c.starts_with(&snap_c) {
            return Err(SnapshotError::Overlap {
                src: snapshot.to_owned(),
                dest: dest.to_owned(),
                reason: "the snapshot and the destination contain each other",
            });
        }
        let tree = filter_tree(&manifest.tree, policy);
        let parent = dest_c.parent().unwrap_or(Path::new("/")).to_path_buf();
        let staging = tmp_path(&parent, "partial");
        let old = tmp_path(&parent, "old");
        let journal = Journal::begin(
            &self.journal_dir(),
            &Intent::Install { staging: staging.clone(), dest: dest_c.clone(), old: old.clone() },
        )?;
        fs::create_dir(&staging).map_err(io_err("create directory", &staging))?;
        let written = match materialize(&tree, &staging, Some(self)) {
            Ok(w) => w,
            Err(e) => {
                let _ = remove_tree(&staging);
                return Err(e);
            }
        };
        install_dir(&staging, &dest_c, &old)?;
        journal.finish()?;
        // Renaming the directory leaves its files' inodes and ctimes as they were.
        let mut cache = StatCache::load(&self.statcache_dir(), &dest_c);
        for w in written {
            let e = &tree.entries[w.index];
            if let Kind::File { content: Content::Object(h), .. } = &e.kind {
                cache.record(e.path.clone(), w.stat, *h);
            }
        }
        cache.save();
        // Nothing filtered out (the usual case): the snapshot's report is the copy's.
        let report =
            if tree.entries.len() == manifest.tree.entries.len() { manifest.report.clone() } else { tree.report() };
        tracing::info!(
            snapshot = %snapshot,
            dest = %dest,
            files = report.file_count,
            elapsed_ms = started.elapsed().as_millis(),
            "copied snapshot out"
        );
        Ok(report)
    }

    /// Completes the operations journaled by processes that died: an interrupted restore is
    /// run again to the end (restores are idempotent), an interrupted capture or copy keeps the
    /// old tree (or the new one, if it was already swapped in) and loses its leftovers.
    pub fn recover(&self) -> Result<RecoveryReport, SnapshotError> {
        let mut report = RecoveryReport::default();
        for orphan in orphans(&self.journal_dir())? {
            match &orphan.intent {
                Some(Intent::Install { staging, dest, old }) => {
                    if lstat(dest)?.is_none() && lstat(old)?.is_some() {
                        fs::rename(old, dest).map_err(io_err("put back", dest))?;
                    }
                    remove_tree(staging)?;
                    remove_tree(old)?;
                    report.installs_completed += 1;
                }
                Some(Intent::Restore { snapshot, target, purpose, ignore, pid }) => {
                    let stale =
                        vec![crate::fsutil::tmp_prefix("tmp", *pid), crate::fsutil::tmp_prefix("partial", *pid)];
                    let done = (|| {
                        if !Self::is_snapshot(snapshot) {
                            return Err(SnapshotError::SnapshotMissing {
                                path: camino::Utf8PathBuf::from(snapshot.to_string_lossy().into_owned()),
                            });
                        }
                        let manifest = read_manifest(snapshot)?;
                        let policy = CopyPolicy::from_text(target, *purpose, ignore.clone())?;
                        fs::create_dir_all(target).map_err(io_err("create directory", target))?;
                        self.restore_inner(snapshot, &manifest, target, &policy, stale)
                    })();
                    match done {
                        Ok(_) => report.restores_completed += 1,
                        Err(e) => {
                            tracing::warn!(error = %e, target = %target.display(), "could not finish an interrupted restore");
                            report.abandoned.push(format!("restore of {}: {e}", target.display()));
                        }
                    }
                }
                None => report.abandoned.push(format!("unreadable journal {}", orphan.path.display())),
            }
            orphan.finish()?;
        }
        Ok(report)
    }

    /// Removes the objects no snapshot references (and references to snapshots that are gone,
    /// and leftovers of interrupted operations). Fails with [`SnapshotError::StoreBusy`] while
    /// another operation holds the store. With `dry_run`, only reports: nothing is written, not
    /// even the completion of journaled operations (a real gc completes them first). A store
    /// opened with [`Store::open_read_only`] only allows a dry run.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, SnapshotError> {
        if self.read_only && !dry_run {
            return Err(SnapshotError::ReadOnly { store: self.root.clone() });
        }
        let _lock = self.lock(true)?;
        if !dry_run {
            self.recover()?;
        }
        let mut report = GcReport { dry_run, ..GcReport::default() };
        let mut live: HashSet<Hash> = HashSet::new();
        let refs_dir = self.root.join("refs");
        for ref_path in entries_or_none(&refs_dir)? {
            match self.resolve_ref(&ref_path)? {
                Some(manifest) => {
                    report.snapshots += 1;
                    live.extend(manifest.objects().copied());
                }
                None => {
                    report.refs_removed += 1;
                    if !dry_run {
                        fs::remove_file(&ref_path).map_err(io_err("remove", &ref_path))?;
                    }
                }
            }
        }
        let objects = self.root.join("objects");
        for shard in fs::read_dir(&objects).map_err(io_err("read directory", &objects))? {
            let shard = shard.map_err(io_err("read directory", &objects))?.path();
            let Some(prefix) = shard.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
            let Ok(items) = fs::read_dir(&shard) else { continue };
            for item in items {
                let item = item.map_err(io_err("read directory", &shard))?;
                let name = item.file_name();
                let hash = name
                    .to_str()
                    .and_then(|rest| blake3::Hash::from_hex(format!("{prefix}{rest}")).ok())
                    .map(|h| *h.as_bytes());
                let size = item.metadata().map(|m| m.len()).unwrap_or(0);
                if hash.is_some_and(|h| live.contains(&h)) {
                    report.objects_kept += 1;
                    report.bytes_kept += size;
                } else {
                    report.objects_removed += 1;
                    report.bytes_removed += size;
                    if !dry_run {
                        let p = item.path();
                        fs::remove_file(&p).map_err(io_err("remove", &p))?;
                    }
                }
            }
        }
        let tmp = self.root.join("tmp");
        for p in entries_or_none(&tmp)? {
            report.leftovers_removed += 1;
            if !dry_run {
                remove_tree(&p)?;
            }
        }
        let caches = self.statcache_dir();
        for p in entries_or_none(&caches)? {
            if cache_target(&p).is_none_or(|t| !t.is_dir()) {
                report.leftovers_removed += 1;
                if !dry_run {
                    fs::remove_file(&p).map_err(io_err("remove", &p))?;
                }
            }
        }
        tracing::info!(?report, store = %self.root.display(), "garbage collected the snapshot store");
        Ok(report)
    }

    /// The manifest of the snapshot a reference names, when it still exists in this store.
    fn resolve_ref(&self, ref_path: &Path) -> Result<Option<Arc<Manifest>>, SnapshotError> {
        let Ok(text) = fs::read_to_string(ref_path) else { return Ok(None) };
        let mut lines = text.lines();
        let rel = lines.next().unwrap_or("");
        let abs = lines.next().unwrap_or("");
        let mut candidates = Vec::new();
        if !rel.is_empty()
            && let Some(r) = unescape_os(rel)
        {
            candidates.push(self.root.join(r));
        }
        if let Some(a) = unescape_os(abs) {
            candidates.push(PathBuf::from(a));
        }
        for c in candidates {
            if !Self::is_snapshot(&c) {
                continue;
            }
            // A manifest that exists but cannot be read stops gc: its objects may be needed.
            let m = read_manifest(&c)?;
            if m.store_id == self.id {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }
}

/// What the caller of [`Store::install`] already knows about the tree.
#[derive(Clone, Copy)]
struct Known<'a> {
    /// `objects[i]`: entry `i`'s object is present (just stored, or kept by a live snapshot).
    objects: &'a [bool],
    /// The tree's report, when it has it.
    report: Option<&'a TreeReport>,
}

enum LinkError {
    Missing,
    Io(SnapshotError),
}

/// Identity of a file's current version: a manifest is never changed in place (a new capture
/// writes a new file and swaps directories), so an equal identity means equal content.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileKey(Stat);

impl FileKey {
    pub(crate) fn of(path: &Path) -> Option<Self> {
        fs::symlink_metadata(path).ok().map(|m| Self(Stat::of(&m)))
    }
}

/// Manifests parsed in this process (a run restores the same snapshots again and again).
static MANIFESTS: Mutex<Vec<(PathBuf, FileKey, Arc<Manifest>)>> = Mutex::new(Vec::new());
const MANIFESTS_KEPT: usize = 8;

/// The manifest of snapshot directory `snapshot`.
/// The contents of the regular file `rel` of store snapshot `snapshot`, from its object (so it
/// works for snapshots without a view); `None` when the snapshot has no such file.
pub(crate) fn snapshot_file(snapshot: &Path, rel: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
    let Some(store) = Store::of_snapshot(snapshot)? else {
        return Ok(None);
    };
    let manifest = read_manifest(snapshot)?;
    let found = manifest.tree.entries.iter().find(|e| e.rel == Path::new(rel));
    let Some(Kind::File { content: Content::Object(h), .. }) = found.map(|e| &e.kind) else {
        return Ok(None);
    };
    let mut data = Vec::new();
    store
        .objects()
        .open_read(h)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io_err("read", &store.object_path(h)))?;
    Ok(Some(data))
}

pub(crate) fn read_manifest(snapshot: &Path) -> Result<Arc<Manifest>, SnapshotError> {
    let path = manifest_path(snapshot);
    let key = FileKey::of(&path);
    if let Some(key) = key
        && let Ok(cache) = MANIFESTS.lock()
        && let Some((_, _, m)) = cache.iter().find(|(p, k, _)| *p == path && *k == key)
    {
        return Ok(Arc::clone(m));
    }
    let text = fs::read_to_string(&path).map_err(io_err("read", &path))?;
    let manifest = Arc::new(Manifest::parse(&text, &path)?);
    if let Some(key) = key {
        remember_manifest(path, key, &manifest);
    }
    Ok(manifest)
}

fn remember_manifest(path: PathBuf, key: FileKey, manifest: &Arc<Manifest>) {
    if let Ok(mut cache) = MANIFESTS.lock() {
        cache.retain(|(p, _, _)| *p != path);
        if cache.len() >= MANIFESTS_KEPT {
            cache.remove(0);
        }
        cache.push((path, key, Arc::clone(manifest)));
    }
}

/// `tree` without the entries `policy` excludes (and without anything under them).
fn filter_tree(tree: &Tree, policy: &CopyPolicy) -> Tree {
    let mut kept: Vec<Entry> = Vec::with_capacity(tree.entries.len());
    let mut dropped_dirs: Vec<PathBuf> = Vec::new();
    for e in &tree.entries {
        if dropped_dirs.iter().any(|d| e.rel.starts_with(d)) {
            continue;
        }
        if policy.is_excluded(&e.rel, e.kind == Kind::Dir) {
            if e.kind == Kind::Dir {
                dropped_dirs.push(e.rel.clone());
            }
            continue;
        }
        kept.push(e.clone());
    }
    Tree::from_entries(tree.root_mode, kept).unwrap_or_else(|_| tree.clone())
}

/// `to` relative to the directory `from` (both absolute and canonical), e.g. `../../store`.
fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    Some(out)
}

fn hash_reader(file: &mut File, path: &Path) -> Result<(Hash, u64), SnapshotError> {
    HASH_BUF.with_borrow_mut(|buf| {
        buf.resize(BUF, 0);
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        loop {
            match file.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read", path)(e)),
            }
        }
        Ok((*hasher.finalize().as_bytes(), total))
    })
}

/// Hashes the regular file at `path`; returns the hash and its stat when it did not change
/// while being read.
pub(crate) fn hash_file(path: &Path) -> Result<(Hash, Option<Stat>), SnapshotError> {
    let mut file = open_nofollow(path)?;
    let before = file.metadata().map_err(io_err("inspect", path))?;
    let (hash, size) = hash_reader(&mut file, path)?;
    let after = file.metadata().map_err(io_err("inspect", path))?;
    let (b, a) = (Stat::of(&before), Stat::of(&after));
    Ok((hash, (a == b && a.size == size).then_some(a)))
}

/// Reflink support of each store opened by this process (probing creates files, which is not
/// free; a store stays on its filesystem).
static REFLINK: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());

/// The entries of `dir`; none when it does not exist.
fn entries_or_none(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    read.map(|entry| entry.map(|e| e.path()).map_err(io_err("read directory", dir))).collect()
}

fn reflink_of(root: &Path) -> bool {
    if let Ok(known) = REFLINK.lock()
        && let Some((_, ok)) = known.iter().find(|(p, _)| p == root)
    {
        return *ok;
    }
    let ok = probe_reflink(&root.join("tmp"));
    if let Ok(mut known) = REFLINK.lock() {
        known.push((root.to_path_buf(), ok));
    }
    ok
}

/// Whether `FICLONE` works in `dir` (two scratch files, one cloned onto the other).
fn probe_reflink(dir: &Path) -> bool {
    let a = tmp_path(dir, "probe");
    let b = tmp_path(dir, "probe");
    let result = (|| -> io::Result<bool> {
        let mut fa = OpenOptions::new().read(true).write(true).create_new(true).open(&a)?;
        fa.write_all(b"reflink probe")?;
        let fb = OpenOptions::new().write(true).create_new(true).open(&b)?;
        Ok(rustix::fs::ioctl_ficlone(&fb, &fa).is_ok())
    })();
    let _ = fs::remove_file(&a);
    let _ = fs::remove_file(&b);
    let ok = result.unwrap_or(false);
    tracing::debug!(dir = %dir.display(), reflink = ok, "probed reflink support");
    ok
}
