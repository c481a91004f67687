//! Times the store's operations on a directory: `cargo run --release -p harnessgym-snapshot
//! --example snapbench -- <workspace> <scratch dir>` (the scratch dir is replaced).
//!
//! Environment: `SNAPBENCH_NO_SETTLE` skips the 11 s pause after clearing the scratch dir;
//! `SNAPBENCH_FIRST_ONLY` stops after the first capture (to profile it alone);
//! `SNAPBENCH_MANIFEST_ONLY` makes that capture manifest-only (as the task-state snapshot is);
//! `SNAPBENCH_REUSE=1 SNAPBENCH_REPEAT=N SNAPBENCH_LOOP=restore|capture` repeats one operation
//! on the scratch dir of an earlier run.

use std::time::Instant;

use camino::Utf8PathBuf;
use harnessgym_snapshot::{CopyPolicy, Purpose, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let ws = Utf8PathBuf::from(args.next().ok_or("usage: snapbench <workspace> <scratch>")?);
    let scratch = Utf8PathBuf::from(args.next().ok_or("usage: snapbench <workspace> <scratch>")?);
    let reuse = std::env::var_os("SNAPBENCH_REUSE").is_some() && scratch.join("snap1").exists();
    if scratch.exists() && !reuse {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    // ext4 skips inodes freed in the last 5-10 s when allocating: after a mass delete, creating
    // files is slow for a while (cp too). Let that pass so the figures are about this crate.
    if std::env::var_os("SNAPBENCH_NO_SETTLE").is_none() && !reuse {
        std::thread::sleep(std::time::Duration::from_secs(11));
    }
    let store = Store::open(&scratch.join("store"))?;
    let task = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let copy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let time = |what: &str, f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
        let t = Instant::now();
        let r = f();
        println!("{what:<28} {:>8.3} s", t.elapsed().as_secs_f64());
        r
    };
    if !reuse {
        let first_view = if std::env::var_os("SNAPBENCH_MANIFEST_ONLY").is_some() {
            harnessgym_snapshot::SnapshotView::ManifestOnly
        } else {
            harnessgym_snapshot::SnapshotView::Browsable
        };
        time("capture (first)", &mut || {
            Ok(store.capture_as(&ws, &scratch.join("snap1"), &task, first_view).map(drop)?)
        })?;
        if std::env::var_os("SNAPBENCH_FIRST_ONLY").is_some() {
            return Ok(());
        }
        time("capture (again)", &mut || Ok(store.capture(&ws, &scratch.join("snap2"), &copy).map(drop)?))?;
        time("copy_out", &mut || {
            Ok(store.copy_out(&scratch.join("snap2"), &scratch.join("room"), &copy).map(drop)?)
        })?;
        time("restore ws (unchanged)", &mut || Ok(store.restore(&scratch.join("snap1"), &ws, &task).map(drop)?))?;
        time("restore room (unchanged)", &mut || {
            Ok(store.restore(&scratch.join("snap2"), &scratch.join("room"), &copy).map(drop)?)
        })?;
        time("gc (dry run)", &mut || Ok(store.gc(true).map(drop)?))?;
    }
    let repeat: usize = std::env::var("SNAPBENCH_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let only = std::env::var("SNAPBENCH_LOOP").unwrap_or_default();
    for _ in 0..repeat {
        if only != "capture" {
            time("restore ws (unchanged)", &mut || Ok(store.restore(&scratch.join("snap1"), &ws, &task).map(drop)?))?;
        }
        if only != "restore" {
            time("capture (again)", &mut || Ok(store.capture(&ws, &scratch.join("snap2"), &copy).map(drop)?))?;
        }
    }
    Ok(())
}
