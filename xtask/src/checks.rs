//! The checks `cargo xtask test` runs before the tests (also on their own: `cargo xtask deps`,
//! `cargo xtask docs`).
//!
//! - deps: `cargo shear` (pinned in `.ci/run`): every dependency is used, and one used only by
//!   tests, benches or examples is a dev-dependency. Not installed: `NOT RUN`, or a failure under
//!   `CI=true`.
//! - docs: `cargo doc --no-deps --workspace` with `RUSTDOCFLAGS=-D warnings`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// The cargo-shear `.ci/run` installs (keep the two equal).
pub const CARGO_SHEAR_VERSION: &str = "1.13.4";

fn install_hint() -> String {
    format!("cargo install cargo-shear --version {CARGO_SHEAR_VERSION} --locked")
}

/// The installed cargo-shear's version, `None` when `cargo shear` is not there.
fn shear_version() -> Option<String> {
    let out = Command::new("cargo").args(["shear", "--version"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.trim().trim_start_matches("Version:").trim().to_owned())
}

/// Runs `cargo shear` on the workspace at `root`. `Ok(false)`: cargo-shear is not installed
/// (outside CI), so nothing was checked.
pub fn deps_in(root: &Path) -> anyhow::Result<bool> {
    let Some(version) = shear_version() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!("the dependency check needs cargo-shear: {}", install_hint());
        }
        eprintln!("xtask: dependency check NOT RUN: cargo-shear is not installed ({})", install_hint());
        return Ok(false);
    };
    if version != CARGO_SHEAR_VERSION {
        eprintln!(
            "xtask: cargo-shear {version} is installed; the pinned one is {CARGO_SHEAR_VERSION} ({})",
            install_hint()
        );
    }
    let out = Command::new("cargo")
        .current_dir(root)
        .args(["shear", "--deny-warnings", "--color", "never"])
        .arg(root)
        .output()
        .context("running cargo shear")?;
    if !out.status.success() {
        bail!(
            "{}{}\nunused or misplaced dependencies in {} (above): remove them, or move a dependency only tests, \
             benches or examples use to [dev-dependencies]; `cargo shear --fix` removes unused ones",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            root.display()
        );
    }
    eprintln!("xtask: dependency check (cargo shear): every dependency is used where it is declared");
    Ok(true)
}

/// `cargo xtask deps`.
pub fn deps() -> anyhow::Result<()> {
    deps_in(&crate::repo_root()).map(|_| ())
}

/// `cargo xtask docs`: the workspace's rustdoc, warnings as errors.
pub fn docs() -> anyhow::Result<()> {
    let flags = std::env::var("RUSTDOCFLAGS").unwrap_or_default();
    let status = Command::new("cargo")
        .current_dir(crate::repo_root())
        .args(["doc", "--no-deps", "--workspace"])
        .env("RUSTDOCFLAGS", format!("{flags} -D warnings").trim())
        .status()
        .context("running cargo doc")?;
    if !status.success() {
        bail!("rustdoc warnings (see above); `cargo xtask docs` checks the docs alone");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        let dir = crate::repo_root().join("target/xtask-fixtures").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let package = |n: &str| format!("[package]\nname = \"{n}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n");
        write(&dir.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\nmembers = [\"app\", \"used\", \"unused\"]\n");
        for lib in ["used", "unused"] {
            write(&dir.join(lib).join("Cargo.toml"), &package(lib));
            write(&dir.join(lib).join("src/lib.rs"), "//! A fixture.\n\n/// One.\npub const ONE: u8 = 1;\n");
        }
        write(&dir.join("app/src/lib.rs"), "//! A fixture.\n\n/// Two.\npub const TWO: u8 = used::ONE + 1;\n");
        dir
    }

    /// Skips (passes) where cargo-shear is missing outside CI, as `cargo xtask test` does.
    fn check(dir: &Path) -> Option<anyhow::Result<bool>> {
        let result = deps_in(dir);
        match result {
            Ok(false) => None,
            other => Some(other),
        }
    }

    #[test]
    fn an_unused_dependency_fails_the_check() {
        let dir = fixture("unused-dep");
        let manifest = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
                        used = { path = \"../used\" }\nunused = { path = \"../unused\" }\n";
        write(&dir.join("app/Cargo.toml"), manifest);
        if let Some(result) = check(&dir) {
            let message = format!("{:#}", result.err().unwrap_or_else(|| panic!("an unused dependency passed")));
            assert!(message.contains("unused dependency `unused`"), "{message}");
        }
    }

    #[test]
    fn a_normal_dependency_only_tests_use_fails_the_check() {
        let dir = fixture("misplaced-dep");
        let manifest = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
                        used = { path = \"../used\" }\nunused = { path = \"../unused\" }\n";
        write(&dir.join("app/Cargo.toml"), manifest);
        write(&dir.join("app/tests/t.rs"), "#[test]\nfn one() {\n    assert_eq!(unused::ONE, 1);\n}\n");
        if let Some(result) = check(&dir) {
            let message =
                format!("{:#}", result.err().unwrap_or_else(|| panic!("a normal dependency only tests use passed")));
            assert!(message.contains("misplaced dependency `unused`"), "{message}");
        }
    }

    #[test]
    fn used_dependencies_pass_the_check() {
        let dir = fixture("clean");
        let manifest = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
                        used = { path = \"../used\" }\n\n[dev-dependencies]\nunused = { path = \"../unused\" }\n";
        write(&dir.join("app/Cargo.toml"), manifest);
        write(&dir.join("app/tests/t.rs"), "#[test]\nfn one() {\n    assert_eq!(unused::ONE, 1);\n}\n");
        if let Some(result) = check(&dir) {
            assert!(matches!(result, Ok(true)), "{result:?}");
        }
    }
}
