//! The one place a child is started: [`spawn_in_group`] builds the `Command` (program, argv,
//! working directory, environment, pipes), puts the child in its own process group and arms the
//! group guard. Both [`crate::run_with_cancel`] and [`crate::spawn_piped`] go through it.

use std::io;
use std::process::Stdio;

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
    /// SIGKILLs the group when dropped unless disarmed.
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
/// killed on drop. [`ProcError::Io`] for a bad working directory, [`ProcError::NotFound`] for a
/// missing program, [`ProcError::Spawn`] for any other failure to start.
pub(crate) fn spawn_in_group(launch: &Launch<'_>) -> Result<GroupChild, ProcError> {
    let Launch { program, args, cwd, env_remove, env, stdin_piped } = *launch;
    check_cwd(cwd)?;
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
    let child = cmd.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ProcError::NotFound { program: program.to_owned(), source },
        _ => ProcError::Spawn { program: program.to_owned(), source },
    })?;
    let pid = child.id().unwrap_or(0);
    let pgid = match i32::try_from(pid) {
        Ok(raw) if raw > 0 => Pid::from_raw(raw),
        _ => {
            return Err(ProcError::Spawn {
                program: program.to_owned(),
                source: io::Error::other("spawned child has no usable pid"),
            });
        }
    };
    Ok(GroupChild { child, pid, pgid, guard: GroupGuard::new(pgid) })
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
}
