//! Help texts are user-visible: snapshot them.

use super::common::{Tmp, harnessgym, output};

fn help(args: &[&str]) -> String {
    let tmp = Tmp::new();
    let out = output(harnessgym(&tmp.root).args(args));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "");
    out.stdout
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("help_top_level", help(&["--help"]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!("help_run", help(&["run", "--help"]));
}

#[test]
fn demo_help() {
    insta::assert_snapshot!("help_demo", help(&["demo", "--help"]));
}

#[test]
fn compare_help() {
    insta::assert_snapshot!("help_compare", help(&["compare", "--help"]));
}

#[test]
fn report_help() {
    insta::assert_snapshot!("help_report", help(&["report", "--help"]));
}
