//! Files for tests: canonical UTF-8 temp directories, writing with parents, reading JSON.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

/// A new temp directory and its canonical UTF-8 path (so paths a program prints match the
/// test's). The directory is removed when the returned guard is dropped.
pub fn canonical_tempdir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().expect("canonicalize")).expect("utf-8 tempdir");
    (dir, root)
}

/// Writes `bytes` to `path`, creating its parent directories.
pub fn write_file(path: &Utf8Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {parent}: {e}"));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// The JSON document at `path` (panics naming the file when it is missing or not JSON).
pub fn read_json(path: &Utf8Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON ({e}):\n{text}"))
}
