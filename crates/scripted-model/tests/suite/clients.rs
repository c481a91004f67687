//! The pure client setup helpers.

use camino::Utf8Path;
use harnessgym_scripted_model::{ClaudeRehearsal, CodexRehearsal};
use pretty_assertions::assert_eq;

#[test]
fn codex_config_toml_is_valid_and_points_at_the_server() {
    let mut codex = CodexRehearsal::new("http://127.0.0.1:4242/v1");
    codex.model_catalog_json = Some("/var/tmp/run \"x\"/catalog.json".into());
    codex.sandbox_mode = Some("danger-full-access".to_owned());
    codex.approval_policy = Some("never".to_owned());
    let text = codex.config_toml();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    assert_eq!(doc["model"].as_str(), Some("mock-model"));
    assert_eq!(doc["model_provider"].as_str(), Some("harnessgym_scripted"));
    assert_eq!(doc["model_catalog_json"].as_str(), Some("/var/tmp/run \"x\"/catalog.json"));
    assert_eq!(doc["sandbox_mode"].as_str(), Some("danger-full-access"));
    assert_eq!(doc["approval_policy"].as_str(), Some("never"));
    assert_eq!(doc["features"]["plugins"].as_bool(), Some(false));
    assert_eq!(doc["features"]["unbounded_connection_retries"].as_bool(), Some(false));
    let provider = &doc["model_providers"]["harnessgym_scripted"];
    assert_eq!(provider["base_url"].as_str(), Some("http://127.0.0.1:4242/v1"));
    assert_eq!(provider["wire_api"].as_str(), Some("responses"));
    assert_eq!(provider["request_max_retries"].as_integer(), Some(0));
    assert_eq!(provider["stream_max_retries"].as_integer(), Some(0));
    assert!(provider.get("env_key").is_none(), "no key: no Authorization header");

    let minimal: toml_edit::DocumentMut = CodexRehearsal::new("http://127.0.0.1:1/v1").config_toml().parse().unwrap();
    assert!(minimal.get("sandbox_mode").is_none() && minimal.get("model_catalog_json").is_none());

    let home = Utf8Path::new("/var/tmp/run/codex-home");
    assert_eq!(codex.files(home), vec![(home.join("config.toml"), text)]);
    let env = codex.env(home);
    assert_eq!(env.get("CODEX_HOME"), Some("/var/tmp/run/codex-home"));
    assert_eq!(env.remove, ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"]);
    assert_eq!(
        codex.args(),
        [
            "-c",
            "model=\"mock-model\"",
            "-c",
            "model_provider=\"harnessgym_scripted\"",
            "-c",
            "features.plugins=false",
            "-c",
            "features.unbounded_connection_retries=false",
        ]
    );
}

#[test]
fn claude_env_isolates_home_and_points_at_the_server() {
    let claude = ClaudeRehearsal::new("http://127.0.0.1:4242");
    let home = Utf8Path::new("/var/tmp/run/claude-home");
    let env = claude.env(home);
    for (name, value) in [
        ("HOME", "/var/tmp/run/claude-home"),
        ("CLAUDE_CONFIG_DIR", "/var/tmp/run/claude-home/.claude"),
        ("ANTHROPIC_BASE_URL", "http://127.0.0.1:4242"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ("CLAUDE_CODE_MAX_RETRIES", "0"),
        ("ENABLE_TOOL_SEARCH", "false"),
    ] {
        assert_eq!(env.get(name), Some(value), "{name}");
    }
    assert!(env.get("ANTHROPIC_API_KEY").is_some_and(|key| key.starts_with("sk-ant-")));
    assert!(env.get("IS_SANDBOX").is_none(), "never set silently");
    assert!(env.remove.iter().any(|name| name == "ANTHROPIC_AUTH_TOKEN"));
    assert!(env.remove.iter().any(|name| name == "CLAUDE_CODE_OAUTH_TOKEN"));
    assert_eq!(ClaudeRehearsal::dirs(home), vec![home.to_owned(), home.join(".claude")]);
    assert_eq!(claude.args(), ["--model", "claude-mock-1"]);
}
