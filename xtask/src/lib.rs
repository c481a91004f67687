//! The parts of xtask that tests call as a library: `reproduce` (`cargo xtask reproduce`).

pub mod reproduce;

use std::process::Command;

use anyhow::{Context, bail};

/// Runs `cmd`, failing when it does.
pub fn run_cmd(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
