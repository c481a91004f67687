//! `cargo xtask bench compare`: what `harnessgym compare` itself costs.
//!
//! 1. Parallel trials: a `command`-runner agent that sleeps 2 s, 8 trials per arm, the whole
//!    compare at `--jobs 1` and at `--jobs 4` in the same run (goal: ≥ 3.5× at 4 jobs).
//! 2. Framework overhead per trial on the demo template: each trial process run again from its
//!    spec and timed from outside (process start included), minus the agent's attempt, the post
//!    command and the activation it recorded (goal: median ≤ 100 ms).
//! 3. Per-trial set-up on the big workspace (the copy out of the compare's store plus the
//!    bundle; activation measured apart) next to one `cp -a` of it, timed in the same run (goal:
//!    ≤ 1.2× the `cp -a`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{repo_root, run};

const SKILL: &str = "---\nname: smaller\ndescription: Write 10.\n---\nWrite 10 into answer.txt.\n";
const REGISTRY: &str = r#"{"version": 1, "artifacts": [{"id": "skill:smaller", "kind": "skill", "path": ".harnessgym/skills/smaller", "description": "Write 10."}]}"#;
const SCORE: &str =
    "import json\nprint(json.dumps({\"status\": \"passed\", \"score\": float(open(\"answer.txt\").read())}))\n";

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn bundle(dir: &Path) -> anyhow::Result<()> {
    write(&dir.join(".harnessgym/skills/smaller/SKILL.md"), SKILL)?;
    write(&dir.join(".harnessgym/registry.json"), REGISTRY)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn trial_records(out: &Path) -> anyhow::Result<Vec<(PathBuf, Value)>> {
    let mut records = Vec::new();
    for arm in std::fs::read_dir(out)?.flatten().filter(|e| e.path().is_dir()) {
        for trial in std::fs::read_dir(arm.path())?.flatten() {
            let path = trial.path().join("trial.json");
            if path.exists() {
                let value: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
                records.push((trial.path(), value));
            }
        }
    }
    Ok(records)
}

fn seconds(v: &Value, key: &str) -> f64 {
    v["budget"][key].as_f64().unwrap_or(0.0)
}

pub fn bench_compare(args: &[String]) -> anyhow::Result<()> {
    let root = repo_root();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let maker = arg("--make-workspace")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/tools/bigws/make_workspace.py"));
    let dir = arg("--dir").map(PathBuf::from).unwrap_or_else(|| root.join("target/bench/compare"));
    let only = arg("--only");
    let wants = |part: &str| only.as_deref().is_none_or(|o| o == part);
    run(Command::new("cargo").current_dir(&root).args(["build", "--release", "-p", "harnessgym-cli"]))?;
    let hg = root.join("target/release/harnessgym");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let compare = |out: &Path, template: &Path, extra: &[&str]| -> anyhow::Result<f64> {
        let start = Instant::now();
        let output = Command::new(&hg)
            .current_dir(&dir)
            .args(["compare", "--task-text", "Write the smallest number you can into answer.txt."])
            .arg("--workspace-template")
            .arg(template)
            .arg("--output-dir")
            .arg(out)
            .args(extra)
            .output()?;
        let wall = start.elapsed().as_secs_f64();
        if !output.status.success() {
            bail!("compare failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(wall)
    };

    if wants("jobs") {
        let template = dir.join("template");
        write(&template.join("score.py"), SCORE)?;
        bundle(&dir.join("bundle"))?;
        let agent = "cat > /dev/null; sleep 2; echo 10 > answer.txt";
        write(
            &dir.join("agent.toml"),
            &format!(
                "program = \"sh\"\nfresh = [\"-c\", {agent:?}]\nresume = [\"-c\", {agent:?}, \"{{session_id}}\"]\n"
            ),
        )?;
        let profile = dir.join("agent.toml");
        let common = |jobs: &str| -> Vec<String> {
            [
                "--artifact-source",
                "bundle",
                "--runner",
                "command",
                "--runner-profile",
                profile.to_str().unwrap_or_default(),
                "--trials",
                "8",
                "--post-command",
                "python3 score.py",
                "--seed",
                "1",
                "--jobs",
                jobs,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let one: Vec<String> = common("1");
        let four: Vec<String> = common("4");
        let wall1 = compare(&dir.join("out-jobs1"), &template, &one.iter().map(String::as_str).collect::<Vec<_>>())?;
        let wall4 = compare(&dir.join("out-jobs4"), &template, &four.iter().map(String::as_str).collect::<Vec<_>>())?;
        println!("## Parallel trials (16 trials, agent sleeps 2 s)\n");
        println!("| --jobs | wall (s) |\n|---|---|\n| 1 | {wall1:.2} |\n| 4 | {wall4:.2} |\n");
        println!("speed-up at 4 jobs: {:.2}× (goal ≥ 3.5×; 4× is the ceiling)\n", wall1 / wall4);
    }

    if wants("overhead") {
        let template = root.join("examples/numerical-debug");
        bundle(&dir.join("bundle"))?;
        let out = dir.join("out-overhead");
        compare(
            &out,
            &template,
            &[
                "--artifact-source",
                "bundle",
                "--runner",
                "fake",
                "--trials",
                "8",
                "--post-command",
                "python3 verifier.py",
                "--seed",
                "1",
            ],
        )?;
        let mut overheads = Vec::new();
        for (trial_dir, _) in trial_records(&out)? {
            std::fs::remove_file(trial_dir.join("trial.json"))?;
            let spec = trial_dir.join("trial-spec.json");
            let start = Instant::now();
            let status = Command::new(&hg)
                .args(["trial", "run", "--spec"])
                .arg(&spec)
                .stdout(std::process::Stdio::null())
                .status()?;
            let wall = start.elapsed().as_secs_f64();
            if !status.success() {
                bail!("trial {} failed", spec.display());
            }
            let record: Value = serde_json::from_str(&std::fs::read_to_string(trial_dir.join("trial.json"))?)?;
            let agent = seconds(&record, "attempt_seconds");
            let post = seconds(&record, "post_seconds");
            let activation = seconds(&record, "activation_seconds");
            overheads.push((wall - agent - post - activation) * 1000.0);
        }
        let max = overheads.iter().copied().fold(0.0, f64::max);
        println!("## Framework overhead per trial (demo template, fake agent, {} trials)\n", overheads.len());
        println!(
            "trial process wall − attempt − post − activation: median {:.0} ms, max {max:.0} ms (goal: median ≤ 100 ms)\n",
            median(overheads.clone())
        );
    }

    if wants("bigws") {
        if !maker.exists() {
            bail!("{} not found; pass --make-workspace PATH/make_workspace.py", maker.display());
        }
        let ws = dir.join("bigws");
        run(Command::new("python3").arg(&maker).arg(&ws))?;
        bundle(&dir.join("bundle"))?;
        let cp = |i: usize| -> anyhow::Result<f64> {
            let dest = dir.join(format!("cp-{i}"));
            let start = Instant::now();
            run(Command::new("cp").arg("-a").arg(&ws).arg(&dest))?;
            let secs = start.elapsed().as_secs_f64();
            std::fs::remove_dir_all(&dest)?;
            Ok(secs)
        };
        let cp_before = cp(0)?;
        let out = dir.join("out-bigws");
        compare(&out, &ws, &["--artifact-source", "bundle", "--runner", "fake", "--trials", "2", "--seed", "1"])?;
        let cp_after = cp(1)?;
        let records = trial_records(&out)?;
        let setups: Vec<f64> = records.iter().map(|(_, r)| seconds(r, "setup_seconds")).collect();
        let activations: Vec<f64> = records.iter().map(|(_, r)| seconds(r, "activation_seconds")).collect();
        let cp_secs = (cp_before + cp_after) / 2.0;
        println!("## Per-trial set-up on the big workspace ({} trials)\n", setups.len());
        println!("| | seconds |\n|---|---|");
        println!("| `cp -a` (mean of one before, one after) | {cp_secs:.2} |");
        println!("| trial set-up (copy out of the store + bundle), median | {:.2} |", median(setups.clone()));
        println!("| activation, median (apart) | {:.2} |\n", median(activations));
        println!("set-up / cp -a: {:.2}× (goal ≤ 1.2×)\n", median(setups) / cp_secs);
    }
    Ok(())
}
