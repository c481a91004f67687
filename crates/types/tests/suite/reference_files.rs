//! Files written by the Python reference (harnessgym 0.1.1: a fake optimisation run with an
//! active Content-Length MCP server and a skill, and a fake compare) load into our types and
//! write back unchanged — same keys, same values, and byte-for-byte the same text.

use std::path::PathBuf;

use harnessgym_types::activation::ActivationReport;
use harnessgym_types::checkpoint::CheckpointManifest;
use harnessgym_types::compare::{CompareReport, TrialRecord};
use harnessgym_types::json::to_pretty;
use harnessgym_types::post::PostRecord;
use harnessgym_types::qualification::QualificationReport;
use harnessgym_types::registry::Registry;
use harnessgym_types::run_config::RunConfigFile;
use harnessgym_types::runner::RunnerResult;
use harnessgym_types::summary::Summary;
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> (String, Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

/// Typed load, then write: the same JSON value and the same text as the reference wrote.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let (text, value) = fixture(name);
    let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, value, "{name}: keys or values changed");
    assert_eq!(to_pretty(&typed).unwrap(), text, "{name}: text differs from the reference's");
    typed
}

#[test]
fn registry_round_trips() {
    let (text, value) = fixture("registry.json");
    let registry = Registry::from_value(value.clone()).unwrap();
    assert!(registry.invalid.is_empty());
    assert!(registry.artifacts.iter().any(|a| a.kind == "mcp"));
    assert_eq!(registry.to_value(), value);
    assert_eq!(to_pretty(&registry.to_value()).unwrap(), text);
    assert_eq!(registry.to_pretty_json().unwrap(), text, "the direct writer writes the same bytes");
}

#[test]
fn activation_with_an_active_mcp_server_round_trips() {
    let report: ActivationReport = round_trip("activation.json");
    assert_eq!(report.active_tools(), ["run_verifier"]);
    assert_eq!(report.skills.len(), 1);
}

#[test]
fn run_config_round_trips() {
    let config: RunConfigFile = round_trip("run_config.json");
    assert!(config.options.optimization_mode);
}

#[test]
fn summary_of_an_optimisation_run_round_trips_as_far_as_the_reference_has_keys() {
    // Our summary adds `errors` and `best_unverified_score`; everything the reference wrote
    // must load and be written back unchanged.
    let (_, value) = fixture("summary.json");
    let summary: Summary = serde_json::from_value(value.clone()).unwrap();
    let mut back = serde_json::to_value(&summary).unwrap();
    let obj = back.as_object_mut().unwrap();
    assert_eq!(obj.remove("errors"), Some(Value::Array(vec![])));
    assert_eq!(obj.remove("best_unverified_score"), Some(Value::Null));
    for row in obj["iterations"].as_array_mut().unwrap() {
        for phase in ["attempt", "reflection", "build"] {
            if let Some(record) = row[phase].as_object_mut() {
                assert_eq!(record.remove("usage"), Some(Value::Null));
                assert_eq!(record.remove("cost_usd"), Some(Value::Null));
            }
        }
    }
    assert_eq!(back, value);
    assert_eq!(summary.best_score, Some(4.0));
    assert!(summary.baseline_post_attempt.is_some());
}

#[test]
fn checkpoint_manifest_round_trips() {
    let manifest: CheckpointManifest = round_trip("best_manifest.json");
    assert_eq!(manifest.reason, "post_attempt_best_score");
}

#[test]
fn qualification_report_round_trips() {
    let report: QualificationReport = round_trip("qualification.json");
    assert_eq!(report.status, "passed");
}

#[test]
fn phase_and_post_records_inside_result_json_load() {
    for name in ["result_1.json", "result_2.json"] {
        let (_, value) = fixture(name);
        for (phase, record) in value["phases"].as_object().unwrap() {
            let typed: RunnerResult = serde_json::from_value(record.clone()).unwrap_or_else(|e| panic!("{phase}: {e}"));
            let mut back = serde_json::to_value(&typed).unwrap();
            let obj = back.as_object_mut().unwrap();
            assert_eq!(obj.remove("usage"), Some(Value::Null));
            assert_eq!(obj.remove("cost_usd"), Some(Value::Null));
            assert_eq!(&back, record, "{name} phases.{phase}");
        }
        let post: PostRecord = serde_json::from_value(value["post_attempt"].clone()).unwrap();
        assert_eq!(serde_json::to_value(&post).unwrap(), value["post_attempt"]);
    }
}

#[test]
fn compare_trial_and_report_round_trip() {
    let trial: TrialRecord = round_trip("trial_harnessed.json");
    assert_eq!(trial.group, "harnessed");
    let report: CompareReport = round_trip("compare_report.json");
    assert_eq!(report.trials.len(), 2);
}
