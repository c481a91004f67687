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

/// An entry as the property and crash tests compare it: exact bytes, mode, and file mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exact {
    Dir(u32),
    File { bytes: Vec<u8>, mode: u32, mtime: (i64, i64) },
    Link(Vec<u8>),
}

/// Every entry under `root` keyed by its exact relative path bytes, not following symlinks;
/// top-level names in `skip_top` are left out.
pub fn exact_tree(root: &Path, skip_top: &[&str]) -> Result<BTreeMap<Vec<u8>, Exact>, Box<dyn std::error::Error>> {
    let mut out = BTreeMap::new();
    exact_walk(root, Path::new(""), skip_top, &mut out)?;
    Ok(out)
}

fn exact_walk(
    dir: &Path,
    rel: &Path,
    skip_top: &[&str],
    out: &mut BTreeMap<Vec<u8>, Exact>,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if rel.as_os_str().is_empty() && skip_top.iter().any(|s| name == *s) {
            continue;
        }
        let path = entry.path();
        let child_rel = rel.join(&name);
        let key = child_rel.as_os_str().as_bytes().to_vec();
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.insert(key, Exact::Link(fs::read_link(&path)?.as_os_str().as_bytes().to_vec()));
        } else if meta.is_dir() {
            out.insert(key, Exact::Dir(mode));
            exact_walk(&path, &child_rel, skip_top, out)?;
        } else {
            out.insert(key, Exact::File { bytes: fs::read(&path)?, mode, mtime: (meta.mtime(), meta.mtime_nsec()) });
        }
    }
    Ok(())
}

/// `(device, inode)` of each regular file, keyed by its exact path bytes.
pub type InodeMap = BTreeMap<Vec<u8>, (u64, u64)>;

/// The inode numbers of every regular file under `root` (keyed by exact path bytes).
pub fn inodes(root: &Path, skip_top: &[&str]) -> Result<InodeMap, Box<dyn std::error::Error>> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    for (key, node) in exact_tree(root, skip_top)? {
        if matches!(node, Exact::File { .. }) {
            let p = root.join(std::ffi::OsStr::from_bytes(&key));
            let m = fs::symlink_metadata(p)?;
            out.insert(key, (m.ino(), m.nlink()));
        }
    }
    Ok(out)
}

/// A tiny deterministic generator (xorshift64*), so a failing case replays from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Names a random tree uses: spaces, non-UTF-8 bytes, unicode, dots, and names the policies
/// treat specially.
pub const NAMES: &[&[u8]] = &[
    b"a",
    b"b.txt",
    b"with space",
    b"caf\xe9",
    b"\xff\xfe",
    "ünï".as_bytes(),
    b".hidden",
    b"x.o",
    b"__pycache__",
    b".git",
    b"data.bin",
    b"tab\tname",
    b"back\\slash",
];

const FILE_MODES: &[u32] = &[0o644, 0o755, 0o600, 0o444, 0o700, 0o640];
const DIR_MODES: &[u32] = &[0o755, 0o700, 0o750, 0o555];
const TARGETS: &[&[u8]] = &[b"../outside", b"/etc/passwd", b"dangling", b"a", b"with space/b.txt", b"caf\xe9"];

/// Fills `root` with a random tree of about `budget` entries, at most 3 levels deep.
pub fn random_tree(root: &Path, rng: &mut Rng, budget: usize) -> TestResult {
    fs::create_dir_all(root)?;
    let mut left = budget;
    random_dir(root, rng, 0, &mut left)
}

fn random_dir(dir: &Path, rng: &mut Rng, depth: usize, left: &mut usize) -> TestResult {
    use std::os::unix::ffi::OsStrExt;
    let count = 1 + rng.below(6);
    let mut dirs = Vec::new();
    for _ in 0..count {
        if *left == 0 {
            break;
        }
        *left -= 1;
        let name = std::ffi::OsStr::from_bytes(rng.pick::<&[u8]>(NAMES));
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        match rng.below(10) {
            0..=5 => {
                let len = if rng.below(8) == 0 { 0 } else { 4096 };
                fs::write(&path, rng.bytes(len))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(*rng.pick(FILE_MODES)))?;
            }
            6..=7 if depth < 3 => {
                fs::create_dir(&path)?;
                dirs.push((path, *rng.pick(DIR_MODES)));
            }
            _ => {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(rng.pick::<&[u8]>(TARGETS)), &path)?;
            }
        }
    }
    for (path, mode) in dirs {
        random_dir(&path, rng, depth + 1, left)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Random edits: in-place writes, chmods, touches, deletions, additions, type changes.
pub fn mutate(root: &Path, rng: &mut Rng, edits: usize, skip_top: &[&str]) -> TestResult {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    for _ in 0..edits {
        let all: Vec<Vec<u8>> = exact_tree(root, skip_top)?.into_keys().collect();
        let target = if all.is_empty() || rng.below(5) == 0 {
            // A new entry somewhere.
            let parent = if all.is_empty() { Vec::new() } else { rng.pick(&all).clone() };
            let parent_path = root.join(std::ffi::OsStr::from_bytes(&parent));
            let base = if fs::symlink_metadata(&parent_path).is_ok_and(|m| m.is_dir()) {
                parent_path
            } else {
                root.to_path_buf()
            };
            let p = base.join(std::ffi::OsStr::from_bytes(rng.pick::<&[u8]>(NAMES)));
            if fs::symlink_metadata(&p).is_err() {
                fs::write(&p, rng.bytes(300))?;
            }
            continue;
        } else {
            root.join(std::ffi::OsStr::from_bytes(rng.pick(&all).as_slice()))
        };
        let Ok(meta) = fs::symlink_metadata(&target) else { continue };
        // Read-only directories do not stop root, but make sure the parent is writable anyway.
        if let Some(parent) = target.parent() {
            let _ = fs::set_permissions(parent, fs::Permissions::from_mode(0o755));
        }
        match rng.below(7) {
            0 if meta.is_file() => {
                // In place, through the existing inode.
                let mut f = fs::OpenOptions::new().write(true).open(&target)?;
                f.write_all(b"overwritten in place")?;
            }
            1 if meta.is_file() => fs::set_permissions(&target, fs::Permissions::from_mode(0o777))?,
            2 if meta.is_file() => {
                let f = fs::OpenOptions::new().write(true).open(&target)?;
                f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))?;
            }
            3 => remove_any(&target)?,
            4 => {
                remove_any(&target)?;
                fs::create_dir(&target)?;
                fs::write(target.join("inside"), b"new")?;
            }
            5 => {
                remove_any(&target)?;
                std::os::unix::fs::symlink("/tmp", &target)?;
            }
            _ => {
                remove_any(&target)?;
                fs::write(&target, rng.bytes(100))?;
            }
        }
    }
    Ok(())
}

pub fn remove_any(path: &Path) -> TestResult {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
        fs::remove_dir_all(path)?;
    } else {
        fs::remove_file(path)?;
    }
    Ok(())
}
