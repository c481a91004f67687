//! What the store last knew about the files of a directory it captured from or wrote to: for
//! each relative path, the `lstat` identity (device, inode, size, mtime, ctime) and the content
//! hash. A file whose `lstat` still matches is not read again.
//!
//! A match is trusted only when the file's ctime is older than the moment the entry was
//! verified by a margin (the "racy" rule of git's index): a change made in the same clock tick
//! as the verification could leave every stat field equal, so such entries are hashed again
//! next time. The margin is 50 ms, or 2 s on filesystems that keep whole seconds. The kernel
//! sets ctime on every write, truncation, chmod and rename, and nothing can set it back.
//!
//! Stored at `<store>/statcache/<blake3 of the directory path>`, rewritten atomically at the end
//! of each operation. A missing or unreadable cache only costs hashing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::escape::{escape_bytes, unescape_bytes};
use crate::fsutil::{Stat, now_ns};
use crate::store::FileKey;
use crate::tree::Hash;

const HEADER: &str = "harnessgym-statcache 1";
const MARGIN_NS: i128 = 50_000_000;
const COARSE_MARGIN_NS: i128 = 2_000_000_000;

#[derive(Clone, Copy, Debug)]
struct CacheEntry {
    stat: Stat,
    hash: Hash,
    /// When the content was last hashed or written; 0 = during the current operation.
    verified_at: i128,
    /// Confirmed by the current operation ([`StatCache::keep`]); never saved.
    kept: bool,
}

/// Caches loaded or saved by this process, with the identity of the file they match (the file
/// is replaced by rename on every save, so an equal identity means equal content).
#[allow(clippy::type_complexity)]
static LOADED: Mutex<Vec<(PathBuf, FileKey, HashMap<String, CacheEntry>)>> = Mutex::new(Vec::new());
const LOADED_KEPT: usize = 8;

fn take_loaded(file: &Path, key: FileKey) -> Option<HashMap<String, CacheEntry>> {
    let mut loaded = LOADED.lock().ok()?;
    let i = loaded.iter().position(|(p, k, _)| p == file && *k == key)?;
    Some(loaded.swap_remove(i).2)
}

fn put_loaded(file: PathBuf, key: FileKey, map: HashMap<String, CacheEntry>) {
    if let Ok(mut loaded) = LOADED.lock() {
        loaded.retain(|(p, _, _)| *p != file);
        if loaded.len() >= LOADED_KEPT {
            loaded.remove(0);
        }
        loaded.push((file, key, map));
    }
}

/// The cache of one directory, loaded for one operation.
pub(crate) struct StatCache {
    file: PathBuf,
    target: PathBuf,
    /// Keyed by the escaped `/`-separated relative path ([`crate::tree::Entry::path`]).
    old: HashMap<String, CacheEntry>,
    seen: HashMap<String, CacheEntry>,
    /// Entries of `old` marked `kept` by this operation.
    kept: usize,
    /// Whether anything differs from the file as loaded (else saving is skipped).
    dirty: bool,
    /// Identity of the file as loaded.
    key: Option<FileKey>,
}

/// The cache file of directory `target` inside `dir`.
pub(crate) fn cache_file(dir: &Path, target: &Path) -> PathBuf {
    let key = blake3::hash(target.as_os_str().as_bytes());
    dir.join(&key.to_hex()[..32])
}

impl StatCache {
    /// Loads the cache of `target` (canonical) from the store's `statcache` directory.
    pub(crate) fn load(dir: &Path, target: &Path) -> Self {
        let file = cache_file(dir, target);
        let key = FileKey::of(&file);
        if let Some(key) = key
            && let Some(old) = take_loaded(&file, key)
        {
            return Self {
                file,
                target: target.to_path_buf(),
                old,
                seen: HashMap::new(),
                kept: 0,
                dirty: false,
                key: Some(key),
            };
        }
        let (old, dirty) = match fs::read(&file) {
            Ok(bytes) => match parse(&bytes, target) {
                Some(map) => (map, false),
                None => {
                    tracing::debug!(file = %file.display(), "ignoring unreadable stat cache");
                    (HashMap::new(), true)
                }
            },
            Err(_) => (HashMap::new(), true),
        };
        Self { file, target: target.to_path_buf(), old, seen: HashMap::new(), kept: 0, dirty, key }
    }

    /// The hash of the file at `rel` when `stat` matches a trusted entry.
    pub(crate) fn lookup(&self, rel: &str, stat: &Stat) -> Option<Hash> {
        let e = self.old.get(rel)?;
        let margin = if stat.ctime_ns % 1_000_000_000 == 0 { COARSE_MARGIN_NS } else { MARGIN_NS };
        (e.stat == *stat && e.verified_at != 0 && stat.ctime_ns + margin < e.verified_at).then_some(e.hash)
    }

    /// Keeps the entry of `rel` as it is (a trusted [`StatCache::lookup`] hit).
    pub(crate) fn keep(&mut self, rel: &str) {
        // A flag, not a copy into `seen`: a restore that finds everything unchanged keeps
        // tens of thousands of entries.
        if let Some(e) = self.old.get_mut(rel)
            && !e.kept
        {
            e.kept = true;
            self.kept += 1;
        }
    }

    /// Records that the file at `rel` with `stat` holds `hash`, verified now.
    pub(crate) fn record(&mut self, rel: String, stat: Stat, hash: Hash) {
        self.seen.insert(rel, CacheEntry { stat, hash, verified_at: 0, kept: false });
        self.dirty = true;
    }

    /// Forgets `rel` (the file was removed or replaced by something else).
    pub(crate) fn forget(&mut self, rel: &str) {
        self.dirty |= self.old.remove(rel).is_some() | self.seen.remove(rel).is_some();
    }

    /// Writes the cache: entries seen in this operation, plus older ones while the file stays
    /// small (a path excluded by one policy but captured by the other keeps its entry).
    pub(crate) fn save(mut self) {
        let keep_old = self.old.len() <= (self.seen.len() + self.kept) * 2 + 1024;
        if !self.dirty && keep_old {
            // Exactly what is on disk. `kept` is per operation.
            for e in self.old.values_mut() {
                e.kept = false;
            }
            if let Some(key) = self.key {
                put_loaded(self.file, key, self.old);
            }
            return;
        }
        let now = now_ns();
        let mut all = self.seen;
        for (k, mut v) in self.old {
            // All old entries while the file stays small, else the ones this operation kept.
            let kept = std::mem::take(&mut v.kept);
            if keep_old || kept {
                all.entry(k).or_insert(v);
            }
        }
        for e in all.values_mut() {
            if e.verified_at == 0 {
                e.verified_at = now;
            }
        }
        let mut out = String::with_capacity(all.len() * 120);
        let _ = writeln!(out, "{HEADER}\t{}", escape_bytes(self.target.as_os_str().as_bytes()));
        let mut keys: Vec<&String> = all.keys().collect();
        keys.sort_unstable();
        for k in keys {
            let e = &all[k];
            let verified = e.verified_at;
            let s = &e.stat;
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{verified}\t{k}",
                s.dev,
                s.ino,
                s.size,
                s.mtime_ns,
                s.ctime_ns,
                blake3::Hash::from_bytes(e.hash).to_hex()
            );
        }
        match write_replace(&self.file, out.as_bytes()) {
            Ok(()) => {
                if let Some(key) = FileKey::of(&self.file) {
                    put_loaded(self.file, key, all);
                }
            }
            Err(e) => tracing::debug!(file = %self.file.display(), error = %e, "could not save the stat cache"),
        }
    }
}

/// The directory a cache file describes (its header), if readable.
pub(crate) fn cache_target(file: &Path) -> Option<PathBuf> {
    let bytes = fs::read(file).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let first = text.lines().next()?;
    let target = first.strip_prefix(HEADER)?.strip_prefix('\t')?;
    crate::escape::unescape_os(target).map(PathBuf::from)
}

fn parse(bytes: &[u8], target: &Path) -> Option<HashMap<String, CacheEntry>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.lines();
    let first = lines.next()?;
    let recorded = unescape_bytes(first.strip_prefix(HEADER)?.strip_prefix('\t')?)?;
    if recorded != target.as_os_str().as_bytes() {
        return None;
    }
    let mut map = HashMap::with_capacity(text.len() / 120);
    for line in lines {
        let mut f = line.split('\t');
        let stat = Stat {
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            size: f.next()?.parse().ok()?,
            mtime_ns: f.next()?.parse().ok()?,
            ctime_ns: f.next()?.parse().ok()?,
        };
        let hash = crate::manifest::parse_hash(f.next()?)?;
        let verified_at = f.next()?.parse().ok()?;
        let rel = f.next()?.to_owned();
        map.insert(rel, CacheEntry { stat, hash, verified_at, kept: false });
    }
    Some(map)
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
pub(crate) fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::fsutil::tmp_path(dir, "tmp");
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
