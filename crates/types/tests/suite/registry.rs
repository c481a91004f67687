//! Registry entries that cannot be read are named for what is wrong with them.

use harnessgym_types::registry::Artifact;
use serde_json::json;

#[test]
fn a_kind_that_is_not_a_string_is_named_with_its_json_type() {
    let err = Artifact::from_value(&json!({"kind": 1, "path": "p"})).unwrap_err();
    assert_eq!(err.to_string(), "artifact entry \"kind\" is a number, not a string");
    let err = Artifact::from_value(&json!({"kind": ["skill"], "path": "p"})).unwrap_err();
    assert_eq!(err.to_string(), "artifact entry \"kind\" is an array, not a string");
    let err = Artifact::from_value(&json!({"kind": "skill", "path": false})).unwrap_err();
    assert_eq!(err.to_string(), "artifact entry \"path\" is a boolean, not a string");
}

#[test]
fn a_missing_or_empty_kind_still_has_no_kind() {
    assert_eq!(Artifact::from_value(&json!({"path": "p"})).unwrap_err().to_string(), "artifact entry has no \"kind\"");
    assert_eq!(
        Artifact::from_value(&json!({"kind": "", "path": "p"})).unwrap_err().to_string(),
        "artifact entry has no \"kind\""
    );
    assert_eq!(
        Artifact::from_value(&json!({"kind": null, "path": "p"})).unwrap_err().to_string(),
        "artifact entry has no \"kind\""
    );
}
