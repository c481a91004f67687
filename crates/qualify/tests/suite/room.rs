//! The template and the run's one room: created, restored between uses, removed.

use harnessgym_qualify::room::RoomState;
use harnessgym_qualify::{capture_template, prepare_room, remove_room, room_dir, template_dir};
use harnessgym_snapshot::{CopyPolicy, Purpose};

use super::support::{Tmp, listing};

#[test]
fn template_uses_the_copy_policy_and_reports_its_files() {
    let tmp = Tmp::new();
    for rel in
        ["ws/task.md", "ws/src/lib.so", "ws/.harnessgym/tools/t.py", "ws/.codex/config.toml", "ws/__pycache__/x.pyc"]
    {
        tmp.write(rel, "x");
    }
    let ws = tmp.path("ws");
    let run_dir = ws.join(".harnessgym/runs/r");
    let policy = CopyPolicy::load(&ws, Purpose::Copy).unwrap();
    let report = capture_template(&ws, &template_dir(&run_dir), &policy).unwrap();
    assert_eq!(report.files, ["src/lib.so", "task.md"]);
    assert_eq!(report.file_count, 2);
    assert_eq!(report.template_path, run_dir.join("qualification/workspace_template").as_str());
    assert_eq!(report.workspace, ws.as_str());
}

#[test]
fn one_room_is_created_then_restored_from_the_template_before_every_later_use() {
    let tmp = Tmp::new();
    tmp.write("ws/task.md", "original");
    tmp.write("ws/data/input.txt", "input");
    let ws = tmp.path("ws");
    let run_dir = tmp.path("run");
    let policy = CopyPolicy::load(&ws, Purpose::Copy).unwrap();
    let template = template_dir(&run_dir);
    capture_template(&ws, &template, &policy).unwrap();
    let room = room_dir(&run_dir);
    assert_eq!(room, run_dir.join("qualification/room"));

    assert_eq!(prepare_room(&template, &room, &policy).unwrap(), RoomState::Created);
    assert_eq!(listing(&room), ["data", "data/input.txt", "task.md"]);

    // A use of the room: a self-test scribbles, activation writes its files, a bundle is in.
    tmp.write("run/qualification/room/task.md", "scribbled");
    tmp.write("run/qualification/room/new_output.txt", "junk");
    std::fs::remove_file(room.join("data/input.txt")).unwrap();
    for rel in [".harnessgym/tools/t.py", ".codex/config.toml", ".agents/skills/x/SKILL.md", ".claude/skills/x"] {
        tmp.write(&format!("run/qualification/room/{rel}"), "x");
    }
    let inode_before = std::fs::metadata(&room).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();

    assert_eq!(prepare_room(&template, &room, &policy).unwrap(), RoomState::Restored);
    assert_eq!(listing(&room), ["data", "data/input.txt", "task.md"]);
    assert_eq!(std::fs::read_to_string(room.join("task.md")).unwrap(), "original");
    let inode_after = std::fs::metadata(&room).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    assert_eq!(inode_before, inode_after, "the same room directory, restored in place");
    // Real files, not links into the template.
    assert!(!std::fs::symlink_metadata(room.join("task.md")).unwrap().file_type().is_symlink());

    remove_room(&room).unwrap();
    assert!(!room.exists());
    remove_room(&room).unwrap();
    assert!(harnessgym_snapshot::snapshot_file(&template, "task.md").unwrap().is_some(), "the template stays");
}
