//! What to run ([`CommandSpec`]) and what happened ([`Outcome`]).

use std::fmt;
use std::time::Duration;

use camino::Utf8PathBuf;

/// Default time between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// Default time to wait for pipe EOF once the direct child has exited.
pub const DEFAULT_DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// What the child reads on stdin.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum StdinSource {
    /// `/dev/null`: the child sees EOF immediately.
    #[default]
    Null,
    /// A pipe: these bytes are written by a background task, then the pipe is
    /// closed so the child sees EOF. A child that never reads does not block
    /// the run (broken pipes are ignored).
    Bytes(Vec<u8>),
}

impl fmt::Debug for StdinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            // Prompts can be megabytes: show the size only.
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// A command to run in its own process group. See the crate docs for the
/// full contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// Program name or path, resolved through `PATH` like
    /// [`std::process::Command`] (a `PATH` set in [`Self::env`] is used for the lookup).
    pub program: String,
    /// Arguments, not including the program name.
    pub args: Vec<String>,
    /// Working directory of the child. Must exist.
    pub cwd: Utf8PathBuf,
    /// Variables added to (or overriding) the inherited environment.
    /// Applied after [`Self::env_remove`], so a name in both ends up set.
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    /// What the child reads on stdin.
    pub stdin: StdinSource,
    /// Created or truncated (parent directories created); every stdout byte
    /// is appended here as it arrives. Relative paths are relative to *our*
    /// working directory, not [`Self::cwd`].
    pub stdout_path: Utf8PathBuf,
    /// Same as [`Self::stdout_path`], for stderr. May equal `stdout_path`:
    /// both streams are then interleaved in one file.
    pub stderr_path: Utf8PathBuf,
    /// Wall-clock limit measured from spawn; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when the group is terminated.
    pub kill_grace: Duration,
    /// Once the direct child has exited (or was killed), how long to wait for
    /// its stdout/stderr pipes to reach EOF before the rest of its process
    /// group is terminated.
    pub drain_after_exit: Duration,
}

impl CommandSpec {
    /// A command with no arguments, stdin from `/dev/null`, no timeout and
    /// default grace periods.
    pub fn new(
        program: impl Into<String>,
        cwd: impl Into<Utf8PathBuf>,
        stdout_path: impl Into<Utf8PathBuf>,
        stderr_path: impl Into<Utf8PathBuf>,
    ) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: StdinSource::Null,
            stdout_path: stdout_path.into(),
            stderr_path: stderr_path.into(),
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            drain_after_exit: DEFAULT_DRAIN_AFTER_EXIT,
        }
    }

    /// `/bin/sh -c <command_line>`.
    pub fn shell(
        command_line: &str,
        cwd: impl Into<Utf8PathBuf>,
        stdout_path: impl Into<Utf8PathBuf>,
        stderr_path: impl Into<Utf8PathBuf>,
    ) -> Self {
        Self::new("/bin/sh", cwd, stdout_path, stderr_path).args(["-c", command_line])
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes an inherited environment variable.
    #[must_use]
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Feeds these bytes on stdin, then closes it.
    #[must_use]
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = StdinSource::Bytes(bytes.into());
        self
    }

    /// Sets (or clears) the wall-clock limit.
    #[must_use]
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Sets the time between SIGTERM and SIGKILL.
    #[must_use]
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Sets how long to wait for pipe EOF after the direct child exits.
    #[must_use]
    pub fn drain_after_exit(mut self, drain: Duration) -> Self {
        self.drain_after_exit = drain;
        self
    }
}

/// What happened to a child started by [`crate::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code. `None` if the child was killed by a signal, timed out or was
    /// cancelled (even if it then exited with a code of its own).
    pub return_code: Option<i32>,
    /// The signal that terminated the direct child, if any.
    pub signal: Option<i32>,
    /// The timeout elapsed and the group was terminated.
    pub timed_out: bool,
    /// Cancellation fired and the group was terminated.
    pub cancelled: bool,
    /// After the direct child exited, members of its process group were still
    /// alive and had to be terminated.
    pub killed_stragglers: bool,
    /// Monotonic time from spawn until the direct child was reaped (not
    /// counting the pipe drain and straggler clean-up that follow).
    pub duration: Duration,
    /// Bytes read from the child's stdout (all written to `stdout_path`).
    pub stdout_bytes: u64,
    /// Bytes read from the child's stderr (all written to `stderr_path`).
    pub stderr_bytes: u64,
    /// The direct child's pid, which is also its process group id.
    pub pid: u32,
}

impl Outcome {
    /// Exited on its own with code 0.
    pub fn success(&self) -> bool {
        self.return_code == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_wraps_command_line_in_sh_dash_c() {
        let spec = CommandSpec::shell("echo hi", "/tmp", "/tmp/o", "/tmp/e");
        assert_eq!(spec.program, "/bin/sh");
        assert_eq!(spec.args, vec!["-c".to_owned(), "echo hi".to_owned()]);
        assert_eq!(spec.stdin, StdinSource::Null);
        assert_eq!(spec.kill_grace, DEFAULT_KILL_GRACE);
        assert_eq!(spec.drain_after_exit, DEFAULT_DRAIN_AFTER_EXIT);
        assert_eq!(spec.timeout, None);
    }

    #[test]
    fn builder_setters_accumulate() {
        let spec = CommandSpec::new("codex", "/w", "/o", "/e")
            .arg("exec")
            .args(["--json", "-"])
            .env("A", "1")
            .env_remove("B")
            .stdin_bytes(b"prompt".to_vec())
            .timeout(Duration::from_secs(3))
            .kill_grace(Duration::from_millis(10))
            .drain_after_exit(Duration::from_millis(20));
        assert_eq!(spec.args, ["exec", "--json", "-"]);
        assert_eq!(spec.env, [("A".to_owned(), "1".to_owned())]);
        assert_eq!(spec.env_remove, ["B"]);
        assert_eq!(spec.stdin, StdinSource::Bytes(b"prompt".to_vec()));
        assert_eq!(spec.timeout, Some(Duration::from_secs(3)));
        assert_eq!(spec.kill_grace, Duration::from_millis(10));
        assert_eq!(spec.drain_after_exit, Duration::from_millis(20));
    }

    #[test]
    fn stdin_debug_shows_size_not_content() {
        let shown = format!("{:?}", StdinSource::Bytes(vec![b'x'; 1000]));
        assert_eq!(shown, "Bytes(1000 bytes)");
    }
}
