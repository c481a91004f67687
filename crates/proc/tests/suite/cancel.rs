//! Cancellation (Ctrl-C) kills the group and is reported.

use std::time::{Duration, Instant};

use harnessgym_proc::run_with_cancel;
use tokio::sync::watch;

use super::support::{Scratch, bounded, cleanup, read_pid_file, wait_dead};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_kills_the_group_and_reports_cancelled() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let spec = s.sh(&format!("sleep 300 & echo $! > '{pid_file}'; wait"));
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_with_cancel(spec, rx));
    let grandchild = read_pid_file(&pid_file).await;
    let cancelled_at = Instant::now();
    tx.send(true).expect("send cancel");
    let outcome = bounded(LIMIT, task).await.expect("join").expect("run");
    let elapsed = cancelled_at.elapsed();
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);

    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?} after cancel");
    assert!(outcome.cancelled);
    assert!(!outcome.timed_out);
    assert_eq!(outcome.return_code, None);
    assert!(dead, "grandchild {grandchild} survived cancellation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_cancelled_receiver_stops_the_child_at_once() {
    let s = Scratch::new();
    let (_tx, rx) = watch::channel(true);
    let started = Instant::now();
    let outcome = bounded(LIMIT, run_with_cancel(s.sh("sleep 300"), rx)).await.expect("run");
    assert!(outcome.cancelled);
    assert_eq!(outcome.return_code, None);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_sender_does_not_cancel() {
    let s = Scratch::new();
    let (tx, rx) = watch::channel(false);
    drop(tx);
    let outcome = bounded(LIMIT, run_with_cancel(s.sh("sleep 0.3; exit 4"), rx)).await.expect("run");
    assert!(!outcome.cancelled);
    assert_eq!(outcome.return_code, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_kills_the_group() {
    let s = Scratch::new();
    let pid_file = s.path("grandchild.pid");
    let spec = s.sh(&format!("sleep 300 & echo $! > '{pid_file}'; wait"));
    let (_tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_with_cancel(spec, rx));
    let grandchild = read_pid_file(&pid_file).await;
    task.abort();
    let _ = task.await;
    let dead = wait_dead(grandchild).await;
    cleanup(grandchild);
    assert!(dead, "grandchild {grandchild} survived an abandoned run");
}
