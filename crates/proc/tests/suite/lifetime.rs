//! Children die with the process that started them, however it dies: a parent-death signal on
//! the direct child (forked from a thread that outlives every tokio thread), and the record of
//! live groups for what the child started in its group.
//!
//! The process that dies is this test binary itself, re-run as a helper (`helper_process`, which
//! does nothing unless `HG_LIFETIME_HELPER_DIR` is set) and SIGKILLed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::Utf8Path;
use harnessgym_proc::live::{LIVE_FILE, enable_recording, kill_survivors, record_in};
use harnessgym_proc::{PipedSpec, spawn_piped};
use serde_json::Value;

use super::support::{Scratch, cleanup, is_dead};

const HELPER_ENV: &str = "HG_LIFETIME_HELPER_DIR";
/// The name of the helper's tokio blocking threads (`comm` holds at most 15 bytes).
const BLOCKING_THREAD: &str = "hg-blocking";

fn wait_file(path: &Utf8Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn blocking_threads_alive() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == BLOCKING_THREAD))
        })
        .unwrap_or(false)
}

/// Run as a separate process by the test below: records live groups in `<dir>/live-processes.json`,
/// starts `sh` (which starts a background `sleep` and becomes another `sleep`) from a tokio
/// blocking thread, waits until that thread has idled out, writes both pids to `<dir>/pids`, and
/// waits to be killed.
#[test]
fn helper_process() {
    let Ok(dir) = std::env::var(HELPER_ENV) else { return };
    let dir = Utf8Path::new(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(BLOCKING_THREAD)
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    enable_recording();
    let _record = record_in(&dir.join(LIVE_FILE));
    let script = format!(
        "sleep 4711.21 & echo $! > {dir}/grandchild; setsid sleep 4711.24 & echo $! > {dir}/escaped; exec sleep 4711.22"
    );
    let spec = PipedSpec::new("sh", dir).args(["-c", script.as_str()]);
    let child =
        runtime.block_on(async { tokio::task::spawn_blocking(move || spawn_piped(spec)).await.unwrap().unwrap() });
    // The thread that asked for the child is gone; the child must not have gone with it.
    assert!(wait_until(Duration::from_secs(5), || !blocking_threads_alive()), "the blocking thread never idled out");
    let grandchild = wait_file(&dir.join("grandchild"), Duration::from_secs(5));
    let escaped = wait_file(&dir.join("escaped"), Duration::from_secs(5));
    std::fs::write(dir.join("pids"), format!("{} {} {}\n", child.pid(), grandchild.trim(), escaped.trim())).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn children_die_with_a_sigkilled_parent_and_their_group_is_killed_from_the_record() {
    let scratch = Scratch::new();
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["suite::lifetime::helper_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, scratch.root.as_str())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = wait_file(&scratch.path("pids"), Duration::from_secs(20));
    let mut pids = pids.split_whitespace().map(|p| p.parse::<i32>().unwrap());
    let (child, grandchild, escaped) = (pids.next().unwrap(), pids.next().unwrap(), pids.next().unwrap());

    // Its spawning thread has exited, the helper lives: the child runs.
    assert!(!is_dead(child), "the child died with the thread that asked for it");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(scratch.path(LIVE_FILE)).unwrap()).unwrap();
    assert_eq!(record["recorded_by"], helper.id());
    assert!(record["recorded_by_start_ticks"].as_u64().unwrap() > 0);
    assert_eq!(record["groups"][0]["pgid"], child);
    assert_eq!(record["groups"][0]["pid"], child);
    assert!(record["groups"][0]["start_ticks"].as_u64().unwrap() > 0);
    assert!(record["groups"][0]["command"].as_str().unwrap().starts_with("sh -c sleep 4711.21"));

    helper.kill().unwrap();
    helper.wait().unwrap();
    let child_died = wait_until(Duration::from_secs(5), || is_dead(child));
    // What the child started outlives it: the record is how it is found, in the group (the
    // grandchild) or outside it (`setsid`) by its environment.
    let grandchildren_alive = !is_dead(grandchild) && !is_dead(escaped);
    let survivors = kill_survivors(&scratch.path(LIVE_FILE)).unwrap();
    let grandchildren_died = is_dead(grandchild) && is_dead(escaped);
    for pid in [child, grandchild, escaped] {
        cleanup(pid);
    }
    assert!(child_died, "the direct child outlived its SIGKILLed parent");
    assert!(grandchildren_alive, "the grandchildren were expected to outlive the parent (no parent-death signal)");
    let mut killed: Vec<(i32, &str)> =
        survivors.iter().map(|s| (i32::try_from(s.pid).unwrap(), s.command.as_str())).collect();
    killed.sort_unstable();
    let mut expected = vec![(grandchild, "sleep 4711.21"), (escaped, "sleep 4711.24")];
    expected.sort_unstable();
    assert_eq!(killed, expected);
    assert!(grandchildren_died, "kill_survivors left a grandchild running");
    assert!(!scratch.path(LIVE_FILE).exists(), "the record is removed");
}

#[test]
fn a_record_whose_groups_are_gone_or_reused_kills_nothing() {
    let scratch = Scratch::new();
    let own = std::process::id();
    // Our own process as the "leader", with a wrong start time: a reused pid, never killed.
    let record = serde_json::json!({
        "recorded_by": 1,
        "recorded_by_start_ticks": 1,
        "groups": [
            {"pgid": nix::unistd::getpgrp().as_raw(), "pid": own, "start_ticks": 1, "command": "x", "since": "t"},
            {"pgid": i32::MAX - 1, "pid": 4_000_000_000u32, "start_ticks": 1, "command": "gone", "since": "t"}
        ]
    });
    std::fs::write(scratch.path(LIVE_FILE), record.to_string()).unwrap();
    assert!(kill_survivors(&scratch.path(LIVE_FILE)).unwrap().is_empty());
    assert!(!scratch.path(LIVE_FILE).exists());
}

#[tokio::test]
async fn a_group_is_recorded_while_it_runs_and_forgotten_when_it_ends() {
    // Recording is process-wide: this test is the only one in this binary that turns it on, and
    // every group another test starts meanwhile may land in its record too, so it checks its own.
    let scratch = Scratch::new();
    enable_recording();
    let path = scratch.path(LIVE_FILE);
    let record = record_in(&path);
    assert!(record.is_active());
    let child = spawn_piped(PipedSpec::new("sleep", &scratch.root).args(["4711.23"])).unwrap();
    let pid = child.pid();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("sleep 4711.23"), "{text}");
    child.terminate(Duration::from_secs(1)).await;
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!text.contains(&format!("\"pid\": {pid},")), "the ended group is still recorded: {text}");
    drop(record);
}

#[test]
fn a_process_carrying_the_dead_holders_marker_anywhere_in_its_chain_is_killed() {
    let scratch = Scratch::new();
    // A descendant of a nested harnessgym (say, a run's agent's mcp-proxy): the dead run's
    // marker first, the proxy's after it. Not in any recorded group.
    let mut orphan =
        Command::new("sleep").arg("4711.26").env("HARNESSGYM_SPAWNED_BY", "4000000001:77,12:34").spawn().unwrap();
    let bystander = Command::new("sleep").arg("4711.27").env("HARNESSGYM_SPAWNED_BY", "4000000001:78").spawn();
    let mut bystander = bystander.unwrap();
    let record = serde_json::json!({"groups": [], "recorded_by": 4_000_000_001u32, "recorded_by_start_ticks": 77});
    std::fs::write(scratch.path(LIVE_FILE), record.to_string()).unwrap();
    let survivors = kill_survivors(&scratch.path(LIVE_FILE)).unwrap();
    let orphan_status = orphan.try_wait().unwrap().or_else(|| {
        std::thread::sleep(Duration::from_millis(200));
        orphan.try_wait().unwrap()
    });
    let bystander_running = bystander.try_wait().unwrap().is_none();
    let _ = orphan.kill();
    let _ = bystander.kill();
    let _ = (orphan.wait(), bystander.wait());
    assert_eq!(survivors.len(), 1, "{survivors:?}");
    assert_eq!((survivors[0].pid, survivors[0].command.as_str()), (orphan.id(), "sleep 4711.26"));
    assert!(orphan_status.is_some(), "the orphan still runs");
    assert!(bystander_running, "a process of another harnessgym (another start time) was killed");
}
