//! Temp workspaces, fixture MCP servers and qualification options.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_qualify::{QualifyOptions, RepairHook, Scope};
use harnessgym_snapshot::{CopyPolicy, Purpose};
use harnessgym_types::registry::{Artifact, Registry};
use serde_json::{Value, json};

pub struct Tmp {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
}

impl Tmp {
    pub fn new() -> Self {
        let (dir, root) = harnessgym_test_support::fs::canonical_tempdir();
        Self { _dir: dir, root }
    }

    pub fn path(&self, rel: &str) -> Utf8PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        write(&self.root.join(rel), text);
    }
}

pub use harnessgym_test_support::fs::read_json;

pub fn write(path: &Utf8Path, text: &str) {
    harnessgym_test_support::fs::write_file(path, text);
}

/// Sorted relative paths of every entry under `dir` (not following symlinks).
pub fn listing(dir: &Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push(e.strip_prefix(dir).unwrap().to_string());
    }
    out.sort();
    out
}

fn walk(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries {
        let p = Utf8PathBuf::from_path_buf(e.unwrap().path()).unwrap();
        let is_dir = std::fs::symlink_metadata(&p).unwrap().is_dir();
        out.push(p.clone());
        if is_dir {
            out.extend(walk(&p));
        }
    }
    out
}

/// The fixture MCP server of harnessgym-mcp's tests.
pub fn fixture_server() -> String {
    let path = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures/mcp_server.py");
    std::fs::read_to_string(path).unwrap()
}

/// A workspace with task files and a template captured from it.
pub struct Setup {
    _tmp: Tmp,
    pub ws: Utf8PathBuf,
    pub run_dir: Utf8PathBuf,
}

impl Setup {
    pub fn new() -> Self {
        let tmp = Tmp::new();
        let ws = tmp.path("ws");
        write(&ws.join("task.md"), "Fix numerics.py.\n");
        write(&ws.join("numerics.py"), "x = 1\n");
        let run_dir = ws.join(".harnessgym/runs/r1");
        std::fs::create_dir_all(&run_dir).unwrap();
        let policy = CopyPolicy::load(&ws, Purpose::Copy).unwrap();
        harnessgym_qualify::capture_template(&ws, &harnessgym_qualify::template_dir(&run_dir), &policy).unwrap();
        Self { _tmp: tmp, ws, run_dir }
    }

    pub fn write(&self, rel: &str, text: &str) {
        write(&self.ws.join(rel), text);
    }

    /// A server under `.harnessgym/mcp/<name>/` whose manifest gets `extra` keys.
    pub fn server(&self, name: &str, extra: Value) -> String {
        self.write(&format!(".harnessgym/mcp/{name}/server.py"), &fixture_server());
        let mut manifest = json!({"name": name, "command": "python3",
            "args": [format!(".harnessgym/mcp/{name}/server.py")], "framing": "ndjson"});
        for (k, v) in extra.as_object().unwrap() {
            manifest[k] = v.clone();
        }
        let rel = format!(".harnessgym/mcp/{name}/mcp.json");
        self.write(&rel, &serde_json::to_string_pretty(&manifest).unwrap());
        rel
    }

    pub fn skill(&self, name: &str) -> String {
        let rel = format!(".harnessgym/skills/{name}/SKILL.md");
        self.write(&rel, &format!("---\nname: {name}\ndescription: Helps with {name}.\n---\nBody\n"));
        rel
    }

    /// Writes the registry with `(kind, path, iteration, quarantined)` entries.
    pub fn registry(&self, entries: &[(&str, &str, Option<i64>, bool)]) {
        let mut r = Registry::default();
        for (kind, path, iteration, quarantined) in entries {
            let mut a = Artifact::new(kind, path, "", *iteration);
            if *quarantined {
                a.metadata.insert("quarantined".into(), json!(true));
                a.metadata.insert(
                    "quarantine".into(),
                    json!({"status": "quarantined", "reason": "old", "iteration": 1, "report_path": "old.json"}),
                );
            }
            r.upsert(a);
        }
        harnessgym_artifacts::registry::save(&self.ws, &mut r).unwrap();
    }

    pub fn options(&self, iteration: u32, repair_attempts: u32) -> QualifyOptions {
        QualifyOptions {
            bundle: self.ws.join(".harnessgym"),
            source_workspace: self.ws.clone(),
            template: harnessgym_qualify::template_dir(&self.run_dir),
            room: harnessgym_qualify::room_dir(&self.run_dir),
            policy: CopyPolicy::load(&self.ws, Purpose::Copy).unwrap(),
            reports_dir: self.run_dir.join(format!("iterations/{iteration}/qualification")),
            iteration,
            scope: Scope::Iteration(iteration),
            repair_attempts,
            harnessgym_bin: Utf8PathBuf::from("/usr/local/bin/harnessgym"),
            sandbox: Default::default(),
            mark_registry: true,
            room_prepared: false,
        }
    }

    pub fn registry_entry(&self, path: &str) -> Value {
        let r = read_json(&self.ws.join(".harnessgym/registry.json"));
        r["artifacts"].as_array().unwrap().iter().find(|a| a["path"] == path).cloned().unwrap()
    }
}

/// A repair hook that runs a closure and records the reports it was given.
pub struct Hook {
    pub seen: Arc<Mutex<Vec<(u32, Value)>>>,
    pub action: Box<dyn FnMut(u32) -> bool + Send>,
}

impl Hook {
    pub fn new(action: impl FnMut(u32) -> bool + Send + 'static) -> Self {
        Self { seen: Arc::default(), action: Box::new(action) }
    }

    pub fn calls(&self) -> Vec<(u32, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl RepairHook for Hook {
    async fn repair(&mut self, repair_attempt: u32, failed_report: &Value) -> bool {
        self.seen.lock().unwrap().push((repair_attempt, failed_report.clone()));
        (self.action)(repair_attempt)
    }
}
