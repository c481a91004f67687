//! `harnessgym report`: the run's and the compare's Markdown and HTML, rewritten from the JSON.

use std::fs;
use std::path::Path;

use super::common::{Tmp, harnessgym, only_run_dir, output, s};

#[test]
fn a_run_writes_its_report_and_report_rewrites_it_from_the_workspace() {
    let tmp = Tmp::new();
    let ws = tmp.path("d");
    let out = output(harnessgym(&tmp.root).args(["demo", "--dir", s(&ws)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let run_dir = only_run_dir(&ws);
    let md = fs::read_to_string(run_dir.join("report.md")).expect("the run wrote report.md");
    assert!(md.contains("Final status: **solved**"), "{md}");
    // The fake agent's probe, qualified in iteration 1.
    assert!(md.contains("| 1 | 1 | tool | `.harnessgym/tools/harnessgym_fake_probe.py` | passed |"), "{md}");
    fs::remove_file(run_dir.join("report.md")).unwrap();
    fs::remove_file(run_dir.join("report.html")).unwrap();

    let out = output(harnessgym(&ws).args(["report"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "Markdown report: {}\nHTML report: {}\n",
            s(&run_dir.join("report.md")),
            s(&run_dir.join("report.html"))
        )
    );
    assert_eq!(fs::read_to_string(run_dir.join("report.md")).unwrap(), md, "the same report from the same files");
    assert!(fs::read_to_string(run_dir.join("report.html")).unwrap().starts_with("<!DOCTYPE html>"));
}

fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to)
        } else {
            fs::copy(entry.path(), &to).map(|_| ()).unwrap()
        }
    }
}

#[test]
fn a_compare_written_by_the_reference_gets_a_report() {
    let tmp = Tmp::new();
    let dir = tmp.path("ref");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/fixtures/reference_compare"), &dir);
    let out = output(harnessgym(&tmp.root).args(["report", s(&dir)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with(&format!("Markdown report: {}\n", s(&dir.join("compare_report.md")))));
    let md = fs::read_to_string(dir.join("compare_report.md")).unwrap();
    assert!(md.contains("computed by harnessgym report from the trials' post scores"), "{md}");
    assert!(dir.join("compare_report.html").is_file());
}

#[test]
fn a_path_without_a_run_or_compare_is_an_error() {
    let tmp = Tmp::new();
    let empty = tmp.dir("empty");
    let out = output(harnessgym(&tmp.root).args(["report", s(&empty)]));
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(&format!("harnessgym: error: {} is not a run directory", s(&empty))),
        "{}",
        out.stderr
    );
}
