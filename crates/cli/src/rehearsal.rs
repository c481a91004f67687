//! `run --model-script FILE`: the real agent CLI against HarnessGym's scripted model server on
//! 127.0.0.1, in an isolated config home under `.harnessgym/rehearsal/`, with retries and outside
//! traffic off — a full rehearsal of a task setup at zero token cost.

use anyhow::{Context, bail};
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_core::RunConfig;
use harnessgym_runners::RunnerKind;
use harnessgym_runners::claude::ClaudeOptions;
use harnessgym_runners::codex_env;
use harnessgym_runners::exec::ExecOptions;
use harnessgym_runners::setup::RunnerSetup;
use harnessgym_scripted_model::{ClaudeRehearsal, CodexRehearsal, Script, ScriptedModelServer, ServerOptions};

pub struct Rehearsal {
    server: ScriptedModelServer,
    dir: Utf8PathBuf,
    log: Utf8PathBuf,
    /// A Codex home outside the workspace (see [`codex_home`]), removed when the rehearsal ends.
    outside_home: std::sync::Mutex<Option<OutsideHome>>,
}

/// `<cache>/harnessgym/rehearsal/<pid>/codex-home`, removed (with the pid's directory) on drop.
struct OutsideHome(Utf8PathBuf);

impl Drop for OutsideHome {
    fn drop(&mut self) {
        if let Some(pid_dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(pid_dir);
        }
    }
}

/// Where a rehearsal's `CODEX_HOME` goes. Codex refuses to create its `codex-linux-sandbox`
/// helper in a home under the temp dir, and where bubblewrap is installed every shell command
/// then fails (`harnessgym_runners::codex_env`). So: `<workspace>/.harnessgym/rehearsal/codex-home`
/// when that is not under the temp dir `tmpdir` names; else a home of this process under the
/// user's cache dir (`$XDG_CACHE_HOME`, else `~/.cache`): `harnessgym/rehearsal/<pid>/codex-home`,
/// removed when the rehearsal ends (a rehearsal cannot be resumed, so nothing needs it later);
/// else — the cache dir is under the temp dir too — the workspace's, with a warning.
///
/// Returns the home, whether it is outside the workspace, and a line for the user.
fn codex_home(
    rehearsal_dir: &Utf8Path,
    tmpdir: Option<&str>,
    cache_home: Option<&str>,
    home: Option<&str>,
) -> (Utf8PathBuf, bool, Option<String>) {
    let local = rehearsal_dir.join("codex-home");
    let Some(temp) = codex_env::home_under_temp_dir(&local, tmpdir) else { return (local, false, None) };
    let cache = cache_home
        .filter(|c| Utf8Path::new(c).is_absolute())
        .map(Utf8PathBuf::from)
        .or_else(|| home.filter(|h| Utf8Path::new(h).is_absolute()).map(|h| Utf8Path::new(h).join(".cache")));
    let outside = cache.map(|c| c.join(format!("harnessgym/rehearsal/{}/codex-home", std::process::id())));
    match outside {
        Some(outside) if codex_env::home_under_temp_dir(&outside, tmpdir).is_none() => {
            let note = format!(
                "Codex home: {outside} (the workspace is under the temp dir {temp}, where Codex refuses to create its \
                 sandbox helper; removed when the rehearsal ends)"
            );
            (outside, true, Some(note))
        }
        _ => {
            let note = format!(
                "warning: the Codex home {local} is under the temp dir {temp} and so is the cache dir: where bubblewrap \
                 is installed Codex cannot run shell commands (set XDG_CACHE_HOME or TMPDIR elsewhere, or move the \
                 workspace out of {temp})"
            );
            (local, false, Some(note))
        }
    }
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
        Ok(Self { server, dir, log, outside_home: std::sync::Mutex::new(None) })
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
        let tmpdir = options.env.iter().rev().find(|(k, _)| k == "TMPDIR").map(|(_, v)| v.clone());
        let tmpdir = tmpdir.or_else(|| std::env::var("TMPDIR").ok());
        let (home, outside, note) = codex_home(
            &self.dir,
            tmpdir.as_deref(),
            std::env::var("XDG_CACHE_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        );
        if let Some(note) = note {
            eprintln!("{note}");
        }
        if outside && let Ok(mut slot) = self.outside_home.lock() {
            *slot = Some(OutsideHome(home.clone()));
        }
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

    /// Stops the server (and removes a Codex home kept outside the workspace); the line says how
    /// the script went.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codex_home_never_lands_under_the_temp_dir_when_the_cache_dir_is_elsewhere() {
        let base = tempfile::tempdir().unwrap();
        let base = Utf8PathBuf::from_path_buf(base.path().canonicalize().unwrap()).unwrap();
        let ws_dir = base.join("tmp/ws/.harnessgym/rehearsal");
        std::fs::create_dir_all(&ws_dir).unwrap();
        let temp = base.join("tmp");
        let pid = std::process::id();

        // The workspace is not under the temp dir: its own home, nothing outside.
        let (home, outside, note) = codex_home(&ws_dir, Some(base.join("other").as_str()), None, None);
        assert_eq!((home, outside, note), (ws_dir.join("codex-home"), false, None));

        // Under the temp dir: the cache dir, said once.
        let cache = base.join("cache");
        let (home, outside, note) = codex_home(&ws_dir, Some(temp.as_str()), Some(cache.as_str()), None);
        assert_eq!(home, cache.join(format!("harnessgym/rehearsal/{pid}/codex-home")));
        assert!(outside);
        assert!(note.unwrap().contains(&format!("the workspace is under the temp dir {temp}")));
        // No XDG_CACHE_HOME (or a relative one): ~/.cache.
        let (home, _, _) = codex_home(&ws_dir, Some(temp.as_str()), Some("rel"), Some(base.as_str()));
        assert_eq!(home, base.join(format!(".cache/harnessgym/rehearsal/{pid}/codex-home")));

        // The cache dir is under the temp dir too: the workspace's home, with a warning.
        let (home, outside, note) = codex_home(&ws_dir, Some(temp.as_str()), Some(temp.join("c").as_str()), None);
        assert_eq!((home, outside), (ws_dir.join("codex-home"), false));
        assert!(note.unwrap().starts_with("warning: the Codex home"));
    }
}
