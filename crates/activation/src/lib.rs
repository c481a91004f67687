//! Activation: projecting generated artifacts into the agent's native places — skills linked
//! into `.agents/skills` and `.claude/skills`, MCP servers into `.codex/config.toml` and a Claude
//! MCP config — always behind `harnessgym mcp-proxy`, so every tool call is logged.
//!
//! Activation decides what is *active* (smoke + self-test + tool inventory per server); it never
//! decides promotion or quarantine (that is qualification's job).

pub mod call;
pub mod claude_config;
pub mod codex_config;
pub mod helper;
pub mod launch;
pub mod mcp;
pub mod sandbox;
pub mod skills;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_mcp::Framing;
use harnessgym_mcp::manifest::NormalizedServer;
use harnessgym_types::activation::{ActivationReport, ArtifactRef, OverallGate};
use harnessgym_types::registry::Registry;
use serde_json::json;

/// Where activation writes, which binary the proxy runs, and the bundle sandbox.
#[derive(Clone, Debug)]
pub struct ActivationOptions {
    pub workspace: Utf8PathBuf,
    /// Absolute path of the running `harnessgym` binary (it serves `mcp-proxy` and `mcp-call`).
    pub harnessgym_bin: Utf8PathBuf,
    /// The sandbox of the servers' smoke probes and self-tests, and of the servers agents start
    /// (their launch lines carry it to `mcp-proxy`). Recorded as the report's `bundle_sandbox`.
    pub sandbox: sandbox::SandboxSetting,
}

impl ActivationOptions {
    /// Activation of `workspace` through `harnessgym_bin`, without a bundle sandbox.
    pub fn new(workspace: Utf8PathBuf, harnessgym_bin: Utf8PathBuf) -> Self {
        Self { workspace, harnessgym_bin, sandbox: sandbox::SandboxSetting::off() }
    }

    /// The same, with `sandbox`.
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: sandbox::SandboxSetting) -> Self {
        self.sandbox = sandbox;
        self
    }
}

pub const CLAUDE_CONFIG: &str = ".harnessgym/claude_mcp_config.json";

/// `harnessgym mcp-proxy … -- <server argv>`: how both agents launch an active server.
pub fn proxy_args(options: &ActivationOptions, server: &NormalizedServer, framing: Framing) -> Vec<String> {
    let mut args = vec![
        "mcp-proxy".to_owned(),
        "--server-name".to_owned(),
        server.name.clone(),
        "--workspace".to_owned(),
        options.workspace.to_string(),
        "--cwd".to_owned(),
        server.cwd.to_string(),
        "--server-framing".to_owned(),
        framing.as_str().to_owned(),
        "--response-timeout".to_owned(),
        server.tool_timeout_sec.to_string(),
    ];
    args.extend(options.sandbox.proxy_flags(options.sandbox.network_for(server.network)));
    args.push("--".to_owned());
    args.push(server.command.clone());
    args.extend(server.args.iter().cloned());
    args
}

/// Activates the registry's non-quarantined artifacts in `options.workspace` and reports.
pub async fn activate(options: &ActivationOptions, registry: &Registry) -> ActivationReport {
    let ws = &options.workspace;
    let mut report = ActivationReport {
        quarantined_artifacts: registry
            .quarantined()
            .map(|a| ArtifactRef { kind: a.kind.clone(), path: a.path.clone() })
            .collect(),
        ..Default::default()
    };
    report.extra.insert("bundle_sandbox".into(), options.sandbox.report());
    let skill_paths: Vec<&str> = registry.visible().filter(|a| a.kind == "skill").map(|a| a.path.as_str()).collect();
    let skills = skills::activate_skills(ws, &skill_paths);
    report.skills = skills.skills;
    report.warnings.extend(skills.warnings);
    report.advisories.extend(skills.advisories);

    let mut cache = mcp::FramingCache::load(ws);
    // Self-test output goes here, and it is removed afterwards: never through a symlink.
    let scratch_root =
        match harnessgym_types::confine::resolve_inside(ws, Utf8Path::new(".harnessgym/runtime/self_tests")) {
            Ok(root) => root,
            Err(e) => {
                report.warnings.push(format!(
                    "refused {}: {e}; no MCP server was started",
                    ws.join(".harnessgym/runtime/self_tests")
                ));
                write_agent_configs(options, &[], &mut report);
                finalize_gate(&mut report);
                return report;
            }
        };
    let mut active = Vec::new();
    let mut seen_names = std::collections::BTreeSet::new();
    for (i, artifact) in registry.visible().filter(|a| a.kind == "mcp").enumerate() {
        let resolved = match mcp::resolve_server(ws, &artifact.path) {
            Ok(r) => r,
            Err(warning) => {
                report.warnings.push(warning.to_string());
                continue;
            }
        };
        // One entry per server name, and a duplicate is not even started (bug B18: the
        // reference re-tested and re-reported duplicates of inactive servers); the manifest and
        // its server.py are one server.
        if !seen_names.insert(resolved.server.name.clone()) {
            continue;
        }
        let scratch = scratch_root.join(i.to_string());
        if resolved.server.network == Some(false) && options.sandbox.sandbox == harnessgym_proc::sandbox::Sandbox::Off {
            report.advisories.push(format!(
                "MCP server {}: its manifest says \"network\": false, which only the bundle sandbox enforces, and there \
                 is none (--bundle-sandbox {}): it keeps the network",
                resolved.server.name,
                options.sandbox.requested
            ));
        }
        let verdict = mcp::check_resolved(ws, &artifact.path, resolved, &mut cache, &scratch, &options.sandbox).await;
        report.warnings.extend(verdict.warnings);
        if verdict.entry.is_active() {
            active.push((verdict.server.clone(), verdict.framing));
        }
        report.mcp_servers.push(verdict.entry);
    }
    let _ = std::fs::remove_dir_all(&scratch_root);
    if let Err(e) = cache.save() {
        report.advisories.push(format!("could not save the MCP framing cache: {e}"));
    }
    write_agent_configs(options, &active, &mut report);
    finalize_gate(&mut report);
    report
}

fn write_agent_configs(
    options: &ActivationOptions,
    active: &[(NormalizedServer, Framing)],
    report: &mut ActivationReport,
) {
    let ws = &options.workspace;
    let bin = options.harnessgym_bin.to_string();
    // Codex: project config, edited in place.
    let codex_path = ws.join(".codex/config.toml");
    // Never through a symlink (`.codex` or the file): its target is neither read nor written.
    let (existing, codex_confined) = match confined_file(ws, ".codex/config.toml") {
        Ok(path) => (std::fs::read_to_string(path).ok(), true),
        Err(refusal) => {
            report.warnings.push(format!(
                "{refusal}; HarnessGym did not read or change it (the MCP servers are still passed on the command line)"
            ));
            (None, false)
        }
    };
    let codex_servers: Vec<codex_config::CodexServer> = active
        .iter()
        .map(|(s, f)| codex_config::CodexServer {
            name: s.name.clone(),
            command: bin.clone(),
            args: proxy_args(options, s, *f),
            cwd: s.cwd.to_string(),
            startup_timeout_sec: s.startup_timeout_sec,
            tool_timeout_sec: s.tool_timeout_sec + 5,
            enabled_tools: s.enabled_tools.clone(),
        })
        .collect();
    match codex_config::edit(codex_path.as_str(), existing.as_deref(), &codex_servers) {
        Ok(_) if !codex_confined => {}
        Ok(edit) => {
            report.warnings.extend(edit.warnings);
            if let Some(text) = edit.text.filter(|t| Some(t) != existing.as_ref())
                && let Err(e) = harnessgym_types::atomic::write_atomic(&codex_path, text.as_bytes())
            {
                report.warnings.push(format!("could not write {codex_path}: {e}"));
            }
        }
        Err(_) if !codex_confined => {}
        Err(e) => report.warnings.push(e.to_string()),
    }
    // Claude Code: a config file passed with --mcp-config.
    let claude_path = match confined_file(ws, CLAUDE_CONFIG) {
        Ok(path) => path,
        Err(refusal) => {
            report.warnings.push(format!("{refusal}; the Claude MCP config was not written"));
            return;
        }
    };
    let env =
        vec![("HARNESSGYM_WORKSPACE".to_owned(), ws.to_string()), ("CLAUDE_PROJECT_DIR".to_owned(), ws.to_string())];
    let claude_servers: Vec<claude_config::ClaudeServer> = active
        .iter()
        .map(|(s, f)| claude_config::ClaudeServer {
            name: s.name.clone(),
            command: bin.clone(),
            args: proxy_args(options, s, *f),
            env: env.clone(),
        })
        .collect();
    if claude_servers.is_empty() {
        let _ = std::fs::remove_file(&claude_path);
    } else if let Err(e) = harnessgym_types::json::write_json(&claude_path, &claude_config::config(&claude_servers)) {
        report.warnings.push(format!("could not write {claude_path}: {e}"));
    }
    // The helper the prompts point at.
    if !active.is_empty() {
        let path = match confined_file(ws, helper::RELATIVE_PATH) {
            Ok(path) => path,
            Err(refusal) => {
                report.warnings.push(format!("{refusal}; the mcp_call helper was not written"));
                return;
            }
        };
        match write_executable(&path, &helper::shim_source(&options.harnessgym_bin, ws)) {
            Ok(()) => {
                report.mcp_call_helper =
                    Some(json!({"path": path, "relative_path": helper::RELATIVE_PATH, "usage": helper::USAGE}));
            }
            Err(e) => report.warnings.push(format!("could not write {path}: {e}")),
        }
    }
}

/// `rel` inside the workspace, reached without a symlink (see
/// [`harnessgym_types::confine::resolve_inside`]), and not a special file; else why it is refused.
fn confined_file(ws: &Utf8Path, rel: &str) -> Result<Utf8PathBuf, String> {
    let path = harnessgym_types::confine::resolve_inside(ws, Utf8Path::new(rel))
        .map_err(|e| format!("refused {}: {e}", ws.join(rel)))?;
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => Err(format!("refused {path}: not a regular file")),
        _ => Ok(path),
    }
}

fn write_executable(path: &Utf8Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    harnessgym_types::atomic::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
}

/// Passed iff no server is inactive and there is no warning (advisories do not count).
fn finalize_gate(report: &mut ActivationReport) {
    let active_tools = report.active_tools();
    let active = report.mcp_servers.iter().filter(|s| s.is_active()).count() as u64;
    let inactive = report.mcp_servers.len() as u64 - active;
    report.quality_gate = OverallGate {
        status: if inactive == 0 && report.warnings.is_empty() { "passed" } else { "failed" }.into(),
        active_mcp_count: active,
        inactive_mcp_count: inactive,
        active_tool_count: active_tools.len() as u64,
        warnings: report.warnings.clone(),
        extra: Default::default(),
    };
}
