//! The exec and claude adapters against stand-in CLIs: real child processes (shell scripts) that
//! record their argv and stdin and print the events the real CLIs print.

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use harnessgym_runners::claude::{ClaudeOptions, ClaudeRunner};
use harnessgym_runners::exec::{ExecOptions, ExecRunner};
use harnessgym_runners::{Phase, PhaseRequest, PhaseStatus, Runner};
use tokio::sync::watch;

struct Scene {
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Scene {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        std::fs::create_dir_all(root.join("ws/.harnessgym")).unwrap();
        Self { _dir: dir, root }
    }

    fn ws(&self) -> Utf8PathBuf {
        self.root.join("ws")
    }

    /// A stand-in CLI: records argv (one per line) and stdin, then runs `body`.
    fn cli(&self, name: &str, body: &str) -> String {
        let path = self.root.join(name);
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{root}/{name}.argv'\ncat > '{root}/{name}.stdin'\n{body}\n",
            root = self.root
        );
        std::fs::write(&path, script).unwrap();
        std::process::Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        path.to_string()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(name)).unwrap_or_default()
    }

    fn request(&self, phase: Phase, session: Option<&str>, timeout: Duration) -> PhaseRequest {
        let (_tx, cancel) = watch::channel(false);
        std::mem::forget(_tx);
        PhaseRequest {
            phase,
            run_id: "r".into(),
            iteration: 1,
            workspace: self.ws(),
            phase_dir: self.root.join("iter"),
            result_path: self.root.join("iter/result.json"),
            prompt: format!("HarnessGym {} prompt\nline two", phase.as_str()),
            session_id: session.map(str::to_owned),
            timeout,
            cancel,
        }
    }
}

const CODEX_EVENTS: &str = r#"cat <<'EOF'
{"type":"thread.started","thread_id":"01a20a17-47c4-7553-9843-b51ff426c33e"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"ATTEMPT DONE"}}
{"type":"turn.completed","usage":{"input_tokens":400,"cached_input_tokens":0,"output_tokens":40}}
EOF"#;

fn exec_runner(bin: String) -> ExecRunner {
    ExecRunner::new(ExecOptions::new(bin, Utf8PathBuf::from("/opt/harnessgym")))
}

#[tokio::test]
async fn e1_exec_fresh_attempt_gets_the_prompt_on_stdin_and_parses_events() {
    let s = Scene::new();
    let runner = exec_runner(s.cli("codex", CODEX_EVENTS));
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed, "{r:?}");
    assert_eq!(r.return_code, Some(0));
    assert_eq!(r.session_id.as_deref(), Some("01a20a17-47c4-7553-9843-b51ff426c33e"));
    assert_eq!(r.message, "ATTEMPT DONE");
    assert_eq!(r.usage.as_ref().and_then(|u| u.input_tokens), Some(400));
    let argv: Vec<String> = s.read("codex.argv").lines().map(str::to_owned).collect();
    assert_eq!(&argv[..3], ["exec", "--json", "--skip-git-repo-check"]);
    assert!(!argv.contains(&"resume".to_owned()));
    assert_eq!(argv.last().map(String::as_str), Some("-"), "B8: the prompt never rides argv");
    assert_eq!(s.read("codex.stdin"), "HarnessGym attempt prompt\nline two");
    let transcript = std::fs::read_to_string(r.transcript_path.unwrap()).unwrap();
    assert!(transcript.contains("session_id: 01a20a17") && transcript.contains("final_message:\nATTEMPT DONE"));
}

#[tokio::test]
async fn e1_exec_resume_names_the_thread_and_passes_mcp_servers_through_the_proxy() {
    let s = Scene::new();
    std::fs::write(
        s.ws().join(".harnessgym/activation.json"),
        r#"{"mcp_servers": [{"name": "kernel-tools", "active": true, "command": "python3", "args": ["srv.py"], "cwd": "/w",
            "tool_timeout_sec": 77, "enabled_tools": ["run_verifier"], "framing": "ndjson",
            "smoke": {"status": "passed"}, "self_test": {"status": "passed"}}]}"#,
    )
    .unwrap();
    let runner = exec_runner(s.cli("codex", CODEX_EVENTS));
    let r = runner.run_phase(s.request(Phase::Reflection, Some("thread-9"), Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed);
    let argv: Vec<String> = s.read("codex.argv").lines().map(str::to_owned).collect();
    let n = argv.len();
    assert_eq!(&argv[n - 3..], ["resume", "thread-9", "-"]);
    assert!(argv.contains(&"mcp_servers.kernel-tools.command=\"/opt/harnessgym\"".to_owned()), "{argv:?}");
    assert!(argv.contains(&"mcp_servers.kernel-tools.tool_timeout_sec=82".to_owned()));
    assert!(argv.contains(&"mcp_servers.kernel-tools.default_tools_approval_mode=\"approve\"".to_owned()));
    assert!(argv.iter().any(|a| a.starts_with("mcp_servers.kernel-tools.args=[\"mcp-proxy\"")));
}

#[tokio::test]
async fn e3_a_server_whose_self_test_failed_is_not_passed_to_codex() {
    let s = Scene::new();
    std::fs::write(
        s.ws().join(".harnessgym/activation.json"),
        r#"{"mcp_servers": [{"name": "k", "command": "python3", "self_test": {"status": "failed"}}]}"#,
    )
    .unwrap();
    let runner = exec_runner(s.cli("codex", CODEX_EVENTS));
    runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert!(!s.read("codex.argv").contains("mcp_servers"));
}

#[tokio::test]
async fn e5_r8_missing_session_fails_without_starting_a_process() {
    let s = Scene::new();
    let codex = exec_runner(s.cli("codex", CODEX_EVENTS));
    let r = codex.run_phase(s.request(Phase::Reflection, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Failed);
    assert_eq!(r.return_code, None);
    assert!(r.message.contains("no Codex session id"), "{}", r.message);
    assert!(!s.root.join("codex.argv").exists(), "no process was started");
    let mut o = ClaudeOptions::new(s.cli("claude", "true"));
    o.env.push(("IS_SANDBOX".into(), "1".into()));
    let r = ClaudeRunner::new(o).run_phase(s.request(Phase::Build, None, Duration::from_secs(30))).await;
    assert!(r.message.contains("no Claude Code session id"), "{}", r.message);
    assert!(!s.root.join("claude.argv").exists());
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
    }
}

#[tokio::test]
async fn e6_r9_timeout_kills_the_cli_and_a_grandchild_holding_its_pipes() {
    let s = Scene::new();
    let body = format!("sleep 300 & echo $! > '{}/grandchild.pid'\nwait", s.root);
    let runner = exec_runner(s.cli("codex", &body));
    let started = Instant::now();
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(1))).await;
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(r.status, PhaseStatus::Timeout);
    assert!(r.timed_out && r.return_code.is_none());
    let pid: i32 = s.read("grandchild.pid").trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pid_alive(pid), "grandchild {pid} survived");
    let stderr = std::fs::read_to_string(r.stderr_path.unwrap()).unwrap();
    assert!(stderr.contains("Timed out after 1 seconds; terminated Codex process."));
}

#[tokio::test]
async fn missing_binary_is_127_with_an_install_hint() {
    let s = Scene::new();
    let runner = exec_runner(s.root.join("no-such-codex").to_string());
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(5))).await;
    assert_eq!((r.status, r.return_code), (PhaseStatus::Failed, Some(127)));
    assert!(r.message.contains("Codex executable not found") && r.message.contains("npm install"), "{}", r.message);
    assert!(r.transcript_path.unwrap().as_str().ends_with("attempt.transcript.txt"));
}

#[tokio::test]
async fn garbage_output_and_a_non_zero_exit_fail_cleanly() {
    let s = Scene::new();
    let runner = exec_runner(s.cli("codex", "printf 'not json\\n\\377\\376 binary\\n'; exit 3"));
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!((r.status, r.return_code), (PhaseStatus::Failed, Some(3)));
    assert_eq!(r.session_id, None);
    let failed = exec_runner(s.cli(
        "codex2",
        "echo '{\"type\":\"thread.started\",\"thread_id\":\"t1\"}'; echo '{\"type\":\"turn.failed\",\"error\":{\"message\":\"model endpoint down\"}}'; exit 1",
    ));
    let r = failed.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Failed);
    assert!(r.message.contains("model endpoint down"), "{}", r.message);
    assert_eq!(r.session_id.as_deref(), Some("t1"));
}

fn claude_runner(bin: String, sandbox: bool) -> ClaudeRunner {
    let mut o = ClaudeOptions::new(bin);
    o.cli.model = Some("sonnet".into());
    o.cli.max_budget_usd = Some(1.5);
    if sandbox {
        o.env.push(("IS_SANDBOX".into(), "1".into()));
    }
    ClaudeRunner::new(o)
}

const CLAUDE_EVENTS: &str = r#"cat <<'EOF'
{"type":"system","subtype":"init","session_id":"44930383-aaaa"}
{"type":"result","subtype":"success","is_error":false,"result":"ATTEMPT DONE","session_id":"44930383-aaaa","total_cost_usd":0.25,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}}
EOF"#;

#[tokio::test]
async fn r1_r2_r3_claude_argv_prompt_on_stdin_resume_and_mcp_config() {
    let s = Scene::new();
    std::fs::write(
        s.ws().join(".harnessgym/claude_mcp_config.json"),
        r#"{"mcpServers": {"tensor-plan": {}, "b": {}}}"#,
    )
    .unwrap();
    let runner = claude_runner(s.cli("claude", CLAUDE_EVENTS), true);
    let r = runner.run_phase(s.request(Phase::Build, Some("uuid-1"), Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed, "{r:?}");
    assert_eq!(r.cost_usd, Some(0.25));
    assert_eq!(r.usage.as_ref().and_then(|u| u.cached_input_tokens), Some(5));
    let argv: Vec<String> = s.read("claude.argv").lines().map(str::to_owned).collect();
    assert_eq!(&argv[..4], ["-p", "--output-format", "stream-json", "--verbose"]);
    let joined = argv.join(" ");
    assert!(joined.contains("--permission-mode bypassPermissions --model sonnet --max-budget-usd 1.5"), "{joined}");
    assert!(joined.contains("--strict-mcp-config --mcp-config"));
    assert!(argv.contains(&"--allowedTools=mcp__b,mcp__tensor-plan".to_owned()), "{argv:?}");
    assert_eq!(&argv[argv.len() - 2..], ["--resume", "uuid-1"]);
    assert_eq!(s.read("claude.stdin"), "HarnessGym build prompt\nline two");
}

#[tokio::test]
async fn r4_no_active_server_means_no_mcp_flags() {
    let s = Scene::new();
    let runner = claude_runner(s.cli("claude", CLAUDE_EVENTS), true);
    runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert!(!s.read("claude.argv").contains("--mcp-config"));
}

#[tokio::test]
async fn claude_bypass_as_root_without_is_sandbox_is_refused_with_a_message() {
    use std::os::unix::fs::MetadataExt;
    let s = Scene::new();
    let mut o = ClaudeOptions::new(s.cli("claude", CLAUDE_EVENTS));
    o.env_remove.push("IS_SANDBOX".into()); // the child would not see the variable
    let r = ClaudeRunner::new(o).run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        assert_eq!(r.status, PhaseStatus::Completed, "only root is refused");
        return;
    }
    assert_eq!(r.status, PhaseStatus::Failed);
    assert!(r.message.contains("IS_SANDBOX=1"), "{}", r.message);
    assert!(!s.root.join("claude.argv").exists(), "never started");
}

#[tokio::test]
async fn r10_error_result_fails_with_the_api_status_in_the_transcript() {
    let s = Scene::new();
    let body = r#"echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"rate limited","session_id":"44b64ca5-735d-4d10-8270-4aef483c00a1"}'; exit 1"#;
    let r = claude_runner(s.cli("claude", body), true)
        .run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30)))
        .await;
    assert_eq!(r.status, PhaseStatus::Failed);
    let transcript = std::fs::read_to_string(r.transcript_path.unwrap()).unwrap();
    assert!(transcript.contains("claude_api_error_status: 429"));
    assert!(transcript.contains("session_id: 44b64ca5-735d-4d10-8270-4aef483c00a1"));
}

#[tokio::test]
async fn command_runner_with_the_shipped_codex_profile_drives_a_codex_like_cli() {
    use harnessgym_runners::command::{CommandRunner, Profile};
    let s = Scene::new();
    let bin = s.cli("codex", CODEX_EVENTS);
    let text =
        include_str!("../../profiles/codex.toml").replace("program = \"codex\"", &format!("program = \"{bin}\""));
    let runner = CommandRunner::new(Profile::parse("codex.toml", &text).unwrap());
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed, "{r:?}");
    assert_eq!(r.session_id.as_deref(), Some("01a20a17-47c4-7553-9843-b51ff426c33e"));
    assert_eq!(r.usage.as_ref().and_then(|u| u.output_tokens), Some(40));
    assert_eq!(s.read("codex.stdin"), "HarnessGym attempt prompt\nline two");
    let r = runner.run_phase(s.request(Phase::Build, Some("t-7"), Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed);
    let argv: Vec<String> = s.read("codex.argv").lines().map(str::to_owned).collect();
    assert_eq!(&argv[argv.len() - 3..], ["resume", "t-7", "-"]);
}

#[tokio::test]
async fn command_runner_argument_mode_refuses_a_prompt_too_long_for_argv() {
    use harnessgym_runners::command::{CommandRunner, Profile};
    let s = Scene::new();
    let bin = s.cli("agent", "echo ok");
    let profile = format!(
        "program = \"{bin}\"\nfresh = [\"--prompt\", \"{{prompt}}\"]\nresume = [\"{{session_id}}\", \"{{prompt}}\"]\nprompt = \"argument\"\n"
    );
    let runner = CommandRunner::new(Profile::parse("p.toml", &profile).unwrap());
    let mut request = s.request(Phase::Attempt, None, Duration::from_secs(30));
    let r = runner.run_phase(request.clone()).await;
    assert_eq!(r.status, PhaseStatus::Completed);
    assert_eq!(s.read("agent.argv"), "--prompt\nHarnessGym attempt prompt\nline two\n");
    assert_eq!(s.read("agent.stdin"), "", "argument mode sends nothing on stdin");
    request.prompt = "x".repeat(200 * 1024);
    let r = runner.run_phase(request).await;
    assert_eq!(r.status, PhaseStatus::Failed);
    assert!(r.message.contains("too long for one argument"), "{}", r.message);
}

#[tokio::test]
async fn codex_usage_is_recorded_per_phase_although_codex_reports_thread_totals() {
    let s = Scene::new();
    let body = format!(
        "n=$(cat '{root}/count' 2>/dev/null || echo 0); echo $((n+1)) > '{root}/count'\n\
         echo '{{\"type\":\"thread.started\",\"thread_id\":\"t\"}}'\n\
         echo \"{{\\\"type\\\":\\\"turn.completed\\\",\\\"usage\\\":{{\\\"input_tokens\\\":$(( (n+1) * 1000 )),\\\"cached_input_tokens\\\":0,\\\"output_tokens\\\":$(( (n+1) * 10 ))}}}}\"",
        root = s.root
    );
    let runner = exec_runner(s.cli("codex", &body));
    let first = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    let second = runner.run_phase(s.request(Phase::Reflection, Some("t"), Duration::from_secs(30))).await;
    assert_eq!(first.usage.as_ref().and_then(|u| u.input_tokens), Some(1000));
    assert_eq!(second.usage.as_ref().and_then(|u| u.input_tokens), Some(1000), "2000 total minus the attempt's 1000");
    assert_eq!(second.usage.as_ref().and_then(|u| u.output_tokens), Some(10));
}

/// Codex 0.169 with CODEX_HOME under the temp dir where bubblewrap is installed: the alias
/// warning on stderr, no `command_execution` event, the failures only in the rollout file.
#[tokio::test]
async fn e11_every_shell_command_failing_alike_is_a_broken_environment_not_a_completed_attempt() {
    let s = Scene::new();
    let home = s.root.join("codex-home");
    let thread = "01a24ac4-0b31-7ee1-8041-4a9848dbcf47";
    let day = home.join("sessions/2026/12/06");
    std::fs::create_dir_all(&day).unwrap();
    let bwrap = "bwrap: execvp codex-linux-sandbox: No such file or directory";
    let rollout: Vec<String> = [("c1", "echo edited > work.txt"), ("c2", "python3 agent/result.py")]
        .iter()
        .flat_map(|(id, cmd)| {
            [
                serde_json::json!({"type": "response_item", "payload": {"type": "function_call", "name": "exec_command",
                    "arguments": serde_json::json!({"cmd": cmd}).to_string(), "call_id": id}}),
                serde_json::json!({"type": "response_item", "payload": {"type": "function_call_output", "call_id": id,
                    "output": format!("Chunk ID: 05c5e3\nWall time: 0.0000 seconds\nProcess exited with code 1\nOriginal token count: 16\nOutput:\n{bwrap}\n")}}),
            ]
        })
        .map(|v| v.to_string())
        .collect();
    std::fs::write(day.join(format!("rollout-2026-12-06T09-51-31-{thread}.jsonl")), rollout.join("\n") + "\n").unwrap();
    let body = format!(
        "echo 'WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper binaries \
         under temporary dir \"/tmp\" (codex_home: AbsolutePathBuf(\"{home}\"))' >&2\n{}",
        CODEX_EVENTS.replace("01a20a17-47c4-7553-9843-b51ff426c33e", thread)
    );
    let runner = exec_runner(s.cli("codex", &body));
    let r = runner.run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Failed, "{r:?}");
    assert!(
        r.message.starts_with("broken environment: all 2 shell commands of the agent failed the same way"),
        "{}",
        r.message
    );
    assert!(r.message.contains(bwrap), "{}", r.message);
    assert!(r.message.contains(&format!("CODEX_HOME ({home}) is under the temp dir")), "{}", r.message);
    assert!(r.message.contains("Fix: point CODEX_HOME at a directory outside the temp dir"), "{}", r.message);
    let transcript = std::fs::read_to_string(r.transcript_path.unwrap()).unwrap();
    assert!(
        transcript.contains("status: failed") && transcript.contains("environment: broken environment"),
        "{transcript}"
    );

    // The same CLI whose commands worked: completed.
    let fine = s.cli("codex-fine", &CODEX_EVENTS.replace("01a20a17-47c4-7553-9843-b51ff426c33e", thread));
    let r = exec_runner(fine).run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Completed, "{r:?}");
}

/// A Codex that does report its commands: all failing alike is seen from the events alone.
#[tokio::test]
async fn e11_failing_command_executions_in_the_event_stream_are_a_broken_environment() {
    let s = Scene::new();
    let events = r#"cat <<'EOF'
{"type":"thread.started","thread_id":"t-1"}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo a'","aggregated_output":"sandbox: permission denied\n","exit_code":1,"status":"failed"}}
{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"sandbox: permission denied\n","exit_code":1,"status":"failed"}}
{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"gave up"}}
{"type":"turn.completed","usage":{"input_tokens":4,"cached_input_tokens":0,"output_tokens":4}}
EOF"#;
    let r =
        exec_runner(s.cli("codex", events)).run_phase(s.request(Phase::Attempt, None, Duration::from_secs(30))).await;
    assert_eq!(r.status, PhaseStatus::Failed, "{r:?}");
    assert_eq!(
        r.message,
        "broken environment: all 2 shell commands of the agent failed the same way: `sandbox: permission denied`. The \
         agent could not run anything; fix the environment it runs in (its sandbox, PATH, permissions) and run again"
    );
}
