//! `cargo xtask reproduce <task>`: a row of the results page, reproduced. A generation `run` on a
//! scratch copy of `benches-tasks/<task>` builds a harness; a `compare` of plain vs that
//! bundle from the clean task directory judges it; one table in the seed's form sums it up.
//!
//! Offline by default, and honest about it: each task's rehearsal model script
//! (`xtask/rehearsal/<task>/script.json`) plays a plausible agent through the real codex CLI and
//! HarnessGym's scripted model server, and the table is titled as a rehearsal of the mechanism.
//! `--runner exec|claude` without `--model-script` is the real experiment (it needs an account).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// What reproduce needs to know about a task (its directory holds the rest).
#[derive(Clone, Copy, Debug)]
pub struct TaskScoring {
    /// The task's directory name under `benches-tasks/`.
    pub name: &'static str,
    /// The benchmark's score key.
    pub score_key: &'static str,
    /// Whether a higher score is better.
    pub higher_is_better: bool,
}

/// The tasks reproduce knows.
pub const TASKS: &[TaskScoring] = &[
    TaskScoring { name: "tensor-layout-pipeline", score_key: "best_cycles", higher_is_better: false },
    TaskScoring { name: "cpu-attention-autotune", score_key: "best_cycles", higher_is_better: false },
    TaskScoring { name: "paged-attention-decode", score_key: "best_ms", higher_is_better: false },
];

/// The options of one reproduction.
#[derive(Clone, Debug)]
pub struct Options {
    /// `exec` (default) or `claude`.
    pub runner: String,
    /// The agent CLI (default: the npm-installed one under `target/agent-clis`).
    pub agent_bin: Option<PathBuf>,
    /// The model script; `None` with `real` set runs the real model.
    pub model_script: Option<PathBuf>,
    /// Run against the real model (no script).
    pub real: bool,
    /// Iterations of the generation run (default 2).
    pub iterations: u32,
    /// Trials per arm (default 4).
    pub trials: u32,
    /// Trials at once (default 2).
    pub jobs: u32,
    /// The compare's seed.
    pub seed: u64,
    /// Where the scratch copy and the compare go.
    pub out: PathBuf,
    /// The `harnessgym` binary.
    pub harnessgym: PathBuf,
}

/// The result: the table (Markdown) and the compare's report.
pub struct Reproduction {
    /// The seed's kind of table.
    pub table: String,
    /// compare_report.json.
    pub report: Value,
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = cmd.output().with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let target = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The npm-installed agent CLI, or an error naming the install command.
pub fn agent_cli(root: &Path, runner: &str) -> anyhow::Result<PathBuf> {
    let name = if runner == "claude" { "claude" } else { "codex" };
    let path = root.join("target/agent-clis/node_modules/.bin").join(name);
    if path.exists() {
        return Ok(path);
    }
    bail!(
        "{name} is not installed; install the pinned CLIs with:\n  npm install --prefix target/agent-clis \
         @openai/codex@0.169.0 @anthropic-ai/claude-code@2.1.330\n(or pass --agent-bin PATH)"
    )
}

/// Reproduces `task` from the repository at `root`.
pub fn reproduce(root: &Path, task: &TaskScoring, opts: &Options) -> anyhow::Result<Reproduction> {
    let template = root.join("benches-tasks").join(task.name);
    if !template.join("task.md").is_file() {
        bail!("{} has no task.md", template.display());
    }
    let agent = match &opts.agent_bin {
        Some(p) => p.clone(),
        None => agent_cli(root, &opts.runner)?,
    };
    let bin_flag = if opts.runner == "claude" { "--claude-bin" } else { "--codex-bin" };
    let script = match (&opts.model_script, opts.real) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => None,
        (None, false) => {
            let s = root.join("xtask/rehearsal").join(task.name).join("script.json");
            if !s.is_file() {
                bail!("{} has no rehearsal script ({}); pass --real to run the real model", task.name, s.display());
            }
            Some(s)
        }
    };
    if opts.out.exists() {
        std::fs::remove_dir_all(&opts.out)?;
    }
    let gen_ws = opts.out.join("generate");
    copy_dir(&template, &gen_ws)?;
    let dev = "python3 benchmark.py --json --mode dev";
    let held_out = "python3 benchmark.py --json --mode final";
    let direction: &[&str] = if task.higher_is_better { &["--higher-is-better"] } else { &[] };

    // 1. Generation: the agent iterates on the dev cases and builds its harness.
    let mut generate = Command::new(&opts.harnessgym);
    generate
        .current_dir(&gen_ws)
        .env("IS_SANDBOX", "1")
        .args(["run", "--task", "task.md", "--workspace", ".", "--runner", &opts.runner])
        .arg(bin_flag)
        .arg(&agent)
        .args(["--iterations", &opts.iterations.to_string(), "--optimization-mode", "--task-state", "continue"])
        .args([
            "--score-key",
            task.score_key,
            "--post-attempt-command",
            dev,
            "--post-attempt-score-key",
            task.score_key,
        ])
        .args(["--attempt-timeout", "10m", "--build-timeout", "10m"])
        .args(direction);
    if let Some(s) = &script {
        generate.arg("--model-script").arg(s);
    }
    run(&mut generate, "the generation run")?;

    // 2. Compare: plain vs the generated bundle, scored on the held-out (final) cases.
    let cmp = opts.out.join("compare");
    let mut compare = Command::new(&opts.harnessgym);
    compare
        .current_dir(&opts.out)
        .env("IS_SANDBOX", "1")
        .args(["compare", "--task"])
        .arg(template.join("task.md"))
        .arg("--workspace-template")
        .arg(&template)
        .arg("--output-dir")
        .arg(&cmp)
        .arg("--artifact-source")
        .arg(&gen_ws)
        .args(["--runner", &opts.runner])
        .arg(bin_flag)
        .arg(&agent)
        .args([
            "--trials",
            &opts.trials.to_string(),
            "--jobs",
            &opts.jobs.to_string(),
            "--seed",
            &opts.seed.to_string(),
        ])
        .args(["--score-key", task.score_key, "--post-command", held_out, "--post-score-key", task.score_key])
        .args(["--attempt-timeout", "10m"])
        .args(direction);
    if let Some(s) = &script {
        compare.arg("--model-script").arg(s);
    }
    run(&mut compare, "the compare")?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(cmp.join("compare_report.json"))?)?;
    let table = table(task, &report, script.is_some());
    Ok(Reproduction { table, report })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The seed's kind of table from a compare report.
pub fn table(task: &TaskScoring, report: &Value, rehearsal: bool) -> String {
    let mut out = String::new();
    if rehearsal {
        out.push_str(&format!(
            "### {} — a rehearsal of the mechanism (scripted model through the real agent CLI), not a model result\n\n",
            task.name
        ));
    } else {
        out.push_str(&format!("### {}\n\n", task.name));
    }
    out.push_str(&format!(
        "| task | arm | trials (valid) | attempts | cumulative attempt time, median | held-out {} median (best) | relative change | generated tools | tool calls | verdict |\n",
        task.score_key
    ));
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    let trials = report["trials"].as_array().cloned().unwrap_or_default();
    let arms = report["arms"].as_array().cloned().unwrap_or_default();
    let comparisons = report["statistics"]["comparisons"].as_array().cloned().unwrap_or_default();
    for arm in arms.iter().filter_map(|a| a["name"].as_str()) {
        let of_arm: Vec<&Value> = trials.iter().filter(|t| t["group"] == arm).collect();
        let valid = of_arm.iter().filter(|t| t["post_valid"] == true).count();
        let attempts: u64 = of_arm.iter().filter_map(|t| t["iterations_completed"].as_u64()).sum();
        let cumulative =
            median(of_arm.iter().filter_map(|t| t["cumulative_attempt_duration_seconds"].as_f64()).collect());
        let scores: Vec<f64> = of_arm.iter().filter_map(|t| t["post_score"].as_f64()).collect();
        let best = if task.higher_is_better {
            scores.iter().copied().reduce(f64::max)
        } else {
            scores.iter().copied().reduce(f64::min)
        };
        let tools =
            of_arm.iter().filter_map(|t| t["harness_validation"]["active_tool_count"].as_u64()).max().unwrap_or(0);
        let calls: u64 = of_arm.iter().filter_map(|t| t["mcp_call_count"].as_u64()).sum();
        let comparison = comparisons.iter().find(|c| c["arm"] == arm);
        let change = comparison
            .and_then(|c| {
                c["effect"]["estimate"].as_f64().map(|e| (e, c["effect"]["kind"].as_str() == Some("relative")))
            })
            .map_or_else(
                || "baseline".to_owned(),
                |(e, relative)| if relative { format!("{:+.1}%", e * 100.0) } else { format!("{e:+.4} (absolute)") },
            );
        let verdict = comparison.and_then(|c| c["verdict"].as_str()).unwrap_or("—").replace('_', " ");
        let fmt = |x: Option<f64>| x.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"));
        out.push_str(&format!(
            "| {} | {arm} | {} ({valid}) | {attempts} | {} s | {} ({}) | {change} | {tools} | {calls} | {verdict} |\n",
            task.name,
            of_arm.len(),
            cumulative.map_or_else(|| "—".to_owned(), |c| format!("{c:.1}")),
            fmt(median(scores.clone())),
            fmt(best),
        ));
    }
    if let Some(verdicts) = report["verdicts"].as_array() {
        out.push('\n');
        for v in verdicts.iter().filter_map(Value::as_str) {
            out.push_str(&format!("Verdict: {v}\n"));
        }
    }
    out
}

/// `cargo xtask reproduce <task> [--runner exec|claude] [--iterations N] [--trials N] [--jobs N]
/// [--model-script FILE | --real] [--agent-bin PATH] [--seed S] [--out DIR]`.
pub fn main(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let Some(name) = args.first().filter(|a| !a.starts_with("--")) else {
        bail!(
            "usage: cargo xtask reproduce <task> [--runner exec|claude] [--iterations N] [--trials N] [--jobs N] \
             [--model-script FILE | --real] [--agent-bin PATH] [--seed S] [--out DIR]\ntasks: {}",
            TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        );
    };
    let task = TASKS.iter().find(|t| t.name == name).with_context(|| {
        format!("unknown task {name}; known: {}", TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", "))
    })?;
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let number = |flag: &str, default: u32| -> anyhow::Result<u32> {
        value(flag).map_or(Ok(default), |v| v.parse().with_context(|| format!("{flag} {v}")))
    };
    crate::run_cmd(Command::new("cargo").current_dir(root).args(["build", "--release", "-p", "harnessgym-cli"]))?;
    let opts = Options {
        runner: value("--runner").unwrap_or_else(|| "exec".into()),
        agent_bin: value("--agent-bin").map(PathBuf::from),
        model_script: value("--model-script").map(PathBuf::from),
        real: args.iter().any(|a| a == "--real"),
        iterations: number("--iterations", 2)?,
        trials: number("--trials", 4)?,
        jobs: number("--jobs", 2)?,
        seed: value("--seed").map_or(Ok(1), |v| v.parse().context("--seed"))?,
        out: value("--out").map(PathBuf::from).unwrap_or_else(|| root.join("target/reproduce").join(task.name)),
        harnessgym: root.join("target/release/harnessgym"),
    };
    let result = reproduce(root, task, &opts)?;
    println!("{}", result.table);
    eprintln!("compare report: {}", opts.out.join("compare/compare_report.json").display());
    Ok(())
}
