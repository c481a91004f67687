//! Helpers: the real binary as a child process, workspaces in tempdirs.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A tempdir with a canonical path (so the paths the binary prints match ours).
pub struct Tmp {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Tmp {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        Self { _dir: dir, root }
    }

    /// `<root>/<rel>`, created as a directory.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let path = self.root.join(rel);
        fs::create_dir_all(&path).expect("create dir");
        path
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, text).expect("write file");
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `harnessgym` (the real binary), run from `cwd` so nothing lands in the repository.
pub fn harnessgym(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("harnessgym").expect("harnessgym binary");
    cmd.current_dir(cwd).env_remove("RUST_LOG");
    cmd
}

/// The binary's path, for tests that need a `std::process::Child`.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_harnessgym")
}

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run harnessgym");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Sorted names of the entries of `dir` (recursively, relative paths).
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            out.push(path.strip_prefix(root).expect("under root").display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The only run directory under `<ws>/.harnessgym/runs/`.
pub fn only_run_dir(ws: &Path) -> PathBuf {
    let runs: Vec<PathBuf> =
        fs::read_dir(ws.join(".harnessgym/runs")).expect("runs dir").map(|e| e.expect("dir entry").path()).collect();
    assert_eq!(runs.len(), 1, "expected one run dir, found {runs:?}");
    runs.into_iter().next().expect("one run dir")
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The run id printed on the `Run id:` line.
pub fn printed_run_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Run id: "))
        .unwrap_or_else(|| panic!("no `Run id:` line in {stdout:?}"))
        .to_owned()
}

/// Replaces the run id and temp paths with stable placeholders.
pub fn redact(text: &str, run_id: &str, tmp: &Tmp) -> String {
    text.replace(run_id, "[RUN_ID]").replace(s(&tmp.root), "[TMP]")
}

/// `YYYYMMDDTHHMMSSZ-<8 hex>`.
pub fn is_generated_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    id.len() == 25
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A workspace `<tmp>/ws` with a `task.md`.
pub fn workspace_with_task(tmp: &Tmp, task: &str) -> PathBuf {
    let ws = tmp.dir("ws");
    write(&ws.join("task.md"), task);
    ws
}
