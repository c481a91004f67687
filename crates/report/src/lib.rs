//! Reports people look at: a compare's and a run's JSON files rendered as Markdown (for a
//! terminal or a pull request) and as one self-contained HTML page (no network, no scripts, no
//! external styles) with its charts as inline SVG.
//!
//! - [`write_compare_report`]: `<out>/compare_report.json` → `compare_report.md` +
//!   `compare_report.html` beside it. A report written by the Python reference (no `statistics`)
//!   gets its statistics computed here from the trials' post scores (harnessgym-stats); what its
//!   file lacks (per-iteration scores, budget, design) is shown as not recorded.
//! - [`write_run_report`]: `runs/<id>/` → `report.md` + `report.html`: score per iteration with
//!   the baseline and the best checkpoint, a phase timeline, artifacts with their qualification
//!   verdicts, MCP tool calls, recorded errors. Every file is optional.
//! - [`resolve`] + [`write()`]: what `harnessgym report <dir>` does (a run directory, a compare
//!   output directory, or a workspace — its latest run).
//!
//! The text comes from minijinja templates (`src/templates/`, built in) and the charts from
//! plotters' SVG backend: no HTML or SVG is built by string concatenation. This crate reads
//! JSON and writes the report files; it never runs anything.

#![warn(missing_docs)]

mod charts;
mod compare;
mod error;
mod fmt;
mod run;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::compare::CompareReport;
use harnessgym_types::json as hjson;
use minijinja::Environment;
use serde::Serialize;

pub use error::ReportError;
pub use run::RunFiles;

/// The compare report's Markdown, beside compare_report.json.
pub const COMPARE_MARKDOWN: &str = "compare_report.md";
/// The compare report's HTML, beside compare_report.json.
pub const COMPARE_HTML: &str = "compare_report.html";
/// The run report's Markdown, in the run directory.
pub const RUN_MARKDOWN: &str = "report.md";
/// The run report's HTML, in the run directory.
pub const RUN_HTML: &str = "report.html";

/// A report's two texts.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The Markdown.
    pub markdown: String,
    /// The self-contained HTML page.
    pub html: String,
}

/// Where a report was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The Markdown file.
    pub markdown: Utf8PathBuf,
    /// The HTML file.
    pub html: Utf8PathBuf,
}

/// What a path given to `harnessgym report` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A run directory (`<ws>/.harnessgym/runs/<id>`).
    Run(Utf8PathBuf),
    /// A compare output directory (holding compare_report.json).
    Compare(Utf8PathBuf),
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    match minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => tracing::error!("template syntax: {e}"),
    }
    // A Markdown table cell: pipes escaped, line breaks flattened.
    env.add_filter("cell", |s: String| s.replace('|', "\\|").replace(['\n', '\r'], " "));
    let templates = [
        ("page.html", include_str!("templates/page.html.j2")),
        ("charts.html", include_str!("templates/charts.html.j2")),
        ("compare.md", include_str!("templates/compare.md.j2")),
        ("compare.html", include_str!("templates/compare.html.j2")),
        ("run.md", include_str!("templates/run.md.j2")),
        ("run.html", include_str!("templates/run.html.j2")),
    ];
    for (name, source) in templates {
        // The templates are built in: a syntax error is a bug caught by every test that renders.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("built-in template {name}: {e}");
        }
    }
    env
}

fn render(env: &Environment<'_>, name: &str, context: &impl Serialize) -> Result<String, ReportError> {
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(context)))
        .map_err(|source| ReportError::Template { template: name.to_owned(), source })
}

/// Renders a compare report (Markdown and HTML) from its JSON.
pub fn render_compare(report: &CompareReport) -> Result<Rendered, ReportError> {
    let env = environment();
    let mut view = compare::view(report);
    let markdown = render(&env, "compare.md", &view)?;
    view.charts = compare::charts(report)?;
    let html = render(&env, "compare.html", &view)?;
    Ok(Rendered { markdown, html })
}

/// Renders a run report (Markdown and HTML) from its files.
pub fn render_run(files: &RunFiles) -> Result<Rendered, ReportError> {
    let env = environment();
    let mut view = run::view(files);
    let markdown = render(&env, "run.md", &view)?;
    view.charts = run::charts(files)?;
    let html = render(&env, "run.html", &view)?;
    Ok(Rendered { markdown, html })
}

fn write_pair(dir: &Utf8Path, rendered: &Rendered, md: &str, html: &str) -> Result<Written, ReportError> {
    let written = Written { markdown: dir.join(md), html: dir.join(html) };
    for (path, text) in [(&written.markdown, &rendered.markdown), (&written.html, &rendered.html)] {
        harnessgym_types::atomic::write_atomic(path, text.as_bytes())
            .map_err(|source| ReportError::Write { path: path.clone(), source })?;
    }
    Ok(written)
}

/// Reads `<out>/compare_report.json` and writes compare_report.md and compare_report.html beside it.
pub fn write_compare_report(out: &Utf8Path) -> Result<Written, ReportError> {
    let path = out.join("compare_report.json");
    let report: CompareReport = hjson::read_typed(&path)
        .map_err(|source| ReportError::Read { path: path.clone(), source })?
        .ok_or_else(|| ReportError::Missing { path: path.clone() })?;
    write_pair(out, &render_compare(&report)?, COMPARE_MARKDOWN, COMPARE_HTML)
}

/// Reads a run directory and writes report.md and report.html into it.
pub fn write_run_report(run_dir: &Utf8Path) -> Result<Written, ReportError> {
    let files = RunFiles::load(run_dir)?;
    if files.is_empty() {
        return Err(ReportError::NotAReportDir { path: run_dir.to_owned() });
    }
    write_pair(run_dir, &render_run(&files)?, RUN_MARKDOWN, RUN_HTML)
}

fn is_run_dir(dir: &Utf8Path) -> bool {
    ["summary.json", "run_config.json", "progress.json", "iterations"].iter().any(|f| dir.join(f).exists())
}

/// What `path` is: a compare output directory, a run directory, or a workspace (its latest run:
/// the run directory modified last; a tie goes to the greater name).
pub fn resolve(path: &Utf8Path) -> Result<Target, ReportError> {
    if path.join("compare_report.json").is_file() {
        return Ok(Target::Compare(path.to_owned()));
    }
    if is_run_dir(path) {
        return Ok(Target::Run(path.to_owned()));
    }
    let runs = if path.file_name() == Some(".harnessgym") { path.join("runs") } else { path.join(".harnessgym/runs") };
    let entries = match runs.read_dir_utf8() {
        Ok(e) => e,
        Err(_) => return Err(ReportError::NotAReportDir { path: path.to_owned() }),
    };
    let latest = entries
        .flatten()
        .filter(|e| is_run_dir(e.path()))
        .filter_map(|e| {
            let modified =
                e.path().join("run_config.json").metadata().or_else(|_| e.metadata()).ok()?.modified().ok()?;
            Some((modified, e.file_name().to_owned(), e.path().to_owned()))
        })
        .max();
    latest.map(|(_, _, p)| Target::Run(p)).ok_or_else(|| ReportError::NotAReportDir { path: path.to_owned() })
}

/// Writes the report of `target`.
pub fn write(target: &Target) -> Result<Written, ReportError> {
    match target {
        Target::Run(dir) => write_run_report(dir),
        Target::Compare(dir) => write_compare_report(dir),
    }
}
