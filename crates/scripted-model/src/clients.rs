//! Pure helpers that point each real CLI at a scripted model server: the
//! files, environment and arguments a runner applies (this crate never
//! spawns; `harnessgym-proc` does). Every setting is one real-clients.md
//! verified with codex 0.169.0 / claude 2.1.330.

use camino::{Utf8Path, Utf8PathBuf};

/// codex's model slug during a rehearsal.
pub const CODEX_MODEL: &str = "mock-model";
/// claude's model name during a rehearsal (prints a harmless
/// `[claude-code:unrecognized_model]` on stderr).
pub const CLAUDE_MODEL: &str = "claude-mock-1";
/// The codex model provider id the config defines.
pub const CODEX_PROVIDER_ID: &str = "harnessgym_scripted";
/// The dummy API key claude sends (`x-api-key`; redacted in the log).
pub const CLAUDE_DUMMY_API_KEY: &str = "sk-ant-harnessgym-scripted-dummy";

/// Environment changes for a child process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPlan {
    /// Variables to set.
    pub set: Vec<(String, String)>,
    /// Variables to remove from the inherited environment.
    pub remove: Vec<String>,
}

impl EnvPlan {
    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.set.push((name.to_owned(), value.into()));
    }

    /// The value this plan sets for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.set.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// codex against the scripted server: an isolated `CODEX_HOME` holding a
/// `config.toml` with a custom Responses provider (retries off), plugins off
/// (the only source of outside traffic) and unbounded reconnects off (else a
/// dead server means "Reconnecting…" forever).
///
/// The runner must also give codex stdin = the prompt then EOF (or
/// `/dev/null`), and must not pass its own `-m`/`--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexRehearsal {
    /// [`ScriptedModelServer::base_url_openai`](crate::ScriptedModelServer::base_url_openai).
    pub base_url: String,
    /// The model slug (default [`CODEX_MODEL`]).
    pub model: String,
    /// A model catalog with a `mock-model` entry (`supports_search_tool =
    /// false`): removes codex's "Model metadata … not found" warning item.
    /// Without it codex uses fallback metadata, which keeps MCP tools inline.
    pub model_catalog_json: Option<Utf8PathBuf>,
    /// `sandbox_mode` (`read-only` | `workspace-write` | `danger-full-access`);
    /// `None` leaves it to the runner's flags (codex's default is read-only).
    pub sandbox_mode: Option<String>,
    /// `approval_policy` (e.g. `never`); `None` leaves it to the runner.
    pub approval_policy: Option<String>,
}

impl CodexRehearsal {
    /// Defaults for a server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: CODEX_MODEL.to_owned(),
            model_catalog_json: None,
            sandbox_mode: None,
            approval_policy: None,
        }
    }

    /// The text of `$CODEX_HOME/config.toml`.
    pub fn config_toml(&self) -> String {
        let mut text = String::from(
            "# Written by HarnessGym for a --model-script rehearsal: every model request goes to\n# the scripted model server on 127.0.0.1.\n",
        );
        text.push_str(&format!("model = {}\n", toml_string(&self.model)));
        text.push_str(&format!("model_provider = {}\n", toml_string(CODEX_PROVIDER_ID)));
        if let Some(catalog) = &self.model_catalog_json {
            text.push_str(&format!("model_catalog_json = {}\n", toml_string(catalog.as_str())));
        }
        if let Some(policy) = &self.approval_policy {
            text.push_str(&format!("approval_policy = {}\n", toml_string(policy)));
        }
        if let Some(mode) = &self.sandbox_mode {
            text.push_str(&format!("sandbox_mode = {}\n", toml_string(mode)));
        }
        text.push_str("\n[features]\nplugins = false\nunbounded_connection_retries = false\n");
        text.push_str(&format!("\n[model_providers.{CODEX_PROVIDER_ID}]\n"));
        text.push_str("name = \"HarnessGym scripted model\"\n");
        text.push_str(&format!("base_url = {}\n", toml_string(&self.base_url)));
        text.push_str("wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n");
        text
    }

    /// The files to write: `<codex_home>/config.toml`.
    pub fn files(&self, codex_home: &Utf8Path) -> Vec<(Utf8PathBuf, String)> {
        vec![(codex_home.join("config.toml"), self.config_toml())]
    }

    /// `CODEX_HOME` set; `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `CODEX_API_KEY`
    /// removed (no provider `env_key`, so no Authorization header is sent).
    pub fn env(&self, codex_home: &Utf8Path) -> EnvPlan {
        let mut plan = EnvPlan::default();
        plan.set("CODEX_HOME", codex_home.as_str());
        plan.remove = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"].map(str::to_owned).to_vec();
        plan
    }

    /// `-c` overrides that pin model, provider and features above any other
    /// config layer (a trusted project's `.codex/config.toml` included).
    /// Valid both after `exec` and after `exec resume`.
    pub fn args(&self) -> Vec<String> {
        [
            format!("model={}", toml_string(&self.model)),
            format!("model_provider={}", toml_string(CODEX_PROVIDER_ID)),
            "features.plugins=false".to_owned(),
            "features.unbounded_connection_retries=false".to_owned(),
        ]
        .into_iter()
        .flat_map(|value| ["-c".to_owned(), value])
        .collect()
    }
}

/// claude against the scripted server: `HOME` and `CLAUDE_CONFIG_DIR` in a
/// throwaway directory, the base URL and a dummy key, non-essential traffic
/// off (alone enough for zero outside attempts), retries off, MCP tools
/// inline (`ENABLE_TOOL_SEARCH=false`, so the server can check them).
///
/// `IS_SANDBOX=1` (needed for `--dangerously-skip-permissions` as root) is
/// deliberately not set here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeRehearsal {
    /// [`ScriptedModelServer::base_url_anthropic`](crate::ScriptedModelServer::base_url_anthropic).
    pub base_url: String,
    /// The model name (default [`CLAUDE_MODEL`]).
    pub model: String,
}

impl ClaudeRehearsal {
    /// Defaults for a server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into(), model: CLAUDE_MODEL.to_owned() }
    }

    /// The config dir under `home`: `<home>/.claude`.
    pub fn config_dir(home: &Utf8Path) -> Utf8PathBuf {
        home.join(".claude")
    }

    /// Directories to create before the run: `home` and its config dir.
    pub fn dirs(home: &Utf8Path) -> Vec<Utf8PathBuf> {
        vec![home.to_owned(), Self::config_dir(home)]
    }

    /// The environment for a run whose throwaway home is `home`.
    pub fn env(&self, home: &Utf8Path) -> EnvPlan {
        let mut plan = EnvPlan::default();
        plan.set("HOME", home.as_str());
        plan.set("CLAUDE_CONFIG_DIR", Self::config_dir(home).as_str());
        plan.set("ANTHROPIC_BASE_URL", self.base_url.as_str());
        plan.set("ANTHROPIC_API_KEY", CLAUDE_DUMMY_API_KEY);
        plan.set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        for belt_and_braces in
            ["DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER", "DISABLE_ERROR_REPORTING", "DISABLE_BUG_COMMAND"]
        {
            plan.set(belt_and_braces, "1");
        }
        plan.set("CLAUDE_CODE_MAX_RETRIES", "0");
        plan.set("ENABLE_TOOL_SEARCH", "false");
        // Anything that would send the requests elsewhere or with other credentials.
        plan.remove = [
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
            "ANTHROPIC_MODEL",
        ]
        .map(str::to_owned)
        .to_vec();
        plan
    }

    /// `--model <model>` (the runner adds `-p --output-format stream-json
    /// --verbose`, MCP config and permissions as usual).
    pub fn args(&self) -> Vec<String> {
        vec!["--model".to_owned(), self.model.clone()]
    }
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
