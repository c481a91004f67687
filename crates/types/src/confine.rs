//! Confinement: resolving a path that untrusted input names (a registry path, a manifest `cwd`, a
//! directory activation writes into) *inside* a root — the workspace or a room — without ever
//! following a symlink out of it.
//!
//! [`check_relative`] is the lexical rule (relative, no `..`); [`resolve_inside`] adds the file
//! system rule: no existing component below the root may be a symlink. Both qualification's
//! bundle copy and activation use them, so "inside the workspace" means one thing.
//!
//! Only `lstat` is used (a symlink is never followed, its target never read); a component that
//! does not exist yet ends the walk (nothing below it can be a symlink).

use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

/// Why a path is not confined to its root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Escape {
    /// The path is absolute (and, for [`resolve_inside`], not under the root).
    #[error("{path} is outside {root}")]
    Absolute {
        /// The path as given.
        path: String,
        /// The root it had to stay in.
        root: String,
    },
    /// The path has a `..` component.
    #[error("{path} contains '..'; it must stay inside {root}")]
    ParentDir {
        /// The path as given.
        path: String,
        /// The root it had to stay in.
        root: String,
    },
    /// A component of the path is a symlink (which could lead anywhere).
    #[error("{component} is a symlink; nothing is read or written through it")]
    Symlink {
        /// The path as given.
        path: String,
        /// The symlinked component, absolute.
        component: Utf8PathBuf,
    },
}

/// The lexical problem of a root-relative path, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexical {
    /// Absolute (or a Windows prefix).
    Absolute,
    /// Has a `..` component.
    ParentDir,
}

/// `Ok` when `path` is relative and has no `..` component (`.` components are fine).
pub fn check_relative(path: &Utf8Path) -> Result<(), Lexical> {
    if path.is_absolute() || path.components().any(|c| matches!(c, Utf8Component::Prefix(_) | Utf8Component::RootDir)) {
        return Err(Lexical::Absolute);
    }
    if path.components().any(|c| matches!(c, Utf8Component::ParentDir)) {
        return Err(Lexical::ParentDir);
    }
    Ok(())
}

/// Why a registry path is refused (absolute, or with `..`), worded for the user; `None` when it
/// is relative and stays down. Qualification's bundle copy and activation both refuse with it.
pub fn registry_path_refusal(path: &str) -> Option<String> {
    match check_relative(Utf8Path::new(path)) {
        Ok(()) => None,
        Err(Lexical::Absolute) => Some(format!(
            "registry path {path:?} is absolute; registry paths are relative to the workspace, e.g. .harnessgym/tools/probe.py"
        )),
        Err(Lexical::ParentDir) => {
            Some(format!("registry path {path:?} contains '..'; registry paths must stay inside the workspace"))
        }
    }
}

/// Resolves `path` inside `root` without following symlinks: `path` is relative (or absolute but
/// lexically under `root`, without `..`), and no existing component of it below `root` is a
/// symlink. Returns the absolute path (`root` joined with the normal components).
///
/// `root` itself is trusted as given (it may contain symlinks above the confined part).
pub fn resolve_inside(root: &Utf8Path, path: &Utf8Path) -> Result<Utf8PathBuf, Escape> {
    let shown = path.to_string();
    let escape_root = root.to_string();
    let relative = if path.is_absolute() {
        match path.strip_prefix(root) {
            Ok(rel) => rel,
            Err(_) => return Err(Escape::Absolute { path: shown, root: escape_root }),
        }
    } else {
        path
    };
    match check_relative(relative) {
        Ok(()) => {}
        Err(Lexical::Absolute) => return Err(Escape::Absolute { path: shown, root: escape_root }),
        Err(Lexical::ParentDir) => return Err(Escape::ParentDir { path: shown, root: escape_root }),
    }
    let mut out = root.to_owned();
    let mut missing = false;
    for component in relative.components() {
        let Utf8Component::Normal(name) = component else { continue };
        out.push(name);
        if missing {
            continue;
        }
        match std::fs::symlink_metadata(&out) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Escape::Symlink { path: shown, component: out });
            }
            Ok(_) => {}
            // Nothing exists from here down, so nothing below can be a symlink.
            Err(_) => missing = true,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        (dir, root)
    }

    #[test]
    fn lexical_rule() {
        assert_eq!(check_relative(Utf8Path::new(".harnessgym/skills/k")), Ok(()));
        assert_eq!(check_relative(Utf8Path::new("./a")), Ok(()));
        assert_eq!(check_relative(Utf8Path::new("/etc")), Err(Lexical::Absolute));
        assert_eq!(check_relative(Utf8Path::new("a/../b")), Err(Lexical::ParentDir));
        assert_eq!(check_relative(Utf8Path::new("..")), Err(Lexical::ParentDir));
    }

    #[test]
    fn plain_paths_resolve_even_when_missing() {
        let (_d, root) = root();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(resolve_inside(&root, Utf8Path::new("a/b/c/d")).unwrap(), root.join("a/b/c/d"));
        assert_eq!(resolve_inside(&root, Utf8Path::new("./x/./y")).unwrap(), root.join("x/y"));
        assert_eq!(resolve_inside(&root, Utf8Path::new("")).unwrap(), root);
        assert_eq!(resolve_inside(&root, &root.join("a")).unwrap(), root.join("a"));
    }

    #[test]
    fn escapes_are_refused() {
        let (_d, root) = root();
        assert!(matches!(resolve_inside(&root, Utf8Path::new("/")), Err(Escape::Absolute { .. })));
        assert!(matches!(resolve_inside(&root, Utf8Path::new("../..")), Err(Escape::ParentDir { .. })));
        assert!(matches!(resolve_inside(&root, &root.join("a/../..")), Err(Escape::ParentDir { .. })));
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink("/tmp", root.join("a/out")).unwrap();
        std::os::unix::fs::symlink("a", root.join("in")).unwrap();
        let err = resolve_inside(&root, Utf8Path::new("a/out/x")).unwrap_err();
        assert_eq!(err, Escape::Symlink { path: "a/out/x".into(), component: root.join("a/out") });
        assert!(err.to_string().contains("is a symlink"), "{err}");
        // Even a symlink that stays inside: it is never followed.
        assert!(matches!(resolve_inside(&root, Utf8Path::new("in")), Err(Escape::Symlink { .. })));
    }
}
