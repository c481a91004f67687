//! JSON conventions: sorted keys, 2-space indent, trailing newline; lenient reading.

use camino::Utf8Path;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::TypesError;
use crate::atomic::write_atomic;

/// Serialises `value` the way every HarnessGym file is written: keys sorted at every depth,
/// 2-space indent, trailing newline.
pub fn to_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, TypesError> {
    // Going through `Value` sorts keys: serde_json's map is a BTreeMap without `preserve_order`.
    let value = serde_json::to_value(value).map_err(|source| TypesError::Serialize { what: "value", source })?;
    let mut text =
        serde_json::to_string_pretty(&value).map_err(|source| TypesError::Serialize { what: "value", source })?;
    text.push('\n');
    Ok(text)
}

/// Compact, sorted-key, single-line JSON (telemetry lines).
pub fn to_compact<T: Serialize + ?Sized>(value: &T) -> Result<String, TypesError> {
    let value = serde_json::to_value(value).map_err(|source| TypesError::Serialize { what: "value", source })?;
    serde_json::to_string(&value).map_err(|source| TypesError::Serialize { what: "value", source })
}

/// Writes `value` to `path` atomically in the house style.
pub fn write_json<T: Serialize + ?Sized>(path: &Utf8Path, value: &T) -> Result<(), TypesError> {
    write_atomic(path, to_pretty(value)?.as_bytes())
}

/// Parses JSON that may contain Python's non-standard `NaN`, `Infinity` and `-Infinity` tokens
/// (as written by `json.dumps` of a float). Those become `null`: they are not finite scores.
pub fn parse_lenient(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let cleaned = replace_python_non_finite(text);
            if cleaned == text {
                return Err(first);
            }
            serde_json::from_str(&cleaned)
        }
    }
}

/// Replaces `NaN`, `Infinity`, `-Infinity` tokens outside strings with `null`.
fn replace_python_non_finite(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    let mut last = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| bytes[i..].starts_with(t.as_bytes()));
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if let (Some(token), true) = (token, boundary_before) {
            let after = i + token.len();
            if after >= bytes.len() || !bytes[after].is_ascii_alphanumeric() {
                out.push_str(&text[last..i]);
                out.push_str("null");
                i = after;
                last = after;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[last.min(text.len())..]);
    out
}

/// Reads a JSON file leniently. `Ok(None)` when the file does not exist.
pub fn read_value(path: &Utf8Path) -> Result<Option<Value>, TypesError> {
    read_value_at_most(path, u64::MAX)
}

/// [`read_value`] of a file an agent writes, refused (not read on) beyond `limit` bytes.
pub fn read_value_at_most(path: &Utf8Path, limit: u64) -> Result<Option<Value>, TypesError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes));
    match read {
        Ok(_) if bytes.len() as u64 > limit => return Err(TypesError::TooLarge { path: path.to_owned(), limit }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TypesError::Io { path: path.to_owned(), source }),
    }
    let text = String::from_utf8_lossy(&bytes);
    parse_lenient(&text).map(Some).map_err(|source| TypesError::Json { path: path.to_owned(), source })
}

/// Reads a JSON file that must hold an object. `Ok(None)` when the file does not exist.
pub fn read_object(path: &Utf8Path) -> Result<Option<serde_json::Map<String, Value>>, TypesError> {
    read_object_at_most(path, u64::MAX)
}

/// [`read_object`] refused beyond `limit` bytes (see [`read_value_at_most`]).
pub fn read_object_at_most(path: &Utf8Path, limit: u64) -> Result<Option<serde_json::Map<String, Value>>, TypesError> {
    match read_value_at_most(path, limit)? {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(TypesError::Invalid {
            path: path.to_owned(),
            message: format!("expected a JSON object, found {}; fix or delete the file", kind_name(&other)),
        }),
    }
}

/// Reads and deserialises a typed file. `Ok(None)` when the file does not exist.
pub fn read_typed<T: DeserializeOwned>(path: &Utf8Path) -> Result<Option<T>, TypesError> {
    match read_value(path)? {
        None => Ok(None),
        Some(v) => {
            serde_json::from_value(v).map(Some).map_err(|source| TypesError::Json { path: path.to_owned(), source })
        }
    }
}

/// Python truthiness of a JSON value, as the reference applies it: `null`, `false`, `0`, `0.0`,
/// `""`, `[]` and `{}` are false; everything else is true.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// `v`'s JSON kind for messages: `null`, `a boolean`, `a number`, `a string`, `an array`, `an
/// object`.
pub fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn writes_sorted_keys_two_space_indent_and_newline() {
        #[derive(Serialize)]
        struct S {
            zeta: u8,
            alpha: Vec<u8>,
        }
        let text = to_pretty(&S { zeta: 1, alpha: vec![] }).unwrap();
        assert_eq!(text, "{\n  \"alpha\": [],\n  \"zeta\": 1\n}\n");
        assert_eq!(to_pretty(&json!({"b": 4.0, "a": null})).unwrap(), "{\n  \"a\": null,\n  \"b\": 4.0\n}\n");
    }

    #[test]
    fn truthiness_is_pythons() {
        for falsy in [json!(null), json!(false), json!(0), json!(0.0), json!(""), json!([]), json!({})] {
            assert!(!is_truthy(&falsy), "{falsy}");
        }
        for truthy in [json!(true), json!(1), json!(-0.5), json!("0"), json!([0]), json!({"a": null})] {
            assert!(is_truthy(&truthy), "{truthy}");
        }
    }

    #[test]
    fn reads_python_non_finite_tokens_as_null() {
        let v = parse_lenient(r#"{"best": NaN, "worst": -Infinity, "x": [Infinity], "s": "NaN Infinity"}"#).unwrap();
        assert_eq!(v, json!({"best": null, "worst": null, "x": [null], "s": "NaN Infinity"}));
    }

    #[test]
    fn invalid_json_stays_invalid() {
        assert!(parse_lenient("{\"a\": NaNa}").is_err());
        assert!(parse_lenient("log line\n{}").is_err());
    }

    proptest! {
        #[test]
        fn lenient_parse_never_panics(s in ".{0,64}") {
            let _ = parse_lenient(&s);
        }

        /// Arbitrary bytes (lossily UTF-8) and near-valid JSON (cut, spliced with `NaN`,
        /// quotes, backslashes): a value or an error whose message is non-empty.
        #[test]
        fn lenient_parse_is_a_value_or_a_clear_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            near in crate::arb::near_json(&["best", "score", "status", "NaN", "Infinity"]),
        ) {
            for text in [String::from_utf8_lossy(&bytes).into_owned(), near] {
                if let Err(e) = parse_lenient(&text) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }

        #[test]
        fn lenient_parse_agrees_with_strict_on_valid_json(x in any::<i64>(), s in "[a-zA-Z ]{0,12}") {
            let text = serde_json::to_string(&json!({"n": x, "s": s})).unwrap();
            prop_assert_eq!(parse_lenient(&text).unwrap(), serde_json::from_str::<Value>(&text).unwrap());
        }
    }
}
