//! The `harnessgym` command line: parsing, rendering and signal handling over
//! `harnessgym-core`. No business logic lives here.

pub mod cli;
mod compare_cmd;
mod demo;
mod gc_cmd;
mod mcp_cmds;
mod progress;
mod qualify_cmd;
mod rehearsal;
mod render;
mod report_cmd;

use std::process::ExitCode;
use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_core::{Run, RunConfig, RunRequest};
use tokio::sync::watch;

use crate::cli::{Cli, Command};

/// Exit codes: 0 success (solved or not), 1 error, 2 usage error, 130/143 interrupted.
pub async fn main_with(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => {
            let mode = progress::OutputMode { json: args.json, quiet: args.quiet };
            match args.resume.clone() {
                Some(run_id) => resume(&args, &run_id, mode).await,
                None => {
                    let model_script = args.request.model_script.clone();
                    run_with(args.request, model_script, mode).await
                }
            }
        }
        Command::Compare(args) => compare_cmd::compare(*args).await,
        Command::Trial(cli::TrialCommand::Run(args)) => compare_cmd::trial_run(args).await,
        Command::Demo(args) => demo::run_demo(args).await,
        Command::Activate(args) => mcp_cmds::activate(args).await,
        Command::McpProxy(args) => mcp_cmds::mcp_proxy(args).await,
        Command::McpCall(args) => mcp_cmds::mcp_call(args).await,
        Command::Qualify(args) => qualify_cmd::qualify(args).await,
        Command::Gc(args) => gc_cmd::gc(&args),
        Command::Report(args) => report_cmd::report(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("harnessgym: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `--bundle-sandbox` / `--bundle-network` resolved once for a command (`auto` probes
/// bubblewrap). When `auto` found none it is said once: in the log (a warning) and in every
/// activation report (`bundle_sandbox.note`), and — with `announce`, for the commands that
/// start the bundle's processes at once (`activate`, `qualify`) — in one line on stderr. A
/// sandbox that cannot be had (`bwrap` missing, the network off without a sandbox) is refused
/// before anything starts: the exit code, 2.
pub(crate) async fn bundle_sandbox(
    options: harnessgym_types::options::SandboxOptions,
    announce: bool,
) -> Result<harnessgym_activation::sandbox::SandboxSetting, ExitCode> {
    match harnessgym_activation::sandbox::SandboxSetting::resolve(options).await {
        Ok(setting) => {
            if let Some(line) = setting.fallback_line() {
                tracing::warn!("{line}");
                if announce {
                    eprintln!("{line}");
                }
            }
            tracing::info!(mode = setting.sandbox.mode(), network = setting.network, "bundle sandbox");
            Ok(setting)
        }
        Err(e) => {
            eprintln!("harnessgym: error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

pub(crate) fn current_dir() -> anyhow::Result<Utf8PathBuf> {
    let cwd = std::env::current_dir()?;
    Utf8PathBuf::from_path_buf(cwd).map_err(|p| anyhow::anyhow!("current directory {} is not UTF-8", p.display()))
}

pub(crate) async fn run(request: RunRequest) -> anyhow::Result<ExitCode> {
    run_with(request, None, progress::OutputMode::default()).await
}

async fn run_with(
    request: RunRequest,
    model_script: Option<String>,
    mode: progress::OutputMode,
) -> anyhow::Result<ExitCode> {
    // A flag or value refused before the run starts is a usage error (exit 2), like clap's own.
    let config = match RunConfig::from_request(request, &current_dir()?) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("harnessgym: error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    execute(config, model_script, None, mode).await
}

/// `run --resume RUN_ID`: the recorded configuration, nothing else from the command line but the
/// workspace that holds the run.
async fn resume(args: &cli::RunArgs, run_id: &str, mode: progress::OutputMode) -> anyhow::Result<ExitCode> {
    let extra: Vec<String> = args
        .given
        .iter()
        .filter(|id| !matches!(id.as_str(), "resume" | "workspace" | "remote_ssh_arg" | "json" | "quiet"))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if !extra.is_empty() {
        eprintln!(
            "harnessgym: error: --resume continues run {run_id} with the configuration it recorded; drop {} (only \
             --workspace and --remote-ssh-arg go with it; start a new run to change the configuration)",
            extra.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let given = absolute_path(&args.request.workspace)?;
    let workspace = std::fs::canonicalize(&given)
        .ok()
        .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
        .ok_or_else(|| anyhow::anyhow!("workspace {given} does not exist"))?;
    let mut resumable = harnessgym_core::Resumable::load(&workspace, run_id)?;
    if args.given.iter().any(|id| id == "remote_ssh_arg") {
        resumable.set_remote_ssh_args(args.request.options.remote.ssh_args.clone());
    }
    let config = resumable.config()?;
    if let Some(script) = &config.recorded.request.model_script {
        anyhow::bail!(
            "run {run_id} was a rehearsal against a scripted model (--model-script {script}); a rehearsal cannot be \
             resumed (resuming it would call the real model endpoint): start the rehearsal again"
        );
    }
    execute(config, None, Some(resumable), mode).await
}

async fn execute(
    config: RunConfig,
    model_script: Option<String>,
    resumable: Option<harnessgym_core::Resumable>,
    mode: progress::OutputMode,
) -> anyhow::Result<ExitCode> {
    if model_script.is_some() && config.runner_remote.is_some() {
        eprintln!(
            "harnessgym: error: --model-script cannot be combined with --runner-remote: the scripted model server \
             listens on 127.0.0.1 of this machine, which the agent CLI on the remote host cannot reach; rehearse \
             locally, then drop --model-script for the remote run"
        );
        return Ok(ExitCode::from(2));
    }
    let sandbox = match bundle_sandbox(config.options.sandbox, false).await {
        Ok(sandbox) => sandbox,
        Err(code) => return Ok(code),
    };
    let rehearsal = match &model_script {
        Some(path) => Some(rehearsal::Rehearsal::start(&config, &absolute_path(path)?).await?),
        None => None,
    };
    let mut setup = config.runner_setup(mcp_cmds::harnessgym_bin()?);
    if let Some(r) = &rehearsal {
        r.configure(&mut setup)?;
    }
    let runner = setup.build()?;
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    spawn_signal_watcher(cancel_tx, Arc::clone(&signal), "stopping the agent and writing the summary…")?;
    let activation = harnessgym_core::hooks::HarnessActivation {
        harnessgym_bin: mcp_cmds::harnessgym_bin()?,
        sandbox: sandbox.clone(),
    };
    let qualifier = harnessgym_core::hooks::CleanRoomQualifier::new(mcp_cmds::harnessgym_bin()?).with_sandbox(sandbox);
    let (events, bar) = progress::run_sink(mode, &config);
    let mut run = Run::new(config.clone(), runner)
        .with_activator(Arc::new(activation))
        .with_qualifier(Arc::new(qualifier))
        .with_cancel(cancel_rx)
        .with_events(events);
    if let Some(resumable) = resumable {
        run = run.with_resume(resumable);
    }
    let outcome = run.execute().await;
    // The screen ends clean whatever happened (success, failure, Ctrl-C).
    if let Some(bar) = &bar {
        bar.clear();
    }
    let outcome = outcome?;
    if mode.json {
        println!("{}", progress::outcome_json(&outcome));
    } else {
        print!("{}", render::outcome_lines(&outcome, config.options.optimization_mode));
    }
    if let Some(r) = rehearsal {
        let line = r.finish().await;
        if mode.json { eprintln!("{line}") } else { println!("{line}") }
    }
    if outcome.interrupted {
        eprintln!(
            "harnessgym: run {} interrupted; go on later with: harnessgym run --resume {} --workspace {}",
            outcome.run_id, outcome.run_id, config.workspace
        );
    }
    if let Some(e) = &outcome.summary_error {
        // State was lost: not a success, and the last line says what and where the rest is.
        eprintln!(
            "harnessgym: error: the run's summary was not saved ({e}); what the run wrote before that is in {}",
            outcome.run_dir
        );
        return Ok(ExitCode::from(1));
    }
    if outcome.interrupted {
        let code = match signal.load(std::sync::atomic::Ordering::SeqCst) {
            15 => 143,
            _ => 130,
        };
        return Ok(ExitCode::from(code));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn absolute_path(raw: &str) -> anyhow::Result<Utf8PathBuf> {
    let p = Utf8PathBuf::from(raw);
    Ok(if p.is_absolute() { p } else { current_dir()?.join(p) })
}

/// Resolves with 2 or 15 at the first SIGINT or SIGTERM (for commands that stop at once).
pub(crate) async fn interrupted() -> anyhow::Result<i32> {
    use tokio::signal::unix::{SignalKind, signal as listen};
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = interrupt.recv() => 2,
        _ = terminate.recv() => 15,
    })
}

/// First SIGINT/SIGTERM: ask the run to stop (kill the agent's group, restore, summarise).
pub(crate) fn spawn_signal_watcher(
    cancel: watch::Sender<bool>,
    signal: Arc<std::sync::atomic::AtomicI32>,
    doing: &'static str,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal as listen};
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    tokio::spawn(async move {
        let number = tokio::select! {
            _ = interrupt.recv() => 2,
            _ = terminate.recv() => 15,
        };
        signal.store(number, std::sync::atomic::Ordering::SeqCst);
        eprintln!("harnessgym: interrupted; {doing}");
        let _ = cancel.send(true);
    });
    Ok(())
}
