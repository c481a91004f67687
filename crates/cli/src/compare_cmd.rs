//! `harnessgym compare` and `harnessgym trial run --spec FILE` (one trial, the unit compare's
//! executors run).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use camino::Utf8PathBuf;
use harnessgym_core::RunConfig;
use harnessgym_core::compare::executor::{Executor, LocalExecutor};
use harnessgym_core::compare::slurm::{self, SlurmExecutor};
use harnessgym_core::compare::trial::{RunnerFactory, TrialContext, TrialError, read_spec, run_trial};
use harnessgym_core::compare::{Compare, CompareConfig, CompareError, CompareEvent, CompareOutcome, ExecutorKind};
use harnessgym_runners::Runner;
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{CompareArgs, TrialRunArgs};
use crate::rehearsal::Rehearsal;
use crate::{current_dir, mcp_cmds, spawn_signal_watcher};

pub async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let cwd = current_dir()?;
    let mode = crate::progress::OutputMode { json: args.json, quiet: args.quiet };
    // How the compare shows its progress is no part of its configuration (nor of --resume's check).
    let given: Vec<String> = args.given.iter().filter(|g| !matches!(g.as_str(), "json" | "quiet")).cloned().collect();
    let config = match CompareConfig::new(args.request, &cwd, args.resume, &given) {
        Ok(config) => config,
        Err(CompareError::Invalid(message)) => {
            eprintln!("harnessgym: error: {message}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(script) = &config.model_script {
        // A script that does not parse is refused now, not once per trial.
        if let Err(e) = harnessgym_scripted_model::Script::from_file(script) {
            eprintln!("harnessgym: error: model script {script}: {e}");
            return Ok(ExitCode::from(2));
        }
    }
    // The bundle sandbox the trials will use: a missing bwrap is refused now, the fallback of
    // `auto` said once here rather than in every trial.
    if let Err(code) = crate::bundle_sandbox(config.request.sandbox, true).await {
        return Ok(code);
    }
    let slurm = match config.request.executor {
        ExecutorKind::Local if args.detach => {
            eprintln!("harnessgym: error: --detach needs --executor slurm (local trials die with the compare)");
            return Ok(ExitCode::from(2));
        }
        ExecutorKind::Local => None,
        ExecutorKind::Slurm => match slurm::preflight(&config, &args.given) {
            Ok(notes) => {
                for note in notes {
                    eprintln!("harnessgym: note: {note}");
                }
                Some(Arc::new(SlurmExecutor::new(&config, mcp_cmds::harnessgym_bin()?, args.detach)))
            }
            Err(CompareError::Invalid(message)) => {
                eprintln!("harnessgym: error: {message}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let stopping = if slurm.is_some() {
        "cancelling the trials' Slurm tasks and writing the report…"
    } else {
        "stopping the running trials and writing the report…"
    };
    spawn_signal_watcher(cancel_tx, Arc::clone(&signal), stopping)?;
    let executor: Arc<dyn Executor> = match &slurm {
        Some(s) => s.clone(),
        None => Arc::new(LocalExecutor {
            harnessgym_bin: mcp_cmds::harnessgym_bin()?,
            jobs: config.request.jobs,
            env: config.trial_env(),
        }),
    };
    let output_dir = config.output_dir.clone();
    let total = u64::from(config.trials) * config.arms.len() as u64;
    let (events, bars) = crate::progress::compare_sink(mode, total, config.request.attempt_timeout.to_string());
    let outcome = Compare::new(config, executor).with_events(events).with_cancel(cancel_rx).execute().await;
    // The screen ends clean whatever happened (success, failure, Ctrl-C).
    if let Some(bars) = &bars {
        bars.clear();
    }
    let outcome = outcome?;
    if let Some(s) = slurm.as_ref().filter(|_| args.detach && !outcome.interrupted) {
        let arrays = s.submitted();
        if arrays.is_empty() {
            println!("Nothing submitted: every trial is finished. Report: {}", outcome.report_path);
        } else {
            println!("Submitted Slurm job array {}", arrays.join(", "));
        }
        eprintln!("harnessgym: collect the trials with: harnessgym compare --resume --output-dir {output_dir}");
        return Ok(ExitCode::SUCCESS);
    }
    if mode.json {
        println!("{}", crate::progress::compare_outcome_json(&outcome));
    } else {
        print!("{}", outcome_lines(&outcome));
    }
    if outcome.interrupted {
        eprintln!(
            "harnessgym: compare interrupted; finished trials are kept. Go on with: harnessgym compare --resume \
             --output-dir {output_dir}"
        );
        let code = match signal.load(std::sync::atomic::Ordering::SeqCst) {
            15 => 143,
            _ => 130,
        };
        return Ok(ExitCode::from(code));
    }
    Ok(ExitCode::SUCCESS)
}

fn py_float(v: Option<f64>) -> String {
    v.map_or_else(|| "None".into(), |f| format!("{f:?}"))
}

/// The reference's lines (`Compare report: …`, one per arm), then the verdicts.
pub fn outcome_lines(outcome: &CompareOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Compare report: {}", outcome.report_path);
    let arms = outcome.report.extra.get("arms").and_then(Value::as_array).cloned().unwrap_or_default();
    for name in arms.iter().filter_map(|a| a.get("name").and_then(Value::as_str)) {
        let Some(g) = outcome.report.summary.get(name) else { continue };
        let count = |k: &str| g.post_score.extra.get(k).and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "{name}: n={} median_attempt={} median_cumulative_attempt={} best_post_score={} post_valid={} post_invalid={}",
            g.count,
            py_float(g.attempt_duration_seconds.median),
            py_float(g.cumulative_attempt_duration_seconds.median),
            py_float(g.post_score.best),
            count("valid_count"),
            count("invalid_count"),
        );
    }
    for verdict in &outcome.verdicts {
        let _ = writeln!(out, "Verdict: {verdict}");
    }
    if outcome.unfinished > 0 {
        let _ = writeln!(out, "Unfinished trials: {} (not in the statistics)", outcome.unfinished);
    }
    out
}

/// Progress on stderr, one line per trial event worth seeing.
pub(crate) fn progress(event: &CompareEvent) {
    if let Some(line) = progress_line(event) {
        eprintln!("{line}");
    }
}

/// The progress line of a compare event, if it has one.
pub(crate) fn progress_line(event: &CompareEvent) -> Option<String> {
    Some(match event {
        CompareEvent::Seed { seed, given: false } => format!("Seed: {seed} (drawn; --seed {seed} repeats the order)"),
        CompareEvent::Seed { seed, given: true } => format!("Seed: {seed}"),
        CompareEvent::TemplateCaptured { files, seconds } => {
            format!("Template captured: {files} files in {seconds:.2} s")
        }
        CompareEvent::Kept { count } => format!("Resuming: {count} finished trials kept"),
        CompareEvent::TrialStarted { arm, trial } => format!("[{arm} #{trial}] started"),
        CompareEvent::TrialProgress { arm, trial, event } => format!("[{arm} #{trial}] {}", trial_event_line(event)?),
        CompareEvent::TrialFinished { arm, trial, record: Some(r), .. } => {
            let score = match (r.post_score, r.post_valid) {
                (Some(s), _) => format!("score {s}"),
                (None, None) => "no post command".to_owned(),
                (None, Some(_)) => "no verified score".to_owned(),
            };
            let validity = if r.comparison_valid && !r.post_treated_as_worst {
                "valid".to_owned()
            } else {
                let reason = [&r.post_invalid_reason, &r.comparison_invalid_reason]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_default();
                format!("invalid: {reason}")
            };
            format!("[{arm} #{trial}] finished in {:.1} s: {score}, {validity}", r.duration_seconds)
        }
        CompareEvent::TrialFinished { arm, trial, problem, .. } => {
            format!("[{arm} #{trial}] ended without a result: {}", problem.as_deref().unwrap_or("unknown"))
        }
        CompareEvent::BudgetReached { spent, cap } => {
            format!("Spend cap reached: ${spent:.2} of ${cap:.2}; no new trial starts")
        }
        CompareEvent::SurvivorsKilled { report } => format!("harnessgym: {report}"),
        _ => return None,
    })
}

fn trial_event_line(event: &Value) -> Option<String> {
    let kind = event.get("event")?.as_str()?;
    let iteration = event.get("iteration").and_then(Value::as_u64).unwrap_or(0);
    Some(match kind {
        "phase_started" => format!("iteration {iteration}: {}…", event.get("phase")?.as_str()?),
        "scored" => format!(
            "iteration {iteration}: score {}{}",
            event.get("score")?,
            if event.get("verified").and_then(Value::as_bool) == Some(true) { " (verified)" } else { " (unverified)" }
        ),
        "problem" => format!("problem: {}", event.get("message")?.as_str()?),
        _ => return None,
    })
}

/// The agent of a trial: the runner its spec names, pointed at a scripted model server when the
/// compare is a rehearsal.
struct TrialRunners {
    model_script: Option<Utf8PathBuf>,
    rehearsal: tokio::sync::Mutex<Option<Rehearsal>>,
}

#[async_trait::async_trait]
impl RunnerFactory for TrialRunners {
    async fn runner(&self, config: &RunConfig) -> Result<Arc<dyn Runner>, String> {
        let bin = mcp_cmds::harnessgym_bin().map_err(|e| e.to_string())?;
        let mut setup = config.runner_setup(bin);
        if let Some(script) = &self.model_script {
            let rehearsal = Rehearsal::start(config, script).await.map_err(|e| format!("{e:#}"))?;
            rehearsal.configure(&mut setup).map_err(|e| format!("{e:#}"))?;
            *self.rehearsal.lock().await = Some(rehearsal);
        }
        setup.build().map_err(|e| format!("{e:#}"))
    }
}

pub async fn trial_run(args: TrialRunArgs) -> anyhow::Result<ExitCode> {
    let path = crate::absolute_path(&args.spec)?;
    let spec = match read_spec(&path) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("harnessgym: error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    spawn_signal_watcher(cancel_tx, Arc::clone(&signal), "stopping the trial (no trial.json is written)…")?;
    let runners = Arc::new(TrialRunners { model_script: spec.model_script.clone(), rehearsal: Default::default() });
    let sandbox = match crate::bundle_sandbox(spec.request.options.sandbox, false).await {
        Ok(sandbox) => sandbox,
        Err(code) => return Ok(code),
    };
    let activation = harnessgym_core::hooks::HarnessActivation { harnessgym_bin: mcp_cmds::harnessgym_bin()?, sandbox };
    let ctx = TrialContext { runners: runners.clone(), activator: Arc::new(activation), cancel: cancel_rx };
    let result = run_trial(&spec, ctx).await;
    if let Some(r) = runners.rehearsal.lock().await.take() {
        eprintln!("{}", r.finish().await);
    }
    match result {
        Ok(record) => {
            println!(
                "Trial {} #{}: {} (post_score {})",
                record.group,
                record.trial,
                if record.comparison_valid { "valid" } else { "invalid" },
                py_float(record.post_score)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(TrialError::Interrupted { .. }) => {
            let code = match signal.load(std::sync::atomic::Ordering::SeqCst) {
                15 => 143,
                _ => 130,
            };
            Ok(ExitCode::from(code))
        }
        Err(e) => Err(e).with_context(|| format!("trial spec {path}")),
    }
}
