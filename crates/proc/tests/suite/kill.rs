//! Timeouts and leftovers: the whole process group dies (B7).

use std::time::{Duration, Instant};

use harnessgym_proc::run;

use super::support::{Scratch, bounded, cleanup, read_pid_file, wait_dead};

const LIMIT: Duration = Duration::from_secs(60);
/// Generous: the point is that the call returns at all.
const RETURNS_WITHIN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_command_timeout_kills_grandchild_holding_pipes() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let spec = s.sh(&format!("echo started; sleep 300 & echo $! > '{pid_file}'; wait")).timeout(Duration::from_secs(1));
    let started = Instant::now();
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    let elapsed = started.elapsed();
    let grandchild = read_pid_file(&pid_file).await;
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);

    assert!(elapsed < RETURNS_WITHIN, "run took {elapsed:?}");
    assert!(elapsed >= Duration::from_secs(1), "returned before the timeout: {elapsed:?}");
    assert!(outcome.timed_out);
    assert!(!outcome.cancelled);
    assert_eq!(outcome.return_code, None);
    assert_eq!(outcome.signal, Some(15), "a shell dies of SIGTERM");
    assert!(dead, "grandchild {grandchild} survived the timeout");
    assert_eq!(s.read(&s.out()), b"started\n", "output before the kill is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_exit_with_lingering_grandchild_returns_and_kills_it() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    // The grandchild inherits stdout/stderr, so the pipes stay open after exit.
    let spec = s.sh(&format!("sleep 300 & echo $! > '{pid_file}'; echo bye; exit 0"));
    let started = Instant::now();
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    let elapsed = started.elapsed();
    let grandchild = read_pid_file(&pid_file).await;
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);

    assert!(elapsed < RETURNS_WITHIN, "run took {elapsed:?}");
    assert_eq!(outcome.return_code, Some(0));
    assert!(!outcome.timed_out);
    assert!(outcome.killed_stragglers);
    assert!(dead, "grandchild {grandchild} outlived the phase");
    assert_eq!(s.read(&s.out()), b"bye\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grandchild_that_closed_the_pipes_is_killed_too() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let spec = s.sh(&format!("sleep 300 >/dev/null 2>&1 & echo $! > '{pid_file}'"));
    let started = Instant::now();
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    let elapsed = started.elapsed();
    let grandchild = read_pid_file(&pid_file).await;
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);

    assert!(elapsed < RETURNS_WITHIN, "run took {elapsed:?}");
    assert_eq!(outcome.return_code, Some(0));
    assert!(outcome.killed_stragglers);
    assert!(dead, "grandchild {grandchild} outlived the phase");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ignoring_child_is_sigkilled_after_the_grace() {
    let s = Scratch::new();
    let grace = Duration::from_secs(1);
    let spec = s.sh("trap '' TERM; echo ready; sleep 300").timeout(Duration::from_millis(500)).kill_grace(grace);
    let started = Instant::now();
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    let elapsed = started.elapsed();

    assert!(elapsed < RETURNS_WITHIN, "run took {elapsed:?}");
    assert!(outcome.timed_out);
    assert_eq!(outcome.return_code, None);
    assert_eq!(outcome.signal, Some(9), "needed SIGKILL: {outcome:?}");
    assert!(
        outcome.duration >= Duration::from_millis(1400),
        "SIGKILL came before the grace elapsed: {:?}",
        outcome.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_that_exits_in_time_is_not_timed_out() {
    let s = Scratch::new();
    let outcome = bounded(LIMIT, run(s.sh("exit 7").timeout(Duration::from_secs(30)))).await.expect("run");
    assert!(!outcome.timed_out);
    assert_eq!(outcome.return_code, Some(7));
    assert!(!outcome.killed_stragglers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapped_term_exit_code_is_still_reported_as_timeout() {
    let s = Scratch::new();
    let spec = s
        .sh("trap 'exit 42' TERM; while :; do sleep 0.05; done")
        .timeout(Duration::from_millis(300))
        .kill_grace(Duration::from_secs(5));
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.timed_out);
    assert_eq!(outcome.return_code, None, "timed-out runs never report a code");
    assert_eq!(outcome.signal, None, "the shell exited on its own after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_durations_mean_no_limit_instead_of_panicking() {
    let s = Scratch::new();
    let spec = s.sh("exit 0").timeout(Duration::MAX).kill_grace(Duration::MAX).drain_after_exit(Duration::MAX);
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
}
