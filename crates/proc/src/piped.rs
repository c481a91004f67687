//! Long-lived children that we talk to over pipes (MCP servers, relays).
//!
//! [`spawn_piped`] starts a program in its own process group with stdin and
//! stdout piped to the caller ([`PipedChild::stdin`], [`PipedChild::stdout`])
//! and stderr drained continuously by a background task that keeps only the
//! last [`PipedSpec::stderr_tail_bytes`] bytes in memory. A child that floods
//! stderr therefore never blocks, and its last words are still available for
//! error messages ([`PipedChild::stderr_tail`]).
//!
//! Ending the child: [`PipedChild::terminate`] (SIGTERM to the group, grace,
//! SIGKILL to the group, reap, then any group member still alive is
//! SIGKILLed). Dropping a [`PipedChild`] that was not terminated SIGKILLs the
//! whole group; tokio reaps the direct child in the background.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use camino::Utf8PathBuf;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::watch;
use tokio::time::timeout;

use crate::ProcError;
use crate::group::{GroupGuard, group_alive, signal_group, wait_group_gone};
use crate::pump::AbortOnDrop;
use crate::spawn::{GroupChild, Launch, spawn_in_group};

/// Default number of stderr bytes kept in memory by [`PipedSpec::new`].
pub const DEFAULT_STDERR_TAIL_BYTES: usize = 64 * 1024;

/// After a child has exited, how long its stderr may take to reach EOF before
/// [`PipedChild::wait_for_exit`] returns anyway (a grandchild may hold it).
const STDERR_EOF_WAIT: Duration = Duration::from_millis(500);

/// How long to wait for a SIGKILLed group to disappear (informational only).
const POST_KILL_WAIT: Duration = Duration::from_secs(1);

/// A long-lived program with piped stdin/stdout. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipedSpec {
    /// Program name or path, resolved through `PATH`.
    pub program: String,
    /// Arguments, not including the program name.
    pub args: Vec<String>,
    /// Working directory of the child. Must exist.
    pub cwd: Utf8PathBuf,
    /// Variables added to (or overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    /// How many of the most recent stderr bytes to keep; older bytes are
    /// read and discarded.
    pub stderr_tail_bytes: usize,
}

impl PipedSpec {
    /// A program with no arguments, the inherited environment and the
    /// default stderr tail.
    pub fn new(program: impl Into<String>, cwd: impl Into<Utf8PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            stderr_tail_bytes: DEFAULT_STDERR_TAIL_BYTES,
        }
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
}

/// The last bytes a child wrote to stderr, shared with the drain task.
#[derive(Debug, Default)]
struct Tail {
    bytes: VecDeque<u8>,
    cap: usize,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        if self.cap == 0 {
            return;
        }
        let chunk = &chunk[chunk.len().saturating_sub(self.cap)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.cap);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }
}

/// A running child started by [`spawn_piped`].
///
/// `stdin` and `stdout` are `Option`s so they can be moved into tasks
/// (`take()`); dropping `stdin` closes the child's stdin (EOF). Dropping the
/// `PipedChild` without [`PipedChild::terminate`] SIGKILLs its whole group.
pub struct PipedChild {
    /// The child's stdin, until taken.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, until taken.
    pub stdout: Option<ChildStdout>,
    child: Child,
    pid: u32,
    pgid: Pid,
    status: Option<ExitStatus>,
    tail: Arc<Mutex<Tail>>,
    stderr_eof: watch::Receiver<bool>,
    _stderr_task: AbortOnDrop<()>,
    guard: GroupGuard,
}

/// Starts `spec` in its own process group with piped stdin/stdout and a
/// drained stderr. [`ProcError::NotFound`] for a missing program,
/// [`ProcError::Io`] for a missing working directory.
///
/// Must be called inside a tokio runtime.
pub fn spawn_piped(spec: PipedSpec) -> Result<PipedChild, ProcError> {
    let PipedSpec { program, args, cwd, env, stderr_tail_bytes } = spec;
    let GroupChild { mut child, pid, pgid, guard } = spawn_in_group(&Launch {
        program: &program,
        args: &args,
        cwd: &cwd,
        env_remove: &[],
        env: &env,
        stdin_piped: true,
    })?;
    tracing::debug!(program = %program, pid, cwd = %cwd, "spawned piped child in its own process group");

    let tail = Arc::new(Mutex::new(Tail { bytes: VecDeque::new(), cap: stderr_tail_bytes }));
    let (eof_tx, stderr_eof) = watch::channel(false);
    let task = tokio::spawn(drain_stderr(child.stderr.take(), Arc::clone(&tail), eof_tx));
    Ok(PipedChild {
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        child,
        pid,
        pgid,
        status: None,
        tail,
        stderr_eof,
        _stderr_task: AbortOnDrop(task),
        guard,
    })
}

async fn drain_stderr(stderr: Option<ChildStderr>, tail: Arc<Mutex<Tail>>, eof: watch::Sender<bool>) {
    if let Some(mut stderr) = stderr {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => tail.lock().unwrap_or_else(PoisonError::into_inner).push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(error = %e, "reading child stderr failed");
                    break;
                }
            }
        }
    }
    let _ = eof.send(true);
}

impl fmt::Debug for PipedChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipedChild").field("pid", &self.pid).field("status", &self.status).finish_non_exhaustive()
    }
}

impl PipedChild {
    /// The direct child's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last stderr bytes read so far (at most
    /// [`PipedSpec::stderr_tail_bytes`]), decoded lossily.
    pub fn stderr_tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let (a, b) = tail.bytes.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The exit status if the direct child has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.child.try_wait() {
                Ok(status) => self.status = status,
                Err(e) => tracing::warn!(pid = self.pid, error = %e, "checking child status failed"),
            }
        }
        self.status
    }

    /// Waits up to `limit` for the direct child to exit. Once it has, also
    /// waits briefly for stderr to reach EOF so [`Self::stderr_tail`] holds
    /// its last words. `None` if it is still running.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            match timeout(limit, self.child.wait()).await {
                Ok(Ok(status)) => self.status = Some(status),
                Ok(Err(e)) => tracing::warn!(pid = self.pid, error = %e, "waiting for child failed"),
                Err(_) => {}
            }
        }
        if self.status.is_some() {
            let _ = timeout(STDERR_EOF_WAIT, self.stderr_eof.wait_for(|eof| *eof)).await;
        }
        self.status
    }

    /// Ends the child and everything in its process group: closes stdin,
    /// SIGTERM to the group, waits up to `grace` for the direct child, then
    /// SIGKILL to the group; reaps the child; finally terminates any group
    /// member still alive (SIGTERM and `grace` first if the child had
    /// already exited on its own, so they never had SIGTERM). Returns the direct child's exit status (`None`
    /// only if waiting for it failed).
    pub async fn terminate(mut self, grace: Duration) -> Option<ExitStatus> {
        self.stdin = None;
        let pgid = self.pgid;
        let already_exited = self.try_wait().is_some();
        if !already_exited {
            signal_group(pgid, Signal::SIGTERM);
            match timeout(grace, self.child.wait()).await {
                Ok(Ok(status)) => self.status = Some(status),
                Ok(Err(e)) => tracing::warn!(pid = self.pid, error = %e, "waiting for child failed"),
                Err(_) => {
                    tracing::info!(pid = self.pid, ?grace, "piped child ignored SIGTERM; sending SIGKILL");
                    signal_group(pgid, Signal::SIGKILL);
                    match self.child.wait().await {
                        Ok(status) => self.status = Some(status),
                        Err(e) => tracing::warn!(pid = self.pid, error = %e, "waiting for child failed"),
                    }
                }
            }
        }
        if group_alive(pgid).await {
            tracing::debug!(pid = self.pid, "terminating leftover members of the piped child's group");
            // Members that have not had SIGTERM yet get it, and the grace.
            let gone = already_exited && {
                signal_group(pgid, Signal::SIGTERM);
                wait_group_gone(pgid, grace).await
            };
            if !gone {
                signal_group(pgid, Signal::SIGKILL);
            }
            if !gone && !wait_group_gone(pgid, POST_KILL_WAIT).await {
                tracing::warn!(pid = self.pid, "process group still has live members after SIGKILL");
            }
        }
        self.guard.disarm();
        self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(cap: usize, chunks: &[&[u8]]) -> Vec<u8> {
        let mut tail = Tail { bytes: VecDeque::new(), cap };
        for chunk in chunks {
            tail.push(chunk);
        }
        tail.bytes.into_iter().collect()
    }

    #[test]
    fn tail_keeps_the_last_cap_bytes() {
        assert_eq!(tail(5, &[b"abc", b"def"]), b"bcdef");
        assert_eq!(tail(5, &[b"abcdefghij"]), b"fghij");
        assert_eq!(tail(5, &[b"ab", b"cdefghij", b"k"]), b"ghijk");
        assert_eq!(tail(10, &[b"ab", b"cd"]), b"abcd");
        assert_eq!(tail(0, &[b"abc"]), b"");
    }

    #[test]
    fn spec_builder_and_default_tail() {
        let spec = PipedSpec::new("srv", "/w").args(["-u", "s.py"]).env("A", "1");
        assert_eq!(spec.args, ["-u", "s.py"]);
        assert_eq!(spec.env, [("A".to_owned(), "1".to_owned())]);
        assert_eq!(spec.stderr_tail_bytes, DEFAULT_STDERR_TAIL_BYTES);
    }
}
