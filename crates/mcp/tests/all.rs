//! Integration tests for harnessgym-mcp: one binary, real fixture servers
//! (`tests/fixtures/mcp_server.py`, run with `python3`).
#![cfg(unix)]
// Test code: panicking on a broken fixture is the right failure mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
