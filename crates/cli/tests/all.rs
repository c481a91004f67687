//! Integration tests of the `harnessgym` binary (one test binary; modules under `suite/`).
#![cfg(unix)]
// Test helpers outside `#[test]` functions panic on setup failures by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod suite;
