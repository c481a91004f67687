//! Long-lived piped children: round trips, stderr drain, group termination.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use harnessgym_proc::{PipedSpec, ProcError, spawn_piped};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::support::{Scratch, bounded, cleanup, read_pid_file, wait_dead};

const LIMIT: Duration = Duration::from_secs(60);

fn sh(s: &Scratch, script: &str) -> PipedSpec {
    PipedSpec::new("/bin/sh", &s.root).args(["-c", script])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_cat_round_trips_stdin_to_stdout() {
    let s = Scratch::new();
    let mut child = spawn_piped(PipedSpec::new("cat", &s.root)).expect("spawn cat");
    assert!(child.pid() > 0);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    for msg in ["hello\n", "second line\n"] {
        stdin.write_all(msg.as_bytes()).await.expect("write");
        stdin.flush().await.expect("flush");
        line.clear();
        bounded(LIMIT, stdout.read_line(&mut line)).await.expect("read");
        assert_eq!(line, msg);
    }
    assert!(child.try_wait().is_none(), "cat is still running");
    drop(stdin); // EOF: cat exits by itself
    let status = bounded(LIMIT, child.wait_for_exit(LIMIT)).await.expect("cat exits after EOF");
    assert_eq!(status.code(), Some(0));
    assert_eq!(child.try_wait().map(|s| s.code()), Some(Some(0)));
    let status = bounded(LIMIT, child.terminate(Duration::from_secs(1))).await.expect("status");
    assert_eq!(status.code(), Some(0), "terminate after exit keeps the real status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_stderr_flood_does_not_block_and_keeps_the_last_bytes() {
    let s = Scratch::new();
    // 10 MB on stderr before anything on stdout: an undrained pipe (64 KiB)
    // would block the child long before it prints "done".
    let script = "head -c 10000000 /dev/zero | tr '\\0' x >&2; printf 'THE-END' >&2; echo done; exec cat";
    let mut spec = sh(&s, script);
    spec.stderr_tail_bytes = 1000;
    let mut child = spawn_piped(spec).expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    bounded(LIMIT, stdout.read_line(&mut line)).await.expect("read");
    assert_eq!(line, "done\n");
    // The drain task may still be catching up with the last bytes.
    let mut tail = String::new();
    for _ in 0..200 {
        tail = child.stderr_tail();
        if tail.ends_with("THE-END") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(tail.ends_with("xxxxTHE-END"), "tail ends with {:?}", &tail[tail.len().saturating_sub(40)..]);
    assert_eq!(tail.len(), 1000, "only the configured tail is kept");
    bounded(LIMIT, child.terminate(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_terminate_kills_a_grandchild_in_the_group() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let mut child =
        spawn_piped(sh(&s, &format!("sleep 300 & echo $! > '{pid_file}'; echo ready; wait"))).expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    bounded(LIMIT, stdout.read_line(&mut line)).await.expect("read");
    assert_eq!(line, "ready\n");
    let grandchild = read_pid_file(&pid_file).await;

    let started = Instant::now();
    let status = bounded(LIMIT, child.terminate(Duration::from_secs(5))).await.expect("status");
    let elapsed = started.elapsed();
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);

    assert!(dead, "grandchild {grandchild} survived terminate");
    assert_eq!(status.signal(), Some(15), "the shell dies of SIGTERM: {status:?}");
    assert!(elapsed < Duration::from_secs(4), "SIGTERM was enough, no grace needed: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_terminate_sigkills_after_the_grace() {
    let s = Scratch::new();
    let mut child = spawn_piped(sh(&s, "trap '' TERM; echo ready; while :; do sleep 1; done")).expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    bounded(LIMIT, stdout.read_line(&mut line)).await.expect("read");
    let started = Instant::now();
    let status = bounded(LIMIT, child.terminate(Duration::from_millis(500))).await.expect("status");
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_drop_kills_the_group() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let mut child =
        spawn_piped(sh(&s, &format!("sleep 300 & echo $! > '{pid_file}'; echo ready; wait"))).expect("spawn");
    let pid = i32::try_from(child.pid()).expect("pid");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = [0u8; 6];
    bounded(LIMIT, stdout.read_exact(&mut buf)).await.expect("read");
    let grandchild = read_pid_file(&pid_file).await;
    drop(child);
    let grandchild_dead = wait_dead(grandchild).await;
    let child_dead = wait_dead(pid).await;
    cleanup(grandchild);
    assert!(grandchild_dead, "grandchild {grandchild} survived the drop");
    assert!(child_dead, "child {pid} survived the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_exit_code_and_stderr_are_available_after_exit() {
    let s = Scratch::new();
    let mut child = spawn_piped(sh(&s, "echo 'Traceback: boom' >&2; exit 3")).expect("spawn");
    let status = bounded(LIMIT, child.wait_for_exit(LIMIT)).await.expect("exited");
    assert_eq!(status.code(), Some(3));
    assert_eq!(child.stderr_tail(), "Traceback: boom\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_wait_for_exit_gives_up_on_a_running_child() {
    let s = Scratch::new();
    let mut child = spawn_piped(sh(&s, "exec sleep 300")).expect("spawn");
    assert!(child.wait_for_exit(Duration::from_millis(100)).await.is_none());
    bounded(LIMIT, child.terminate(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_missing_program_and_cwd_are_errors() {
    let s = Scratch::new();
    let err = spawn_piped(PipedSpec::new("harnessgym-no-such-program-xyz", &s.root)).expect_err("missing program");
    assert!(
        matches!(&err, ProcError::NotFound { program, .. } if program == "harnessgym-no-such-program-xyz"),
        "{err:?}"
    );
    let err = spawn_piped(PipedSpec::new("cat", s.path("nope"))).expect_err("missing cwd");
    assert!(matches!(err, ProcError::Io { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_env_reaches_the_child() {
    let s = Scratch::new();
    let mut child = spawn_piped(sh(&s, "echo \"$HG_PIPED_TEST\"").env("HG_PIPED_TEST", "value-1")).expect("spawn");
    let mut out = String::new();
    bounded(LIMIT, child.stdout.take().expect("stdout").read_to_string(&mut out)).await.expect("read");
    assert_eq!(out, "value-1\n");
}
