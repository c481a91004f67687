//! The options of a run as typed values, each written once: its flag, its key in
//! `run_config.json` / `progress.json`, its default and its set of choices.
//!
//! The CLI derives its `run` flags from these structs (the `clap` feature), core validates and
//! resolves them into a run configuration, and `run_config.json` is their serialization: every
//! group is flattened, so the file keeps the reference's flat keys (`codex_bin`,
//! `attempt_timeout_seconds`, …). An embedder builds them with `Default` and struct update syntax:
//!
//! ```
//! use harnessgym_types::options::{RunOptions, RunnerKind, TaskState, Timeout};
//!
//! let mut options = RunOptions { runner: RunnerKind::Fake, task_state: TaskState::Reset, ..RunOptions::default() };
//! options.timeouts.attempt = "10m".parse::<Timeout>().unwrap();
//! assert_eq!(options.timeouts.attempt.seconds(), 600);
//! assert_eq!(options.codex.bin, "codex");
//! ```
//!
//! Help texts and `display_order`s keep `harnessgym run --help` in the order users know.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{DurationError, parse_schedule, parse_timeout};

/// An error naming a choice that is not one of an option's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{option} must be one of: {choices}")]
pub struct ChoiceError {
    /// The option's key (`runner`, `task_state`, …), as the reference names it.
    pub option: &'static str,
    /// The accepted values, comma-separated.
    pub choices: &'static str,
}

/// Declares a closed set of choices: the enum, its names (`as_str`, `Display`, `FromStr`, serde)
/// and, with the `clap` feature, its `ValueEnum` — all from one list.
macro_rules! choices {
    (
        $(#[$meta:meta])*
        $name:ident ($key:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal $(| $alias:literal)* ),+ $(,)?
        }
        default $default:ident
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every choice, in the order help texts list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every accepted spelling, aliases after their choice (`exec`, `codex`, `claude`, …).
            pub const SPELLINGS: &'static [&'static str] = &[$($value $(, $alias)*),+];

            /// The choice's name as flags, files and messages spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $value, )+
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ChoiceError;

            fn from_str(s: &str) -> Result<Self, ChoiceError> {
                match s {
                    $( $value $(| $alias)* => Ok($name::$variant), )+
                    _ => Err(ChoiceError {
                        option: $key,
                        choices: concat!($($value, $(", ", $alias,)* ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "clap")]
        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    };
}

choices! {
    /// The agent backend of a run (`--runner`).
    RunnerKind("runner") {
        /// The Codex CLI (`codex exec`); also spelled `codex`.
        Exec = "exec" | "codex",
        /// Claude Code (`claude -p`).
        Claude = "claude",
        /// Any agent CLI described by a TOML profile (`--runner-profile`).
        Command = "command",
        /// The deterministic offline agent (demo and tests).
        Fake = "fake",
    }
    default Exec
}

#[cfg(feature = "clap")]
impl RunnerKind {
    /// `--runner`'s parser: its possible values list the `codex` alias too, as the reference's
    /// help does.
    pub fn value_parser() -> impl clap::builder::TypedValueParser<Value = RunnerKind> {
        use clap::builder::TypedValueParser;
        clap::builder::PossibleValuesParser::new(Self::SPELLINGS).try_map(|name| name.parse::<RunnerKind>())
    }
}

choices! {
    /// What an iteration starts from (`--task-state`).
    TaskState("task_state") {
        /// Edits compound across iterations.
        Continue = "continue",
        /// Every iteration starts from the workspace as it was when the run started.
        Reset = "reset",
    }
    default Continue
}

choices! {
    /// How ambitious the generated harness should be (`--harness-depth`).
    HarnessDepth("harness_depth") {
        /// One focused, reusable artifact.
        Standard = "standard",
        /// A richer harness: tools that explain, verify and search.
        Deep = "deep",
    }
    default Deep
}

choices! {
    /// The Codex sandbox (`--codex-sandbox`).
    CodexSandbox("codex_sandbox") {
        /// The agent can read but not write.
        ReadOnly = "read-only",
        /// The agent can write inside the workspace.
        WorkspaceWrite = "workspace-write",
        /// No sandbox at all.
        DangerFullAccess = "danger-full-access",
    }
    default WorkspaceWrite
}

choices! {
    /// The sandbox of every process HarnessGym starts from a bundle (`--bundle-sandbox`): MCP
    /// servers, smoke probes, self-tests, qualification.
    BundleSandbox("bundle_sandbox") {
        /// bubblewrap when it is installed and works here, else none (said once).
        Auto = "auto",
        /// bubblewrap, or refuse to start.
        Bwrap = "bwrap",
        /// No sandbox.
        Off = "none",
    }
    default Auto
}

choices! {
    /// Whether bundle processes keep the network (`--bundle-network`).
    BundleNetwork("bundle_network") {
        /// The network stays (a manifest's `"network": false` still cuts it for that server).
        On = "on",
        /// Cut for every bundle process (needs the sandbox).
        Off = "off",
    }
    default On
}

/// A phase timeout in whole seconds. Parsed from `45m`, `1h30m` or `90` (seconds), shown in the
/// same syntax, stored as a number of seconds (`*_timeout_seconds` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timeout(u64);

impl Timeout {
    /// A timeout of `seconds` (> 0 for a usable timeout; files may hold anything).
    pub const fn from_secs(seconds: u64) -> Self {
        Self(seconds)
    }

    /// The timeout in seconds.
    pub const fn seconds(self) -> u64 {
        self.0
    }

    /// As a [`std::time::Duration`].
    pub const fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

impl FromStr for Timeout {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse_timeout(s).map(Self)
    }
}

impl fmt::Display for Timeout {
    /// The shortest `<n>d<n>h<n>m<n>s` spelling (`2700` → `45m`, `5400` → `1h30m`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

/// Per-iteration attempt timeouts (`--attempt-timeouts 5m,10m`): iteration `i` takes entry `i`,
/// the last one repeating. Stored as a list of seconds; empty means "use `--attempt-timeout`".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeoutSchedule(pub Vec<u64>);

impl FromStr for TimeoutSchedule {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse_schedule(s).map(Self)
    }
}

impl fmt::Display for TimeoutSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|s| Timeout(*s).to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// `attempt_timeout_schedule_seconds` is a list in files: `[]` when there is no schedule.
mod schedule_as_list {
    use super::TimeoutSchedule;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<TimeoutSchedule>, serializer: S) -> Result<S::Ok, S::Error> {
        value.as_ref().map_or(&[][..], |s| &s.0[..]).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TimeoutSchedule>, D::Error> {
        let list = Option::<Vec<u64>>::deserialize(deserializer)?.unwrap_or_default();
        Ok((!list.is_empty()).then_some(TimeoutSchedule(list)))
    }
}

/// The phase timeouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct Timeouts {
    /// Attempt phase timeout, e.g. 45m, 1h30m, 90 (seconds).
    #[serde(rename = "attempt_timeout_seconds")]
    #[cfg_attr(feature = "clap", arg(id = "attempt_timeout", long = "attempt-timeout", value_name = "DUR",
        default_value_t = Timeouts::default().attempt, display_order = 5))]
    pub attempt: Timeout,
    /// Comma-separated per-iteration attempt timeouts (the last repeats); overrides --attempt-timeout.
    #[serde(rename = "attempt_timeout_schedule_seconds", with = "schedule_as_list")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "attempt_timeouts", long = "attempt-timeouts", value_name = "LIST", display_order = 6)
    )]
    pub attempt_schedule: Option<TimeoutSchedule>,
    /// Build (and repair) phase timeout.
    #[serde(rename = "build_timeout_seconds")]
    #[cfg_attr(feature = "clap", arg(id = "build_timeout", long = "build-timeout", value_name = "DUR",
        default_value_t = Timeouts::default().build, display_order = 7))]
    pub build: Timeout,
    /// Reflection phase timeout [default: the build timeout].
    #[serde(rename = "reflection_timeout_seconds")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "reflection_timeout", long = "reflection-timeout", value_name = "DUR", display_order = 8)
    )]
    pub reflection: Option<Timeout>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            attempt: Timeout::from_secs(45 * 60),
            attempt_schedule: None,
            build: Timeout::from_secs(20 * 60),
            reflection: None,
        }
    }
}

impl Timeouts {
    /// The attempt timeout of iteration `iteration` (1-based).
    pub fn attempt_for(&self, iteration: u32) -> Timeout {
        let schedule = self.attempt_schedule.as_ref().map_or(&[][..], |s| &s.0[..]);
        Timeout(crate::duration::scheduled_timeout(schedule, iteration, self.attempt.0))
    }

    /// The reflection timeout: its own, else the build timeout.
    pub fn reflection_or_build(&self) -> Timeout {
        self.reflection.unwrap_or(self.build)
    }
}

/// How the Codex CLI is run (`--runner exec`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct CodexOptions {
    /// Codex executable for the exec runner.
    #[serde(rename = "codex_bin")]
    #[cfg_attr(feature = "clap", arg(id = "codex_bin", long = "codex-bin", value_name = "PATH",
        default_value_t = CodexOptions::default().bin, display_order = 10))]
    pub bin: String,
    /// Codex sandbox: read-only, workspace-write or danger-full-access.
    #[serde(rename = "codex_sandbox")]
    #[cfg_attr(feature = "clap", arg(id = "codex_sandbox", long = "codex-sandbox", value_name = "CODEX_SANDBOX", value_enum,
        default_value_t = CodexSandbox::default(), display_order = 18))]
    pub sandbox: CodexSandbox,
    /// Codex approval policy (nobody answers approval prompts in exec mode).
    #[serde(rename = "codex_approval")]
    #[cfg_attr(feature = "clap", arg(id = "codex_approval", long = "codex-approval", value_name = "POLICY",
        default_value_t = CodexOptions::default().approval, display_order = 19))]
    pub approval: String,
    /// Model passed to Codex as --model.
    #[serde(rename = "codex_model")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "codex_model", long = "codex-model", value_name = "MODEL", display_order = 20)
    )]
    pub model: Option<String>,
    /// Extra argument for `codex exec`; repeatable; use --codex-extra-arg=--flag for values starting with '-'.
    #[serde(rename = "codex_extra_args")]
    #[cfg_attr(feature = "clap", arg(id = "codex_extra_arg", long = "codex-extra-arg", value_name = "ARG",
        action = clap::ArgAction::Append, allow_hyphen_values = true, display_order = 21))]
    pub extra_args: Vec<String>,
}

impl Default for CodexOptions {
    fn default() -> Self {
        Self {
            bin: "codex".into(),
            sandbox: CodexSandbox::default(),
            approval: "never".into(),
            model: None,
            extra_args: Vec::new(),
        }
    }
}

/// How Claude Code is run (`--runner claude`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct ClaudeOptions {
    /// Claude Code executable for the claude runner.
    #[serde(rename = "claude_bin")]
    #[cfg_attr(feature = "clap", arg(id = "claude_bin", long = "claude-bin", value_name = "PATH",
        default_value_t = ClaudeOptions::default().bin, display_order = 11))]
    pub bin: String,
    /// Model passed to Claude Code as --model.
    #[serde(rename = "claude_model")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "claude_model", long = "claude-model", value_name = "MODEL", display_order = 12)
    )]
    pub model: Option<String>,
    /// Permission mode passed to Claude Code (empty: omitted).
    #[serde(rename = "claude_permission_mode")]
    #[cfg_attr(feature = "clap", arg(id = "claude_permission_mode", long = "claude-permission-mode",
        value_name = "MODE", default_value_t = ClaudeOptions::default().permission_mode, display_order = 13))]
    pub permission_mode: String,
    /// Per-phase budget passed to Claude Code as --max-budget-usd.
    #[serde(rename = "claude_max_budget_usd")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "claude_max_budget_usd", long = "claude-max-budget-usd", value_name = "USD", display_order = 14)
    )]
    pub max_budget_usd: Option<f64>,
    /// Extra argument for Claude Code; repeatable; use --claude-extra-arg=--flag for values starting with '-'.
    #[serde(rename = "claude_extra_args")]
    #[cfg_attr(feature = "clap", arg(id = "claude_extra_arg", long = "claude-extra-arg", value_name = "ARG",
        action = clap::ArgAction::Append, allow_hyphen_values = true, display_order = 15))]
    pub extra_args: Vec<String>,
}

impl Default for ClaudeOptions {
    fn default() -> Self {
        Self {
            bin: "claude".into(),
            model: None,
            permission_mode: "bypassPermissions".into(),
            max_budget_usd: None,
            extra_args: Vec::new(),
        }
    }
}

/// The independent check run after every attempt (`--post-attempt-*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct PostAttemptOptions {
    /// Shell command that scores the workspace after every attempt; must print one JSON object.
    #[serde(rename = "post_attempt_command")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "post_attempt_command", long = "post-attempt-command", value_name = "CMD", display_order = 30)
    )]
    pub command: Option<String>,
    /// Key read from the post command's JSON [default: --score-key].
    #[serde(rename = "post_attempt_score_key")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "post_attempt_score_key", long = "post-attempt-score-key", value_name = "KEY", display_order = 31)
    )]
    pub score_key: Option<String>,
    /// Post command timeout.
    #[serde(rename = "post_attempt_timeout_seconds")]
    #[cfg_attr(feature = "clap", arg(id = "post_attempt_timeout", long = "post-attempt-timeout",
        value_name = "DUR", default_value_t = PostAttemptOptions::default().timeout, display_order = 32))]
    pub timeout: Timeout,
}

impl Default for PostAttemptOptions {
    fn default() -> Self {
        Self { command: None, score_key: None, timeout: Timeout::from_secs(120) }
    }
}

/// Remote hosts over SSH: the post command's, the agent CLI's, and how to reach them.
///
/// Serialized only when a host is named (`run_config.json` lists these keys only for remote
/// runs); then all six keys are written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct RemoteOptions {
    /// Run the post command on this host (user@host) over ssh; the workspace is synced there with rsync and back.
    #[serde(rename = "post_attempt_remote")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "post_attempt_remote", long = "post-attempt-remote", value_name = "HOST", display_order = 33)
    )]
    pub post_attempt_host: Option<String>,
    /// Run the agent CLI itself on this host (user@host) over ssh; needs the CLI and harnessgym there.
    #[serde(rename = "runner_remote")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "runner_remote", long = "runner-remote", value_name = "HOST", display_order = 34)
    )]
    pub runner_host: Option<String>,
    /// ssh port of the remote host [default: ssh's own, from ~/.ssh/config or 22].
    #[serde(rename = "remote_port")]
    #[cfg_attr(feature = "clap", arg(id = "remote_port", long = "remote-port", value_name = "N", display_order = 35))]
    pub port: Option<u16>,
    /// Directory of the workspace's copy on the remote host [default: ~/.harnessgym-remote/<workspace name>-<hash>].
    #[serde(rename = "remote_root")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "remote_root", long = "remote-root", value_name = "DIR", display_order = 36)
    )]
    pub root: Option<String>,
    /// Extra argument for ssh (also used by rsync); repeatable; use --remote-ssh-arg=-i for values starting with '-'.
    #[serde(rename = "remote_ssh_args")]
    #[cfg_attr(feature = "clap", arg(id = "remote_ssh_arg", long = "remote-ssh-arg", value_name = "ARG",
        action = clap::ArgAction::Append, allow_hyphen_values = true, display_order = 37))]
    pub ssh_args: Vec<String>,
    /// harnessgym on the --runner-remote host, for the MCP proxy [default: found on the remote PATH].
    #[serde(rename = "remote_harnessgym")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "remote_harnessgym", long = "remote-harnessgym", value_name = "PATH", display_order = 38)
    )]
    pub harnessgym: Option<String>,
}

impl RemoteOptions {
    /// Whether a remote host is named (blank names count as none).
    pub fn is_used(&self) -> bool {
        let named = |h: &Option<String>| h.as_deref().is_some_and(|h| !h.trim().is_empty());
        named(&self.post_attempt_host) || named(&self.runner_host)
    }
}

impl Serialize for RemoteOptions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if !self.is_used() {
            return serializer.serialize_map(Some(0))?.end();
        }
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("post_attempt_remote", &self.post_attempt_host)?;
        map.serialize_entry("runner_remote", &self.runner_host)?;
        map.serialize_entry("remote_port", &self.port)?;
        map.serialize_entry("remote_root", &self.root)?;
        map.serialize_entry("remote_ssh_args", &self.ssh_args)?;
        map.serialize_entry("remote_harnessgym", &self.harnessgym)?;
        map.end()
    }
}

/// Clean-room qualification of built artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct QualificationOptions {
    /// Skip fresh-workspace qualification.
    #[serde(rename = "qualify_artifacts")]
    #[cfg_attr(feature = "clap", arg(id = "no_qualify_artifacts", long = "no-qualify-artifacts",
        action = clap::ArgAction::SetFalse, overrides_with = "qualify_artifacts", display_order = 44))]
    pub enabled: bool,
    /// Qualify built artifacts in a fresh workspace after each build [default].
    // Only the flag: `--qualify-artifacts` cancels an earlier `--no-qualify-artifacts`.
    #[doc(hidden)]
    #[serde(skip)]
    #[cfg_attr(
        feature = "clap",
        arg(
            id = "qualify_artifacts",
            long = "qualify-artifacts",
            overrides_with = "no_qualify_artifacts",
            display_order = 43
        )
    )]
    pub qualify_artifacts_flag: bool,
    /// Same-session repair builds after a failed qualification (>= 0).
    #[serde(rename = "artifact_repair_attempts")]
    #[cfg_attr(feature = "clap", arg(id = "artifact_repair_attempts", long = "artifact-repair-attempts",
        value_name = "N", default_value_t = QualificationOptions::default().repair_attempts,
        allow_negative_numbers = true, display_order = 45))]
    pub repair_attempts: i64,
    /// Keep the qualification room (<run dir>/qualification/room) when the run ends.
    #[serde(rename = "keep_qualification_rooms")]
    #[cfg_attr(
        feature = "clap",
        arg(id = "keep_qualification_rooms", long = "keep-qualification-rooms", display_order = 46)
    )]
    pub keep_rooms: bool,
}

impl Default for QualificationOptions {
    fn default() -> Self {
        Self { enabled: true, qualify_artifacts_flag: false, repair_attempts: 1, keep_rooms: false }
    }
}

/// The bundle sandbox (`run`, `activate`, `qualify`, `mcp-proxy`; docs/runners.md, "Bundle
/// sandbox").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct SandboxOptions {
    /// Sandbox for processes started from the bundle (MCP servers, smoke probes, self-tests): auto = bubblewrap when it works here, else none.
    #[serde(rename = "bundle_sandbox")]
    #[cfg_attr(feature = "clap", arg(id = "bundle_sandbox", long = "bundle-sandbox", value_name = "MODE", value_enum,
        default_value_t = BundleSandbox::default(), display_order = 47))]
    pub mode: BundleSandbox,
    /// Network for bundle processes; off needs the sandbox (a manifest's "network": false cuts it for one server).
    #[serde(rename = "bundle_network")]
    #[cfg_attr(feature = "clap", arg(id = "bundle_network", long = "bundle-network", value_name = "ON_OFF", value_enum,
        default_value_t = BundleNetwork::default(), display_order = 48))]
    pub network: BundleNetwork,
}

/// Every option of a run except where it runs (task, workspace, run id): what `run_config.json`
/// records, flattened to the reference's keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct RunOptions {
    /// Maximum number of iterations (> 0).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = RunOptions::default().iterations,
        allow_negative_numbers = true, display_order = 4))]
    pub iterations: i64,
    /// Agent runner: exec (Codex CLI; alias codex), claude (Claude Code), command (a profile), fake (offline).
    #[cfg_attr(feature = "clap", arg(long, value_parser = RunnerKind::value_parser(),
        default_value_t = RunnerKind::default(), display_order = 9))]
    pub runner: RunnerKind,
    /// TOML profile describing the agent CLI for --runner command (see docs/runners.md).
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE", display_order = 17))]
    pub runner_profile: Option<String>,
    /// Still reflect and build after a verified solve.
    #[cfg_attr(feature = "clap", arg(long, display_order = 23))]
    pub build_after_solve: bool,
    /// Stop once the verified score reaches this value (inclusive).
    #[cfg_attr(feature = "clap", arg(long, value_name = "X", allow_negative_numbers = true, display_order = 24))]
    pub stop_score: Option<f64>,
    /// Key used to read scores.
    #[cfg_attr(feature = "clap", arg(long, value_name = "KEY", default_value_t = RunOptions::default().score_key,
        display_order = 25))]
    pub score_key: String,
    /// Higher scores are better (default: lower is better).
    #[cfg_attr(feature = "clap", arg(long, display_order = 26))]
    pub higher_is_better: bool,
    /// continue: edits compound across iterations; reset: every iteration starts from the initial workspace.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TaskState::default(), display_order = 27))]
    pub task_state: TaskState,
    /// How ambitious the generated harness should be.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = HarnessDepth::default(),
        display_order = 28))]
    pub harness_depth: HarnessDepth,
    /// Open-ended optimisation: baseline, improved/verified statuses, best checkpoint.
    #[cfg_attr(feature = "clap", arg(long, display_order = 39))]
    pub optimization_mode: bool,
    /// Keep the final iteration's files instead of restoring the best checkpoint.
    #[cfg_attr(feature = "clap", arg(id = "no_restore_best", long = "no-restore-best",
        action = clap::ArgAction::SetFalse, overrides_with = "restore_best", display_order = 41))]
    pub restore_best: bool,
    /// Restore the best verified checkpoint at the end (optimisation mode) [default].
    // Only the flag: `--restore-best` cancels an earlier `--no-restore-best`.
    #[doc(hidden)]
    #[serde(skip)]
    #[cfg_attr(
        feature = "clap",
        arg(id = "restore_best", long = "restore-best", overrides_with = "no_restore_best", display_order = 40)
    )]
    pub restore_best_flag: bool,
    /// Attempts only: no reflection, build or qualification (compare's plain trials).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub attempt_only: bool,
    /// Phase timeouts.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub timeouts: Timeouts,
    /// The Codex CLI's options.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub codex: CodexOptions,
    /// Claude Code's options.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub claude: ClaudeOptions,
    /// The post-attempt check.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub post_attempt: PostAttemptOptions,
    /// Remote hosts.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub remote: RemoteOptions,
    /// Artifact qualification.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub qualification: QualificationOptions,
    /// The bundle sandbox.
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub sandbox: SandboxOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            iterations: 3,
            runner: RunnerKind::default(),
            runner_profile: None,
            build_after_solve: false,
            stop_score: None,
            score_key: "score".into(),
            higher_is_better: false,
            task_state: TaskState::default(),
            harness_depth: HarnessDepth::default(),
            optimization_mode: false,
            restore_best: true,
            restore_best_flag: false,
            attempt_only: false,
            timeouts: Timeouts::default(),
            codex: CodexOptions::default(),
            claude: ClaudeOptions::default(),
            post_attempt: PostAttemptOptions::default(),
            remote: RemoteOptions::default(),
            qualification: QualificationOptions::default(),
            sandbox: SandboxOptions::default(),
        }
    }
}

impl RunOptions {
    /// The key read from the post command's JSON: its own, else the score key.
    pub fn post_attempt_score_key(&self) -> &str {
        self.post_attempt.score_key.as_deref().unwrap_or(&self.score_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_print_in_the_syntax_they_are_parsed_from() {
        for (secs, text) in
            [(2700, "45m"), (1200, "20m"), (120, "2m"), (5400, "1h30m"), (90, "1m30s"), (86_401, "1d1s")]
        {
            assert_eq!(Timeout::from_secs(secs).to_string(), text);
            assert_eq!(text.parse::<Timeout>().map(Timeout::seconds), Ok(secs));
        }
    }

    #[test]
    fn choices_parse_their_names_and_aliases_and_name_the_rest() {
        assert_eq!("codex".parse::<RunnerKind>(), Ok(RunnerKind::Exec));
        assert_eq!("danger-full-access".parse::<CodexSandbox>(), Ok(CodexSandbox::DangerFullAccess));
        let err = "tui-goal".parse::<RunnerKind>().unwrap_err();
        assert_eq!(err.to_string(), "runner must be one of: exec, codex, claude, command, fake");
        assert_eq!("x".parse::<TaskState>().unwrap_err().to_string(), "task_state must be one of: continue, reset");
    }

    #[test]
    fn options_serialize_to_the_reference_flat_keys_and_back() {
        let options = RunOptions::default();
        let value = serde_json::to_value(&options).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        for key in [
            "iterations",
            "runner",
            "attempt_timeout_seconds",
            "attempt_timeout_schedule_seconds",
            "build_timeout_seconds",
            "codex_bin",
            "codex_sandbox",
            "claude_extra_args",
            "post_attempt_timeout_seconds",
            "qualify_artifacts",
            "artifact_repair_attempts",
            "keep_qualification_rooms",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        assert!(!keys.contains(&"remote_port"), "remote keys only for remote runs");
        assert_eq!(value["attempt_timeout_seconds"], 2700);
        let back: RunOptions = serde_json::from_value(value).unwrap();
        assert_eq!(back, options);

        let remote = RunOptions {
            remote: RemoteOptions { runner_host: Some("me@host".into()), ..RemoteOptions::default() },
            ..RunOptions::default()
        };
        let value = serde_json::to_value(&remote).unwrap();
        assert_eq!(value["post_attempt_remote"], serde_json::Value::Null);
        assert_eq!(value["runner_remote"], "me@host");
        assert_eq!(serde_json::from_value::<RunOptions>(value).unwrap(), remote);
    }
}
