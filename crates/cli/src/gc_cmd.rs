//! `harnessgym gc`: removes the snapshot-store objects no snapshot references (a thin wrapper
//! over `harnessgym_snapshot::Store::gc`).

use std::process::ExitCode;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_core::lock::{LockMode, WorkspaceLock};
use harnessgym_snapshot::{GcReport, Store};

use crate::cli::GcArgs;

/// Exit 0 after collecting (or finding nothing to collect), 1 on an error (e.g. the store is
/// in use by a running harnessgym).
pub fn gc(args: &GcArgs) -> anyhow::Result<ExitCode> {
    let workspace = Utf8PathBuf::from(&args.workspace);
    let workspace = if workspace.is_absolute() { workspace } else { crate::current_dir()?.join(workspace) };
    if !workspace.is_dir() {
        match workspace.exists() {
            true => {
                anyhow::bail!("workspace {workspace} is not a directory; pass a workspace directory to --workspace")
            }
            false => anyhow::bail!("workspace {workspace} does not exist"),
        }
    }
    let store_dir = workspace.join(".harnessgym/store");
    // The lock comes first (a run may be creating the store); a workspace without .harnessgym/
    // has nothing to lock or collect.
    let mode = if args.dry_run { LockMode::Shared } else { LockMode::Exclusive };
    let lock = match workspace.join(".harnessgym").is_dir() {
        true => Some(WorkspaceLock::acquire(&workspace, mode)?),
        false => None,
    };
    if let Some(report) = lock.as_ref().and_then(|l| harnessgym_core::lock::survivors_report(l.killed_survivors())) {
        eprintln!("harnessgym: {report}");
    }
    if !store_dir.is_dir() {
        println!("No snapshot store in {workspace} (expected {store_dir}); nothing to collect.");
        return Ok(ExitCode::SUCCESS);
    }
    // A dry run only reads (it works on a read-only workspace); a real gc opens the store for
    // writing, which also finishes operations a killed harnessgym left journaled.
    let store = if args.dry_run { Store::open_read_only(&store_dir)? } else { Store::open(&store_dir)? };
    let report = store.gc(args.dry_run)?;
    print!("{}", render(&report, &store_dir));
    Ok(ExitCode::SUCCESS)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render(r: &GcReport, store: &Utf8Path) -> String {
    let verb = if r.dry_run { "Would remove" } else { "Removed" };
    format!(
        "Snapshot store: {store}\nKept: {} for {} ({})\n{verb}: {} ({}), {}, {}\n",
        plural(r.objects_kept, "object", "objects"),
        plural(r.snapshots, "snapshot", "snapshots"),
        mib(r.bytes_kept),
        plural(r.objects_removed, "unreferenced object", "unreferenced objects"),
        mib(r.bytes_removed),
        plural(r.refs_removed, "reference to a deleted snapshot", "references to deleted snapshots"),
        plural(r.leftovers_removed, "leftover of an interrupted operation", "leftovers of interrupted operations"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use harnessgym_snapshot::{CopyPolicy, Purpose};

    #[test]
    fn renders_what_was_kept_and_removed() {
        let report = GcReport {
            snapshots: 2,
            objects_kept: 10,
            bytes_kept: 3 << 20,
            objects_removed: 1,
            bytes_removed: 1 << 20,
            refs_removed: 1,
            leftovers_removed: 0,
            dry_run: true,
        };
        let text = render(&report, Utf8Path::new("/w/.harnessgym/store"));
        assert_eq!(
            text,
            "Snapshot store: /w/.harnessgym/store\nKept: 10 objects for 2 snapshots (3.0 MiB)\n\
             Would remove: 1 unreferenced object (1.0 MiB), 1 reference to a deleted snapshot, \
             0 leftovers of interrupted operations\n"
        );
    }

    #[test]
    fn collects_the_objects_of_a_deleted_checkpoint() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ws = Utf8PathBuf::from_path_buf(dir.path().join("ws")).map_err(|_| "non-UTF-8 temp dir")?;
        std::fs::create_dir_all(&ws)?;
        std::fs::write(ws.join("a.txt"), "a")?;
        let store = Store::for_workspace(&ws)?;
        let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
        let best = ws.join(".harnessgym/runs/r1/checkpoints/best");
        store.capture(&ws, &best, &policy)?;
        std::fs::remove_dir_all(ws.join(".harnessgym/runs/r1"))?;
        let args = GcArgs { workspace: ws.to_string(), dry_run: false };
        assert_eq!(gc(&args)?, ExitCode::SUCCESS);
        let again = store.gc(true)?;
        assert_eq!((again.objects_kept, again.objects_removed, again.snapshots), (0, 0, 0));
        // No store at all: nothing to do, still success.
        let empty = GcArgs { workspace: dir.path().to_string_lossy().into_owned(), dry_run: false };
        assert_eq!(gc(&empty)?, ExitCode::SUCCESS);
        Ok(())
    }
}
