//! [`Tree`]: the entries a snapshot holds, read from a directory (plain trees) or a manifest
//! (store snapshots); reports and digests; materializing a tree as real files; plain copies
//! ([`capture`], [`copy_tree`]).

use std::collections::BTreeSet;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use camino::Utf8Path;

use crate::error::io_err;
use crate::escape::escape_os;
use crate::fsutil::{
    Mtime, Stat, apply_file_meta, create_new, list_dir, lstat, mode_of, open_nofollow, posix, remove_tree, tmp_path,
};
use crate::store::Store;
use crate::{CopyPolicy, SnapshotError, TreeReport};

/// A BLAKE3 content hash.
pub(crate) type Hash = [u8; 32];

/// Hex form of a hash.
pub(crate) fn hex(hash: &Hash) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// A store object.
    Object(Hash),
    /// A file of a plain tree.
    Path(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File { size: u64, mtime: Mtime, content: Content },
    Symlink(PathBuf),
}

/// One entry, at a relative path made of normal components only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub rel: PathBuf,
    /// `rel` `/`-separated and escaped: how reports, manifests and the stat cache name it.
    pub path: String,
    /// Permission bits (ignored for symlinks).
    pub mode: u32,
    pub kind: Kind,
}

impl Entry {
    pub(crate) fn new(rel: PathBuf, mode: u32, kind: Kind) -> Self {
        let path = posix(&rel);
        Self { rel, path, mode, kind }
    }
}

/// A tree in depth-first order, each directory's children sorted by name (bytes).
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    pub root_mode: u32,
    pub entries: Vec<Entry>,
    /// `children[0]` lists the root's children, `children[i + 1]` those of `entries[i]`.
    children: Vec<Vec<usize>>,
}

/// The node of the root directory in [`Tree::children`].
pub(crate) const ROOT: usize = 0;

/// The node of entry `i`.
pub(crate) fn node(i: usize) -> usize {
    i + 1
}

impl Tree {
    /// Builds the index of a depth-first entry list, checking that every path is relative and
    /// made of normal components, that every parent is a directory listed earlier and that
    /// siblings are sorted and unique (so a crafted manifest cannot place an entry under a
    /// symlink or outside the tree).
    pub(crate) fn from_entries(root_mode: u32, entries: Vec<Entry>) -> Result<Self, String> {
        let mut children = vec![Vec::new(); entries.len() + 1];
        // The directories enclosing the current entry (depth-first order keeps them on a stack).
        let mut stack: Vec<usize> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let valid = !e.path.is_empty() && e.path.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            if !valid || e.rel.components().count() != e.path.split('/').count() {
                return Err(format!("entry {} is not a plain relative path", e.path));
            }
            let parent = e.path.rsplit_once('/').map(|(p, _)| p);
            while let Some(&top) = stack.last() {
                if Some(entries[top].path.as_str()) == parent {
                    break;
                }
                stack.pop();
            }
            let parent_node = match (parent, stack.last()) {
                (None, _) => ROOT,
                (Some(_), Some(&top)) => node(top),
                (Some(_), None) => {
                    return Err(format!("entry {} comes before (or without) its directory", e.path));
                }
            };
            let siblings = &mut children[parent_node];
            if let Some(&last) = siblings.last() {
                let prev: &Entry = &entries[last];
                if prev.rel.file_name() >= e.rel.file_name() {
                    return Err(format!("entry {} is out of order or repeated", e.path));
                }
            }
            siblings.push(i);
            if e.kind == Kind::Dir {
                stack.push(i);
            }
        }
        Ok(Self { root_mode, entries, children })
    }

    /// Entry indices of the children of `node` (see [`ROOT`], [`node`]).
    pub(crate) fn children(&self, node: usize) -> &[usize] {
        self.children.get(node).map_or(&[], Vec::as_slice)
    }

    /// Reads the real directory `root` under `policy`, never following symlinks; paths in `skip`
    /// are left out. Returns the tree (file contents as paths under `root`) and each entry's stat.
    pub(crate) fn scan(
        root: &Path,
        root_meta: &Metadata,
        policy: &CopyPolicy,
        skip: &[PathBuf],
    ) -> Result<(Self, Vec<Option<Stat>>), SnapshotError> {
        let (entries, stats) = scan_parallel(root, policy, skip)?;
        let tree = Self::from_entries(mode_of(root_meta), entries).map_err(|reason| SnapshotError::Conflict {
            path: root.to_path_buf(),
            reason: format!("{reason}; the directory changed while it was read, try again"),
        })?;
        Ok((tree, stats))
    }

    /// A report of every entry.
    pub(crate) fn report(&self) -> TreeReport {
        let mut c = Collector::default();
        for e in &self.entries {
            c.add(e);
        }
        c.finish()
    }
}

/// One directory's entries as read by [`scan_dir`], in name order.
type DirListing = Vec<(Entry, Option<Stat>)>;

/// Reads the tree under `root` a level of directories at a time, each level's directories on
/// all cores (an `lstat` per entry is most of a scan), then puts the listings in depth-first
/// order.
fn scan_parallel(
    root: &Path,
    policy: &CopyPolicy,
    skip: &[PathBuf],
) -> Result<(Vec<Entry>, Vec<Option<Stat>>), SnapshotError> {
    let mut listings: std::collections::HashMap<PathBuf, DirListing> = std::collections::HashMap::new();
    let mut level: Vec<PathBuf> = vec![PathBuf::new()];
    while !level.is_empty() {
        let read = parallel(&level, |_| None, |rel| scan_dir(&root.join(rel), rel, policy, skip))?;
        let mut next = Vec::new();
        for (rel, listing) in level.into_iter().zip(read) {
            next.extend(listing.iter().filter(|(e, _)| e.kind == Kind::Dir).map(|(e, _)| e.rel.clone()));
            listings.insert(rel, listing);
        }
        level = next;
    }
    let mut entries = Vec::new();
    let mut stats = Vec::new();
    let mut stack: Vec<std::vec::IntoIter<(Entry, Option<Stat>)>> =
        vec![listings.remove(Path::new("")).unwrap_or_default().into_iter()];
    while let Some(top) = stack.last_mut() {
        let Some((entry, stat)) = top.next() else {
            stack.pop();
            continue;
        };
        let sub = (entry.kind == Kind::Dir).then(|| listings.remove(&entry.rel).unwrap_or_default());
        entries.push(entry);
        stats.push(stat);
        if let Some(sub) = sub {
            stack.push(sub.into_iter());
        }
    }
    Ok((entries, stats))
}

fn scan_dir(dir: &Path, rel: &Path, policy: &CopyPolicy, skip: &[PathBuf]) -> Result<DirListing, SnapshotError> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    list_dir(dir, &mut names)?;
    for name in names {
        let abs = dir.join(&name);
        if skip.contains(&abs) {
            continue;
        }
        let child_rel = rel.join(&name);
        let Some(meta) = lstat(&abs)? else {
            continue; // vanished meanwhile
        };
        let ft = meta.file_type();
        if policy.is_excluded(&child_rel, ft.is_dir()) {
            tracing::trace!(path = %child_rel.display(), "excluded");
            continue;
        }
        let mode = mode_of(&meta);
        if ft.is_dir() {
            out.push((Entry::new(child_rel, mode, Kind::Dir), None));
        } else if ft.is_symlink() {
            let target = fs::read_link(&abs).map_err(io_err("read symlink", &abs))?;
            out.push((Entry::new(child_rel, mode, Kind::Symlink(target)), None));
        } else if ft.is_file() {
            let kind = Kind::File { size: meta.len(), mtime: Mtime::of(&meta), content: Content::Path(abs) };
            out.push((Entry::new(child_rel, mode, kind), Some(Stat::of(&meta))));
        } else {
            tracing::warn!(path = %abs.display(), "skipping special file (socket, fifo or device)");
        }
    }
    Ok(out)
}

/// Accumulates a [`TreeReport`] (and the tree digest) over entries given in depth-first order.
pub(crate) struct Collector {
    files: Vec<String>,
    bytes: u64,
    digest: Option<blake3::Hasher>,
    line: String,
}

impl Default for Collector {
    fn default() -> Self {
        Self { files: Vec::new(), bytes: 0, digest: Some(blake3::Hasher::new()), line: String::with_capacity(256) }
    }
}

impl Collector {
    /// Records an entry now present in the result.
    pub(crate) fn add(&mut self, e: &Entry) {
        use std::fmt::Write as _;
        let line = &mut self.line;
        line.clear();
        let hashable = match &e.kind {
            Kind::Dir => {
                let _ = write!(line, "D {:o} ", e.mode);
                true
            }
            Kind::Symlink(target) => {
                self.files.push(e.path.clone());
                line.push_str("L ");
                line.push_str(&escape_os(target.as_os_str()));
                line.push(' ');
                true
            }
            Kind::File { size, content, .. } => {
                self.files.push(e.path.clone());
                self.bytes += size;
                match content {
                    Content::Object(h) => {
                        let _ = write!(line, "F {:o} {size} {} ", e.mode, blake3::Hash::from_bytes(*h).to_hex());
                        true
                    }
                    Content::Path(_) => false,
                }
            }
        };
        match (&mut self.digest, hashable) {
            (Some(d), true) => {
                line.push_str(&e.path);
                line.push('\n');
                d.update(line.as_bytes());
            }
            _ => self.digest = None,
        }
    }

    pub(crate) fn finish(mut self) -> TreeReport {
        self.files.sort_unstable();
        TreeReport {
            file_count: self.files.len(),
            files: self.files,
            bytes: self.bytes,
            digest: self.digest.map(|d| format!("blake3:{}", d.finalize().to_hex())),
        }
    }
}

/// Runs `f` over `items` on a few threads; the first error stops the rest and is returned.
/// Results come back in the order of `items`.
///
/// Work is handed out in groups of consecutive items sharing `group_key` (their directory), so
/// two threads rarely create entries in the same directory at once: the kernel serializes
/// those, and spinning on a directory lock costs more than it saves.
pub(crate) fn parallel<'k, T: Sync, R: Send>(
    items: &[T],
    group_key: impl Fn(&T) -> Option<&'k Path>,
    f: impl Fn(&T) -> Result<R, SnapshotError> + Sync,
) -> Result<Vec<R>, SnapshotError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 4).min(items.len() / 8 + 1);
    if threads <= 1 {
        let token = crate::cancel::current();
        return items.iter().map(|item| crate::cancel::check(token.as_ref()).and_then(|()| f(item))).collect();
    }
    // Group boundaries: a new group where the key changes (None = a group of its own).
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        let split = i == items.len() || {
            let (a, b) = (group_key(&items[i - 1]), group_key(&items[i]));
            a.is_none() || b.is_none() || a != b
        };
        if split {
            groups.push(start..i);
            start = i;
        }
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let token = crate::cancel::current();
    let first_error: Mutex<Option<SnapshotError>> = Mutex::new(None);
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    'claim: loop {
                        let g = next.fetch_add(1, Ordering::Relaxed);
                        let Some(range) = groups.get(g) else { break };
                        for i in range.clone() {
                            if failed.load(Ordering::Relaxed) {
                                break 'claim;
                            }
                            let result = crate::cancel::check(token.as_ref()).and_then(|()| f(&items[i]));
                            match result {
                                Ok(r) => out.push((i, r)),
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    if let Ok(mut slot) = first_error.lock() {
                                        slot.get_or_insert(e);
                                    }
                                    break 'claim;
                                }
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results: Vec<Option<R>> = Vec::with_capacity(items.len());
    results.resize_with(items.len(), || None);
    for (i, r) in parts.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| SnapshotError::Conflict {
                path: PathBuf::new(),
                reason: "a worker thread panicked while copying".to_owned(),
            })
        })
        .collect()
}

/// The grouping key of entry `i` for [`parallel`]: its directory, or none for big files (each
/// worth a thread of its own).
pub(crate) fn dir_key(tree: &Tree, i: usize) -> Option<&Path> {
    let e = &tree.entries[i];
    match &e.kind {
        Kind::File { size, .. } if *size > (1 << 20) => None,
        _ => e.rel.parent(),
    }
}

/// Copies `content` into the new, empty file `dest`: a reflink when `reflink` and the filesystem
/// allows it, else an in-kernel copy. Never shares an inode with the source.
pub(crate) fn fill_file(
    content: &Content,
    store: Option<&Store>,
    dest: &File,
    dest_path: &Path,
) -> Result<(), SnapshotError> {
    let opened = match (content, store) {
        (Content::Path(p), _) => open_nofollow(p),
        (Content::Object(h), Some(store)) => store.objects().open_read(h).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SnapshotError::ObjectMissing { object: hex(h), store: store.root().to_path_buf() }
            } else {
                io_err("open", &store.object_path(h))(e)
            }
        }),
        (Content::Object(_), None) => {
            return Err(SnapshotError::Conflict {
                path: dest_path.to_path_buf(),
                reason: "a store object was asked for without its store".to_owned(),
            });
        }
    };
    let mut src = opened?;
    if store.is_some_and(Store::reflink_supported) && rustix::fs::ioctl_ficlone(dest, &src).is_ok() {
        return Ok(());
    }
    let mut out = dest;
    io::copy(&mut src, &mut out).map_err(io_err("copy into", dest_path))?;
    Ok(())
}

/// One file written by [`materialize`]: its entry index and the new file's stat.
pub(crate) struct Written {
    pub index: usize,
    pub stat: Stat,
}

/// Writes every entry of `tree` under the existing, empty directory `dest` as real files (never
/// hard links), then applies directory modes bottom-up and `dest`'s own mode.
pub(crate) fn materialize(tree: &Tree, dest: &Path, store: Option<&Store>) -> Result<Vec<Written>, SnapshotError> {
    let mut files = Vec::new();
    for (i, e) in tree.entries.iter().enumerate() {
        let path = dest.join(&e.rel);
        match &e.kind {
            Kind::Dir => fs::create_dir(&path).map_err(io_err("create directory", &path))?,
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &path).map_err(io_err("create symlink", &path))?;
            }
            Kind::File { .. } => files.push(i),
        }
    }
    let written = parallel(
        &files,
        |&i| dir_key(tree, i),
        |&i| {
            let e = &tree.entries[i];
            let Kind::File { content, mtime, .. } = &e.kind else {
                return Err(SnapshotError::Conflict { path: e.rel.clone(), reason: "not a file".to_owned() });
            };
            let path = dest.join(&e.rel);
            let file = create_new(&path)?;
            fill_file(content, store, &file, &path)?;
            apply_file_meta(&file, &path, e.mode, *mtime)?;
            let meta = file.metadata().map_err(io_err("inspect", &path))?;
            Ok(Written { index: i, stat: Stat::of(&meta) })
        },
    )?;
    for e in tree.entries.iter().rev() {
        if e.kind == Kind::Dir {
            let path = dest.join(&e.rel);
            fs::set_permissions(&path, fs::Permissions::from_mode(e.mode))
                .map_err(io_err("set permissions of", &path))?;
        }
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(tree.root_mode))
        .map_err(io_err("set permissions of", dest))?;
    Ok(written)
}

/// Puts the finished directory `staging` at `dest`: renamed into place when `dest` is absent;
/// otherwise atomically exchanged with it (`renameat2(RENAME_EXCHANGE)`) and the old tree, now
/// at `staging`, removed. Where the exchange is unsupported, `dest` is first renamed to `old`
/// (which a journal names, so an interrupted switch can be undone).
pub(crate) fn install_dir(staging: &Path, dest: &Path, old: &Path) -> Result<(), SnapshotError> {
    if lstat(dest)?.is_none() {
        return fs::rename(staging, dest).map_err(io_err("rename staging copy onto", dest));
    }
    match rustix::fs::renameat_with(rustix::fs::CWD, staging, rustix::fs::CWD, dest, rustix::fs::RenameFlags::EXCHANGE)
    {
        Ok(()) => return remove_tree(staging),
        Err(e) => tracing::debug!(error = %e, "RENAME_EXCHANGE unavailable; two renames"),
    }
    fs::rename(dest, old).map_err(io_err("move the old tree aside from", dest))?;
    fs::rename(staging, dest).map_err(io_err("rename staging copy onto", dest))?;
    remove_tree(old)
}

/// Checks and resolves `src` → `dest` for a copy: returns (canonical src, its metadata,
/// canonical dest).
pub(crate) fn resolve_copy(src: &Utf8Path, dest: &Utf8Path) -> Result<(PathBuf, Metadata, PathBuf), SnapshotError> {
    let src_meta = fs::metadata(src).ok().filter(|m| m.is_dir());
    let (Some(src_meta), Ok(src_c)) = (src_meta, fs::canonicalize(src)) else {
        return Err(SnapshotError::SourceMissing { path: src.to_owned() });
    };
    let dest_c = resolve_dest(src, dest)?;
    if src_c.starts_with(&dest_c) {
        return Err(SnapshotError::Overlap {
            src: src.to_owned(),
            dest: dest.to_owned(),
            reason: "the destination is or contains the source, which would be deleted",
        });
    }
    Ok((src_c, src_meta, dest_c))
}

/// `dest` with its parent created and canonicalized (the last component kept as is).
pub(crate) fn resolve_dest(src: &Utf8Path, dest: &Utf8Path) -> Result<PathBuf, SnapshotError> {
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(SnapshotError::Overlap {
            src: src.to_owned(),
            dest: dest.to_owned(),
            reason: "the destination has no parent directory",
        });
    };
    let parent = if parent.as_str().is_empty() { Utf8Path::new(".") } else { parent };
    fs::create_dir_all(parent).map_err(io_err("create directory", parent.as_std_path()))?;
    let parent_c = fs::canonicalize(parent).map_err(io_err("resolve", parent.as_std_path()))?;
    Ok(parent_c.join(name))
}

/// A plain, full copy of `workspace` at `dest` under `policy` (no store): `dest` is replaced
/// as a whole. The loop's copies go through [`Store::capture`]; this remains for trees that are
/// not snapshots.
///
/// The copy is assembled in a staging directory next to `dest` and swapped into place, so an
/// interrupted capture leaves the previous `dest` (or nothing) rather than a partial tree.
pub fn capture(workspace: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let report = plain_copy(workspace, dest, policy)?;
    tracing::info!(
        workspace = %workspace,
        dest = %dest,
        purpose = ?policy.purpose(),
        files = report.file_count,
        bytes = report.bytes,
        "copied workspace (plain)"
    );
    Ok(report)
}

/// Copies `src` to `dest` (replaced if present) under `policy`, as real files. When `src` is a
/// store snapshot this is [`Store::copy_out`]; otherwise a plain copy of the directory.
pub fn copy_tree(src: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    if let Some(store) = Store::of_snapshot(src.as_std_path())? {
        return store.copy_out(src, dest, policy);
    }
    let report = plain_copy(src, dest, policy)?;
    tracing::debug!(
        src = %src,
        dest = %dest,
        purpose = ?policy.purpose(),
        files = report.file_count,
        bytes = report.bytes,
        "copied tree"
    );
    Ok(report)
}

fn plain_copy(src: &Utf8Path, dest: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    let (src_c, src_meta, dest_c) = resolve_copy(src, dest)?;
    let parent = dest_c.parent().unwrap_or(Path::new("/"));
    let staging = tmp_path(parent, "partial");
    // When the destination lives inside the source, never copy the copy into itself.
    let skip = vec![staging.clone(), dest_c.clone()];
    let (tree, _) = Tree::scan(&src_c, &src_meta, policy, &skip)?;
    fs::create_dir(&staging).map_err(io_err("create directory", &staging))?;
    let result =
        materialize(&tree, &staging, None).and_then(|_| install_dir(&staging, &dest_c, &tmp_path(parent, "old")));
    if let Err(e) = result {
        if let Err(cleanup) = remove_tree(&staging) {
            tracing::warn!(staging = %staging.display(), error = %cleanup, "could not remove partial copy");
        }
        return Err(e);
    }
    Ok(tree.report())
}
