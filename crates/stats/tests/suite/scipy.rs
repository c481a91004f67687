//! Values pinned from SciPy and statsmodels: `tests/fixtures/scipy_values.py` wrote
//! `scipy_values.rs` (the versions are in its header; Holm from statsmodels `multipletests`). Compared to 1e-9 relative
//! (`support::close`).

use harnessgym_stats::descriptive::{describe, wilson_interval};
use harnessgym_stats::fisher::fisher_exact;
use harnessgym_stats::holm;
use harnessgym_stats::rank_tests::{MannWhitneyMethod, WilcoxonMethod, mann_whitney, wilcoxon};

use super::scipy_values::{FISHER, HOLM, MANN_WHITNEY, QUANTILES, WILCOXON, WILSON};
use super::support::assert_close;

pub struct MannWhitneyCase {
    pub name: &'static str,
    pub arm: &'static [Option<f64>],
    pub baseline: &'static [Option<f64>],
    pub higher_is_better: bool,
    pub exact: bool,
    pub u: f64,
    pub p: f64,
}

pub struct WilcoxonCase {
    pub name: &'static str,
    pub differences: &'static [f64],
    pub statistic: f64,
    pub p: f64,
}

pub struct Fisher {
    pub table: [[u64; 2]; 2],
    pub p: f64,
}

pub struct Wilson {
    pub successes: u64,
    pub n: u64,
    pub low: f64,
    pub high: f64,
}

pub struct Holm {
    pub p: &'static [f64],
    pub adjusted: &'static [f64],
}

pub struct Quantiles {
    pub values: &'static [f64],
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub mean: f64,
    pub sd: Option<f64>,
}

#[test]
fn mann_whitney_matches_scipy_exact_and_asymptotic_with_ties_and_invalid_trials() {
    for case in MANN_WHITNEY {
        let mw = mann_whitney(case.arm, case.baseline, case.higher_is_better).unwrap();
        let expected = if case.exact { MannWhitneyMethod::Exact } else { MannWhitneyMethod::Asymptotic };
        assert_eq!(mw.method, expected, "{}", case.name);
        assert_close(mw.u, case.u, case.name);
        assert_close(mw.p_value, case.p, case.name);
        let n = (case.arm.len() * case.baseline.len()) as f64;
        assert_close(mw.probability_of_superiority, case.u / n, case.name);
    }
}

#[test]
fn wilcoxon_matches_scipy_defaults() {
    for case in WILCOXON {
        let w = wilcoxon(case.differences).unwrap();
        assert_close(w.statistic, case.statistic, case.name);
        assert_close(w.p_value.unwrap(), case.p, case.name);
        let expected = match case.name.split('_').next() {
            Some("exact") => WilcoxonMethod::Exact,
            Some("permutation") => WilcoxonMethod::ExactConditional,
            _ => WilcoxonMethod::Asymptotic,
        };
        assert_eq!(w.method, Some(expected), "{}", case.name);
    }
}

#[test]
fn fisher_exact_matches_scipy() {
    for case in FISHER {
        assert_close(fisher_exact(case.table), case.p, &format!("{:?}", case.table));
        let [r1, r2] = case.table;
        assert_close(fisher_exact([r2, r1]), case.p, &format!("{:?} rows swapped", case.table));
    }
}

#[test]
fn wilson_interval_matches_statsmodels() {
    for case in WILSON {
        let ci = wilson_interval(case.successes, case.n).unwrap();
        let what = format!("{} of {}", case.successes, case.n);
        assert_close(ci.low, case.low, &what);
        assert_close(ci.high, case.high, &what);
    }
    assert_eq!(wilson_interval(0, 0), None);
}

#[test]
fn descriptives_match_numpy() {
    for case in QUANTILES {
        let d = describe(case.values);
        let what = format!("{:?}", case.values);
        assert_close(d.q1.unwrap(), case.q1, &what);
        assert_close(d.median.unwrap(), case.median, &what);
        assert_close(d.q3.unwrap(), case.q3, &what);
        assert_close(d.mean.unwrap(), case.mean, &what);
        match case.sd {
            Some(sd) => assert_close(d.sd.unwrap(), sd, &what),
            None => assert_eq!(d.sd, None),
        }
    }
}

#[test]
fn holm_matches_statsmodels() {
    for case in HOLM {
        let got = holm(&case.p.iter().copied().map(Some).collect::<Vec<_>>());
        for (g, e) in got.iter().zip(case.adjusted) {
            assert_close(g.unwrap(), *e, &format!("{:?}", case.p));
        }
    }
}
