//! Helpers shared by the integration tests.

// Test-only helpers: panicking on a broken fixture is the right failure mode.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::CommandSpec;
use harnessgym_test_support::fs::canonical_tempdir;

/// A scratch directory with `out.txt` / `err.txt` paths inside.
pub struct Scratch {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let (dir, root) = canonical_tempdir();
        Self { _dir: dir, root }
    }

    pub fn out(&self) -> Utf8PathBuf {
        self.root.join("out.txt")
    }

    pub fn err(&self) -> Utf8PathBuf {
        self.root.join("err.txt")
    }

    pub fn path(&self, name: &str) -> Utf8PathBuf {
        self.root.join(name)
    }

    /// `sh -c <script>` in the scratch dir, output to out.txt/err.txt.
    pub fn sh(&self, script: &str) -> CommandSpec {
        CommandSpec::shell(script, &self.root, self.out(), self.err())
    }

    pub fn read(&self, path: &Utf8Path) -> Vec<u8> {
        std::fs::read(path).expect("read output file")
    }
}

pub use harnessgym_test_support::bounded;

/// Waits for a pid file written by a test script and parses it.
pub async fn read_pid_file(path: &Utf8Path) -> i32 {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("pid file {path} never appeared");
}

pub use harnessgym_test_support::process::{is_dead, wait_dead};

/// Kills a leftover process so a failing test does not leak `sleep 300`.
pub fn cleanup(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}

/// Whether our own process still has `pid` as an unreaped child.
pub fn is_our_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after_comm = &stat[stat.rfind(')').expect("stat has comm") + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next().expect("state");
    let ppid: u32 = fields.next().expect("ppid").parse().expect("ppid number");
    state == "Z" && ppid == std::process::id()
}
