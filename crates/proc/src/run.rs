//! The run loop: spawn, wait (with timeout and cancellation), terminate,
//! drain, clean up the group.

use std::future::pending;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

use crate::files::open_outputs;
use crate::group::{deadline_after, group_alive, signal_group, wait_group_gone};
use crate::pump::{AbortOnDrop, Pump, feed_stdin};
use crate::spawn::{GroupChild, Launch, check_cwd, spawn_in_group};
use crate::{CommandSpec, Outcome, ProcError, StdinSource};

/// After the group has been SIGKILLed, how long pipes may still take to
/// reach EOF before the pumps are stopped (only processes that left the
/// group with `setsid()` can hold them this long).
const POST_KILL_DRAIN: Duration = Duration::from_secs(1);

/// How long to wait for a SIGKILLed group to disappear (informational only).
const POST_KILL_WAIT: Duration = Duration::from_secs(1);

/// Runs `spec` to completion. See the crate docs for the contract.
pub async fn run(spec: CommandSpec) -> Result<Outcome, ProcError> {
    let (_never, cancel) = watch::channel(false);
    run_with_cancel(spec, cancel).await
}

/// Like [`run`], but the whole process group is terminated (SIGTERM, then
/// SIGKILL after [`CommandSpec::kill_grace`]) as soon as `cancel` holds
/// `true`, including when it already holds `true` at the start. The
/// [`Outcome`] then has `cancelled == true` and `return_code == None`.
/// Dropping the sender never cancels.
pub async fn run_with_cancel(spec: CommandSpec, mut cancel: watch::Receiver<bool>) -> Result<Outcome, ProcError> {
    let CommandSpec {
        program,
        args,
        cwd,
        env,
        env_remove,
        stdin,
        stdout_path,
        stderr_path,
        timeout: limit,
        kill_grace,
        drain_after_exit,
    } = spec;

    // Before the output files are created: a bad working directory leaves none.
    check_cwd(&cwd)?;
    let (stdout_file, stderr_file) = open_outputs(&stdout_path, &stderr_path).await?;

    let started = Instant::now();
    let GroupChild { mut child, pid, pgid, mut guard } = spawn_in_group(&Launch {
        program: &program,
        args: &args,
        cwd: &cwd,
        env_remove: &env_remove,
        env: &env,
        stdin_piped: matches!(stdin, StdinSource::Bytes(_)),
    })?;
    tracing::debug!(program = %program, pid, cwd = %cwd, "spawned child in its own process group");

    let _stdin_task = match (child.stdin.take(), stdin) {
        (Some(pipe), StdinSource::Bytes(bytes)) => Some(AbortOnDrop(tokio::spawn(feed_stdin(pipe, bytes)))),
        _ => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut out = Pump::spawn(child.stdout.take(), stdout_file, stdout_path, stop_rx.clone());
    let mut err = Pump::spawn(child.stderr.take(), stderr_file, stderr_path, stop_rx);

    // A limit too large to represent is no limit.
    let deadline = limit.and_then(|limit| started.checked_add(limit));
    let timer = async {
        match deadline {
            Some(deadline) => sleep_until(deadline).await,
            None => pending().await,
        }
    };
    let cancelled = async {
        if cancel.wait_for(|c| *c).await.is_err() {
            pending::<()>().await;
        }
    };

    let waited = tokio::select! {
        status = child.wait() => Waited::Exited(status),
        () = timer => Waited::TimedOut,
        () = cancelled => Waited::Cancelled,
    };
    let (timed_out, cancelled) = (matches!(waited, Waited::TimedOut), matches!(waited, Waited::Cancelled));
    let status = match waited {
        Waited::Exited(status) => status,
        Waited::TimedOut | Waited::Cancelled => {
            tracing::info!(
                program = %program,
                pid,
                reason = if timed_out { "timeout" } else { "cancelled" },
                "terminating process group"
            );
            terminate(&mut child, pgid, kill_grace).await
        }
    }
    .map_err(|source| ProcError::Spawn { program: program.clone(), source })?;
    let duration = started.elapsed();

    // The direct child is reaped. Give its pipes a bounded time to reach EOF.
    let drain_deadline = deadline_after(drain_after_exit);
    tokio::join!(out.wait_until(drain_deadline), err.wait_until(drain_deadline));

    // Nothing the child started in its group may outlive the phase.
    let killed_stragglers = group_alive(pgid).await;
    if killed_stragglers {
        tracing::info!(program = %program, pid, "terminating leftover members of the process group");
        // After a timeout or cancellation everyone already had SIGTERM and
        // its grace period: go straight to SIGKILL.
        let gone_after_term = if timed_out || cancelled {
            false
        } else {
            signal_group(pgid, Signal::SIGTERM);
            wait_group_gone(pgid, kill_grace).await
        };
        if !gone_after_term {
            signal_group(pgid, Signal::SIGKILL);
            if !wait_group_gone(pgid, POST_KILL_WAIT).await {
                tracing::warn!(pid, "process group still has live members after SIGKILL");
            }
        }
    }
    if !(out.done() && err.done()) {
        let deadline = deadline_after(POST_KILL_DRAIN);
        tokio::join!(out.wait_until(deadline), err.wait_until(deadline));
        if !(out.done() && err.done()) {
            tracing::warn!(
                program = %program,
                pid,
                "output pipes still open after the group was killed (a process escaped with setsid?); \
                 abandoning the rest of the output"
            );
        }
    }
    // Stop the pumps that are still waiting on an open pipe; ignore "no receiver".
    let _ = stop_tx.send(true);
    let (out, err) = tokio::join!(out.finish(), err.finish());
    guard.disarm();

    if let Some(error) = out.error.or(err.error) {
        return Err(error);
    }
    let outcome = Outcome {
        return_code: if timed_out || cancelled { None } else { status.code() },
        signal: status.signal(),
        timed_out,
        cancelled,
        killed_stragglers,
        duration,
        stdout_bytes: out.bytes,
        stderr_bytes: err.bytes,
        pid,
    };
    tracing::debug!(program = %program, ?outcome, "child finished");
    Ok(outcome)
}

enum Waited {
    Exited(io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

/// SIGTERM the group, wait up to `grace` for the direct child, then SIGKILL
/// the group and reap the child.
async fn terminate(child: &mut Child, pgid: Pid, grace: Duration) -> io::Result<ExitStatus> {
    signal_group(pgid, Signal::SIGTERM);
    match timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::info!(pgid = pgid.as_raw(), ?grace, "group ignored SIGTERM; sending SIGKILL");
            signal_group(pgid, Signal::SIGKILL);
            child.wait().await
        }
    }
}
