//! Integration tests for harnessgym-scripted-model: real TCP on 127.0.0.1,
//! a tiny HTTP client written in the test (no real CLIs needed).
// Test code: panicking on a broken fixture is the right failure mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
