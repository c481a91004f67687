//! Tests are named after the spec (`/work/shared/spec/core.md`): `statement_<n>_…` for §8
//! acceptance statements, `b<k>_…` for the §9.1 bug regressions. Where our behaviour deliberately
//! differs from the reference, the test asserts ours and says which decision it follows.

mod config;
mod end_to_end;
mod loop_paths;
mod optimization;
mod post_attempt;
mod prompts;
mod qualification;
mod resume;
mod robustness;
mod support;
mod task_state;
