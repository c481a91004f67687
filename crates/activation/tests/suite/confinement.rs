//! Activation never reads, creates, replaces or deletes anything outside the workspace (the
//! hostile-user findings): registry paths and skill folders that leave it, symlinked link
//! directories, a symlinked `.codex/config.toml`, and MCP `cwd`s that escape are refused and
//! reported, never followed.

use camino::{Utf8Path, Utf8PathBuf};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::support::{Ws, manifest, registry, run};

/// A second canonical directory standing for "outside the workspace".
fn outside() -> (tempfile::TempDir, Utf8PathBuf) {
    harnessgym_test_support::fs::canonical_tempdir()
}

fn names_in(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn skill_at(dir: &Utf8Path, name: &str) -> Utf8PathBuf {
    let path = dir.join(name);
    harnessgym_test_support::fs::write_file(
        &path.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: Helps.\n---\nBody\n"),
    );
    path
}

fn no_link(ws: &Ws, name: &str) -> bool {
    [".agents/skills", ".claude/skills"]
        .iter()
        .all(|d| std::fs::symlink_metadata(ws.path(&format!("{d}/{name}"))).is_err())
}

/// Registry skill paths that are absolute or contain `..`, and a skill folder that is a symlink
/// out of the workspace, are not linked; each is named in a warning with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skill_paths_and_symlinked_skill_folders_leaving_the_workspace_are_refused() {
    let ws = Ws::new();
    let (_o, out) = outside();
    let absolute = skill_at(&out, "abs-skill");
    skill_at(&out, "dotdot-skill");
    let evil = skill_at(&out, "evil-skill");
    std::fs::create_dir_all(ws.path(".harnessgym/skills")).expect("skills dir");
    std::os::unix::fs::symlink(&evil, ws.path(".harnessgym/skills/evil-skill")).expect("symlink");
    // The workspace and `out` are siblings in the temp directory: `../<out>/…` reaches it.
    assert_eq!(ws.root.parent(), out.parent());
    let dotdot = format!("../{}/dotdot-skill", out.file_name().expect("name"));
    let good = ws.skill("good");
    let report = run(
        &ws,
        &registry(&[
            ("skill", absolute.as_str()),
            ("skill", &dotdot),
            ("skill", ".harnessgym/skills/evil-skill"),
            ("skill", &good),
        ]),
    )
    .await;
    let linked: Vec<&str> = report.skills.iter().map(|s| s.artifact_path.as_str()).collect();
    assert_eq!(linked, [good.as_str()], "{report:#?}");
    for name in ["abs-skill", "dotdot-skill", "evil-skill"] {
        assert!(no_link(&ws, name), "{name} was linked");
    }
    let warnings = report.warnings.join("\n");
    assert!(warnings.contains(absolute.as_str()) && warnings.contains("absolute"), "{warnings}");
    assert!(warnings.contains(&dotdot), "{warnings}");
    assert!(warnings.contains(".harnessgym/skills/evil-skill") && warnings.contains("symlink"), "{warnings}");
    assert_eq!(report.quality_gate.status, "failed");
}

/// A symlinked `.agents` or `.claude/skills` is never written through: no link is created there
/// and no stale link of ours is removed there; the other agent's directory still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_link_directories_are_never_written_through() {
    let ws = Ws::new();
    let (_o, out) = outside();
    std::fs::create_dir_all(out.join("agents/skills")).expect("dir");
    std::fs::create_dir_all(out.join("claude-skills")).expect("dir");
    // A link of "ours" (pointing into the workspace's skills) that is stale: a naive clean-up
    // deletes it outside the workspace.
    std::os::unix::fs::symlink(ws.path(".harnessgym/skills/old"), out.join("claude-skills/old")).expect("symlink");
    std::os::unix::fs::symlink(out.join("agents"), ws.path(".agents")).expect("symlink");
    std::fs::create_dir_all(ws.path(".claude")).expect("dir");
    std::os::unix::fs::symlink(out.join("claude-skills"), ws.path(".claude/skills")).expect("symlink");
    let k = ws.skill("k");
    let report = run(&ws, &registry(&[("skill", &k)])).await;
    assert_eq!(names_in(&out.join("agents/skills")), Vec::<String>::new(), "a link was created outside");
    assert_eq!(names_in(&out.join("claude-skills")), ["old"], "the outside directory was changed");
    let warnings = report.warnings.join("\n");
    assert!(warnings.contains(ws.path(".agents").as_str()) && warnings.contains("symlink"), "{warnings}");
    assert!(warnings.contains(ws.path(".claude/skills").as_str()), "{warnings}");
    assert_eq!(report.quality_gate.status, "failed");
}

/// A symlinked `.claude` is refused while a real `.agents/skills` is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_claude_directory_is_refused_and_agents_still_linked() {
    let ws = Ws::new();
    let (_o, out) = outside();
    std::os::unix::fs::symlink(&out, ws.path(".claude")).expect("symlink");
    let k = ws.skill("k");
    let report = run(&ws, &registry(&[("skill", &k)])).await;
    assert_eq!(names_in(&out), Vec::<String>::new(), "something was created outside");
    assert!(std::fs::symlink_metadata(ws.path(".agents/skills/k")).is_ok_and(|m| m.file_type().is_symlink()));
    assert!(report.warnings.join("\n").contains(ws.path(".claude").as_str()), "{report:#?}");
}

/// A `.codex/config.toml` that is a symlink is neither read nor written: its target's content
/// never reaches the report, and the target stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_codex_config_is_refused_unread() {
    let ws = Ws::new();
    let (_o, out) = outside();
    let secret = "db_password = hunter2 is the secret\nmore = 1\n";
    harnessgym_test_support::fs::write_file(&out.join("secret.txt"), secret);
    std::fs::create_dir_all(ws.path(".codex")).expect("dir");
    std::os::unix::fs::symlink(out.join("secret.txt"), ws.path(".codex/config.toml")).expect("symlink");
    let report = run(&ws, &registry(&[])).await;
    let written = serde_json::to_string(&report).expect("json");
    assert!(!written.contains("hunter2"), "the target leaked: {written}");
    assert_eq!(std::fs::read_to_string(out.join("secret.txt")).expect("read"), secret);
    let warnings = report.warnings.join("\n");
    assert!(warnings.contains(ws.path(".codex/config.toml").as_str()) && warnings.contains("symlink"), "{warnings}");
}

/// A symlinked `.codex` directory is not written through (a legacy block there would otherwise
/// be migrated, i.e. the outside file rewritten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_codex_directory_is_not_written_through() {
    let ws = Ws::new();
    let (_o, out) = outside();
    let legacy =
        "model = \"o3\"\n\n# BEGIN HARNESSGYM MCP\n[mcp_servers.old]\ncommand = \"python\"\n# END HARNESSGYM MCP\n";
    harnessgym_test_support::fs::write_file(&out.join("config.toml"), legacy);
    std::os::unix::fs::symlink(&out, ws.path(".codex")).expect("symlink");
    let report = run(&ws, &registry(&[])).await;
    assert_eq!(std::fs::read_to_string(out.join("config.toml")).expect("read"), legacy);
    assert_eq!(names_in(&out), ["config.toml"]);
    assert!(report.warnings.join("\n").contains(ws.path(".codex").as_str()), "{report:#?}");
}

/// MCP `cwd`s that escape the workspace — `..`, an absolute path elsewhere, a symlink out, and
/// the same for a self-test — are refused before anything starts: the server is not active and
/// the warning names the manifest and the cwd. The workspace sits in a run directory, like a
/// qualification room, so `../..` would be the run directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_cwds_escaping_the_workspace_are_refused() {
    let (_base, base) = harnessgym_test_support::fs::canonical_tempdir();
    let room = base.join("run/qualification/room");
    let (_o, out) = outside();
    std::fs::create_dir_all(room.join(".harnessgym")).expect("room");
    let write = |rel: &str, text: &str| harnessgym_test_support::fs::write_file(&room.join(rel), text);
    let server_py = std::fs::read_to_string(super::support::fixture("mcp_server.py")).expect("fixture");
    std::os::unix::fs::symlink(&out, room.join("linked-out")).expect("symlink");
    let cases = [
        ("dotdot", json!({"cwd": "../.."}), "../.."),
        ("root", json!({"cwd": "/"}), "/"),
        ("outside", json!({"cwd": out.as_str()}), out.as_str()),
        ("linked", json!({"cwd": "linked-out"}), "linked-out"),
        (
            "selftest",
            json!({"self_test": {"command": ["python3", "-c", "open('st.txt','w')"], "cwd": "../.."}}),
            "../..",
        ),
    ];
    let mut entries = Vec::new();
    for (name, extra, _) in &cases {
        let server = room.join(format!(".harnessgym/mcp/{name}/server.py"));
        write(&format!(".harnessgym/mcp/{name}/server.py"), &server_py);
        let mut m = manifest(name, server.as_str(), &["--count-starts", "starts.txt"], extra.clone());
        if m.get("self_test").is_none() {
            m["self_test"] = json!(true);
        }
        write(&format!(".harnessgym/mcp/{name}/mcp.json"), &serde_json::to_string_pretty(&m).expect("json"));
        entries.push(format!(".harnessgym/mcp/{name}/mcp.json"));
    }
    let reg = registry(&entries.iter().map(|e| ("mcp", e.as_str())).collect::<Vec<_>>());
    let options = harnessgym_activation::ActivationOptions::new(room.clone(), super::support::FAKE_BIN.into());
    let report = harnessgym_activation::activate(&options, &reg).await;
    for dir in [base.clone(), base.join("run"), Utf8PathBuf::from("/"), out.clone()] {
        assert!(!dir.join("starts.txt").exists(), "a server ran in {dir}");
        assert!(!dir.join("st.txt").exists(), "a self-test ran in {dir}");
    }
    assert!(report.mcp_servers.iter().all(|s| !s.is_active()), "{report:#?}");
    let warnings = report.warnings.join("\n");
    for (name, _, cwd) in &cases {
        let line = report
            .warnings
            .iter()
            .find(|w| w.contains(&format!(".harnessgym/mcp/{name}/mcp.json")))
            .unwrap_or_else(|| panic!("no warning names {name}'s manifest:\n{warnings}"));
        assert!(line.contains(cwd), "{line}");
        assert!(line.contains("cwd"), "{line}");
    }
    assert_eq!(report.quality_gate.status, "failed");
    assert!(!room.join(".codex/config.toml").exists());
}

/// MCP registry paths that are absolute or contain `..`, and a manifest reached through a
/// symlink, are refused before the manifest is read: nothing outside is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_artifact_paths_and_manifests_outside_the_workspace_are_refused() {
    let ws = Ws::new();
    let (_o, out) = outside();
    assert_eq!(ws.root.parent(), out.parent());
    let server_py = std::fs::read_to_string(super::support::fixture("mcp_server.py")).expect("fixture");
    for name in ["abs", "dotdot", "linked"] {
        let dir = out.join(name);
        harnessgym_test_support::fs::write_file(&dir.join("server.py"), &server_py);
        let m = manifest(
            name,
            dir.join("server.py").as_str(),
            &["--count-starts", out.join(format!("{name}.starts")).as_str()],
            json!({"self_test": true}),
        );
        harnessgym_test_support::fs::write_file(&dir.join("mcp.json"), serde_json::to_string(&m).expect("json"));
    }
    std::fs::create_dir_all(ws.path(".harnessgym/mcp")).expect("dir");
    std::os::unix::fs::symlink(out.join("linked"), ws.path(".harnessgym/mcp/linked")).expect("symlink");
    let absolute = out.join("abs/mcp.json");
    let dotdot = format!("../{}/dotdot/mcp.json", out.file_name().expect("name"));
    let report = run(
        &ws,
        &registry(&[("mcp", absolute.as_str()), ("mcp", &dotdot), ("mcp", ".harnessgym/mcp/linked/mcp.json")]),
    )
    .await;
    for name in ["abs", "dotdot", "linked"] {
        assert!(!out.join(format!("{name}.starts")).exists(), "{name} was started");
    }
    assert!(report.mcp_servers.is_empty(), "{report:#?}");
    for path in [absolute.as_str(), &dotdot, ".harnessgym/mcp/linked/mcp.json"] {
        assert!(
            report.warnings.iter().any(|w| w.starts_with("mcp artifact refused") && w.ends_with(&format!(": {path}"))),
            "{path}: {:#?}",
            report.warnings
        );
    }
}
