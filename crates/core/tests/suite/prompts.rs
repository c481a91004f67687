//! What reaches the attempt prompt through the loop (§6.1, §6.2; statements 39, 45).

use std::sync::Arc;

use async_trait::async_trait;
use camino::Utf8Path;
use harnessgym_core::hooks::{Activator, NoActivation};
use harnessgym_runners::Phase;
use harnessgym_types::activation::{ActivationReport, McpServerActivation, OverallGate};
use harnessgym_types::registry::Registry;
use serde_json::json;

use super::support::{ScriptedAgent, Ws, build_run, execute, request, run};

/// Reports one active MCP server with one tool (what a real activator would after a build).
struct OneServer;

#[async_trait]
impl Activator for OneServer {
    async fn activate(&self, workspace: &Utf8Path, registry: &Registry) -> ActivationReport {
        let mut report = NoActivation.activate(workspace, registry).await;
        report.mcp_servers.push(McpServerActivation {
            artifact_path: ".harnessgym/mcp/kernel-suite/mcp.json".into(),
            name: "kernel-suite".into(),
            active: Some(true),
            enabled_tools: vec!["run_verifier".into()],
            smoke: Some(json!({"status": "passed", "tools": ["run_verifier"]})),
            extra: Default::default(),
        });
        report.quality_gate = OverallGate { active_mcp_count: 1, active_tool_count: 1, ..OverallGate::default() };
        report
    }
}

#[tokio::test]
async fn statement_39_iteration_2_prompt_lists_the_artifact_built_in_iteration_1() {
    let ws = Ws::new();
    let agent = ScriptedAgent::new()
        .on(Phase::Build, 1, |cx| {
            cx.write(".harnessgym/tools/probe.py", "#!/usr/bin/env python3\nprint('PROBE-BODY-1234')\n");
        })
        .arc();
    let runner: Arc<dyn harnessgym_runners::Runner> = agent.clone();
    let req = {
        let mut r = request(&ws);
        r.options.iterations = 2;
        r
    };
    let done = execute(build_run(req, runner).with_activator(Arc::new(OneServer))).await;

    let prompt = done.iteration_text(2, "attempt.prompt.txt");
    let result_path = done.iteration_dir(2).join("result.json");
    for needle in [
        // The artifact, its registry description and its preview.
        "- tool: .harnessgym/tools/probe.py - Discovered tool artifact at .harnessgym/tools/probe.py",
        "  Preview:",
        "    print('PROBE-BODY-1234')",
        // The active MCP line with its tools.
        "- MCP `kernel-suite` active=true; smoke: passed",
        "tools: run_verifier",
        // Instructions.
        "Work autonomously until the task is solved",
        "Do not build new harness tooling during this attempt",
        "use those tools early",
        "Make concrete tool calls",
        "Activation alone is not usage",
        "used_harness_tools",
        result_path.as_str(),
    ] {
        assert!(prompt.contains(needle), "missing {needle:?} in:\n{prompt}");
    }
    // The prompt the agent received is the one on disk.
    let calls = agent.calls();
    let second = calls.iter().find(|c| c.phase == Phase::Attempt && c.iteration == 2).unwrap();
    assert_eq!(second.prompt, prompt);
    assert_eq!(second.session_id, None, "attempts always start a fresh session");
    assert_eq!(second.phase_dir, done.iteration_dir(2));
    // Iteration 1 had nothing to list yet.
    assert!(
        done.iteration_text(1, "attempt.prompt.txt").contains("No generated harness artifacts are registered yet.")
    );
}

#[tokio::test]
async fn statement_45_quarantined_artifact_is_hidden_with_a_count_line() {
    let ws = Ws::with_files(&[
        (".harnessgym/tools/good.py", "print('good')\n"),
        (".harnessgym/tools/bad.py", "print('BAD-TOOL-BODY')\n"),
    ]);
    let registry = json!({
        "version": 1,
        "artifacts": [
            {"kind": "tool", "path": ".harnessgym/tools/good.py", "description": "A good tool"},
            {"kind": "tool", "path": ".harnessgym/tools/bad.py", "description": "A broken tool",
             "metadata": {"quarantined": true,
                          "quarantine": {"status": "quarantined", "reason": "self-test failed"}}}
        ]
    });
    ws.write(".harnessgym/registry.json", &registry.to_string());
    let agent = ScriptedAgent::new().arc();
    let done = run(request(&ws), &agent).await;

    let prompt = done.iteration_text(1, "attempt.prompt.txt");
    assert!(prompt.contains("1 quarantined artifact(s) are hidden"), "{prompt}");
    assert!(prompt.contains("- tool: .harnessgym/tools/good.py - A good tool"), "{prompt}");
    assert!(!prompt.contains("bad.py"), "{prompt}");
    assert!(!prompt.contains("BAD-TOOL-BODY"), "{prompt}");
    // Still registered (files stay), and reported by activation.
    let registry = super::support::read_json(&ws.path(".harnessgym/registry.json"));
    assert_eq!(registry["artifacts"].as_array().unwrap().len(), 2);
    let activation = super::support::read_json(&done.iteration_dir(1).join("activation.json"));
    assert_eq!(activation["quarantined_artifacts"], json!([{"kind": "tool", "path": ".harnessgym/tools/bad.py"}]));
}
