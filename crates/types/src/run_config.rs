//! `runs/<id>/run_config.json`: the resolved configuration of a run (the task text is not stored).
//!
//! The file is the serialization of [`RunOptions`] (every group flattened to the reference's flat
//! keys) beside where the run ran. A file the reference wrote loads as is; what it lacks (our own
//! keys: `codex_sandbox`, `keep_qualification_rooms`, …) takes the defaults and is left out again
//! when the file is written back; keys neither of us models are kept in `extra`. Loading and
//! saving a file changes nothing.

use std::collections::BTreeSet;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Extra;
use crate::options::RunOptions;

/// The contents of `run_config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfigFile {
    /// The run's id (its directory name under `runs/`).
    pub run_id: String,
    /// The workspace, absolute and canonical.
    pub workspace: String,
    /// The task file, absolute; `null` when the task was given as text.
    pub task_path: Option<String>,
    /// The options, resolved (`reflection_timeout_seconds` and `post_attempt_score_key` filled in,
    /// `runner_profile` and `remote_root` absolute, ssh `SetEnv` values redacted).
    pub options: RunOptions,
    /// Keys we do not model, kept.
    pub extra: Extra,
    /// Option keys the file did not have when it was read (a reference-written file lacks ours):
    /// left out again when it is written, so loading and saving it changes nothing.
    absent: BTreeSet<String>,
}

impl RunConfigFile {
    /// The file of a run: where it ran and its resolved options.
    pub fn new(run_id: String, workspace: String, task_path: Option<String>, options: RunOptions) -> Self {
        Self { run_id, workspace, task_path, options, extra: Extra::new(), absent: BTreeSet::new() }
    }
}

impl Serialize for RunConfigFile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut map = match serde_json::to_value(&self.options).map_err(S::Error::custom)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.retain(|key, _| !self.absent.contains(key));
        map.insert("run_id".into(), Value::from(self.run_id.clone()));
        map.insert("workspace".into(), Value::from(self.workspace.clone()));
        map.insert("task_path".into(), self.task_path.clone().map_or(Value::Null, Value::from));
        map.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RunConfigFile {
    /// The options take the keys they know; `extra` takes exactly the others (serde's own
    /// flattening would hand every key to both).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let mut take = |key: &str| map.remove(key);
        let run_id = take("run_id").ok_or_else(|| D::Error::missing_field("run_id"))?;
        let workspace = take("workspace").ok_or_else(|| D::Error::missing_field("workspace"))?;
        let task_path = take("task_path").unwrap_or(Value::Null);
        // Options this version cannot read (a choice it does not know, such as a runner the
        // reference dropped) leave the whole file in `extra`: kept and written back as read.
        let options: Option<RunOptions> = serde_json::from_value(Value::Object(map.clone())).ok();
        let mut absent = BTreeSet::new();
        if let Some(options) = &options {
            let known = serde_json::to_value(options).map_err(D::Error::custom)?;
            for key in known.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if map.remove(&key).is_none() {
                    absent.insert(key);
                }
            }
        } else {
            absent = serde_json::to_value(RunOptions::default())
                .map_err(D::Error::custom)?
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
        }
        let options = options.unwrap_or_default();
        Ok(Self {
            run_id: serde_json::from_value(run_id).map_err(D::Error::custom)?,
            workspace: serde_json::from_value(workspace).map_err(D::Error::custom)?,
            task_path: serde_json::from_value(task_path).map_err(D::Error::custom)?,
            options,
            extra: map.into_iter().collect(),
            absent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_a_choice_this_version_does_not_know_is_kept_as_read() {
        let text = r#"{"run_id": "r", "workspace": "/w", "task_path": null, "runner": "tui-goal", "iterations": 2}"#;
        let file: RunConfigFile = serde_json::from_str(text).unwrap();
        assert_eq!(file.extra.get("runner"), Some(&Value::from("tui-goal")));
        let back = serde_json::to_value(&file).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }
}
