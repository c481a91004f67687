//! The compare report: ours (statistics in the file) and the reference's (computed here).

use harnessgym_report::{COMPARE_MARKDOWN, Target};

use super::support::{assert_self_contained, fixture_copy, svgs};

#[test]
fn our_compare_report_renders_its_tables_and_verdict() {
    let (_tmp, dir) = fixture_copy("compare");
    let written = harnessgym_report::write(&harnessgym_report::resolve(&dir).unwrap()).unwrap();
    assert_eq!(written.markdown, dir.join(COMPARE_MARKDOWN));
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    // The verdict is the report's own sentence, and its statistics are the report's.
    assert!(md.contains("- harnessed better: −45.3% score (95% CI −48.0% … −42.6%)"), "{md}");
    assert!(md.contains("Statistics: harnessgym compare"), "{md}");
    insta::assert_snapshot!("compare_ours_md", md);
}

#[test]
fn our_compare_report_html_is_self_contained_with_a_mark_per_trial() {
    let (_tmp, dir) = fixture_copy("compare");
    let written = harnessgym_report::write_compare_report(&dir).unwrap();
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert_self_contained(&html);
    let charts = svgs(&html);
    assert_eq!(charts.len(), 4, "scores, best so far, attempt time, tool calls");
    // 5 trials per arm: one point each in the per-trial charts; 2 arms × 3 iterations in the
    // best-so-far chart.
    let circles: Vec<usize> = charts.iter().map(|s| s.matches("<circle").count()).collect();
    assert_eq!(circles, [10, 6, 10, 10]);
    assert!(html.contains("plain (baseline)"));
}

#[test]
fn a_reference_compare_report_gets_statistics_from_its_post_scores_and_says_what_it_lacks() {
    let (_tmp, dir) = fixture_copy("reference_compare");
    assert_eq!(harnessgym_report::resolve(&dir).unwrap(), Target::Compare(dir.clone()));
    let written = harnessgym_report::write_compare_report(&dir).unwrap();
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    assert!(md.contains("computed by harnessgym report from the trials' post scores"), "{md}");
    assert!(md.contains("assumed: the direction is not recorded"), "{md}");
    // Five scores per arm: a comparison with a verdict sentence from harnessgym-stats.
    assert!(md.contains("- harnessed vs plain: no detectable difference"), "{md}");
    assert!(md.contains("Not recorded (a reference report has no budget)."), "{md}");
    insta::assert_snapshot!("compare_reference_md", md);
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert_self_contained(&html);
    // Per-iteration scores are not recorded: that chart is replaced by a sentence.
    assert_eq!(svgs(&html).len(), 3);
    assert!(html.contains("Not drawn: per-iteration post scores not recorded"), "{html}");
}

#[test]
fn a_compare_dir_without_its_report_is_an_error_naming_the_file() {
    let (_tmp, root) = harnessgym_test_support::fs::canonical_tempdir();
    let err = harnessgym_report::write_compare_report(&root).unwrap_err();
    assert_eq!(err.to_string(), format!("{root}/compare_report.json is missing"));
    let err = harnessgym_report::resolve(&root).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{root} is not a run directory")), "{err}");
}
