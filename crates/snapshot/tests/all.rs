//! Integration tests for harnessgym-snapshot (one binary; modules under `suite/`).
#![cfg(unix)]

mod suite;
