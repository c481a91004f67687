//! Integration tests for harnessgym-activation: real fixture servers (the ones of harnessgym-mcp's
//! tests, copied into each temp workspace the way an agent would place them) and, where a test
//! goes through `harnessgym mcp-proxy`, the real binary.
#![cfg(unix)]
// Test code: panicking on a broken fixture is the right failure mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
