//! `harnessgym report`: the run's and the compare's Markdown and HTML, rewritten from the JSON;
//! and how a run shows its progress (`--json`, `--quiet`, a bar on a terminal).

use std::fs;
use std::path::Path;

use super::common::{Tmp, harnessgym, only_run_dir, output, s};

#[test]
fn a_run_writes_its_report_and_report_rewrites_it_from_the_workspace() {
    let tmp = Tmp::new();
    let ws = tmp.path("d");
    let out = output(harnessgym(&tmp.root).args(["demo", "--dir", s(&ws)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let run_dir = only_run_dir(&ws);
    let md = fs::read_to_string(run_dir.join("report.md")).expect("the run wrote report.md");
    assert!(md.contains("Final status: **solved**"), "{md}");
    // The fake agent's probe, qualified in iteration 1.
    assert!(md.contains("| 1 | 1 | tool | `.harnessgym/tools/harnessgym_fake_probe.py` | passed |"), "{md}");
    fs::remove_file(run_dir.join("report.md")).unwrap();
    fs::remove_file(run_dir.join("report.html")).unwrap();

    let out = output(harnessgym(&ws).args(["report"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "Markdown report: {}\nHTML report: {}\n",
            s(&run_dir.join("report.md")),
            s(&run_dir.join("report.html"))
        )
    );
    assert_eq!(fs::read_to_string(run_dir.join("report.md")).unwrap(), md, "the same report from the same files");
    assert!(fs::read_to_string(run_dir.join("report.html")).unwrap().starts_with("<!DOCTYPE html>"));
}

fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to)
        } else {
            fs::copy(entry.path(), &to).map(|_| ()).unwrap()
        }
    }
}

#[test]
fn a_compare_written_by_the_reference_gets_a_report() {
    let tmp = Tmp::new();
    let dir = tmp.path("ref");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/fixtures/reference_compare"), &dir);
    let out = output(harnessgym(&tmp.root).args(["report", s(&dir)]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with(&format!("Markdown report: {}\n", s(&dir.join("compare_report.md")))));
    let md = fs::read_to_string(dir.join("compare_report.md")).unwrap();
    assert!(md.contains("computed by harnessgym report from the trials' post scores"), "{md}");
    assert!(dir.join("compare_report.html").is_file());
}

#[test]
fn a_path_without_a_run_or_compare_is_an_error() {
    let tmp = Tmp::new();
    let empty = tmp.dir("empty");
    let out = output(harnessgym(&tmp.root).args(["report", s(&empty)]));
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(&format!("harnessgym: error: {} is not a run directory", s(&empty))),
        "{}",
        out.stderr
    );
}

/// A workspace whose agent (a `command` profile) writes a number and whose post command scores
/// it; the agent sleeps `sleep` seconds first.
fn scored_workspace(tmp: &Tmp, sleep: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let ws = tmp.dir("ws");
    fs::write(ws.join("task.md"), "Write a small number into answer.txt.\n").unwrap();
    fs::write(
        ws.join("score.py"),
        "import json\nprint(json.dumps({\"status\": \"passed\", \"score\": float(open(\"answer.txt\").read())}))\n",
    )
    .unwrap();
    let agent = format!("cat > /dev/null; sleep {sleep}; echo 12 > answer.txt");
    let profile = tmp.path("agent.toml");
    fs::write(
        &profile,
        format!("program = \"sh\"\nfresh = [\"-c\", {agent:?}]\nresume = [\"-c\", {agent:?}, \"{{session_id}}\"]\n"),
    )
    .unwrap();
    (ws, profile)
}

fn run_args<'a>(ws: &'a Path, profile: &'a Path) -> Vec<&'a str> {
    vec![
        "run",
        "--workspace",
        s(ws),
        "--task",
        "task.md",
        "--runner",
        "command",
        "--runner-profile",
        s(profile),
        "--post-attempt-command",
        "python3 score.py",
        "--optimization-mode",
        "--iterations",
        "1",
        "--no-qualify-artifacts",
    ]
}

#[test]
fn run_json_prints_ndjson_events_and_quiet_prints_no_progress() {
    let tmp = Tmp::new();
    let (ws, profile) = scored_workspace(&tmp, "0");
    let mut args = run_args(&ws, &profile);
    args.push("--json");
    let out = output(harnessgym(&ws).args(&args));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let events: Vec<serde_json::Value> =
        out.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
    for name in ["phase_started", "phase_finished", "score", "iteration_finished", "summary_written"] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    let score = events.iter().find(|e| e["event"] == "score").unwrap();
    assert_eq!((score["score"].as_f64(), score["verified"].as_bool()), (Some(12.0), Some(true)));
    assert_eq!(events.last().unwrap()["best_score"], 12.0);
    assert!(!out.stderr.contains("[iteration 1]"), "progress lines with --json: {}", out.stderr);

    let tmp = Tmp::new();
    let (ws, profile) = scored_workspace(&tmp, "0");
    let mut args = run_args(&ws, &profile);
    args.push("--quiet");
    let out = output(harnessgym(&ws).args(&args));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.contains("Best score: 12.0\n"), "{}", out.stdout);
}

/// Runs `args` under a pseudo-terminal (`script`), returning what the terminal received.
/// Whether terminal output ends by erasing what was drawn: a line erased (`ESC[2K`), or — when
/// the bar wrapped — each of its lines erased and the cursor back up (`ESC[2K ESC[1A`).
pub(super) fn cleared(screen: &str) -> bool {
    screen.ends_with("\u{1b}[2K") || screen.ends_with("\u{1b}[2K\u{1b}[1A")
}

pub(super) fn under_pty(cwd: &Path, args: &[&str]) -> Option<String> {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "no script(1) under CI=true (util-linux)");
        eprintln!("NOT RUN: no script(1) for a pseudo-terminal");
        return None;
    }
    let command = std::iter::once(super::common::binary().to_owned())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let out =
        std::process::Command::new("script").current_dir(cwd).args(["-qfec", &command, "/dev/null"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_the_run_draws_a_bar_and_ends_with_a_clean_screen() {
    let tmp = Tmp::new();
    let (ws, profile) = scored_workspace(&tmp, "1");
    let Some(screen) = under_pty(&ws, &run_args(&ws, &profile)) else { return };
    assert!(screen.contains("iteration 1/1 · attempt · "), "{screen:?}");
    assert!(screen.contains(" of 45m · last — · best — · tool calls 0"), "{screen:?}");
    assert!(screen.contains(" · last 12 (verified) · best 12 · tool calls 0"), "{screen:?}");
    // The permanent lines stay, the bar is erased before the result lines.
    assert!(screen.contains("[iteration 1] attempt: completed"), "{screen:?}");
    let (before, results) = screen.split_once("Run id: ").expect("result lines");
    assert!(cleared(before), "the bar is not cleared before the results: {before:?}");
    assert!(!results.contains('\u{1b}'), "escape codes after the bar was cleared: {results:?}");
}
