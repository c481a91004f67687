//! What can go wrong while reading the files or writing a report.

use camino::Utf8PathBuf;

/// A report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The path is neither a run directory, a compare output directory nor a workspace with runs.
    #[error(
        "{path} is not a run directory (summary.json, run_config.json or iterations/), a compare output directory \
         (compare_report.json) or a workspace with runs (.harnessgym/runs/<id>/)"
    )]
    NotAReportDir {
        /// The path given.
        path: Utf8PathBuf,
    },
    /// A file the report needs is missing.
    #[error("{path} is missing")]
    Missing {
        /// The file.
        path: Utf8PathBuf,
    },
    /// A file could not be read or parsed.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: harnessgym_types::TypesError,
    },
    /// A directory could not be listed.
    #[error("could not list {path}: {source}")]
    List {
        /// The directory.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A report file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: harnessgym_types::TypesError,
    },
    /// A template failed to render (a bug: the templates are built in).
    #[error("could not render {template}: {source}")]
    Template {
        /// The template's name.
        template: String,
        /// Why.
        #[source]
        source: minijinja::Error,
    },
    /// A chart failed to draw (a bug).
    #[error("could not draw the chart {chart}: {message}")]
    Chart {
        /// The chart's title.
        chart: String,
        /// Why.
        message: String,
    },
}
