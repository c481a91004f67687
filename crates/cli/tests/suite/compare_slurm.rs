//! `harnessgym compare --executor slurm` against a real single-node Slurm cluster the tests start
//! themselves (munged + slurmctld + slurmd on 127.0.0.1, `harnessgym_test_support::slurm`): the
//! same report as the local executor, the array throttle, a task Slurm ends recorded as an
//! invalid trial with its state, Ctrl-C cancelling the array, `--resume` running only the missing
//! trials, and `--detach`. Skipped with `NOT RUN` where Slurm is not installed; failing under
//! `CI=true`.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harnessgym_test_support::slurm::TestSlurm;
use serde_json::Value;

use super::common::{binary, harnessgym, output, read_json, s};
use super::compare::{Fixture, fixture, trial_records};

/// `f.compare(extra)` with the cluster's environment, as a `std::process::Command` (for tests that
/// signal it).
fn compare_process(f: &Fixture, cluster: &TestSlurm, extra: &[&str]) -> Command {
    let args: Vec<String> = f.compare(extra).get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(&f.tmp.root).envs(cluster.env()).env_remove("RUST_LOG");
    cmd
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The most trials whose [started_at, finished_at] intervals overlap at once.
fn max_overlap(records: &[Value]) -> usize {
    let mut events: Vec<(String, i32)> = Vec::new();
    for r in records {
        events.push((r["started_at"].as_str().unwrap().to_owned(), 1));
        events.push((r["finished_at"].as_str().unwrap().to_owned(), -1));
    }
    // ISO timestamps of one format sort as strings; an end sorts before a start at the same time.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

/// Processes (not zombies) whose working directory lies under `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cwd = fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        let state = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if !zombie && cwd.starts_with(dir) {
            found.push(format!("{:?} in {}", entry.path(), cwd.display()));
        }
    }
    found
}

fn submissions(out: &Path) -> Value {
    read_json(&out.join(".harnessgym-compare/slurm/submissions.json"))
}

#[test]
fn a_slurm_compare_gives_the_local_report_and_never_runs_more_than_jobs_tasks_at_once() {
    let Some(cluster) = TestSlurm::start_or_skip("a_slurm_compare_gives_the_local_report", 8) else { return };
    let local = fixture("0");
    let slurm = fixture("2");
    let arms = |f: &Fixture| {
        vec![
            "--arm".to_owned(),
            "plain=none".to_owned(),
            "--arm".to_owned(),
            format!("harnessed={}", s(&f.bundle)),
            "--arm".to_owned(),
            format!("again={}", s(&f.bundle)),
        ]
    };
    let common = ["--trials", "3", "--jobs", "2", "--seed", "21"];
    let mut local_args = arms(&local);
    local_args.extend(common.iter().map(|a| (*a).to_owned()));
    let local_args: Vec<&str> = local_args.iter().map(String::as_str).collect();
    let local_out = output(&mut local.compare(&local_args));
    assert_eq!(local_out.code, Some(0), "{}", local_out.stderr);
    let a = read_json(&local.out().join("compare_report.json"));
    assert_eq!(a["unfinished_trials"], 0, "{}", local_out.stderr);

    let mut slurm_args = arms(&slurm);
    slurm_args.extend(common.iter().map(|a| (*a).to_owned()));
    slurm_args.extend(["--executor".to_owned(), "slurm".to_owned()]);
    let slurm_args: Vec<&str> = slurm_args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let slurm_out = output(slurm.compare(&slurm_args).envs(cluster.env()));
    let took = started.elapsed();
    assert_eq!(slurm_out.code, Some(0), "{}\n{}\n{}", slurm_out.stdout, slurm_out.stderr, cluster.logs());
    eprintln!("9 trials through Slurm (%2, 2 s agent) in {took:?}");

    let b = read_json(&slurm.out().join("compare_report.json"));
    // The same scores, statistics, verdicts and design (order recorded) as the local executor.
    for key in ["statistics", "verdicts", "design", "invalid_trials", "unfinished_trials"] {
        let (mut x, mut y) = (a[key].clone(), b[key].clone());
        if key == "design" {
            x["jobs"] = Value::Null;
            y["jobs"] = Value::Null;
        }
        assert_eq!(x, y, "{key} differs");
    }
    for arm in ["plain", "harnessed", "again"] {
        assert_eq!(a["summary"][arm]["post_score"], b["summary"][arm]["post_score"], "{arm}");
    }
    assert_eq!(b["summary"]["again"]["post_score"]["median"], 10.0);
    assert_eq!(b["summary"]["plain"]["post_score"]["median"], 20.0);
    // The report records the executor, its one array and each trial's Slurm state.
    let executor = &b["executor"];
    assert_eq!(executor["kind"], "slurm");
    assert_eq!(executor["throttle"], 2);
    let arrays = executor["arrays"].as_array().unwrap();
    assert_eq!(arrays.len(), 1, "{executor}");
    let tasks = executor["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 9);
    assert!(tasks.iter().all(|t| t["state"] == "COMPLETED" && t["array_job_id"] == arrays[0]), "{executor}");
    assert_eq!(a["executor"]["kind"], "local");
    // The throttle: never more than 2 trials at once, and 2 at some point (it is what limits).
    let records = trial_records(&slurm.out());
    assert_eq!(records.len(), 9);
    assert_eq!(max_overlap(&records), 2, "{records:#?}");
    // The default time limit is derived from the budget (5 min attempt + 2 min post + margin).
    assert_eq!(executor["time_limit"], "17");
}

#[test]
fn a_task_slurm_ends_is_recorded_as_an_invalid_trial_with_its_state() {
    let Some(cluster) = TestSlurm::start_or_skip("a_task_slurm_ends_is_recorded_as_an_invalid_trial", 8) else {
        return;
    };
    let f = fixture("6");
    let child = compare_process(
        &f,
        &cluster,
        &["--artifact-source", s(&f.bundle), "--trials", "2", "--jobs", "4", "--seed", "5", "--executor", "slurm"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for("4 running tasks", Duration::from_secs(60), || {
        cluster.tasks().iter().filter(|l| l.contains("|RUNNING|")).count() == 4
    });
    let array = submissions(&f.out())["submissions"][0]["array_job_id"].as_str().unwrap().to_owned();
    cluster.client("scancel", &[&format!("{array}_1")]).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{}", cluster.logs());

    let cancelled_spec = submissions(&f.out())["submissions"][0]["specs"][1].as_str().unwrap().to_owned();
    let trial_dir = Path::new(&cancelled_spec).parent().unwrap().to_path_buf();
    let record = read_json(&trial_dir.join("trial.json"));
    assert_eq!(record["complete"], true);
    assert_eq!(record["comparison_valid"], false);
    assert_eq!(record["slurm"]["state"], "CANCELLED");
    let reason = record["comparison_invalid_reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("slurm: task {array}_1 ended CANCELLED")), "{reason}");
    assert!(stderr.contains("CANCELLED"), "{stderr}");
    let report = read_json(&f.out().join("compare_report.json"));
    let invalid = report["invalid_trials"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0]["reason"], reason);
    assert_eq!(report["unfinished_trials"], 0);
    let states: Vec<&str> =
        report["executor"]["tasks"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "CANCELLED").count(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == "COMPLETED").count(), 3, "{states:?}");
    // The others are valid trials of their own.
    assert_eq!(trial_records(&f.out()).iter().filter(|t| t["comparison_valid"] == true).count(), 3);
}

#[test]
fn ctrl_c_cancels_the_array_keeps_finished_trials_and_resume_runs_only_the_missing() {
    let Some(cluster) = TestSlurm::start_or_skip("ctrl_c_cancels_the_array", 8) else { return };
    let f = fixture("2");
    let child = compare_process(
        &f,
        &cluster,
        &["--artifact-source", s(&f.bundle), "--trials", "2", "--jobs", "1", "--seed", "2", "--executor", "slurm"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for("a finished trial", Duration::from_secs(60), || !trial_records(&f.out()).is_empty());
    let signalled = Instant::now();
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(20), "took {:?}", signalled.elapsed());
    assert!(stderr.contains("compare --resume --output-dir"), "{stderr}");
    // Every task is over, no trial process is left, and every trial.json is a finished trial's.
    let tasks = cluster.tasks();
    assert!(tasks.iter().all(|l| l.contains("|COMPLETED|") || l.contains("|CANCELLED|")), "{tasks:?}");
    assert!(tasks.iter().any(|l| l.contains("|CANCELLED|")), "{tasks:?}");
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_under(&f.out());
    assert!(left.is_empty(), "{left:?}");
    let before: Vec<(String, String)> = trial_records(&f.out())
        .iter()
        .map(|t| {
            assert_eq!(t["complete"], true);
            assert_eq!(t["comparison_valid"], true, "a cancel is not an invalid trial: {t}");
            (format!("{}-{}", t["group"], t["trial"]), t["finished_at"].to_string())
        })
        .collect();
    assert!(!before.is_empty() && before.len() < 4, "{before:?}");
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["interrupted"], true);

    // --resume submits one new array of the missing trials only.
    let mut resume = harnessgym(&f.tmp.root);
    resume.args(["compare", "--resume", "--output-dir", s(&f.out()), "--jobs", "2"]).envs(cluster.env());
    let resumed = output(&mut resume);
    assert_eq!(resumed.code, Some(0), "{}\n{}", resumed.stdout, resumed.stderr);
    let subs = submissions(&f.out());
    let subs = subs["submissions"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["cancelled_by_compare"], true);
    assert_eq!(subs[1]["specs"].as_array().unwrap().len(), 4 - before.len());
    let after = trial_records(&f.out());
    assert_eq!(after.len(), 4);
    for (key, finished) in &before {
        let again = after.iter().find(|t| &format!("{}-{}", t["group"], t["trial"]) == key).unwrap();
        assert_eq!(&again["finished_at"].to_string(), finished, "{key} was run again");
    }
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["unfinished_trials"], 0);
    assert_eq!(report["executor"]["arrays"], serde_json::json!([subs[1]["array_job_id"]]));
}

#[test]
fn detach_submits_and_exits_and_resume_collects_the_tasks_without_submitting_again() {
    let Some(cluster) = TestSlurm::start_or_skip("detach_submits_and_exits", 8) else { return };
    let f = fixture("1");
    let started = Instant::now();
    let detached = output(
        f.compare(&[
            "--artifact-source",
            s(&f.bundle),
            "--trials",
            "1",
            "--jobs",
            "2",
            "--seed",
            "1",
            "--executor",
            "slurm",
            "--detach",
        ])
        .envs(cluster.env()),
    );
    assert_eq!(detached.code, Some(0), "{}", detached.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let array = submissions(&f.out())["submissions"][0]["array_job_id"].as_str().unwrap().to_owned();
    assert_eq!(detached.stdout.trim(), format!("Submitted Slurm job array {array}"));
    assert!(detached.stderr.contains("compare --resume --output-dir"), "{}", detached.stderr);

    let mut resume = harnessgym(&f.tmp.root);
    resume.args(["compare", "--resume", "--output-dir", s(&f.out())]).envs(cluster.env());
    let resumed = output(&mut resume);
    assert_eq!(resumed.code, Some(0), "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(submissions(&f.out())["submissions"].as_array().unwrap().len(), 1, "submitted again");
    assert_eq!(trial_records(&f.out()).len(), 2);
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["executor"]["arrays"], serde_json::json!([array]));
    assert_eq!(report["unfinished_trials"], 0);
}

#[test]
fn secrets_in_ssh_args_and_detach_without_slurm_are_refused_up_front() {
    let f = fixture("0");
    let detach = output(&mut f.compare(&["--artifact-source", s(&f.bundle), "--detach"]));
    assert_eq!(detach.code, Some(2), "{}", detach.stderr);
    assert!(detach.stderr.contains("--detach needs --executor slurm"), "{}", detach.stderr);
    let Some(cluster) = TestSlurm::start_or_skip("secrets_in_ssh_args_are_refused", 2) else { return };
    let secret = output(
        f.compare(&[
            "--artifact-source",
            s(&f.bundle),
            "--executor",
            "slurm",
            "--post-remote",
            "u@127.0.0.1",
            "--remote-ssh-arg=-o",
            "--remote-ssh-arg=SetEnv=TOKEN=hunter2",
        ])
        .envs(cluster.env()),
    );
    assert_eq!(secret.code, Some(2), "{}", secret.stderr);
    assert!(secret.stderr.contains("cannot pass --remote-ssh-arg values holding secrets"), "{}", secret.stderr);
    assert!(!f.out().exists() || trial_records(&f.out()).is_empty());
}

#[test]
fn the_spend_cap_stops_queued_tasks_through_the_stop_file() {
    let Some(cluster) = TestSlurm::start_or_skip("the_spend_cap_stops_queued_tasks", 8) else { return };
    let f = fixture("0");
    let prices = f.tmp.path("prices.toml");
    // 1000 input + 100 output tokens at 500 / 5000 USD per million: 1.0 USD per trial.
    super::common::write(&prices, "[models.default]\ninput = 500\noutput = 5000\n");
    let out = output(
        f.compare(&[
            "--artifact-source",
            s(&f.bundle),
            "--trials",
            "3",
            "--jobs",
            "1",
            "--prices",
            s(&prices),
            "--max-cost-usd",
            "0.5",
            "--seed",
            "4",
            "--executor",
            "slurm",
        ])
        .envs(cluster.env()),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let report = read_json(&f.out().join("compare_report.json"));
    assert_eq!(report["spend"]["stopped_by_budget"], true, "{}", report["spend"]);
    // The first trial reaches the cap; the next may start in the same scheduler tick.
    let finished = trial_records(&f.out()).len();
    assert!((1..=2).contains(&finished), "{finished} trials ran");
    assert_eq!(report["unfinished_trials"], 6 - finished);
    assert!(f.out().join(".harnessgym-compare/slurm/STOP").exists());
    let not_run = report["executor"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["note"].as_str().is_some_and(|n| n.starts_with("not run")))
        .count();
    assert_eq!(not_run, 6 - finished, "{}", report["executor"]);
    assert!(out.stderr.contains("Spend cap reached"), "{}", out.stderr);
}
