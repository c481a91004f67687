//! Child processes for HarnessGym: the only crate in the workspace that
//! spawns or kills processes.
//!
//! Agent CLIs, post-attempt scoring commands, verifiers and self-tests all
//! run through [`run`] / [`run_with_cancel`]. The contract:
//!
//! * **Own process group.** Every child is spawned with `process_group(0)`,
//!   so its pid is also its process group id ([`Outcome::pid`]). Every
//!   signal this crate sends goes to the whole group (`killpg`). A side
//!   effect: the child is not in the terminal's foreground group, so Ctrl-C
//!   at the terminal does not reach it; the caller must forward it through
//!   [`run_with_cancel`].
//! * **Dies with harnessgym.** Every child gets SIGKILL as its parent-death
//!   signal (`PR_SET_PDEATHSIG`), and is forked from one long-lived spawner
//!   thread (the signal follows the forking *thread*), so it dies however
//!   harnessgym dies, SIGKILL included. Its group's other members are killed
//!   by the next command on the workspace, from the record of live groups
//!   ([`live`]).
//! * **Stdin.** [`StdinSource::Null`] gives `/dev/null`;
//!   [`StdinSource::Bytes`] is written by a background task and then closed
//!   (EOF). Prompts go here, never into argv (argv elements are limited to
//!   128 KiB on Linux). A child that never reads stdin does not block the
//!   run; broken pipes are ignored.
//! * **Output.** stdout and stderr are piped and streamed to
//!   [`CommandSpec::stdout_path`] / [`CommandSpec::stderr_path`] as they
//!   arrive, through one 64 KiB buffer per stream: memory use does not grow
//!   with output size. Files are created or truncated up front (parent
//!   directories included, so they exist even if the spawn fails), and are
//!   flushed and fsynced before `run` returns. Bytes are never decoded here;
//!   callers decode lossily (see [`read_capped_lossy`]).
//! * **Timeout and cancellation.** SIGTERM to the group, wait
//!   [`CommandSpec::kill_grace`] for the direct child, then SIGKILL to the
//!   group. [`Outcome::return_code`] is then `None`.
//! * **No stragglers.** Once the direct child has exited (on its own or
//!   killed), the pipes get [`CommandSpec::drain_after_exit`] to reach EOF.
//!   Then any member of the group still alive (e.g. a background grandchild
//!   holding the pipes) is terminated: SIGTERM, `kill_grace`, SIGKILL (or
//!   straight SIGKILL after a timeout/cancellation, which already sent
//!   SIGTERM). So `run` returns promptly even when a grandchild holds the
//!   pipes open, and nothing the child started in its group survives the
//!   phase. Zombie members (awaiting reaping by PID 1) count as dead.
//! * **Reaping.** The direct child is always waited for. If the `run` future
//!   is dropped half-way, the group is SIGKILLed and tokio reaps the child in
//!   the background.
//! * **Errors.** Failing to start is a [`ProcError`]
//!   ([`ProcError::NotFound`] for a missing program — callers typically map it
//!   to return code 127; [`ProcError::Io`] for a missing working directory or
//!   an unwritable output file). A child that runs and fails is an
//!   [`Outcome`], not an error.
//!
//! [`sandbox`] builds the bubblewrap command line that confines a process started from a bundle
//! (the caller still starts it through [`run`] or [`spawn_piped`]).
//!
//! The same contract on a remote host, over the system `ssh` and `rsync` (workspace mirrored,
//! remote process group killed on timeout): [`remote`], [`run_remote`].
//!
//! Worst-case time for `run` after the timeout fires is roughly
//! `kill_grace + drain_after_exit + 2 s`.
//!
//! # Known limits
//!
//! * A process that leaves the group with `setsid()` (or `setpgid`) escapes
//!   every group kill and is not reaped by this crate. If it still holds the
//!   pipes, `run` stops reading them (about one second after the group
//!   clean-up) and the rest of its output is lost.
//! * Group kills address the group by id after the direct child has been
//!   reaped; in theory the id could be reused by an unrelated new group once
//!   the old group is empty. The window is tiny (milliseconds) in practice.
//! * Unix only (process groups and signals).

mod error;
mod files;
mod group;
pub mod live;
mod piped;
mod pump;
pub mod remote;
mod run;
pub mod sandbox;
mod spawn;
mod spec;

pub use error::ProcError;
pub use files::{append_note, read_capped, read_capped_lossy};
pub use piped::{DEFAULT_STDERR_TAIL_BYTES, PipedChild, PipedSpec, spawn_piped};
pub use remote::{RemoteError, RemoteHost, RemoteOutcome, RemoteSpec, RemoteWorkspace, run_remote};
pub use run::{run, run_with_cancel};
pub use spec::{CommandSpec, DEFAULT_DRAIN_AFTER_EXIT, DEFAULT_KILL_GRACE, Outcome, StdinSource};
