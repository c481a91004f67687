//! `.harnessgym/runtime/mcp_call.py`: the helper prompts point agents at when MCP tools are not
//! native callables. A tiny shim that execs `harnessgym mcp-call` (same proxy, same telemetry).

use camino::Utf8Path;

pub const RELATIVE_PATH: &str = ".harnessgym/runtime/mcp_call.py";
pub const USAGE: &str =
    "python3 .harnessgym/runtime/mcp_call.py --server <server> --tool <tool> --arguments '<json-object>'";

/// The shim's source: Python (prompts run it with `python3`), exec'ing the harnessgym binary.
pub fn shim_source(harnessgym_bin: &Utf8Path, workspace: &Utf8Path) -> String {
    let bin = serde_json::Value::from(harnessgym_bin.as_str());
    let ws = serde_json::Value::from(workspace.as_str());
    format!(
        "#!/usr/bin/env python3\n\
         \"\"\"Calls an activated MCP server through the HarnessGym telemetry proxy (generated; do not edit).\"\"\"\n\
         import os\nimport sys\n\n\
         BINARY = {bin}\nWORKSPACE = {ws}\n\n\
         os.execv(BINARY, [BINARY, \"mcp-call\", \"--workspace\", WORKSPACE, *sys.argv[1:]])\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_execs_mcp_call_with_the_workspace() {
        let text = shim_source(Utf8Path::new("/opt/hg/harnessgym"), Utf8Path::new("/w s"));
        assert!(text.contains("BINARY = \"/opt/hg/harnessgym\""));
        assert!(text.contains("WORKSPACE = \"/w s\""));
        assert!(text.contains("\"mcp-call\""));
    }
}
