//! The content-addressed store: capture, restore, copy-out, views, manifests, gc.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use harnessgym_snapshot::{
    Cancel, CopyPolicy, INLINE_FILES_MAX, Purpose, SnapshotError, SnapshotView, Store, cancellable, copy_tree, restore,
    snapshot_file,
};

use super::common::*;

const META: &[&str] = &[".harnessgym"];

fn setup() -> Result<(Tmp, camino::Utf8PathBuf, Store), Box<dyn std::error::Error>> {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    sample_workspace(&ws)?;
    write(&ws, "big.bin", &"x".repeat(3 << 20))?;
    let store = Store::for_workspace(&ws)?;
    Ok((t, ws, store))
}

#[test]
fn capture_makes_a_browsable_view_of_hard_links_and_a_manifest() -> TestResult {
    let (_t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = ws.join(".harnessgym/runs/r/checkpoints/best");
    let report = store.capture(&ws, &snap, &policy)?;
    assert_eq!(report.files, ["README.md", "big.bin", "build/libfoo.dylib", "build/libfoo.so", "src/main.py"]);
    assert!(report.digest.as_deref().is_some_and(|d| d.starts_with("blake3:")), "{report:?}");
    assert_eq!(read(&snap, "src/main.py")?, "print(1)\n");
    assert!(snap.join(".harnessgym/snapshot").is_file(), "manifest");
    assert!(!exists(&snap, "src/__pycache__"), "excluded");
    // The view's files are the store's objects (hard links): counted once by du.
    assert!(fs::metadata(snap.join("big.bin"))?.nlink() >= 2);
    // ... but the workspace's own files never are.
    assert_eq!(fs::metadata(ws.join("big.bin"))?.nlink(), 1);
    assert!(Store::is_snapshot(snap.as_std_path()));
    Ok(())
}

#[test]
fn a_manifest_only_snapshot_restores_copies_and_survives_gc_like_a_browsable_one() -> TestResult {
    let (t, ws, store) = setup()?;
    write(&ws, ".harnessgymignore", "README.md\n")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let internal = t.path("internal");
    let report = store.capture_as(&ws, &internal, &policy, SnapshotView::ManifestOnly)?;
    let browsable = store.capture(&ws, &t.path("browsable"), &policy)?;
    assert_eq!(report, browsable, "the same tree, the same report");
    // Only the manifest and its marker: no directory or link per entry.
    let names: Vec<String> = tree(&internal)?.into_keys().collect();
    assert_eq!(names, [".harnessgym", ".harnessgym/manifest-only", ".harnessgym/snapshot"]);
    assert_eq!(snapshot_file(&internal, "src/main.py")?.as_deref(), Some(&b"print(1)\n"[..]));
    assert_eq!(snapshot_file(&internal, "missing.txt")?, None);
    // Its captured .harnessgymignore is read from the store.
    let from_snapshot = CopyPolicy::load_from_snapshot(&internal, Purpose::Copy)?;
    assert!(from_snapshot.is_excluded(std::path::Path::new("README.md"), false));

    fs::remove_dir_all(t.path("browsable"))?;
    assert_eq!(store.gc(false)?.objects_removed, 0, "its objects are referenced by it alone");
    write(&ws, "src/main.py", "edited\n")?;
    write(&ws, "added.txt", "new\n")?;
    restore(&internal, &ws, &policy)?;
    assert_eq!(read(&ws, "src/main.py")?, "print(1)\n");
    assert!(!exists(&ws, "added.txt"));
    let room = t.path("room");
    copy_tree(&internal, &room, &policy)?;
    assert_eq!(read(&room, "big.bin")?.len(), 3 << 20);
    assert_eq!(read(&room, "src/main.py")?, "print(1)\n");

    // The same path captured browsable later gets its view (never the view-less one reused).
    store.capture(&ws, &internal, &policy)?;
    assert_eq!(read(&internal, "src/main.py")?, "print(1)\n");
    assert!(!exists(&internal, ".harnessgym/manifest-only"));
    Ok(())
}

#[test]
fn a_snapshot_derived_under_a_narrower_policy_equals_a_capture_under_it() -> TestResult {
    let (t, ws, store) = setup()?;
    write(&ws, ".harnessgymignore", "README.md\n")?;
    symlink("src/main.py", &ws, "link.py")?;
    let task = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let copy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let start = t.path("task_state");
    store.capture_as(&ws, &start, &task, SnapshotView::ManifestOnly)?;
    let derived = store.derive(&start, &t.path("derived"), &copy, SnapshotView::ManifestOnly)?;
    let captured = store.capture(&ws, &t.path("captured"), &copy)?;
    assert_eq!(derived, captured, "same files, bytes and digest");
    assert!(derived.files.iter().all(|f| !f.contains("__pycache__") && !f.starts_with(".git")), "{derived:?}");
    // It is a snapshot like any other: a room made from it is the captured tree.
    copy_tree(&t.path("derived"), &t.path("room"), &copy)?;
    assert_eq!(read(&t.path("room"), "src/main.py")?, "print(1)\n");
    assert!(!exists(&t.path("room"), "README.md"), "ignored by .harnessgymignore");
    // Only snapshots of this store can be derived from.
    let other = Store::open(&t.path("other-store"))?;
    assert!(other.derive(&start, &t.path("nope"), &copy, SnapshotView::ManifestOnly).is_err());
    Ok(())
}

#[test]
fn equal_trees_have_equal_digests_and_a_change_changes_it() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let a = store.capture(&ws, &t.path("snaps/a"), &policy)?;
    let b = store.capture(&ws, &t.path("snaps/b"), &policy)?;
    assert_eq!(a.digest, b.digest);
    write(&ws, "src/main.py", "print(2)\n")?;
    let c = store.capture(&ws, &t.path("snaps/c"), &policy)?;
    assert_ne!(a.digest, c.digest);
    // Restoring reports the same digest as the capture.
    let r = restore(&t.path("snaps/a"), &ws, &policy)?;
    assert_eq!(r.digest, a.digest);
    assert_eq!(r.files, a.files);
    Ok(())
}

#[test]
fn restore_rewrites_only_what_differs_and_always_with_new_inodes() -> TestResult {
    let (_t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = ws.join(".harnessgym/task_state/initial");
    store.capture(&ws, &snap, &policy)?;
    let before = inodes(ws.as_std_path(), META)?;

    // In-place edit (same inode), an addition, a deletion.
    let mut f = fs::OpenOptions::new().write(true).open(ws.join("README.md"))?;
    f.write_all(b"HELLO")?;
    drop(f);
    write(&ws, "added.txt", "junk")?;
    fs::remove_file(ws.join("src/main.py"))?;

    let report = store.restore(&snap, &ws, &policy)?;
    assert!(report.files.contains(&"README.md".to_owned()));
    assert_eq!(read(&ws, "README.md")?, "hello\n");
    assert_eq!(read(&ws, "src/main.py")?, "print(1)\n");
    assert!(!exists(&ws, "added.txt"));
    let after = inodes(ws.as_std_path(), META)?;
    let readme: &[u8] = b"README.md";
    let big: &[u8] = b"big.bin";
    assert_ne!(before[readme].0, after[readme].0, "a changed file is replaced by a new inode");
    assert_eq!(before[big].0, after[big].0, "an unchanged file is left alone");
    assert!(after.values().all(|&(_, nlink)| nlink == 1), "no workspace file shares an inode: {after:?}");
    Ok(())
}

#[test]
fn an_in_place_edit_of_a_restored_file_cannot_change_the_snapshot() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    fs::remove_file(ws.join("README.md"))?;
    store.restore(&snap, &ws, &policy)?;
    let room = t.path("room");
    store.copy_out(&snap, &room, &policy)?;
    for path in [ws.join("README.md"), room.join("README.md")] {
        let mut f = fs::OpenOptions::new().write(true).truncate(true).open(&path)?;
        f.write_all(b"scribbled in place")?;
    }
    assert_eq!(read(&snap, "README.md")?, "hello\n");
    store.restore(&snap, &ws, &policy)?;
    assert_eq!(read(&ws, "README.md")?, "hello\n");
    Ok(())
}

#[test]
fn a_workspace_file_hard_linked_to_an_object_is_replaced_by_a_copy() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    // Someone links the snapshot's file (= the object) into the workspace.
    fs::remove_file(ws.join("README.md"))?;
    fs::hard_link(snap.join("README.md"), ws.join("README.md"))?;
    store.restore(&snap, &ws, &policy)?;
    assert_eq!(fs::metadata(ws.join("README.md"))?.nlink(), 1);
    assert_ne!(fs::metadata(ws.join("README.md"))?.ino(), fs::metadata(snap.join("README.md"))?.ino());
    Ok(())
}

#[test]
fn copy_out_makes_real_files_with_modes_and_mtimes() -> TestResult {
    let (t, ws, store) = setup()?;
    fs::set_permissions(ws.join("src/main.py"), fs::Permissions::from_mode(0o751))?;
    symlink("../README.md", &ws, "src/link")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    let room = t.path("runs/x/room");
    let report = copy_tree(&snap, &room, &policy)?;
    assert_eq!(report.file_count, 6);
    let expect = exact_tree(ws.as_std_path(), &[])?;
    let got = exact_tree(room.as_std_path(), &[])?;
    for (k, v) in &got {
        assert_eq!(expect.get(k), Some(v), "{}", String::from_utf8_lossy(k));
    }
    assert!(inodes(room.as_std_path(), &[])?.values().all(|&(_, n)| n == 1));
    // Copying out again replaces the room as a whole.
    write(&room, "junk", "x")?;
    copy_tree(&snap, &room, &policy)?;
    assert!(!exists(&room, "junk"));
    Ok(())
}

#[test]
fn restore_of_a_room_after_a_self_test_scribbled_on_it() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let template = t.path("run/qualification/workspace_template");
    store.capture(&ws, &template, &policy)?;
    let room = t.path("run/qualification/room");
    copy_tree(&template, &room, &policy)?;
    let clean = exact_tree(room.as_std_path(), &[])?;
    write(&room, "README.md", "scribbled")?;
    write(&room, "new_output.txt", "junk")?;
    write(&room, "src/__pycache__/cache.pyc", "kept: excluded")?;
    restore(&template, &room, &policy)?;
    let mut now = exact_tree(room.as_std_path(), &[])?;
    now.retain(|k, _| !k.starts_with(b"src/__pycache__"));
    assert_eq!(now, clean);
    assert!(exists(&room, "src/__pycache__/cache.pyc"), "B14: excluded paths survive");
    Ok(())
}

#[test]
fn unchanged_files_are_not_read_again() -> TestResult {
    // A file whose lstat is unchanged is trusted from the stat cache (the benchmark shows the
    // time saved); here: the second capture agrees with the first, and changes are still seen.
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    // Let the files age past the racy window first.
    std::thread::sleep(std::time::Duration::from_millis(120));
    let a = store.capture(&ws, &t.path("a"), &policy)?;
    let b = store.capture(&ws, &t.path("b"), &policy)?;
    assert_eq!(a.digest, b.digest);
    // A file touched now is racy and is read again; a changed one always is.
    write(&ws, "README.md", "HELLO\n")?;
    let c = store.capture(&ws, &t.path("c"), &policy)?;
    assert_ne!(c.digest, a.digest);
    assert_eq!(read(&t.path("c"), "README.md")?, "HELLO\n");
    Ok(())
}

#[test]
fn long_file_lists_are_cut_with_a_side_file() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    for i in 0..(INLINE_FILES_MAX + 5) {
        write(&ws, &format!("d{}/f{i:05}.txt", i % 7), "x")?;
    }
    let store = Store::for_workspace(&ws)?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let report = store.capture(&ws, &t.path("out/best"), &policy)?;
    assert_eq!(report.file_count, INLINE_FILES_MAX + 5);
    let listing = report.listing(&t.path("out"), "best")?;
    assert!(listing.truncated);
    assert_eq!(listing.files.len(), INLINE_FILES_MAX);
    assert_eq!(listing.files[..], report.files[..INLINE_FILES_MAX]);
    let side = listing.list_path.ok_or("no side file")?;
    let text = fs::read_to_string(&side)?;
    assert_eq!(text.lines().count(), INLINE_FILES_MAX + 5);
    assert!(side.as_str().contains("best.files-"), "{side}");

    let short = store.capture(&t.path("ws/d0"), &t.path("out/small"), &policy)?;
    let listing = short.listing(&t.path("out"), "small")?;
    assert!(!listing.truncated && listing.list_path.is_none());
    assert_eq!(listing.files, short.files);
    Ok(())
}

#[test]
fn gc_removes_only_objects_no_snapshot_references() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let keep = t.path("snaps/keep");
    let gone = t.path("snaps/gone");
    store.capture(&ws, &keep, &policy)?;
    write(&ws, "only_in_gone.txt", "unique content")?;
    write(&ws, "big.bin", &"y".repeat(2 << 20))?;
    store.capture(&ws, &gone, &policy)?;

    let dry = store.gc(true)?;
    assert_eq!(dry.objects_removed, 0, "both snapshots alive: {dry:?}");
    assert_eq!(dry.snapshots, 2);

    fs::remove_dir_all(&gone)?;
    let dry = store.gc(true)?;
    assert_eq!(dry.objects_removed, 2, "{dry:?}");
    assert!(dry.bytes_removed >= 2 << 20);
    let report = store.gc(false)?;
    assert_eq!(report.objects_removed, 2);
    assert_eq!(report.refs_removed, 1);
    assert_eq!(report.snapshots, 1);
    // The kept snapshot is whole.
    let out = t.path("check");
    store.copy_out(&keep, &out, &policy)?;
    assert_eq!(read(&out, "big.bin")?.len(), 3 << 20);
    let again = store.gc(false)?;
    assert_eq!(again.objects_removed, 0);
    Ok(())
}

#[test]
fn gc_refuses_while_another_operation_holds_the_store() -> TestResult {
    let (_t, ws, store) = setup()?;
    let lock = fs::OpenOptions::new().read(true).write(true).open(store.root().join("lock"))?;
    lock.lock_shared()?;
    let err = store.gc(false).err().ok_or("expected StoreBusy")?;
    assert!(matches!(err, SnapshotError::StoreBusy { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(lock);
    store.gc(false)?;
    let _ = ws;
    Ok(())
}

/// A dry run on a store opened read-only reports what a real gc would remove and changes
/// nothing: no lock file, no empty directories, no `tmp/` leftover removed; a real gc through it
/// is refused.
#[test]
fn a_read_only_store_reports_garbage_and_writes_nothing() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let gone = t.path("snaps/gone");
    store.capture(&ws, &gone, &policy)?;
    fs::remove_dir_all(&gone)?;
    let root = camino::Utf8PathBuf::from_path_buf(store.root().to_owned()).map_err(|_| "non-UTF-8 store")?;
    drop(store);
    fs::remove_file(root.join("lock"))?;
    fs::remove_dir(root.join("journal"))?;
    fs::remove_dir(root.join("statcache")).or_else(|_| fs::remove_dir_all(root.join("statcache")))?;
    write(&root, "tmp/leftover", "scrap")?;
    let before = exact_tree(root.as_std_path(), &[])?;

    let read_only = Store::open_read_only(&root)?;
    let dry = read_only.gc(true)?;
    assert!(dry.objects_removed > 0 && dry.refs_removed == 1 && dry.leftovers_removed == 1, "{dry:?}");
    let err = read_only.gc(false).err().ok_or("a real gc on a read-only store")?;
    assert!(matches!(err, SnapshotError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("only a dry run"), "{err}");
    assert_eq!(exact_tree(root.as_std_path(), &[])?, before, "a read-only store was written to");

    // The same store opened for writing finds and removes the same garbage.
    let real = Store::open(&root)?.gc(false)?;
    assert_eq!((real.objects_removed, real.refs_removed), (dry.objects_removed, dry.refs_removed));
    Ok(())
}

#[test]
fn a_moved_workspace_keeps_its_snapshots() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = ws.join(".harnessgym/task_state/initial");
    store.capture(&ws, &snap, &policy)?;
    drop(store);
    let moved = t.path("moved");
    fs::rename(&ws, &moved)?;
    let snap = moved.join(".harnessgym/task_state/initial");
    write(&moved, "README.md", "changed")?;
    restore(&snap, &moved, &policy)?;
    assert_eq!(read(&moved, "README.md")?, "hello\n");
    let report = Store::for_workspace(&moved)?.gc(false)?;
    assert_eq!(report.objects_removed, 0, "{report:?}");
    assert_eq!(report.snapshots, 1);
    Ok(())
}

#[test]
fn a_damaged_manifest_is_an_error_naming_it() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    let manifest = snap.join(".harnessgym/snapshot");
    let text = fs::read_to_string(&manifest)?;
    fs::write(&manifest, &text[..text.len() / 2])?;
    let err = restore(&snap, &ws, &policy).err().ok_or("expected an error")?;
    assert!(err.to_string().contains("damaged"), "{err}");
    assert!(err.to_string().contains(manifest.as_str()), "{err}");
    // gc will not guess: a snapshot it cannot read may still need its objects.
    assert!(store.gc(false).is_err());
    Ok(())
}

#[test]
fn a_missing_object_is_an_error_not_a_silent_hole() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture(&ws, &snap, &policy)?;
    fs::remove_dir_all(store.root().join("objects"))?;
    fs::create_dir(store.root().join("objects"))?;
    let err = store.copy_out(&snap, &t.path("room"), &policy).err().ok_or("expected an error")?;
    assert!(matches!(err, SnapshotError::ObjectMissing { .. }), "{err}");
    assert!(!exists(&t.root, "room"), "no half room");
    // A new capture stores the objects again even though the stat cache knows the files.
    store.capture(&ws, &snap, &policy)?;
    store.copy_out(&snap, &t.path("room"), &policy)?;
    assert_eq!(read(&t.path("room"), "README.md")?, "hello\n");
    Ok(())
}

#[test]
fn reflink_support_is_probed() -> TestResult {
    let (_t, _ws, store) = setup()?;
    // Whatever the answer on this filesystem, copies work (they were exercised above); the
    // answer is stable for a store.
    let again = Store::open(camino::Utf8Path::from_path(store.root()).ok_or("utf8")?)?;
    assert_eq!(store.reflink_supported(), again.reflink_supported());
    Ok(())
}

#[test]
fn a_restore_that_fails_leaves_no_journal_to_replay_later() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    write(&ws, "d", "a file in the snapshot")?;
    store.capture(&ws, &snap, &policy)?;
    // The workspace now has a directory holding an excluded entry where the snapshot has a file.
    fs::remove_file(ws.join("d"))?;
    write(&ws, "d/__pycache__/x.pyc", "excluded")?;
    let err = store.restore(&snap, &ws, &policy).err().ok_or("expected a conflict")?;
    assert!(matches!(err, SnapshotError::Conflict { .. }), "{err}");
    assert_eq!(fs::read_dir(store.root().join("journal"))?.count(), 0, "no journal after an error");
    // Work done after the failed restore is not undone by the next open.
    write(&ws, "README.md", "the agent's work")?;
    let _again = Store::for_workspace(&ws)?;
    assert_eq!(read(&ws, "README.md")?, "the agent's work");
    Ok(())
}

#[test]
fn a_view_added_later_equals_a_view_made_at_capture_and_is_kept_by_manifest_only_captures() -> TestResult {
    let (t, ws, store) = setup()?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("checkpoint");
    let quick = store.capture_as(&ws, &snap, &policy, SnapshotView::ManifestOnly)?;
    assert!(exists(&snap, ".harnessgym/manifest-only"));
    let viewed = store.add_view(&snap)?;
    assert_eq!(viewed, quick, "the same tree");
    assert!(!exists(&snap, ".harnessgym/manifest-only"));
    assert_eq!(read(&snap, "src/main.py")?, "print(1)\n");
    assert!(fs::metadata(snap.join("big.bin"))?.nlink() >= 2, "hard links to the objects");
    let browsable = store.capture(&ws, &t.path("browsable"), &policy)?;
    assert_eq!(tree(&snap)?, tree(&t.path("browsable"))?, "as if captured browsable");
    assert_eq!(viewed, browsable);

    // Unchanged workspace, manifest-only capture: the browsable snapshot stays as it is.
    let inode = fs::metadata(&snap)?.ino();
    store.capture_as(&ws, &snap, &policy, SnapshotView::ManifestOnly)?;
    assert_eq!(fs::metadata(&snap)?.ino(), inode);
    assert!(!exists(&snap, ".harnessgym/manifest-only"));
    // Adding a view to a browsable snapshot changes nothing either.
    store.add_view(&snap)?;
    assert_eq!(fs::metadata(&snap)?.ino(), inode);
    // A changed workspace: a new, manifest-only snapshot.
    write(&ws, "src/main.py", "print(2)\n")?;
    store.capture_as(&ws, &snap, &policy, SnapshotView::ManifestOnly)?;
    assert!(exists(&snap, ".harnessgym/manifest-only"));
    assert_eq!(snapshot_file(&snap, "src/main.py")?.as_deref(), Some(&b"print(2)\n"[..]));
    Ok(())
}

#[test]
fn a_cancelled_copy_or_restore_stops_and_leaves_nothing_to_finish_later() -> TestResult {
    let (t, ws, store) = setup()?;
    for i in 0..600 {
        write(&ws, &format!("many/f{i}.txt"), &format!("{i}\n"))?;
    }
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    store.capture_as(&ws, &snap, &policy, SnapshotView::ManifestOnly)?;
    let token = Cancel::new();
    token.cancel();

    let room = t.path("room");
    let err = cancellable(&token, || copy_tree(&snap, &room, &policy)).err().ok_or("expected a cancel")?;
    assert!(matches!(err, SnapshotError::Cancelled), "{err}");
    assert!(!room.exists(), "no half room");
    assert_eq!(fs::read_dir(t.root.as_std_path())?.filter_map(Result::ok).count(), 2, "no staging left: ws, snap");

    copy_tree(&snap, &room, &policy)?;
    write(&room, "many/f1.txt", "scribbled\n")?;
    let err = cancellable(&token, || restore(&snap, &room, &policy)).err().ok_or("expected a cancel")?;
    assert!(matches!(err, SnapshotError::Cancelled), "{err}");
    assert_eq!(fs::read_dir(store.root().join("journal"))?.count(), 0, "nothing for the next open to finish");
    fs::remove_dir_all(&room)?;
    let _again = Store::for_workspace(&ws)?;
    assert!(!room.exists(), "the abandoned room is not brought back");
    // Outside the scope the same calls work.
    copy_tree(&snap, &room, &policy)?;
    assert_eq!(read(&room, "many/f599.txt")?, "599\n");
    Ok(())
}
