//! Output lands in files, byte-exact, streamed with bounded memory.

use std::time::Duration;

use harnessgym_proc::{CommandSpec, run};

use super::support::{Scratch, bounded, is_our_zombie};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_and_both_streams_land_in_their_files() {
    let s = Scratch::new();
    let outcome = bounded(LIMIT, run(s.sh("printf 'to stdout'; printf 'to stderr!' >&2; exit 3"))).await.expect("run");
    assert_eq!(outcome.return_code, Some(3));
    assert_eq!(outcome.signal, None);
    assert!(!outcome.timed_out && !outcome.cancelled && !outcome.killed_stragglers);
    assert!(!outcome.success());
    assert_eq!(s.read(&s.out()), b"to stdout");
    assert_eq!(s.read(&s.err()), b"to stderr!");
    assert_eq!(outcome.stdout_bytes, 9);
    assert_eq!(outcome.stderr_bytes, 10);
    assert!(outcome.pid > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_output_is_stored_byte_for_byte() {
    let s = Scratch::new();
    let outcome = bounded(LIMIT, run(s.sh(r"printf '\377\376ok\200'; printf '\351' >&2"))).await.expect("run");
    assert!(outcome.success());
    assert_eq!(s.read(&s.out()), b"\xff\xfeok\x80");
    assert_eq!(s.read(&s.err()), b"\xe9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_of_stdout_are_streamed_to_the_file() {
    const SIZE: u64 = 20 * 1024 * 1024;
    let s = Scratch::new();
    let before = peak_rss_kib();
    let spec = CommandSpec::new("head", &s.root, s.out(), s.err()).args(["-c", &SIZE.to_string(), "/dev/zero"]);
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(outcome.stdout_bytes, SIZE);
    assert_eq!(std::fs::metadata(s.out()).expect("stat").len(), SIZE);
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        // Holding the output in memory would raise our peak RSS by ~20 MiB.
        let grown = after.saturating_sub(before);
        assert!(grown < 12 * 1024, "peak RSS grew by {grown} KiB while streaming 20 MiB");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_file_for_stdout_and_stderr_keeps_both_streams() {
    // The two pipes are read independently, so only writes spaced apart in
    // time have a guaranteed order in the shared file.
    let s = Scratch::new();
    let both = s.path("both.txt");
    let spec = CommandSpec::shell("echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three", &s.root, &both, &both);
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(s.read(&both), b"one\ntwo\nthree\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_files_get_parent_dirs_and_are_truncated() {
    let s = Scratch::new();
    let out = s.path("deep/er/out.txt");
    let err = s.path("deep/err.txt");
    std::fs::create_dir_all(s.path("deep")).expect("mkdir");
    std::fs::write(&err, b"stale content from a previous attempt").expect("write");
    let outcome = bounded(LIMIT, run(CommandSpec::shell("echo fresh", &s.root, &out, &err))).await.expect("run");
    assert!(outcome.success());
    assert_eq!(s.read(&out), b"fresh\n");
    assert_eq!(s.read(&err), b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_child_is_reaped() {
    let s = Scratch::new();
    let outcome = bounded(LIMIT, run(s.sh("exit 0"))).await.expect("run");
    assert!(!is_our_zombie(outcome.pid), "pid {} left as a zombie", outcome.pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_by_signal_reports_signal_and_no_return_code() {
    let s = Scratch::new();
    let outcome = bounded(LIMIT, run(s.sh("kill -9 $$"))).await.expect("run");
    assert_eq!(outcome.return_code, None);
    assert_eq!(outcome.signal, Some(9));
    assert!(!outcome.timed_out);
}

/// Peak resident set size of this process (VmHWM), if /proc is available.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
