//! `harnessgym report <path>`: rewrites a run's or a compare's Markdown and HTML reports from
//! their JSON files (a thin wrapper over `harnessgym_report`).

use std::process::ExitCode;

use camino::{Utf8Component, Utf8PathBuf};

use crate::cli::ReportArgs;

/// Exit 0 with the two files written, 1 when the path holds no run or compare.
pub fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let path = Utf8PathBuf::from(&args.path);
    let path = if path.is_absolute() { path } else { crate::current_dir()?.join(path) };
    // `.` and `./runs` name the same directories without the dots.
    let path: Utf8PathBuf = path.components().filter(|c| *c != Utf8Component::CurDir).collect();
    let target = harnessgym_report::resolve(&path)?;
    let written = harnessgym_report::write(&target)?;
    println!("Markdown report: {}", written.markdown);
    println!("HTML report: {}", written.html);
    Ok(ExitCode::SUCCESS)
}
