//! `cargo xtask test`: the README's test command. Builds every test, then runs the suite inside
//! a loopback-only network namespace (`unshare -n`, loopback brought up) when the machine allows
//! it, so no test — and no real agent CLI under test — can reach the internet. Before building,
//! the dependency and rustdoc checks (`checks`).

use std::process::Command;

use anyhow::{Context, bail};

fn netns_available() -> bool {
    Command::new("unshare").args(["-n", "sh", "-c", "ip link set lo up"]).status().is_ok_and(|s| s.success())
}

pub fn run(extra: &[String]) -> anyhow::Result<()> {
    let root = crate::repo_root();
    crate::checks::deps()?;
    crate::checks::docs()?;
    // Compile (and fetch) with the network, so the namespaced run needs none.
    let status = Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace", "--no-run"])
        .status()
        .context("running cargo test --no-run")?;
    if !status.success() {
        bail!("building the tests failed");
    }
    let mut test_args = vec!["test".to_owned(), "--workspace".to_owned(), "--offline".to_owned()];
    test_args.extend(extra.iter().cloned());
    let status = if netns_available() {
        eprintln!("xtask test: running the suite in a loopback-only network namespace (unshare -n)");
        let script = format!("ip link set lo up && exec cargo {}", shell_words_join(&test_args));
        Command::new("unshare").current_dir(&root).args(["-n", "sh", "-c", &script]).status()
    } else {
        eprintln!("xtask test: unshare -n is not available here; running the suite with the normal network");
        Command::new("cargo").current_dir(&root).args(&test_args).status()
    }
    .context("running cargo test")?;
    if !status.success() {
        bail!("tests failed");
    }
    Ok(())
}

fn shell_words_join(args: &[String]) -> String {
    args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" ")
}
