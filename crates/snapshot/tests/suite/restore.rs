use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use harnessgym_snapshot::{COPY_EXCLUDED_NAMES, CopyPolicy, Purpose, SnapshotError, capture, copy_tree, restore};

use super::common::*;

#[test]
fn restore_removes_added_and_restores_modified_and_deleted() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    write(&ws, "src/util/helpers.py", "def h(): pass\n")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    let before = tree(&ws)?;

    // The agent's iteration.
    write(&ws, "README.md", "changed\n")?;
    fs::remove_file(ws.join("src/main.py"))?;
    fs::remove_dir_all(ws.join("src/util"))?;
    write(&ws, "new.txt", "added")?;
    write(&ws, "newdir/a/b/c.txt", "added")?;
    fs::create_dir_all(ws.join("emptydir/inner"))?;
    write(&ws, ".git/refs/heads/feature", "abc")?;
    write(&ws, "src/__pycache__/extra.pyc", "bytecode")?;
    // Type changes both ways.
    fs::remove_file(ws.join("build/libfoo.so"))?;
    fs::create_dir_all(ws.join("build/libfoo.so/x"))?;
    fs::remove_dir_all(ws.join("vendor/dep"))?;
    write(&ws, "vendor/dep", "now a file")?;
    // The harness's own state must survive.
    write(&ws, ".harnessgym/iteration-2.json", "{}")?;

    let report = restore(&snap, &ws, &policy)?;
    let mut after = tree(&ws)?;
    let harness_file = after.remove(".harnessgym/iteration-2.json");
    assert!(matches!(harness_file, Some(Node::File(ref c, _)) if c == b"{}"), "{harness_file:?}");
    assert_eq!(after, before);
    assert!(report.files.contains(&"README.md".to_owned()));
    assert!(report.files.contains(&"src/util/helpers.py".to_owned()));
    assert!(!report.files.iter().any(|f| f.starts_with(".harnessgym/")));

    // A second restore is a no-op.
    restore(&snap, &ws, &policy)?;
    let mut again = tree(&ws)?;
    again.remove(".harnessgym/iteration-2.json");
    assert_eq!(again, before);
    Ok(())
}

#[test]
fn restore_copies_modes_and_mtimes_even_when_content_is_unchanged() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "run.sh", "#!/bin/sh\n")?;
    write(&ws, "data.txt", "data")?;
    fs::set_permissions(ws.join("run.sh"), fs::Permissions::from_mode(0o755))?;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    fs::File::options().write(true).open(ws.join("data.txt"))?.set_modified(mtime)?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;

    fs::set_permissions(ws.join("run.sh"), fs::Permissions::from_mode(0o600))?;
    fs::File::options().write(true).open(ws.join("data.txt"))?.set_modified(SystemTime::now())?;
    write(&ws, "run.sh", "#!/bin/sh\necho changed\n")?;
    restore(&snap, &ws, &policy)?;

    assert_eq!(read(&ws, "run.sh")?, "#!/bin/sh\n");
    assert_eq!(fs::metadata(ws.join("run.sh"))?.permissions().mode() & 0o7777, 0o755);
    assert_eq!(fs::metadata(ws.join("data.txt"))?.modified()?, mtime);
    Ok(())
}

#[test]
fn restore_keeps_excluded_files_nested_in_directories() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, ".harnessgymignore", "data/*.bin\n")?;
    write(&ws, "lib/x.c", "int x;")?;
    write(&ws, "lib/libx.so", "shared v1")?;
    write(&ws, "data/input.txt", "in")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("checkpoint");
    capture(&ws, &snap, &policy)?;

    // Later: builds produced excluded artefacts inside non-excluded directories.
    write(&ws, "lib/x.c", "int x = 2;")?;
    write(&ws, "lib/libx.so", "shared v2")?;
    write(&ws, "lib/x.o", "object")?;
    write(&ws, "lib/extra.c", "extra")?;
    write(&ws, "lib/__pycache__/m.pyc", "bytecode")?;
    write(&ws, "data/cache.bin", "cached")?;
    fs::remove_file(ws.join("data/input.txt"))?;
    // A whole new directory that also holds an excluded file: emptied, not deleted.
    write(&ws, "newlib/y.o", "object")?;
    write(&ws, "newlib/y.c", "int y;")?;
    write(&ws, "newlib/sub/z.c", "int z;")?;
    // A whole new directory with nothing excluded inside: deleted.
    write(&ws, "gone/sub/a.c", "a")?;

    restore(&snap, &ws, &policy)?;

    assert_eq!(read(&ws, "lib/x.o")?, "object");
    assert_eq!(read(&ws, "lib/__pycache__/m.pyc")?, "bytecode");
    assert_eq!(read(&ws, "data/cache.bin")?, "cached");
    assert_eq!(read(&ws, "newlib/y.o")?, "object");
    assert_eq!(read(&ws, "lib/x.c")?, "int x;");
    assert_eq!(read(&ws, "lib/libx.so")?, "shared v1");
    assert_eq!(read(&ws, "data/input.txt")?, "in");
    assert!(!exists(&ws, "lib/extra.c"));
    assert!(!exists(&ws, "newlib/y.c"));
    assert!(!exists(&ws, "newlib/sub"));
    assert!(!exists(&ws, "gone"));
    Ok(())
}

#[test]
fn one_exclusion_policy_for_template_and_checkpoint() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    write(&ws, ".harnessgymignore", "*.log\n")?;
    write(&ws, "logs/run.log", "log")?;
    for name in COPY_EXCLUDED_NAMES {
        write(&ws, &format!("deep/er/{name}/f"), "x")?;
    }
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let template = copy_tree(&ws, &t.path("qualification/template"), &policy)?;
    let checkpoint = capture(&ws, &t.path("checkpoints/best"), &policy)?;
    let room = copy_tree(&t.path("qualification/template"), &t.path("qualification/room-1"), &policy)?;

    assert_eq!(template, checkpoint);
    assert_eq!(template, room);
    assert_eq!(tree(&t.path("qualification/template"))?, tree(&t.path("checkpoints/best"))?);
    for f in &checkpoint.files {
        assert!(!COPY_EXCLUDED_NAMES.iter().any(|n| f.split('/').any(|c| c == *n)), "{f} has an excluded component");
        assert!(![".o", ".pyc", ".pyo", ".log"].iter().any(|s| f.ends_with(s)), "{f}");
    }
    Ok(())
}

#[test]
fn restore_never_deletes_harnessgymignored_paths() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, ".harnessgymignore", "models/\n*.ckpt\n")?;
    write(&ws, "src/a.py", "a")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    assert!(exists(&snap, ".harnessgymignore"));

    write(&ws, "models/weights.bin", "w")?;
    write(&ws, "src/deep/run.ckpt", "c")?;
    write(&ws, "src/deep/other.py", "o")?;
    restore(&snap, &ws, &policy)?;

    assert_eq!(read(&ws, "models/weights.bin")?, "w");
    assert_eq!(read(&ws, "src/deep/run.ckpt")?, "c");
    assert!(!exists(&ws, "src/deep/other.py"));
    assert_eq!(read(&ws, ".harnessgymignore")?, "models/\n*.ckpt\n");
    Ok(())
}

#[test]
fn restore_refuses_to_replace_a_directory_holding_excluded_entries_with_a_file() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "thing", "file")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    fs::remove_file(ws.join("thing"))?;
    write(&ws, "thing/__pycache__/x.pyc", "b")?;
    let err = restore(&snap, &ws, &policy).err().ok_or("expected an error")?;
    assert!(matches!(err, SnapshotError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains(ws.join("thing").as_str()), "{err}");
    assert_eq!(read(&ws, "thing/__pycache__/x.pyc")?, "b");
    Ok(())
}

#[test]
fn restore_from_missing_snapshot_is_a_clear_error() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "a.txt", "a")?;
    let snap = t.path("no-such-snapshot");
    let err = restore(&snap, &ws, &CopyPolicy::builtin(Purpose::TaskState)).err().ok_or("expected an error")?;
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("snapshot {snap} does not exist; ")), "{msg}");
    assert_eq!(read(&ws, "a.txt")?, "a");
    Ok(())
}

#[test]
fn restore_handles_read_only_directories() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "keep.txt", "k")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    write(&ws, "gopath/pkg/mod/x/y.go", "package y")?;
    fs::set_permissions(ws.join("gopath/pkg/mod/x/y.go"), fs::Permissions::from_mode(0o444))?;
    fs::set_permissions(ws.join("gopath/pkg/mod/x"), fs::Permissions::from_mode(0o555))?;
    restore(&snap, &ws, &policy)?;
    assert!(!exists(&ws, "gopath"));
    assert_eq!(read(&ws, "keep.txt")?, "k");
    Ok(())
}

#[test]
fn restore_keeps_a_snapshot_stored_inside_the_workspace() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "a.txt", "a")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = ws.join(".harnessgym/snapshots/task");
    capture(&ws, &snap, &policy)?;
    write(&ws, "a.txt", "changed")?;
    restore(&snap, &ws, &policy)?;
    assert_eq!(read(&ws, "a.txt")?, "a");
    assert!(exists(&snap, "a.txt"));
    Ok(())
}

#[test]
fn restore_leaves_no_temporary_files() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    for rel in ["README.md", "src/main.py", ".git/HEAD"] {
        write(&ws, rel, "modified")?;
    }
    restore(&snap, &ws, &policy)?;
    for root in [&ws, &snap] {
        let leftovers: Vec<String> = tree(root)?.into_keys().filter(|k| k.contains(".hg-")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    Ok(())
}

#[test]
fn restore_creates_a_missing_workspace() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;
    let fresh = t.path("fresh/ws");
    let report = restore(&snap, &fresh, &policy)?;
    assert_eq!(report.file_count, 4);
    assert_eq!(tree(&fresh)?, tree(&snap)?);
    Ok(())
}
