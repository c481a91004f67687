//! Test helpers shared by the crates of the workspace. Used only as a dev-dependency (never
//! published): nothing here is part of a crate's public API.
//!
//! * [`cli_bin`] — the `harnessgym` binary of the running test's target directory, built on first
//!   use (for tests outside `harnessgym-cli`, which cannot use `CARGO_BIN_EXE_harnessgym`).
//! * [`sshd::TestSshd`] — a throwaway sshd on 127.0.0.1 for the remote-execution tests.
//! * [`process`] — whether a pid is gone (zombies count as dead).
//! * [`bwrap`] — bubblewrap for the sandbox tests (required under `CI=true`).
//! * [`chromium::Chromium`] — headless Chromium loading a local HTML page (the report tests).
//! * [`fs`] — canonical UTF-8 temp directories, writing files with their parents, reading JSON.
//! * [`bounded`] — a future that must finish in time, or the test fails instead of hanging.
//!
//! Helpers fail the test by panicking: that is their contract.
#![warn(missing_docs)]
// Test helpers report failures by panicking, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bwrap;
pub mod chromium;
pub mod fs;
pub mod process;
pub mod sshd;

use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

/// Awaits `fut`, failing the test if it takes longer than `limit` (a hang becomes a failure).
pub async fn bounded<F: Future>(limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut).await.expect("operation did not finish in time (hung?)")
}

/// The `harnessgym` binary of the running test's target directory (`target/<profile>/harnessgym`),
/// built with `cargo build -p harnessgym-cli --bin harnessgym` (same profile) on the first call —
/// a no-op when it is up to date. Panics when the build fails.
pub fn cli_bin() -> &'static Utf8Path {
    static BIN: OnceLock<Utf8PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        // target/<profile>/deps/all-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = std::process::Command::new(cargo);
        build.current_dir(&root).args(["build", "--quiet", "-p", "harnessgym-cli", "--bin", "harnessgym"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p harnessgym-cli failed");
        let bin = Utf8PathBuf::from_path_buf(profile_dir.join("harnessgym")).expect("utf-8 target dir");
        assert!(bin.is_file(), "{bin} missing after the build");
        bin
    })
}
