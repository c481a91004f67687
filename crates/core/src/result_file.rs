//! One iteration's result.json: the agent edits it freely; the orchestrator merges into it.
//!
//! Everything the orchestrator merged is also kept in memory, so an agent that corrupts the file
//! loses nothing of ours: the unreadable file is moved aside to `result.invalid-<n>.json` (nothing
//! the agent wrote is lost either) and a fresh file is rebuilt from our part.

use camino::Utf8PathBuf;
use harnessgym_types::result::deep_merge;
use harnessgym_types::timefmt::utc_now;
use serde_json::{Map, Value};

/// The most a result.json may hold (16 MiB): it is a report, not a data store. A bigger one is
/// moved aside like an unreadable one, not read into memory.
pub const MAX_RESULT_BYTES: u64 = 16 * 1024 * 1024;

pub struct ResultFile {
    pub path: Utf8PathBuf,
    ours: Map<String, Value>,
}

impl ResultFile {
    pub fn create(path: Utf8PathBuf, initial: Map<String, Value>) -> Result<Self, String> {
        let file = Self { path, ours: initial };
        harnessgym_types::json::write_json(&file.path, &file.ours).map_err(|e| e.to_string())?;
        Ok(file)
    }

    /// Reads the current document. An unreadable or non-object file is moved aside and rebuilt
    /// from the orchestrator's part; the returned message says so.
    pub fn read(&self) -> (Map<String, Value>, Option<String>) {
        match harnessgym_types::json::read_object_at_most(&self.path, MAX_RESULT_BYTES) {
            Ok(Some(map)) => (map, None),
            Ok(None) => (self.ours.clone(), Some(format!("{} was deleted during the phase; rebuilt it", self.path))),
            Err(e) => {
                let aside = harnessgym_artifacts::registry::move_aside(&self.path)
                    .map(|p| format!("moved it to {p}"))
                    .unwrap_or_else(|m| format!("could not move it aside ({m})"));
                let message = format!(
                    "{e}; {aside} and wrote a fresh result.json; write result.json as one JSON object (see the prompt's result shape)"
                );
                let fresh = self.ours.clone();
                let _ = harnessgym_types::json::write_json(&self.path, &fresh);
                (fresh, Some(message))
            }
        }
    }

    /// Deep-merges `update` into the file (and into our part), refreshing `updated_at`.
    /// Returns the merged document and a problem to record, if any.
    pub fn update(&mut self, update: Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
        let mut problems = Vec::new();
        deep_merge(&mut self.ours, &update);
        let (mut current, problem) = self.read();
        problems.extend(problem);
        deep_merge(&mut current, &update);
        current.insert("updated_at".into(), Value::from(utc_now()));
        if let Err(e) = harnessgym_types::json::write_json(&self.path, &current) {
            problems.push(e.to_string());
        }
        (current, problems)
    }

    /// A handle on a result.json an earlier process wrote (a resumed run): what is in it now
    /// counts as ours.
    pub fn reopen(path: Utf8PathBuf) -> Self {
        let ours =
            harnessgym_types::json::read_object_at_most(&path, MAX_RESULT_BYTES).ok().flatten().unwrap_or_default();
        Self { path, ours }
    }

    /// A handle that has not written anything (used when the file could not be created).
    pub fn detached(path: Utf8PathBuf, ours: Map<String, Value>) -> Self {
        Self { path, ours }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_json_over_the_limit_is_moved_aside_unread_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("result.json")).unwrap();
        let mut file = ResultFile::create(path.clone(), Map::new()).unwrap();
        let padding = "x".repeat(usize::try_from(MAX_RESULT_BYTES).unwrap());
        std::fs::write(&path, format!("{{\"notes\": \"{padding}\"}}")).unwrap();
        let (doc, problems) = file.update(json!({"status": "running"}).as_object().unwrap().clone());
        assert_eq!(doc["status"], "running");
        assert!(problems.iter().any(|p| p.contains("larger than 16777216 bytes")), "{problems:?}");
        assert!(dir.path().join("result.invalid-1.json").is_file(), "the agent's file is kept aside");
    }

    #[test]
    fn invalid_result_json_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("result.json")).unwrap();
        let initial = json!({"status": "running", "iteration": 1}).as_object().unwrap().clone();
        let mut file = ResultFile::create(path.clone(), initial).unwrap();
        file.update(json!({"phases": {"attempt": {"status": "completed"}}}).as_object().unwrap().clone());
        std::fs::write(&path, "{ this is not json").unwrap();
        let (doc, problems) = file.update(json!({"post_attempt": {"status": "failed"}}).as_object().unwrap().clone());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("result.invalid-1.json"), "{}", problems[0]);
        assert_eq!(doc["phases"]["attempt"]["status"], "completed", "our earlier merge survives");
        assert_eq!(doc["post_attempt"]["status"], "failed");
        assert_eq!(std::fs::read_to_string(dir.path().join("result.invalid-1.json")).unwrap(), "{ this is not json");
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk["iteration"], 1);
    }

    #[test]
    fn non_object_result_json_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("result.json")).unwrap();
        let file = ResultFile::create(path.clone(), Map::new()).unwrap();
        std::fs::write(&path, "[1, 2]").unwrap();
        let (_, problem) = file.read();
        assert!(problem.unwrap().contains("expected a JSON object"));
    }
}
