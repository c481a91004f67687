//! The same process contract on a remote host, over the system `ssh` and `rsync`.
//!
//! The system binaries are used on purpose (no SSH library): `~/.ssh/config`, agents, jump hosts,
//! `ControlMaster` multiplexing and known-hosts handling all work as they do for the user's own
//! `ssh`. [`run_remote`] does, in order:
//!
//! 1. **Preflight** (one `ssh`): creates the remote directory and its control directory
//!    (`<dir>/.harnessgym/remote/`), checks that `rsync`, `setsid` and [`RemoteSpec::require`]
//!    exist there. An unreachable host is [`RemoteError::Unreachable`] naming the host and ssh's
//!    own message; a missing remote program is [`RemoteError::MissingOnRemote`].
//! 2. **Push**: `rsync --recursive --links --perms --times --delete` of the local directory to the
//!    remote one, with [`RemoteSpec::filter_rules`]. Excluded paths are neither sent nor deleted
//!    on the receiving side (rsync protects excluded files from `--delete`).
//! 3. **Command**: `ssh … exec /bin/sh -c '<wrapper>'`; the wrapper `cd`s into the remote
//!    directory, exports [`RemoteSpec::env`], and starts the command under `setsid -w` in its
//!    own session and process group, whose id it writes to a control file. stdin, stdout and
//!    stderr ride the ssh connection; output is streamed to the local files as in [`crate::run`].
//! 4. **Timeout / cancellation**: a *second* `ssh` reads the control file and sends `SIGTERM` to
//!    the remote group, waits [`RemoteSpec::kill_grace`], then `SIGKILL`s what is left
//!    ([`RemoteOutcome::remote_pgid`] reports the group); then the local `ssh`'s own group is
//!    terminated (SIGTERM, grace, SIGKILL). A cancel marker closes the race with a command that
//!    was still starting.
//! 5. **Pull**: the remote directory is mirrored back (`--delete`, same filter rules, plus
//!    [`RemoteSpec::pull_only_rules`]) when [`RemoteSpec::sync_back`] is set — also after a
//!    timeout or a failure, never after a cancellation.
//!
//! Each step's argv (SetEnv values redacted) and output go to [`RemoteSpec::log_path`].
//!
//! # Known limits
//!
//! * The remote login shell must accept `exec /bin/sh -c '…'` (any POSIX shell does); the remote
//!   host needs `/bin/sh`, `setsid` (util-linux) and `rsync`.
//! * Remote directories are restricted to a safe character set ([`normalize_remote_dir`]), so
//!   they need no quoting in rsync's remote syntax.
//! * A remote process that leaves the group with `setsid()` escapes the kill, as locally.
//! * If the `run_remote` future is dropped half-way, the local `ssh` is killed but the remote
//!   group is not (no async drop); it then dies on its next write to the closed connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use camino::{Utf8Path, Utf8PathBuf};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::{CommandSpec, DEFAULT_KILL_GRACE, Outcome, ProcError, StdinSource};

/// Default limit for each rsync transfer (push or pull).
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Default `ssh -o ConnectTimeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The remote control directory, relative to the remote workspace (excluded from every sync
/// because `.harnessgym` or `.harnessgym/remote` always is).
pub const REMOTE_CONTROL_DIR: &str = ".harnessgym/remote";

/// Where remote workspaces go by default, relative to the remote home directory.
pub const DEFAULT_REMOTE_BASE: &str = ".harnessgym-remote";

/// Output of one step kept for error messages.
const STEP_OUTPUT_LIMIT: usize = 64 * 1024;

/// Largest wrapper script sent as the remote command (Linux caps one argument at 128 KiB, and
/// the remote sshd hands the whole command to the login shell as one argument).
pub const MAX_SCRIPT_BYTES: usize = 120 * 1024;

/// Extra time the preflight and kill connections get beyond the connect timeout.
const CONTROL_SLACK: Duration = Duration::from_secs(30);

/// A host reached with the system `ssh`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteHost {
    /// `user@host` or an alias from `~/.ssh/config`.
    pub destination: String,
    /// `ssh -p`.
    pub port: Option<u16>,
    /// Extra `ssh` arguments (before the built-in options, so they win: ssh keeps the first
    /// value of each option).
    pub ssh_args: Vec<String>,
    /// The local `ssh` program.
    pub ssh_program: String,
    /// The local `rsync` program.
    pub rsync_program: String,
    /// `ssh -o ConnectTimeout`.
    pub connect_timeout: Duration,
}

impl RemoteHost {
    /// A host with the system `ssh` and `rsync`, default port and options.
    pub fn new(destination: impl Into<String>) -> Self {
        Self {
            destination: destination.into(),
            port: None,
            ssh_args: Vec::new(),
            ssh_program: "ssh".into(),
            rsync_program: "rsync".into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// `user@host` or `user@host (port N)`, for messages.
    pub fn describe(&self) -> String {
        match self.port {
            Some(port) => format!("{} (port {port})", self.destination),
            None => self.destination.clone(),
        }
    }

    /// Why this destination cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), RemoteTargetError> {
        validate_destination(&self.destination)
    }

    /// Every ssh option: the port, the user's arguments, then ours.
    fn ssh_options(&self) -> Vec<String> {
        let mut options = Vec::new();
        if let Some(port) = self.port {
            options.push("-p".to_owned());
            options.push(port.to_string());
        }
        options.extend(self.ssh_args.iter().cloned());
        options.push("-T".to_owned());
        for option in [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={}", self.connect_timeout.as_secs().max(1)),
            "ServerAliveInterval=15".to_owned(),
            "ServerAliveCountMax=3".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            options.push("-o".to_owned());
            options.push(option);
        }
        options
    }

    /// `ssh <options> -- <destination> exec /bin/sh -c '<script>'`.
    fn ssh_argv(&self, script: &str) -> Vec<String> {
        let mut argv = self.ssh_options();
        argv.push("--".to_owned());
        argv.push(self.destination.clone());
        argv.push(format!("exec /bin/sh -c {}", sh_quote(script)));
        argv
    }

    /// rsync's `-e` value: ssh and its options, quoted the way rsync splits them.
    fn rsync_shell(&self) -> String {
        std::iter::once(self.ssh_program.as_str())
            .chain(self.ssh_options().iter().map(String::as_str))
            .map(rsync_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `destination:dir/` in rsync's syntax (IPv6 hosts in brackets).
    fn rsync_location(&self, dir: &str) -> String {
        let (user, host) = match self.destination.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, self.destination.as_str()),
        };
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
        match user {
            Some(user) => format!("{user}@{host}:{dir}/"),
            None => format!("{host}:{dir}/"),
        }
    }
}

/// A directory on a remote host: where a workspace is mirrored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteWorkspace {
    pub host: RemoteHost,
    /// Normalised by [`normalize_remote_dir`]: absolute, or relative to the remote home.
    pub dir: String,
}

impl RemoteWorkspace {
    /// `user@host:dir`, for messages and records.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.host.describe(), self.dir)
    }
}

/// `~` and `~/x` become relative to the remote home (`.` and `x`: every ssh session starts
/// there); absolute paths stay. Only `A-Z a-z 0-9 . _ - + @ , = /` are accepted (no spaces, no
/// shell or rsync metacharacters), and no `..` component.
pub fn normalize_remote_dir(raw: &str) -> Result<String, RemoteTargetError> {
    let trimmed = raw.trim();
    let rel = if trimmed == "~" {
        "."
    } else if let Some(rest) = trimmed.strip_prefix("~/") {
        rest
    } else {
        trimmed
    };
    let rel = rel.trim_end_matches('/');
    let rel = if rel.is_empty() && trimmed.starts_with('/') { "/" } else { rel };
    if rel.is_empty() {
        return Err(RemoteTargetError::EmptyDir);
    }
    if let Some(bad) = rel.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-+@,=/".contains(*c))) {
        return Err(RemoteTargetError::DirCharacter { dir: raw.to_owned(), bad });
    }
    if rel.split('/').any(|part| part == "..") {
        return Err(RemoteTargetError::DirParent { dir: raw.to_owned() });
    }
    if rel == "/" || rel == "." {
        return Err(RemoteTargetError::DirHomeOrRoot { dir: raw.to_owned() });
    }
    Ok(rel.to_owned())
}

/// `.harnessgym-remote/<workspace name>-<8 hex digits of its local path>` (relative to the
/// remote home), so two local workspaces with the same name never share a remote copy.
pub fn default_remote_dir(local_dir: &Utf8Path) -> String {
    let name: String = local_dir
        .file_name()
        .unwrap_or("workspace")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-+".contains(c) { c } else { '_' })
        .collect();
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "workspace" } else { name };
    // FNV-1a: stable across releases and platforms (std's hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for byte in local_dir.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{DEFAULT_REMOTE_BASE}/{name}-{hash:08x}")
}

/// Why an ssh destination is unusable: empty, whitespace or control characters, or a leading
/// `-` (it would be read as an ssh option).
pub fn validate_destination(destination: &str) -> Result<(), RemoteTargetError> {
    let host = || destination.to_owned();
    if destination.is_empty() {
        return Err(RemoteTargetError::EmptyHost);
    }
    if destination.starts_with('-') {
        return Err(RemoteTargetError::HostDash { host: host() });
    }
    if destination.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RemoteTargetError::HostWhitespace { host: host() });
    }
    Ok(())
}

/// Why a remote host or directory cannot be used; each message says what to pass instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteTargetError {
    /// The remote directory is empty.
    #[error("the remote directory is empty; pass a directory such as ~/.harnessgym-remote/task")]
    EmptyDir,
    /// The remote directory holds a character outside the safe set.
    #[error(
        "remote directory {dir:?} contains {bad:?}; use only letters, digits and . _ - + @ , = / (and a leading ~/)"
    )]
    DirCharacter {
        /// The directory as given.
        dir: String,
        /// The first character refused.
        bad: char,
    },
    /// The remote directory has a `..` component.
    #[error("remote directory {dir:?} contains `..`; pass a plain path")]
    DirParent {
        /// The directory as given.
        dir: String,
    },
    /// The remote directory is a home or root directory, which the mirror would delete files in.
    #[error(
        "remote directory {dir:?} is a home or root directory; the mirror deletes files there: pass a directory of its own"
    )]
    DirHomeOrRoot {
        /// The directory as given.
        dir: String,
    },
    /// The remote host is empty.
    #[error("the remote host is empty; pass user@host or a Host alias from ~/.ssh/config")]
    EmptyHost,
    /// The remote host starts with `-` (ssh would read an option).
    #[error("remote host {host:?} starts with '-'; pass user@host")]
    HostDash {
        /// The host as given.
        host: String,
    },
    /// The remote host holds whitespace or control characters.
    #[error("remote host {host:?} contains whitespace; pass user@host")]
    HostWhitespace {
        /// The host as given.
        host: String,
    },
}

/// ssh arguments safe to record: the value of every `SetEnv` option is replaced (it may carry a
/// secret); everything else is kept.
pub fn redact_ssh_args(args: &[String]) -> Vec<String> {
    args.iter()
        .map(|arg| {
            let lower = arg.to_ascii_lowercase();
            match lower.find("setenv") {
                Some(at) => format!("{}=<redacted>", &arg[..at + "setenv".len()]),
                None => arg.clone(),
            }
        })
        .collect()
}

/// A command to run in a remote mirror of a local directory.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    pub target: RemoteWorkspace,
    /// The local directory mirrored to [`RemoteWorkspace::dir`]; also the local `cwd` of every
    /// `ssh` / `rsync` started.
    pub local_dir: Utf8PathBuf,
    /// Program and arguments run in the remote directory (no shell unless you ask for one:
    /// see [`RemoteSpec::shell`]).
    pub program: String,
    pub args: Vec<String>,
    /// Exported on the remote side (names must be shell identifiers). Values ride the ssh
    /// argv: never put secrets here.
    pub env: Vec<(String, String)>,
    /// Delivered to the remote command over the ssh connection.
    pub stdin: StdinSource,
    pub stdout_path: Utf8PathBuf,
    pub stderr_path: Utf8PathBuf,
    /// The steps' argv and output (preflight, push, pull, kill), appended.
    pub log_path: Utf8PathBuf,
    /// Limit for the remote command (not counting the syncs).
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL, remotely and for the local ssh.
    pub kill_grace: Duration,
    /// Limit for each rsync transfer.
    pub sync_timeout: Duration,
    /// rsync filter rules for both directions (`- pattern`, `+ pattern`).
    pub filter_rules: Vec<String>,
    /// Rules put before [`Self::filter_rules`] when pulling only.
    pub pull_only_rules: Vec<String>,
    /// Mirror the remote directory back after the command (not after a cancellation).
    pub sync_back: bool,
    /// Programs that must exist on the remote host (checked before anything is synced).
    pub require: Vec<String>,
    /// Text files written into the remote directory after the push, before the command
    /// (relative path, content): e.g. configs whose local paths were translated. Together with
    /// [`Self::links`] and the env they ride the ssh argv: keep them small (the script is
    /// capped at [`MAX_SCRIPT_BYTES`]) and free of secrets.
    pub files: Vec<(String, String)>,
    /// Symlinks (re)created in the remote directory after the push (relative path, target).
    pub links: Vec<(String, String)>,
}

impl RemoteSpec {
    /// `program` in `target`, mirroring `local_dir`, with default timeouts and no filters.
    pub fn new(
        target: RemoteWorkspace,
        local_dir: impl Into<Utf8PathBuf>,
        program: impl Into<String>,
        stdout_path: impl Into<Utf8PathBuf>,
        stderr_path: impl Into<Utf8PathBuf>,
        log_path: impl Into<Utf8PathBuf>,
    ) -> Self {
        Self {
            target,
            local_dir: local_dir.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: StdinSource::Null,
            stdout_path: stdout_path.into(),
            stderr_path: stderr_path.into(),
            log_path: log_path.into(),
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            sync_timeout: DEFAULT_SYNC_TIMEOUT,
            filter_rules: Vec::new(),
            pull_only_rules: Vec::new(),
            sync_back: true,
            require: Vec::new(),
            files: Vec::new(),
            links: Vec::new(),
        }
    }

    /// `/bin/sh -c <command_line>` on the remote host.
    pub fn shell(
        target: RemoteWorkspace,
        local_dir: impl Into<Utf8PathBuf>,
        command_line: &str,
        stdout_path: impl Into<Utf8PathBuf>,
        stderr_path: impl Into<Utf8PathBuf>,
        log_path: impl Into<Utf8PathBuf>,
    ) -> Self {
        let mut spec = Self::new(target, local_dir, "/bin/sh", stdout_path, stderr_path, log_path);
        spec.args = vec!["-c".into(), command_line.into()];
        spec
    }
}

/// What happened to a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutcome {
    /// The remote command's exit code (`None` after a timeout or cancellation). 255 can also be
    /// ssh's own failure (the connection broke): see stderr.
    pub return_code: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// From the start of the command's ssh until it ended (syncs not included).
    pub duration: Duration,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The remote process group, when it had to be killed.
    pub remote_pgid: Option<u32>,
    /// What the remote kill did, or why it could not (after a timeout or cancellation).
    pub remote_kill: Option<String>,
    /// The remote directory was mirrored back.
    pub synced_back: bool,
    /// Why it was not, when it was wanted (the command ran, its results stayed remote).
    pub sync_back_error: Option<String>,
    /// The local ssh process (its own process group).
    pub local_pid: u32,
}

impl RemoteOutcome {
    /// Exited on its own with code 0.
    pub fn success(&self) -> bool {
        self.return_code == Some(0)
    }
}

/// Why a remote command could not run. Every message names the host.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `ssh` or `rsync` is missing on this machine.
    #[error("{program} is not installed on this machine; {hint}")]
    LocalProgramMissing { program: String, hint: &'static str },
    /// ssh could not connect or log in (or the preflight timed out).
    #[error("cannot reach {host} over ssh: {detail}")]
    Unreachable { host: String, detail: String },
    /// A program the command needs is not on the remote host.
    #[error("{program} was not found on {host} (remote PATH); {hint}")]
    MissingOnRemote { host: String, program: String, hint: String },
    /// The remote directory could not be created.
    #[error("cannot create the remote directory {dir} on {host}: {detail}")]
    RemoteDir { host: String, dir: String, detail: String },
    /// rsync failed.
    #[error("syncing the workspace {direction} {host} failed: {detail}")]
    Sync { host: String, direction: &'static str, detail: String },
    /// The run was interrupted before the command started.
    #[error("interrupted while {stage} {host}")]
    Interrupted { host: String, stage: &'static str },
    /// The spec cannot be run as given.
    #[error("{0}")]
    Invalid(String),
    /// The host or directory cannot be used.
    #[error(transparent)]
    Target(#[from] RemoteTargetError),
    /// A local file (output, log) failed.
    #[error(transparent)]
    Local(#[from] ProcError),
}

fn install_hint(program: &str) -> &'static str {
    match program {
        "rsync" => "install rsync (Debian/Ubuntu: apt-get install rsync)",
        "setsid" => "install util-linux (it provides setsid)",
        _ => "install it there or pass its absolute path",
    }
}

/// The output of one finished step.
struct Step {
    outcome: Outcome,
    output: String,
}

impl Step {
    fn tail(&self) -> String {
        let text = self.output.lines().filter(|l| !l.starts_with("harnessgym-")).collect::<Vec<_>>().join("\n");
        let text = text.trim();
        if text.is_empty() {
            return match self.outcome.return_code {
                Some(code) => format!("exit code {code}, no output"),
                None if self.outcome.timed_out => "timed out".into(),
                None => "killed".into(),
            };
        }
        let start = text.char_indices().rev().nth(600).map_or(0, |(i, _)| i);
        text[start..].to_owned()
    }
}

/// A unique name for this invocation's control files.
fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos:08x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Runs one local helper (ssh or rsync) with its output in a scratch file, then appends argv and
/// output to the log.
async fn step(
    spec: &RemoteSpec,
    title: &str,
    program: &str,
    args: Vec<String>,
    limit: Duration,
    cancel: watch::Receiver<bool>,
) -> Result<Step, RemoteError> {
    let scratch = Utf8PathBuf::from(format!("{}.{title}.tmp", spec.log_path));
    let command = CommandSpec::new(program, spec.local_dir.clone(), scratch.clone(), scratch.clone())
        .args(args.iter().cloned())
        .timeout(limit)
        .kill_grace(spec.kill_grace.min(Duration::from_secs(5)));
    let outcome = match crate::run_with_cancel(command, cancel).await {
        Ok(outcome) => outcome,
        Err(ProcError::NotFound { program, .. }) => {
            let _ = std::fs::remove_file(&scratch);
            let hint = if program.ends_with("rsync") {
                "install rsync (Debian/Ubuntu: apt-get install rsync)"
            } else {
                "install the OpenSSH client (Debian/Ubuntu: apt-get install openssh-client)"
            };
            return Err(RemoteError::LocalProgramMissing { program, hint });
        }
        Err(e) => return Err(e.into()),
    };
    let (output, _) = crate::read_capped_lossy(&scratch, STEP_OUTPUT_LIMIT).await.unwrap_or_default();
    let _ = std::fs::remove_file(&scratch);
    let shown: Vec<String> = redact_ssh_args(&args).iter().map(|a| sh_quote(a)).collect();
    let status = match (outcome.return_code, outcome.timed_out, outcome.cancelled) {
        (_, true, _) => "timed out".to_owned(),
        (_, _, true) => "interrupted".to_owned(),
        (Some(code), ..) => format!("exit {code}"),
        (None, ..) => "killed by a signal".to_owned(),
    };
    let note = format!("[{title}] $ {program} {}\n{}[{title}] {status}", shown.join(" "), with_newline(&output));
    crate::append_note(&spec.log_path, &note)?;
    Ok(Step { outcome, output })
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") }
}

/// POSIX shell quoting: bare when safe, else single quotes.
pub fn sh_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// rsync's `-e` splitting: spaces separate, single quotes group, a doubled quote is a quote.
fn rsync_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "''"))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn control_path(spec: &RemoteSpec, token: &str) -> String {
    format!("{}/{REMOTE_CONTROL_DIR}/{token}", spec.target.dir)
}

/// What [`probe`] found on the remote host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The remote directory as an absolute path (`pwd -P`).
    pub dir: String,
    /// The remote path of each program asked for (`None`: not on the remote PATH).
    pub programs: Vec<Option<String>>,
}

/// Checks a host once: reachable, the directory created, `require` present; returns the
/// absolute remote directory and the remote path of each program in `resolve`. Used by callers
/// that need remote paths before building a command (the agent runner: the workspace path in
/// its prompt, the harnessgym binary for its MCP servers).
pub async fn probe(
    target: &RemoteWorkspace,
    local_dir: &Utf8Path,
    log_path: &Utf8Path,
    require: &[String],
    resolve: &[String],
    cancel: watch::Receiver<bool>,
) -> Result<Probe, RemoteError> {
    let mut spec = RemoteSpec::new(target.clone(), local_dir, "true", log_path, log_path, log_path);
    spec.require = require.to_vec();
    let step = preflight(&spec, resolve, cancel).await?;
    let programs = resolve
        .iter()
        .map(|program| {
            let prefix = format!("harnessgym-resolved {program} ");
            step.output
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        })
        .collect();
    let dir = step
        .output
        .lines()
        .find_map(|l| l.strip_prefix("harnessgym-dir "))
        .map(str::trim)
        .filter(|d| d.starts_with('/'))
        .map(str::to_owned)
        .ok_or_else(|| RemoteError::RemoteDir {
            host: target.host.describe(),
            dir: target.dir.clone(),
            detail: "`pwd -P` gave no absolute path".into(),
        })?;
    Ok(Probe { dir, programs })
}

async fn preflight(spec: &RemoteSpec, resolve: &[String], cancel: watch::Receiver<bool>) -> Result<Step, RemoteError> {
    let host = spec.target.host.describe();
    let dir = &spec.target.dir;
    let control = format!("{dir}/{REMOTE_CONTROL_DIR}");
    let required: Vec<String> = ["rsync", "setsid"]
        .iter()
        .map(|p| (*p).to_owned())
        .chain(spec.require.iter().cloned())
        .map(|p| sh_quote(&p))
        .collect();
    let mut script = format!(
        "mkdir -p {} {} || {{ echo harnessgym-mkdir-failed; exit 90; }}; \
         for p in {}; do command -v \"$p\" >/dev/null 2>&1 || {{ echo \"harnessgym-missing $p\"; exit 91; }}; done; ",
        sh_quote(dir),
        sh_quote(&control),
        required.join(" ")
    );
    for program in resolve {
        let q = sh_quote(program);
        script.push_str(&format!("echo \"harnessgym-resolved {program} $(command -v {q} 2>/dev/null)\"; "));
    }
    script.push_str(&format!("echo \"harnessgym-dir $(cd {} && pwd -P)\"; echo harnessgym-ready", sh_quote(dir)));
    let limit = spec.target.host.connect_timeout + CONTROL_SLACK;
    let step =
        step(spec, "preflight", &spec.target.host.ssh_program, spec.target.host.ssh_argv(&script), limit, cancel)
            .await?;
    if step.outcome.cancelled {
        return Err(RemoteError::Interrupted { host, stage: "connecting to" });
    }
    if step.output.lines().any(|l| l == "harnessgym-ready") && step.outcome.success() {
        return Ok(step);
    }
    if let Some(program) = step.output.lines().find_map(|l| l.strip_prefix("harnessgym-missing ")) {
        let program = program.trim().to_owned();
        let hint = install_hint(&program).to_owned();
        return Err(RemoteError::MissingOnRemote { host, program, hint });
    }
    if step.output.lines().any(|l| l == "harnessgym-mkdir-failed") {
        return Err(RemoteError::RemoteDir { host, dir: dir.clone(), detail: step.tail() });
    }
    let detail = if step.outcome.timed_out { format!("no answer within {} s", limit.as_secs()) } else { step.tail() };
    Err(RemoteError::Unreachable { host, detail })
}

async fn rsync(spec: &RemoteSpec, push: bool, cancel: watch::Receiver<bool>) -> Result<(), RemoteError> {
    let host = spec.target.host.describe();
    let direction = if push { "to" } else { "back from" };
    let mut args: Vec<String> =
        ["--recursive", "--links", "--perms", "--times", "--delete"].iter().map(|s| (*s).to_owned()).collect();
    let rules = if push {
        spec.filter_rules.clone()
    } else {
        spec.pull_only_rules.iter().chain(&spec.filter_rules).cloned().collect()
    };
    args.extend(rules.iter().map(|rule| format!("--filter={rule}")));
    args.push("-e".into());
    args.push(spec.target.host.rsync_shell());
    let local = format!("{}/", spec.local_dir.as_str().trim_end_matches('/'));
    let remote = spec.target.host.rsync_location(&spec.target.dir);
    if push {
        args.push("--".into());
        args.push(local);
        args.push(remote);
    } else {
        args.push("--".into());
        args.push(remote);
        args.push(local);
    }
    let title = if push { "push" } else { "pull" };
    let step = step(spec, title, &spec.target.host.rsync_program, args, spec.sync_timeout, cancel).await?;
    match step.outcome.return_code {
        // 24: some source files vanished during the transfer (a file the command deleted).
        Some(0 | 24) => Ok(()),
        _ if step.outcome.cancelled => {
            Err(RemoteError::Interrupted { host, stage: if push { "syncing to" } else { "syncing back from" } })
        }
        _ if step.outcome.timed_out => Err(RemoteError::Sync {
            host,
            direction,
            detail: format!("rsync timed out after {} s", spec.sync_timeout.as_secs()),
        }),
        _ => Err(RemoteError::Sync { host, direction, detail: step.tail() }),
    }
}

/// The wrapper run by `/bin/sh -c` on the remote host.
fn command_script(spec: &RemoteSpec, control: &str) -> Result<String, RemoteError> {
    let mut script = format!("cd {} || exit 126; ", sh_quote(&spec.target.dir));
    for (key, value) in &spec.env {
        if !is_identifier(key) {
            return Err(RemoteError::Invalid(format!("environment variable name {key:?} is not a shell identifier")));
        }
        script.push_str(&format!("{key}={}; export {key}; ", sh_quote(value)));
    }
    for (rel, content) in &spec.files {
        check_relative(rel)?;
        script.push_str(&format!(
            "mkdir -p \"$(dirname {q})\" && printf '%s' {} > {q} || exit 126; ",
            sh_quote(content),
            q = sh_quote(rel)
        ));
    }
    for (rel, target) in &spec.links {
        check_relative(rel)?;
        script.push_str(&format!(
            "mkdir -p \"$(dirname {q})\" && ln -sfn {} {q} || exit 126; ",
            sh_quote(target),
            q = sh_quote(rel)
        ));
    }
    let pid_file = format!("{control}.pid");
    let cancel_file = format!("{control}.cancel");
    // Inside the new session: record our pid (= the group id), give up if a kill came first,
    // then become the command.
    let inner = "echo \"$$\" > \"$1\" || exit 125; if [ -e \"$2\" ]; then exit 143; fi; shift 2; exec \"$@\"";
    let argv: Vec<String> = std::iter::once(&spec.program).chain(&spec.args).map(|a| sh_quote(a)).collect();
    script.push_str(&format!(
        "setsid -w /bin/sh -c {} harnessgym-remote {} {} {}; rc=$?; rm -f {} {}; exit $rc",
        sh_quote(inner),
        sh_quote(&pid_file),
        sh_quote(&cancel_file),
        argv.join(" "),
        sh_quote(&pid_file),
        sh_quote(&cancel_file),
    ));
    if script.len() > MAX_SCRIPT_BYTES {
        return Err(RemoteError::Invalid(format!(
            "the remote command with its environment and files is {} bytes, more than the {MAX_SCRIPT_BYTES} bytes one ssh command can carry",
            script.len()
        )));
    }
    Ok(script)
}

fn check_relative(rel: &str) -> Result<(), RemoteError> {
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|p| p == "..") {
        return Err(RemoteError::Invalid(format!("{rel:?} is not a plain path relative to the remote directory")));
    }
    Ok(())
}

/// The kill connection: mark cancelled, TERM the group, wait up to `grace`, KILL.
fn kill_script(control: &str, grace: Duration) -> String {
    let rounds = grace.as_millis().div_ceil(200).max(1);
    format!(
        "c={}; : > \"$c.cancel\"; pg=$(cat \"$c.pid\" 2>/dev/null); \
         if [ -z \"$pg\" ]; then echo harnessgym-no-pgid; exit 0; fi; echo \"harnessgym-pgid $pg\"; \
         kill -s TERM -- \"-$pg\" 2>/dev/null; n=0; \
         while [ $n -lt {rounds} ] && kill -s 0 -- \"-$pg\" 2>/dev/null; do sleep 0.2 2>/dev/null || sleep 1; n=$((n+1)); done; \
         if kill -s 0 -- \"-$pg\" 2>/dev/null; then kill -s KILL -- \"-$pg\" 2>/dev/null; echo harnessgym-sigkill; fi; \
         echo harnessgym-kill-done",
        sh_quote(control)
    )
}

/// Why the command is being stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Cancel,
}

/// Runs `spec` on its remote host: preflight, push, command, pull. See the module docs.
///
/// An `Err` means the command never ran (or a local file failed); once it ran, what happened is
/// in the [`RemoteOutcome`], including a failed pull ([`RemoteOutcome::sync_back_error`]).
pub async fn run_remote(spec: RemoteSpec, cancel: watch::Receiver<bool>) -> Result<RemoteOutcome, RemoteError> {
    spec.target.host.check()?;
    normalize_remote_dir(&spec.target.dir)?;
    let host = spec.target.host.describe();
    let token = token();
    let control = control_path(&spec, &token);
    let script = command_script(&spec, &control)?;
    if let Some(parent) = spec.log_path.parent().filter(|p| !p.as_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ProcError::Io { path: parent.to_owned(), source: e })?;
    }

    preflight(&spec, &[], cancel.clone()).await?;
    rsync(&spec, true, cancel.clone()).await?;
    if *cancel.borrow() {
        return Err(RemoteError::Interrupted { host, stage: "syncing to" });
    }

    let (kill_tx, kill_rx) = watch::channel(false);
    let mut command = CommandSpec::new(
        spec.target.host.ssh_program.clone(),
        spec.local_dir.clone(),
        spec.stdout_path.clone(),
        spec.stderr_path.clone(),
    )
    .args(spec.target.host.ssh_argv(&script))
    .kill_grace(spec.kill_grace);
    command.stdin = spec.stdin.clone();
    let _ = crate::append_note(
        &spec.log_path,
        &format!("[command] {} in {}: {}", host, spec.target.dir, sh_quote_argv(&spec.program, &spec.args)),
    );

    let deadline = spec.timeout.and_then(|t| Instant::now().checked_add(t));
    let run = crate::run_with_cancel(command, kill_rx);
    tokio::pin!(run);
    let mut user_cancel = cancel.clone();
    let trigger = async {
        let timer = async {
            match deadline {
                Some(deadline) => sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let cancelled = async {
            if user_cancel.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = timer => Stop::Timeout,
            () = cancelled => Stop::Cancel,
        }
    };
    let first = tokio::select! {
        result = &mut run => Ok(result),
        stop = trigger => Err(stop),
    };
    let mut remote_pgid = None;
    let mut remote_kill = None;
    let (result, stop) = match first {
        Ok(result) => (result, None),
        Err(stop) => {
            tracing::info!(
                host = %host,
                reason = if stop == Stop::Timeout { "timeout" } else { "cancelled" },
                "killing the remote process group"
            );
            let (pgid, note) = kill_remote(&spec, &control).await;
            remote_pgid = pgid;
            remote_kill = Some(note);
            let _ = kill_tx.send(true);
            (run.await, Some(stop))
        }
    };
    let outcome = result.map_err(|e| match e {
        ProcError::NotFound { program, .. } => RemoteError::LocalProgramMissing {
            program,
            hint: "install the OpenSSH client (Debian/Ubuntu: apt-get install openssh-client)",
        },
        other => RemoteError::Local(other),
    })?;
    let timed_out = stop == Some(Stop::Timeout);
    let cancelled = stop == Some(Stop::Cancel);
    if timed_out {
        let _ = crate::append_note(
            &spec.log_path,
            &format!("[command] timed out; {}", remote_kill.as_deref().unwrap_or("")),
        );
    }

    let (synced_back, sync_back_error) = if !spec.sync_back {
        (false, None)
    } else if cancelled {
        (false, Some(format!("not synced back from {host}: the run was interrupted")))
    } else {
        match rsync(&spec, false, cancel).await {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        }
    };
    Ok(RemoteOutcome {
        return_code: if stop.is_some() { None } else { outcome.return_code },
        timed_out,
        cancelled,
        duration: outcome.duration,
        stdout_bytes: outcome.stdout_bytes,
        stderr_bytes: outcome.stderr_bytes,
        remote_pgid,
        remote_kill,
        synced_back,
        sync_back_error,
        local_pid: outcome.pid,
    })
}

fn sh_quote_argv(program: &str, args: &[String]) -> String {
    std::iter::once(program).chain(args.iter().map(String::as_str)).map(sh_quote).collect::<Vec<_>>().join(" ")
}

/// The second connection of a timeout: returns the remote group id and what happened.
async fn kill_remote(spec: &RemoteSpec, control: &str) -> (Option<u32>, String) {
    let host = spec.target.host.describe();
    let limit = spec.target.host.connect_timeout + spec.kill_grace + CONTROL_SLACK;
    // Never interrupted: the kill must finish even when the run is being cancelled.
    let (_keep, never) = watch::channel(false);
    let argv = spec.target.host.ssh_argv(&kill_script(control, spec.kill_grace));
    match step(spec, "kill", &spec.target.host.ssh_program, argv, limit, never).await {
        Ok(step) if step.output.lines().any(|l| l == "harnessgym-kill-done") => {
            let pgid = step
                .output
                .lines()
                .find_map(|l| l.strip_prefix("harnessgym-pgid "))
                .and_then(|p| p.trim().parse().ok());
            let how = if step.output.lines().any(|l| l == "harnessgym-sigkill") {
                "SIGTERM, then SIGKILL after the grace period"
            } else {
                "SIGTERM"
            };
            let note = match pgid {
                Some(pgid) => format!("remote process group {pgid} on {host} stopped with {how}"),
                None => format!("remote process group on {host} stopped with {how}"),
            };
            (pgid, note)
        }
        Ok(step) if step.output.lines().any(|l| l == "harnessgym-no-pgid") => {
            (None, format!("the remote command on {host} had not started; it was told not to"))
        }
        Ok(step) => (None, format!("could not kill the remote process group on {host}: {}", step.tail())),
        Err(e) => (None, format!("could not kill the remote process group on {host}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> RemoteWorkspace {
        let mut host = RemoteHost::new("me@gpu");
        host.port = Some(2222);
        host.ssh_args = vec!["-i".into(), "/k ey".into(), "-o".into(), "ProxyJump=it's".into()];
        RemoteWorkspace { host, dir: "ws/a".into() }
    }

    #[test]
    fn remote_dirs_are_normalised_and_checked() {
        assert_eq!(normalize_remote_dir("~/.harnessgym-remote/x/").unwrap(), ".harnessgym-remote/x");
        assert_eq!(normalize_remote_dir("/scratch/me/ws").unwrap(), "/scratch/me/ws");
        assert!(normalize_remote_dir("~").unwrap_err().to_string().contains("home"));
        assert!(normalize_remote_dir("/").unwrap_err().to_string().contains("root"));
        assert!(normalize_remote_dir("a b").unwrap_err().to_string().contains("' '"));
        assert!(normalize_remote_dir("a/../b").unwrap_err().to_string().contains(".."));
        assert!(normalize_remote_dir("$HOME/x").is_err());
        assert!(normalize_remote_dir("").is_err());
    }

    #[test]
    fn default_dir_is_named_after_the_workspace_and_its_path() {
        let a = default_remote_dir(Utf8Path::new("/home/me/my task"));
        let b = default_remote_dir(Utf8Path::new("/tmp/my task"));
        assert!(a.starts_with(".harnessgym-remote/my_task-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, default_remote_dir(Utf8Path::new("/home/me/my task")));
        assert!(normalize_remote_dir(&a).is_ok());
        assert!(default_remote_dir(Utf8Path::new("/")).starts_with(".harnessgym-remote/workspace-"));
    }

    #[test]
    fn destinations_that_look_like_options_are_refused() {
        assert!(validate_destination("-oProxyCommand=x").is_err());
        assert!(validate_destination("a b").is_err());
        assert!(validate_destination("").is_err());
        assert!(validate_destination("me@gpu").is_ok());
    }

    #[test]
    fn ssh_argv_puts_user_options_first_and_wraps_the_script() {
        let argv = target().host.ssh_argv("echo 'hi'");
        assert_eq!(&argv[..4], ["-p", "2222", "-i", "/k ey"]);
        assert!(argv.contains(&"BatchMode=yes".to_owned()));
        let n = argv.len();
        assert_eq!(argv[n - 2], "me@gpu");
        assert_eq!(argv[n - 1], "exec /bin/sh -c 'echo '\\''hi'\\'''");
        assert_eq!(argv[n - 3], "--");
    }

    #[test]
    fn rsync_shell_quotes_like_rsync_splits() {
        let shell = target().host.rsync_shell();
        assert!(shell.starts_with("ssh -p 2222 -i '/k ey' -o 'ProxyJump=it''s' -T"), "{shell}");
        assert_eq!(target().host.rsync_location("ws/a"), "me@gpu:ws/a/");
        assert_eq!(RemoteHost::new("me@fe80::1").rsync_location("/x"), "me@[fe80::1]:/x/");
        assert_eq!(RemoteHost::new("gpu").rsync_location("x"), "gpu:x/");
    }

    #[test]
    fn setenv_values_are_redacted() {
        let args: Vec<String> =
            ["-o", "SetEnv=OPENAI_API_KEY=sk-secret", "-oSetEnv=K=v", "-i", "key", "-o", "SendEnv=LANG"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        let shown = redact_ssh_args(&args).join(" ");
        assert!(!shown.contains("secret") && !shown.contains("K=v"), "{shown}");
        assert!(shown.contains("SendEnv=LANG") && shown.contains("-i key"), "{shown}");
    }

    #[test]
    fn wrapper_script_records_the_group_and_exports_env() {
        let mut spec = RemoteSpec::shell(target(), "/l", "echo hi", "/o", "/e", "/log");
        spec.env = vec![("CUDA_VISIBLE_DEVICES".into(), "0,1".into())];
        let script = command_script(&spec, "ws/a/.harnessgym/remote/t").unwrap();
        assert!(script.starts_with("cd ws/a || exit 126; CUDA_VISIBLE_DEVICES=0,1; export CUDA_VISIBLE_DEVICES;"));
        assert!(script.contains("setsid -w /bin/sh -c"));
        assert!(script.contains("ws/a/.harnessgym/remote/t.pid"));
        assert!(script.ends_with("exit $rc"));
        spec.env = vec![("BAD NAME".into(), "x".into())];
        assert!(command_script(&spec, "c").is_err());
    }
}
