//! Test-only proptest strategies: arbitrary JSON values whose keys are drawn from the names a
//! parser reads, so that its branches are reached (not only "unknown key").

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON: scalars of every type, and arrays/objects up to a few levels deep whose keys
/// come from `keys` (or are short random names).
pub(crate) fn json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        proptest::sample::select(keys).prop_map(|k| Value::String(k.to_owned())),
    ];
    let key = prop_oneof![3 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => "[a-z_]{0,6}"];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// An arbitrary JSON object (the shape most documents have at the top).
pub(crate) fn object(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec(
        (prop_oneof![3 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => "[a-z_]{0,6}"], json(keys)),
        0..8,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

/// Text that is nearly JSON: a valid document with one byte changed, cut or duplicated, or
/// python non-finite tokens spliced in.
pub(crate) fn near_json(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        json(keys),
        any::<prop::sample::Index>(),
        0u8..5,
        proptest::sample::select(&["NaN", "-Infinity", "Infinity", "\\", "\"", "{", "]", "\u{e9}"][..]),
    )
        .prop_map(|(v, at, how, token)| {
            let text = v.to_string();
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            match how {
                0 => text,
                1 => text[..cut].to_owned(),
                2 => format!("{}{token}{}", &text[..cut], &text[cut..]),
                3 => format!(
                    "{}{}",
                    &text[..cut],
                    text.get(cut..).map(|s| s.chars().skip(1).collect::<String>()).unwrap_or_default()
                ),
                _ => format!("{text}{token}"),
            }
        })
}
