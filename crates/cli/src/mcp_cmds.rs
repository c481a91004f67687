//! `activate`, `mcp-proxy` and `mcp-call`: thin wrappers over harnessgym-activation and
//! harnessgym-mcp.

use harnessgym_core::lock::{LockMode, WorkspaceLock};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use camino::Utf8PathBuf;
use harnessgym_activation::call::{CallRequest, decode_payload, resolve};
use harnessgym_mcp::proxy::{ProxyExit, ProxyOptions, run_proxy};
use serde_json::Value;

use crate::cli::{ActivateArgs, McpCallArgs, McpProxyArgs};

/// Absolute path of the running binary: activation points agents' MCP configs at it.
pub fn harnessgym_bin() -> anyhow::Result<Utf8PathBuf> {
    let exe = std::env::current_exe().context("finding the harnessgym binary")?;
    Utf8PathBuf::from_path_buf(exe).map_err(|p| anyhow::anyhow!("binary path {} is not UTF-8", p.display()))
}

fn absolute(raw: &str) -> anyhow::Result<Utf8PathBuf> {
    let cwd = crate::current_dir()?;
    let p = Utf8PathBuf::from(raw);
    Ok(if p.is_absolute() { p } else { cwd.join(p) })
}

pub async fn activate(args: ActivateArgs) -> anyhow::Result<ExitCode> {
    let workspace = absolute(&args.workspace)?;
    if !workspace.join(".harnessgym").is_dir() {
        anyhow::bail!("{workspace} has no .harnessgym/ bundle; pass --workspace DIR of a workspace with one");
    }
    let lock = WorkspaceLock::acquire(&workspace, LockMode::Exclusive)?;
    if let Some(report) = harnessgym_core::lock::survivors_report(lock.killed_survivors()) {
        eprintln!("harnessgym: {report}");
    }
    let sandbox = match crate::bundle_sandbox(args.sandbox, true).await {
        Ok(sandbox) => sandbox,
        Err(code) => return Ok(code),
    };
    let options =
        harnessgym_activation::ActivationOptions::new(workspace.clone(), harnessgym_bin()?).with_sandbox(sandbox);
    let loaded = harnessgym_artifacts::registry::load(&workspace)?;
    for p in &loaded.problems {
        eprintln!("harnessgym: warning: {p}");
    }
    let mut registry = loaded.registry;
    harnessgym_artifacts::registry::sync_from_files(&workspace, &mut registry, None)?;
    // Starting servers can take their whole startup timeouts: a signal stops it at once (the
    // servers started so far die with the dropped activation).
    let signal = crate::interrupted();
    let report = tokio::select! {
        report = harnessgym_activation::activate(&options, &registry) => report,
        number = signal => {
            let number = number?;
            eprintln!("harnessgym: activate interrupted; activation.json was not written: run harnessgym activate again");
            return Ok(ExitCode::from(u8::try_from(128 + number).unwrap_or(130)));
        }
    };
    let path = workspace.join(".harnessgym/activation.json");
    harnessgym_types::json::write_json(&path, &report)?;
    print!("{}", harnessgym_types::json::to_pretty(&report)?);
    eprintln!("Activation report: {path} (quality gate: {})", report.quality_gate.status);
    Ok(ExitCode::SUCCESS)
}

pub async fn mcp_proxy(args: McpProxyArgs) -> anyhow::Result<ExitCode> {
    if args.command.is_empty() {
        eprintln!("harnessgym mcp-proxy: missing wrapped server command (pass it after --)");
        return Ok(ExitCode::from(2));
    }
    let workspace = args.workspace.as_deref().map(absolute).transpose()?;
    let cwd = absolute(&args.cwd)?;
    // The server in the bundle sandbox: the workspace (else its cwd) writable, the rest read-only.
    let sandbox = match harnessgym_activation::sandbox::SandboxSetting::resolve(args.sandbox).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("harnessgym mcp-proxy: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(why) = &sandbox.note {
        tracing::warn!(server = %args.server_name, "bundle sandbox: none ({why})");
    }
    let mut command = args.command;
    let program = command.remove(0);
    let root = workspace.clone().unwrap_or_else(|| cwd.clone());
    let (program, rest) = sandbox.wrap(program, command, &root, &cwd, sandbox.network);
    let command: Vec<String> = std::iter::once(program).chain(rest).collect();
    let options = ProxyOptions {
        server_name: args.server_name,
        workspace,
        cwd,
        server_framing: args.server_framing.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        // NaN, infinite or absurdly large: no timeout to speak of.
        response_timeout: Duration::try_from_secs_f64(args.response_timeout.max(0.001)).unwrap_or(Duration::MAX),
        command,
        telemetry_path: std::env::var("HARNESSGYM_MCP_TELEMETRY_PATH")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Utf8PathBuf::from),
    };
    // Our stdin and stdout as plain files, read and written on the proxy's own threads: one
    // `read`/`write` per message, without std's line buffering, which split every Content-Length
    // message into two writes.
    let stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().context("duplicating stdin")?);
    let stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned().context("duplicating stdout")?);
    Ok(match run_proxy(options, stdin, stdout).await? {
        // Stopped by a signal, every telemetry line written: the shell's code for that signal.
        ProxyExit::Signal(number) => ExitCode::from(u8::try_from(128 + number).unwrap_or(1)),
        ProxyExit::ClientClosed | ProxyExit::ServerExited => ExitCode::SUCCESS,
        ProxyExit::NoValidMessage { rejected } => {
            eprintln!(
                "harnessgym mcp-proxy: no valid MCP message from the client before it closed its input \
                 ({rejected} rejected, each answered with a JSON-RPC error; expected newline-delimited \
                 JSON-RPC or Content-Length framing)"
            );
            ExitCode::from(1)
        }
    })
}

fn print_error(message: &str) -> ExitCode {
    let body = serde_json::json!({"ok": false, "error": message});
    eprint!("{}", harnessgym_types::json::to_pretty(&body).unwrap_or_default());
    ExitCode::from(1)
}

pub async fn mcp_call(args: McpCallArgs) -> anyhow::Result<ExitCode> {
    let workspace = absolute(&args.workspace)?;
    let arguments_text = match &args.arguments_file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?,
        None => args.arguments.clone(),
    };
    let arguments: Value = match serde_json::from_str(&arguments_text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Ok(print_error("MCP tool arguments must be a JSON object")),
        Err(e) => return Ok(print_error(&format!("MCP tool arguments are not valid JSON: {e}"))),
    };
    let server = match resolve(&workspace, &args.server) {
        Ok(s) => s,
        Err(e) => return Ok(print_error(&e.to_string())),
    };
    let request = match (&args.tool, args.list_tools) {
        (_, true) => CallRequest::ListTools,
        (Some(tool), false) => CallRequest::Tool { name: tool.clone(), arguments },
        (None, false) => return Ok(print_error("pass --tool NAME or --list-tools")),
    };
    let timeout = args.timeout.map(|t| Duration::try_from_secs_f64(t.max(0.001)).unwrap_or(Duration::MAX));
    let result =
        match harnessgym_activation::call::call(&workspace, &harnessgym_bin()?, &server, request, timeout).await {
            Ok(r) => r,
            Err(e) => return Ok(print_error(&e.to_string())),
        };
    let is_error = result.get("isError") == Some(&Value::Bool(true));
    let shown = if args.raw || args.list_tools { result } else { decode_payload(&result) };
    print!("{}", harnessgym_types::json::to_pretty(&shown)?);
    Ok(if is_error { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
