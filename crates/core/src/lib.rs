//! The HarnessGym engine. [`Run`] drives an agent through attempt → reflect → build → qualify →
//! activate for several iterations, scoring every attempt independently and keeping the best
//! verified workspace. Other tools embed it; the `harnessgym` CLI is a thin layer over it.
//!
//! Core never prints: progress goes to an [`events::EventSink`], results come back as
//! [`RunOutcome`] and the files under `.harnessgym/runs/<id>/`.

#![warn(missing_docs)]

pub mod compare;
// `RunRequest`'s field docs are also the `harnessgym run` flags' help text (clap).
#[allow(rustdoc::invalid_html_tags)]
pub mod config;
pub mod events;
pub mod hooks;
pub mod lock;
pub mod progress;
mod result_file;
mod run;
pub mod usage;

pub use config::{ConfigError, RecordedRequest, RunConfig, RunRequest};
/// The run options as typed values (flags, file keys, defaults and choices, each defined once).
pub use harnessgym_types::options;
pub use progress::{Resumable, ResumeError};
pub use run::{Run, RunError, RunOutcome, generate_run_id};
