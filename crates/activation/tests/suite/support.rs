//! Temp workspaces with fixture servers, registries, and the harnessgym binary.

use std::path::{Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_activation::{ActivationOptions, activate};
use harnessgym_types::activation::{ActivationReport, McpServerActivation};
use harnessgym_types::registry::{Artifact, Registry};
use serde_json::{Value, json};

/// What activation writes as the harnessgym binary when no test runs it.
pub const FAKE_BIN: &str = "/opt/harnessgym/bin/harnessgym";

/// A canonical temp workspace.
pub struct Ws {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
}

impl Ws {
    pub fn new() -> Self {
        let (dir, root) = harnessgym_test_support::fs::canonical_tempdir();
        std::fs::create_dir_all(root.join(".harnessgym")).expect("bundle dir");
        Self { _dir: dir, root }
    }

    pub fn path(&self, rel: &str) -> Utf8PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        harnessgym_test_support::fs::write_file(&self.path(rel), text);
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// Copies fixture `script` (`mcp_server.py` or `reference_server.py`) to
    /// `.harnessgym/mcp/<dir>/server.py` and writes `manifest` as its `mcp.json`. Returns the
    /// server's relative path.
    pub fn server(&self, dir: &str, script: &str, manifest: Value) -> String {
        let rel = format!(".harnessgym/mcp/{dir}/server.py");
        let source = fixture(script);
        self.write(&rel, &std::fs::read_to_string(&source).expect("fixture"));
        self.write(&format!(".harnessgym/mcp/{dir}/mcp.json"), &serde_json::to_string_pretty(&manifest).expect("json"));
        rel
    }

    /// A skill directory `.harnessgym/skills/<name>` with a valid SKILL.md.
    pub fn skill(&self, name: &str) -> String {
        let rel = format!(".harnessgym/skills/{name}");
        self.write(&format!("{rel}/SKILL.md"), &format!("---\nname: {name}\ndescription: Helps.\n---\nBody\n"));
        rel
    }

    /// Lines of a start-count file written by `mcp_server.py --count-starts`.
    pub fn starts(&self, rel: &str) -> usize {
        std::fs::read_to_string(self.path(rel)).map(|t| t.lines().count()).unwrap_or(0)
    }
}

pub fn fixture(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures").join(script)
}

/// A manifest for `server_rel` run by python3 with `flags`, plus the `extra` keys.
pub fn manifest(name: &str, server_rel: &str, flags: &[&str], extra: Value) -> Value {
    let mut args = vec![json!(server_rel)];
    args.extend(flags.iter().map(|f| json!(f)));
    let mut m = json!({"name": name, "command": "python3", "args": args});
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
        m.extend(extra);
    }
    m
}

/// A registry of `(kind, path)` entries.
pub fn registry(entries: &[(&str, &str)]) -> Registry {
    let mut r = Registry::default();
    for (kind, path) in entries {
        r.upsert(Artifact::new(kind, path, "", Some(1)));
    }
    r
}

pub async fn run(ws: &Ws, registry: &Registry) -> ActivationReport {
    run_with(ws, registry, Utf8Path::new(FAKE_BIN)).await
}

pub async fn run_with(ws: &Ws, registry: &Registry, bin: &Utf8Path) -> ActivationReport {
    let options = ActivationOptions::new(ws.root.clone(), bin.to_owned());
    tokio::time::timeout(std::time::Duration::from_secs(120), activate(&options, registry))
        .await
        .expect("activation finished in time")
}

pub fn server<'a>(report: &'a ActivationReport, name: &str) -> &'a McpServerActivation {
    report.mcp_servers.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no server {name} in {report:#?}"))
}

pub fn extra<'a>(entry: &'a McpServerActivation, key: &str) -> &'a Value {
    entry.extra.get(key).unwrap_or_else(|| panic!("no {key} on {entry:#?}"))
}

/// The `harnessgym` binary of this target directory, freshly built (a no-op when up to date).
pub use harnessgym_test_support::cli_bin as harnessgym_bin;
