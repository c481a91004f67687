//! The bundle copy: what is copied and skipped, and every hostile case refused without a
//! write outside the room.

use std::os::unix::fs::symlink;

use harnessgym_qualify::bundle::{BundleError, copy_bundle, locate};
use serde_json::json;

use super::support::{Tmp, listing};

fn bundle_with_everything(tmp: &Tmp) {
    for (rel, text) in [
        ("ws/.harnessgym/skills/s/SKILL.md", "---\nname: s\n---\n"),
        ("ws/.harnessgym/mcp/m/mcp.json", "{}"),
        ("ws/.harnessgym/tools/t.py", "print(1)"),
        ("ws/.harnessgym/tools/__pycache__/t.cpython-312.pyc", "x"),
        ("ws/.harnessgym/tools/old.pyc", "x"),
        ("ws/.harnessgym/tools/old.pyo", "x"),
        ("ws/.harnessgym/verifiers/v.py", "v"),
        ("ws/.harnessgym/fixtures/f.txt", "f"),
        ("ws/.harnessgym/tests/test_t.py", "t"),
        ("ws/.harnessgym/docs/d.md", "d"),
        ("ws/.harnessgym/scripts/run.sh", "#!/bin/sh\n"),
        ("ws/.harnessgym/runs/r/summary.json", "{}"),
        ("ws/.harnessgym/activation.json", "{}"),
        ("ws/.harnessgym/registry.json", r#"{"artifacts": [{"kind": "tool", "path": ".harnessgym/tools/t.py"}]}"#),
        ("ws/task.md", "task"),
    ] {
        tmp.write(rel, text);
    }
}

#[test]
fn copies_the_eight_dirs_and_the_registry_from_a_workspace_or_a_bundle_dir() {
    let tmp = Tmp::new();
    bundle_with_everything(&tmp);
    let expected = [
        ".harnessgym/docs/d.md",
        ".harnessgym/fixtures/f.txt",
        ".harnessgym/mcp/m/mcp.json",
        ".harnessgym/registry.json",
        ".harnessgym/scripts/run.sh",
        ".harnessgym/skills/s/SKILL.md",
        ".harnessgym/tests/test_t.py",
        ".harnessgym/tools/t.py",
        ".harnessgym/verifiers/v.py",
    ];
    for given in ["ws", "ws/.harnessgym"] {
        let room = tmp.path(&format!("room-{}", given.len()));
        let bundle = locate(&tmp.path(given)).unwrap();
        assert_eq!(bundle, tmp.path("ws/.harnessgym"));
        let copy = copy_bundle(&bundle, &room).unwrap();
        assert_eq!(copy.files, expected, "sorted, caches skipped, runs/ and activation.json left out");
        assert!(copy.refused.is_empty(), "{:?}", copy.refused);
        assert!(copy.has_registry);
        assert!(!room.join(".harnessgym/tools/__pycache__").exists());
        assert!(!room.join(".harnessgym/runs").exists());
        assert!(!room.join("task.md").exists(), "only the bundle is copied");
    }
    assert!(matches!(locate(&tmp.path("missing")), Err(BundleError::NotFound { .. })));
}

#[test]
fn artifact_dirs_replace_the_rooms_wholesale_and_modes_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = Tmp::new();
    bundle_with_everything(&tmp);
    let script = tmp.path("ws/.harnessgym/scripts/run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let room = tmp.path("room");
    tmp.write("room/.harnessgym/tools/stale.py", "stale");
    copy_bundle(&tmp.path("ws/.harnessgym"), &room).unwrap();
    assert!(!room.join(".harnessgym/tools/stale.py").exists());
    let mode = std::fs::metadata(room.join(".harnessgym/scripts/run.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn a_symlink_inside_the_bundle_is_copied_as_a_link() {
    let tmp = Tmp::new();
    tmp.write("ws/.harnessgym/tools/lib/helper.py", "h");
    symlink("lib/helper.py", tmp.path("ws/.harnessgym/tools/helper.py")).unwrap();
    let room = tmp.path("room");
    let copy = copy_bundle(&tmp.path("ws/.harnessgym"), &room).unwrap();
    assert!(copy.refused.is_empty());
    assert_eq!(copy.files, [".harnessgym/tools/helper.py", ".harnessgym/tools/lib/helper.py"]);
    let link = room.join(".harnessgym/tools/helper.py");
    assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some("lib/helper.py"));
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "h");
}

/// Sets up a bundle with `link -> target`, copies it, and checks the refusal and that nothing
/// outside the room changed.
fn assert_refused(link_rel: &str, target: &str, expected_reason: &str) {
    let tmp = Tmp::new();
    tmp.write("ws/.harnessgym/tools/ok.py", "ok");
    tmp.write("outside/secret.txt", "secret");
    let link = tmp.path("ws/.harnessgym").join(link_rel);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(target, &link).unwrap();
    let before = listing(&tmp.root);
    let room = tmp.path("room");
    let copy = copy_bundle(&tmp.path("ws/.harnessgym"), &room).unwrap();
    let shown = format!(".harnessgym/{link_rel}");
    assert_eq!(copy.refused.len(), 1, "{:?}", copy.refused);
    let refusal = &copy.refused[0];
    assert_eq!(refusal.path, shown);
    assert!(refusal.reason.contains(expected_reason), "{refusal}");
    assert!(refusal.to_string().starts_with(&format!("refused {shown}: ")), "{refusal}");
    assert!(std::fs::symlink_metadata(room.join(&shown)).is_err(), "the refused link was not created");
    assert!(!copy.files.contains(&shown));
    assert!(copy.files.contains(&".harnessgym/tools/ok.py".to_owned()), "the rest is still copied");
    // Nothing was written outside the room.
    let after: Vec<String> = listing(&tmp.root).into_iter().filter(|p| !p.starts_with("room")).collect();
    assert_eq!(after, before);
    assert_eq!(std::fs::read_to_string(tmp.path("outside/secret.txt")).unwrap(), "secret");
}

#[test]
fn hostile_absolute_symlink_target_is_refused() {
    assert_refused("tools/passwd", "/etc/passwd", "is absolute");
}

#[test]
fn hostile_symlink_resolving_outside_the_bundle_is_refused() {
    assert_refused("tools/escape", "../../../outside/secret.txt", "resolves outside the bundle");
}

#[test]
fn hostile_dotdot_component_is_refused_even_when_it_stays_inside() {
    assert_refused("skills/a/x.md", "../b/y.md", "contains a '..' component");
}

#[test]
fn hostile_symlinked_artifact_dir_is_refused() {
    assert_refused("fixtures", "/tmp", "is absolute");
}

#[test]
fn hostile_registry_paths_are_refused() {
    let tmp = Tmp::new();
    let registry = json!({"artifacts": [
        {"kind": "tool", "path": "/etc/passwd"},
        {"kind": "docs", "path": ".harnessgym/docs/../../../outside/x.md"},
        {"kind": "tool", "path": ".harnessgym/tools/ok.py"},
    ]});
    tmp.write("ws/.harnessgym/registry.json", &registry.to_string());
    tmp.write("ws/.harnessgym/tools/ok.py", "ok");
    let copy = copy_bundle(&tmp.path("ws/.harnessgym"), &tmp.path("room")).unwrap();
    let refused: Vec<(&str, &str)> = copy.refused.iter().map(|r| (r.path.as_str(), r.reason.as_str())).collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, "/etc/passwd");
    assert!(refused[0].1.contains("is absolute"), "{refused:?}");
    assert_eq!(refused[1].0, ".harnessgym/docs/../../../outside/x.md");
    assert!(refused[1].1.contains("'..'"), "{refused:?}");
}

#[test]
fn hostile_registry_symlink_is_refused() {
    let tmp = Tmp::new();
    tmp.write("outside/registry.json", r#"{"artifacts": []}"#);
    std::fs::create_dir_all(tmp.path("ws/.harnessgym")).unwrap();
    symlink(tmp.path("outside/registry.json"), tmp.path("ws/.harnessgym/registry.json")).unwrap();
    let room = tmp.path("room");
    let copy = copy_bundle(&tmp.path("ws/.harnessgym"), &room).unwrap();
    assert!(!copy.has_registry);
    assert_eq!(copy.refused[0].path, ".harnessgym/registry.json");
    assert!(std::fs::symlink_metadata(room.join(".harnessgym/registry.json")).is_err());
}

#[test]
fn a_symlink_left_in_the_room_is_replaced_not_written_through() {
    let tmp = Tmp::new();
    tmp.write("ws/.harnessgym/tools/t.py", "new");
    tmp.write("outside/keep.txt", "keep");
    let room = tmp.path("room");
    std::fs::create_dir_all(room.join(".harnessgym")).unwrap();
    symlink(tmp.path("outside"), room.join(".harnessgym/tools")).unwrap();
    copy_bundle(&tmp.path("ws/.harnessgym"), &room).unwrap();
    assert!(!std::fs::symlink_metadata(room.join(".harnessgym/tools")).unwrap().file_type().is_symlink());
    assert_eq!(listing(&tmp.path("outside")), ["keep.txt"], "nothing was written through the link");

    // A room whose .harnessgym itself is a link is refused outright.
    let room2 = tmp.path("room2");
    std::fs::create_dir_all(&room2).unwrap();
    symlink(tmp.path("outside"), room2.join(".harnessgym")).unwrap();
    let err = copy_bundle(&tmp.path("ws/.harnessgym"), &room2).unwrap_err();
    assert!(matches!(err, BundleError::DestinationSymlink { .. }), "{err}");
    assert_eq!(listing(&tmp.path("outside")), ["keep.txt"]);
}
