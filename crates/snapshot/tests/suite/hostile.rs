//! Hostile trees: symlinks to /etc and symlinked directories pointing outside the workspace
//! cannot make a store restore (or a copy-out) write outside its target, and a crafted manifest
//! cannot place an entry under a symlink.

use std::fs;

use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotError, Store, copy_tree, restore};

use super::common::*;

const PROBE: &str = "harnessgym-hostile-probe-7f3a";

#[test]
fn a_symlinked_directory_in_the_workspace_is_replaced_not_written_through() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let outside = t.path("outside");
    write(&outside, "sentinel", "outside")?;
    write(&ws, "sub/file.txt", "inside")?;
    write(&ws, &format!("etc/{PROBE}"), "snapshot content")?;
    let store = Store::for_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = ws.join(".harnessgym/task_state/initial");
    store.capture(&ws, &snap, &policy)?;

    // The agent swaps the directories for links to the outside and to /etc.
    fs::remove_dir_all(ws.join("sub"))?;
    symlink(outside.as_str(), &ws, "sub")?;
    fs::remove_dir_all(ws.join("etc"))?;
    symlink("/etc", &ws, "etc")?;

    restore(&snap, &ws, &policy)?;
    assert!(fs::symlink_metadata(ws.join("sub"))?.is_dir(), "the link became a real directory again");
    assert_eq!(read(&ws, "sub/file.txt")?, "inside");
    assert_eq!(read(&ws, &format!("etc/{PROBE}"))?, "snapshot content");
    assert!(!std::path::Path::new("/etc").join(PROBE).exists(), "nothing written into /etc");
    let outside_now: Vec<_> = fs::read_dir(&outside)?.filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert_eq!(outside_now, ["sentinel"], "nothing written outside");
    assert_eq!(read(&outside, "sentinel")?, "outside");
    Ok(())
}

#[test]
fn symlinks_to_etc_and_outside_are_kept_as_links_never_followed() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let outside = t.path("outside");
    write(&outside, "big.txt", "outside data")?;
    write(&ws, "a.txt", "a")?;
    symlink("/etc", &ws, "etc_link")?;
    symlink(outside.as_str(), &ws, "out_dir")?;
    symlink("../../escape", &ws, "dotdot")?;
    let store = Store::for_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    let report = store.capture(&ws, &snap, &policy)?;
    assert_eq!(report.files, ["a.txt", "dotdot", "etc_link", "out_dir"]);
    assert!(!exists(&snap, "out_dir/big.txt") || fs::symlink_metadata(snap.join("out_dir"))?.file_type().is_symlink());
    assert_eq!(fs::read_link(snap.join("etc_link"))?, std::path::Path::new("/etc"));

    // The workspace now has real files where the links were; a restore puts the links back
    // without touching what they point at.
    fs::remove_file(ws.join("out_dir"))?;
    write(&ws, "out_dir/planted.txt", "x")?;
    restore(&snap, &ws, &policy)?;
    assert_eq!(fs::read_link(ws.join("out_dir"))?, outside.as_std_path());
    assert_eq!(read(&outside, "big.txt")?, "outside data");
    assert!(!exists(&outside, "planted.txt"));

    let room = t.path("room");
    copy_tree(&snap, &room, &policy)?;
    assert_eq!(fs::read_link(room.join("etc_link"))?, std::path::Path::new("/etc"));
    assert_eq!(fs::read_link(room.join("dotdot"))?, std::path::Path::new("../../escape"));
    Ok(())
}

#[test]
fn a_crafted_manifest_cannot_put_an_entry_under_a_symlink() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let outside = t.path("outside");
    fs::create_dir_all(&outside)?;
    write(&ws, "a/x", "x")?;
    let store = Store::for_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    // Rewrite the manifest: `a` becomes a symlink to the outside, `a/x` stays a file under it,
    // with counts and digest recomputed so that only the structure is wrong.
    let manifest = snap.join(".harnessgym/snapshot");
    let text = fs::read_to_string(&manifest)?;
    let file_line = text.lines().find(|l| l.starts_with("F\t")).ok_or("no file line")?.to_owned();
    let f: Vec<&str> = file_line.split('\t').collect();
    let digest_lines = format!("L {outside} a\nF {} {} {} a/x\n", f[1], f[2], f[5]);
    let digest = format!("blake3:{}", blake3::hash(digest_lines.as_bytes()).to_hex());
    let mut forged = String::new();
    for line in text.lines() {
        let line = if line.starts_with("digest\t") {
            format!("digest\t{digest}")
        } else if line.starts_with("file-count\t") {
            "file-count\t2".to_owned()
        } else if line == "D\t755\ta" {
            format!("L\t{outside}\ta")
        } else {
            line.to_owned()
        };
        forged.push_str(&line);
        forged.push('\n');
    }
    assert!(forged.contains(&format!("L\t{outside}\ta\n")), "{forged}");
    fs::write(&manifest, &forged)?;
    let err = restore(&snap, &t.path("target"), &policy).err().ok_or("expected an error")?;
    assert!(matches!(err, SnapshotError::CorruptManifest { .. }), "{err}");
    assert!(err.to_string().contains("before (or without) its directory"), "{err}");
    assert_eq!(fs::read_dir(&outside)?.count(), 0, "nothing written outside");

    // `..` or absolute paths are refused the same way.
    for bad in ["F\t644\t1\t0\t0\t{h}\t../evil\n", "F\t644\t1\t0\t0\t{h}\t/abs\n", "D\t755\ta/../..\n"] {
        let line = bad.replace("{h}", &"0".repeat(64));
        fs::write(&manifest, text.replace("entries\t2\n", "entries\t3\n") + &line)?;
        let err = restore(&snap, &t.path("target2"), &policy).err().ok_or("expected an error")?;
        assert!(matches!(err, SnapshotError::CorruptManifest { .. }), "{bad}: {err}");
    }
    Ok(())
}

#[test]
fn a_restore_target_that_is_a_symlink_to_a_directory_is_resolved_once_not_per_entry() -> TestResult {
    // The workspace path itself may be a link (the caller's choice); entries inside are never
    // followed.
    let t = Tmp::new()?;
    let real = t.path("real_ws");
    write(&real, "f.txt", "v1")?;
    symlink(real.as_str(), &t.root, "ws_link")?;
    let ws = t.path("ws_link");
    let store = Store::for_workspace(&real)?;
    let policy = CopyPolicy::load(&real, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    write(&real, "f.txt", "v2")?;
    restore(&snap, &ws, &policy)?;
    assert_eq!(read(&real, "f.txt")?, "v1");
    Ok(())
}

/// A restore reads the workspace's `lstat`s ahead, on several threads. Where a symlink stands
/// in for a snapshot directory, what was read below it is another directory's: the restore
/// must replace the link with a real directory, fill it from the snapshot and leave the
/// directory the link pointed to alone — also when that one holds files that look identical.
#[test]
fn lookahead_below_a_symlinked_directory_is_not_trusted() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    for i in 0..600 {
        write(&ws, &format!("bulk/f{i}.txt"), &format!("bulk {i}\n"))?;
    }
    for i in 0..20 {
        write(&ws, &format!("pkg/m{i}.py"), &format!("x = {i}\n"))?;
    }
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let store = Store::for_workspace(&ws)?;
    let snap = ws.join(".harnessgym/snap");
    store.capture(&ws, &snap, &policy)?;
    let before = tree(&ws)?;

    // pkg/ moves outside and a symlink takes its place: same names, sizes and contents.
    let outside = t.path("outside");
    fs::rename(ws.join("pkg"), &outside)?;
    symlink(outside.as_str(), &ws, "pkg")?;
    // And elsewhere a file became a directory, a file went, a file changed.
    fs::remove_file(ws.join("bulk/f1.txt"))?;
    fs::create_dir(ws.join("bulk/f1.txt"))?;
    write(&ws, "bulk/f1.txt/inside", "x")?;
    fs::remove_file(ws.join("bulk/f2.txt"))?;
    write(&ws, "bulk/f3.txt", "changed\n")?;

    restore(&snap, &ws, &policy)?;
    let mut after = tree(&ws)?;
    after.retain(|k, _| !k.starts_with(".harnessgym"));
    let mut expected = before;
    expected.retain(|k, _| !k.starts_with(".harnessgym"));
    assert_eq!(after, expected);
    assert!(!fs::symlink_metadata(ws.join("pkg"))?.file_type().is_symlink());
    assert_eq!(fs::read_dir(&outside)?.count(), 20, "the link's target is untouched");
    assert_eq!(fs::read_to_string(outside.join("m3.py"))?, "x = 3\n");
    Ok(())
}
