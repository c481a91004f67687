//! Integration tests of the repository's tasks and tooling (one test binary; modules under `suite/`).
// Test helpers outside `#[test]` functions panic on setup failures by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod suite;
