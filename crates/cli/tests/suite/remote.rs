//! `harnessgym run --post-attempt-remote` / `--runner-remote` through the real binary: flags,
//! records, run_config.json (no secrets) and the refusals. The remote host is a throwaway sshd
//! on 127.0.0.1.

use harnessgym_test_support::sshd::{TestSshd, unused_port};

use super::common::{Tmp, harnessgym, only_run_dir, output, read_json, s, tree, workspace_with_task, write};

const SECRET: &str = "sk-harnessgym-test-secret-0123456789";

fn ssh_flags(sshd: &TestSshd, port: u16) -> Vec<String> {
    let mut flags = vec!["--remote-port".to_owned(), port.to_string()];
    for arg in sshd.ssh_args().into_iter().chain(["-o".to_owned(), format!("SetEnv=API_TOKEN={SECRET}")]) {
        flags.push(format!("--remote-ssh-arg={arg}"));
    }
    flags
}

#[test]
fn post_command_runs_remotely_and_its_score_and_files_come_back() {
    let Some(sshd) = TestSshd::start_or_skip("post_command_runs_remotely_and_its_score_and_files_come_back") else {
        return;
    };
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    write(&ws.join("bench.sh"), "echo scored > bench.out\nprintf '{\"status\": \"passed\", \"score\": 0.25}\\n'\n");
    let remote_root = tmp.path("gpu/ws");
    let out = output(
        harnessgym(&tmp.root)
            .env("OPENAI_API_KEY", SECRET)
            .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
            .args([
                "--post-attempt-command",
                "sh bench.sh",
                "--post-attempt-remote",
                &format!("{}@127.0.0.1", sshd.user),
            ])
            .args(["--remote-root", s(&remote_root)])
            .args(ssh_flags(&sshd, sshd.port)),
    );
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}\nsshd: {}", out.stdout, out.stderr, sshd.log());
    let run_dir = only_run_dir(&ws);
    let result = read_json(&run_dir.join("iterations/1/result.json"));
    let post = &result["post_attempt"];
    assert_eq!(post["status"], "completed", "{post}");
    assert_eq!(post["score"], 0.25);
    assert_eq!(post["remote"]["dir"], s(&remote_root));
    assert_eq!(std::fs::read_to_string(ws.join("bench.out")).unwrap(), "scored\n");
    assert!(remote_root.join("bench.sh").is_file());
    assert!(!remote_root.join(".harnessgym/runs").exists(), "the runs directory is never synced");

    let config = read_json(&run_dir.join("run_config.json"));
    assert_eq!(config["post_attempt_remote"], format!("{}@127.0.0.1", sshd.user));
    assert_eq!(config["remote_port"], sshd.port);
    assert_eq!(config["remote_root"], s(&remote_root));
    for file in tree(&run_dir) {
        let text = std::fs::read_to_string(run_dir.join(&file)).unwrap_or_default();
        assert!(!text.contains(SECRET), "{file} holds a secret");
    }
}

#[test]
fn unreachable_post_host_is_a_failed_record_naming_it() {
    let Some(sshd) = TestSshd::start_or_skip("unreachable_post_host_is_a_failed_record_naming_it") else {
        return;
    };
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "Make work.txt say done.\n");
    let started = std::time::Instant::now();
    let out = output(
        harnessgym(&tmp.root)
            .args(["run", "--runner", "fake", "--workspace", s(&ws), "--task", "task.md", "--iterations", "1"])
            .args(["--post-attempt-command", "echo '{}'", "--post-attempt-remote", "nobody@127.0.0.1"])
            .args(["--remote-root", s(&tmp.path("gpu/ws"))])
            .args(ssh_flags(&sshd, unused_port())),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let result = read_json(&only_run_dir(&ws).join("iterations/1/result.json"));
    let post = &result["post_attempt"];
    assert_eq!(post["status"], "failed");
    let message = post["message"].as_str().unwrap();
    assert!(message.contains("could not run on nobody@127.0.0.1") && message.contains("refused"), "{message}");
}

fn refused(args: &[&str], expected: &str) {
    let tmp = Tmp::new();
    let ws = workspace_with_task(&tmp, "A task.\n");
    let out = output(harnessgym(&tmp.root).args(["run", "--workspace", s(&ws), "--task-text", "x"]).args(args));
    assert_eq!(out.code, Some(2), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(out.stderr.contains(expected), "{}", out.stderr);
    assert_eq!(tree(&ws), ["task.md"], "a refused run wrote into the workspace");
}

#[test]
fn remote_flags_are_validated() {
    let script = ["--model-script", "script.json"];
    refused(
        &[&["--runner", "exec", "--runner-remote", "me@gpu"][..], &script[..]].concat(),
        "--model-script cannot be combined with --runner-remote",
    );
    refused(&["--runner", "fake", "--runner-remote", "me@gpu"], "--runner-remote: needs an agent CLI runner");
    refused(&["--runner", "fake", "--remote-port", "2222"], "--remote-port: only applies with --post-attempt-remote");
    refused(&["--runner", "fake", "--post-attempt-remote", "me@gpu"], "needs --post-attempt-command");
    refused(
        &["--runner", "fake", "--post-attempt-command", "true", "--post-attempt-remote=-oProxyCommand=x"],
        "starts with '-'",
    );
    refused(
        &[
            "--runner",
            "fake",
            "--post-attempt-command",
            "true",
            "--post-attempt-remote",
            "me@gpu",
            "--remote-root",
            "~",
        ],
        "--remote-root",
    );
}

#[test]
fn compare_scores_each_trial_on_the_remote_host_in_its_own_directory() {
    let Some(sshd) = TestSshd::start_or_skip("compare_scores_each_trial_on_the_remote_host_in_its_own_directory")
    else {
        return;
    };
    let tmp = Tmp::new();
    let template = tmp.dir("template");
    write(&template.join("task.md"), "Do nothing.\n");
    write(&template.join("bench.sh"), "hostname > where.txt\nprintf '{\"status\": \"passed\", \"score\": 2.5}\\n'\n");
    let remote_root = tmp.path("gpu");
    let out = output(
        harnessgym(&tmp.root)
            .args(["compare", "--task", "template/task.md", "--workspace-template", "template"])
            .args(["--output-dir", "out", "--arm", "a=none", "--arm", "b=none", "--runner", "fake", "--seed", "1"])
            .args([
                "--jobs",
                "2",
                "--post-command",
                "sh bench.sh",
                "--post-remote",
                &format!("{}@127.0.0.1", sshd.user),
            ])
            .args(["--remote-root", s(&remote_root)])
            .args(ssh_flags(&sshd, sshd.port)),
    );
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}\nsshd: {}", out.stdout, out.stderr, sshd.log());
    let report = read_json(&tmp.path("out/compare_report.json"));
    for t in report["trials"].as_array().unwrap() {
        assert_eq!(t["post_score"], 2.5, "{t}");
        let remote = &t["post_result"]["remote"];
        assert_eq!(remote["dir"], s(&remote_root.join(format!("{}-trial_1", t["group"].as_str().unwrap()))), "{t}");
        // The remote run's files came back into the trial's own workspace.
        assert!(std::path::Path::new(t["workspace"].as_str().unwrap()).join("where.txt").is_file());
    }
    assert!(remote_root.join("a-trial_1/bench.sh").is_file() && remote_root.join("b-trial_1/bench.sh").is_file());
    for file in tree(&tmp.path("out")) {
        let text = std::fs::read_to_string(tmp.path("out").join(&file)).unwrap_or_default();
        assert!(!text.contains(SECRET), "{file} holds a secret");
    }
}
