//! Scores and the rules that decide what counts: score extraction, post commands and their pass
//! rule, stop rules, the optimisation block.
//!
//! Only *verified* scores count (see [`verified_score`]): a failed post command never stops a run,
//! never sets the best score and never seeds a checkpoint (the reference's bugs B2–B5).

mod extract;
mod optimization;
mod post;

pub use extract::{extract_score, extract_score_strict, number};
pub use optimization::{OptimizationInput, optimization_block};
pub use post::{PostCommand, post_command_passed, run_post_command};

use harnessgym_types::post::PostRecord;
use serde_json::{Map, Value};

/// Whether `candidate` beats `incumbent` (strictly); anything beats nothing.
pub fn is_better(candidate: f64, incumbent: Option<f64>, higher_is_better: bool) -> bool {
    match incumbent {
        None => true,
        Some(best) if higher_is_better => candidate > best,
        Some(best) => candidate < best,
    }
}

/// Inclusive stop rule: `score >= stop` when higher is better, else `score <= stop`.
pub fn reached_stop_score(score: Option<f64>, stop: Option<f64>, higher_is_better: bool) -> bool {
    match (score, stop) {
        (Some(s), Some(t)) if higher_is_better => s >= t,
        (Some(s), Some(t)) => s <= t,
        _ => false,
    }
}

/// The score of an iteration that may stop a run, seed a checkpoint or become the best score.
///
/// With a post command configured, only a *passing* post result's own score counts (the agent's
/// result.json cannot shadow it: bug B5). Without one, the result.json score counts only when the
/// result is solved-and-verified.
pub fn verified_score(
    result: &Map<String, Value>,
    post: Option<&PostRecord>,
    post_configured: bool,
    score_key: &str,
) -> Option<f64> {
    if post_configured {
        return post.filter(|p| post_command_passed(p)).and_then(|p| p.score);
    }
    if harnessgym_types::result::is_solved_and_verified(result) {
        extract_score(&Value::Object(result.clone()), score_key)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_is_better_stop_is_inclusive() {
        assert!(reached_stop_score(Some(0.9), Some(1.0), false));
        assert!(reached_stop_score(Some(1.0), Some(1.0), false));
        assert!(!reached_stop_score(Some(1.1), Some(1.0), false));
        assert!(!reached_stop_score(None, Some(1.0), false));
        assert!(!reached_stop_score(Some(0.1), None, false));
    }

    #[test]
    fn higher_is_better_stop_score() {
        assert!(reached_stop_score(Some(12.0), Some(10.0), true));
        assert!(!reached_stop_score(Some(8.0), Some(10.0), true));
    }

    #[test]
    fn solved_and_verified_need_not_reach_the_stop_score() {
        let result = serde_json::json!({"status": "solved", "verified": true, "metrics": {"best_ms": 20}});
        let map = result.as_object().unwrap();
        assert!(harnessgym_types::result::is_solved_and_verified(map));
        let score = extract_score(&result, "best_ms");
        assert_eq!(score, Some(20.0));
        assert!(!reached_stop_score(score, Some(6.0), false));
    }

    #[test]
    fn better_is_strict_and_directional() {
        assert!(is_better(3.0, None, false));
        assert!(is_better(3.0, Some(4.0), false));
        assert!(!is_better(4.0, Some(4.0), false));
        assert!(is_better(5.0, Some(4.0), true));
    }

    #[test]
    fn agent_top_level_score_does_not_shadow_the_post_score() {
        let result = serde_json::json!({"status": "solved", "verified": true, "score": 0.0});
        let post = PostRecord {
            command: "x".into(),
            status: "completed".into(),
            return_code: Some(0),
            timed_out: false,
            duration_seconds: 0.0,
            stdout_path: None,
            stderr_path: None,
            json: Some(serde_json::json!({"score": 7})),
            score: Some(7.0),
            score_key: "score".into(),
            message: None,
            extra: Default::default(),
        };
        assert_eq!(verified_score(result.as_object().unwrap(), Some(&post), true, "score"), Some(7.0));
        let failed = PostRecord { status: "failed".into(), return_code: Some(1), ..post };
        assert_eq!(verified_score(result.as_object().unwrap(), Some(&failed), true, "score"), None);
        assert_eq!(verified_score(result.as_object().unwrap(), None, false, "score"), Some(0.0));
        let unverified = serde_json::json!({"status": "blocked", "score": 1.0});
        assert_eq!(verified_score(unverified.as_object().unwrap(), None, false, "score"), None);
    }
}
