//! `activate` end to end: spec/integration.md §7 A1–A12, X3, X5, X6 and spec/core.md §8
//! statements 53–58, adapted to our design (agents launch `<abs harnessgym> mcp-proxy …`).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use harnessgym_mcp::{Framing, McpClient, ServerCommand};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{FAKE_BIN, Ws, extra, harnessgym_bin, manifest, registry, run, run_with, server};

const ANSWER: Duration = Duration::from_secs(30);

fn is_symlink_to(link: &camino::Utf8Path, target: &camino::Utf8Path) -> bool {
    std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::read_link(link).is_ok_and(|t| t == target.as_std_path())
}

/// A1 / statement 53: a SKILL.md and its directory are one skill, linked for both agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skill_file_and_directory_are_one_skill_linked_for_both_agents() {
    let ws = Ws::new();
    let dir = ws.skill("kernel-skill");
    let report = run(&ws, &registry(&[("skill", &format!("{dir}/SKILL.md")), ("skill", &dir)])).await;
    assert_eq!(report.skills.len(), 1, "{report:#?}");
    let skill = &report.skills[0];
    let target = ws.path(&dir);
    for (link, reported) in [
        (ws.path(".agents/skills/kernel-skill"), &skill.codex_activated_path),
        (ws.path(".claude/skills/kernel-skill"), &skill.claude_activated_path),
    ] {
        assert!(is_symlink_to(&link, &target), "{link}");
        assert_eq!(reported, link.as_str());
    }
    assert_eq!(skill.activated_path, skill.codex_activated_path);
    assert_eq!(skill.skill_path, ws.path(&format!("{dir}/SKILL.md")).as_str());
    assert_eq!(report.quality_gate.status, "passed");
}

/// A2 (+ B18's "not started again"): the manifest and its server.py are one active server, and
/// the second artifact does not start the server again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_and_its_server_py_are_one_active_server_started_once() {
    let ws = Ws::new();
    let rel = ws.server(
        "kernel-tools",
        "mcp_server.py",
        manifest(
            "kernel-tools",
            ".harnessgym/mcp/kernel-tools/server.py",
            &["--count-starts", "starts.txt"],
            json!({"self_test": true}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/kernel-tools/mcp.json"), ("mcp", rel.as_str())])).await;
    assert_eq!(report.mcp_servers.len(), 1, "{report:#?}");
    let entry = server(&report, "kernel-tools");
    assert_eq!(entry.active, Some(true));
    assert_eq!(entry.smoke.as_ref().expect("smoke")["status"], "passed");
    assert_eq!(entry.smoke.as_ref().expect("smoke")["tools"], json!(["echo", "sleep", "client_replies"]));
    assert_eq!(extra(entry, "self_test")["status"], "passed");
    assert_eq!(extra(entry, "quality_gate")["status"], "passed");
    assert_eq!(report.quality_gate.status, "passed", "{:?}", report.warnings);
    assert_eq!(report.quality_gate.active_mcp_count, 1);
    assert_eq!(report.quality_gate.active_tool_count, 3);
    assert_eq!(ws.starts("starts.txt"), 3, "two probe copies and one smoke, nothing for the duplicate");
}

/// A3: timeouts in seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_timeouts_in_seconds() {
    let ws = Ws::new();
    ws.server(
        "k",
        "mcp_server.py",
        manifest(
            "k",
            ".harnessgym/mcp/k/server.py",
            &[],
            json!({"self_test": true,
            "timeouts": {"startup_seconds": 11, "tool_seconds": 77, "self_test_seconds": 33}}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/k/mcp.json")])).await;
    let entry = server(&report, "k");
    let got: Vec<&Value> =
        ["startup_timeout_sec", "tool_timeout_sec", "self_test_timeout_sec"].iter().map(|k| extra(entry, k)).collect();
    assert_eq!(got, [&json!(11), &json!(77), &json!(33)]);
    assert_eq!(entry.active, Some(true));
}

/// A4: an object self-test with command, args and timeout_seconds runs and passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_self_test_runs_and_passes() {
    let ws = Ws::new();
    let rel = ".harnessgym/mcp/k/server.py";
    ws.server(
        "k",
        "mcp_server.py",
        manifest(
            "k",
            rel,
            &[],
            json!({"self_test": {"command": "python3", "args": [rel, "--self-test"],
            "timeout_seconds": 22}}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/k")])).await;
    let test = extra(server(&report, "k"), "self_test");
    assert_eq!(test["status"], "passed", "{test}");
    assert_eq!(test["command"], json!(["python3", rel, "--self-test"]));
    assert_eq!(test["stdout"], "self-test ok\n");
    assert_eq!(server(&report, "k").active, Some(true));
}

/// A5, A6 / statement 54: config.toml, the Claude config and the helper all point at
/// `<abs harnessgym> mcp-proxy`, with the reference's timeouts and enabled tools; the framing is
/// recorded on the activation.json entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_launch_the_server_through_the_proxy() {
    let ws = Ws::new();
    let rel = ".harnessgym/mcp/kernel-tools/server.py";
    ws.server(
        "kernel-tools",
        "mcp_server.py",
        manifest(
            "kernel-tools",
            rel,
            &[],
            json!({"self_test": true, "tool_timeout_sec": 77,
            "enabled_tools": ["run_verifier"]}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/kernel-tools/mcp.json")])).await;
    let entry = server(&report, "kernel-tools");
    assert_eq!(entry.active, Some(true), "{report:#?}");
    assert_eq!(extra(entry, "framing"), "ndjson");

    let toml = ws.read(".codex/config.toml");
    let ws_str = ws.root.as_str();
    for needle in [
        "# managed by harnessgym\n[mcp_servers.kernel-tools]".to_owned(),
        format!("command = \"{FAKE_BIN}\""),
        format!(
            "args = [\"mcp-proxy\", \"--server-name\", \"kernel-tools\", \"--workspace\", \"{ws_str}\", \"--cwd\", \"{ws_str}\", \"--server-framing\", \"ndjson\", \"--response-timeout\", \"77\", \"--bundle-sandbox\", \"none\", \"--bundle-network\", \"on\", \"--\", \"python3\", \"{rel}\"]"
        ),
        format!("cwd = \"{ws_str}\""),
        "tool_timeout_sec = 82".to_owned(),
        "startup_timeout_sec = 10".to_owned(),
        "enabled = true".to_owned(),
        "enabled_tools = [\"run_verifier\"]".to_owned(),
        "default_tools_approval_mode = \"approve\"".to_owned(),
    ] {
        assert!(toml.contains(&needle), "{needle:?} missing from\n{toml}");
    }
    assert!(!toml.contains("mcp_telemetry_proxy.py") && !toml.contains("BEGIN HARNESSGYM"));

    let claude: Value = serde_json::from_str(&ws.read(".harnessgym/claude_mcp_config.json")).expect("json");
    let c = &claude["mcpServers"]["kernel-tools"];
    assert_eq!(c["type"], "stdio");
    assert_eq!(c["command"], FAKE_BIN);
    assert_eq!(c["args"][0], "mcp-proxy");
    assert_eq!(c["args"].as_array().expect("args").last(), Some(&json!(rel)));
    assert_eq!(c["env"]["HARNESSGYM_WORKSPACE"], ws_str);

    // A6: the helper.
    let helper = report.mcp_call_helper.as_ref().expect("mcp_call_helper");
    assert_eq!(helper["relative_path"], ".harnessgym/runtime/mcp_call.py");
    let path = ws.path(".harnessgym/runtime/mcp_call.py");
    assert_eq!(helper["path"], path.as_str());
    let mode = std::fs::metadata(&path).expect("helper exists").permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "executable");
    assert!(ws.read(".harnessgym/runtime/mcp_call.py").contains(FAKE_BIN));
}

/// A7 / statement 55: a stale absolute cwd with repo-local args becomes the workspace; without a
/// self-test the server is inactive and no agent config is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_cwd_is_rewritten_and_no_self_test_means_inactive() {
    let ws = Ws::new();
    ws.server(
        "k",
        "mcp_server.py",
        manifest("k", ".harnessgym/mcp/k/server.py", &[], json!({"cwd": "/old/training/workspace"})),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/k/mcp.json")])).await;
    let entry = server(&report, "k");
    assert_eq!(extra(entry, "cwd"), ws.root.as_str());
    assert_eq!(extra(entry, "self_test")["status"], "not_configured");
    assert_eq!(entry.smoke.as_ref().expect("smoke")["status"], "passed", "the server itself is fine");
    assert_eq!(entry.active, Some(false));
    assert_eq!(extra(entry, "quality_gate")["status"], "failed");
    assert_eq!(extra(entry, "quality_gate")["message"], "failed checks: self_test");
    assert_eq!(report.quality_gate.status, "failed");
    assert_eq!(report.quality_gate.inactive_mcp_count, 1);
    assert!(!ws.path(".codex/config.toml").exists());
    assert!(!ws.path(".harnessgym/claude_mcp_config.json").exists());
    assert!(report.mcp_call_helper.is_none());
    assert_eq!(report.warnings, ["mcp quality gate failed for k: failed checks: self_test"]);
}

/// A8 / statement 56: millisecond timeouts; a self-test with a foreign absolute cwd and
/// repo-local args runs in the workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn millisecond_timeouts_and_a_foreign_self_test_cwd() {
    let ws = Ws::new();
    let rel = ".harnessgym/mcp/k/server.py";
    ws.server(
        "k",
        "mcp_server.py",
        manifest(
            "k",
            rel,
            &[],
            json!({
            "timeouts": {"initialize_ms": 5000, "tool_call_ms": 120000, "self_test_ms": 45000},
            "self_test": {"command": ["python3", rel, "--self-test"], "cwd": "/somewhere/else/entirely"}}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/k/mcp.json")])).await;
    let entry = server(&report, "k");
    let got: Vec<&Value> =
        ["startup_timeout_sec", "tool_timeout_sec", "self_test_timeout_sec"].iter().map(|k| extra(entry, k)).collect();
    assert_eq!(got, [&json!(5), &json!(120), &json!(45)]);
    assert_eq!(extra(entry, "self_test")["status"], "passed", "{}", extra(entry, "self_test"));
    assert_eq!(entry.active, Some(true));
    let toml = ws.read(".codex/config.toml");
    assert!(toml.contains(&format!("cwd = \"{}\"", ws.root)), "{toml}");
    assert!(toml.contains("\"--response-timeout\", \"120\"") && toml.contains("tool_timeout_sec = 125"), "{toml}");
}

/// A9, A10 / statement 57, through `activate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_directory_kept_regular_file_replaced() {
    let ws = Ws::new();
    let dir = ws.skill("k");
    ws.write(".agents/skills/k/mine.txt", "user data");
    ws.write(".claude/skills/k", "stale file");
    run(&ws, &registry(&[("skill", &dir)])).await;
    let real = ws.path(".agents/skills/k");
    assert!(!std::fs::symlink_metadata(&real).expect("exists").file_type().is_symlink());
    assert_eq!(ws.read(".agents/skills/k/mine.txt"), "user data");
    assert!(is_symlink_to(&ws.path(".claude/skills/k"), &ws.path(&dir)));
}

/// A11: initialize after 2 s with a 10 s startup timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_initialize_within_the_startup_timeout_passes() {
    let ws = Ws::new();
    ws.server(
        "slow",
        "mcp_server.py",
        manifest(
            "slow",
            ".harnessgym/mcp/slow/server.py",
            &["--init-delay", "2"],
            json!({"self_test": true, "startup_timeout_sec": 10}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/slow/mcp.json")])).await;
    let entry = server(&report, "slow");
    assert_eq!(entry.smoke.as_ref().expect("smoke")["status"], "passed", "{entry:#?}");
    assert_eq!(extra(entry, "framing"), "ndjson", "a slow newline-JSON server is not taken for Content-Length");
    assert_eq!(entry.active, Some(true));
}

/// A12 / statement 58: initialize uses the startup timeout, tools/list the tool timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_tools_list_uses_the_tool_timeout() {
    let ws = Ws::new();
    ws.server(
        "probe-server",
        "reference_server.py",
        manifest(
            "probe-server",
            ".harnessgym/mcp/probe-server/server.py",
            &["--list-delay", "2"],
            json!({"self_test": true, "startup_timeout_sec": 1, "tool_timeout_sec": 5}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/probe-server/mcp.json")])).await;
    let entry = server(&report, "probe-server");
    assert_eq!(entry.smoke.as_ref().expect("smoke"), &json!({"status": "passed", "tools": ["probe"]}));
    assert_eq!(extra(entry, "framing"), "content-length");
    assert_eq!(entry.active, Some(true));
}

/// X3: JSON-RPC errors for initialize or tools/list fail the smoke, even with enabled_tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_or_tools_list_errors_make_the_server_inactive() {
    let ws = Ws::new();
    for (name, flag, framing) in
        [("init-err", "--init-error", "ndjson"), ("list-err", "--list-error", "content-length")]
    {
        ws.server(
            name,
            "mcp_server.py",
            manifest(
                name,
                &format!(".harnessgym/mcp/{name}/server.py"),
                &[flag, "--framing", framing],
                json!({"self_test": true, "enabled_tools": ["echo"]}),
            ),
        );
    }
    let report = run(
        &ws,
        &registry(&[("mcp", ".harnessgym/mcp/init-err/mcp.json"), ("mcp", ".harnessgym/mcp/list-err/mcp.json")]),
    )
    .await;
    for (name, message, framing) in [
        ("init-err", "server refuses: missing API key", "ndjson"),
        ("list-err", "tools are broken today", "content-length"),
    ] {
        let entry = server(&report, name);
        assert_eq!(entry.active, Some(false), "{entry:#?}");
        let smoke = entry.smoke.as_ref().expect("smoke");
        assert_eq!(smoke["status"], "failed");
        assert!(smoke["message"].as_str().expect("message").contains(message), "{smoke}");
        assert_eq!(extra(entry, "quality_gate")["checks"]["smoke"], false);
        assert_eq!(extra(entry, "quality_gate")["checks"]["tool_inventory"], true, "enabled_tools alone");
        assert_eq!(extra(entry, "framing"), framing, "an error reply still proves the framing");
    }
    assert_eq!(report.quality_gate.active_mcp_count, 0);
    assert_eq!(report.quality_gate.active_tool_count, 0);
    assert!(!ws.path(".codex/config.toml").exists());
}

/// X5 / B10: quarantining an already-linked skill removes both links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_skill_loses_its_links() {
    let ws = Ws::new();
    let a = ws.skill("a");
    let b = ws.skill("b");
    let mut reg = registry(&[("skill", &a), ("skill", &b)]);
    run(&ws, &reg).await;
    assert!(is_symlink_to(&ws.path(".agents/skills/a"), &ws.path(&a)));
    reg.artifacts[0].metadata.insert("quarantine".into(), json!({"status": "quarantined", "reason": "broken"}));
    let report = run(&ws, &reg).await;
    for d in [".agents/skills", ".claude/skills"] {
        assert!(std::fs::symlink_metadata(ws.path(&format!("{d}/a"))).is_err(), "{d}/a still there");
        assert!(is_symlink_to(&ws.path(&format!("{d}/b")), &ws.path(&b)));
    }
    assert_eq!(report.quarantined_artifacts.len(), 1);
    assert_eq!(report.quarantined_artifacts[0].path, a);
    assert_eq!(report.skills.len(), 1);
}

/// B18: two manifests with the name of an inactive server give one entry, one warning, and the
/// second is never started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_of_an_inactive_server_are_reported_once() {
    let ws = Ws::new();
    for dir in ["one", "two"] {
        ws.server(
            dir,
            "mcp_server.py",
            manifest(
                "dup",
                &format!(".harnessgym/mcp/{dir}/server.py"),
                &["--count-starts", &format!("{dir}.txt")],
                json!({}),
            ),
        );
    }
    let report =
        run(&ws, &registry(&[("mcp", ".harnessgym/mcp/one/mcp.json"), ("mcp", ".harnessgym/mcp/two/mcp.json")])).await;
    assert_eq!(report.mcp_servers.len(), 1);
    assert_eq!(report.mcp_servers[0].artifact_path, ".harnessgym/mcp/one/mcp.json");
    assert_eq!(report.mcp_servers[0].active, Some(false));
    assert_eq!(report.warnings, ["mcp quality gate failed for dup: failed checks: self_test"]);
    assert_eq!(report.quality_gate.inactive_mcp_count, 1);
    assert!(ws.starts("one.txt") > 0);
    assert_eq!(ws.starts("two.txt"), 0, "the duplicate is not started");
}

/// X6, changed on purpose: our tables sit in place under a marker, every other byte of the
/// user's file stays, the reference's block is migrated away once, and re-activation is stable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_toml_keeps_the_users_bytes() {
    let ws = Ws::new();
    let user = "\
# My Codex settings
model = \"o3\"   # the good one
approval_policy = \"never\"

[profiles.fast]
model = \"o4-mini\"  # cheap

# BEGIN HARNESSGYM MCP
# Generated by HarnessGym. Edit .harnessgym/mcp manifests instead.

[mcp_servers.old-tools]
command = \"/usr/bin/python3\"
args = [\"/opt/harnessgym/mcp_telemetry_proxy.py\", \"--\", \"python3\", \"old.py\"]
# END HARNESSGYM MCP

[mcp_servers.mine]
command = \"my-server\"   # keep this comment
args = [\"--fast\"]

[mcp_servers.mine.env]
TOKEN_FILE = \"~/.token\"
";
    ws.write(".codex/config.toml", user);
    ws.server(
        "kernel-tools",
        "mcp_server.py",
        manifest(
            "kernel-tools",
            ".harnessgym/mcp/kernel-tools/server.py",
            &[],
            json!({"self_test": true, "tool_timeout_sec": 77, "enabled_tools": ["run_verifier"]}),
        ),
    );
    let reg = registry(&[("mcp", ".harnessgym/mcp/kernel-tools/mcp.json")]);
    let report = run(&ws, &reg).await;
    assert_eq!(report.quality_gate.status, "passed", "{:?}", report.warnings);
    let first = ws.read(".codex/config.toml");
    insta::assert_snapshot!("x6_config_toml", first.replace(ws.root.as_str(), "[WS]"));

    run(&ws, &reg).await;
    assert_eq!(ws.read(".codex/config.toml"), first, "a second activation changes nothing");

    // The server goes away: our table goes, the user's bytes stay.
    std::fs::remove_dir_all(ws.path(".harnessgym/mcp/kernel-tools")).expect("rm");
    let report = run(&ws, &registry(&[])).await;
    assert!(report.mcp_servers.is_empty());
    let after = ws.read(".codex/config.toml");
    assert!(!after.contains("managed by harnessgym") && !after.contains("kernel-tools"), "{after}");
    let expected_user_part = user.replace(
        "# BEGIN HARNESSGYM MCP
# Generated by HarnessGym. Edit .harnessgym/mcp manifests instead.

[mcp_servers.old-tools]
command = \"/usr/bin/python3\"
args = [\"/opt/harnessgym/mcp_telemetry_proxy.py\", \"--\", \"python3\", \"old.py\"]
# END HARNESSGYM MCP
",
        "",
    );
    assert_eq!(after, expected_user_part);
}

/// A bundle written for the reference — a Content-Length-only server, millisecond timeouts,
/// `self_test: true` — activates, and a newline-JSON client reaches its tool through the real
/// `harnessgym mcp-proxy` exactly as Claude Code would launch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_bundle_is_reachable_through_the_proxy_by_a_newline_json_client() {
    let ws = Ws::new();
    ws.server(
        "ref-tools",
        "reference_server.py",
        manifest(
            "ref-tools",
            ".harnessgym/mcp/ref-tools/server.py",
            &[],
            json!({"timeouts": {"initialize_ms": 5000, "tool_call_ms": 120000}, "self_test": true}),
        ),
    );
    let bin = harnessgym_bin();
    let report = run_with(&ws, &registry(&[("mcp", ".harnessgym/mcp/ref-tools")]), bin).await;
    let entry = server(&report, "ref-tools");
    assert_eq!(entry.active, Some(true), "{entry:#?}");
    assert_eq!(extra(entry, "framing"), "content-length");
    assert_eq!(report.quality_gate.status, "passed", "{:?}", report.warnings);

    let claude: Value = serde_json::from_str(&ws.read(".harnessgym/claude_mcp_config.json")).expect("json");
    let c = &claude["mcpServers"]["ref-tools"];
    assert_eq!(c["command"], bin.as_str());
    let args: Vec<String> =
        c["args"].as_array().expect("args").iter().map(|a| a.as_str().expect("str").to_owned()).collect();
    assert!(args.windows(2).any(|w| w == ["--server-framing", "content-length"]), "{args:?}");
    let cmd = ServerCommand::new(bin.as_str(), args, ws.root.clone());
    let client = McpClient::start(&cmd, Framing::Ndjson).expect("start the proxy");
    let init = client.initialize(ANSWER).await.expect("initialize through the proxy");
    assert_eq!(init.server_name(), Some("reference-style"));
    let tools = client.list_tools(ANSWER).await.expect("tools/list");
    assert_eq!(tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["probe"]);
    let result = client.call_tool("probe", json!({"shape": [2, 4]}), ANSWER).await.expect("tools/call");
    assert_eq!(result["content"][0]["text"], r#"{"ok":true,"arguments":{"shape":[2,4]}}"#);
    client.shutdown().await;

    let log = ws.read(".harnessgym/mcp_calls.jsonl");
    let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert_eq!(
        (&lines[0]["server"], &lines[0]["tool_name"], &lines[0]["status"]),
        (&json!("ref-tools"), &json!("probe"), &json!("completed"))
    );
}
