//! Activation: projecting generated artifacts into the agent's native places — skills linked
//! into `.agents/skills` and `.claude/skills`, MCP servers into `.codex/config.toml` and a Claude
//! MCP config — behind the telemetry proxy.

pub mod claude_config;
pub mod codex_config;
pub mod helper;
pub mod skills;
