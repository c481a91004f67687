//! The manifest of a store snapshot: `<snapshot>/.harnessgym/snapshot`, a text file.
//!
//! ```text
//! harnessgym-snapshot 1
//! store-id\t<id of the store holding the objects>
//! store-rel\t<the store's path relative to the snapshot directory, or empty>
//! store-abs\t<the store's absolute path>
//! purpose\tcopy | task-state
//! root-mode\t<octal>
//! digest\tblake3:<hex>
//! file-count\t<files and symlinks>
//! bytes\t<bytes of the files>
//! entries\t<n>
//! D\t<mode>\t<path>
//! F\t<mode>\t<size>\t<mtime seconds>\t<mtime nanoseconds>\t<blake3 hex>\t<path>
//! L\t<target>\t<path>
//! ```
//!
//! Paths and symlink targets are escaped ([`crate::escape`]); entries are in depth-first order
//! with sorted siblings, so a manifest is deterministic and [`Tree::from_entries`] can check it.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::escape::{escape_os, unescape_os};
use crate::fsutil::Mtime;
use crate::tree::{Content, Entry, Hash, Kind, Tree, hex};
use crate::{Purpose, SnapshotError, TreeReport};

/// Name of the directory inside a snapshot directory that holds its manifest. Both policies
/// exclude a top-level `.harnessgym`, so no captured entry can ever collide with it.
pub(crate) const META_DIR: &str = ".harnessgym";
/// Name of the manifest inside [`META_DIR`].
pub(crate) const MANIFEST: &str = "snapshot";
const HEADER: &str = "harnessgym-snapshot 1";

/// `<snapshot>/.harnessgym/snapshot`.
pub(crate) fn manifest_path(snapshot: &Path) -> PathBuf {
    snapshot.join(META_DIR).join(MANIFEST)
}

#[derive(Clone, Debug)]
pub(crate) struct Manifest {
    pub store_id: String,
    pub store_rel: Option<PathBuf>,
    pub store_abs: PathBuf,
    pub purpose: Purpose,
    pub tree: Tree,
    pub report: TreeReport,
}

pub(crate) fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Copy => "copy",
        Purpose::TaskState => "task-state",
        Purpose::AgentMirror => "agent-mirror",
    }
}

pub(crate) fn parse_purpose(s: &str) -> Option<Purpose> {
    match s {
        "copy" => Some(Purpose::Copy),
        "task-state" => Some(Purpose::TaskState),
        "agent-mirror" => Some(Purpose::AgentMirror),
        _ => None,
    }
}

fn path_text(p: &Path) -> String {
    escape_os(p.as_os_str())
}

impl Manifest {
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + self.tree.entries.len() * 96);
        let _ = writeln!(out, "{HEADER}");
        let _ = writeln!(out, "store-id\t{}", self.store_id);
        let _ = writeln!(out, "store-rel\t{}", self.store_rel.as_deref().map(path_text).unwrap_or_default());
        let _ = writeln!(out, "store-abs\t{}", path_text(&self.store_abs));
        let _ = writeln!(out, "purpose\t{}", purpose_name(self.purpose));
        let _ = writeln!(out, "root-mode\t{:o}", self.tree.root_mode);
        let _ = writeln!(out, "digest\t{}", self.report.digest.as_deref().unwrap_or(""));
        let _ = writeln!(out, "file-count\t{}", self.report.file_count);
        let _ = writeln!(out, "bytes\t{}", self.report.bytes);
        let _ = writeln!(out, "entries\t{}", self.tree.entries.len());
        for e in &self.tree.entries {
            let path = path_text(&e.rel);
            match &e.kind {
                Kind::Dir => {
                    let _ = writeln!(out, "D\t{:o}\t{path}", e.mode);
                }
                Kind::Symlink(target) => {
                    let _ = writeln!(out, "L\t{}\t{path}", path_text(target));
                }
                Kind::File { size, mtime, content: Content::Object(h) } => {
                    let _ =
                        writeln!(out, "F\t{:o}\t{size}\t{}\t{}\t{}\t{path}", e.mode, mtime.secs, mtime.nanos, hex(h));
                }
                Kind::File { content: Content::Path(_), .. } => {
                    // Never built: store manifests only hold objects.
                }
            }
        }
        out
    }

    /// Parses a manifest; `path` names the file in errors.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, SnapshotError> {
        let bad =
            |line: usize, message: String| SnapshotError::CorruptManifest { path: path.to_path_buf(), line, message };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(bad(1, format!("the first line is not `{HEADER}`"))),
        }
        let mut field = |name: &str| -> Result<(usize, String), SnapshotError> {
            let (n, line) = lines.next().ok_or_else(|| bad(0, format!("missing `{name}`")))?;
            let value = line
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('\t'))
                .ok_or_else(|| bad(n, format!("expected `{name}`")))?;
            Ok((n, value.to_owned()))
        };
        let (_, store_id) = field("store-id")?;
        let (n, store_rel) = field("store-rel")?;
        let store_rel = if store_rel.is_empty() {
            None
        } else {
            Some(PathBuf::from(unescape_os(&store_rel).ok_or_else(|| bad(n, "bad escape".into()))?))
        };
        let (n, store_abs) = field("store-abs")?;
        let store_abs = PathBuf::from(unescape_os(&store_abs).ok_or_else(|| bad(n, "bad escape".into()))?);
        let (n, purpose) = field("purpose")?;
        let purpose = parse_purpose(&purpose).ok_or_else(|| bad(n, format!("unknown purpose `{purpose}`")))?;
        let (n, root_mode) = field("root-mode")?;
        let root_mode = u32::from_str_radix(&root_mode, 8).map_err(|e| bad(n, e.to_string()))?;
        let (_, digest) = field("digest")?;
        let (n, file_count) = field("file-count")?;
        let file_count: usize = file_count.parse().map_err(|e| bad(n, format!("{e}")))?;
        let (n, bytes) = field("bytes")?;
        let bytes: u64 = bytes.parse().map_err(|e| bad(n, format!("{e}")))?;
        let (n, count) = field("entries")?;
        let count: usize = count.parse().map_err(|e| bad(n, format!("{e}")))?;
        let mut entries = Vec::with_capacity(count.min(1 << 24));
        for (n, line) in lines {
            entries.push(parse_entry(line).ok_or_else(|| bad(n, "malformed entry".into()))?);
        }
        if entries.len() != count {
            return Err(bad(
                0,
                format!("{} entries listed, header says {count}: the file is truncated", entries.len()),
            ));
        }
        let tree = Tree::from_entries(root_mode, entries).map_err(|m| bad(0, m))?;
        if tree.entries.iter().any(|e| e.rel.as_os_str() == OsStr::new(META_DIR)) {
            return Err(bad(0, format!("an entry is named `{META_DIR}`")));
        }
        let mut report = tree.report();
        if report.file_count != file_count || report.bytes != bytes || report.digest.as_deref() != Some(&digest) {
            return Err(bad(0, "counts or digest do not match the entries".into()));
        }
        report.digest = Some(digest);
        Ok(Self { store_id, store_rel, store_abs, purpose, tree, report })
    }

    /// Every object the manifest references.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Hash> {
        self.tree.entries.iter().filter_map(|e| match &e.kind {
            Kind::File { content: Content::Object(h), .. } => Some(h),
            _ => None,
        })
    }
}

pub(crate) fn parse_hash(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

fn parse_entry(line: &str) -> Option<Entry> {
    let mut parts = line.split('\t');
    let tag = parts.next()?;
    let entry = match tag {
        "D" => {
            let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
            let path = parts.next()?;
            Entry { rel: PathBuf::from(unescape_os(path)?), path: path.to_owned(), mode, kind: Kind::Dir }
        }
        "L" => {
            let target = PathBuf::from(unescape_os(parts.next()?)?);
            let path = parts.next()?;
            Entry {
                rel: PathBuf::from(unescape_os(path)?),
                path: path.to_owned(),
                mode: 0o777,
                kind: Kind::Symlink(target),
            }
        }
        "F" => {
            let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
            let size = parts.next()?.parse().ok()?;
            let secs = parts.next()?.parse().ok()?;
            let nanos = parts.next()?.parse().ok()?;
            let hash = parse_hash(parts.next()?)?;
            let path = parts.next()?;
            Entry {
                rel: PathBuf::from(unescape_os(path)?),
                path: path.to_owned(),
                mode,
                kind: Kind::File { size, mtime: Mtime { secs, nanos }, content: Content::Object(hash) },
            }
        }
        _ => return None,
    };
    // The path text must be exactly the escaped form of the path (no `\\` tricks, no `//`).
    if parts.next().is_some() || crate::escape::escape_os(entry.rel.as_os_str()) != entry.path {
        return None;
    }
    Some(entry)
}
