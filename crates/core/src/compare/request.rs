//! What a user asks `harnessgym compare` for: the reference's flags (names and defaults), plus
//! arms, parallelism, seed, spend cap and remote scoring. Serialized as `compare_config.json`
//! so that `--resume` goes on with the very same configuration.

use harnessgym_types::options::{
    ClaudeOptions, CodexOptions, RunnerKind, SandboxOptions, TaskState, Timeout, TimeoutSchedule,
};

/// The `harnessgym compare` flags. Its `Default` holds the defaults; field names are the flags'
/// ids and the keys of `compare_config.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(group = clap::ArgGroup::new("compare_task").args(["task", "task_text"])))]
#[serde(default)]
pub struct CompareRequest {
    /// Task file; a path inside the template is read from each trial's own copy.
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH", display_order = 0))]
    pub task: Option<String>,
    /// Inline task text.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT", display_order = 1))]
    pub task_text: Option<String>,
    /// The clean task directory every trial starts from (captured once into the output dir).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", display_order = 2))]
    pub workspace_template: Option<String>,
    /// Where trials, logs and compare_report.json go.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", display_order = 3))]
    pub output_dir: Option<String>,
    /// The harness of the harnessed arm: a .harnessgym directory or a workspace holding one (same as --arm plain=none --arm harnessed=SOURCE).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", display_order = 4))]
    pub artifact_source: Option<String>,
    /// An arm NAME=SOURCE (SOURCE: a .harnessgym directory, a workspace holding one, or none); repeatable; the first is the baseline.
    #[serde(rename = "arm")]
    #[cfg_attr(feature = "cli", arg(id = "arm", long = "arm", value_name = "NAME=SOURCE",
        action = clap::ArgAction::Append, display_order = 5))]
    pub arms: Vec<String>,
    /// Trials per arm (> 0).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = CompareRequest::default().trials,
        allow_negative_numbers = true, display_order = 6))]
    pub trials: i64,
    /// Attempt iterations per trial (> 0).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = CompareRequest::default().iterations,
        allow_negative_numbers = true, display_order = 7))]
    pub iterations: i64,
    /// Attempt timeout, e.g. 5m, 1h30m, 90 (seconds).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DUR", default_value_t = CompareRequest::default().attempt_timeout,
        display_order = 8))]
    pub attempt_timeout: Timeout,
    /// Comma-separated per-iteration attempt timeouts (the last repeats); overrides --attempt-timeout.
    #[cfg_attr(feature = "cli", arg(long, value_name = "LIST", display_order = 9))]
    pub attempt_timeouts: Option<TimeoutSchedule>,
    /// Accepted for compatibility: trials only attempt (no build).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DUR", default_value_t = CompareRequest::default().build_timeout,
        display_order = 22))]
    pub build_timeout: Timeout,
    /// Accepted for compatibility: trials only attempt (no reflection).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DUR",
        default_value_t = CompareRequest::default().reflection_timeout, display_order = 22))]
    pub reflection_timeout: Timeout,
    /// Agent runner: exec (Codex CLI; alias codex), claude (Claude Code), command (a profile), fake (offline).
    #[cfg_attr(feature = "cli", arg(long, value_parser = RunnerKind::value_parser(),
        default_value_t = RunnerKind::default(), display_order = 9))]
    pub runner: RunnerKind,
    /// TOML profile describing the agent CLI for --runner command (see docs/runners.md).
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", display_order = 9))]
    pub runner_profile: Option<String>,
    /// The Codex CLI's options.
    #[serde(flatten)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub codex: CodexOptions,
    /// Claude Code's options.
    #[serde(flatten)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub claude: ClaudeOptions,
    /// Stop a trial early once its score reaches this value (inclusive).
    #[cfg_attr(feature = "cli", arg(long, value_name = "X", allow_negative_numbers = true, display_order = 30))]
    pub stop_score: Option<f64>,
    /// Key of the agent's result.json score.
    #[cfg_attr(feature = "cli", arg(long, value_name = "KEY", default_value_t = CompareRequest::default().score_key,
        display_order = 31))]
    pub score_key: String,
    /// Higher scores are better (default: lower is better).
    #[cfg_attr(feature = "cli", arg(long, display_order = 32))]
    pub higher_is_better: bool,
    /// reset: every iteration starts from the template; continue: edits compound across iterations.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = CompareRequest::default().task_state,
        display_order = 33))]
    pub task_state: TaskState,
    /// Accepted for compatibility: trials never build.
    #[cfg_attr(feature = "cli", arg(long, display_order = 34))]
    pub build_after_solve: bool,
    /// Shell command that scores a trial's workspace; must print one JSON object. Without it there are no verified scores.
    #[cfg_attr(feature = "cli", arg(long, value_name = "CMD", display_order = 35))]
    pub post_command: Option<String>,
    /// Key read from the post command's JSON (never falls back to another key).
    #[cfg_attr(feature = "cli", arg(long, value_name = "KEY", default_value_t = CompareRequest::default().post_score_key,
        display_order = 36))]
    pub post_score_key: String,
    /// Post command timeout.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DUR", default_value_t = CompareRequest::default().post_timeout,
        display_order = 37))]
    pub post_timeout: Timeout,
    /// Score the workspace only once, after the trial's last iteration (the reference's behaviour).
    #[cfg_attr(feature = "cli", arg(id = "no_post_every_iteration", long = "no-post-every-iteration",
        action = clap::ArgAction::SetFalse, overrides_with = "post_every_iteration", display_order = 39))]
    pub post_every_iteration: bool,
    /// Score the workspace after every attempt; a trial's score is its best verified one [default].
    #[doc(hidden)]
    #[serde(skip)]
    #[cfg_attr(
        feature = "cli",
        arg(
            id = "post_every_iteration",
            long = "post-every-iteration",
            overrides_with = "no_post_every_iteration",
            display_order = 38
        )
    )]
    pub post_every_iteration_flag: bool,
    /// A bundle that activates no generated MCP tool makes its trial invalid [default].
    #[doc(hidden)]
    #[serde(skip)]
    #[cfg_attr(
        feature = "cli",
        arg(
            id = "require_active_harness",
            long = "require-active-harness",
            overrides_with = "no_require_active_harness",
            display_order = 40
        )
    )]
    pub require_active_harness_flag: bool,
    /// Do not require a bundle's MCP tools to activate.
    #[cfg_attr(feature = "cli", arg(id = "no_require_active_harness", long = "no-require-active-harness",
        action = clap::ArgAction::SetFalse, overrides_with = "require_active_harness", display_order = 41))]
    pub require_active_harness: bool,
    /// A harnessed trial that records no MCP tool call is invalid.
    #[cfg_attr(
        feature = "cli",
        arg(
            id = "require_harness_tool_use",
            long = "require-harness-tool-use",
            overrides_with = "no_require_harness_tool_use",
            display_order = 42
        )
    )]
    pub require_harness_tool_use: bool,
    /// Do not require MCP tool calls [default].
    #[doc(hidden)]
    #[serde(skip)]
    #[cfg_attr(
        feature = "cli",
        arg(
            id = "no_require_harness_tool_use",
            long = "no-require-harness-tool-use",
            overrides_with = "require_harness_tool_use",
            display_order = 43
        )
    )]
    pub no_require_harness_tool_use_flag: bool,
    /// Replace trials already in the output directory instead of refusing.
    #[cfg_attr(feature = "cli", arg(long, display_order = 44))]
    pub overwrite: bool,
    /// Trials run at once.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = CompareRequest::default().jobs,
        display_order = 45))]
    pub jobs: u32,
    /// Post commands run at once, across trials (timing benchmarks must not share cores).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = CompareRequest::default().score_jobs,
        display_order = 46))]
    pub score_jobs: u32,
    /// Seed of the trial order and the bootstrap [default: random, printed and recorded].
    #[cfg_attr(feature = "cli", arg(long, value_name = "S", display_order = 47))]
    pub seed: Option<u64>,
    /// Start no new trial once the recorded spend reaches this many US dollars.
    #[cfg_attr(feature = "cli", arg(long, value_name = "USD", display_order = 48))]
    pub max_cost_usd: Option<f64>,
    /// TOML prices (model → USD per million input / cached input / output tokens) for runners that report no cost.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", display_order = 49))]
    pub prices: Option<String>,
    /// Run the post command on this host (user@host) over ssh; the trial's workspace is synced there and back.
    #[cfg_attr(feature = "cli", arg(long, value_name = "HOST", display_order = 50))]
    pub post_remote: Option<String>,
    /// ssh port of the remote host [default: ssh's own].
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", display_order = 51))]
    pub remote_port: Option<u16>,
    /// Directory of the workspace copies on the remote host [default: ~/.harnessgym-remote/<workspace name>-<hash>].
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", display_order = 52))]
    pub remote_root: Option<String>,
    /// Extra argument for ssh (also used by rsync); repeatable; use --remote-ssh-arg=-i for values starting with '-'.
    #[serde(rename = "remote_ssh_arg")]
    #[cfg_attr(feature = "cli", arg(id = "remote_ssh_arg", long = "remote-ssh-arg", value_name = "ARG",
        action = clap::ArgAction::Append, allow_hyphen_values = true, display_order = 53))]
    pub remote_ssh_args: Vec<String>,
    /// The bundle sandbox of every trial (the same in every arm).
    #[serde(flatten)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub sandbox: SandboxOptions,
    /// Rehearse the whole compare with the real CLI against a scripted model server on 127.0.0.1 (exec or claude; zero tokens).
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", display_order = 54))]
    pub model_script: Option<String>,
}

impl Default for CompareRequest {
    fn default() -> Self {
        Self {
            task: None,
            task_text: None,
            workspace_template: None,
            output_dir: None,
            artifact_source: None,
            arms: Vec::new(),
            trials: 1,
            iterations: 1,
            attempt_timeout: Timeout::from_secs(5 * 60),
            attempt_timeouts: None,
            build_timeout: Timeout::from_secs(1),
            reflection_timeout: Timeout::from_secs(1),
            runner: RunnerKind::default(),
            runner_profile: None,
            codex: CodexOptions::default(),
            claude: ClaudeOptions::default(),
            stop_score: None,
            score_key: "score".into(),
            higher_is_better: false,
            task_state: TaskState::Reset,
            build_after_solve: false,
            post_command: None,
            post_score_key: "score".into(),
            post_timeout: Timeout::from_secs(120),
            post_every_iteration: true,
            post_every_iteration_flag: false,
            require_active_harness_flag: false,
            require_active_harness: true,
            require_harness_tool_use: false,
            no_require_harness_tool_use_flag: false,
            overwrite: false,
            jobs: 1,
            score_jobs: 1,
            seed: None,
            max_cost_usd: None,
            prices: None,
            post_remote: None,
            remote_port: None,
            remote_root: None,
            remote_ssh_args: Vec::new(),
            sandbox: SandboxOptions::default(),
            model_script: None,
        }
    }
}

/// Flags that may differ on `--resume`: where the output is, and how many trials run at once
/// (a resumed compare may run on another machine; the design does not depend on it).
pub const RESUME_MAY_CHANGE: &[&str] = &["output_dir", "jobs", "overwrite"];

/// The `compare_config.json` key of a flag id: ids and keys are equal except for the flattened
/// runner groups, whose keys are the run's (`codex_extra_args` for `codex_extra_arg`).
pub fn recorded_key(id: &str) -> String {
    match id {
        "codex_extra_arg" => "codex_extra_args".into(),
        "claude_extra_arg" => "claude_extra_args".into(),
        other => other.to_owned(),
    }
}

/// The flags given on the command line whose values differ from the recorded configuration
/// (`--resume` refuses them, naming each). `given` holds clap ids.
pub fn resume_conflicts(given: &[String], request: &CompareRequest, recorded: &CompareRequest) -> Vec<String> {
    let (Ok(serde_json::Value::Object(now)), Ok(serde_json::Value::Object(then))) =
        (serde_json::to_value(request), serde_json::to_value(recorded))
    else {
        return Vec::new();
    };
    let mut conflicts = Vec::new();
    for id in given {
        // `--no-x` and `--x` share the recorded key `x`.
        let base = id.trim_start_matches("no_").trim_end_matches("_flag");
        let key = recorded_key(if now.contains_key(id.as_str()) { id } else { base });
        if RESUME_MAY_CHANGE.contains(&key.as_str()) || !now.contains_key(&key) {
            continue;
        }
        if now.get(&key) != then.get(&key) {
            let flag = format!("--{}", id.replace('_', "-"));
            let shown = |v: Option<&serde_json::Value>| v.map_or_else(|| "null".to_owned(), |v| v.to_string());
            conflicts.push(format!("{flag} {} (recorded: {})", shown(now.get(&key)), shown(then.get(&key))));
        }
    }
    conflicts.sort();
    conflicts.dedup();
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_refuses_only_given_flags_that_differ_from_the_recording() {
        let recorded = CompareRequest { trials: 4, seed: Some(7), jobs: 2, ..CompareRequest::default() };
        let mut typed = CompareRequest { trials: 4, jobs: 8, ..CompareRequest::default() };
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // The same value again, and a flag that may differ, are fine; defaults never count.
        assert!(resume_conflicts(&ids(&["trials", "jobs"]), &typed, &recorded).is_empty());
        typed.trials = 5;
        typed.post_every_iteration = false;
        typed.codex.extra_args = vec!["--x".into()];
        let conflicts =
            resume_conflicts(&ids(&["trials", "no_post_every_iteration", "codex_extra_arg"]), &typed, &recorded);
        assert_eq!(
            conflicts,
            [
                "--codex-extra-arg [\"--x\"] (recorded: [])",
                "--no-post-every-iteration false (recorded: true)",
                "--trials 5 (recorded: 4)"
            ]
        );
        // Not typed: the recorded value is used, whatever the parsed default says.
        assert!(resume_conflicts(&ids(&[]), &typed, &recorded).is_empty());
    }

    #[cfg(feature = "cli")]
    #[test]
    fn every_flag_id_has_a_recorded_key() {
        use clap::CommandFactory as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            request: CompareRequest,
        }
        let value = serde_json::to_value(CompareRequest::default()).unwrap();
        for arg in Wrapper::command().get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" {
                continue;
            }
            let base = id.trim_start_matches("no_");
            let key = recorded_key(if value.get(id).is_some() { id } else { base });
            assert!(value.get(&key).is_some(), "flag id {id} has no key in compare_config.json ({key})");
        }
    }
}
