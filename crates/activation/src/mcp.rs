//! MCP servers: resolve each manifest, determine the server's framing (once per manifest
//! content), smoke-test it (initialize + tools/list in that framing; a JSON-RPC error fails),
//! run its mandatory self-test, and gate it.

use std::collections::BTreeMap;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_mcp::client::{McpClient, ServerCommand};
use harnessgym_mcp::manifest::{ManifestError, NormalizedServer, SelfTestSpec, normalize_confined};
use harnessgym_mcp::{Framing, detect_server_framing};
use harnessgym_types::TypesError;
use harnessgym_types::activation::McpServerActivation;
use harnessgym_types::confine;
use harnessgym_types::registry::MCP_MANIFEST_NAMES;
use serde_json::{Value, json};

use crate::sandbox::SandboxSetting;

/// Characters of self-test output kept in the report.
const OUTPUT_LIMIT: usize = 8000;
const CACHE_FILE: &str = ".harnessgym/mcp_framing_cache.json";

/// The manifest file of an `mcp` artifact: a `.json` file itself; in a directory, the first of
/// the manifest names; beside another file, a sibling manifest.
pub fn manifest_path(workspace: &Utf8Path, artifact_path: &str) -> Option<Utf8PathBuf> {
    let path = workspace.join(artifact_path);
    if path.is_file() && path.extension() == Some("json") {
        return Some(path);
    }
    let dir = if path.is_dir() { path } else { path.parent()?.to_owned() };
    MCP_MANIFEST_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Framings already determined, keyed by the manifest's content.
pub struct FramingCache {
    path: Utf8PathBuf,
    entries: BTreeMap<String, Framing>,
    dirty: bool,
}

impl FramingCache {
    pub fn load(workspace: &Utf8Path) -> Self {
        let path = workspace.join(CACHE_FILE);
        let entries =
            harnessgym_types::json::read_typed::<BTreeMap<String, Framing>>(&path).ok().flatten().unwrap_or_default();
        Self { path, entries, dirty: false }
    }

    /// Writes the cache file if an entry was added since [`Self::load`].
    pub fn save(&self) -> Result<(), TypesError> {
        if !self.dirty {
            return Ok(());
        }
        harnessgym_types::json::write_json(&self.path, &self.entries)
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= OUTPUT_LIMIT {
        return text.to_owned();
    }
    let cut: String = text.chars().take(OUTPUT_LIMIT).collect();
    format!("{cut}\n...[truncated]...")
}

/// How activation starts `server` (smoke, probe): in the bundle sandbox, the workspace writable.
fn command_of(server: &NormalizedServer, workspace: &Utf8Path, sandbox: &SandboxSetting) -> ServerCommand {
    let network = sandbox.network_for(server.network);
    let (program, args) = sandbox.wrap(server.command.clone(), server.args.clone(), workspace, &server.cwd, network);
    ServerCommand::new(program, args, server.cwd.clone()).env("HARNESSGYM_WORKSPACE", workspace.as_str())
}

async fn smoke_check(
    server: &NormalizedServer,
    framing: Framing,
    workspace: &Utf8Path,
    sandbox: &SandboxSetting,
) -> Value {
    let cmd = command_of(server, workspace, sandbox);
    let client = match McpClient::start(&cmd, framing) {
        Ok(c) => c,
        Err(e) => return json!({"status": "failed", "message": format!("could not start server: {e}")}),
    };
    let outcome = async {
        client.initialize(Duration::from_secs(server.startup_timeout_sec)).await?;
        client.list_tools(Duration::from_secs(server.tool_timeout_sec)).await
    }
    .await;
    let verdict = match outcome {
        Ok(tools) => json!({"status": "passed", "tools": tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>()}),
        Err(e) => json!({"status": "failed", "message": e.to_string()}),
    };
    client.shutdown().await;
    verdict
}

async fn self_test(
    spec: Option<&SelfTestSpec>,
    server: &NormalizedServer,
    scratch: &Utf8Path,
    workspace: &Utf8Path,
    sandbox: &SandboxSetting,
) -> Value {
    let Some(spec) = spec else {
        return json!({"status": "not_configured", "message": "manifest has no self_test command"});
    };
    let Some((program, args)) = spec.command.split_first() else {
        return json!({"status": "failed", "message": "self_test command is empty or invalid"});
    };
    let timeout = spec.timeout_sec.unwrap_or(server.self_test_timeout_sec);
    let stdout = scratch.join("self_test.stdout.txt");
    let stderr = scratch.join("self_test.stderr.txt");
    let network = sandbox.network_for(server.network);
    let (program, args) = sandbox.wrap(program.clone(), args.to_vec(), workspace, &spec.cwd, network);
    let run = harnessgym_proc::CommandSpec::new(program, spec.cwd.clone(), stdout.clone(), stderr.clone())
        .args(args)
        .timeout(Duration::from_secs(timeout));
    let outcome = harnessgym_proc::run(run).await;
    let read = |p: &Utf8Path| std::fs::read(p).map(|b| truncate(&String::from_utf8_lossy(&b))).unwrap_or_default();
    let (out, err) = (read(&stdout), read(&stderr));
    let _ = std::fs::remove_dir_all(scratch);
    match outcome {
        Err(e) => {
            json!({"status": "failed", "message": format!("could not run self-test: {e}"), "command": spec.command})
        }
        Ok(o) if o.timed_out => json!({"status": "timeout", "message": format!("self-test timed out after {timeout}s"),
            "command": spec.command, "stdout": out, "stderr": err}),
        Ok(o) if o.return_code == Some(0) => json!({"status": "passed", "message": "self-test passed",
            "command": spec.command, "return_code": 0, "stdout": out, "stderr": err}),
        Ok(o) => json!({"status": "failed",
            "message": format!("self-test exited {}", o.return_code.map_or_else(|| "by a signal".to_owned(), |c| c.to_string())),
            "command": spec.command, "return_code": o.return_code, "stdout": out, "stderr": err}),
    }
}

/// The outcome of activating one MCP artifact.
pub struct ServerVerdict {
    pub entry: McpServerActivation,
    pub server: NormalizedServer,
    pub framing: Framing,
    pub warnings: Vec<String>,
}

/// A manifest read and normalised, not yet started.
pub struct ResolvedServer {
    pub server: NormalizedServer,
    /// The manifest as written (its content keys the framing cache).
    pub raw: Value,
}

/// Why an `mcp` artifact cannot be started: activation reports it as a warning.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No manifest file where the artifact points ([`manifest_path`]).
    #[error("mcp artifact has no manifest: {artifact_path}")]
    Missing {
        /// The artifact's registry path.
        artifact_path: String,
    },
    /// The artifact path or its manifest leaves the workspace (absolute, `..`, a symlink).
    #[error("mcp artifact refused ({reason}): {artifact_path}")]
    Refused {
        /// The artifact's registry path.
        artifact_path: String,
        /// Which confinement rule it breaks.
        reason: String,
    },
    /// The manifest file cannot be read or is not JSON.
    #[error("invalid mcp manifest {manifest}: {source}")]
    Unreadable {
        /// The manifest file.
        manifest: Utf8PathBuf,
        /// What reading it said.
        #[source]
        source: TypesError,
    },
    /// The manifest is JSON but not a usable server description.
    #[error("invalid mcp manifest {manifest}: {source}")]
    Invalid {
        /// The manifest file.
        manifest: Utf8PathBuf,
        /// What normalising it said.
        #[source]
        source: ManifestError,
    },
}

/// Finds, reads and normalises an artifact's manifest. `Err` is a warning (no manifest, invalid
/// manifest).
pub fn resolve_server(workspace: &Utf8Path, artifact_path: &str) -> Result<ResolvedServer, ResolveError> {
    let refused = |reason: String| ResolveError::Refused { artifact_path: artifact_path.to_owned(), reason };
    if let Some(reason) = confine::registry_path_refusal(artifact_path) {
        return Err(refused(reason));
    }
    confine::resolve_inside(workspace, Utf8Path::new(artifact_path)).map_err(|e| refused(e.to_string()))?;
    let manifest = manifest_path(workspace, artifact_path)
        .ok_or_else(|| ResolveError::Missing { artifact_path: artifact_path.to_owned() })?;
    confine::resolve_inside(workspace, &manifest).map_err(|e| refused(e.to_string()))?;
    let raw = match harnessgym_types::json::read_value(&manifest) {
        Ok(raw) => raw.unwrap_or(Value::Null),
        Err(source) => return Err(ResolveError::Unreadable { manifest, source }),
    };
    let server = match normalize_confined(&raw, &manifest, workspace) {
        Ok(server) => server,
        Err(source) => return Err(ResolveError::Invalid { manifest, source }),
    };
    Ok(ResolvedServer { server, raw })
}

async fn probe(
    server: &NormalizedServer,
    workspace: &Utf8Path,
    sandbox: &SandboxSetting,
) -> Result<Framing, harnessgym_mcp::McpError> {
    let cmd = command_of(server, workspace, sandbox);
    detect_server_framing(&cmd, Duration::from_secs(server.startup_timeout_sec)).await
}

/// Smoke, self-test and gate one manifest. `Err` is a warning (no manifest, invalid manifest).
pub async fn check_server(
    workspace: &Utf8Path,
    artifact_path: &str,
    cache: &mut FramingCache,
    scratch: &Utf8Path,
    sandbox: &SandboxSetting,
) -> Result<ServerVerdict, ResolveError> {
    let resolved = resolve_server(workspace, artifact_path)?;
    Ok(check_resolved(workspace, artifact_path, resolved, cache, scratch, sandbox).await)
}

/// Smoke, self-test and gate a resolved server, every process of it in `sandbox`.
pub async fn check_resolved(
    workspace: &Utf8Path,
    artifact_path: &str,
    resolved: ResolvedServer,
    cache: &mut FramingCache,
    scratch: &Utf8Path,
    sandbox: &SandboxSetting,
) -> ServerVerdict {
    let ResolvedServer { server, raw } = resolved;
    let mut warnings = Vec::new();

    let cache_key = raw.to_string();
    let (framing, framing_source) = match (server.framing, cache.entries.get(&cache_key)) {
        (Some(f), _) => (Ok(f), "manifest"),
        (None, Some(f)) => (Ok(*f), "cache"),
        (None, None) => (probe(&server, workspace, sandbox).await, "probe"),
    };
    let (mut framing, mut smoke) = match framing {
        Ok(f) => {
            if framing_source == "probe" {
                cache.entries.insert(cache_key.clone(), f);
                cache.dirty = true;
            }
            (f, smoke_check(&server, f, workspace, sandbox).await)
        }
        Err(e) => (Framing::Ndjson, json!({"status": "failed", "message": format!("no initialize response: {e}")})),
    };
    // The cache is keyed by the manifest, but the agent may have rewritten the server behind an
    // unchanged manifest (say, from Content-Length to newline JSON): a failed smoke in a cached
    // framing probes again before the server is declared broken.
    if framing_source == "cache"
        && smoke.get("status").and_then(Value::as_str) != Some("passed")
        && let Ok(probed) = probe(&server, workspace, sandbox).await
        && probed != framing
    {
        cache.entries.insert(cache_key, probed);
        cache.dirty = true;
        framing = probed;
        smoke = smoke_check(&server, probed, workspace, sandbox).await;
    }
    let smoke_status = smoke.get("status").and_then(Value::as_str).unwrap_or("failed").to_owned();
    if smoke_status != "passed" {
        let message = smoke.get("message").and_then(Value::as_str).unwrap_or("");
        warnings.push(format!("mcp smoke failed for {}: {message}", server.name));
    }
    let test = self_test(server.self_test.as_ref(), &server, scratch, workspace, sandbox).await;
    let test_status = test.get("status").and_then(Value::as_str).unwrap_or("failed").to_owned();
    if matches!(test_status.as_str(), "failed" | "timeout") {
        let message = test.get("message").and_then(Value::as_str).unwrap_or("");
        warnings.push(format!("mcp self-test failed for {}: {message}", server.name));
    }
    let smoke_tools: Vec<String> = smoke
        .get("tools")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let checks = [
        ("smoke", smoke_status == "passed"),
        ("self_test", test_status == "passed"),
        ("tool_inventory", !smoke_tools.is_empty() || !server.enabled_tools.is_empty()),
    ];
    let failed: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    let passed = failed.is_empty();
    let message = if passed { "passed".to_owned() } else { format!("failed checks: {}", failed.join(", ")) };
    if !passed {
        warnings.push(format!("mcp quality gate failed for {}: {message}", server.name));
    }
    let gate = json!({
        "status": if passed { "passed" } else { "failed" },
        "checks": checks.iter().map(|(n, ok)| (n.to_string(), json!(ok))).collect::<serde_json::Map<_, _>>(),
        "message": message,
        "smoke_status": smoke_status,
        "self_test_status": test_status,
        "smoke_tools": smoke_tools,
        "manifest_tools": server.enabled_tools,
    });
    let mut extra = harnessgym_types::Extra::new();
    extra.insert("command".into(), json!(server.command));
    extra.insert("args".into(), json!(server.args));
    extra.insert("cwd".into(), json!(server.cwd));
    extra.insert("startup_timeout_sec".into(), json!(server.startup_timeout_sec));
    extra.insert("tool_timeout_sec".into(), json!(server.tool_timeout_sec));
    extra.insert("self_test_timeout_sec".into(), json!(server.self_test_timeout_sec));
    extra.insert("self_test".into(), test);
    extra.insert("quality_gate".into(), gate);
    extra.insert("framing".into(), json!(framing.as_str()));
    // What the proxy applies when an agent starts the server (`launch::launches`).
    extra.insert("sandbox".into(), json!(sandbox.sandbox.mode()));
    extra.insert("network".into(), json!(sandbox.network_for(server.network)));
    let entry = McpServerActivation {
        artifact_path: artifact_path.to_owned(),
        name: server.name.clone(),
        active: Some(passed),
        enabled_tools: server.enabled_tools.clone(),
        smoke: Some(smoke),
        extra,
    };
    ServerVerdict { entry, server, framing, warnings }
}
