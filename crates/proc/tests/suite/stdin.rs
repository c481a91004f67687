//! Prompts are delivered on stdin (B8), without deadlocks.

use std::time::{Duration, Instant};

use harnessgym_proc::{CommandSpec, run};

use super::support::{Scratch, bounded};

const LIMIT: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;

fn prompt() -> Vec<u8> {
    // Not a repeated byte, so truncation or reordering would show.
    (0..MIB).map(|i| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_of_one_mebibyte_goes_through_stdin() {
    let s = Scratch::new();
    let prompt = prompt();
    let spec = CommandSpec::new("cat", &s.root, s.out(), s.err()).stdin_bytes(prompt.clone());
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout_bytes, MIB as u64);
    assert!(s.read(&s.out()) == prompt, "stdin bytes did not come back intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wc_counts_the_whole_prompt() {
    let s = Scratch::new();
    let spec = CommandSpec::new("wc", &s.root, s.out(), s.err()).arg("-c").stdin_bytes(prompt());
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    let text = String::from_utf8_lossy(&s.read(&s.out())).trim().to_owned();
    assert_eq!(text, MIB.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_that_never_reads_stdin_does_not_hang() {
    let s = Scratch::new();
    let started = Instant::now();
    let spec = s.sh("sleep 0.2; echo done; exit 5").stdin_bytes(prompt());
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert_eq!(outcome.return_code, Some(5));
    assert_eq!(s.read(&s.out()), b"done\n");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_prompt_and_null_stdin_both_give_eof() {
    let s = Scratch::new();
    let spec = CommandSpec::new("cat", &s.root, s.out(), s.err()).stdin_bytes(Vec::new());
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(outcome.stdout_bytes, 0);

    let spec = CommandSpec::new("cat", &s.root, s.out(), s.err());
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(outcome.stdout_bytes, 0);
}
