use std::fs;
use std::path::PathBuf;

use harnessgym_snapshot::{CopyPolicy, Purpose, capture, restore};

use super::common::*;

#[test]
fn symlinks_are_copied_as_links_with_the_same_target_text() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let outside = t.path("outside");
    write(&outside, "secret.txt", "outside data")?;
    write(&ws, "real/file.txt", "real")?;
    symlink("real/file.txt", &ws, "rel_link")?;
    symlink("../real", &ws, "sub/dir_link")?;
    symlink("/definitely/not/here", &ws, "abs_dangling")?;
    symlink("missing.txt", &ws, "rel_dangling")?;
    symlink(outside.as_str(), &ws, "outside_dir")?;
    symlink(outside.join("secret.txt").as_str(), &ws, "outside_file")?;

    for purpose in [Purpose::Copy, Purpose::TaskState] {
        let snap = t.path("snap");
        let report = capture(&ws, &snap, &CopyPolicy::load(&ws, purpose)?)?;
        let got = tree(&snap)?;
        assert_eq!(got.get("rel_link"), Some(&Node::Link(PathBuf::from("real/file.txt"))));
        assert_eq!(got.get("sub/dir_link"), Some(&Node::Link(PathBuf::from("../real"))));
        assert_eq!(got.get("abs_dangling"), Some(&Node::Link(PathBuf::from("/definitely/not/here"))));
        assert_eq!(got.get("rel_dangling"), Some(&Node::Link(PathBuf::from("missing.txt"))));
        assert_eq!(got.get("outside_dir"), Some(&Node::Link(outside.clone().into_std_path_buf())));
        assert_eq!(got.get("outside_file"), Some(&Node::Link(outside.join("secret.txt").into_std_path_buf())));
        // Never followed: nothing from behind the links was copied.
        assert!(!got.keys().any(|k| k.contains("secret.txt") || k.starts_with("sub/dir_link/")));
        assert!(report.files.contains(&"outside_dir".to_owned()));
        assert!(report.files.contains(&"abs_dangling".to_owned()));
    }
    Ok(())
}

#[test]
fn restore_does_not_follow_a_workspace_symlink_pointing_outside() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let elsewhere = t.path("elsewhere");
    write(&ws, "out/result.txt", "from snapshot")?;
    write(&ws, "out/nested/more.txt", "more")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;

    write(&elsewhere, "precious.txt", "do not touch")?;
    fs::remove_dir_all(ws.join("out"))?;
    symlink(elsewhere.as_str(), &ws, "out")?;

    restore(&snap, &ws, &policy)?;

    assert!(fs::symlink_metadata(ws.join("out"))?.is_dir(), "the link must be replaced by a real dir");
    assert_eq!(read(&ws, "out/result.txt")?, "from snapshot");
    assert_eq!(read(&ws, "out/nested/more.txt")?, "more");
    let outside = tree(&elsewhere)?;
    assert_eq!(outside.keys().collect::<Vec<_>>(), vec!["precious.txt"]);
    assert_eq!(read(&elsewhere, "precious.txt")?, "do not touch");
    Ok(())
}

#[test]
fn restore_removes_added_links_without_touching_their_targets() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    let elsewhere = t.path("elsewhere");
    write(&elsewhere, "precious.txt", "do not touch")?;
    write(&ws, "a.txt", "a")?;
    let policy = CopyPolicy::load(&ws, Purpose::TaskState)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;

    symlink(elsewhere.as_str(), &ws, "added_dir_link")?;
    symlink(elsewhere.join("precious.txt").as_str(), &ws, "added_file_link")?;
    // A file in the snapshot replaced by a link to outside: restore must replace the link,
    // not write through it.
    fs::remove_file(ws.join("a.txt"))?;
    symlink(elsewhere.join("precious.txt").as_str(), &ws, "a.txt")?;

    restore(&snap, &ws, &policy)?;

    assert!(!exists(&ws, "added_dir_link"));
    assert!(!exists(&ws, "added_file_link"));
    assert!(fs::symlink_metadata(ws.join("a.txt"))?.is_file());
    assert_eq!(read(&ws, "a.txt")?, "a");
    assert_eq!(read(&elsewhere, "precious.txt")?, "do not touch");
    Ok(())
}

#[test]
fn restore_recreates_and_retargets_symlinks() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, "real/f.txt", "f")?;
    symlink("real/f.txt", &ws, "link")?;
    symlink("nowhere", &ws, "dangling")?;
    symlink("real", &ws, "dir_link")?;
    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    capture(&ws, &snap, &policy)?;

    fs::remove_file(ws.join("link"))?;
    symlink("elsewhere.txt", &ws, "link")?;
    fs::remove_file(ws.join("dangling"))?;
    fs::remove_file(ws.join("dir_link"))?;
    write(&ws, "dir_link/inside.txt", "now a real dir")?;

    restore(&snap, &ws, &policy)?;
    let got = tree(&ws)?;
    assert_eq!(got.get("link"), Some(&Node::Link(PathBuf::from("real/f.txt"))));
    assert_eq!(got.get("dangling"), Some(&Node::Link(PathBuf::from("nowhere"))));
    assert_eq!(got.get("dir_link"), Some(&Node::Link(PathBuf::from("real"))));
    assert_eq!(read(&ws, "real/f.txt")?, "f");
    Ok(())
}
