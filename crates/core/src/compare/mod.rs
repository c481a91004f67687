//! `Compare`: plain vs harnessed (or any arms) replayed from one clean template with equal
//! budgets, trials as self-contained units, interleaved in seeded blocks, run by an
//! [`executor::Executor`], resumable, and judged by `harnessgym-stats`.
//!
//! The flow: [`CompareConfig::new`] checks everything up front (template, task, arms and their
//! bundles, runner binary, output directory) → [`Compare::execute`] locks the output directory,
//! captures the template once into a snapshot store there, records the configuration
//! (`compare_config.json`), writes one `trial-spec.json` per trial in design order, hands the
//! trials to the executor, and writes `compare_report.json` from the trials' `trial.json` files.

pub mod executor;
pub mod prices;
pub mod report;
// `CompareRequest`'s field docs are also the `harnessgym compare` flags' help text (clap):
// `[default]` there is help text, not a link.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub mod request;
pub mod slots;
pub mod slurm;
pub mod spec;
pub mod trial;

use std::sync::Arc;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotView, Store};
use harnessgym_types::compare::{CompareReport, TrialRecord};
use harnessgym_types::options::{RemoteOptions, RunOptions, RunnerKind, Timeouts};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::RunRequest;
use crate::config::absolute;
use crate::lock::{LockError, WorkspaceLock};
pub use request::{CompareRequest, ExecutorKind};
use spec::{TRIAL_SPEC_FILE, TRIAL_SPEC_FORMAT, TrialSpec};

/// The recorded configuration inside the output directory.
pub const CONFIG_FILE: &str = "compare_config.json";
/// The report inside the output directory.
pub const REPORT_FILE: &str = "compare_report.json";
/// HarnessGym's own state inside the output directory (the template store, score slots).
pub const STATE_DIR: &str = ".harnessgym-compare";
/// `compare_config.json`'s format.
pub const CONFIG_FORMAT: u32 = 1;
/// How a trial process gets `--remote-ssh-arg` values that hold secrets (`SetEnv=…`): a JSON
/// list in this variable; the files (`compare_config.json`, trial specs) hold them redacted.
pub const SSH_ARGS_ENV: &str = "HARNESSGYM_REMOTE_SSH_ARGS";

fn redacted(args: &[String]) -> Vec<String> {
    harnessgym_proc::remote::redact_ssh_args(args)
}

/// Why a compare cannot start (all checked before any trial runs).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A flag or value that cannot be used (a usage error: exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The output directory is in use by another compare.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Setting up the output directory failed.
    #[error("{0}")]
    Setup(String),
}

fn invalid(message: impl Into<String>) -> CompareError {
    CompareError::Invalid(message.into())
}

/// One arm: its name and its bundle (`None`: no harness).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmConfig {
    /// The arm's name (a directory name in the output directory).
    pub name: String,
    /// The `.harnessgym` directory its trials copy, `None` for none.
    pub bundle: Option<Utf8PathBuf>,
    /// The source as given (`none`, a workspace, a `.harnessgym` directory).
    pub source: String,
}

/// What `compare_config.json` holds: the request with every default and the seed filled in,
/// the directory relative paths were resolved against, and the task as read at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedCompare {
    /// [`CONFIG_FORMAT`].
    pub format: u32,
    /// The request (seed filled in).
    pub request: CompareRequest,
    /// The directory relative paths were resolved against.
    pub cwd: Utf8PathBuf,
    /// When the compare started.
    pub created_at: String,
    /// The harnessgym version that wrote it.
    pub harnessgym_version: String,
}

/// A validated compare.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// The request, seed filled in.
    pub request: CompareRequest,
    /// The output directory, absolute.
    pub output_dir: Utf8PathBuf,
    /// The template, absolute and canonical.
    pub template: Utf8PathBuf,
    /// The task text, read once.
    pub task_text: String,
    /// The task file's path relative to the template, when it lies inside it.
    pub task_in_template: Option<Utf8PathBuf>,
    /// The arms; the first is the baseline.
    pub arms: Vec<ArmConfig>,
    /// Trials per arm.
    pub trials: u32,
    /// Iterations per trial.
    pub iterations: u32,
    /// The seed of the order and the bootstrap.
    pub seed: u64,
    /// Whether the seed was given (else drawn and printed).
    pub seed_given: bool,
    /// Prices for runners that report no cost.
    pub prices: Option<prices::Prices>,
    /// The model script, absolute.
    pub model_script: Option<Utf8PathBuf>,
    /// This is `--resume` of a recorded compare.
    pub resume: bool,
    /// The recorded configuration to write (or the one read on resume).
    pub recorded: RecordedCompare,
}

fn canonical(path: &Utf8Path) -> Option<Utf8PathBuf> {
    std::fs::canonicalize(path).ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
}

/// An executable named `program`: a path that exists, or a name found on `PATH`.
pub fn find_program(program: &str) -> Option<Utf8PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable =
        |p: &Utf8Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = Utf8PathBuf::from(program);
        return runnable(&p).then_some(p);
    }
    let path = std::env::var("PATH").ok()?;
    path.split(':').filter(|d| !d.is_empty()).map(|d| Utf8Path::new(d).join(program)).find(|p| runnable(p))
}

/// The `.harnessgym` directory of an arm's source: the path itself when it is named
/// `.harnessgym`, else `<path>/.harnessgym`.
fn resolve_bundle(raw: &str, cwd: &Utf8Path) -> Result<Utf8PathBuf, CompareError> {
    let path = absolute(raw, cwd);
    let found = if path.file_name() == Some(".harnessgym") && path.is_dir() {
        Some(path.clone())
    } else if path.join(".harnessgym").is_dir() {
        Some(path.join(".harnessgym"))
    } else {
        None
    };
    let dir = found.ok_or_else(|| {
        invalid(format!(
            "artifact source {path} is not a .harnessgym directory or a workspace holding one; pass the workspace a \
             `harnessgym run` generated its harness in, its .harnessgym directory, or none"
        ))
    })?;
    canonical(&dir).ok_or_else(|| invalid(format!("artifact source {dir} cannot be resolved")))
}

fn valid_arm_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl CompareConfig {
    /// Checks `request` (resolved against `cwd`) before anything runs. With `resume`, the
    /// configuration recorded in the output directory is used instead, and `given` (the ids of
    /// the flags typed on the command line) may only repeat recorded values.
    pub fn new(request: CompareRequest, cwd: &Utf8Path, resume: bool, given: &[String]) -> Result<Self, CompareError> {
        let output_raw = request
            .output_dir
            .clone()
            .filter(|o| !o.trim().is_empty())
            .ok_or_else(|| invalid("--output-dir is required: the directory trials and the report go to"))?;
        let output_dir = absolute(&output_raw, cwd);
        if resume {
            let path = output_dir.join(CONFIG_FILE);
            let recorded: RecordedCompare = match harnessgym_types::json::read_typed(&path) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return Err(invalid(format!(
                        "nothing to resume in {output_dir}: it has no {CONFIG_FILE} (start the compare without --resume)"
                    )));
                }
                Err(e) => return Err(invalid(format!("{e}; the recorded compare cannot be resumed"))),
            };
            if recorded.format != CONFIG_FORMAT {
                return Err(invalid(format!(
                    "{path} has format {}, not {CONFIG_FORMAT}; resume it with the harnessgym that started it",
                    recorded.format
                )));
            }
            // Secrets are recorded redacted: the values given again are compared redacted.
            let mut typed = request.clone();
            typed.remote_ssh_args = redacted(&request.remote_ssh_args);
            let conflicts = request::resume_conflicts(given, &typed, &recorded.request);
            if !conflicts.is_empty() {
                return Err(invalid(format!(
                    "--resume goes on with the configuration recorded in {path}; these flags differ from it: {}. Drop \
                     them (or start a new compare in another --output-dir)",
                    conflicts.join(", ")
                )));
            }
            let mut again = recorded.request.clone();
            again.output_dir = Some(output_dir.to_string());
            request::apply_resume_overrides(&mut again, &request, given);
            if again.remote_ssh_args.iter().any(|a| a.ends_with("=<redacted>")) {
                if !given.iter().any(|g| g == "remote_ssh_arg") {
                    return Err(invalid(
                        "pass the --remote-ssh-arg values again: those holding secrets (SetEnv=…) are not recorded",
                    ));
                }
                again.remote_ssh_args = request.remote_ssh_args;
            }
            let mut config = Self::check(again, &recorded.cwd, false)?;
            config.resume = true;
            config.recorded = recorded;
            return Ok(config);
        }
        Self::check(request, cwd, true)
    }

    fn check(mut request: CompareRequest, cwd: &Utf8Path, fresh: bool) -> Result<Self, CompareError> {
        let output_dir = absolute(request.output_dir.as_deref().unwrap_or_default(), cwd);
        let template_raw = request.workspace_template.clone().ok_or_else(|| {
            invalid("--workspace-template is required: the clean task directory every trial starts from")
        })?;
        let template_abs = absolute(&template_raw, cwd);
        let template = match std::fs::metadata(&template_abs) {
            Ok(m) if m.is_dir() => canonical(&template_abs)
                .ok_or_else(|| invalid(format!("workspace template {template_abs} cannot be resolved")))?,
            Ok(_) => return Err(invalid(format!("workspace template {template_abs} is not a directory"))),
            Err(_) => {
                return Err(invalid(format!(
                    "workspace template {template_abs} does not exist; pass the clean task directory to --workspace-template"
                )));
            }
        };
        let out_resolved = canonical(&output_dir).unwrap_or_else(|| output_dir.clone());
        if out_resolved.starts_with(&template) || template.starts_with(&out_resolved) {
            return Err(invalid(format!(
                "--output-dir {output_dir} and --workspace-template {template} contain each other; put the output elsewhere"
            )));
        }

        // The task: read once, so every trial gets the same text.
        let (task_text, task_in_template) = match (&request.task, &request.task_text) {
            (Some(_), Some(_)) => return Err(invalid("--task and --task-text are exclusive; give one")),
            (None, None) => return Err(invalid("provide either --task FILE or --task-text TEXT")),
            (None, Some(text)) => (text.clone(), None),
            (Some(raw), None) => {
                let p = absolute(raw, cwd);
                let file = if p.exists() { p } else { template.join(raw) };
                let file = canonical(&file).unwrap_or(file);
                let text = crate::config::read_task_file(&file).map_err(|e| invalid(e.to_string()))?;
                let rel = file.strip_prefix(&template).ok().map(Utf8Path::to_owned);
                (text, rel)
            }
        };
        if task_text.trim().is_empty() {
            return Err(invalid("task text cannot be empty"));
        }

        // Arms (W35: a harnessed arm needs a source; naming none is an error naming both forms).
        let arms = match (&request.artifact_source, request.arms.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(
                    "--artifact-source and --arm are exclusive: --artifact-source X means --arm plain=none --arm harnessed=X",
                ));
            }
            (None, true) => {
                return Err(invalid(
                    "name the harness to compare: --artifact-source DIR (plain vs harnessed), or --arm NAME=SOURCE \
                     (repeatable; SOURCE a .harnessgym directory, a workspace holding one, or none; the first arm is the baseline)",
                ));
            }
            (Some(source), true) => vec![
                ArmConfig { name: "plain".into(), bundle: None, source: "none".into() },
                ArmConfig {
                    name: "harnessed".into(),
                    bundle: Some(resolve_bundle(source, cwd)?),
                    source: source.clone(),
                },
            ],
            (None, false) => {
                let mut arms: Vec<ArmConfig> = Vec::new();
                for raw in &request.arms {
                    let (name, source) = raw.split_once('=').ok_or_else(|| {
                        invalid(format!("--arm {raw}: expected NAME=SOURCE (e.g. plain=none or harnessed=../ws)"))
                    })?;
                    if !valid_arm_name(name) {
                        return Err(invalid(format!(
                            "--arm {raw}: the name {name:?} must be a plain directory name (letters, digits, '-', '_', '.')"
                        )));
                    }
                    if arms.iter().any(|a| a.name == name) {
                        return Err(invalid(format!("--arm {raw}: the arm {name} is named twice")));
                    }
                    let bundle = if source == "none" { None } else { Some(resolve_bundle(source, cwd)?) };
                    arms.push(ArmConfig { name: name.into(), bundle, source: source.into() });
                }
                if arms.len() < 2 {
                    return Err(invalid("--arm: a comparison needs at least two arms (the first is the baseline)"));
                }
                arms
            }
        };

        let positive = |flag: &str, n: i64| -> Result<u32, CompareError> {
            match u32::try_from(n) {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(invalid(format!("{flag} must be between 1 and {}, got {n}", u32::MAX))),
            }
        };
        let trials = positive("--trials", request.trials)?;
        let iterations = positive("--iterations", request.iterations)?;
        if request.jobs == 0 {
            return Err(invalid("--jobs must be at least 1"));
        }
        if request.score_jobs == 0 {
            return Err(invalid("--score-jobs must be at least 1"));
        }
        for (flag, t) in [
            ("--attempt-timeout", request.attempt_timeout),
            ("--post-timeout", request.post_timeout),
            ("--build-timeout", request.build_timeout),
            ("--reflection-timeout", request.reflection_timeout),
        ] {
            if t.seconds() == 0 {
                return Err(invalid(format!("{flag}: must be positive")));
            }
        }
        if request.attempt_timeouts.as_ref().is_some_and(|s| s.0.contains(&0)) {
            return Err(invalid("--attempt-timeouts: must be positive"));
        }
        if let Some(cap) = request.max_cost_usd
            && !(cap.is_finite() && cap > 0.0)
        {
            return Err(invalid(format!("--max-cost-usd must be a positive number of US dollars, got {cap}")));
        }
        request.post_command.take_if(|c| c.trim().is_empty());
        if request.post_remote.is_some() && request.post_command.is_none() {
            return Err(invalid("--post-remote needs --post-command (the command to run there)"));
        }
        if request.post_remote.is_none()
            && (request.remote_port.is_some() || request.remote_root.is_some() || !request.remote_ssh_args.is_empty())
        {
            return Err(invalid(
                "--remote-port, --remote-root and --remote-ssh-arg only apply with --post-remote user@host",
            ));
        }
        if let Some(host) = &request.post_remote {
            crate::config::post_remote_workspace(
                &RemoteOptions {
                    post_attempt_host: Some(host.clone()),
                    port: request.remote_port,
                    root: request.remote_root.clone(),
                    ssh_args: request.remote_ssh_args.clone(),
                    ..RemoteOptions::default()
                },
                &template,
            )
            .map_err(|e| invalid(e.to_string().replace("--post-attempt-remote", "--post-remote")))?;
        }

        // The runner: its binary must exist now, not after the first trial.
        match request.runner {
            RunnerKind::Exec if find_program(&request.codex.bin).is_none() => {
                return Err(invalid(format!(
                    "the Codex CLI {:?} was not found (--codex-bin); install it (npm install -g @openai/codex) or pass its path",
                    request.codex.bin
                )));
            }
            RunnerKind::Claude if find_program(&request.claude.bin).is_none() => {
                return Err(invalid(format!(
                    "Claude Code {:?} was not found (--claude-bin); install it (npm install -g @anthropic-ai/claude-code) or pass its path",
                    request.claude.bin
                )));
            }
            RunnerKind::Command => {
                let profile = request.runner_profile.as_deref().ok_or_else(|| {
                    invalid("runner command needs --runner-profile FILE (a TOML profile of the agent CLI; see docs/runners.md)")
                })?;
                let path = absolute(profile, cwd);
                harnessgym_runners::command::Profile::load(&path).map_err(|e| invalid(e.to_string()))?;
                request.runner_profile = Some(path.to_string());
            }
            _ => {}
        }
        let model_script = match &request.model_script {
            Some(raw) => {
                if !matches!(request.runner, RunnerKind::Exec | RunnerKind::Claude) {
                    return Err(invalid(format!(
                        "--model-script works with --runner exec or --runner claude, not {}",
                        request.runner
                    )));
                }
                let p = absolute(raw, cwd);
                if !p.is_file() {
                    return Err(invalid(format!("model script {p} does not exist (--model-script)")));
                }
                Some(p)
            }
            None => None,
        };
        let prices = match &request.prices {
            Some(raw) => Some(prices::Prices::load(&absolute(raw, cwd)).map_err(|e| invalid(e.to_string()))?),
            None => None,
        };

        let seed_given = request.seed.is_some();
        let seed = request.seed.unwrap_or_else(random_seed);
        request.seed = Some(seed);
        let mut written = request.clone();
        written.remote_ssh_args = redacted(&request.remote_ssh_args);
        let recorded = RecordedCompare {
            format: CONFIG_FORMAT,
            request: written,
            cwd: cwd.to_owned(),
            created_at: harnessgym_types::timefmt::utc_now(),
            harnessgym_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let config = Self {
            request,
            output_dir,
            template,
            task_text,
            task_in_template,
            arms,
            trials,
            iterations,
            seed,
            seed_given,
            prices,
            model_script,
            resume: false,
            recorded,
        };
        if fresh {
            config.check_output_dir()?;
        }
        Ok(config)
    }

    /// A fresh compare refuses an output directory that already holds one, unless `--overwrite`.
    fn check_output_dir(&self) -> Result<(), CompareError> {
        if self.request.overwrite {
            return Ok(());
        }
        if self.output_dir.join(CONFIG_FILE).exists() {
            return Err(invalid(format!(
                "{} already holds a compare ({CONFIG_FILE}); pass --resume to finish it, --overwrite to replace it, or \
                 another --output-dir",
                self.output_dir
            )));
        }
        for arm in &self.arms {
            let first = self.output_dir.join(&arm.name).join("trial_1");
            if first.exists() {
                return Err(invalid(format!(
                    "trial directory already exists: {first}; pass --overwrite to replace it or another --output-dir"
                )));
            }
        }
        Ok(())
    }

    /// The design: block `i` holds trial `i` of every arm, in an order shuffled with the seed
    /// (seed + block, so adding trials keeps the earlier blocks' order).
    pub fn design(&self) -> Vec<Vec<(usize, u32)>> {
        (1..=self.trials)
            .map(|block| {
                let mut order: Vec<usize> = (0..self.arms.len()).collect();
                harnessgym_stats::seeded_shuffle(&mut order, self.seed.wrapping_add(u64::from(block)));
                order.into_iter().map(|arm| (arm, block)).collect()
            })
            .collect()
    }

    /// The environment a trial process needs besides its spec: the `--remote-ssh-arg` values
    /// that were redacted from it (see [`SSH_ARGS_ENV`]).
    pub fn trial_env(&self) -> Vec<(String, String)> {
        let args = &self.request.remote_ssh_args;
        if redacted(args) == *args {
            return Vec::new();
        }
        vec![(SSH_ARGS_ENV.to_owned(), serde_json::to_string(args).unwrap_or_default())]
    }

    fn state_dir(&self) -> Utf8PathBuf {
        self.output_dir.join(STATE_DIR)
    }

    /// The spec of trial `trial` of arm `arm`.
    pub fn trial_spec(&self, arm: &ArmConfig, trial: u32) -> TrialSpec {
        let trial_dir = self.output_dir.join(&arm.name).join(format!("trial_{trial}"));
        let workspace = trial_dir.join("workspace");
        let r = &self.request;
        let post_every = r.post_every_iteration && r.post_command.is_some();
        let remote_root =
            r.remote_root.as_ref().map(|root| format!("{}/{}-trial_{trial}", root.trim_end_matches('/'), arm.name));
        let options = RunOptions {
            iterations: i64::from(self.iterations),
            runner: r.runner,
            runner_profile: r.runner_profile.clone(),
            build_after_solve: false,
            stop_score: r.stop_score,
            score_key: r.score_key.clone(),
            higher_is_better: r.higher_is_better,
            task_state: r.task_state,
            attempt_only: true,
            timeouts: Timeouts {
                attempt: r.attempt_timeout,
                attempt_schedule: r.attempt_timeouts.clone(),
                build: r.build_timeout,
                reflection: Some(r.reflection_timeout),
            },
            codex: r.codex.clone(),
            claude: r.claude.clone(),
            post_attempt: harnessgym_types::options::PostAttemptOptions {
                command: if post_every { r.post_command.clone() } else { None },
                score_key: Some(r.post_score_key.clone()),
                timeout: r.post_timeout,
            },
            remote: RemoteOptions {
                post_attempt_host: r.post_remote.clone(),
                port: r.remote_port,
                root: remote_root,
                // Secrets reach the trial through SSH_ARGS_ENV, never the spec file.
                ssh_args: redacted(&r.remote_ssh_args),
                ..RemoteOptions::default()
            },
            qualification: harnessgym_types::options::QualificationOptions { enabled: false, ..Default::default() },
            ..RunOptions::default()
        };
        let task = self.task_in_template.as_ref().map(|rel| workspace.join(rel).to_string());
        let request = RunRequest {
            task,
            task_text: Some(self.task_text.clone()),
            workspace: workspace.to_string(),
            run_id: Some(format!("compare-{}-{trial}", arm.name)),
            model_script: None,
            options,
        };
        let model = match r.runner {
            RunnerKind::Exec => r.codex.model.clone(),
            RunnerKind::Claude => r.claude.model.clone(),
            _ => None,
        };
        TrialSpec {
            format: TRIAL_SPEC_FORMAT,
            arm: arm.name.clone(),
            trial,
            block: trial,
            trial_dir,
            store: self.state_dir().join("store"),
            template_snapshot: self.state_dir().join("template"),
            bundle: arm.bundle.clone(),
            request,
            post_command: r.post_command.clone(),
            post_score_key: r.post_score_key.clone(),
            post_timeout_seconds: r.post_timeout.seconds(),
            post_every_iteration: post_every,
            higher_is_better: r.higher_is_better,
            require_active_harness: r.require_active_harness,
            require_harness_tool_use: r.require_harness_tool_use,
            score_slots_dir: self.state_dir().join("score-slots"),
            // On Slurm each trial scores inside its own allocation: the slots never limit it.
            score_jobs: if r.executor == ExecutorKind::Slurm { r.jobs.max(1) } else { r.score_jobs },
            prices: self.prices.clone(),
            model,
            model_script: self.model_script.clone(),
        }
    }
}

fn random_seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// Progress of a compare, for the CLI to render.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CompareEvent {
    /// The seed (drawn when not given).
    Seed {
        /// The seed.
        seed: u64,
        /// It was given with `--seed`.
        given: bool,
    },
    /// The template was captured into the output directory's store.
    TemplateCaptured {
        /// Files captured.
        files: u64,
        /// How long it took.
        seconds: f64,
    },
    /// Trials kept from an earlier run of this compare (`--resume`).
    Kept {
        /// How many.
        count: usize,
    },
    /// A trial started.
    TrialStarted {
        /// Its arm.
        arm: String,
        /// Its number.
        trial: u32,
    },
    /// A trial reported progress (a line of its events file).
    TrialProgress {
        /// Its arm.
        arm: String,
        /// Its number.
        trial: u32,
        /// The event.
        event: Value,
    },
    /// A trial ended.
    TrialFinished {
        /// Its arm.
        arm: String,
        /// Its number.
        trial: u32,
        /// Its record, when it wrote one.
        record: Option<Box<TrialRecord>>,
        /// How its process ended, when it wrote none.
        problem: Option<String>,
    },
    /// Processes an earlier, killed compare left running were killed (the report says which).
    SurvivorsKilled {
        /// `killed 2 processes left by an interrupted command: pid …`.
        report: String,
    },
    /// The spend cap stopped new trials.
    BudgetReached {
        /// Spend so far.
        spent: f64,
        /// The cap.
        cap: f64,
    },
}

/// Receives [`CompareEvent`]s.
pub type CompareEventSink = Arc<dyn Fn(&CompareEvent) + Send + Sync>;

/// What a compare reports to its caller.
#[derive(Debug)]
pub struct CompareOutcome {
    /// `<out>/compare_report.json`.
    pub report_path: Utf8PathBuf,
    /// Its content.
    pub report: CompareReport,
    /// The verdict sentences (one per arm against the baseline).
    pub verdicts: Vec<String>,
    /// Trials that have no complete trial.json (cancelled, failed or left by the spend cap).
    pub unfinished: usize,
    /// The compare was cancelled.
    pub interrupted: bool,
}

/// A configured compare.
pub struct Compare {
    config: CompareConfig,
    executor: Arc<dyn executor::Executor>,
    events: Option<CompareEventSink>,
    cancel: watch::Receiver<bool>,
}

impl Compare {
    /// A compare of `config` whose trials `executor` runs.
    pub fn new(config: CompareConfig, executor: Arc<dyn executor::Executor>) -> Self {
        let (_tx, cancel) = watch::channel(false);
        Self { config, executor, events: None, cancel }
    }

    /// Sends progress to `sink`.
    pub fn with_events(mut self, sink: CompareEventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Stops running trials (no trial.json is written for them) and starts no more when `true`.
    pub fn with_cancel(mut self, cancel: watch::Receiver<bool>) -> Self {
        self.cancel = cancel;
        self
    }

    fn emit(&self, event: CompareEvent) {
        if let Some(sink) = &self.events {
            sink(&event);
        }
    }

    /// Runs the compare to its end and writes compare_report.json.
    pub async fn execute(self) -> Result<CompareOutcome, CompareError> {
        let cfg = &self.config;
        let out = &cfg.output_dir;
        let lock = WorkspaceLock::acquire_output_dir(out)?;
        if let Some(report) = crate::lock::survivors_report(lock.killed_survivors()) {
            self.emit(CompareEvent::SurvivorsKilled { report });
        }
        let setup = |what: &str, e: &dyn std::fmt::Display| CompareError::Setup(format!("{what}: {e}"));
        self.emit(CompareEvent::Seed { seed: cfg.seed, given: cfg.seed_given });
        if cfg.request.overwrite && !cfg.resume {
            for arm in &cfg.arms {
                let dir = out.join(&arm.name);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| setup(&format!("removing {dir}"), &e))?;
                }
            }
            for stale in [REPORT_FILE, CONFIG_FILE] {
                let _ = std::fs::remove_file(out.join(stale));
            }
            let state = cfg.state_dir();
            if state.exists() {
                std::fs::remove_dir_all(&state).map_err(|e| setup(&format!("removing {state}"), &e))?;
            }
        }
        // The template, captured once: every trial copies this snapshot, so a template edited
        // while the compare runs (or between a kill and --resume) changes nothing.
        let store_dir = cfg.state_dir().join("store");
        let snapshot = cfg.state_dir().join("template");
        let store = Store::open(&store_dir).map_err(|e| setup("opening the compare's snapshot store", &e))?;
        if !(cfg.resume && Store::is_snapshot(snapshot.as_std_path())) {
            let started = Instant::now();
            let policy =
                CopyPolicy::load(&cfg.template, Purpose::Copy).map_err(|e| setup("the template's copy policy", &e))?;
            let report = store
                .capture_as(&cfg.template, &snapshot, &policy, SnapshotView::ManifestOnly)
                .map_err(|e| setup("capturing the template", &e))?;
            self.emit(CompareEvent::TemplateCaptured {
                files: report.file_count as u64,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        if !cfg.resume {
            harnessgym_types::json::write_json(&out.join(CONFIG_FILE), &cfg.recorded)
                .map_err(|e| setup("recording the configuration", &e))?;
        }

        // The specs, in design order; complete trials are kept.
        let mut queued = Vec::new();
        let mut kept = 0;
        let mut spent = 0.0;
        for block in cfg.design() {
            for (arm_index, trial) in block {
                let spec = cfg.trial_spec(&cfg.arms[arm_index], trial);
                if let Some(record) = trial::complete_record(&spec.record_path()) {
                    kept += 1;
                    spent += record.budget.and_then(|b| b.cost_usd).unwrap_or(0.0);
                    continue;
                }
                std::fs::create_dir_all(&spec.trial_dir)
                    .map_err(|e| setup(&format!("creating {}", spec.trial_dir), &e))?;
                let spec_path = spec.trial_dir.join(TRIAL_SPEC_FILE);
                harnessgym_types::json::write_json(&spec_path, &spec).map_err(|e| setup("writing a trial spec", &e))?;
                queued.push(executor::QueuedTrial { spec, spec_path });
            }
        }
        if kept > 0 {
            self.emit(CompareEvent::Kept { count: kept });
        }
        let queue = executor::TrialQueue::new(queued, cfg.request.max_cost_usd, spent);
        let (done_tx, done_rx) = watch::channel(false);
        let run = async {
            self.executor.run(&queue, self.cancel.clone()).await;
            let _ = done_tx.send(true);
        };
        tokio::join!(run, self.follow(&queue, done_rx));

        let interrupted = *self.cancel.borrow();
        if let (true, Some(cap)) = (queue.stopped_by_budget(), cfg.request.max_cost_usd) {
            self.emit(CompareEvent::BudgetReached { spent: queue.spent(), cap });
        }
        let mut built = report::build(cfg, &queue, interrupted);
        if let Some(executor) = self.executor.describe() {
            built.report.extra.insert("executor".into(), executor);
        }
        let report_path = out.join(REPORT_FILE);
        harnessgym_types::json::write_json(&report_path, &built.report)
            .map_err(|e| setup("writing compare_report.json", &e))?;
        // compare_report.md and .html beside it, from the file just written (a failure to render
        // them never fails the compare: the JSON is the record).
        if let Err(e) = harnessgym_report::write_compare_report(out) {
            tracing::warn!("could not write the compare report's Markdown and HTML: {e}");
        }
        Ok(CompareOutcome {
            report_path,
            report: built.report,
            verdicts: built.verdicts,
            unfinished: built.unfinished,
            interrupted,
        })
    }

    /// Reports trials starting and ending, and the lines their events files gain meanwhile.
    async fn follow(&self, queue: &executor::TrialQueue, mut done: watch::Receiver<bool>) {
        let mut seen: std::collections::HashMap<Utf8PathBuf, u64> = std::collections::HashMap::new();
        let mut reported_exits = 0;
        loop {
            let finished = *done.borrow();
            let exits = queue.exits();
            for (trial, exit) in exits.iter().skip(reported_exits) {
                if !seen.contains_key(&trial.spec.events_path()) {
                    self.emit(CompareEvent::TrialStarted { arm: trial.spec.arm.clone(), trial: trial.spec.trial });
                }
                seen.insert(trial.spec.events_path(), u64::MAX);
                let record = trial::complete_record(&trial.spec.record_path()).map(Box::new);
                let problem = record.is_none().then(|| match exit {
                    executor::TrialExit::Exited { code } => {
                        let stderr = trial.spec.trial_dir.join("trial.stderr.txt");
                        let text = std::fs::read(&stderr)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
                        format!(
                            "no trial.json (exit code {}: {last}; see {stderr})",
                            code.map_or("none".into(), |c| c.to_string())
                        )
                    }
                    executor::TrialExit::Failed(e) => e.clone(),
                    executor::TrialExit::Cancelled => "interrupted".to_owned(),
                });
                self.emit(CompareEvent::TrialFinished {
                    arm: trial.spec.arm.clone(),
                    trial: trial.spec.trial,
                    record,
                    problem,
                });
            }
            reported_exits = exits.len();
            for trial in queue.running() {
                let path = trial.spec.events_path();
                let offset = seen.entry(path.clone()).or_insert_with(|| {
                    self.emit(CompareEvent::TrialStarted { arm: trial.spec.arm.clone(), trial: trial.spec.trial });
                    0
                });
                for event in read_new_lines(&path, offset) {
                    self.emit(CompareEvent::TrialProgress {
                        arm: trial.spec.arm.clone(),
                        trial: trial.spec.trial,
                        event,
                    });
                }
            }
            if finished {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), done.changed()).await;
        }
    }
}

/// The complete JSON lines appended to `path` since `offset` (advanced past them).
fn read_new_lines(path: &Utf8Path, offset: &mut u64) -> Vec<Value> {
    use std::io::{Read, Seek, SeekFrom};
    if *offset == u64::MAX {
        return Vec::new();
    }
    let Ok(mut file) = std::fs::File::open(path) else { return Vec::new() };
    if file.seek(SeekFrom::Start(*offset)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.take(1 << 20).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
    *offset += end as u64 + 1;
    bytes[..end].split(|b| *b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect()
}
