//! Integration tests for harnessgym-proc: one binary, real processes.

mod suite;
