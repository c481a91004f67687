//! The `claude` runner: `claude -p --output-format stream-json --verbose`, the prompt on stdin,
//! `--resume <session>` for reflect/build/repair, MCP servers from the config file activation
//! wrote (each behind `harnessgym mcp-proxy`).

use async_trait::async_trait;
use harnessgym_types::options::ClaudeOptions as ClaudeCliOptions;
use harnessgym_types::runner::{PhaseStatus, RunnerResult, Usage};
use serde_json::Value;

use crate::agent_cli::{Invocation, Parsed, finish, missing_session, read_stdout, result_record};
use crate::launcher::AgentLauncher;
use crate::{AgentFlavor, PhaseFiles, PhaseRequest, Runner};

const AGENT: &str = "Claude Code";
const INSTALL_HINT: &str =
    "install it with `npm install -g @anthropic-ai/claude-code@2.1.330` or pass --claude-bin PATH";

/// How [`ClaudeRunner`] calls Claude Code: the `--claude-*` options, plus what a run adds to
/// them.
#[derive(Clone, Debug)]
pub struct ClaudeOptions {
    /// The `--claude-*` options (executable, model, permission mode, budget, extra arguments).
    pub cli: ClaudeCliOptions,
    /// Variables set for the CLI (the only ones exported on a remote host).
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment (local runs).
    pub env_remove: Vec<String>,
}

impl ClaudeOptions {
    /// The defaults: `--permission-mode bypassPermissions`, no model, no budget, no extras.
    pub fn new(claude_bin: impl Into<String>) -> Self {
        Self::from_cli(ClaudeCliOptions { bin: claude_bin.into(), ..ClaudeCliOptions::default() })
    }

    /// Calls Claude Code as `cli` says.
    pub fn from_cli(cli: ClaudeCliOptions) -> Self {
        Self { cli, env: Vec::new(), env_remove: Vec::new() }
    }
}

/// The `claude` runner: Claude Code in print mode with stream-json output, see the module docs.
#[derive(Clone, Debug)]
pub struct ClaudeRunner {
    /// How Claude Code is called.
    pub options: ClaudeOptions,
    launcher: AgentLauncher,
}

/// C's `%g` (6 significant digits, trailing zeros dropped, exponent form outside 1e-4..1e6).
pub fn format_g(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let exponent = value.abs().log10().floor() as i32;
    if !(-4..6).contains(&exponent) {
        let mantissa = value / 10f64.powi(exponent);
        let mut m = format!("{mantissa:.5}");
        while m.contains('.') && (m.ends_with('0') || m.ends_with('.')) {
            m.pop();
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exponent.abs());
    }
    let decimals = (5 - exponent).max(0) as usize;
    let mut s = format!("{value:.decimals$}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    s
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl ClaudeRunner {
    /// A runner that starts Claude Code on this machine ([`AgentLauncher::Local`]).
    pub fn new(options: ClaudeOptions) -> Self {
        Self { options, launcher: AgentLauncher::Local }
    }

    /// The same runner, starting its CLI through `launcher` (default [`AgentLauncher::Local`]).
    pub fn with_launcher(mut self, launcher: AgentLauncher) -> Self {
        self.launcher = launcher;
        self
    }

    /// Where this runner starts its CLI.
    pub fn launcher(&self) -> &AgentLauncher {
        &self.launcher
    }

    /// argv after the program: print mode with stream-json, the options, the MCP servers of the
    /// workspace's `claude_mcp_config.json` (strict, only their tools allowed), then
    /// `--resume <session>` when resuming. The prompt goes on stdin.
    pub fn args(&self, request: &PhaseRequest) -> Vec<String> {
        let o = &self.options;
        let mut args: Vec<String> =
            ["-p", "--output-format", "stream-json", "--verbose"].iter().map(|s| (*s).to_owned()).collect();
        if !o.cli.permission_mode.is_empty() {
            args.push("--permission-mode".into());
            args.push(o.cli.permission_mode.clone());
        }
        if let Some(model) = &o.cli.model {
            args.push("--model".into());
            args.push(model.clone());
        }
        if let Some(budget) = o.cli.max_budget_usd {
            args.push("--max-budget-usd".into());
            args.push(format_g(budget));
        }
        args.extend(o.cli.extra_args.iter().cloned());
        let config = request.workspace.join(harnessgym_activation::CLAUDE_CONFIG);
        let servers: Vec<String> = harnessgym_types::json::read_value(&config)
            .ok()
            .flatten()
            .and_then(|v| v.get("mcpServers").and_then(Value::as_object).map(|m| m.keys().cloned().collect()))
            .unwrap_or_default();
        if !servers.is_empty() {
            args.push("--strict-mcp-config".into());
            args.push("--mcp-config".into());
            args.push(config.to_string());
            // One `=`-joined value: the flag is variadic and must not swallow anything after it.
            let allowed: Vec<String> = servers.iter().map(|s| format!("mcp__{s}")).collect();
            args.push(format!("--allowedTools={}", allowed.join(",")));
        }
        if let Some(session) = request.session_id.as_deref().filter(|_| request.phase != crate::Phase::Attempt) {
            args.push("--resume".into());
            args.push(session.to_owned());
        }
        args
    }

    /// Claude refuses bypass permissions as root unless `IS_SANDBOX=1`; we never set it silently.
    fn root_refusal(&self) -> Option<String> {
        let bypass = self.options.cli.permission_mode == "bypassPermissions"
            || self.options.cli.extra_args.iter().any(|a| a == "--dangerously-skip-permissions");
        // What the child will see: our explicit env first, else the inherited one unless removed.
        // Claude Code accepts exactly "1" (verified: "yes" is refused).
        let truthy = |v: &str| v == "1";
        let sandbox = match self.options.env.iter().rev().find(|(k, _)| k == "IS_SANDBOX") {
            Some((_, v)) => truthy(v),
            None => {
                !self.options.env_remove.iter().any(|k| k == "IS_SANDBOX")
                    && std::env::var("IS_SANDBOX").is_ok_and(|v| truthy(&v))
            }
        };
        (bypass && !sandbox && running_as_root()).then(|| {
            "Claude Code refuses --permission-mode bypassPermissions when run as root unless IS_SANDBOX=1 is set; \
             HarnessGym does not set it for you: export IS_SANDBOX=1 if this machine is a sandbox, or run as another user, \
             or pass another --claude-permission-mode"
                .to_owned()
        })
    }
}

/// Parses `stream-json` output: the session from the init or result event; message, cost and
/// usage from the last `result` event; error subtypes are failures.
pub fn parse_stream(stdout: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut result: Option<Value> = None;
    for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(sid) = event.get("session_id").and_then(Value::as_str).filter(|s| !s.is_empty())
            && (parsed.session_id.is_none() || event.get("type").and_then(Value::as_str) == Some("result"))
        {
            parsed.session_id = Some(sid.to_owned());
        }
        if event.get("type").and_then(Value::as_str) == Some("result") {
            result = Some(event);
        }
    }
    let Some(result) = result else { return parsed };
    parsed.final_message = result.get("result").and_then(Value::as_str).map(str::to_owned);
    parsed.cost_usd = result.get("total_cost_usd").and_then(Value::as_f64);
    let usage = result.get("usage");
    let n = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
    if usage.is_some() {
        parsed.usage = Some(Usage {
            input_tokens: n("input_tokens"),
            cached_input_tokens: n("cache_read_input_tokens"),
            output_tokens: n("output_tokens"),
        });
    }
    let subtype = result.get("subtype").and_then(Value::as_str).unwrap_or("");
    let is_error = result.get("is_error") == Some(&Value::Bool(true));
    if is_error || subtype.starts_with("error") || subtype == "failed" {
        let text = parsed.final_message.clone().unwrap_or_default();
        parsed.error = Some(format!(
            "Claude Code result {subtype}{}",
            if text.is_empty() { String::new() } else { format!(": {text}") }
        ));
    }
    for key in [
        "type",
        "subtype",
        "is_error",
        "api_error_status",
        "stop_reason",
        "terminal_reason",
        "total_cost_usd",
        "num_turns",
    ] {
        if let Some(v) = result.get(key) {
            parsed
                .transcript_lines
                .push(format!("claude_{key}: {}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
        }
    }
    parsed
}

#[async_trait]
impl Runner for ClaudeRunner {
    fn agent(&self) -> AgentFlavor {
        AgentFlavor::ClaudeCode
    }

    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        if let Some(short) = missing_session(&request, AGENT) {
            return short;
        }
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        if let Some(message) = self.root_refusal() {
            let _ = PhaseFiles::write(&files.prompt, &request.prompt);
            let _ = PhaseFiles::write(&files.stdout, "");
            let _ = PhaseFiles::write(&files.stderr, &format!("{message}\n"));
            let _ = PhaseFiles::write(
                &files.transcript,
                &format!("command: <not run>\nstatus: failed\nmessage: {message}\n"),
            );
            return result_record(
                &request,
                &files,
                PhaseStatus::Failed,
                None,
                false,
                0.0,
                request.session_id.clone(),
                message,
                None,
                None,
            );
        }
        let invocation = Invocation {
            program: self.options.cli.bin.clone(),
            args: self.args(&request),
            env: self.options.env.clone(),
            env_remove: self.options.env_remove.clone(),
            prompt_on_stdin: true,
        };
        let raw = self.launcher.run_cli(&request, &files, &invocation).await;
        let parsed = parse_stream(&read_stdout(&files.stdout));
        finish(&request, &files, &invocation, raw, parsed, AGENT, INSTALL_HINT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_g_like_c() {
        assert_eq!(format_g(1.5), "1.5");
        assert_eq!(format_g(10.0), "10");
        assert_eq!(format_g(1e-5), "1e-05");
        assert_eq!(format_g(1234567.0), "1.23457e+06");
        assert_eq!(format_g(0.25), "0.25");
    }

    #[test]
    fn r6_result_line_wins_over_a_later_init_line() {
        let out = concat!(
            "{\"type\":\"assistant\",\"session_id\":\"abc-123\"}\n",
            "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"TASK SOLVED\",\"session_id\":\"abc-123\",",
            "\"total_cost_usd\":0.5,\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":3,\"output_tokens\":2}}\n",
            "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"xyz-456\"}\n",
        );
        let p = parse_stream(out);
        assert_eq!(p.session_id.as_deref(), Some("abc-123"));
        assert_eq!(p.final_message.as_deref(), Some("TASK SOLVED"));
        assert_eq!(p.cost_usd, Some(0.5));
        assert_eq!(p.usage.unwrap().cached_input_tokens, Some(3));
        assert!(p.error.is_none());
    }

    #[test]
    fn r7_no_result_line_falls_back_to_the_first_session() {
        let p = parse_stream("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"xyz-456\"}\n");
        assert_eq!(p.session_id.as_deref(), Some("xyz-456"));
    }

    #[test]
    fn r10_error_results_and_real_error_subtypes_fail() {
        let p = parse_stream(
            "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"api_error_status\":429,\"result\":\"rate limited\",\"session_id\":\"44b64ca5-735d-4d10-8270-4aef483c00a1\"}\n",
        );
        assert!(p.error.unwrap().contains("rate limited"));
        assert!(p.transcript_lines.contains(&"claude_api_error_status: 429".to_owned()));
        let p = parse_stream(
            "{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":false,\"session_id\":\"s\"}\n",
        );
        assert!(p.error.unwrap().contains("error_max_turns"));
    }
}
