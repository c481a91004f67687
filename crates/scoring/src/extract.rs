//! `extract_score`: the first numeric candidate among a fixed list of places.

use serde_json::Value;

/// Looks for a score in `data[key]`, `data.score`, then `metrics`, `objective` and
/// `verification` (each: key, then `score`). The first numeric candidate wins.
///
/// Numeric means a finite JSON number or a string that parses as a finite float. Unlike the
/// reference, booleans and non-finite values (`"nan"`, `"inf"`) never count as scores.
pub fn extract_score(data: &Value, key: &str) -> Option<f64> {
    let Value::Object(obj) = data else {
        return None;
    };
    let keys = [key, "score"];
    let top = keys.iter().filter_map(|k| obj.get(*k));
    let nested = ["metrics", "objective", "verification"].into_iter().flat_map(|section| {
        let sub = obj.get(section).and_then(Value::as_object);
        keys.iter().filter_map(move |k| sub.and_then(|s| s.get(*k)))
    });
    top.chain(nested).find_map(number)
}

/// [`extract_score`] that never falls back to the generic `score` when `key` is another key
/// (compare's `--post-score-key`, W36): `data[key]`, then `metrics`, `objective` and
/// `verification` (each: `key`). With `key == "score"` both are the same.
pub fn extract_score_strict(data: &Value, key: &str) -> Option<f64> {
    let Value::Object(obj) = data else {
        return None;
    };
    let nested = ["metrics", "objective", "verification"]
        .into_iter()
        .filter_map(|section| obj.get(section).and_then(Value::as_object).and_then(|sub| sub.get(key)));
    obj.get(key).into_iter().chain(nested).find_map(number)
}

/// A finite number from a JSON number or numeric string.
pub fn number(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_strict_key_never_falls_back_to_score_and_booleans_are_not_scores() {
        let data = json!({"score": 5, "metrics": {"score": 6}});
        assert_eq!(extract_score_strict(&data, "best_cycles"), None);
        assert_eq!(extract_score_strict(&data, "score"), Some(5.0));
        assert_eq!(
            extract_score_strict(&json!({"best_cycles": true, "metrics": {"best_cycles": "12"}}), "best_cycles"),
            Some(12.0)
        );
        assert_eq!(extract_score_strict(&json!({"objective": {"best_cycles": 3}}), "best_cycles"), Some(3.0));
        assert_eq!(extract_score_strict(&json!([1]), "score"), None);
    }

    proptest! {
        #[test]
        fn the_strict_extractor_agrees_with_the_lenient_one_on_score(text in "\\PC{0,200}") {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let strict = extract_score_strict(&v, "score");
                let lenient = extract_score(&v, "score");
                prop_assert_eq!(strict, lenient);
            }
        }
    }

    #[test]
    fn score_lookup_order_and_types() {
        assert_eq!(extract_score(&json!({"score": "1.25"}), "best_ms"), Some(1.25));
        assert_eq!(extract_score(&json!({"metrics": {"best_ms": 0.75}}), "best_ms"), Some(0.75));
        assert_eq!(extract_score(&json!({"verification": {"score": 2}}), "best_ms"), Some(2.0));
        assert_eq!(extract_score(&json!({"metrics": {"score": "nope"}}), "best_ms"), None);
        assert_eq!(extract_score(&json!({"best_ms": "x", "metrics": {"best_ms": 3}}), "best_ms"), Some(3.0));
        assert_eq!(extract_score(&json!({"metrics": 5, "objective": {"best_ms": 4}}), "best_ms"), Some(4.0));
    }

    #[test]
    fn booleans_and_non_finite_values_are_not_scores() {
        assert_eq!(extract_score(&json!({"score": true}), "k"), None);
        assert_eq!(extract_score(&json!({"score": "nan", "metrics": {"score": "inf"}}), "k"), None);
        assert_eq!(extract_score(&json!({"score": " 2 "}), "k"), Some(2.0));
        assert_eq!(extract_score(&json!([1]), "k"), None);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
            proptest::sample::select(&["nan", "inf", "-1e400", " 2 ", "1e308", "0x10", "+.5"][..])
                .prop_map(Value::from),
        ];
        let key = proptest::sample::select(&["k", "score", "metrics", "objective", "verification", "x"][..]);
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone().prop_map(str::to_owned), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Arbitrary JSON (keys from the places looked at, numeric-looking strings,
        /// non-finite spellings): no panic; a score found is finite and is the value of one of
        /// the candidate places.
        #[test]
        fn arbitrary_json_gives_a_finite_candidate_or_none(data in arb_json(), key in "k|score|x") {
            if let Some(x) = extract_score(&data, &key) {
                prop_assert!(x.is_finite());
                let place = |v: Option<&Value>| v.and_then(number) == Some(x);
                let found = [key.as_str(), "score"].iter().any(|k| {
                    place(data.get(*k))
                        || ["metrics", "objective", "verification"].iter().any(|s| place(data.get(*s).and_then(|s| s.get(*k))))
                });
                prop_assert!(found);
            }
        }

        #[test]
        fn finite_numbers_are_found_wherever_they_are(x in -1e12f64..1e12, place in 0usize..4) {
            let data = match place {
                0 => json!({"k": x}),
                1 => json!({"metrics": {"k": x}}),
                2 => json!({"objective": {"score": x}}),
                _ => json!({"verification": {"k": x.to_string()}}),
            };
            prop_assert_eq!(extract_score(&data, "k"), Some(x));
        }
    }
}
