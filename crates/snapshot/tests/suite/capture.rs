use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotError, capture, copy_tree};

use super::common::*;

#[test]
fn copy_excludes_names_at_any_depth_and_suffixes_but_keeps_so() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let report = capture(&ws, &t.path("out/checkpoint"), &policy)?;

    let expected = vec!["README.md", "build/libfoo.dylib", "build/libfoo.so", "src/main.py"];
    assert_eq!(report.files, expected);
    assert_eq!(report.file_count, 4);
    assert_eq!(report.bytes, ("hello\n".len() + "shared".len() * 2 + "print(1)\n".len()) as u64);

    let got = tree(&t.path("out/checkpoint"))?;
    let keys: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "README.md",
            "build",
            "build/libfoo.dylib",
            "build/libfoo.so",
            "build/obj",
            "src",
            "src/deep",
            "src/deep/nested",
            "src/main.py",
            "sub",
            "tests",
            "vendor",
            "vendor/dep",
        ]
    );
    Ok(())
}

#[test]
fn task_state_keeps_git_and_nested_caches_but_drops_top_level_harness_dirs() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    let report = capture(&ws, &snap, &policy)?;

    for kept in [
        ".git/HEAD",
        "vendor/dep/.git/HEAD",
        "src/__pycache__/main.cpython-312.pyc",
        "src/deep/nested/__pycache__/m.pyc",
        "src/mod.pyc",
        "build/obj/a.o",
        ".harnessgym_build/x",
        "sub/.claude/inner.json",
        "sub/.harnessgym/inner",
        "tests/.pytest_cache/v",
    ] {
        assert!(exists(&snap, kept), "{kept} should be in the task-state snapshot");
        assert!(report.files.iter().any(|f| f == kept), "{kept} missing from report");
    }
    for dropped in [".harnessgym", ".agents", ".claude", ".codex"] {
        assert!(!exists(&snap, dropped), "{dropped} should not be in the task-state snapshot");
    }
    Ok(())
}

#[test]
fn capture_replaces_existing_destination_and_creates_parents() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "a.txt", "new")?;
    let dest = t.path("runs/1/snapshots/task");
    write(&dest, "stale.txt", "old")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    capture(&ws, &dest, &policy)?;
    assert!(!exists(&dest, "stale.txt"));
    assert_eq!(read(&dest, "a.txt")?, "new");
    // No staging leftovers next to the destination.
    let siblings: Vec<_> = fs::read_dir(t.path("runs/1/snapshots"))?.collect::<Result<_, _>>()?;
    assert_eq!(siblings.len(), 1);
    Ok(())
}

#[test]
fn capture_replaces_read_only_trees() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "gomod/pkg/x.go", "package x")?;
    fs::set_permissions(ws.join("gomod/pkg/x.go"), fs::Permissions::from_mode(0o444))?;
    fs::set_permissions(ws.join("gomod/pkg"), fs::Permissions::from_mode(0o555))?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let dest = t.path("snap");
    capture(&ws, &dest, &policy)?;
    assert_eq!(tree(&dest)?.get("gomod/pkg"), Some(&Node::Dir(0o555)));
    // A second capture must be able to delete the read-only copy.
    capture(&ws, &dest, &policy)?;
    assert_eq!(read(&dest, "gomod/pkg/x.go")?, "package x");
    fs::set_permissions(ws.join("gomod/pkg"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(dest.join("gomod/pkg"), fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[test]
fn capture_copies_modes_and_mtimes() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "run.sh", "#!/bin/sh\n")?;
    let script = ws.join("run.sh");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o751))?;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(&script)?.set_modified(mtime)?;

    let dest = t.path("snap");
    capture(&ws, &dest, &CopyPolicy::load(&ws, Purpose::Copy)?)?;
    let meta = fs::metadata(dest.join("run.sh"))?;
    assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
    assert_eq!(meta.modified()?, mtime);
    Ok(())
}

#[test]
fn capture_into_destination_inside_workspace_does_not_copy_itself() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "a.txt", "a")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    // Inside an excluded dir (the normal case) ...
    let dest = ws.join(".harnessgym/snapshots/task");
    capture(&ws, &dest, &policy)?;
    capture(&ws, &dest, &policy)?;
    assert_eq!(tree(&dest)?.keys().collect::<Vec<_>>(), vec!["a.txt"]);
    // ... and inside a non-excluded one.
    let dest = ws.join("snaps/one");
    let report = capture(&ws, &dest, &policy)?;
    assert_eq!(report.files, vec!["a.txt"]);
    let report = capture(&ws, &dest, &policy)?;
    assert_eq!(report.files, vec!["a.txt"]);
    Ok(())
}

#[test]
fn capture_refuses_destination_containing_workspace() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "a.txt", "a")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    for dest in [&ws, &t.root] {
        let err = capture(&ws, dest, &policy).err().ok_or("expected an error")?;
        assert!(matches!(err, SnapshotError::Overlap { .. }), "{err}");
    }
    assert_eq!(read(&ws, "a.txt")?, "a");
    Ok(())
}

#[test]
fn capture_of_missing_workspace_names_it() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("nope");
    let err = capture(&ws, &t.path("d"), &CopyPolicy::builtin(Purpose::Copy)).err().ok_or("expected an error")?;
    assert!(err.to_string().contains(ws.as_str()), "{err}");
    Ok(())
}

#[test]
fn harnessgymignore_is_honoured_by_capture_and_copy_tree() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, ".harnessgymignore", "data/*.bin\nscratch/\n")?;
    write(&ws, "data/cache.bin", "big")?;
    write(&ws, "data/keep.txt", "keep")?;
    write(&ws, "a/scratch/tmp.txt", "tmp")?;
    write(&ws, "src/x.rs", "fn main() {}")?;
    for purpose in [Purpose::Copy, Purpose::TaskState] {
        let policy = CopyPolicy::load(&ws, purpose)?;
        let r1 = capture(&ws, &t.path("cap"), &policy)?;
        let r2 = copy_tree(&ws, &t.path("copy"), &policy)?;
        let expected = vec![".harnessgymignore", "data/keep.txt", "src/x.rs"];
        assert_eq!(r1.files, expected, "{purpose:?}");
        assert_eq!(r2.files, expected, "{purpose:?}");
        assert!(!exists(&t.path("cap"), "a/scratch"));
    }
    Ok(())
}

#[test]
fn copy_tree_replaces_destination() -> TestResult {
    let t = Tmp::new()?;
    let src = t.path("room");
    sample_workspace(&src)?;
    let dest = t.path("compare/room1");
    write(&dest, "old.txt", "old")?;
    let report = copy_tree(&src, &dest, &CopyPolicy::builtin(Purpose::Copy))?;
    assert!(!exists(&dest, "old.txt"));
    assert_eq!(report.file_count, 4);
    assert_eq!(read(&dest, "src/main.py")?, "print(1)\n");
    Ok(())
}
