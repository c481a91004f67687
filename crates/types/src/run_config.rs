//! `runs/<id>/run_config.json`: the resolved configuration of a run (the task text is not stored).
//!
//! The file is the serialization of [`RunOptions`] (every group flattened to the reference's flat
//! keys) beside where the run ran. A file the reference wrote loads as is; what it lacks (our own
//! keys: `codex_sandbox`, `keep_qualification_rooms`, …) takes the defaults, and keys neither of
//! us models are kept in `extra` and written back.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::Extra;
use crate::options::RunOptions;

/// The contents of `run_config.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunConfigFile {
    /// The run's id (its directory name under `runs/`).
    pub run_id: String,
    /// The workspace, absolute and canonical.
    pub workspace: String,
    /// The task file, absolute; `null` when the task was given as text.
    pub task_path: Option<String>,
    /// The options, resolved (`reflection_timeout_seconds` and `post_attempt_score_key` filled in,
    /// `runner_profile` and `remote_root` absolute, ssh `SetEnv` values redacted).
    #[serde(flatten)]
    pub options: RunOptions,
    /// Keys we do not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
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
        let options: RunOptions = serde_json::from_value(Value::Object(map.clone())).map_err(D::Error::custom)?;
        let known = serde_json::to_value(&options).map_err(D::Error::custom)?;
        let known = known.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        for key in known {
            map.remove(&key);
        }
        Ok(Self {
            run_id: serde_json::from_value(run_id).map_err(D::Error::custom)?,
            workspace: serde_json::from_value(workspace).map_err(D::Error::custom)?,
            task_path: serde_json::from_value(task_path).map_err(D::Error::custom)?,
            options,
            extra: map.into_iter().collect(),
        })
    }
}
