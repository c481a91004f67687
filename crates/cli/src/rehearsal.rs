//! `run --model-script FILE`: the real agent CLI against HarnessGym's scripted model server on
//! 127.0.0.1, in an isolated config home under `.harnessgym/rehearsal/`, with retries and outside
//! traffic off — a full rehearsal of a task setup at zero token cost.

use anyhow::{Context, bail};
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_core::RunConfig;
use harnessgym_runners::RunnerKind;
use harnessgym_runners::claude::ClaudeOptions;
use harnessgym_runners::exec::ExecOptions;
use harnessgym_runners::setup::RunnerSetup;
use harnessgym_scripted_model::{ClaudeRehearsal, CodexRehearsal, Script, ScriptedModelServer, ServerOptions};

pub struct Rehearsal {
    server: ScriptedModelServer,
    dir: Utf8PathBuf,
    log: Utf8PathBuf,
}

impl Rehearsal {
    pub async fn start(config: &RunConfig, script_path: &Utf8Path) -> anyhow::Result<Self> {
        if !matches!(config.options.runner, RunnerKind::Exec | RunnerKind::Claude) {
            bail!("--model-script works with --runner exec or --runner claude, not {}", config.options.runner);
        }
        let script = Script::from_file(script_path).with_context(|| format!("model script {script_path}"))?;
        let dir = config.workspace.join(".harnessgym/rehearsal");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        let log = dir.join("model_requests.jsonl");
        let server = ScriptedModelServer::start_with(script, ServerOptions { log_jsonl: Some(log.clone()) }).await?;
        eprintln!("Scripted model server: {} (requests logged to {log})", server.addr());
        Ok(Self { server, dir, log })
    }

    /// Points the runner's CLI at the scripted model server (the other adapter is left alone).
    pub fn configure(&self, setup: &mut RunnerSetup) -> anyhow::Result<()> {
        match setup.kind {
            RunnerKind::Exec => self.configure_codex(&mut setup.exec),
            RunnerKind::Claude => self.configure_claude(&mut setup.claude),
            RunnerKind::Command | RunnerKind::Fake => Ok(()),
        }
    }

    fn configure_codex(&self, options: &mut ExecOptions) -> anyhow::Result<()> {
        let home = self.dir.join("codex-home");
        let plan = CodexRehearsal::new(self.server.base_url_openai());
        for (path, text) in plan.files(&home) {
            harnessgym_types::atomic::write_atomic(&path, text.as_bytes())?;
        }
        let env = plan.env(&home);
        options.env.extend(env.set);
        options.env_remove.extend(env.remove);
        // The rehearsal pins the model; a --codex-model would point at a model the server does not serve.
        options.cli.model = None;
        options.config_overrides.extend(plan.args().chunks(2).filter_map(|pair| pair.get(1).cloned()));
        Ok(())
    }

    fn configure_claude(&self, options: &mut ClaudeOptions) -> anyhow::Result<()> {
        let home = self.dir.join("claude-home");
        for dir in ClaudeRehearsal::dirs(&home) {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        }
        let plan = ClaudeRehearsal::new(self.server.base_url_anthropic());
        let env = plan.env(&home);
        options.env.extend(env.set);
        options.env_remove.extend(env.remove);
        options.cli.model = Some(plan.model);
        Ok(())
    }

    /// Stops the server; the line says how the script went.
    pub async fn finish(self) -> String {
        let requests = self.server.request_log().len();
        let failures = self.server.failures();
        self.server.shutdown().await;
        if failures.is_empty() {
            format!("Model script: {requests} requests, no failures (log: {})", self.log)
        } else {
            format!(
                "Model script: {requests} requests, {} FAILED (a scripted tool was not visible or a request was unexpected; see {})",
                failures.len(),
                self.log
            )
        }
    }
}
