//! The `optimization` block merged into result.json in optimisation mode.

use serde_json::{Map, Value, json};

use crate::{is_better, reached_stop_score};

pub struct OptimizationInput<'a> {
    pub score_key: &'a str,
    pub higher_is_better: bool,
    pub baseline_score: Option<f64>,
    /// Best verified score before this iteration.
    pub previous_best_score: Option<f64>,
    /// This iteration's verified score.
    pub current_score: Option<f64>,
    pub stop_score: Option<f64>,
}

/// Builds the block. Baseline-relative keys only with a baseline, the ratio only with a non-zero
/// baseline (`score/baseline − 1` when higher is better, else `1 − score/baseline`).
pub fn optimization_block(input: &OptimizationInput<'_>) -> Map<String, Value> {
    let mut block = json!({
        "mode": "optimization",
        "score_key": input.score_key,
        "higher_is_better": input.higher_is_better,
        "baseline_score": input.baseline_score,
        "previous_best_score": input.previous_best_score,
        "current_score": input.current_score,
    });
    let Some(obj) = block.as_object_mut() else {
        return Map::new();
    };
    if let Some(score) = input.current_score {
        obj.insert(
            "target_reached".into(),
            json!(reached_stop_score(Some(score), input.stop_score, input.higher_is_better)),
        );
        obj.insert(
            "improved_from_previous_best".into(),
            json!(is_better(score, input.previous_best_score, input.higher_is_better)),
        );
        if let Some(baseline) = input.baseline_score {
            obj.insert(
                "improved_from_baseline".into(),
                json!(is_better(score, Some(baseline), input.higher_is_better)),
            );
            obj.insert("delta_from_baseline".into(), json!(score - baseline));
            if baseline != 0.0 {
                if input.higher_is_better {
                    obj.insert("relative_improvement".into(), json!(score / baseline - 1.0));
                } else {
                    obj.insert("relative_reduction".into(), json!(1.0 - score / baseline));
                }
            }
        }
    }
    std::mem::take(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_against_a_baseline() {
        let b = optimization_block(&OptimizationInput {
            score_key: "best_cycles",
            higher_is_better: false,
            baseline_score: Some(10.0),
            previous_best_score: Some(10.0),
            current_score: Some(4.0),
            stop_score: None,
        });
        assert_eq!(b["improved_from_baseline"], json!(true));
        assert_eq!(b["relative_reduction"], json!(0.6));
        assert_eq!(b["target_reached"], json!(false));
        assert_eq!(b["delta_from_baseline"], json!(-6.0));
    }

    #[test]
    fn no_score_no_derived_keys() {
        let b = optimization_block(&OptimizationInput {
            score_key: "s",
            higher_is_better: true,
            baseline_score: None,
            previous_best_score: None,
            current_score: None,
            stop_score: Some(1.0),
        });
        assert!(!b.contains_key("target_reached"));
        assert!(!b.contains_key("improved_from_baseline"));
        assert_eq!(b["mode"], json!("optimization"));
    }
}
