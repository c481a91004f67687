//! How agents launch the active MCP servers of an activation report: always through
//! `harnessgym mcp-proxy`. Shared by the config files activation writes and the runners' command
//! lines, so both say exactly the same thing.

use camino::Utf8Path;
use harnessgym_types::activation::{ActivationReport, McpServerActivation};
use serde_json::Value;

/// One active server as an agent CLI should start it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerLaunch {
    pub name: String,
    /// The harnessgym binary.
    pub command: String,
    /// `mcp-proxy … -- <server argv>`.
    pub args: Vec<String>,
    pub cwd: String,
    pub startup_timeout_sec: u64,
    /// The proxy's response timeout plus 5 s, so the proxy's own timeout error arrives first.
    pub tool_timeout_sec: u64,
    pub enabled_tools: Vec<String>,
}

fn text(entry: &McpServerActivation, key: &str) -> Option<String> {
    entry.extra.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn number(entry: &McpServerActivation, key: &str, default: u64) -> u64 {
    entry.extra.get(key).and_then(Value::as_u64).unwrap_or(default)
}

fn status_ok(entry: &McpServerActivation, key: &str) -> bool {
    match entry.extra.get(key).or(if key == "smoke" { entry.smoke.as_ref() } else { None }) {
        Some(Value::Object(o)) => o.get("status").and_then(Value::as_str).is_none_or(|s| s == "passed"),
        _ => true,
    }
}

/// The launches of the report's active servers (active, smoke and self-test passed or absent,
/// with a name and a command), in report order.
pub fn launches(harnessgym_bin: &Utf8Path, workspace: &Utf8Path, report: &ActivationReport) -> Vec<ServerLaunch> {
    report
        .mcp_servers
        .iter()
        .filter(|s| s.is_active() && !s.name.is_empty() && status_ok(s, "smoke") && status_ok(s, "self_test"))
        .filter_map(|s| {
            let command = text(s, "command").filter(|c| !c.is_empty())?;
            let cwd = text(s, "cwd").unwrap_or_else(|| workspace.to_string());
            let tool_timeout = number(s, "tool_timeout_sec", 60);
            let framing = text(s, "framing").unwrap_or_else(|| "ndjson".to_owned());
            let mut args = vec![
                "mcp-proxy".to_owned(),
                "--server-name".to_owned(),
                s.name.clone(),
                "--workspace".to_owned(),
                workspace.to_string(),
                "--cwd".to_owned(),
                cwd.clone(),
                "--server-framing".to_owned(),
                framing,
                "--response-timeout".to_owned(),
                tool_timeout.to_string(),
            ];
            // The sandbox activation resolved and tested the server with (absent in a report
            // written before the bundle sandbox: the proxy's default, auto).
            if let Some(mode) = text(s, "sandbox") {
                let network = s.extra.get("network").and_then(Value::as_bool).unwrap_or(true);
                args.extend(crate::sandbox::proxy_flags(&mode, network));
            }
            args.push("--".to_owned());
            args.push(command);
            if let Some(Value::Array(list)) = s.extra.get("args") {
                args.extend(list.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
            }
            Some(ServerLaunch {
                name: s.name.clone(),
                command: harnessgym_bin.to_string(),
                args,
                cwd,
                startup_timeout_sec: number(s, "startup_timeout_sec", 10),
                tool_timeout_sec: tool_timeout + 5,
                enabled_tools: s.enabled_tools.clone(),
            })
        })
        .collect()
}

/// A TOML key segment: bare when `[A-Za-z0-9_-]+`, else quoted.
fn toml_key(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        name.to_owned()
    } else {
        Value::from(name).to_string()
    }
}

fn toml_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| Value::from(s.as_str()).to_string()).collect();
    format!("[{}]", quoted.join(", "))
}

/// `codex exec -c` overrides for the launches (`mcp_servers.<name>.<field>=<toml>`), so the
/// servers reach Codex even when it ignores an untrusted project's `.codex/config.toml`.
pub fn codex_overrides(launches: &[ServerLaunch]) -> Vec<String> {
    let mut out = Vec::new();
    for l in launches {
        let key = format!("mcp_servers.{}", toml_key(&l.name));
        let mut fields = vec![
            format!("{key}.command={}", Value::from(l.command.as_str())),
            format!("{key}.args={}", toml_strings(&l.args)),
            format!("{key}.cwd={}", Value::from(l.cwd.as_str())),
            format!("{key}.startup_timeout_sec={}", l.startup_timeout_sec),
            format!("{key}.tool_timeout_sec={}", l.tool_timeout_sec),
            format!("{key}.enabled=true"),
            format!("{key}.default_tools_approval_mode=\"approve\""),
        ];
        if !l.enabled_tools.is_empty() {
            fields.push(format!("{key}.enabled_tools={}", toml_strings(&l.enabled_tools)));
        }
        for f in fields {
            out.push("-c".to_owned());
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(entry: Value) -> ActivationReport {
        serde_json::from_value(json!({"mcp_servers": [entry]})).unwrap()
    }

    #[test]
    fn e2_overrides_name_the_proxy_and_the_server() {
        let r = report(json!({"name": "cpu_attention", "active": true, "command": "python3", "args": ["srv.py"],
            "cwd": "/ws", "tool_timeout_sec": 120, "enabled_tools": ["inspect", "search"], "framing": "content-length",
            "smoke": {"status": "passed"}, "self_test": {"status": "passed"}}));
        let l = launches(Utf8Path::new("/bin/harnessgym"), Utf8Path::new("/ws"), &r);
        let o = codex_overrides(&l);
        assert!(o.contains(&"mcp_servers.cpu_attention.command=\"/bin/harnessgym\"".to_owned()));
        assert!(o.contains(&"mcp_servers.cpu_attention.cwd=\"/ws\"".to_owned()));
        assert!(o.contains(&"mcp_servers.cpu_attention.tool_timeout_sec=125".to_owned()));
        assert!(o.contains(&"mcp_servers.cpu_attention.enabled_tools=[\"inspect\", \"search\"]".to_owned()));
        let args = o.iter().find(|a| a.contains(".args=")).unwrap();
        assert!(args.contains("\"mcp-proxy\"") && args.contains("\"content-length\"") && args.contains("\"120\""));
        assert!(args.ends_with("\"--\", \"python3\", \"srv.py\"]"), "{args}");
    }

    #[test]
    fn e3_failed_self_test_gives_no_launch() {
        let r = report(json!({"name": "x", "command": "python3", "self_test": {"status": "failed"}}));
        assert!(launches(Utf8Path::new("/b"), Utf8Path::new("/ws"), &r).is_empty());
        let inactive = report(json!({"name": "x", "command": "python3", "active": false}));
        assert!(launches(Utf8Path::new("/b"), Utf8Path::new("/ws"), &inactive).is_empty());
    }

    #[test]
    fn odd_names_are_quoted() {
        assert_eq!(toml_key("a.b"), "\"a.b\"");
        assert_eq!(toml_key("ok-name_1"), "ok-name_1");
    }
}
