//! `AgentLauncher::Remote` (`--runner-remote`) against a real sshd on 127.0.0.1: a stand-in agent
//! CLI runs in the remote mirror, sees remote paths, and its edits and result.json come back.

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::remote::RemoteWorkspace;
use harnessgym_runners::exec::{ExecOptions, ExecRunner};
use harnessgym_runners::launcher::AgentLauncher;
use harnessgym_runners::remote::RemoteAgentOptions;
use harnessgym_runners::{Phase, PhaseRequest, PhaseStatus, Runner};
use harnessgym_test_support::sshd::TestSshd;
use tokio::sync::watch;

const LOCAL_HARNESSGYM: &str = "/opt/local/harnessgym";

struct Scene {
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Scene {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        let s = Self { _dir: dir, root };
        let ws = s.ws();
        std::fs::create_dir_all(ws.join(".harnessgym/skills/k")).unwrap();
        std::fs::write(ws.join(".harnessgym/skills/k/SKILL.md"), "---\nname: k\n---\n").unwrap();
        std::fs::create_dir_all(ws.join(".agents/skills")).unwrap();
        std::os::unix::fs::symlink(ws.join(".harnessgym/skills/k"), ws.join(".agents/skills/k")).unwrap();
        std::fs::write(
            ws.join(".harnessgym/activation.json"),
            format!(
                r#"{{"mcp_servers": [{{"name": "tools", "active": true, "command": "python3", "args": ["srv.py"],
                    "cwd": "{ws}/.harnessgym/mcp/tools", "smoke": {{"status": "passed"}}}}]}}"#
            ),
        )
        .unwrap();
        std::fs::write(ws.join("work.txt"), "broken\n").unwrap();
        std::fs::create_dir_all(ws.join(".git")).unwrap();
        std::fs::write(ws.join(".git/HEAD"), "local\n").unwrap();
        std::fs::create_dir_all(s.phase_dir()).unwrap();
        std::fs::write(s.phase_dir().join("result.json"), "{\"status\": \"running\"}\n").unwrap();
        std::fs::write(ws.join(".harnessgym/runs/r/other.txt"), "stays local\n").unwrap();
        std::fs::create_dir_all(ws.join(".harnessgym/store/objects")).unwrap();
        std::fs::write(ws.join(".harnessgym/store/objects/ab"), "checkpoint bytes\n").unwrap();
        s
    }

    fn ws(&self) -> Utf8PathBuf {
        self.root.join("ws")
    }

    fn remote(&self) -> Utf8PathBuf {
        self.root.join("gpu/ws")
    }

    fn phase_dir(&self) -> Utf8PathBuf {
        self.ws().join(".harnessgym/runs/r/iterations/1")
    }

    /// A stand-in CLI outside the workspace (absolute path; the "remote host" is this machine).
    fn cli(&self, body: &str) -> String {
        let path = self.root.join("bin/codex");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::process::Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        path.to_string()
    }

    fn runner(&self, sshd: &TestSshd, cli: String, remote_harnessgym: Option<&str>) -> ExecRunner {
        let options = RemoteAgentOptions {
            target: RemoteWorkspace { host: sshd.host(), dir: self.remote().to_string() },
            local_harnessgym: Utf8PathBuf::from(LOCAL_HARNESSGYM),
            remote_harnessgym: remote_harnessgym.map(str::to_owned),
        };
        ExecRunner::new(ExecOptions::new(cli, Utf8PathBuf::from(LOCAL_HARNESSGYM)))
            .with_launcher(AgentLauncher::remote(options))
    }

    fn request(&self, timeout: Duration) -> PhaseRequest {
        let (tx, cancel) = watch::channel(false);
        std::mem::forget(tx);
        PhaseRequest {
            phase: Phase::Attempt,
            run_id: "r".into(),
            iteration: 1,
            workspace: self.ws(),
            phase_dir: self.phase_dir(),
            result_path: self.phase_dir().join("result.json"),
            prompt: format!("Workspace: {}\nWrite {}", self.ws(), self.phase_dir().join("result.json")),
            session_id: None,
            timeout,
            cancel,
        }
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.ws().join(rel)).unwrap_or_default()
    }
}

const EVENTS: &str = r#"cat <<'EOF'
{"type":"thread.started","thread_id":"remote-thread-1"}
{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"DONE REMOTELY"}}
{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":2}}
EOF"#;

#[tokio::test]
async fn remote_agent_works_in_the_mirror_with_remote_paths() {
    let Some(sshd) = TestSshd::start_or_skip("remote_agent_works_in_the_mirror_with_remote_paths") else {
        return;
    };
    let s = Scene::new();
    // A file standing in for the remote harnessgym binary.
    let remote_bin = s.root.join("remote-bin/harnessgym");
    std::fs::create_dir_all(remote_bin.parent().unwrap()).unwrap();
    std::fs::write(&remote_bin, "#!/bin/sh\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&remote_bin).status().unwrap();
    let body = format!(
        "mkdir -p out; pwd -P > out/pwd.txt; printf '%s\\n' \"$@\" > out/argv.txt; cat > out/stdin.txt; \
         cp .harnessgym/activation.json out/activation.json; readlink .agents/skills/k > out/link.txt; \
         ls -a > out/ls.txt; ls .harnessgym/runs/r > out/runs.txt; \
         echo fixed > work.txt; echo '{{\"status\": \"solved\"}}' > .harnessgym/runs/r/iterations/1/result.json; \
         echo telemetry >> .harnessgym/mcp_calls.jsonl\n{EVENTS}"
    );
    let runner = s.runner(&sshd, s.cli(&body), Some(remote_bin.as_str()));
    let r = runner.run_phase(s.request(Duration::from_secs(60))).await;
    let log = std::fs::read_to_string(s.phase_dir().join("attempt.remote.txt")).unwrap_or_default();
    assert_eq!(r.status, PhaseStatus::Completed, "{r:?}\n{log}\n{}", sshd.log());
    assert_eq!(r.session_id.as_deref(), Some("remote-thread-1"));
    assert_eq!(r.message, "DONE REMOTELY");

    let remote = s.remote();
    assert_eq!(s.read("out/pwd.txt").trim(), remote.as_str(), "ran in the remote mirror");
    // Edits, result.json and telemetry came back.
    assert_eq!(s.read("work.txt"), "fixed\n");
    assert_eq!(std::fs::read_to_string(s.phase_dir().join("result.json")).unwrap().trim(), "{\"status\": \"solved\"}");
    assert_eq!(s.read(".harnessgym/mcp_calls.jsonl"), "telemetry\n");
    // Remote paths in argv, prompt, generated config and skill links.
    let argv = s.read("out/argv.txt");
    assert!(argv.contains(&format!("mcp_servers.tools.command=\"{remote_bin}\"")), "{argv}");
    assert!(argv.contains(&format!("mcp_servers.tools.cwd=\"{remote}/.harnessgym/mcp/tools\"")), "{argv}");
    assert!(!argv.contains(LOCAL_HARNESSGYM) && !argv.contains(&format!("{}/", s.ws())), "{argv}");
    assert_eq!(
        s.read("out/stdin.txt"),
        format!("Workspace: {remote}\nWrite {remote}/.harnessgym/runs/r/iterations/1/result.json")
    );
    assert!(s.read("out/activation.json").contains(&format!("{remote}/.harnessgym/mcp/tools")));
    assert_eq!(s.read("out/link.txt").trim(), format!("{remote}/.harnessgym/skills/k"));
    // The local originals are untouched: generated files and links keep local paths.
    assert!(s.read(".harnessgym/activation.json").contains(&format!("{}/.harnessgym/mcp/tools", s.ws())));
    assert_eq!(std::fs::read_link(s.ws().join(".agents/skills/k")).unwrap(), s.ws().join(".harnessgym/skills/k"));
    // Only the phase's result.json left the runs directory; .git stayed here.
    assert_eq!(s.read("out/runs.txt").trim(), "iterations");
    assert!(!remote.join(".harnessgym/runs/r/iterations/1/attempt.prompt.txt").exists());
    assert!(!s.read("out/ls.txt").lines().any(|l| l == ".git"));
    assert_eq!(s.read(".harnessgym/runs/r/other.txt"), "stays local\n");
    assert!(!remote.join(".harnessgym/store").exists(), "the snapshot store never travels");
    assert_eq!(s.read(".harnessgym/store/objects/ab"), "checkpoint bytes\n");
    assert_eq!(s.read(".git/HEAD"), "local\n");
    // The local records are complete.
    let prompt = std::fs::read_to_string(s.phase_dir().join("attempt.prompt.txt")).unwrap();
    assert!(prompt.contains(s.ws().as_str()), "the recorded prompt is the local one");
    assert!(std::fs::read_to_string(s.phase_dir().join("attempt.stdout.txt")).unwrap().contains("remote-thread-1"));
}

#[tokio::test]
async fn missing_harnessgym_or_agent_cli_on_the_remote_host_fails_the_phase_clearly() {
    let Some(sshd) =
        TestSshd::start_or_skip("missing_harnessgym_or_agent_cli_on_the_remote_host_fails_the_phase_clearly")
    else {
        return;
    };
    let s = Scene::new();
    let host = format!("{}@127.0.0.1", sshd.user);

    let runner = s.runner(&sshd, s.cli(EVENTS), Some("/nonexistent/harnessgym"));
    let r = runner.run_phase(s.request(Duration::from_secs(60))).await;
    assert_eq!(r.status, PhaseStatus::Failed);
    assert!(r.message.contains("/nonexistent/harnessgym") && r.message.contains(&host), "{}", r.message);

    let on_default_path = ["/usr/local/bin/harnessgym", "/usr/bin/harnessgym", "/bin/harnessgym"]
        .iter()
        .any(|p| Utf8Path::new(p).exists());
    if !on_default_path {
        let runner = s.runner(&sshd, s.cli(EVENTS), None);
        let r = runner.run_phase(s.request(Duration::from_secs(60))).await;
        assert_eq!(r.status, PhaseStatus::Failed);
        assert!(
            r.message.contains("harnessgym was not found on") && r.message.contains("--remote-harnessgym"),
            "{}",
            r.message
        );
    }

    let runner = s.runner(&sshd, "/nonexistent/codex".into(), Some("/bin/sh"));
    let r = runner.run_phase(s.request(Duration::from_secs(60))).await;
    assert_eq!(r.status, PhaseStatus::Failed);
    assert_eq!(r.return_code, Some(127), "{r:?}");
    assert!(r.message.contains("/nonexistent/codex (on ") && r.message.contains(&host), "{}", r.message);
}

#[tokio::test]
async fn remote_agent_timeout_kills_the_remote_cli() {
    let Some(sshd) = TestSshd::start_or_skip("remote_agent_timeout_kills_the_remote_cli") else {
        return;
    };
    let s = Scene::new();
    let pid_file = s.root.join("agent.pid");
    let runner = s.runner(&sshd, s.cli(&format!("echo $$ > {pid_file}; exec sleep 300")), Some("/bin/sh"));
    let started = Instant::now();
    let r = runner.run_phase(s.request(Duration::from_secs(2))).await;
    assert!(started.elapsed() < Duration::from_secs(40), "{:?}", started.elapsed());
    assert_eq!(r.status, PhaseStatus::Timeout, "{r:?}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let mut dead = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("X");
        if stat.is_empty() || state == "Z" || state == "X" {
            dead = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
    assert!(dead, "the remote agent CLI survived the timeout");
}
