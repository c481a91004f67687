//! MCP (Model Context Protocol) over stdio for HarnessGym: the wire codec,
//! a client, a framing probe and manifest normalisation.
//!
//! Agents build stdio MCP servers; HarnessGym smoke-tests them, calls their
//! tools and (later) relays between them and the agent CLIs.
//!
//! # Decision: our own codec and client, not rmcp
//!
//! Both framings go through **one code path** in this crate:
//!
//! * [`framing`] — newline-delimited JSON (the MCP stdio transport, and what
//!   the real Codex and Claude Code clients speak) *and* the legacy
//!   `Content-Length` framing that reference-generated servers speak. rmcp
//!   only has the former; we need both, plus [`framing::detect`] for a relay
//!   that must answer in whatever framing its client opened with.
//! * [`client`] — [`McpClient`] matches replies to requests **by id** (a
//!   reader task routes each response to its waiting request), tolerates
//!   notifications, server→client requests and garbage on stdout, and never
//!   lets a late reply land on the next request: the reference's
//!   off-by-one failure (spec/integration.md §8 W3).
//! * The same decoder will serve the telemetry proxy, so the smoke check,
//!   tool calls and the proxy agree byte for byte on what a message is.
//!
//! The JSON-RPC surface we need (initialize, tools/list, tools/call, ping,
//! cancellation) is small; owning it keeps error messages ours and keeps
//! process control in `harnessgym-proc` (Architecture Invariant: only proc
//! spawns or kills — servers are started with [`harnessgym_proc::spawn_piped`],
//! in their own process group, stderr drained into a bounded tail).
//!
//! # Modules
//!
//! * [`framing`]: [`Framing`], [`encode`], [`Decoder`], [`detect`].
//! * [`client`]: [`ServerCommand`], [`McpClient`] (`initialize`,
//!   `list_tools`, `call_tool`, `request`, `notify`, `shutdown`).
//! * [`probe`]: [`detect_server_framing`] — start the server once per
//!   framing in parallel and keep the one that answers `initialize`
//!   (newline JSON preferred).
//! * `proxy`: the telemetry proxy between an agent CLI and a server
//!   (framing-translating, id-matched), built on the same codec.
//! * [`manifest`]: [`normalize_manifest`] / [`normalize_confined`] / [`load_manifest`] →
//!   [`NormalizedServer`], every timeout spelling of the reference plus an
//!   optional `"framing"` key.

pub mod client;
mod error;
pub mod framing;
pub mod manifest;
pub mod probe;
pub mod proxy;

pub use client::{Diagnostics, InitializeResult, McpClient, PROTOCOL_VERSION, ServerCommand, Tool};
pub use error::McpError;
pub use framing::{DEFAULT_MAX_MESSAGE_BYTES, Decoder, Framing, FramingError, detect, encode};
pub use manifest::{
    ManifestError, NormalizedServer, SelfTestSpec, load_manifest, normalize_confined, normalize_manifest,
};
pub use probe::detect_server_framing;
