//! The one place a child is started: [`spawn_in_group`] builds the `Command` (program, argv,
//! working directory, environment, pipes), puts the child in its own process group, gives it a
//! parent-death signal, records the group as live ([`crate::live`]) and arms the group guard.
//! Both [`crate::run_with_cancel`] and [`crate::spawn_piped`] go through it.
//!
//! # Dying with harnessgym
//!
//! Every child gets `PR_SET_PDEATHSIG` = SIGKILL: however harnessgym dies (SIGKILL included), the
//! kernel kills the child. The signal fires when the *thread* that forked the child exits, not
//! the process, and tokio's threads come and go (a blocking-pool thread exits after 10 s idle;
//! a current-thread runtime's thread may be any short-lived thread). So no caller's thread forks:
//! every spawn is handed to one dedicated spawner thread ([`spawner`]), started on first use and
//! never ending, and the caller waits for the result (a fork and exec: milliseconds). Only the
//! direct child gets the signal (it is not inherited over `fork`); what the child started is
//! killed by the next command on the workspace ([`crate::live::kill_survivors`]), which finds it
//! by its process group and by [`crate::live::SPAWNED_BY_ENV`], set here for every child.

use std::io;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;

use camino::Utf8Path;
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::ProcError;
use crate::group::GroupGuard;

/// What a child is started with. stdout and stderr are always piped.
pub(crate) struct Launch<'a> {
    pub(crate) program: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) cwd: &'a Utf8Path,
    /// Removed from the inherited environment before [`Self::env`] is applied.
    pub(crate) env_remove: &'a [String],
    /// Added to (or overriding) the inherited environment.
    pub(crate) env: &'a [(String, String)],
    /// A pipe for stdin (else `/dev/null`).
    pub(crate) stdin_piped: bool,
}

/// A child just started in its own process group.
pub(crate) struct GroupChild {
    pub(crate) child: Child,
    /// The child's pid, which is also its process group id.
    pub(crate) pid: u32,
    pub(crate) pgid: Pid,
    /// SIGKILLs the group when dropped unless disarmed; forgets the group's live record either way.
    pub(crate) guard: GroupGuard,
}

/// Checks that `cwd` is an existing directory, so a missing working
/// directory is not mistaken for a missing program (both are `ENOENT`).
pub(crate) fn check_cwd(cwd: &Utf8Path) -> Result<(), ProcError> {
    let meta = std::fs::metadata(cwd).map_err(|e| ProcError::io(cwd, e))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(ProcError::io(cwd, io::Error::new(io::ErrorKind::NotADirectory, "working directory is not a directory")))
    }
}

/// Starts `launch` in its own process group (`process_group(0)`, so its pid is its group id),
/// with SIGKILL as its parent-death signal, killed on drop. [`ProcError::Io`] for a bad working
/// directory, [`ProcError::NotFound`] for a missing program, [`ProcError::Spawn`] for any other
/// failure to start (including being called outside a tokio runtime).
pub(crate) fn spawn_in_group(launch: &Launch<'_>) -> Result<GroupChild, ProcError> {
    let Launch { program, args, cwd, env_remove, env, stdin_piped } = *launch;
    check_cwd(cwd)?;
    let spawn_error = |source| ProcError::Spawn { program: program.to_owned(), source };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .process_group(0)
        .stdin(if stdin_piped { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for key in env_remove {
        cmd.env_remove(key);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    // Inherited by the child's descendants: how the next command finds them (crate::live).
    cmd.env(crate::live::SPAWNED_BY_ENV, crate::live::child_marker());
    die_with_parent(&mut cmd);
    let child = spawn_on_spawner_thread(cmd).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ProcError::NotFound { program: program.to_owned(), source },
        _ => spawn_error(source),
    })?;
    let pid = child.id().unwrap_or(0);
    let pgid = match i32::try_from(pid) {
        Ok(raw) if raw > 0 => Pid::from_raw(raw),
        _ => return Err(spawn_error(io::Error::other("spawned child has no usable pid"))),
    };
    let guard = GroupGuard::new(pgid);
    crate::live::started(pgid, pid, program, args);
    Ok(GroupChild { child, pid, pgid, guard })
}

/// Makes the kernel SIGKILL the child when the thread that forks it exits (see the module docs
/// for why that thread is the spawner thread, which lives as long as the process).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: `pre_exec` runs the closure in the child between `fork` and `exec`, where only
    // async-signal-safe functions may be called (the parent may be multi-threaded; another
    // thread may have held the allocator's lock at the fork). The closure calls exactly two
    // system calls, `prctl(PR_SET_PDEATHSIG)` and `getppid`, both async-signal-safe; it captures
    // a `u32` by value, does not allocate (an `io::Error` built from an errno code is not boxed),
    // takes no lock and touches no shared state. The `getppid` check closes the race where the
    // parent died between `fork` and `prctl` (the signal would never come): then the child is
    // reparented, its parent pid differs, and it refuses to run (`exec` is not reached).
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(parent) {
                return Err(io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The thread every child is forked from: started on first use, it never ends (its queue's
/// sender lives in a static), so the parent-death signal of a child fires only when the process
/// dies. `None` if the thread could not be started.
fn spawner() -> Option<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let started = std::thread::Builder::new().name("harnessgym-spawner".to_owned()).spawn(move || {
                for job in rx {
                    job();
                }
            });
            match started {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the spawner thread");
                    None
                }
            }
        })
        .as_ref()
}

/// Spawns `cmd` on the spawner thread, inside the caller's tokio runtime (the child's pipes and
/// reaping belong to that runtime), and waits for the result.
fn spawn_on_spawner_thread(mut cmd: Command) -> io::Result<Child> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("children are started inside a tokio runtime: {e}")))?;
    let spawner = spawner().ok_or_else(|| io::Error::other("the spawner thread could not be started"))?;
    let (reply, result) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _runtime = handle.enter();
        // The caller is waiting on `result`; it cannot have gone away.
        let _ = reply.send(cmd.spawn());
    });
    spawner.send(job).map_err(|_| io::Error::other("the spawner thread has stopped"))?;
    result.recv().map_err(|_| io::Error::other("the spawner thread dropped a spawn"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_cwd_rejects_missing_and_non_directories() {
        let guard = tempfile::tempdir().expect("tempdir");
        let dir = Utf8Path::from_path(guard.path()).expect("utf-8 temp dir");
        check_cwd(dir).expect("dir is fine");
        let file = dir.join("file");
        std::fs::write(&file, b"").expect("write");
        assert!(matches!(check_cwd(&file), Err(ProcError::Io { .. })));
        assert!(matches!(check_cwd(&dir.join("nope")), Err(ProcError::Io { .. })));
    }

    #[test]
    fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
        let launch = Launch {
            program: "true",
            args: &[],
            cwd: Utf8Path::new("/"),
            env_remove: &[],
            env: &[],
            stdin_piped: false,
        };
        assert!(matches!(spawn_in_group(&launch), Err(ProcError::Spawn { .. })));
    }
}
