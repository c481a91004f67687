//! Named after the spec where a test covers a statement: `statement_<n>_…` (core.md §8),
//! `q<n>_…` (integration.md §7), `w28_…` / `b9_…` (the weaknesses fixed here).

mod bundle;
mod qualify;
mod room;
mod support;
