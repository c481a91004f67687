//! Which paths a copy leaves out: [`Purpose`] + `.harnessgymignore` = [`CopyPolicy`].

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path};

use camino::Utf8Path;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::SnapshotError;

/// Name of the optional per-workspace ignore file (gitignore syntax).
pub const IGNORE_FILE: &str = ".harnessgymignore";

/// Entry names excluded at any depth by [`Purpose::Copy`].
pub const COPY_EXCLUDED_NAMES: &[&str] =
    &[".agents", ".claude", ".codex", ".git", ".harnessgym", ".harnessgym_build", ".pytest_cache", "__pycache__"];

/// File-name suffixes excluded by [`Purpose::Copy`] (files and symlinks only, never directories).
/// `.so` and `.dylib` are deliberately absent: built libraries are part of the result.
pub const COPY_EXCLUDED_SUFFIXES: &[&str] = &[".o", ".pyc", ".pyo"];

/// Entry names excluded at any depth by [`Purpose::AgentMirror`]: [`COPY_EXCLUDED_NAMES`]
/// without the harness and agent directories, which the agent needs beside the task.
pub const AGENT_MIRROR_EXCLUDED_NAMES: &[&str] = &[".git", ".harnessgym_build", ".pytest_cache", "__pycache__"];

/// Top-level entries excluded by [`Purpose::TaskState`].
pub const TASK_STATE_EXCLUDED_TOP_LEVEL: &[&str] = &[".harnessgym", ".agents", ".claude", ".codex"];

/// What a copy is for; decides the built-in exclusions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Task-state snapshot/reset: everything except the top-level harness/agent directories
    /// (`.git` included, nested caches included).
    TaskState,
    /// Checkpoints, qualification template and rooms, compare copies: no VCS, agent, harness or
    /// cache directories at any depth, no object/bytecode files.
    Copy,
    /// The mirror of the workspace an agent works in on another host: as [`Purpose::Copy`], but
    /// the harness and agent directories (`.harnessgym`, `.agents`, `.claude`, `.codex`) travel.
    AgentMirror,
}

/// A compiled exclusion policy: a [`Purpose`] plus the workspace's `.harnessgymignore`.
#[derive(Debug, Clone)]
pub struct CopyPolicy {
    purpose: Purpose,
    ignore: Gitignore,
    /// The `.harnessgymignore` text the policy was built from (journals record it so a restore
    /// finished by a later process uses the very same policy).
    ignore_text: Option<String>,
}

impl CopyPolicy {
    /// Loads `<workspace>/.harnessgymignore` (gitignore syntax) if present; a malformed file is an
    /// error naming the file and the bad line.
    pub fn load(workspace: &Utf8Path, purpose: Purpose) -> Result<Self, SnapshotError> {
        let path = workspace.as_std_path().join(IGNORE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(SnapshotError::IgnoreFileUnreadable { path, source }),
        };
        Self::from_text(workspace.as_std_path(), purpose, text)
    }

    /// The policy of a directory that may be a store snapshot: for a snapshot, the
    /// `.harnessgymignore` it captured (read from the store, so snapshots without a view work
    /// too); for a plain directory, [`CopyPolicy::load`].
    pub fn load_from_snapshot(snapshot: &Utf8Path, purpose: Purpose) -> Result<Self, SnapshotError> {
        if !crate::Store::is_snapshot(snapshot.as_std_path()) {
            return Self::load(snapshot, purpose);
        }
        let bytes = crate::store::snapshot_file(snapshot.as_std_path(), IGNORE_FILE)?;
        let text = bytes.map(|b| String::from_utf8_lossy(&b).into_owned());
        Self::from_text(snapshot.as_std_path(), purpose, text)
    }

    /// A policy from `.harnessgymignore` text (or none), as [`CopyPolicy::load`] builds it.
    pub(crate) fn from_text(workspace: &Path, purpose: Purpose, text: Option<String>) -> Result<Self, SnapshotError> {
        let path = workspace.join(IGNORE_FILE);
        let mut builder = GitignoreBuilder::new(workspace);
        if let Some(text) = &text {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            for (idx, line) in text.lines().enumerate() {
                if let Err(e) = builder.add_line(Some(path.clone()), line) {
                    return Err(SnapshotError::BadIgnoreFile {
                        path,
                        line: idx + 1,
                        text: line.to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        }
        let ignore = builder.build().map_err(|e| SnapshotError::BadIgnoreFile {
            path: path.clone(),
            line: 0,
            text: String::new(),
            message: e.to_string(),
        })?;
        tracing::debug!(
            workspace = %workspace.display(),
            ?purpose,
            patterns = ignore.num_ignores() + ignore.num_whitelists(),
            "loaded copy policy"
        );
        Ok(Self { purpose, ignore, ignore_text: text })
    }

    /// A policy with only the built-in exclusions of `purpose` (no `.harnessgymignore`).
    pub fn builtin(purpose: Purpose) -> Self {
        Self { purpose, ignore: Gitignore::empty(), ignore_text: None }
    }

    /// The `.harnessgymignore` text this policy was built from, if any.
    pub(crate) fn ignore_text(&self) -> Option<&str> {
        self.ignore_text.as_deref()
    }

    /// The purpose this policy was built for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// `rel` is relative to the workspace root. `is_dir` is true only for real directories
    /// (a symlink to a directory is not a directory here: it is never followed).
    pub fn is_excluded(&self, rel: &Path, is_dir: bool) -> bool {
        let mut names = rel.components().filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        });
        let builtin = match self.purpose {
            Purpose::TaskState => {
                names.next().is_some_and(|first| TASK_STATE_EXCLUDED_TOP_LEVEL.iter().any(|n| OsStr::new(n) == first))
            }
            Purpose::Copy | Purpose::AgentMirror => {
                let excluded =
                    if self.purpose == Purpose::Copy { COPY_EXCLUDED_NAMES } else { AGENT_MIRROR_EXCLUDED_NAMES };
                let mut last = None;
                let by_name = names.any(|name| {
                    last = Some(name);
                    excluded.iter().any(|n| OsStr::new(n) == name)
                });
                by_name
                    || (!is_dir
                        && last.is_some_and(|name| {
                            let bytes = name.as_encoded_bytes();
                            COPY_EXCLUDED_SUFFIXES.iter().any(|s| bytes.ends_with(s.as_bytes()))
                        }))
            }
        };
        builtin || self.ignored(rel, is_dir)
    }

    fn ignored(&self, rel: &Path, is_dir: bool) -> bool {
        if self.ignore.is_empty() || rel.has_root() || rel.as_os_str().is_empty() {
            return false;
        }
        self.ignore.matched_path_or_any_parents(rel, is_dir).is_ignore()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn copy() -> CopyPolicy {
        CopyPolicy::builtin(Purpose::Copy)
    }

    fn task() -> CopyPolicy {
        CopyPolicy::builtin(Purpose::TaskState)
    }

    #[test]
    fn copy_excludes_names_at_any_depth() {
        for name in COPY_EXCLUDED_NAMES {
            assert!(copy().is_excluded(Path::new(name), true), "{name}");
            assert!(copy().is_excluded(&Path::new("a/b").join(name), true), "{name}");
            assert!(copy().is_excluded(&Path::new("a").join(name).join("x.txt"), false), "{name}");
        }
        assert!(!copy().is_excluded(Path::new("src/main.rs"), false));
        assert!(!copy().is_excluded(Path::new(".github"), true));
    }

    #[test]
    fn copy_suffixes_apply_to_files_only() {
        assert!(copy().is_excluded(Path::new("a/x.o"), false));
        assert!(copy().is_excluded(Path::new("x.pyc"), false));
        assert!(copy().is_excluded(Path::new("x.pyo"), false));
        assert!(!copy().is_excluded(Path::new("a/x.o"), true));
        assert!(!copy().is_excluded(Path::new("a/libx.so"), false));
        assert!(!copy().is_excluded(Path::new("a/libx.dylib"), false));
        assert!(!copy().is_excluded(Path::new("a/x.oo"), false));
        assert!(!copy().is_excluded(Path::new("a/x.o/y.txt"), false));
    }

    #[test]
    fn task_state_excludes_only_top_level_harness_dirs() {
        for name in TASK_STATE_EXCLUDED_TOP_LEVEL {
            assert!(task().is_excluded(Path::new(name), true), "{name}");
            assert!(task().is_excluded(&Path::new(name).join("f"), false), "{name}");
            assert!(!task().is_excluded(&Path::new("sub").join(name), true), "{name}");
        }
        assert!(!task().is_excluded(Path::new(".git"), true));
        assert!(!task().is_excluded(Path::new("src/__pycache__/x.pyc"), false));
        assert!(!task().is_excluded(Path::new("x.o"), false));
    }

    #[test]
    fn ignore_file_patterns_apply_to_paths_and_their_children() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = Utf8Path::from_path(dir.path()).ok_or("non-utf8 tempdir")?;
        std::fs::write(root.join(IGNORE_FILE), "# comment\n/data/*.bin\nscratch/\n*.log\n!keep.log\n")?;
        let p = CopyPolicy::load(root, Purpose::TaskState)?;
        assert!(p.is_excluded(Path::new("data/cache.bin"), false));
        assert!(!p.is_excluded(Path::new("sub/data/cache.bin"), false));
        assert!(p.is_excluded(Path::new("scratch"), true));
        assert!(!p.is_excluded(Path::new("scratch"), false));
        assert!(p.is_excluded(Path::new("a/scratch/deep/f.txt"), false));
        assert!(p.is_excluded(Path::new("x/run.log"), false));
        assert!(!p.is_excluded(Path::new("keep.log"), false));
        assert!(!p.is_excluded(Path::new("data"), true));
        Ok(())
    }

    #[test]
    fn missing_ignore_file_is_fine() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = Utf8Path::from_path(dir.path()).ok_or("non-utf8 tempdir")?;
        let p = CopyPolicy::load(root, Purpose::Copy)?;
        assert!(!p.is_excluded(Path::new("a/b.txt"), false));
        assert_eq!(p.purpose(), Purpose::Copy);
        Ok(())
    }

    #[test]
    fn malformed_ignore_file_names_file_and_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = Utf8Path::from_path(dir.path()).ok_or("non-utf8 tempdir")?;
        std::fs::write(root.join(IGNORE_FILE), "ok.txt\nbad[z-a\n")?;
        let err = CopyPolicy::load(root, Purpose::Copy).err().ok_or("expected an error")?;
        let msg = err.to_string();
        assert!(msg.contains(IGNORE_FILE), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("bad[z-a"), "{msg}");
        Ok(())
    }

    #[test]
    fn absolute_or_empty_paths_do_not_panic() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = Utf8Path::from_path(dir.path()).ok_or("non-utf8 tempdir")?;
        std::fs::write(root.join(IGNORE_FILE), "*.bin\n")?;
        let p = CopyPolicy::load(root, Purpose::Copy)?;
        assert!(!p.is_excluded(Path::new(""), true));
        assert!(!p.is_excluded(Path::new("/abs/x.bin"), false));
        Ok(())
    }

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}",
            proptest::sample::select(COPY_EXCLUDED_NAMES).prop_map(str::to_owned),
            "[a-z]{1,4}\\.(so|dylib|o|pyc|pyo|txt)",
        ]
        .prop_filter("no dot components", |s| s != "." && s != "..")
    }

    /// Near-valid `.harnessgymignore` text: lines made of gitignore's special characters
    /// (unclosed classes, escapes, negations, `**`, BOM, CR, trailing spaces) and names.
    pub(crate) fn near_ignore_text() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(
            &[
                "*", "**", "**/", "/", "!", "\\", "\\ ", "#", " ", "[", "]", "[a-", "[!a]", "[]", "{a,b}", "?", "\r",
                "\u{feff}", "a", "dir/", ".git", "x.pyc", "é", "\\!", "\\#",
            ][..],
        );
        let line = proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat());
        proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        /// Arbitrary text (bytes read lossily, as a snapshot's ignore file is) and near-valid
        /// gitignore text: a policy, or `BadIgnoreFile` naming a line of the text and that
        /// line, with a message; a policy built answers `is_excluded` and renders rsync rules.
        #[test]
        fn ignore_text_is_a_policy_or_an_error_naming_the_line(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            near in near_ignore_text(),
            parts in proptest::collection::vec(component(), 1..4),
            is_dir: bool,
        ) {
            let root = Path::new("/ws");
            for text in [String::from_utf8_lossy(&bytes).into_owned(), near] {
                match CopyPolicy::from_text(root, Purpose::Copy, Some(text.clone())) {
                    Ok(p) => {
                        let rel: PathBuf = parts.iter().collect();
                        let _ = p.is_excluded(&rel, is_dir);
                        let _ = p.rsync_rules();
                    }
                    Err(e) => {
                        prop_assert!(!e.to_string().is_empty());
                        let SnapshotError::BadIgnoreFile { line, text: bad, message, .. } = e else {
                            return Err(TestCaseError::fail(format!("not BadIgnoreFile: {e}")));
                        };
                        prop_assert!(!message.is_empty());
                        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
                        prop_assert_eq!(body.lines().nth(line.wrapping_sub(1)), Some(bad.as_str()));
                    }
                }
            }
        }

        #[test]
        fn excluded_name_component_always_excluded_under_copy(
            parts in proptest::collection::vec(component(), 1..6),
            is_dir: bool,
        ) {
            let rel: PathBuf = parts.iter().collect();
            let has_excluded = parts.iter().any(|p| COPY_EXCLUDED_NAMES.contains(&p.as_str()));
            if has_excluded {
                prop_assert!(copy().is_excluded(&rel, is_dir));
            }
        }

        #[test]
        fn so_and_dylib_never_excluded_by_suffix(
            parts in proptest::collection::vec("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}", 0..5),
            stem in "[a-zA-Z0-9_.-]{0,8}",
            ext in proptest::sample::select(vec![".so", ".dylib", ".so.1"]),
            is_dir: bool,
        ) {
            prop_assume!(parts.iter().all(|p| !COPY_EXCLUDED_NAMES.contains(&p.as_str())));
            let mut rel: PathBuf = parts.iter().collect();
            rel.push(format!("{stem}{ext}"));
            prop_assert!(!copy().is_excluded(&rel, is_dir));
        }
    }
}
