//! Serde types of every file HarnessGym reads or writes, and the JSON conventions they share.
//!
//! Conventions (compatible with the Python reference):
//! - written JSON is UTF-8, 2-space indented, keys sorted, with a trailing newline ([`json::to_pretty`]);
//! - every state file is written atomically: temp file in the same directory, fsync, rename
//!   ([`atomic::write_atomic`]);
//! - reading tolerates Python's `NaN` / `Infinity` / `-Infinity` tokens, which become `null`
//!   ([`json::parse_lenient`]);
//! - keys we do not know are kept (`extra` maps) and written back unchanged.
//!
//! This crate never spawns processes and never touches the network.

#![warn(missing_docs)]

pub mod activation;
#[cfg(test)]
mod arb;
pub mod atomic;
pub mod checkpoint;
pub mod compare;
pub mod confine;
pub mod duration;
pub mod errors;
pub mod json;
// The field docs in `options` are also the flags' help text (clap): written for the terminal,
// where `[default]` and `<workspace name>` are plain text, not rustdoc links or HTML tags.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub mod options;
pub mod post;
pub mod qualification;
pub mod registry;
pub mod result;
pub mod run_config;
pub mod runner;
pub mod summary;
pub mod telemetry;
pub mod timefmt;

pub use errors::{RecordedError, TypesError};

/// Keys we do not model, kept so that a file round-trips unchanged.
pub type Extra = std::collections::BTreeMap<String, serde_json::Value>;
