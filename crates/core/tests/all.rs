//! Integration tests for harnessgym-core: the run loop driven end to end by a scripted agent
//! (and the fake runner), one binary with its modules under `suite/`.
#![cfg(unix)]
// Test code: panicking on a broken fixture is the right failure mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
