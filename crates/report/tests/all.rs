//! Integration tests of harnessgym-report: one binary, modules in `suite/`.

mod suite;
