//! The run report.

use harnessgym_report::{RUN_HTML, RUN_MARKDOWN, Target};

use super::support::{assert_self_contained, fixture_copy, svgs};

#[test]
fn a_run_report_shows_scores_phases_qualification_and_errors() {
    let (_tmp, dir) = fixture_copy("run/fixture-run");
    let written = harnessgym_report::write_run_report(&dir).unwrap();
    assert_eq!((written.markdown.clone(), written.html.clone()), (dir.join(RUN_MARKDOWN), dir.join(RUN_HTML)));
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    insta::assert_snapshot!("run_md", md);
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert_self_contained(&html);
    let charts = svgs(&html);
    assert_eq!(charts.len(), 3, "score, phase timeline, tool calls");
    // Four iterations, each with a verified score, a bar and a tool-call count.
    let circles: Vec<usize> = charts.iter().map(|s| s.matches("<circle").count()).collect();
    assert_eq!(circles, [4, 4, 4]);
}

#[test]
fn a_workspace_resolves_to_its_latest_run() {
    let (_tmp, dir) = fixture_copy("run");
    let ws = dir;
    std::fs::create_dir_all(ws.join(".harnessgym/runs")).unwrap();
    std::fs::rename(ws.join("fixture-run"), ws.join(".harnessgym/runs/a")).unwrap();
    std::fs::create_dir_all(ws.join(".harnessgym/runs/b/iterations")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(ws.join(".harnessgym/runs/b/run_config.json"), "{\"run_id\": \"b\"}").unwrap();
    assert_eq!(harnessgym_report::resolve(&ws).unwrap(), Target::Run(ws.join(".harnessgym/runs/b")));
    assert_eq!(
        harnessgym_report::resolve(&ws.join(".harnessgym/runs/a")).unwrap(),
        Target::Run(ws.join(".harnessgym/runs/a"))
    );
}

#[test]
fn a_killed_run_without_summary_still_gets_a_report() {
    let (_tmp, dir) = fixture_copy("run/fixture-run");
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let written = harnessgym_report::write_run_report(&dir).unwrap();
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    assert!(md.contains("Final status: **not recorded**"), "{md}");
    assert!(md.contains("summary.json not recorded"), "{md}");
    assert!(md.contains("| 4 | verified |"), "{md}");
    assert_self_contained(&std::fs::read_to_string(&written.html).unwrap());
}
