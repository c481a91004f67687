//! The fork-and-kill harness: a helper process (this test binary, re-executed with
//! `HG_SNAPSHOT_CRASH_HELPER` set) captures or restores; the parent SIGKILLs it at a random
//! moment, then opens the store (which completes journaled operations) and checks that the
//! snapshot is the old or the new tree, and the workspace the old tree or the restored one —
//! never a mixture, never a leftover.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_snapshot::{CopyPolicy, Purpose, Store};

use super::common::*;

const HELPER_ENV: &str = "HG_SNAPSHOT_CRASH_HELPER";
const HELPER_TEST: &str = "suite::crash::crash_helper";

/// Runs one operation when started by the harness (a no-op in a normal test run).
#[test]
fn crash_helper() -> TestResult {
    let Ok(spec) = std::env::var(HELPER_ENV) else { return Ok(()) };
    let parts: Vec<&str> = spec.split('\t').collect();
    let [op, store, a, b] = parts[..] else { return Err(format!("bad spec {spec:?}").into()) };
    let store = Store::open(Utf8Path::new(store))?;
    let (a, b) = (Utf8Path::new(a), Utf8Path::new(b));
    let mut out = std::io::stdout();
    writeln!(out, "HG-READY")?;
    out.flush()?;
    match op {
        "capture" => {
            let policy = CopyPolicy::load(a, Purpose::TaskState)?;
            store.capture(a, b, &policy)?;
        }
        "restore" => {
            let policy = CopyPolicy::load(b, Purpose::TaskState)?;
            store.restore(a, b, &policy)?;
        }
        other => return Err(format!("unknown op {other}").into()),
    }
    writeln!(out, "HG-DONE")?;
    out.flush()?;
    Ok(())
}

/// A workspace of a few hundred files (some large), so an operation takes long enough to be
/// interrupted in many different places.
fn build(ws: &Path, rng: &mut Rng) -> TestResult {
    for i in 0..120 {
        let dir = ws.join(format!("d{}", i % 8)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&dir)?;
        let size = if i % 30 == 0 { 200_000 } else { 2_000 + rng.below(3_000) };
        std::fs::write(dir.join(format!("f{i}.txt")), rng.bytes(size))?;
    }
    std::os::unix::fs::symlink("d0/e0/f0.txt", ws.join("link"))?;
    std::fs::write(ws.join("with space.txt"), b"x")?;
    Ok(())
}

/// Rewrites, deletes and adds many files.
fn change(ws: &Path, rng: &mut Rng) -> TestResult {
    let tree = exact_tree(ws, &[".harnessgym"])?;
    for (k, v) in &tree {
        let p = ws.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(k));
        if let Exact::File { .. } = v {
            match rng.below(6) {
                0 => std::fs::remove_file(&p)?,
                1..=3 => std::fs::write(&p, rng.bytes(4_000))?,
                _ => {}
            }
        }
    }
    for i in 0..30 {
        let dir = ws.join(format!("new{}", i % 4));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("n{i}")), rng.bytes(3_000))?;
    }
    Ok(())
}

struct Scenario {
    _t: Tmp,
    ws: Utf8PathBuf,
    store: Utf8PathBuf,
    snap: Utf8PathBuf,
    old: BTreeMap<Vec<u8>, Exact>,
    new: BTreeMap<Vec<u8>, Exact>,
}

/// Tree A captured as the snapshot, then the workspace changed to tree B.
fn scenario(seed: u64) -> Result<Scenario, Box<dyn std::error::Error>> {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let mut rng = Rng(seed);
    build(ws.as_std_path(), &mut rng)?;
    let store_path = ws.join(".harnessgym/store");
    let store = Store::open(&store_path)?;
    let snap = ws.join(".harnessgym/task_state/initial");
    store.capture(&ws, &snap, &CopyPolicy::load(&ws, Purpose::TaskState)?)?;
    let old = exact_tree(ws.as_std_path(), &[".harnessgym"])?;
    change(ws.as_std_path(), &mut rng)?;
    let new = exact_tree(ws.as_std_path(), &[".harnessgym"])?;
    Ok(Scenario { _t: t, ws, store: store_path, snap, old, new })
}

/// What the kills hit. Every kill lands after the helper said it was starting the operation.
#[derive(Debug, Default)]
struct Outcomes {
    /// The operation had reported completion before the kill.
    finished: usize,
    /// Killed before completion; recovery left the old tree (snapshot) or workspace.
    killed_old: usize,
    /// Killed before completion; the new tree is in place (swapped in, or restore completed
    /// by the recovery).
    killed_new: usize,
    /// Killed while a journal was in place (recovery had something to complete).
    journaled: usize,
}

impl Outcomes {
    fn count(&mut self, finished: bool, is_new: bool, journaled: bool) {
        match (finished, is_new) {
            (true, _) => self.finished += 1,
            (false, true) => self.killed_new += 1,
            (false, false) => self.killed_old += 1,
        }
        self.journaled += usize::from(journaled);
    }
}

/// Leftovers of an operation that a recovery must have removed.
fn leftovers(dir: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e?;
        let name = e.file_name().to_string_lossy();
        // Inside the store only the journal matters (checked apart); other scraps there are
        // garbage that gc removes.
        if name.starts_with(".hg-") && !e.path().starts_with(dir.join(".harnessgym/store")) {
            out.push(e.path().display().to_string());
        }
    }
    Ok(out)
}

fn kill_case(seed: u64, op: &str, delay: Duration, outcomes: &mut Outcomes) -> TestResult {
    let s = scenario(seed)?;
    let spec = match op {
        "capture" => format!("capture\t{}\t{}\t{}", s.store, s.ws, s.snap),
        _ => format!("restore\t{}\t{}\t{}", s.store, s.snap, s.ws),
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args([HELPER_TEST, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(HELPER_ENV, &spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("helper exited before starting ({op}, seed {seed})").into());
        }
        if line.trim() == "HG-READY" {
            break;
        }
    }
    std::thread::sleep(delay);
    child.kill()?; // SIGKILL
    child.wait()?;
    let mut rest = String::new();
    reader.read_to_string(&mut rest)?;
    let finished = rest.contains("HG-DONE");

    let journal = s.store.join("journal");
    // Journals in place (a journal still under its temporary name means the operation had not
    // started: recovery just drops it).
    let pending = std::fs::read_dir(&journal)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hg-op-"))
        .count();
    let store = Store::open(&s.store)?; // completes what was journaled
    assert_eq!(std::fs::read_dir(&journal)?.count(), 0, "journal left after recovery ({op}, seed {seed})");
    let stray = leftovers(s.ws.as_std_path())?;
    assert!(stray.is_empty(), "leftovers after recovery ({op}, seed {seed}): {stray:?}");

    let policy = CopyPolicy::load(&s.ws, Purpose::TaskState)?;
    match op {
        "capture" => {
            // The snapshot is the old tree or the new one, whole.
            let out = s.ws.join(".harnessgym/check");
            store.copy_out(&s.snap, &out, &policy)?;
            let got = exact_tree(out.as_std_path(), &[])?;
            std::fs::remove_dir_all(&out)?;
            let is_old = got == s.old;
            let is_new = got == s.new;
            assert!(is_old || is_new, "capture killed after {delay:?} (seed {seed}): snapshot is neither tree");
            if finished {
                assert!(is_new, "a finished capture must be the new tree (seed {seed})");
            }
            outcomes.count(finished, is_new, pending > 0);
            // gc after a kill never loses what the surviving snapshot needs.
            if seed.is_multiple_of(8) {
                store.gc(false)?;
                store.copy_out(&s.snap, &out, &policy)?;
                assert_eq!(exact_tree(out.as_std_path(), &[])?, got, "gc lost objects (seed {seed})");
            }
        }
        _ => {
            // The workspace is the snapshot (restore finished, by itself or by the recovery) or
            // untouched (killed before the journal was written).
            let got = exact_tree(s.ws.as_std_path(), &[".harnessgym"])?;
            let restored = got == s.old;
            let untouched = got == s.new;
            assert!(
                restored || untouched,
                "restore killed after {delay:?} (seed {seed}, journal {pending}): workspace is a mixture"
            );
            if pending > 0 || finished {
                assert!(restored, "a journaled or finished restore must end restored (seed {seed})");
            }
            outcomes.count(finished, restored, pending > 0);
        }
    }
    Ok(())
}

/// How long the operation takes here, to spread the kills over it.
fn calibrate(op: &str) -> Result<Duration, Box<dyn std::error::Error>> {
    let s = scenario(1)?;
    let store = Store::open(&s.store)?;
    let policy = CopyPolicy::load(&s.ws, Purpose::TaskState)?;
    let start = Instant::now();
    match op {
        "capture" => drop(store.capture(&s.ws, &s.snap, &policy)?),
        _ => drop(store.restore(&s.snap, &s.ws, &policy)?),
    }
    Ok(start.elapsed())
}

#[test]
fn sigkill_at_random_points_then_recovery_leaves_the_old_or_the_new_tree() -> TestResult {
    let cases: u64 = std::env::var("HG_CRASH_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(110);
    for op in ["capture", "restore"] {
        let took = calibrate(op)?;
        let mut rng = Rng(0x5eed ^ op.len() as u64);
        let mut outcomes = Outcomes::default();
        for case in 0..cases {
            // Mostly inside the operation, some before it starts, some after it ends. Every 8th
            // kill comes right away: a restore journals itself within its first millisecond, a
            // window uniform delays over ~100 ms hit only by luck.
            let span = took.as_micros() as u64 * 13 / 10 + 500;
            let random = Duration::from_micros(rng.next() % span);
            let delay = if case % 8 == 0 { Duration::ZERO } else { random };
            kill_case(case * 7919 + 3, op, delay, &mut outcomes)?;
        }
        // The timing of a helper process on a loaded machine drifts from the calibration: when a
        // side of the switch got no kill, aim more kills at it (every case is checked the same
        // way; this only makes sure both sides are exercised).
        let mut extra = 0;
        let mut took = took;
        while extra < 60 && (outcomes.killed_old == 0 || outcomes.killed_new == 0 || outcomes.journaled == 0) {
            // Other tests running beside this one slow the helper down: measure again now and
            // then, and reach later into the operation as the misses add up.
            if extra % 15 == 14 {
                took = took.max(calibrate(op)?);
            }
            let late = took.as_micros() as u64 * (6 + rng.next() % (8 + extra / 5)) / 10;
            let delay = if outcomes.killed_old == 0 { Duration::ZERO } else { Duration::from_micros(late) };
            kill_case((cases + extra) * 7919 + 3, op, delay, &mut outcomes)?;
            extra += 1;
        }
        eprintln!("{op}: {} kills, operation ≈ {took:?}: {outcomes:?}", cases + extra);
        let killed = outcomes.killed_old + outcomes.killed_new;
        assert!(killed * 3 >= cases as usize, "{op}: too few kills landed inside the operation: {outcomes:?}");
        assert!(
            outcomes.killed_old > 0 && outcomes.killed_new > 0 && outcomes.journaled > 0,
            "{op}: kills must land both before and after the switch to the new tree: {outcomes:?}"
        );
    }
    Ok(())
}
