//! Integration tests for harnessgym-qualify: bundle copies (hostile cases), the room, and
//! qualification with real MCP server processes. One binary, modules under `suite/`.
#![cfg(unix)]
// Test code: panicking on a broken fixture is the right failure mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
