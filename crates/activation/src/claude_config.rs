//! `.harnessgym/claude_mcp_config.json`: the active MCP servers for Claude Code
//! (`--strict-mcp-config --mcp-config <file>`), each behind `harnessgym mcp-proxy`.

use serde_json::{Map, Value, json};

/// One server as Claude Code should launch it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaudeServer {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// The file's JSON (`mcpServers`), in the format Claude Code reads.
pub fn config(servers: &[ClaudeServer]) -> Value {
    let mut map = Map::new();
    for s in servers {
        let env: Map<String, Value> = s.env.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
        map.insert(s.name.clone(), json!({"type": "stdio", "command": s.command, "args": s.args, "env": env}));
    }
    json!({ "mcpServers": map })
}

/// `--allowedTools=mcp__a,mcp__b` value: every tool of each server (Claude has no per-tool
/// wildcard below the server).
pub fn allowed_tools(servers: &[ClaudeServer]) -> String {
    servers.iter().map(|s| format!("mcp__{}", s.name)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_claude_code() {
        let s = ClaudeServer {
            name: "tensor-plan".into(),
            command: "/bin/harnessgym".into(),
            args: vec!["mcp-proxy".into(), "--".into(), "python3".into()],
            env: vec![("HARNESSGYM_WORKSPACE".into(), "/ws".into())],
        };
        let v = config(std::slice::from_ref(&s));
        assert_eq!(v["mcpServers"]["tensor-plan"]["type"], "stdio");
        assert_eq!(v["mcpServers"]["tensor-plan"]["env"]["HARNESSGYM_WORKSPACE"], "/ws");
        assert_eq!(allowed_tools(&[s.clone(), ClaudeServer { name: "b".into(), ..s }]), "mcp__tensor-plan,mcp__b");
    }
}
