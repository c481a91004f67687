//! `harnessgym compare` end to end with the real binary: trials as processes, arms interleaved,
//! parallel trials, the score semaphore, resume after a kill, the spend cap, validation up
//! front, and the report's statistics.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::{Tmp, harnessgym, output, read_json, s, write};

/// A task whose score is the number in `answer.txt` (lower is better), an agent (`command`
/// runner) that writes 10 when a skill is active in its workspace and 20 otherwise (after
/// sleeping `AGENT_SLEEP` seconds), and a bundle holding one skill.
pub(super) struct Fixture {
    pub(super) tmp: Tmp,
    pub(super) template: PathBuf,
    pub(super) bundle: PathBuf,
    profile: PathBuf,
}

const POST: &str = "python3 score.py";

pub(super) fn fixture(agent_sleep: &str) -> Fixture {
    let tmp = Tmp::new();
    let template = tmp.dir("template");
    write(&template.join("task.md"), "Write the smallest number you can into answer.txt.\n");
    write(
        &template.join("score.py"),
        r#"import json, os, sys, time
log = os.environ.get("SCORE_LOG")
if log:
    with open(log, "a") as f:
        f.write(f"start {time.time()}\n")
    time.sleep(float(os.environ.get("SCORE_SLEEP", "0")))
try:
    value = float(open("answer.txt").read())
except Exception as e:
    print(json.dumps({"status": "failed", "errors": [str(e)]}))
    sys.exit(1)
if log:
    with open(log, "a") as f:
        f.write(f"end {time.time()}\n")
print(json.dumps({"status": "passed", "score": value, "cycles": value * 100}))
"#,
    );
    let bundle = tmp.dir("bundle");
    write(
        &bundle.join(".harnessgym/skills/smaller/SKILL.md"),
        "---\nname: smaller\ndescription: Write 10, not 20.\n---\nWrite 10 into answer.txt.\n",
    );
    write(
        &bundle.join(".harnessgym/registry.json"),
        r#"{"version": 1, "artifacts": [{"id": "skill:smaller", "kind": "skill",
            "path": ".harnessgym/skills/smaller", "description": "Write 10, not 20."}]}"#,
    );
    let agent = format!(
        "sleep {agent_sleep}; cat > /dev/null; if ls .agents/skills 2>/dev/null | grep -q .; then echo 10 > answer.txt; \
         else echo 20 > answer.txt; fi; echo '{{\"type\":\"done\",\"in\":1000,\"out\":100,\"usd\":1.0}}'"
    );
    let profile = tmp.path("agent.toml");
    write(
        &profile,
        &format!(
            "program = \"sh\"\nfresh = [\"-c\", {agent:?}]\nresume = [\"-c\", {agent:?}, \"{{session_id}}\"]\n\n[output]\n\
             input_tokens = {{ when = {{ \"/type\" = \"done\" }}, pointer = \"/in\" }}\n\
             output_tokens = {{ when = {{ \"/type\" = \"done\" }}, pointer = \"/out\" }}\n"
        ),
    );
    Fixture { tmp, template, bundle, profile }
}

impl Fixture {
    pub(super) fn out(&self) -> PathBuf {
        self.tmp.path("out")
    }

    pub(super) fn compare(&self, extra: &[&str]) -> assert_cmd::Command {
        let mut cmd = harnessgym(&self.tmp.root);
        cmd.args([
            "compare",
            "--task",
            s(&self.template.join("task.md")),
            "--workspace-template",
            s(&self.template),
            "--output-dir",
            s(&self.out()),
            "--runner",
            "command",
            "--runner-profile",
            s(&self.profile),
            "--post-command",
            POST,
        ]);
        cmd.args(extra);
        cmd
    }
}

pub(super) fn trial_records(out: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    let Ok(arms) = fs::read_dir(out) else { return records };
    for arm in arms.flatten().filter(|e| e.path().is_dir()) {
        for trial in fs::read_dir(arm.path()).unwrap().flatten() {
            let path = trial.path().join("trial.json");
            if path.exists() {
                records.push(read_json(&path));
            }
        }
    }
    records
}

#[test]
fn two_arms_interleaved_give_a_report_with_statistics_budget_design_and_a_verdict() {
    let f = fixture("0");
    let out =
        output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--trials", "4", "--jobs", "2", "--seed", "11"]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    // The reference's keys, so its readers keep working.
    for key in ["created_at", "workspace_template", "artifact_source", "trials", "summary"] {
        assert!(report.get(key).is_some(), "{key} missing");
    }
    let summary = &report["summary"];
    assert_eq!(summary["plain"]["count"], 4);
    assert_eq!(summary["harnessed"]["post_score"]["median"], 10.0);
    assert_eq!(summary["plain"]["post_score"]["median"], 20.0);
    assert_eq!(summary["harnessed"]["post_score"]["valid_count"], 4);
    // Statistics: lower is better, harnessed halves the score.
    let comparison = &report["statistics"]["comparisons"][0];
    assert_eq!(comparison["arm"], "harnessed");
    assert_eq!(comparison["baseline"], "plain");
    assert_eq!(comparison["verdict"], "better");
    let verdict = report["verdicts"][0].as_str().unwrap();
    assert!(verdict.starts_with("harnessed better: −50.0% score"), "{verdict}");
    assert!(out.stdout.contains(&format!("Verdict: {verdict}")), "{}", out.stdout);
    // The Markdown and HTML reports beside the JSON, with the same verdict.
    let md = fs::read_to_string(f.out().join("compare_report.md")).unwrap();
    assert!(md.contains(&format!("- {verdict}\n")), "{md}");
    assert!(fs::read_to_string(f.out().join("compare_report.html")).unwrap().contains("<svg"));
    assert!(verdict.contains("tools called in 0 of 4 trials"), "{verdict}");
    // The reference's stdout lines.
    assert!(out.stdout.starts_with(&format!("Compare report: {}\n", s(&f.out().join("compare_report.json")))));
    assert!(out.stdout.contains("harnessed: n=4 "), "{}", out.stdout);
    assert!(out.stdout.contains("best_post_score=10.0 post_valid=4 post_invalid=0"), "{}", out.stdout);
    // Design: 4 blocks of one trial per arm, recorded with the seed.
    let design = &report["design"];
    assert_eq!(design["seed"], 11);
    let blocks = design["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    for (i, block) in blocks.iter().enumerate() {
        let mut arms: Vec<&str> = block.as_array().unwrap().iter().map(|e| e["arm"].as_str().unwrap()).collect();
        assert!(block.as_array().unwrap().iter().all(|e| e["trial"] == i as u64 + 1));
        arms.sort_unstable();
        assert_eq!(arms, ["harnessed", "plain"]);
    }
    // Budget: attempts equalised, tokens measured (the runner reports no cost: unknown, not 0).
    let budget = &report["budget"]["arms"]["harnessed"];
    assert_eq!(budget["input_tokens"], 4000);
    assert_eq!(budget["cost_usd"], Value::Null);
    assert_eq!(budget["trials_with_unknown_cost"], 4);
    assert!(budget["prompt_bytes"].as_u64().unwrap() > 0);
    assert_eq!(report["budget"]["equalised"]["attempt_timeout_seconds"], 300);
    // Every trial: a fresh workspace copy, the bundle only in the harnessed arm, complete.
    for t in report["trials"].as_array().unwrap() {
        assert_eq!(t["complete"], true);
        let ws = PathBuf::from(t["workspace"].as_str().unwrap());
        assert!(ws.join("score.py").is_file());
        assert_eq!(ws.join(".harnessgym/skills/smaller").exists(), t["group"] == "harnessed");
        assert_eq!(t["best_post_score"], t["post_score"]);
    }
    // The template is untouched.
    assert!(!f.template.join("answer.txt").exists());
    assert!(!f.template.join(".harnessgym").exists());
}

#[test]
fn three_arms_compare_each_to_the_first_with_holm_adjusted_p_values() {
    let f = fixture("0");
    let empty_skill = f.tmp.dir("other");
    fs::create_dir_all(empty_skill.join(".harnessgym")).unwrap();
    let out = output(&mut f.compare(&[
        "--arm",
        "none=none",
        "--arm",
        &format!("skill={}", s(&f.bundle.join(".harnessgym"))),
        "--arm",
        &format!("empty={}", s(&empty_skill)),
        "--trials",
        "4",
        "--jobs",
        "3",
        "--seed",
        "5",
    ]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    let comparisons = report["statistics"]["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 2);
    assert!(comparisons.iter().all(|c| c["baseline"] == "none" && c["adjusted_across"] == 2));
    assert_eq!(comparisons[0]["verdict"], "better", "{}", report["invalid_trials"]);
    // An empty bundle copies nothing: every trial of that arm is invalid, with the reason listed.
    let invalid: Vec<&Value> = report["invalid_trials"].as_array().unwrap().iter().collect();
    assert_eq!(invalid.len(), 4, "{invalid:?}");
    assert!(invalid.iter().all(|t| t["arm"] == "empty"));
    assert_eq!(comparisons[1]["verdict"], "too_few_valid_trials");
    assert_eq!(report["summary"].as_object().unwrap().len(), 3);
    assert!(f.out().join("empty/trial_4/trial.json").is_file());
}

#[test]
fn jobs_run_trials_at_once_while_score_jobs_keeps_post_commands_apart() {
    let f = fixture("1.5");
    let log = f.tmp.path("score.log");
    let mut cmd = f.compare(&["--artifact-source", s(&f.bundle), "--trials", "2", "--jobs", "4", "--score-jobs", "1"]);
    let out = output(cmd.env("SCORE_LOG", s(&log)).env("SCORE_SLEEP", "0.3"));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    // Trials overlapped: all four were running at one moment.
    let spans: Vec<(String, String)> = trial_records(&f.out())
        .iter()
        .map(|t| (t["started_at"].as_str().unwrap().to_owned(), t["finished_at"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(spans.len(), 4, "{}", out.stderr);
    let latest_start = spans.iter().map(|s| s.0.clone()).max().unwrap();
    let earliest_end = spans.iter().map(|s| s.1.clone()).min().unwrap();
    assert!(latest_start < earliest_end, "trials did not overlap: {spans:?}");
    // Post commands never overlapped.
    let text = fs::read_to_string(&log).unwrap();
    let mut events: Vec<(f64, &str)> = text
        .lines()
        .map(|l| {
            let (kind, t) = l.split_once(' ').unwrap();
            (t.parse::<f64>().unwrap(), kind)
        })
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(events.len(), 8, "{text}");
    let mut open = 0;
    for (_, kind) in &events {
        open += if *kind == "start" { 1 } else { -1 };
        assert!(open <= 1, "two post commands at once: {text}");
    }
}

#[test]
fn a_killed_compare_resumes_running_only_the_unfinished_trials() {
    use std::os::unix::process::CommandExt;
    let f = fixture("0.4");
    let mut args: Vec<String> = vec![];
    let cmd = f.compare(&["--artifact-source", s(&f.bundle), "--trials", "3", "--seed", "3"]);
    for a in cmd.get_args() {
        args.push(a.to_string_lossy().into_owned());
    }
    let mut child = std::process::Command::new(super::common::binary())
        .args(&args)
        .current_dir(&f.tmp.root)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while trial_records(&f.out()).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no trial finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Everything dies at once, as on a power cut: the compare and its trials.
    let pgid = child.id() as i32;
    kill_everything_under(&f.out(), pgid);
    let _ = child.wait();
    let before: BTreeMap<String, String> = trial_records(&f.out())
        .iter()
        .map(|t| (format!("{}-{}", t["group"], t["trial"]), t["finished_at"].to_string()))
        .collect();
    assert!(before.len() < 6, "the kill came too late: {before:?}");
    // No trial.json is ever half-written: each one present is complete.
    for t in trial_records(&f.out()) {
        assert_eq!(t["complete"], true);
    }
    // A fresh start is refused; --resume goes on, and a differing flag is refused by name.
    let again = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--trials", "3", "--seed", "3"]));
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    let mut differing = harnessgym(&f.tmp.root);
    differing.args(["compare", "--resume", "--output-dir", s(&f.out()), "--trials", "5"]);
    let differing = output(&mut differing);
    assert_eq!(differing.code, Some(2), "{}", differing.stderr);
    assert!(differing.stderr.contains("--trials 5 (recorded: 3)"), "{}", differing.stderr);
    let mut resume = harnessgym(&f.tmp.root);
    resume.args(["compare", "--resume", "--output-dir", s(&f.out()), "--jobs", "2"]);
    let resumed = output(&mut resume);
    assert_eq!(resumed.code, Some(0), "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(resumed.stderr.contains(&format!("Resuming: {} finished trials kept", before.len())), "{}", resumed.stderr);
    let after: BTreeMap<String, String> = trial_records(&f.out())
        .iter()
        .map(|t| (format!("{}-{}", t["group"], t["trial"]), t["finished_at"].to_string()))
        .collect();
    assert_eq!(after.len(), 6);
    for (key, finished) in &before {
        assert_eq!(after.get(key), Some(finished), "{key} was run again");
    }
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["trials"].as_array().unwrap().len(), 6);
    assert_eq!(report["design"]["seed"], 3);
}

/// SIGKILL to the compare's group and to every process of the test's output directory.
fn kill_everything_under(out: &Path, pgid: i32) {
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
    for _ in 0..3 {
        for (pid, _) in harnessgym_test_support::process::processes_under(out) {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn without_a_post_command_the_report_is_written_and_says_there_are_no_verified_scores() {
    let f = fixture("0");
    let mut cmd = harnessgym(&f.tmp.root);
    cmd.args([
        "compare",
        "--task-text",
        "Write a number into answer.txt.",
        "--workspace-template",
        s(&f.template),
        "--output-dir",
        s(&f.out()),
        "--artifact-source",
        s(&f.bundle),
        "--runner",
        "fake",
        "--trials",
        "2",
    ]);
    let out = output(&mut cmd);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["summary"]["plain"]["post_status"]["not_run"], 2);
    assert_eq!(report["scores"]["verified"], false);
    assert!(report["verdicts"][0].as_str().unwrap().contains("no verified scores (no --post-command)"));
}

#[test]
fn a_custom_post_score_key_never_falls_back_to_score() {
    let f = fixture("0");
    let out =
        output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--post-score-key", "best_ms", "--seed", "1"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for t in trial_records(&f.out()) {
        assert_eq!(t["post_score"], Value::Null);
        assert_eq!(t["post_invalid_reason"], "post command did not emit numeric score for key best_ms");
    }
    let f = fixture("0");
    let out = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--post-score-key", "cycles", "--seed", "1"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["summary"]["harnessed"]["post_score"]["best"], 1000.0);
}

#[test]
fn the_spend_cap_stops_new_trials_and_the_report_says_so() {
    let f = fixture("0");
    let prices = f.tmp.path("prices.toml");
    // 1000 input + 100 output tokens at 500 / 5000 USD per million: 1.0 USD per attempt.
    write(&prices, "[models.default]\ninput = 500\noutput = 5000\n");
    let out = output(&mut f.compare(&[
        "--artifact-source",
        s(&f.bundle),
        "--trials",
        "3",
        "--prices",
        s(&prices),
        "--max-cost-usd",
        "2.5",
        "--seed",
        "2",
    ]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["spend"]["stopped_by_budget"], true);
    assert_eq!(report["spend"]["spent_usd"], 3.0);
    assert_eq!(report["unfinished_trials"], 3);
    assert_eq!(report["trials"].as_array().unwrap().len(), 3);
    assert!(report["trials"].as_array().unwrap().iter().all(|t| t["budget"]["cost_source"] == "prices"));
    assert!(out.stderr.contains("Spend cap reached: $3.00 of $2.50"), "{}", out.stderr);
}

#[test]
fn bad_input_is_refused_before_any_trial_runs() {
    let f = fixture("0");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "name the harness to compare: --artifact-source DIR"),
        (
            vec!["--artifact-source".into(), s(&f.bundle).into(), "--arm".into(), "a=none".into()],
            "--artifact-source and --arm are exclusive",
        ),
        (vec!["--artifact-source".into(), s(&f.template).into()], "is not a .harnessgym directory or a workspace"),
        (vec!["--arm".into(), "only=none".into()], "at least two arms"),
        (vec!["--arm".into(), "a=none".into(), "--arm".into(), "a=none".into()], "named twice"),
        (vec!["--arm".into(), "../x=none".into(), "--arm".into(), "b=none".into()], "plain directory name"),
        (vec!["--artifact-source".into(), s(&f.bundle).into(), "--trials".into(), "0".into()], "--trials must be"),
    ];
    for (extra, needle) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = output(&mut f.compare(&extra));
        assert_eq!(out.code, Some(2), "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{extra:?}: {}", out.stderr);
        assert!(!f.out().exists(), "{extra:?} created the output directory");
    }
    let mut codex = harnessgym(&f.tmp.root);
    codex.args([
        "compare",
        "--task-text",
        "x",
        "--workspace-template",
        s(&f.template),
        "--output-dir",
        s(&f.out()),
        "--artifact-source",
        s(&f.bundle),
        "--codex-bin",
        "/nonexistent/codex",
    ]);
    let out = output(&mut codex);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("the Codex CLI \"/nonexistent/codex\" was not found"), "{}", out.stderr);
    let mut nothing = harnessgym(&f.tmp.root);
    nothing.args(["compare", "--resume", "--output-dir", s(&f.out())]);
    let out = output(&mut nothing);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("nothing to resume"), "{}", out.stderr);
}

/// An agent that does well in its first iteration and regresses in its second.
fn regressing_agent(f: &Fixture) {
    // Iteration 2 writes 99 if iteration 1's answer.txt is still there: --task-state reset removes it.
    let agent = "prompt=$(cat); if echo \"$prompt\" | grep -q 'attempt, iteration 1'; then echo 10 > answer.txt; \
                 elif [ -f answer.txt ]; then echo 99 > answer.txt; else echo 30 > answer.txt; fi";
    write(
        &f.profile,
        &format!("program = \"sh\"\nfresh = [\"-c\", {agent:?}]\nresume = [\"-c\", {agent:?}, \"{{session_id}}\"]\n"),
    );
}

#[test]
fn a_trial_scores_its_best_verified_iteration_not_only_its_last() {
    let f = fixture("0");
    regressing_agent(&f);
    let out = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--iterations", "2", "--seed", "9"]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for t in trial_records(&f.out()) {
        assert_eq!(t["iterations_completed"], 2, "{t}");
        assert_eq!(t["best_post_score"], 10.0, "{t}");
        assert_eq!(t["final_post_score"], 30.0, "{t}");
        assert_eq!(t["post_score"], 10.0, "{t}");
        let per_iteration: Vec<&Value> = t["iterations"].as_array().unwrap().iter().map(|r| &r["post_score"]).collect();
        assert_eq!(per_iteration, [&Value::from(10.0), &Value::from(30.0)]);
    }
    // The reference's behaviour on request: one post command after the last iteration.
    let f = fixture("0");
    regressing_agent(&f);
    let out = output(&mut f.compare(&[
        "--artifact-source",
        s(&f.bundle),
        "--iterations",
        "2",
        "--no-post-every-iteration",
        "--seed",
        "9",
    ]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for t in trial_records(&f.out()) {
        assert_eq!(t["post_score"], 30.0, "{t}");
        assert!(t["iterations"].as_array().unwrap().iter().all(|r| r.get("post_score").is_none()), "{t}");
        assert!(PathBuf::from(t["workspace"].as_str().unwrap()).join("../post.stdout.txt").is_file());
    }
}

#[test]
fn a_trial_spec_runs_once_and_a_finished_trial_is_not_run_again() {
    let f = fixture("0");
    let out = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--seed", "1"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let spec = f.out().join("plain/trial_1/trial-spec.json");
    let before = fs::read_to_string(f.out().join("plain/trial_1/trial.json")).unwrap();
    let mut again = harnessgym(&f.tmp.root);
    again.args(["trial", "run", "--spec", s(&spec)]);
    let again = output(&mut again);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(fs::read_to_string(f.out().join("plain/trial_1/trial.json")).unwrap(), before);
    // A spec of another format is refused, naming it.
    let mut value = read_json(&spec);
    value["format"] = Value::from(99);
    let other = f.tmp.path("other-spec.json");
    write(&other, &value.to_string());
    let mut refused = harnessgym(&f.tmp.root);
    refused.args(["trial", "run", "--spec", s(&other)]);
    let refused = output(&mut refused);
    assert_eq!(refused.code, Some(2));
    assert!(refused.stderr.contains("format 99 is not 1"), "{}", refused.stderr);
}

#[test]
fn ctrl_c_stops_the_running_trials_and_still_writes_the_report() {
    let f = fixture("30");
    let mut args: Vec<String> = vec![];
    for a in f.compare(&["--artifact-source", s(&f.bundle), "--trials", "2", "--jobs", "2", "--seed", "1"]).get_args() {
        args.push(a.to_string_lossy().into_owned());
    }
    let child = std::process::Command::new(super::common::binary())
        .args(&args)
        .current_dir(&f.tmp.root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both first trials' agents run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let attempting = |arm: &str| {
        fs::read_to_string(f.out().join(arm).join("trial_1/events.ndjson")).is_ok_and(|t| t.contains("phase_started"))
    };
    while !(attempting("plain") && attempting("harnessed")) {
        assert!(std::time::Instant::now() < deadline, "the trials did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let started = std::time::Instant::now();
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("compare --resume --output-dir"), "{stderr}");
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["unfinished_trials"], 4);
    assert!(trial_records(&f.out()).is_empty(), "an interrupted trial writes no trial.json");
    // No agent is left running.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let left = harnessgym_test_support::process::processes_under(&f.out());
    assert!(left.is_empty(), "still running: {left:?}");
}

#[test]
fn compare_json_prints_ndjson_events_and_the_verdict_last() {
    let f = fixture("0");
    let out = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--trials", "2", "--seed", "5", "--json"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let events: Vec<Value> =
        out.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let count = |name: &str| events.iter().filter(|e| e["event"] == name).count();
    assert_eq!((count("seed"), count("trial_started"), count("trial_finished")), (1, 4, 4));
    assert!(count("trial_progress") >= 4, "{events:?}");
    let done = events.iter().find(|e| e["event"] == "trial_finished" && e["arm"] == "harnessed").unwrap();
    assert_eq!((done["valid"].as_bool(), done["score"].as_f64()), (Some(true), Some(10.0)));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "compare_finished");
    assert_eq!(last["report"], s(&f.out().join("compare_report.md")));
    assert!(last["verdicts"][0].as_str().unwrap().starts_with("harnessed vs plain: too few valid trials"), "{last}");
    assert!(!out.stderr.contains("finished in"), "progress lines with --json: {}", out.stderr);
}

#[test]
fn on_a_terminal_compare_draws_a_bar_per_trial_and_ends_clean() {
    let f = fixture("1");
    let args: Vec<String> = f
        .compare(&["--artifact-source", s(&f.bundle), "--trials", "1", "--jobs", "2", "--seed", "5"])
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(screen) = super::report::under_pty(&f.tmp.root, &args) else { return };
    assert!(screen.contains("[plain #1] · iteration 1 · attempt · "), "{screen:?}");
    assert!(screen.contains("[harnessed #1] · iteration 1 · attempt · "), "{screen:?}");
    assert!(screen.contains(" trials · valid 0 · invalid 0 · ETA "), "{screen:?}");
    assert!(screen.contains("/2 trials · valid 2 · invalid 0"), "{screen:?}");
    let (before, results) = screen.split_once("Compare report: ").expect("result lines");
    assert!(super::report::cleared(before), "the bars are not cleared before the results: {before:?}");
    assert!(!results.contains('\u{1b}'), "escape codes after the bars were cleared: {results:?}");
}
