//! Copying a bundle — the eight artifact directories of a `.harnessgym/` and its `registry.json` —
//! into a room. The bundle is untrusted input (an agent or a person wrote it), so the copy
//! validates as it goes:
//!
//! - a symlink whose target is absolute, contains a `..` component, or would resolve outside the
//!   bundle is **refused**: it is not created in the room, and a [`Refusal`] names it and says why;
//! - sockets, fifos and devices are refused the same way;
//! - a `registry.json` that is a symlink is refused; registry entries whose `path` is absolute or
//!   contains `..` are refused (the qualifier drops them from the room's registry, so activation
//!   never touches the path, and fails the artifact with the refusal as its reason);
//! - `__pycache__` directories and `.pyc` / `.pyo` files are skipped (caches, not artifacts).
//!
//! Every write lands under `<room>/.harnessgym/`: names come from directory listings (never `..`),
//! destination directories are created fresh (never written through a symlink), and symlinks
//! are only recreated when their target stays inside the bundle.
//!
//! This is deliberately not `harnessgym_snapshot::copy_tree`: snapshots copy symlinks verbatim
//! (a faithful copy of the user's own workspace); a bundle copy must reject them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::registry::{ARTIFACT_DIRS, Registry};
use serde::{Deserialize, Serialize};

/// The bundle directory name inside a workspace or room.
pub const BUNDLE_DIR: &str = ".harnessgym";

/// Something in the bundle that was not copied, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Room-relative path of the refused entry (`.harnessgym/tools/x`), or the registry entry's
    /// `path` exactly as written for a refused registry path.
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused {}: {}", self.path, self.reason)
    }
}

/// What [`copy_bundle`] copied and refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BundleCopy {
    /// Sorted room-relative paths of the files and (safe) symlinks copied, including
    /// `.harnessgym/registry.json` when present.
    pub files: Vec<String>,
    /// Refused entries, in discovery order.
    pub refused: Vec<Refusal>,
    /// Whether the bundle had a `registry.json` (copied).
    pub has_registry: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "bundle {path} not found: pass a workspace that has a .harnessgym/ directory, or the .harnessgym/ directory itself"
    )]
    NotFound { path: Utf8PathBuf },
    #[error("could not {op} {path}: {source}")]
    Io { op: &'static str, path: String, source: std::io::Error },
    #[error("refusing to copy a bundle into {path}: it is a symlink (rooms hold real files)")]
    DestinationSymlink { path: Utf8PathBuf },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError {
    let path = path.display().to_string();
    move |source| BundleError::Io { op, path, source }
}

/// The `.harnessgym/` directory of `path`: `path/.harnessgym` when it exists, else `path` itself
/// when it is a directory (a bundle passed directly).
pub fn locate(path: &Utf8Path) -> Result<Utf8PathBuf, BundleError> {
    let inner = path.join(BUNDLE_DIR);
    if inner.is_dir() {
        return Ok(inner);
    }
    if path.is_dir() {
        return Ok(path.to_owned());
    }
    Err(BundleError::NotFound { path: path.to_owned() })
}

/// `true` when a registry path may be used inside a room: relative and without `..`
/// ([`harnessgym_types::confine::check_relative`], the rule activation applies too).
pub fn registry_path_is_safe(path: &str) -> bool {
    harnessgym_types::confine::check_relative(Utf8Path::new(path)).is_ok()
}

/// Why a registry path is refused, or `None` when it is safe
/// ([`harnessgym_types::confine::registry_path_refusal`]).
pub fn registry_path_refusal(path: &str) -> Option<String> {
    harnessgym_types::confine::registry_path_refusal(path)
}

/// Why a symlink at bundle-relative `link_rel` with `target` is refused, or `None` when its
/// target stays inside the bundle (relative, no `..`).
fn symlink_refusal(link_rel: &Path, target: &Path) -> Option<String> {
    let shown = target.display();
    if target.is_absolute() {
        return Some(format!("symlink target {shown} is absolute; bundle symlinks must point inside the bundle"));
    }
    if !target.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    // Lexical resolution from the link's directory, to say which rule it breaks.
    let mut depth: Vec<Component<'_>> = link_rel.parent().map(|p| p.components().collect()).unwrap_or_default();
    let mut escapes = false;
    for c in target.components() {
        match c {
            Component::ParentDir => {
                if depth.pop().is_none() {
                    escapes = true;
                    break;
                }
            }
            Component::CurDir => {}
            other => depth.push(other),
        }
    }
    Some(if escapes {
        format!("symlink target {shown} resolves outside the bundle")
    } else {
        format!("symlink target {shown} contains a '..' component; bundle symlinks must point down into the bundle")
    })
}

fn skipped_cache(name: &str, is_dir: bool) -> bool {
    if is_dir { name == "__pycache__" } else { name.ends_with(".pyc") || name.ends_with(".pyo") }
}

/// Removes whatever is at `path` (a directory tree, a file or a symlink — never following it).
pub(crate) fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

struct Copier {
    files: BTreeSet<String>,
    refused: Vec<Refusal>,
}

impl Copier {
    /// Copies the entry `src` (bundle-relative `rel`) to `dest`, which does not exist yet.
    fn copy_entry(&mut self, src: &Path, dest: &Path, rel: &Path) -> Result<(), BundleError> {
        let meta = fs::symlink_metadata(src).map_err(io("inspect", src))?;
        let ft = meta.file_type();
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = format!("{BUNDLE_DIR}/{}", rel.display());
        if ft.is_symlink() {
            let target = fs::read_link(src).map_err(io("read symlink", src))?;
            match symlink_refusal(rel, &target) {
                Some(reason) => {
                    tracing::warn!(path = %shown, %reason, "refused a bundle symlink");
                    self.refused.push(Refusal { path: shown, reason });
                }
                None => {
                    std::os::unix::fs::symlink(&target, dest).map_err(io("create symlink", dest))?;
                    self.files.insert(shown);
                }
            }
        } else if ft.is_dir() {
            if skipped_cache(&name, true) {
                return Ok(());
            }
            fs::create_dir(dest).map_err(io("create directory", dest))?;
            let mut names: Vec<_> = fs::read_dir(src)
                .map_err(io("read directory", src))?
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for child in names {
                self.copy_entry(&src.join(&child), &dest.join(&child), &rel.join(&child))?;
            }
            fs::set_permissions(dest, meta.permissions()).map_err(io("set permissions of", dest))?;
        } else if ft.is_file() {
            if skipped_cache(&name, false) {
                return Ok(());
            }
            fs::copy(src, dest).map_err(io("copy", src))?;
            self.files.insert(shown);
        } else {
            self.refused.push(Refusal {
                path: shown,
                reason: "not a regular file, directory or symlink (socket, fifo or device)".into(),
            });
        }
        Ok(())
    }
}

/// Copies the bundle at `bundle` (a `.harnessgym/` directory) into `<room>/.harnessgym/`: each of
/// the eight artifact directories present in the bundle replaces the room's, then
/// `registry.json` is copied. Hostile entries are refused (see the module docs) and reported;
/// I/O failures are errors.
pub fn copy_bundle(bundle: &Utf8Path, room: &Utf8Path) -> Result<BundleCopy, BundleError> {
    if !bundle.is_dir() {
        return Err(BundleError::NotFound { path: bundle.to_owned() });
    }
    let dest_root = room.join(BUNDLE_DIR);
    match fs::symlink_metadata(&dest_root) {
        Ok(m) if m.file_type().is_symlink() => return Err(BundleError::DestinationSymlink { path: dest_root }),
        Ok(m) if !m.is_dir() => fs::remove_file(&dest_root).map_err(io("remove", dest_root.as_std_path()))?,
        Ok(_) => {}
        Err(_) => fs::create_dir_all(&dest_root).map_err(io("create directory", dest_root.as_std_path()))?,
    }
    let mut copier = Copier { files: BTreeSet::new(), refused: Vec::new() };
    for (_, dir) in ARTIFACT_DIRS {
        let src = bundle.join(dir);
        if fs::symlink_metadata(&src).is_err() {
            continue;
        }
        let dest = dest_root.join(dir);
        remove_any(dest.as_std_path()).map_err(io("remove", dest.as_std_path()))?;
        copier.copy_entry(src.as_std_path(), dest.as_std_path(), Path::new(dir))?;
    }

    let registry_src = bundle.join("registry.json");
    let registry_dest = dest_root.join("registry.json");
    remove_any(registry_dest.as_std_path()).map_err(io("remove", registry_dest.as_std_path()))?;
    let mut has_registry = false;
    match fs::symlink_metadata(&registry_src) {
        Err(_) => {}
        Ok(m) if m.is_file() => {
            fs::copy(&registry_src, &registry_dest).map_err(io("copy", registry_src.as_std_path()))?;
            copier.files.insert(format!("{BUNDLE_DIR}/registry.json"));
            has_registry = true;
            copier.refused.extend(refused_registry_paths(&registry_dest));
        }
        Ok(_) => copier.refused.push(Refusal {
            path: format!("{BUNDLE_DIR}/registry.json"),
            reason:
                "registry.json is not a regular file (a symlink or special file); write the registry as a plain file"
                    .into(),
        }),
    }
    let Copier { files, refused } = copier;
    Ok(BundleCopy { files: files.into_iter().collect(), refused, has_registry })
}

/// Refusals for the entries of the registry file at `path` whose `path` is absolute or has `..`.
fn refused_registry_paths(path: &Utf8Path) -> Vec<Refusal> {
    let Ok(Some(value)) = harnessgym_types::json::read_value(path) else {
        return Vec::new();
    };
    let Ok(registry) = Registry::from_value(value) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    registry
        .artifacts
        .iter()
        .filter_map(|a| registry_path_refusal(&a.path).map(|reason| (a.path.clone(), reason)))
        .filter(|(p, _)| seen.insert(p.clone()))
        .map(|(path, reason)| Refusal { path, reason })
        .collect()
}
