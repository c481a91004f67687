//! Helpers shared by the integration tests: real files in tempdirs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A tempdir with a UTF-8 path.
pub struct Tmp {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
}

impl Tmp {
    pub fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root =
            Utf8PathBuf::from_path_buf(dir.path().canonicalize()?).map_err(|p| format!("non-utf8 tempdir {p:?}"))?;
        Ok(Self { _dir: dir, root })
    }

    pub fn path(&self, rel: &str) -> Utf8PathBuf {
        self.root.join(rel)
    }
}

pub fn write(root: &Utf8Path, rel: &str, content: &str) -> TestResult {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, content)?;
    Ok(())
}

pub fn read(root: &Utf8Path, rel: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(fs::read_to_string(root.join(rel))?)
}

pub fn symlink(target: &str, root: &Utf8Path, rel: &str) -> TestResult {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    std::os::unix::fs::symlink(target, path)?;
    Ok(())
}

pub fn exists(root: &Utf8Path, rel: &str) -> bool {
    fs::symlink_metadata(root.join(rel)).is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir(u32),
    File(Vec<u8>, u32),
    Link(PathBuf),
}

/// Every entry under `root` (not following symlinks), keyed by lossy posix relative path.
pub fn tree(root: &Utf8Path) -> Result<BTreeMap<String, Node>, Box<dyn std::error::Error>> {
    let mut out = BTreeMap::new();
    walk(root.as_std_path(), Path::new(""), &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<String, Node>) -> TestResult {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let child_rel = rel.join(entry.file_name());
        let key = child_rel.to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.insert(key, Node::Link(fs::read_link(&path)?));
        } else if meta.is_dir() {
            out.insert(key, Node::Dir(mode));
            walk(&path, &child_rel, out)?;
        } else {
            out.insert(key, Node::File(fs::read(&path)?, mode));
        }
    }
    Ok(())
}

/// A workspace with a bit of everything.
pub fn sample_workspace(ws: &Utf8Path) -> TestResult {
    write(ws, "README.md", "hello\n")?;
    write(ws, "src/main.py", "print(1)\n")?;
    write(ws, "src/__pycache__/main.cpython-312.pyc", "bytecode")?;
    write(ws, "src/deep/nested/__pycache__/m.pyc", "bytecode")?;
    write(ws, "src/mod.pyc", "bytecode")?;
    write(ws, "src/mod.pyo", "bytecode")?;
    write(ws, "build/obj/a.o", "object")?;
    write(ws, "build/libfoo.so", "shared")?;
    write(ws, "build/libfoo.dylib", "shared")?;
    write(ws, ".git/HEAD", "ref: refs/heads/main\n")?;
    write(ws, "vendor/dep/.git/HEAD", "ref\n")?;
    write(ws, ".harnessgym/state.json", "{}")?;
    write(ws, ".harnessgym_build/x", "x")?;
    write(ws, ".agents/a.md", "a")?;
    write(ws, ".claude/settings.json", "{}")?;
    write(ws, ".codex/config.toml", "")?;
    write(ws, "sub/.claude/inner.json", "{}")?;
    write(ws, "sub/.harnessgym/inner", "i")?;
    write(ws, "tests/.pytest_cache/v", "v")?;
    Ok(())
}
