//! In-place restore of a workspace from a snapshot: [`restore`] and the walk behind it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, FileTimes, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use camino::Utf8Path;

use crate::error::io_err;
use crate::fsutil::{
    Mtime, Stat, apply_file_meta, create_new, list_dir, lstat, make_dir_writable, mode_of, same_content,
    symlink_atomic, tmp_path,
};
use crate::statcache::StatCache;
use crate::store::{Store, hash_file};
use crate::tree::{Collector, Content, Entry, Kind, ROOT, Tree, fill_file, node};
use crate::{CopyPolicy, SnapshotError, TreeReport};

/// Make `workspace` equal to the snapshot at `snapshot` for every NON-excluded path:
/// non-excluded files/symlinks/dirs in the workspace that are not in the snapshot are removed;
/// files whose content or type differ are replaced; missing ones are created; file modes/mtimes
/// copied. A path excluded by `policy` is never deleted or modified, at any depth: a directory
/// that is absent from the snapshot but holds excluded entries is emptied of everything else and
/// kept.
///
/// Symlinks in the workspace are never followed: they are removed or replaced as links, and
/// nothing is ever written through a symlinked directory. Files are written to a temporary name
/// and renamed into place, as new inodes.
///
/// A store snapshot is restored by its store ([`Store::restore`]: journaled, and unchanged
/// files are recognized by one `lstat`); a plain snapshot directory is compared byte for byte.
///
/// The report lists every file and symlink of the (policy-filtered) snapshot now present in the
/// workspace, whether it had to be rewritten or was already identical.
pub fn restore(snapshot: &Utf8Path, workspace: &Utf8Path, policy: &CopyPolicy) -> Result<TreeReport, SnapshotError> {
    if let Some(store) = Store::of_snapshot(snapshot.as_std_path())? {
        return store.restore(snapshot, workspace, policy);
    }
    let snap_meta = fs::metadata(snapshot).ok().filter(|m| m.is_dir());
    let (Some(snap_meta), Ok(snap_c)) = (snap_meta, fs::canonicalize(snapshot)) else {
        return Err(SnapshotError::SnapshotMissing { path: snapshot.to_owned() });
    };
    match fs::metadata(workspace) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(SnapshotError::NotADirectory { path: workspace.to_owned() });
        }
        Err(_) => fs::create_dir_all(workspace).map_err(io_err("create directory", workspace.as_std_path()))?,
    }
    let ws_c = fs::canonicalize(workspace).map_err(io_err("resolve", workspace.as_std_path()))?;
    if ws_c.starts_with(&snap_c) {
        return Err(SnapshotError::Overlap {
            src: snapshot.to_owned(),
            dest: workspace.to_owned(),
            reason: "the workspace is inside (or is) the snapshot",
        });
    }
    let (tree, _) = Tree::scan(&snap_c, &snap_meta, policy, &[])?;
    let report = restore_tree(RestoreArgs {
        tree: &tree,
        target: &ws_c,
        policy,
        // A snapshot stored inside the workspace must never be deleted by its own restore.
        skip: vec![snap_c],
        store: None,
        cache: None,
        stale_tmp: Vec::new(),
    })?;
    tracing::info!(
        snapshot = %snapshot,
        workspace = %workspace,
        purpose = ?policy.purpose(),
        files = report.file_count,
        "restored workspace (plain snapshot)"
    );
    Ok(report)
}

/// Everything [`restore_tree`] needs.
pub(crate) struct RestoreArgs<'a> {
    pub tree: &'a Tree,
    /// Canonical, existing directory.
    pub target: &'a Path,
    pub policy: &'a CopyPolicy,
    /// Absolute paths never touched.
    pub skip: Vec<PathBuf>,
    pub store: Option<&'a Store>,
    pub cache: Option<&'a mut StatCache>,
    /// Name prefixes of temporary files a killed restore left behind (removed wherever met).
    pub stale_tmp: Vec<String>,
}

/// Makes `args.target` equal to `args.tree` (see [`restore`]).
pub(crate) fn restore_tree(args: RestoreArgs<'_>) -> Result<TreeReport, SnapshotError> {
    let hints = Hints::take(args.tree, args.target, args.cache.as_deref())?;
    let mut r = Restorer {
        tree: args.tree,
        policy: args.policy,
        skip: args.skip,
        store: args.store,
        cache: args.cache,
        stale_tmp: args.stale_tmp,
        report: Collector::default(),
        stats: Stats::default(),
        hints,
        cancel: crate::cancel::current(),
    };
    r.sync_dir(ROOT, args.tree.root_mode, args.target, Path::new(""), true)?;
    let stats = r.stats;
    tracing::debug!(
        target = %args.target.display(),
        written = stats.written,
        removed = stats.removed,
        hashed = stats.hashed,
        kept_excluded = stats.kept_excluded,
        "restore walk done"
    );
    Ok(r.report.finish())
}

#[derive(Default, Clone, Copy)]
struct Stats {
    written: usize,
    removed: usize,
    hashed: usize,
    kept_excluded: usize,
}

/// What the workspace held at each snapshot entry's path just before the walk, found on all
/// cores: the walk itself is sequential (it removes, replaces and reports in order), and the
/// `lstat` per entry and the stat-cache lookup per file are most of a restore that finds little
/// to do.
///
/// A hint is used only for a child of a directory that the walk found as a real directory whose
/// own parents were too (`hinted`): nothing the walk does to one entry changes the path of a
/// sibling, so such hints still describe the workspace. Where the walk created or replaced a
/// directory (a symlink stood there: its children's hints were read through it), it asks again.
#[derive(Default)]
struct Hints {
    /// Per entry: `None` no hint, `Some(None)` nothing there, `Some(Some(meta))` its `lstat`.
    meta: Vec<Option<Option<Metadata>>>,
    /// Per entry: the stat cache vouches that the file there already holds the entry's object.
    cached: Vec<bool>,
    /// Per node (see [`node`]; the root is node 0): the names in that directory, when it was a
    /// real directory.
    listings: Vec<Option<BTreeSet<OsString>>>,
}

impl Hints {
    /// Below this many entries a restore is quick anyway: no threads.
    const MIN_ENTRIES: usize = 512;

    fn take(tree: &Tree, target: &Path, cache: Option<&StatCache>) -> Result<Self, SnapshotError> {
        if tree.entries.len() < Self::MIN_ENTRIES {
            return Ok(Self::default());
        }
        let root_listing = {
            let mut names = BTreeSet::new();
            list_dir(target, &mut names).ok().map(|()| names)
        };
        let indices: Vec<usize> = (0..tree.entries.len()).collect();
        let found = crate::tree::parallel(
            &indices,
            |&i| tree.entries[i].rel.parent(),
            |&i| {
                let e = &tree.entries[i];
                let path = target.join(&e.rel);
                let meta = match fs::symlink_metadata(&path) {
                    Ok(m) => Some(Some(m)),
                    Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                        Some(None)
                    }
                    Err(_) => None, // the walk looks again and reports what is wrong
                };
                let cached = match (&e.kind, &meta, cache) {
                    (Kind::File { size, content: Content::Object(h), .. }, Some(Some(m)), Some(cache)) => {
                        m.file_type().is_file()
                            && m.len() == *size
                            && cache.lookup(&e.path, &Stat::of(m)).is_some_and(|known| known == *h)
                    }
                    _ => false,
                };
                let listing = match (&e.kind, &meta) {
                    (Kind::Dir, Some(Some(m))) if m.is_dir() => {
                        let mut names = BTreeSet::new();
                        list_dir(&path, &mut names).ok().map(|()| names)
                    }
                    _ => None,
                };
                Ok((meta, cached, listing))
            },
        )?;
        let mut hints = Self {
            meta: Vec::with_capacity(found.len()),
            cached: Vec::with_capacity(found.len()),
            listings: Vec::with_capacity(found.len() + 1),
        };
        hints.listings.push(root_listing);
        for (meta, cached, listing) in found {
            hints.meta.push(meta);
            hints.cached.push(cached);
            hints.listings.push(listing);
        }
        Ok(hints)
    }

    /// The names in directory node `dir` (see [`node`]), once.
    fn listing(&mut self, dir: usize) -> Option<BTreeSet<OsString>> {
        self.listings.get_mut(dir).and_then(Option::take)
    }

    /// Entry `i`'s hint, once.
    fn meta(&mut self, i: usize) -> Option<Option<Metadata>> {
        self.meta.get_mut(i).and_then(Option::take)
    }

    fn cached(&self, i: usize) -> bool {
        self.cached.get(i).copied().unwrap_or(false)
    }
}

struct Restorer<'a> {
    tree: &'a Tree,
    policy: &'a CopyPolicy,
    skip: Vec<PathBuf>,
    store: Option<&'a Store>,
    cache: Option<&'a mut StatCache>,
    stale_tmp: Vec<String>,
    report: Collector,
    stats: Stats,
    hints: Hints,
    /// The token of the caller's [`crate::cancellable`] scope.
    cancel: Option<crate::Cancel>,
}

impl Restorer<'_> {
    fn is_stale_tmp(&self, name: &OsString) -> bool {
        !self.stale_tmp.is_empty() && self.stale_tmp.iter().any(|p| name.as_bytes().starts_with(p.as_bytes()))
    }

    /// `w_dir` is a real directory (never a symlink) inside the workspace; `node` is the
    /// snapshot directory it must equal.
    /// `hinted`: the [`Hints`] of its children can be trusted.
    fn sync_dir(&mut self, dir: usize, mode: u32, w_dir: &Path, rel: &Path, hinted: bool) -> Result<(), SnapshotError> {
        crate::cancel::check(self.cancel.as_ref())?;
        let current_mode = match lstat(w_dir)? {
            Some(w_meta) => {
                let made_writable = make_dir_writable(w_dir, &w_meta)?.is_some();
                (!made_writable).then(|| mode_of(&w_meta))
            }
            None => None,
        };
        // Both sides sorted by name: walk them together.
        let in_ws = match hinted.then(|| self.hints.listing(dir)).flatten() {
            Some(names) => names,
            None => {
                let mut names = BTreeSet::new();
                list_dir(w_dir, &mut names)?;
                names
            }
        };
        let mut kids = self.tree.children(dir).iter().copied().peekable();
        let mut ws_names = in_ws.into_iter().peekable();
        loop {
            let kid_name = kids.peek().and_then(|&i| self.tree.entries[i].rel.file_name());
            let (name, s) = match (kid_name, ws_names.peek()) {
                (None, None) => break,
                (Some(k), Some(n)) if k == n.as_os_str() => (ws_names.next().unwrap_or_default(), kids.next()),
                (Some(k), Some(n)) if k > n.as_os_str() => (ws_names.next().unwrap_or_default(), None),
                (Some(k), _) => (k.to_owned(), kids.next()),
                (None, Some(_)) => (ws_names.next().unwrap_or_default(), None),
            };
            let w = w_dir.join(&name);
            if self.skip.contains(&w) {
                continue;
            }
            let child_rel = rel.join(&name);
            let hint = match s {
                Some(i) if hinted => self.hints.meta(i),
                _ => None,
            };
            let w_meta = match hint {
                Some(meta) => meta,
                None => lstat(&w)?,
            };
            if s.is_none()
                && self.is_stale_tmp(&name)
                && let Some(wm) = &w_meta
                && !wm.is_dir()
            {
                fs::remove_file(&w).map_err(io_err("remove", &w))?;
                continue;
            }
            if let Some(wm) = &w_meta
                && self.policy.is_excluded(&child_rel, wm.is_dir())
            {
                self.stats.kept_excluded += 1;
                if s.is_some_and(|i| !self.excluded(i)) {
                    tracing::warn!(
                        path = %w.display(),
                        "snapshot entry not restored: an excluded workspace entry of another type is in the way"
                    );
                }
                continue;
            }
            let s = s.filter(|&i| !self.excluded(i));
            match (s, w_meta) {
                (None, None) => {}
                (None, Some(wm)) => {
                    self.prune(&w, &wm, &child_rel)?;
                }
                (Some(i), wm) => self.apply(i, &w, wm.as_ref(), &child_rel, hinted)?,
            }
        }
        if current_mode == Some(mode) {
            return Ok(());
        }
        fs::set_permissions(w_dir, fs::Permissions::from_mode(mode)).map_err(io_err("set permissions of", w_dir))
    }

    fn excluded(&self, i: usize) -> bool {
        let e = &self.tree.entries[i];
        self.policy.is_excluded(&e.rel, e.kind == Kind::Dir)
    }

    /// Makes the workspace entry `w` (absent, or not excluded) equal to snapshot entry `i`.
    fn apply(
        &mut self,
        i: usize,
        w: &Path,
        wm: Option<&Metadata>,
        rel: &Path,
        hinted: bool,
    ) -> Result<(), SnapshotError> {
        let e: &Entry = &self.tree.entries[i];
        match &e.kind {
            Kind::Dir => {
                // Children's hints hold only where this directory was there all along.
                let mut children_hinted = hinted;
                match wm {
                    Some(wm) if wm.is_dir() => {}
                    other => {
                        children_hinted = false;
                        if let Some(wm) = other {
                            self.prune(w, wm, rel)?; // a file or symlink: always fully removed
                        }
                        fs::create_dir(w).map_err(io_err("create directory", w))?;
                        self.stats.written += 1;
                    }
                }
                self.report.add(e);
                self.sync_dir(node(i), e.mode, w, rel, children_hinted)
            }
            Kind::Symlink(target) => {
                if let Some(wm) = wm {
                    if wm.file_type().is_symlink() && fs::read_link(w).map_err(io_err("read symlink", w))? == *target {
                        self.report.add(e);
                        return Ok(());
                    }
                    if wm.is_dir() {
                        self.clear_dir_for(w, wm, rel)?;
                    }
                }
                symlink_atomic(target, w)?;
                self.stats.written += 1;
                self.report.add(e);
                Ok(())
            }
            Kind::File { .. } => {
                if let Some(wm) = wm {
                    let cached = hinted && self.hints.cached(i);
                    if wm.file_type().is_file() && self.same_file(e, w, wm, cached)? {
                        self.sync_file_metadata(e, w, wm)?;
                        self.report.add(e);
                        return Ok(());
                    }
                    if wm.is_dir() {
                        self.clear_dir_for(w, wm, rel)?;
                    }
                }
                self.write_file(e, w)?;
                self.stats.written += 1;
                self.report.add(e);
                Ok(())
            }
        }
    }

    /// Whether the regular workspace file `w` already holds the content of entry `e`.
    /// `cached`: [`Hints`] found the stat cache vouching for `wm` and this entry's object.
    fn same_file(&mut self, e: &Entry, w: &Path, wm: &Metadata, cached: bool) -> Result<bool, SnapshotError> {
        let Kind::File { size, content, .. } = &e.kind else { return Ok(false) };
        if wm.len() != *size {
            return Ok(false);
        }
        match content {
            Content::Path(p) => {
                let Some(pm) = lstat(p)? else { return Ok(false) };
                same_content(p, &pm, w, wm)
            }
            Content::Object(h) => {
                // A file sharing the object's inode must be replaced by a copy: writing it in
                // place would corrupt every snapshot.
                if wm.nlink() > 1
                    && let Some(store) = self.store
                    && store.objects().stat(h)?.is_some_and(|om| om.st_dev == wm.dev() && om.st_ino == wm.ino())
                {
                    return Ok(false);
                }
                let key = &e.path;
                if cached && let Some(cache) = self.cache.as_deref_mut() {
                    cache.keep(key);
                    return Ok(true);
                }
                let stat = Stat::of(wm);
                if let Some(cache) = self.cache.as_deref_mut()
                    && let Some(known) = cache.lookup(key, &stat)
                {
                    if known == *h {
                        cache.keep(key);
                        return Ok(true);
                    }
                    return Ok(false);
                }
                self.stats.hashed += 1;
                let (actual, seen) = hash_file(w)?;
                if let (Some(cache), Some(seen)) = (self.cache.as_deref_mut(), seen) {
                    cache.record(key.clone(), seen, actual);
                }
                Ok(actual == *h)
            }
        }
    }

    /// Writes entry `e` to a temporary file beside `w` and renames it over `w`.
    fn write_file(&mut self, e: &Entry, w: &Path) -> Result<(), SnapshotError> {
        let Kind::File { content, mtime, .. } = &e.kind else { return Ok(()) };
        let dir = w.parent().unwrap_or(Path::new("."));
        let tmp = tmp_path(dir, "tmp");
        let result = (|| {
            let file = create_new(&tmp)?;
            fill_file(content, self.store, &file, &tmp)?;
            apply_file_meta(&file, &tmp, e.mode, *mtime)?;
            drop(file);
            fs::rename(&tmp, w).map_err(io_err("rename temporary file onto", w))
        })();
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            return Err(err);
        }
        if let (Some(cache), Content::Object(h)) = (self.cache.as_deref_mut(), content) {
            // The rename changed the ctime: record the file as it is now.
            if let Some(m) = lstat(w)? {
                cache.record(e.path.clone(), Stat::of(&m), *h);
            }
        }
        Ok(())
    }

    /// Content already matches: bring permissions and mtime in line without rewriting.
    fn sync_file_metadata(&mut self, e: &Entry, w: &Path, wm: &Metadata) -> Result<(), SnapshotError> {
        let Kind::File { mtime, content, .. } = &e.kind else { return Ok(()) };
        let mut changed = false;
        if Mtime::of(wm) != *mtime
            && let Some(t) = mtime.to_system_time()
        {
            let f = File::open(w).map_err(io_err("open", w))?;
            f.set_times(FileTimes::new().set_modified(t)).map_err(io_err("set modification time of", w))?;
            changed = true;
        }
        if mode_of(wm) != e.mode {
            fs::set_permissions(w, fs::Permissions::from_mode(e.mode)).map_err(io_err("set permissions of", w))?;
            changed = true;
        }
        if changed
            && let (Some(cache), Content::Object(h)) = (self.cache.as_deref_mut(), content)
            && let Some(m) = lstat(w)?
        {
            cache.record(e.path.clone(), Stat::of(&m), *h);
        }
        Ok(())
    }

    /// Removes the workspace directory `w` so a file or symlink can take its place.
    fn clear_dir_for(&mut self, w: &Path, wm: &Metadata, rel: &Path) -> Result<(), SnapshotError> {
        if self.prune(w, wm, rel)? {
            Ok(())
        } else {
            Err(SnapshotError::Conflict {
                path: w.to_path_buf(),
                reason: "the snapshot has a file here but the workspace has a directory holding excluded entries \
                         (which restore never deletes); move those entries away and restore again"
                    .to_owned(),
            })
        }
    }

    /// Removes the non-excluded workspace entry `w` and, for a real directory, every non-excluded
    /// entry under it. Returns false when a directory had to be kept because excluded entries
    /// remain inside it. Symlinks are removed as links, never followed.
    fn prune(&mut self, w: &Path, wm: &Metadata, rel: &Path) -> Result<bool, SnapshotError> {
        if !wm.is_dir() {
            fs::remove_file(w).map_err(io_err("remove", w))?;
            self.stats.removed += 1;
            return Ok(true);
        }
        let restore_perms = make_dir_writable(w, wm)?;
        let mut names = BTreeSet::new();
        list_dir(w, &mut names)?;
        let mut keep = false;
        for name in names {
            let child = w.join(&name);
            let child_rel = rel.join(&name);
            let Some(cm) = lstat(&child)? else { continue };
            if self.skip.contains(&child) || self.policy.is_excluded(&child_rel, cm.is_dir()) {
                self.stats.kept_excluded += 1;
                keep = true;
            } else if !self.prune(&child, &cm, &child_rel)? {
                keep = true;
            }
        }
        if keep {
            if let Some(perms) = restore_perms {
                fs::set_permissions(w, perms).map_err(io_err("set permissions of", w))?;
            }
            tracing::debug!(path = %w.display(), "kept directory: it holds excluded entries");
            return Ok(false);
        }
        fs::remove_dir(w).map_err(io_err("remove directory", w))?;
        self.stats.removed += 1;
        Ok(true)
    }
}
