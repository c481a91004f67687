//! `runs/<id>/iterations/<n>/result.json`: co-written by the agent and the orchestrator.
//!
//! The agent may write anything, so the document is kept as a JSON object and read through
//! tolerant accessors; orchestrator-written parts are typed where they are produced.

use serde_json::{Map, Value};

/// Keys whose list values are unioned (sorted, de-duplicated) by [`deep_merge`], at any depth,
/// so that the agent's declarations survive orchestrator updates.
pub const UNION_KEYS: [&str; 2] = ["used_harness_tools", "used_harness_artifacts"];

/// Merges `update` into `base`: objects recursively; lists under [`UNION_KEYS`] unioned;
/// everything else (other lists included) replaced.
pub fn deep_merge(base: &mut Map<String, Value>, update: &Map<String, Value>) {
    for (key, new) in update {
        match (base.get_mut(key), new) {
            (Some(Value::Object(old)), Value::Object(new_obj)) => deep_merge(old, new_obj),
            (Some(Value::Array(old)), Value::Array(new_list)) if UNION_KEYS.contains(&key.as_str()) => {
                let mut merged: Vec<Value> = old.iter().chain(new_list).cloned().collect();
                merged.sort_by_key(sort_key);
                merged.dedup();
                *old = merged;
            }
            _ => {
                base.insert(key.clone(), new.clone());
            }
        }
    }
}

fn sort_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `status` the result declares (`solved`, `incomplete`, `blocked`, …), if a string.
pub fn status(result: &Map<String, Value>) -> Option<&str> {
    result.get("status").and_then(Value::as_str)
}

/// `status == "solved"` and (`verified` is boolean `true` or `verification.status == "passed"`).
pub fn is_solved_and_verified(result: &Map<String, Value>) -> bool {
    let verified = result.get("verified") == Some(&Value::Bool(true))
        || result.get("verification").and_then(|v| v.get("status")).and_then(Value::as_str) == Some("passed");
    status(result) == Some("solved") && verified
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const KEYS: &[&str] = &[
        "status",
        "verified",
        "verification",
        "score",
        "used_harness_tools",
        "used_harness_artifacts",
        "solved",
        "passed",
    ];

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn objects_merge_recursively_and_lists_are_replaced() {
        let mut base = obj(json!({"a": {"x": 1, "y": 2}, "list": [1, 2], "keep": true}));
        deep_merge(&mut base, &obj(json!({"a": {"y": 3, "z": 4}, "list": [9]})));
        assert_eq!(Value::Object(base), json!({"a": {"x": 1, "y": 3, "z": 4}, "list": [9], "keep": true}));
    }

    #[test]
    fn usage_lists_union_sorted_and_non_lists_replace() {
        let mut base = obj(json!({"used_harness_tools": ["b", "a"], "n": {"used_harness_artifacts": ["x"]}}));
        deep_merge(
            &mut base,
            &obj(json!({"used_harness_tools": ["c", "a"], "n": {"used_harness_artifacts": ["w", "x"]}})),
        );
        assert_eq!(base["used_harness_tools"], json!(["a", "b", "c"]));
        assert_eq!(base["n"]["used_harness_artifacts"], json!(["w", "x"]));
        deep_merge(&mut base, &obj(json!({"used_harness_tools": "none"})));
        assert_eq!(base["used_harness_tools"], json!("none"));
    }

    #[test]
    fn solved_predicate_needs_a_real_verification() {
        assert!(is_solved_and_verified(&obj(json!({"status": "solved", "verified": true}))));
        assert!(is_solved_and_verified(&obj(json!({"status": "solved", "verification": {"status": "passed"}}))));
        assert!(!is_solved_and_verified(&obj(json!({"status": "solved", "verified": "true"}))));
        assert!(!is_solved_and_verified(&obj(json!({"status": "blocked", "verified": true}))));
    }

    proptest! {
        /// Arbitrary documents (keys from the real names, any types at any depth): merging
        /// never panics, every update key ends in the result, union keys holding lists on
        /// both sides end sorted and de-duplicated, and the helpers answer without panicking.
        #[test]
        fn merge_and_helpers_accept_any_document(
            base in crate::arb::object(KEYS),
            update in crate::arb::object(KEYS),
        ) {
            let mut merged = base.clone();
            deep_merge(&mut merged, &update);
            for key in update.keys() {
                prop_assert!(merged.contains_key(key));
            }
            for key in UNION_KEYS {
                if let (Some(Value::Array(_)), Some(Value::Array(_)), Some(Value::Array(out))) =
                    (base.get(key), update.get(key), merged.get(key))
                {
                    let keys: Vec<String> = out.iter().map(sort_key).collect();
                    prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]));
                }
            }
            let _ = status(&merged);
            let solved = is_solved_and_verified(&merged);
            prop_assert!(!solved || status(&merged) == Some("solved"));
        }
    }
}
