//! Qualification end to end with real MCP server processes: per-artifact verdicts, the repair
//! loop, precise quarantine, reports, the room.

use std::time::{Duration, Instant};

use harnessgym_qualify::{NoRepair, Scope, qualify, report_path};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{Hook, Setup, read_json};

const FAILING_SELF_TEST: &str = r#"["python3", "-c", "import sys; print('checksum mismatch'); sys.exit(1)"]"#;

fn failing_self_test() -> Value {
    serde_json::from_str(FAILING_SELF_TEST).unwrap()
}

fn verdict<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["verdicts"].as_array().unwrap().iter().find(|v| v["path"] == path).unwrap_or_else(|| panic!("{report}"))
}

#[tokio::test]
async fn healthy_bundle_passes_and_every_artifact_is_marked_qualified() {
    let s = Setup::new();
    let mcp = s.server("fx", json!({"self_test": true}));
    let skill = s.skill("helper");
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[
        ("mcp", &mcp, Some(1), false),
        ("skill", &skill, Some(1), false),
        ("tool", ".harnessgym/tools/probe.py", Some(1), false),
    ]);

    let started = Instant::now();
    let reports = qualify(&s.options(1, 1), &mut NoRepair).await;
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.status, "passed", "{:?}", r.reason);
    assert_eq!(r.failed_artifacts, Vec::<String>::new());
    assert_eq!(r.registry_artifact_count, 3);
    assert_eq!(r.fresh_workspace.as_deref(), Some(s.run_dir.join("qualification/room").as_str()));
    assert_eq!(r.source_workspace.as_deref(), Some(s.ws.as_str()));
    assert!(r.copied_artifacts.contains(&".harnessgym/registry.json".to_owned()));
    assert!(r.copied_artifacts.contains(&".harnessgym/mcp/fx/server.py".to_owned()));
    let mut qualified = vec![mcp.clone(), skill.clone(), ".harnessgym/tools/probe.py".to_owned()];
    qualified.sort();
    assert_eq!(r.qualified_artifacts.as_ref().unwrap(), &qualified);
    assert!(r.quarantined_artifacts.is_none());
    assert_eq!(r.quality_gate.as_ref().unwrap()["active_tool_count"], 3);

    // The report on disk, at the attempt's path.
    let path = report_path(&s.run_dir.join("iterations/1/qualification"), 1);
    assert_eq!(r.report_path.as_deref(), Some(path.as_str()));
    let disk = read_json(&path);
    assert_eq!(disk["status"], "passed");
    assert_eq!(disk["registry_updated"], true);
    for p in &qualified {
        assert_eq!(verdict(&disk, p)["status"], "passed");
        assert_eq!(verdict(&disk, p)["counted"], true);
    }
    assert!(verdict(&disk, &mcp)["reason"].as_str().unwrap().contains("3 tool(s)"), "{disk}");

    // The registry: qualification metadata, no quarantine.
    for p in &qualified {
        let e = s.registry_entry(p);
        assert_eq!(e["metadata"]["qualification"]["status"], "passed");
        assert_eq!(e["metadata"]["qualification"]["report_path"], path.as_str());
        assert_eq!(e["metadata"]["qualification"]["iteration"], 1);
        assert!(e["metadata"].get("quarantine").is_none() && e["metadata"].get("quarantined").is_none());
    }
    // Activation ran in the room (its files are there), not in the workspace.
    assert!(s.run_dir.join("qualification/room/.codex/config.toml").is_file());
    assert!(!s.ws.join(".codex").exists());
}

#[tokio::test]
async fn failing_self_test_is_repaired_once_then_passes() {
    let s = Setup::new();
    let mcp = s.server("fx", json!({"self_test": failing_self_test()}));
    s.registry(&[("mcp", &mcp, Some(1), false)]);
    let ws = s.ws.clone();
    let mcp_in_hook = mcp.clone();
    let mut hook = Hook::new(move |_| {
        // The "agent" fixes the manifest in the real workspace.
        let path = ws.join(&mcp_in_hook);
        let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        m["self_test"] = json!(true);
        std::fs::write(&path, m.to_string()).unwrap();
        true
    });
    let reports = qualify(&s.options(1, 1), &mut hook).await;

    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].status, "failed");
    assert_eq!(reports[0].failed_artifacts, [mcp.as_str()]);
    assert!(reports[0].reason.as_deref().unwrap().contains("self-test"), "{:?}", reports[0].reason);
    assert!(reports[0].qualified_artifacts.is_none(), "only the final report gets the outcome lists");
    assert_eq!(reports[1].status, "passed");
    assert_eq!(reports[1].fresh_workspace, reports[0].fresh_workspace, "one room per run");

    let calls = hook.calls();
    assert_eq!(calls.len(), 1, "one repair");
    assert_eq!(calls[0].0, 1);
    assert_eq!(calls[0].1["failed_artifacts"], json!([mcp]));
    assert_eq!(calls[0].1["status"], "failed");

    // Both reports are on disk, each with its report_path (W29: the reference left it off).
    let dir = s.run_dir.join("iterations/1/qualification");
    for k in [1, 2] {
        let disk = read_json(&report_path(&dir, k));
        assert_eq!(disk["report_path"], report_path(&dir, k).as_str());
        assert_eq!(disk["attempt"], k);
    }
    let e = s.registry_entry(&mcp);
    assert_eq!(e["metadata"]["qualification"]["status"], "passed");
    assert!(e["metadata"].get("quarantine").is_none());
}

#[tokio::test]
async fn repair_stops_when_the_hook_cannot_repair_and_with_zero_attempts() {
    let s = Setup::new();
    let mcp = s.server("fx", json!({"self_test": failing_self_test()}));
    s.registry(&[("mcp", &mcp, Some(1), false)]);
    let mut refusing = Hook::new(|_| false);
    let reports = qualify(&s.options(1, 3), &mut refusing).await;
    assert_eq!(reports.len(), 1, "no session: the loop stops at once");
    assert_eq!(refusing.calls().len(), 1);

    let mut never = Hook::new(|_| panic!("not called with 0 repair attempts"));
    let reports = qualify(&s.options(1, 0), &mut never).await;
    assert_eq!(reports.len(), 1);
    assert!(never.calls().is_empty());
}

#[tokio::test]
async fn final_failure_quarantines_the_failing_artifact_with_its_own_reason() {
    let s = Setup::new();
    let mcp = s.server("fx", json!({"self_test": failing_self_test()}));
    let skill = s.skill("helper");
    s.registry(&[("mcp", &mcp, Some(1), false), ("skill", &skill, Some(1), false)]);
    let reports = qualify(&s.options(1, 0), &mut NoRepair).await;

    let r = &reports[0];
    assert_eq!(r.status, "failed");
    assert_eq!(r.quarantined_artifacts.as_deref().unwrap(), [mcp.as_str()]);
    // W28 / B9: the healthy skill of the same iteration is not quarantined; it passed on its own.
    assert_eq!(r.qualified_artifacts.as_deref().unwrap(), [skill.as_str()]);
    let e = s.registry_entry(&mcp);
    assert_eq!(e["metadata"]["quarantined"], true);
    let q = &e["metadata"]["quarantine"];
    assert_eq!(q["status"], "quarantined");
    assert_eq!(q["iteration"], 1);
    assert_eq!(q["report_path"], r.report_path.as_deref().unwrap());
    let reason = q["reason"].as_str().unwrap();
    assert!(
        reason.contains("MCP server fx") && reason.contains("self_test") && reason.contains("exited 1"),
        "{reason}"
    );
    let skill_entry = s.registry_entry(&skill);
    assert!(skill_entry["metadata"].get("quarantined").is_none());
    assert_eq!(skill_entry["metadata"]["qualification"]["status"], "passed");
    let disk = read_json(camino::Utf8Path::new(r.report_path.as_deref().unwrap()));
    assert_eq!(disk["quarantined_artifacts"], json!([mcp]));
}

#[tokio::test]
async fn old_broken_artifact_neither_fails_nor_quarantines_a_healthy_new_one() {
    // Deliberately different from the reference (which re-tested everything, failed on the old
    // server and quarantined every artifact of the current iteration): verdicts are per artifact.
    let s = Setup::new();
    let old = s.server("old", json!({"args": [".harnessgym/mcp/old/server.py", "--crash"], "self_test": true}));
    let new = s.server("new", json!({"self_test": true}));
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[
        ("mcp", &old, Some(1), true),
        ("mcp", &new, Some(2), false),
        ("tool", ".harnessgym/tools/probe.py", Some(2), false),
    ]);
    let before_old = s.registry_entry(&old);
    let reports = qualify(&s.options(2, 1), &mut Hook::new(|_| panic!("nothing to repair"))).await;

    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.status, "passed", "{:?}", r.reason);
    assert_eq!(r.failed_artifacts, Vec::<String>::new(), "the old artifact is not blamed");
    assert!(r.quarantined_artifacts.is_none());
    let disk = read_json(camino::Utf8Path::new(r.report_path.as_deref().unwrap()));
    let old_verdict = verdict(&disk, &old);
    assert_eq!(old_verdict["status"], "failed", "it was still re-tested (quarantine stripped in the room)");
    assert_eq!(old_verdict["counted"], false);
    assert_eq!(verdict(&disk, &new)["status"], "passed");
    // The activation gate in the room failed (the old server is inactive) — it does not decide.
    assert_eq!(r.quality_gate.as_ref().unwrap()["status"], "failed");

    assert_eq!(s.registry_entry(&old)["metadata"], before_old["metadata"], "old entry untouched, not re-quarantined");
    assert_eq!(s.registry_entry(&new)["metadata"]["qualification"]["status"], "passed");
    assert_eq!(s.registry_entry(".harnessgym/tools/probe.py")["metadata"]["qualification"]["iteration"], 2);
}

#[tokio::test]
async fn no_current_artifacts_nothing_quarantined() {
    let s = Setup::new();
    let old = s.server("old", json!({"args": [".harnessgym/mcp/old/server.py", "--crash"], "self_test": true}));
    s.registry(&[("mcp", &old, Some(1), false)]);
    let reports = qualify(&s.options(2, 0), &mut NoRepair).await;
    let r = &reports[0];
    assert_eq!(r.status, "passed");
    assert_eq!(r.failed_artifacts, Vec::<String>::new());
    let e = s.registry_entry(&old);
    assert!(e["metadata"].get("quarantined").is_none(), "an old artifact is never quarantined by a later iteration");
    assert!(e["metadata"].get("qualification").is_none());
}

#[tokio::test]
async fn gate_failure_without_a_failing_counted_artifact_lists_nothing() {
    let s = Setup::new();
    // An old skill entry whose SKILL.md is gone fails the activation gate (a warning) …
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[
        ("skill", ".harnessgym/skills/gone/SKILL.md", Some(1), false),
        ("tool", ".harnessgym/tools/probe.py", Some(2), false),
    ]);
    let reports = qualify(&s.options(2, 0), &mut NoRepair).await;
    let r = &reports[0];
    assert_eq!(r.quality_gate.as_ref().unwrap()["status"], "failed");
    assert_eq!(r.quality_gate.as_ref().unwrap()["inactive_mcp_count"], 0);
    // … but no artifact of this iteration failed: nothing is listed, the report passes.
    assert_eq!(r.failed_artifacts, Vec::<String>::new());
    assert_eq!(r.status, "passed");
}

#[tokio::test]
async fn a_skill_without_skill_md_fails_on_its_own_and_frontmatter_is_advisory() {
    // Deliberately different from the reference's failed_artifacts (inactive MCP servers only):
    // every failing artifact of the iteration is listed, whatever its kind.
    let s = Setup::new();
    s.write(".harnessgym/skills/bad-front/SKILL.md", "no frontmatter at all\n");
    std::fs::create_dir_all(s.ws.join(".harnessgym/skills/empty")).unwrap();
    s.registry(&[
        ("skill", ".harnessgym/skills/bad-front/SKILL.md", Some(1), false),
        ("skill", ".harnessgym/skills/empty", Some(1), false),
        ("docs", "README.md", Some(1), false),
        ("tool", ".harnessgym/tools/missing.py", Some(1), false),
    ]);
    let reports = qualify(&s.options(1, 0), &mut NoRepair).await;
    let r = &reports[0];
    assert_eq!(r.status, "failed");
    assert_eq!(r.failed_artifacts, [".harnessgym/skills/empty", ".harnessgym/tools/missing.py", "README.md"]);
    let disk = read_json(camino::Utf8Path::new(r.report_path.as_deref().unwrap()));
    assert_eq!(verdict(&disk, ".harnessgym/skills/bad-front/SKILL.md")["status"], "passed");
    assert!(verdict(&disk, "README.md")["reason"].as_str().unwrap().contains("outside .harnessgym/"));
    assert!(verdict(&disk, ".harnessgym/tools/missing.py")["reason"].as_str().unwrap().contains("does not exist"));
    assert!(verdict(&disk, ".harnessgym/skills/empty")["reason"].as_str().unwrap().contains("no SKILL.md"));
}

#[tokio::test]
async fn hostile_entries_fail_only_their_owner_in_a_run() {
    let s = Setup::new();
    let mcp = s.server("fx", json!({"self_test": true}));
    std::os::unix::fs::symlink("/etc/passwd", s.ws.join(".harnessgym/mcp/fx/data")).unwrap();
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    // An unowned hostile link (sync never registers links) is refused but blames nobody.
    std::fs::create_dir_all(s.ws.join(".harnessgym/fixtures")).unwrap();
    std::os::unix::fs::symlink("/etc", s.ws.join(".harnessgym/fixtures/etc")).unwrap();
    s.registry(&[
        ("mcp", &mcp, Some(1), false),
        ("tool", ".harnessgym/tools/probe.py", Some(1), false),
        ("tool", "/etc/passwd", Some(1), false),
    ]);
    let reports = qualify(&s.options(1, 0), &mut NoRepair).await;
    let r = &reports[0];
    assert_eq!(r.status, "failed");
    assert_eq!(r.failed_artifacts, [mcp.as_str(), "/etc/passwd"]);
    let disk = read_json(camino::Utf8Path::new(r.report_path.as_deref().unwrap()));
    let refused: Vec<&str> = disk["refused"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap()).collect();
    assert_eq!(refused, [".harnessgym/mcp/fx/data", ".harnessgym/fixtures/etc", "/etc/passwd"]);
    assert!(verdict(&disk, &mcp)["reason"].as_str().unwrap().starts_with("refused .harnessgym/mcp/fx/data: "));
    assert_eq!(verdict(&disk, ".harnessgym/tools/probe.py")["status"], "passed");
    // The refused registry path never reached activation, and the room has no hostile link.
    let room = s.run_dir.join("qualification/room");
    assert!(std::fs::symlink_metadata(room.join(".harnessgym/fixtures/etc")).is_err());
    let room_registry = read_json(&room.join(".harnessgym/registry.json"));
    assert!(!room_registry.to_string().contains("/etc/passwd"));
    assert_eq!(s.registry_entry("/etc/passwd")["metadata"]["quarantined"], true);
}

#[tokio::test]
async fn scope_all_fails_on_any_refusal() {
    let s = Setup::new();
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    std::fs::create_dir_all(s.ws.join(".harnessgym/fixtures")).unwrap();
    std::os::unix::fs::symlink("../../../outside", s.ws.join(".harnessgym/fixtures/up")).unwrap();
    s.registry(&[("tool", ".harnessgym/tools/probe.py", None, false)]);
    let options = harnessgym_qualify::QualifyOptions { scope: Scope::All, mark_registry: false, ..s.options(0, 0) };
    let r = &qualify(&options, &mut NoRepair).await[0];
    assert_eq!(r.status, "failed");
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("refused .harnessgym/fixtures/up: symlink target ../../../outside resolves outside the bundle")
    );
    assert!(s.registry_entry(".harnessgym/tools/probe.py")["metadata"].get("qualification").is_none(), "read-only");
}

#[tokio::test]
async fn the_room_is_reused_and_restored_between_qualifications() {
    let s = Setup::new();
    // A self-test that fails if an earlier use left its marker behind, then scribbles.
    let self_test = json!([
        "python3",
        "-c",
        "import os, sys\nif os.path.exists('marker.txt') or open('numerics.py').read() != 'x = 1\\n': sys.exit(7)\nopen('marker.txt', 'w').write('m')\nopen('numerics.py', 'w').write('scribbled')\n"
    ]);
    let mcp = s.server("fx", json!({"self_test": self_test}));
    s.registry(&[("mcp", &mcp, Some(1), false)]);
    let first = qualify(&s.options(1, 0), &mut NoRepair).await;
    assert_eq!(first[0].status, "passed", "{:?}", first[0].reason);
    let room = s.run_dir.join("qualification/room");
    assert!(room.join("marker.txt").is_file(), "the room is kept after qualification");

    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[("mcp", &mcp, Some(1), false), ("tool", ".harnessgym/tools/probe.py", Some(2), false)]);
    let second = qualify(&s.options(2, 0), &mut NoRepair).await;
    assert_eq!(second[0].fresh_workspace, first[0].fresh_workspace);
    let disk = read_json(camino::Utf8Path::new(second[0].report_path.as_deref().unwrap()));
    assert_eq!(verdict(&disk, &mcp)["status"], "passed", "restored: no marker, numerics.py original: {disk}");
    assert_eq!(std::fs::read_to_string(s.ws.join("numerics.py")).unwrap(), "x = 1\n", "the workspace is untouched");
}

#[tokio::test]
async fn a_missing_template_is_a_failed_report_with_a_reason_and_no_repair() {
    let s = Setup::new();
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[("tool", ".harnessgym/tools/probe.py", Some(1), false)]);
    std::fs::remove_dir_all(s.run_dir.join("qualification/workspace_template")).unwrap();
    let mut hook = Hook::new(|_| panic!("infrastructure failures are not repaired"));
    let reports = qualify(&s.options(1, 2), &mut hook).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, "failed");
    assert!(
        reports[0].reason.as_deref().unwrap().starts_with("qualification could not run: "),
        "{:?}",
        reports[0].reason
    );
    assert_eq!(reports[0].failed_artifacts, Vec::<String>::new());
    assert!(s.registry_entry(".harnessgym/tools/probe.py")["metadata"].get("quarantined").is_none());
}

#[tokio::test]
async fn skills_and_tools_are_qualified_in_a_room_holding_only_the_bundle_and_mcp_brings_the_task_files() {
    let s = Setup::new();
    let skill = s.skill("helper");
    s.write(".harnessgym/tools/probe.py", "print(1)\n");
    s.registry(&[("skill", &skill, Some(1), false), ("tool", ".harnessgym/tools/probe.py", Some(1), false)]);
    let room = s.run_dir.join("qualification/room");
    let bundle_only = s.run_dir.join("qualification/room.bundle-only");

    let first = qualify(&s.options(1, 0), &mut NoRepair).await;
    assert_eq!(first[0].status, "passed", "{:?}", first[0].reason);
    let disk = read_json(camino::Utf8Path::new(first[0].report_path.as_deref().unwrap()));
    assert!(disk["room_contents"].as_str().unwrap().starts_with("bundle only"), "{disk}");
    assert!(room.join(".harnessgym/tools/probe.py").is_file());
    assert!(!room.join("numerics.py").exists(), "no task files: nothing could read them");
    assert!(bundle_only.is_file(), "the room is marked, outside itself");
    assert!(!harnessgym_qualify::holds_task_files(&room));

    // An MCP server runs its self-test in the room: the task's files come in.
    let self_test =
        json!(["python3", "-c", "import sys; sys.exit(0 if open('numerics.py').read() == 'x = 1\\n' else 3)"]);
    let mcp = s.server("fx", json!({"self_test": self_test}));
    s.registry(&[("skill", &skill, Some(1), false), ("mcp", &mcp, Some(2), false)]);
    let second = qualify(&s.options(2, 0), &mut NoRepair).await;
    assert_eq!(second[0].status, "passed", "{:?}", second[0].reason);
    let disk = read_json(camino::Utf8Path::new(second[0].report_path.as_deref().unwrap()));
    assert_eq!(disk["room_contents"], "task files and bundle");
    assert_eq!(std::fs::read_to_string(room.join("numerics.py")).unwrap(), "x = 1\n");
    assert!(!bundle_only.exists());
    assert!(harnessgym_qualify::holds_task_files(&room));

    // Back to skills only: the room that holds the task files is restored, not emptied.
    s.registry(&[("skill", &skill, Some(3), false)]);
    let third = qualify(&s.options(3, 0), &mut NoRepair).await;
    assert_eq!(third[0].status, "passed", "{:?}", third[0].reason);
    assert!(room.join("numerics.py").is_file());

    harnessgym_qualify::remove_room(&room).unwrap();
    assert!(!room.exists() && !bundle_only.exists());
}

#[test]
fn the_task_files_are_needed_for_mcp_servers_artifacts_outside_the_bundle_and_unknown_registries() {
    let s = Setup::new();
    assert!(harnessgym_qualify::needs_task_files(&s.ws), "no registry: artifacts are discovered in the room");
    s.registry(&[("tool", ".harnessgym/tools/probe.py", Some(1), false)]);
    assert!(!harnessgym_qualify::needs_task_files(&s.ws));
    s.registry(&[("skill", "docs/SKILL.md", Some(1), false)]);
    assert!(harnessgym_qualify::needs_task_files(&s.ws), "resolved against the room's task files");
    s.registry(&[("mcp", ".harnessgym/mcp/fx/harnessgym.mcp.json", Some(1), false)]);
    assert!(harnessgym_qualify::needs_task_files(&s.ws));
    s.write(".harnessgym/registry.json", "{ not json");
    assert!(harnessgym_qualify::needs_task_files(&s.ws));
    assert_eq!(std::fs::read_to_string(s.ws.join(".harnessgym/registry.json")).unwrap(), "{ not json", "read only");
}
