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
        let flags_of = |name: &str| -> Vec<String> {
            command
                .find_subcommand(name)
                .map(|c| c.get_arguments().map(|a| a.get_id().as_str().to_owned()).collect())
                .unwrap_or_default()
        };
        let (run_flags, compare_flags) = (flags_of("run"), flags_of("compare"));
        let matches = command.try_get_matches_from(argv)?;
        let mut cli = <Self as clap::FromArgMatches>::from_arg_matches(&matches)?;
        // Groups (`task_source`, …) are matched too; only flags count.
        let typed = |flags: Vec<String>, sub: &clap::ArgMatches| -> Vec<String> {
            flags
                .into_iter()
                .filter(|id| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
                .collect()
        };
        match (&mut cli.command, matches.subcommand()) {
            (Command::Run(args), Some(("run", sub))) => args.given = typed(run_flags, sub),
            (Command::Compare(args), Some(("compare", sub))) => args.given = typed(compare_flags, sub),
            _ => {}
        }
        Ok(cli)
    }
}

/// The one-line message of a timeout clap could not parse (`Some("--flag: reason")`), so that it
/// reads like every other refused value (`harnessgym: error: …`, exit 2) rather than clap's
/// multi-line usage error.
pub fn validation_message(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use std::error::Error as _;
    if error.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let reason = error.source()?.downcast_ref::<harnessgym_types::duration::DurationError>()?;
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split_whitespace().next().unwrap_or(arg);
    Some(format!("{flag}: {reason}"))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive an agent through attempt → reflect → build → qualify → activate iterations.
    Run(Box<RunArgs>),
    /// Replay the task from a clean template with and without a harness (or several), with equal budgets, and judge the difference.
    Compare(Box<CompareArgs>),
    /// Run one compare trial from its spec (what compare's executors run; every path in the spec is absolute).
    #[command(subcommand)]
    Trial(TrialCommand),
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
    /// Write the Markdown and HTML reports of a run, a compare, or a workspace's latest run, from their JSON files.
    #[command(
        long_about = "Write the Markdown and HTML reports of a run, a compare, or a workspace's latest run, from \
their JSON files.\n\nA run directory (<ws>/.harnessgym/runs/<id>) gets report.md and report.html; a compare output \
directory (holding compare_report.json) gets compare_report.md and compare_report.html beside it; a workspace gets \
the report of its latest run. Runs and compares write these themselves when they end; this command rewrites them, \
also for directories written by the Python reference (their statistics computed from the trials' post scores; what \
their files lack is shown as not recorded). Nothing is run."
    )]
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory, a compare output directory, or a workspace (its latest run).
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: String,
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
    /// Not inside the bundle or the template; its room/ and attempt_1/ must be absent or empty
    /// (nothing already there is deleted).
    #[arg(long, value_name = "DIR")]
    pub out: Option<String>,
    /// The bundle sandbox.
    #[command(flatten)]
    pub sandbox: harnessgym_types::options::SandboxOptions,
}

#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// Workspace whose .harnessgym/ bundle is activated.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: String,
    /// The bundle sandbox.
    #[command(flatten)]
    pub sandbox: harnessgym_types::options::SandboxOptions,
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
    /// The bundle sandbox of the server (activation writes the mode it resolved; its root, the
    /// writable directory, is --workspace, else --cwd).
    #[command(flatten)]
    pub sandbox: harnessgym_types::options::SandboxOptions,
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

/// `harnessgym run`: the run request (task, workspace and every option, defined once by core and
/// its option types) plus `--resume`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("task_source").required(true).args(["task", "task_text", "resume"]))]
pub struct RunArgs {
    /// Continue interrupted run RUN_ID of --workspace from its last completed phase, with the configuration it recorded.
    #[arg(long, value_name = "RUN_ID", display_order = 3)]
    pub resume: Option<String>,
    /// The run request.
    #[command(flatten)]
    pub request: harnessgym_core::RunRequest,
    /// Print the run's events as NDJSON on stdout (one JSON object per line, see docs/reports.md) instead of progress and result lines.
    #[arg(long, conflicts_with = "quiet", display_order = 900)]
    pub json: bool,
    /// Print no progress on stderr (the result lines are still printed on stdout).
    #[arg(long, display_order = 901)]
    pub quiet: bool,
    /// The ids of the flags given on the command line (filled by [`Cli::parse_args`]).
    #[arg(skip)]
    pub given: Vec<String>,
}

/// `harnessgym compare`: the compare request (the reference's flags and ours) plus `--resume`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Continue the compare recorded in --output-dir with its recorded configuration: finished trials are kept, the rest run.
    #[arg(long, display_order = 100)]
    pub resume: bool,
    /// The compare request.
    #[command(flatten)]
    pub request: harnessgym_core::compare::CompareRequest,
    /// Print the compare's events as NDJSON on stdout (one JSON object per line, see docs/reports.md) instead of progress and result lines.
    #[arg(long, conflicts_with = "quiet", display_order = 900)]
    pub json: bool,
    /// Print no progress on stderr (the result lines are still printed on stdout).
    #[arg(long, display_order = 901)]
    pub quiet: bool,
    /// The ids of the flags given on the command line (filled by [`Cli::parse_args`]).
    #[arg(skip)]
    pub given: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum TrialCommand {
    /// Run the trial a trial-spec.json describes and write its trial.json (a finished trial is not run again).
    Run(TrialRunArgs),
}

#[derive(Debug, Args)]
pub struct TrialRunArgs {
    /// The trial's trial-spec.json.
    #[arg(long, value_name = "FILE")]
    pub spec: String,
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
    fn restore_best_is_on_by_default() {
        let req = run_args(&["--task-text", "X", "--workspace", "."]).request;
        assert!(req.options.restore_best);
        assert!(req.options.qualification.enabled);
    }

    #[test]
    fn claude_extra_arg_takes_hyphen_values() {
        let r = run_args(&["--task-text", "X", "--claude-extra-arg=--verbose"]);
        assert_eq!(r.request.options.claude.extra_args, ["--verbose"]);
    }

    #[test]
    fn negated_flags_and_depth_default() {
        let req = run_args(&[
            "--task-text",
            "X",
            "--no-restore-best",
            "--no-qualify-artifacts",
            "--artifact-repair-attempts",
            "2",
            "--optimization-mode",
        ])
        .request
        .options;
        assert!(!req.restore_best && !req.qualification.enabled && req.optimization_mode);
        assert_eq!(req.qualification.repair_attempts, 2);
        assert_eq!(req.harness_depth, harnessgym_core::options::HarnessDepth::Deep);
    }

    #[test]
    fn task_and_task_text_are_exclusive() {
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
        assert_eq!((r.request.options.qualification.repair_attempts, r.request.options.iterations), (-1, 0));
    }
}
