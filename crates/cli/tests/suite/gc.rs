//! `harnessgym gc`: a missing workspace is an error; `--dry-run` only reads.

use std::path::Path;
use std::process::Command;

use camino::Utf8Path;
use harnessgym_snapshot::{CopyPolicy, Purpose, Store};
use pretty_assertions::assert_eq;

use super::common::{Tmp, binary, harnessgym, output, s, tree, write};

/// A workspace whose store holds the objects of a deleted checkpoint (something to collect).
fn workspace_with_garbage(tmp: &Tmp) -> std::path::PathBuf {
    let ws = tmp.dir("ws");
    write(&ws.join("a.txt"), "a");
    let utf8 = Utf8Path::from_path(&ws).expect("utf-8");
    let store = Store::for_workspace(utf8).expect("store");
    let policy = CopyPolicy::load(utf8, Purpose::Copy).expect("policy");
    store.capture(utf8, &utf8.join(".harnessgym/runs/r1/checkpoints/best"), &policy).expect("capture");
    std::fs::remove_dir_all(ws.join(".harnessgym/runs/r1")).expect("remove the run");
    ws
}

#[test]
fn gc_on_a_missing_workspace_exits_1_and_names_it() {
    let tmp = Tmp::new();
    let missing = tmp.path("nope");
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = output(harnessgym(&tmp.root).args(["gc", "--workspace", s(&missing)]).args(extra));
        assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
        assert_eq!(out.stderr, format!("harnessgym: error: workspace {} does not exist\n", s(&missing)));
        assert!(!missing.exists(), "gc created the workspace");
    }
}

/// A store whose empty directories and lock file were not copied along (e.g. by a tool that
/// skips empty directories): a dry run reports and creates nothing.
#[test]
fn gc_dry_run_leaves_the_store_listing_unchanged() {
    let tmp = Tmp::new();
    let ws = workspace_with_garbage(&tmp);
    let store = ws.join(".harnessgym/store");
    std::fs::remove_file(store.join("lock")).expect("remove lock");
    for empty in ["tmp", "journal"] {
        std::fs::remove_dir(store.join(empty)).expect("remove an empty directory");
    }
    let before = tree(&ws);
    let out = output(harnessgym(&tmp.root).args(["gc", "--workspace", s(&ws), "--dry-run"]));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("Would remove: 1 unreferenced object"), "{}", out.stdout);
    assert_eq!(tree(&ws), before, "a dry run changed the workspace");
}

/// On a read-only mount of the workspace (a private mount namespace, as root), a dry run works.
#[test]
fn gc_dry_run_works_on_a_read_only_workspace() {
    let tmp = Tmp::new();
    let ws = workspace_with_garbage(&tmp);
    let probe = Command::new("unshare").args(["-m", "sh", "-c"]).arg(ro_script(&ws, "true")).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("NOT RUN: cannot bind-mount read-only in a private mount namespace (needs root and unshare)");
        return;
    }
    let before = tree(&ws);
    let gc = format!("'{}' gc --dry-run --workspace '{}'", binary(), s(&ws));
    let out = Command::new("unshare").args(["-m", "sh", "-c"]).arg(ro_script(&ws, &gc)).output().expect("unshare");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Would remove: 1 unreferenced object"), "{stdout}");
    assert_eq!(tree(&ws), before);
}

fn ro_script(ws: &Path, then: &str) -> String {
    let ws = s(ws);
    format!("mount --bind -o ro '{ws}' '{ws}' || exit 8; touch '{ws}/probe' 2>/dev/null && exit 9; {then}")
}
