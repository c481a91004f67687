//! `.codex/config.toml`: our MCP server tables, edited in place with `toml_edit` so every byte of
//! the user's own configuration stays as it was.
//!
//! - A reference-style `# BEGIN HARNESSGYM MCP … # END HARNESSGYM MCP` block is removed (once:
//!   we never write one).
//! - Each active server is a `[mcp_servers.<name>]` table preceded by a `# managed by harnessgym`
//!   comment; tables of ours for servers no longer active are removed.
//! - A table of the same name that the user wrote (no marker) is never overwritten: a warning
//!   says so and the server is not configured through this file.
//! - With no active server and nothing of ours in the file, the file is not created.

use toml_edit::{Array, DocumentMut, Item, Table, value};

pub const MANAGED_MARKER: &str = "# managed by harnessgym";
const LEGACY_BEGIN: &str = "# BEGIN HARNESSGYM MCP";
const LEGACY_END: &str = "# END HARNESSGYM MCP";

/// One server as Codex should launch it (already pointing at `harnessgym mcp-proxy`).
#[derive(Clone, Debug, PartialEq)]
pub struct CodexServer {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub startup_timeout_sec: u64,
    /// Written as given (callers add the reference's +5 s over the proxy's response timeout).
    pub tool_timeout_sec: u64,
    pub enabled_tools: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CodexConfigError {
    #[error("{path} is not valid TOML ({message}); fix it, then activation can add the MCP servers")]
    Parse { path: String, message: String },
}

/// The new text of the file (`None`: leave the file absent) and warnings.
#[derive(Debug, Default, PartialEq)]
pub struct Edit {
    pub text: Option<String>,
    pub warnings: Vec<String>,
    /// Servers that could not be written because the user has a table of that name.
    pub skipped: Vec<String>,
}

/// Removes every reference-style marked block (and one newline after it).
fn strip_legacy_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(LEGACY_BEGIN) {
        let Some(end_rel) = rest[start..].find(LEGACY_END) else { break };
        out.push_str(&rest[..start]);
        let mut after = start + end_rel + LEGACY_END.len();
        if rest[after..].starts_with('\n') {
            after += 1;
        }
        rest = &rest[after..];
    }
    out.push_str(rest);
    out
}

fn is_managed(table: &Table) -> bool {
    table.decor().prefix().and_then(|p| p.as_str()).is_some_and(|p| p.contains(MANAGED_MARKER))
}

fn string_array(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

fn server_table(server: &CodexServer) -> Table {
    let mut t = Table::new();
    t.insert("command", value(server.command.as_str()));
    t.insert("args", value(string_array(&server.args)));
    t.insert("cwd", value(server.cwd.as_str()));
    t.insert("startup_timeout_sec", value(server.startup_timeout_sec as i64));
    t.insert("tool_timeout_sec", value(server.tool_timeout_sec as i64));
    t.insert("enabled", value(true));
    if !server.enabled_tools.is_empty() {
        t.insert("enabled_tools", value(string_array(&server.enabled_tools)));
    }
    // Codex's default approval policy would refuse every MCP call in `exec` (real-clients.md).
    t.insert("default_tools_approval_mode", value("approve"));
    t.decor_mut().set_prefix(format!("\n{MANAGED_MARKER}\n"));
    t
}

/// Computes the edited configuration. `existing` is the current file text, if any.
pub fn edit(path: &str, existing: Option<&str>, servers: &[CodexServer]) -> Result<Edit, CodexConfigError> {
    let original = existing.unwrap_or("");
    let stripped = strip_legacy_block(original);
    let mut doc: DocumentMut = stripped
        .parse()
        .map_err(|e: toml_edit::TomlError| CodexConfigError::Parse { path: path.into(), message: e.to_string() })?;
    let mut result = Edit::default();

    if doc.get("mcp_servers").is_none() && servers.is_empty() {
        // Nothing of ours to write; only a migrated legacy block changes the file.
        result.text = existing.map(|_| doc.to_string());
        return Ok(result);
    }
    let servers_item = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(table) = servers_item.as_table_mut() else {
        result.warnings.push(format!(
            "{path}: `mcp_servers` is not a table; HarnessGym did not add its MCP servers there (they are still passed on the command line)"
        ));
        result.skipped = servers.iter().map(|s| s.name.clone()).collect();
        result.text = existing.map(|_| doc.to_string());
        return Ok(result);
    };
    // Remove our stale tables.
    let ours: Vec<String> =
        table.iter().filter(|(_, item)| item.as_table().is_some_and(is_managed)).map(|(k, _)| k.to_owned()).collect();
    for name in ours {
        if !servers.iter().any(|s| s.name == name) {
            table.remove(&name);
        }
    }
    for server in servers {
        match table.get(&server.name) {
            Some(item) if !item.as_table().is_some_and(is_managed) => {
                result.warnings.push(format!(
                    "{path}: [mcp_servers.{}] was written by you, so HarnessGym left it alone; rename it to let HarnessGym configure its server of that name",
                    server.name
                ));
                result.skipped.push(server.name.clone());
            }
            _ => {
                table.insert(&server.name, Item::Table(server_table(server)));
            }
        }
    }
    result.text = Some(doc.to_string());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> CodexServer {
        CodexServer {
            name: name.into(),
            command: "/usr/local/bin/harnessgym".into(),
            args: vec![
                "mcp-proxy".into(),
                "--server-name".into(),
                name.into(),
                "--".into(),
                "python3".into(),
                "server.py".into(),
            ],
            cwd: "/ws".into(),
            startup_timeout_sec: 10,
            tool_timeout_sec: 82,
            enabled_tools: vec!["run_verifier".into()],
        }
    }

    const USER_CONFIG: &str = r#"# my settings
model = "o3"  # the good one

[profiles.fast]
model = "o4-mini"

[mcp_servers.mine]
command = "my-server"   # keep this comment
"#;

    #[test]
    fn user_content_stays_and_our_table_is_added_in_place() {
        let edit = edit("/ws/.codex/config.toml", Some(USER_CONFIG), &[server("kernel-tools")]).unwrap();
        let text = edit.text.unwrap();
        assert!(text.starts_with(USER_CONFIG.trim_end()), "every byte of the user's file stays:\n{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn rewriting_is_idempotent_and_stale_tables_of_ours_go() {
        let first = edit("c", Some(USER_CONFIG), &[server("a"), server("b")]).unwrap().text.unwrap();
        let again = edit("c", Some(&first), &[server("a"), server("b")]).unwrap().text.unwrap();
        assert_eq!(first, again);
        let fewer = edit("c", Some(&first), &[server("b")]).unwrap().text.unwrap();
        assert!(!fewer.contains("[mcp_servers.a]"));
        assert!(fewer.contains("[mcp_servers.b]"));
        let none = edit("c", Some(&fewer), &[]).unwrap().text.unwrap();
        assert!(!none.contains(MANAGED_MARKER));
        assert!(none.contains("[mcp_servers.mine]") && none.contains("# keep this comment"));
    }

    #[test]
    fn a_user_table_of_the_same_name_is_never_overwritten() {
        let edit = edit("c", Some(USER_CONFIG), &[server("mine")]).unwrap();
        assert_eq!(edit.text.as_deref(), Some(USER_CONFIG));
        assert_eq!(edit.skipped, ["mine"]);
        assert!(edit.warnings[0].contains("[mcp_servers.mine]"));
    }

    #[test]
    fn reference_block_is_migrated_once_and_never_duplicated() {
        let legacy = format!(
            "model = \"o3\"\n\n{LEGACY_BEGIN}\n# Generated by HarnessGym.\n\n[mcp_servers.old]\ncommand = \"python\"\n{LEGACY_END}\n\n[profiles.x]\nmodel = \"m\"\n"
        );
        let text = edit("c", Some(&legacy), &[server("k")]).unwrap().text.unwrap();
        assert!(!text.contains("BEGIN HARNESSGYM") && !text.contains("[mcp_servers.old]"));
        assert!(text.contains("[profiles.x]"));
        assert_eq!(text.matches("[mcp_servers.k]").count(), 1);
        let again = edit("c", Some(&text), &[server("k")]).unwrap().text.unwrap();
        assert_eq!(text, again);
    }

    #[test]
    fn no_servers_and_no_file_creates_nothing() {
        assert_eq!(edit("c", None, &[]).unwrap().text, None);
        assert!(edit("c", None, &[server("k")]).unwrap().text.unwrap().contains("[mcp_servers.k]"));
    }

    #[test]
    fn invalid_toml_is_an_error_naming_the_file() {
        let err = edit("/ws/.codex/config.toml", Some("model = "), &[]).unwrap_err();
        assert!(err.to_string().contains("/ws/.codex/config.toml"));
    }
}
