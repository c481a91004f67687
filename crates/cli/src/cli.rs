//! Command-line definitions (clap). Names and defaults follow the reference's `run` flags.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "harnessgym",
    version,
    about = "Make coding agents better at hard, measurable tasks: let them build their own tools, and prove whether the tools help."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses `argv`, noting which `run` flags were typed (`--resume` refuses the others: the
    /// recorded configuration is the one the run goes on with).
    pub fn parse_args<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = <Self as clap::CommandFactory>::command();
        let run_flags: Vec<String> = command
            .find_subcommand("run")
            .map(|run| run.get_arguments().map(|a| a.get_id().as_str().to_owned()).collect())
            .unwrap_or_default();
        let matches = command.try_get_matches_from(argv)?;
        let mut cli = <Self as clap::FromArgMatches>::from_arg_matches(&matches)?;
        if let (Command::Run(args), Some(("run", sub))) = (&mut cli.command, matches.subcommand()) {
            // Groups (`task_source`, …) are matched too; only flags count.
            args.given = run_flags
                .into_iter()
                .filter(|id| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
                .collect();
        }
        Ok(cli)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive an agent through attempt → reflect → build → qualify → activate iterations.
    Run(Box<RunArgs>),
    /// Run the offline demo: the fake agent on a scratch copy of the bundled numerical-debug task.
    Demo(DemoArgs),
    /// Activate a workspace's .harnessgym bundle (skills, MCP servers) and print the report.
    Activate(ActivateArgs),
    /// Relay between an agent's MCP client and a server, logging every tools/call (used by activation).
    McpProxy(McpProxyArgs),
    /// Call a tool of an activated MCP server (or list its tools) through the telemetry proxy.
    McpCall(McpCallArgs),
    /// Qualify a hand-built .harnessgym bundle in a clean room made from a task directory.
    Qualify(QualifyArgs),
    /// Free disk space: remove snapshot-store objects that no snapshot (checkpoint, template, task state) uses.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Workspace whose .harnessgym/store is collected.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: String,
    /// Report what would be removed without removing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct QualifyArgs {
    /// The bundle: a .harnessgym directory, or a workspace that has one (never modified).
    #[arg(long, value_name = "DIR")]
    pub bundle: String,
    /// The clean task directory the room is copied from (with the run's copy policy).
    #[arg(long, value_name = "DIR")]
    pub template: String,
    /// Where the room and the report go [default: a new directory under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub out: Option<String>,
}

#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// Workspace whose .harnessgym/ bundle is activated.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: String,
}

#[derive(Debug, Args)]
pub struct McpProxyArgs {
    /// Server name recorded in telemetry.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub server_name: String,
    /// Workspace whose .harnessgym/mcp_calls.jsonl receives telemetry (unless HARNESSGYM_MCP_TELEMETRY_PATH is set).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<String>,
    /// Working directory of the server.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: String,
    /// Framing the server speaks.
    #[arg(long, value_name = "FRAMING", default_value = "ndjson", value_parser = ["ndjson", "content-length"])]
    pub server_framing: String,
    /// Seconds a request may wait for the server's reply before a JSON-RPC -32000 error is returned.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub response_timeout: f64,
    /// The server command.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["tool", "list_tools"]))]
pub struct McpCallArgs {
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: String,
    /// Server name (from activation.json, or a manifest under .harnessgym/mcp/).
    #[arg(long, value_name = "NAME")]
    pub server: String,
    /// Tool to call.
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// List the server's tools instead.
    #[arg(long)]
    pub list_tools: bool,
    /// Tool arguments as a JSON object.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub arguments: String,
    /// Read the tool arguments from a file (wins over --arguments).
    #[arg(long, value_name = "FILE")]
    pub arguments_file: Option<String>,
    /// Print the whole JSON-RPC result instead of the decoded payload.
    #[arg(long)]
    pub raw: bool,
    /// Seconds to wait for the tool (default: the server's tool timeout).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("task_source").required(true).args(["task", "task_text", "resume"]))]
pub struct RunArgs {
    /// Task file (markdown or text); relative paths are looked up in the current directory, then in the workspace.
    #[arg(long, value_name = "PATH")]
    pub task: Option<String>,
    /// Inline task text.
    #[arg(long, value_name = "TEXT")]
    pub task_text: Option<String>,
    /// Workspace root; must exist.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: String,
    /// Continue interrupted run RUN_ID of --workspace from its last completed phase, with the configuration it recorded.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Maximum number of iterations (> 0).
    #[arg(long, value_name = "N", default_value_t = 3, allow_negative_numbers = true)]
    pub iterations: i64,
    /// Attempt phase timeout, e.g. 45m, 1h30m, 90 (seconds).
    #[arg(long, value_name = "DUR", default_value = "45m")]
    pub attempt_timeout: String,
    /// Comma-separated per-iteration attempt timeouts (the last repeats); overrides --attempt-timeout.
    #[arg(long, value_name = "LIST")]
    pub attempt_timeouts: Option<String>,
    /// Build (and repair) phase timeout.
    #[arg(long, value_name = "DUR", default_value = "20m")]
    pub build_timeout: String,
    /// Reflection phase timeout [default: the build timeout].
    #[arg(long, value_name = "DUR")]
    pub reflection_timeout: Option<String>,
    /// Agent runner: exec (Codex CLI; alias codex), claude (Claude Code), command (a profile), fake (offline).
    #[arg(long, default_value = "exec", value_parser = ["exec", "codex", "claude", "command", "fake"])]
    pub runner: String,
    /// Codex executable for the exec runner.
    #[arg(long, value_name = "PATH", default_value = "codex")]
    pub codex_bin: String,
    /// Claude Code executable for the claude runner.
    #[arg(long, value_name = "PATH", default_value = "claude")]
    pub claude_bin: String,
    /// Model passed to Claude Code as --model.
    #[arg(long, value_name = "MODEL")]
    pub claude_model: Option<String>,
    /// Permission mode passed to Claude Code (empty: omitted).
    #[arg(long, value_name = "MODE", default_value = "bypassPermissions")]
    pub claude_permission_mode: String,
    /// Per-phase budget passed to Claude Code as --max-budget-usd.
    #[arg(long, value_name = "USD")]
    pub claude_max_budget_usd: Option<f64>,
    /// Extra argument for Claude Code; repeatable; use --claude-extra-arg=--flag for values starting with '-'.
    #[arg(long, value_name = "ARG", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub claude_extra_arg: Vec<String>,
    /// Rehearse with the real CLI against a scripted model server on 127.0.0.1 (exec or claude; zero tokens).
    #[arg(long, value_name = "FILE")]
    pub model_script: Option<String>,
    /// The ids of the flags given on the command line (filled by [`Cli::parse_args`]).
    #[arg(skip)]
    pub given: Vec<String>,
    /// TOML profile describing the agent CLI for --runner command (see docs/runners.md).
    #[arg(long, value_name = "FILE")]
    pub runner_profile: Option<String>,
    /// Codex sandbox: read-only, workspace-write or danger-full-access.
    #[arg(long, default_value = "workspace-write", value_parser = ["read-only", "workspace-write", "danger-full-access"])]
    pub codex_sandbox: String,
    /// Codex approval policy (nobody answers approval prompts in exec mode).
    #[arg(long, value_name = "POLICY", default_value = "never")]
    pub codex_approval: String,
    /// Model passed to Codex as --model.
    #[arg(long, value_name = "MODEL")]
    pub codex_model: Option<String>,
    /// Extra argument for `codex exec`; repeatable; use --codex-extra-arg=--flag for values starting with '-'.
    #[arg(long, value_name = "ARG", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub codex_extra_arg: Vec<String>,
    /// Run id [default: <UTC time>-<8 hex>]; must not exist yet.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Still reflect and build after a verified solve.
    #[arg(long)]
    pub build_after_solve: bool,
    /// Stop once the verified score reaches this value (inclusive).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub stop_score: Option<f64>,
    /// Key used to read scores.
    #[arg(long, value_name = "KEY", default_value = "score")]
    pub score_key: String,
    /// Higher scores are better (default: lower is better).
    #[arg(long)]
    pub higher_is_better: bool,
    /// continue: edits compound across iterations; reset: every iteration starts from the initial workspace.
    #[arg(long, default_value = "continue", value_parser = ["continue", "reset"])]
    pub task_state: String,
    /// How ambitious the generated harness should be.
    #[arg(long, default_value = "deep", value_parser = ["standard", "deep"])]
    pub harness_depth: String,
    /// Shell command that scores the workspace after every attempt; must print one JSON object.
    #[arg(long, value_name = "CMD")]
    pub post_attempt_command: Option<String>,
    /// Key read from the post command's JSON [default: --score-key].
    #[arg(long, value_name = "KEY")]
    pub post_attempt_score_key: Option<String>,
    /// Post command timeout.
    #[arg(long, value_name = "DUR", default_value = "2m")]
    pub post_attempt_timeout: String,
    /// Run the post command on this host (user@host) over ssh; the workspace is synced there with rsync and back.
    #[arg(long, value_name = "HOST")]
    pub post_attempt_remote: Option<String>,
    /// Run the agent CLI itself on this host (user@host) over ssh; needs the CLI and harnessgym there.
    #[arg(long, value_name = "HOST")]
    pub runner_remote: Option<String>,
    /// ssh port of the remote host [default: ssh's own, from ~/.ssh/config or 22].
    #[arg(long, value_name = "N")]
    pub remote_port: Option<u16>,
    /// Directory of the workspace's copy on the remote host [default: ~/.harnessgym-remote/<workspace name>-<hash>].
    #[arg(long, value_name = "DIR")]
    pub remote_root: Option<String>,
    /// Extra argument for ssh (also used by rsync); repeatable; use --remote-ssh-arg=-i for values starting with '-'.
    #[arg(long, value_name = "ARG", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub remote_ssh_arg: Vec<String>,
    /// harnessgym on the --runner-remote host, for the MCP proxy [default: found on the remote PATH].
    #[arg(long, value_name = "PATH")]
    pub remote_harnessgym: Option<String>,
    /// Open-ended optimisation: baseline, improved/verified statuses, best checkpoint.
    #[arg(long)]
    pub optimization_mode: bool,
    /// Restore the best verified checkpoint at the end (optimisation mode) [default].
    #[arg(long, overrides_with = "no_restore_best")]
    pub restore_best: bool,
    /// Keep the final iteration's files instead of restoring the best checkpoint.
    #[arg(long, overrides_with = "restore_best")]
    pub no_restore_best: bool,
    /// Qualify built artifacts in a fresh workspace after each build [default].
    #[arg(long, overrides_with = "no_qualify_artifacts")]
    pub qualify_artifacts: bool,
    /// Skip fresh-workspace qualification.
    #[arg(long, overrides_with = "qualify_artifacts")]
    pub no_qualify_artifacts: bool,
    /// Same-session repair builds after a failed qualification (>= 0).
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true)]
    pub artifact_repair_attempts: i64,
    /// Keep the qualification room (<run dir>/qualification/room) when the run ends.
    #[arg(long)]
    pub keep_qualification_rooms: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the scratch copy of the demo task [default: a new directory under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<String>,
    /// Iterations of the demo run.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub iterations: i64,
}

impl RunArgs {
    pub fn into_request(self) -> harnessgym_core::RunRequest {
        harnessgym_core::RunRequest {
            task: self.task,
            task_text: self.task_text,
            workspace: self.workspace,
            iterations: self.iterations,
            attempt_timeout: self.attempt_timeout,
            attempt_timeouts: self.attempt_timeouts,
            build_timeout: self.build_timeout,
            reflection_timeout: self.reflection_timeout,
            runner: self.runner,
            codex_bin: self.codex_bin,
            claude_bin: self.claude_bin,
            claude_model: self.claude_model,
            claude_permission_mode: self.claude_permission_mode,
            claude_max_budget_usd: self.claude_max_budget_usd,
            claude_extra_args: self.claude_extra_arg,
            codex_sandbox: self.codex_sandbox,
            codex_approval: self.codex_approval,
            codex_model: self.codex_model,
            codex_extra_args: self.codex_extra_arg,
            runner_profile: self.runner_profile,
            run_id: self.run_id,
            build_after_solve: self.build_after_solve,
            stop_score: self.stop_score,
            score_key: self.score_key,
            higher_is_better: self.higher_is_better,
            task_state: self.task_state,
            harness_depth: self.harness_depth,
            post_attempt_command: self.post_attempt_command,
            post_attempt_score_key: self.post_attempt_score_key,
            post_attempt_timeout: self.post_attempt_timeout,
            optimization_mode: self.optimization_mode,
            restore_best: !self.no_restore_best,
            qualify_artifacts: !self.no_qualify_artifacts,
            artifact_repair_attempts: self.artifact_repair_attempts,
            keep_qualification_rooms: self.keep_qualification_rooms,
            attempt_only: false,
            post_attempt_remote: self.post_attempt_remote,
            runner_remote: self.runner_remote,
            remote_port: self.remote_port,
            remote_root: self.remote_root,
            remote_ssh_args: self.remote_ssh_arg,
            remote_harnessgym: self.remote_harnessgym,
            model_script: self.model_script,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let mut argv = vec!["harnessgym", "run"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(r) => *r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn statement_1_restore_best_is_on_by_default() {
        let req = run_args(&["--task-text", "X", "--workspace", "."]).into_request();
        assert!(req.restore_best);
        assert!(req.qualify_artifacts);
    }

    #[test]
    fn statement_2_claude_extra_arg_takes_hyphen_values() {
        let r = run_args(&["--task-text", "X", "--claude-extra-arg=--verbose"]);
        assert_eq!(r.claude_extra_arg, ["--verbose"]);
    }

    #[test]
    fn statement_3_negated_flags_and_depth_default() {
        let req = run_args(&[
            "--task-text",
            "X",
            "--no-restore-best",
            "--no-qualify-artifacts",
            "--artifact-repair-attempts",
            "2",
            "--optimization-mode",
        ])
        .into_request();
        assert!(!req.restore_best && !req.qualify_artifacts && req.optimization_mode);
        assert_eq!(req.artifact_repair_attempts, 2);
        assert_eq!(req.harness_depth, "deep");
    }

    #[test]
    fn statement_11_task_and_task_text_are_exclusive() {
        let err = Cli::try_parse_from(["harnessgym", "run", "--task", "a.md", "--task-text", "x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn bad_runner_is_a_usage_error_and_tui_goal_is_gone() {
        let err = Cli::try_parse_from(["harnessgym", "run", "--task-text", "x", "--runner", "tui-goal"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn negative_numbers_reach_validation() {
        let r = run_args(&["--task-text", "X", "--artifact-repair-attempts", "-1", "--iterations", "0"]);
        assert_eq!((r.artifact_repair_attempts, r.iterations), (-1, 0));
    }
}
