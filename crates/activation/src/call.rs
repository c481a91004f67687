//! `harnessgym mcp-call`: call a tool of an activated MCP server (or list its tools) through the
//! telemetry proxy, so helper calls count as real tool use.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_mcp::client::{McpClient, ServerCommand};
use harnessgym_mcp::{Framing, McpError, detect_server_framing, load_manifest};
use harnessgym_types::activation::ActivationReport;
use harnessgym_types::options::{BundleNetwork, BundleSandbox, SandboxOptions};
use harnessgym_types::registry::MCP_MANIFEST_NAMES;
use serde_json::Value;

use crate::sandbox::SandboxSetting;

/// How much longer than the proxy's response timeout `mcp-call` itself waits.
const PROXY_SLACK: Duration = Duration::from_secs(5);

/// After the call: how long the proxy gets to exit once its stdin is closed (an idle server exits
/// at once), then how long after SIGTERM, on which the proxy stops the server's process group
/// (SIGTERM, 1 s, SIGKILL), answers what is pending and writes its telemetry. The proxy is
/// SIGKILLed only after that; killing it earlier would orphan a server busy in a tool.
const PROXY_EXIT_WAIT: Duration = Duration::from_millis(500);
const PROXY_STOP_GRACE: Duration = Duration::from_secs(10);

/// A server as `mcp-call` launches it.
#[derive(Clone, Debug)]
pub struct ResolvedServer {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: Utf8PathBuf,
    pub tool_timeout_sec: u64,
    pub startup_timeout_sec: u64,
    pub framing: Option<Framing>,
    /// The sandbox activation resolved for it (`bwrap` / `none`); `None` (a bare manifest, an
    /// older report): `auto`.
    pub sandbox: Option<String>,
    /// Whether it keeps the network (activation's verdict, else the manifest's `network`).
    pub network: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(
        "could not find active MCP server '{0}' (looked in .harnessgym/activation.json and .harnessgym/mcp manifests)"
    )]
    NotFound(String),
    #[error(transparent)]
    Mcp(#[from] McpError),
    /// The bundle sandbox the server was activated with is not available.
    #[error("{0}")]
    Sandbox(String),
}

fn from_activation(workspace: &Utf8Path, name: &str) -> Option<ResolvedServer> {
    let report: ActivationReport =
        harnessgym_types::json::read_typed(&workspace.join(".harnessgym/activation.json")).ok().flatten()?;
    let entry = report.mcp_servers.iter().find(|s| s.name == name && s.is_active())?;
    let text = |k: &str| entry.extra.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = |k: &str| entry.extra.get(k).and_then(Value::as_u64);
    let cwd = text("cwd").map(Utf8PathBuf::from).unwrap_or_else(|| workspace.to_owned());
    Some(ResolvedServer {
        name: name.to_owned(),
        command: text("command")?,
        args: entry
            .extra
            .get("args")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        cwd: if cwd.is_absolute() { cwd } else { workspace.join(cwd) },
        tool_timeout_sec: number("tool_timeout_sec").unwrap_or(60),
        startup_timeout_sec: number("startup_timeout_sec").unwrap_or(10),
        framing: text("framing").and_then(|f| f.parse().ok()),
        sandbox: text("sandbox"),
        network: entry.extra.get("network").and_then(Value::as_bool),
    })
}

/// Fallback: a manifest under `.harnessgym/mcp/` whose name (or directory) is `name`.
fn from_manifests(workspace: &Utf8Path, name: &str) -> Option<ResolvedServer> {
    let root = workspace.join(".harnessgym/mcp");
    let mut manifests: Vec<Utf8PathBuf> = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = dir.read_dir_utf8() else { continue };
        for entry in entries.flatten() {
            let path = entry.path().to_owned();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() && MCP_MANIFEST_NAMES.contains(&entry.file_name()) => manifests.push(path),
                _ => {}
            }
        }
    }
    manifests.sort();
    manifests.into_iter().find_map(|path| {
        let server = load_manifest(&path, workspace).ok()?;
        let dir_name = path.parent().and_then(Utf8Path::file_name).unwrap_or_default();
        (server.name == name || dir_name == name).then_some(ResolvedServer {
            name: server.name,
            command: server.command,
            args: server.args,
            cwd: server.cwd,
            tool_timeout_sec: server.tool_timeout_sec,
            startup_timeout_sec: server.startup_timeout_sec,
            framing: server.framing,
            sandbox: None,
            network: server.network,
        })
    })
}

pub fn resolve(workspace: &Utf8Path, name: &str) -> Result<ResolvedServer, CallError> {
    from_activation(workspace, name)
        .or_else(|| from_manifests(workspace, name))
        .ok_or_else(|| CallError::NotFound(name.to_owned()))
}

pub enum CallRequest {
    ListTools,
    Tool { name: String, arguments: Value },
}

/// Runs the server behind `harnessgym mcp-proxy` and performs the request. Returns the JSON-RPC
/// `result` of tools/call, or `{"tools": [...]}` for a listing.
pub async fn call(
    workspace: &Utf8Path,
    harnessgym_bin: &Utf8Path,
    server: &ResolvedServer,
    request: CallRequest,
    timeout: Option<Duration>,
) -> Result<Value, CallError> {
    let mode = match server.sandbox.as_deref() {
        Some("bwrap") => BundleSandbox::Bwrap,
        Some("none") => BundleSandbox::Off,
        _ => BundleSandbox::Auto,
    };
    let sandbox = SandboxSetting::resolve(SandboxOptions { mode, network: BundleNetwork::On })
        .await
        .map_err(|e| CallError::Sandbox(e.to_string()))?;
    let network = sandbox.network_for(server.network);
    let (program, program_args) =
        sandbox.wrap(server.command.clone(), server.args.clone(), workspace, &server.cwd, network);
    let raw =
        ServerCommand::new(program, program_args, server.cwd.clone()).env("HARNESSGYM_WORKSPACE", workspace.as_str());
    let framing = match server.framing {
        Some(f) => f,
        None => detect_server_framing(&raw, Duration::from_secs(server.startup_timeout_sec)).await?,
    };
    let tool_timeout = timeout.unwrap_or(Duration::from_secs(server.tool_timeout_sec));
    let mut args = vec![
        "mcp-proxy".to_owned(),
        "--server-name".to_owned(),
        server.name.clone(),
        "--workspace".to_owned(),
        workspace.to_string(),
        "--cwd".to_owned(),
        server.cwd.to_string(),
        "--server-framing".to_owned(),
        framing.as_str().to_owned(),
        "--response-timeout".to_owned(),
        format!("{}", tool_timeout.as_secs_f64()),
    ];
    args.extend(sandbox.proxy_flags(network));
    args.extend(["--".to_owned(), server.command.clone()]);
    args.extend(server.args.iter().cloned());
    let proxied = ServerCommand::new(harnessgym_bin.to_string(), args, server.cwd.clone());
    let client = McpClient::start(&proxied, Framing::Ndjson)?;
    // The proxy times the server out after `tool_timeout` and says so (in its reply and in the
    // telemetry line, status `timeout`); our own limit is later, so its answer is the one we get.
    let client_limit = tool_timeout.saturating_add(PROXY_SLACK);
    let outcome = async {
        client.initialize(Duration::from_secs(server.startup_timeout_sec.max(1))).await?;
        match request {
            CallRequest::ListTools => {
                let tools = client.list_tools(client_limit).await?;
                Ok(serde_json::json!({"tools": tools.iter().map(|t| t.raw.clone()).collect::<Vec<_>>()}))
            }
            CallRequest::Tool { name, arguments } => client.call_tool(&name, arguments, client_limit).await,
        }
    }
    .await;
    // The proxy stops the server's process group before it exits, whether the call succeeded,
    // failed or timed out: no server outlives the call.
    client.shutdown_within(PROXY_EXIT_WAIT, PROXY_STOP_GRACE).await;
    Ok(outcome?)
}

/// The payload printed by default: `result.content[0].text` parsed as JSON when possible.
pub fn decode_payload(result: &Value) -> Value {
    let text = result.get("content").and_then(|c| c.get(0)).and_then(|c| c.get("text"));
    match text {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(
            |_| serde_json::json!({"text": s, "isError": result.get("isError").cloned().unwrap_or(Value::Bool(false))}),
        ),
        _ => result.clone(),
    }
}
