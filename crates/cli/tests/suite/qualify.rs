//! `harnessgym qualify` (a hand-built bundle in a clean room) and `run --keep-qualification-rooms`.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::common::{Tmp, harnessgym, only_run_dir, output, read_json, s, workspace_with_task, write};

const SERVER: &str = ".harnessgym/mcp/ir-tools/server.py";
const MANIFEST: &str = ".harnessgym/mcp/ir-tools/harnessgym-mcp.json";
const SKILL: &str = ".harnessgym/skills/ir-debugging/SKILL.md";

fn fixture_server() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/fixtures/mcp_server.py"))
        .expect("fixture server")
}

/// A task directory and, beside it, a workspace whose bundle was written the way the Python
/// reference writes it: a Content-Length server, a manifest with an absolute `cwd` (the
/// training workspace), millisecond `timeouts`, `self_test: true`, and a reference-shaped
/// registry.
fn reference_bundle(tmp: &Tmp) -> (PathBuf, PathBuf) {
    let task = tmp.dir("task");
    write(&task.join("task.md"), "Fix the IR pass.\n");
    write(&task.join("src/pass.py"), "x = 1\n");
    let ws = tmp.dir("trained");
    write(&ws.join(SERVER), &fixture_server());
    let manifest = json!({
        "name": "ir-tools",
        "command": "python3",
        "args": [SERVER, "--framing", "content-length"],
        "cwd": s(&ws),
        "enabled_tools": ["echo"],
        "self_test": true,
        "timeouts": {"initialize_ms": 5000, "tool_call_ms": 120000, "self_test_ms": 45000},
    });
    write(&ws.join(MANIFEST), &serde_json::to_string_pretty(&manifest).unwrap());
    write(&ws.join(SKILL), "---\nname: ir-debugging\ndescription: Debug IR passes.\n---\nSteps.\n");
    let registry = json!({
        "version": 1,
        "updated_at": "2026-01-01T00:00:00+00:00",
        "metadata": {},
        "artifacts": [
            {"id": format!("mcp:{MANIFEST}"), "kind": "mcp", "path": MANIFEST, "description": "IR tools",
             "iteration": 1, "created_at": "2026-01-01T00:00:00+00:00", "metadata": {"source": "filesystem-sync"}},
            {"id": format!("skill:{SKILL}"), "kind": "skill", "path": SKILL, "description": "",
             "iteration": 2, "created_at": "2026-01-01T00:00:00+00:00",
             "metadata": {"quarantined": true, "quarantine": {"status": "quarantined", "reason": "['x']"}}},
        ],
    });
    write(&ws.join(".harnessgym/registry.json"), &serde_json::to_string_pretty(&registry).unwrap());
    (task, ws)
}

fn verdict<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["verdicts"].as_array().unwrap().iter().find(|v| v["path"] == path).unwrap_or_else(|| panic!("{report}"))
}

#[test]
fn qualify_passes_a_reference_written_bundle_and_leaves_it_unmodified() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    let registry_before = std::fs::read(ws.join(".harnessgym/registry.json")).unwrap();
    let out_dir = tmp.path("out");
    let out = output(harnessgym(&tmp.root).args([
        "qualify",
        "--bundle",
        s(&ws),
        "--template",
        s(&task),
        "--out",
        s(&out_dir),
    ]));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("the report on stdout");
    assert_eq!(report["status"], "passed", "{report}");
    assert_eq!(report["fresh_workspace"], s(&out_dir.join("room")));
    assert_eq!(verdict(&report, MANIFEST)["status"], "passed");
    assert_eq!(verdict(&report, SKILL)["status"], "passed", "quarantine is stripped: everything is re-tested");
    let server = &report["activation"]["mcp_servers"][0];
    assert_eq!(server["framing"], "content-length");
    assert_eq!(server["startup_timeout_sec"], 5);
    assert_eq!(server["tool_timeout_sec"], 120);
    assert_eq!(server["self_test"]["status"], "passed");
    assert_eq!(server["cwd"], s(&out_dir.join("room")), "the stale absolute cwd points at the room");
    // The proxy in the room's agent config is this binary.
    let codex = std::fs::read_to_string(out_dir.join("room/.codex/config.toml")).unwrap();
    assert!(codex.contains("mcp-proxy") && codex.contains("content-length"), "{codex}");

    let report_path = out_dir.join("attempt_1/qualification.json");
    assert_eq!(report["report_path"], s(&report_path));
    assert_eq!(read_json(&report_path), report);
    assert!(out.stderr.contains(&format!("Qualification report: {} (status: passed)", s(&report_path))));
    assert!(out_dir.join("room/task.md").is_file() && out_dir.join("room/src/pass.py").is_file());
    assert!(out_dir.join("room").join(SERVER).is_file());
    assert_eq!(std::fs::read(ws.join(".harnessgym/registry.json")).unwrap(), registry_before, "bundle not modified");
    assert!(!ws.join(".codex").exists() && !task.join(".codex").exists());
}

#[test]
fn qualify_accepts_the_harnessgym_dir_and_a_default_temp_out() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    let out =
        output(harnessgym(&tmp.root).args(["qualify", "--bundle", s(&ws.join(".harnessgym")), "--template", s(&task)]));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let room = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Qualification room: "))
        .unwrap_or_else(|| panic!("room not printed: {}", out.stderr));
    let room = PathBuf::from(room);
    let out_dir = room.parent().unwrap().to_owned();
    assert!(out_dir.file_name().unwrap().to_str().unwrap().starts_with("harnessgym-qualify-"));
    assert!(out_dir.starts_with(std::env::temp_dir().canonicalize().unwrap()));
    assert!(out_dir.join("attempt_1/qualification.json").is_file());
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["source_workspace"], s(&ws));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn qualify_fails_with_exit_1_on_a_broken_server_and_a_hostile_link() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    // The server now crashes at start, and a fixture link points outside the bundle.
    let mut manifest: Value = serde_json::from_str(&std::fs::read_to_string(ws.join(MANIFEST)).unwrap()).unwrap();
    manifest["args"] = json!([SERVER, "--crash"]);
    write(&ws.join(MANIFEST), &manifest.to_string());
    std::fs::create_dir_all(ws.join(".harnessgym/fixtures")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ws.join(".harnessgym/fixtures/passwd")).unwrap();
    let out_dir = tmp.path("out");
    let out = output(harnessgym(&tmp.root).args([
        "qualify",
        "--bundle",
        s(&ws),
        "--template",
        s(&task),
        "--out",
        s(&out_dir),
    ]));
    assert_eq!(out.code, Some(1), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["failed_artifacts"], json!([MANIFEST]));
    assert_eq!(verdict(&report, SKILL)["status"], "passed");
    assert!(
        out.stderr.contains(
            "harnessgym: refused .harnessgym/fixtures/passwd: symlink target /etc/passwd is absolute; bundle symlinks must point inside the bundle"
        ),
        "{}",
        out.stderr
    );
    assert!(std::fs::symlink_metadata(out_dir.join("room/.harnessgym/fixtures/passwd")).is_err());
    assert!(out.stderr.contains("(status: failed)"));
}

#[test]
fn qualify_reports_a_missing_bundle_and_an_out_dir_inside_the_template() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    let out = output(harnessgym(&tmp.root).args(["qualify", "--bundle", "nope", "--template", s(&task)]));
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("bundle") && out.stderr.contains("nope") && out.stderr.contains("does not exist"));

    let inside = task.join("qual");
    let out = output(harnessgym(&tmp.root).args([
        "qualify",
        "--bundle",
        s(&ws),
        "--template",
        s(&task),
        "--out",
        s(&inside),
    ]));
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("is inside --template"), "{}", out.stderr);
}

fn qualify_with_out(tmp: &Tmp, ws: &Path, task: &Path, out_dir: &Path) -> super::common::Output {
    output(harnessgym(&tmp.root).args(["qualify", "--bundle", s(ws), "--template", s(task), "--out", s(out_dir)]))
}

/// An `--out` whose `room/` or report directory already holds files is refused, naming it, and
/// the user's files stay.
#[test]
fn qualify_refuses_an_out_dir_whose_room_or_report_holds_files() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    for occupied in ["room", "attempt_1"] {
        let out_dir = tmp.path(&format!("out-{occupied}"));
        let mine = out_dir.join(occupied).join("precious.txt");
        write(&mine, "mine\n");
        let out = qualify_with_out(&tmp, &ws, &task, &out_dir);
        assert_eq!(out.code, Some(1), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
        assert_eq!(
            out.stderr,
            format!(
                "harnessgym: error: --out {}: {} already exists and is not empty; pick a new or empty directory\n",
                s(&out_dir),
                s(&out_dir.join(occupied))
            )
        );
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n", "the user's file was touched");
        assert_eq!(super::common::tree(&out_dir), [occupied.to_owned(), format!("{occupied}/precious.txt")]);
    }
    // An existing but empty room is fine.
    let out_dir = tmp.dir("out-empty/room");
    let out = qualify_with_out(&tmp, &ws, &task, out_dir.parent().unwrap());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
}

/// The bundle is never modified: an `--out` inside it is refused, and nothing is created.
#[test]
fn qualify_refuses_an_out_dir_inside_the_bundle_without_creating_it() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    let before = super::common::tree(&ws);
    let bundle = ws.join(".harnessgym");
    for (bundle_arg, out_dir) in [(&ws, bundle.clone()), (&ws, bundle.join("qual/deeper")), (&bundle, bundle.join("x"))]
    {
        let out = qualify_with_out(&tmp, bundle_arg, &task, &out_dir);
        assert_eq!(out.code, Some(1), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
        assert_eq!(
            out.stderr,
            format!(
                "harnessgym: error: --out {} is inside the bundle {}, which is never modified; pick a directory outside it\n",
                s(&out_dir),
                s(&bundle)
            )
        );
        assert_eq!(super::common::tree(&ws), before, "the bundle was modified");
    }
}

/// An `--out` refused for being inside the template leaves no folder behind.
#[test]
fn qualify_refuses_an_out_dir_inside_the_template_without_creating_it() {
    let tmp = Tmp::new();
    let (task, ws) = reference_bundle(&tmp);
    let before = super::common::tree(&task);
    let out_dir = task.join("qual/nested");
    let out = qualify_with_out(&tmp, &ws, &task, &out_dir);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("is inside --template"), "{}", out.stderr);
    assert_eq!(super::common::tree(&task), before, "a refused --out left a folder in the template");
}

#[test]
fn run_keeps_the_room_only_with_keep_qualification_rooms() {
    for keep in [false, true] {
        let tmp = Tmp::new();
        let ws = workspace_with_task(&tmp, "Fix numerics.\n");
        let mut args = vec!["run", "--runner", "fake", "--task", "task.md", "--workspace", s(&ws), "--iterations", "1"];
        if keep {
            args.push("--keep-qualification-rooms");
        }
        let out = output(harnessgym(&tmp.root).args(&args));
        assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
        let run_dir = only_run_dir(&ws);
        let summary = read_json(&run_dir.join("summary.json"));
        assert_eq!(summary["artifact_qualification"]["reports"][0]["status"], "passed", "{summary}");
        assert_eq!(run_dir.join("qualification/room").exists(), keep, "keep = {keep}");
        // The template is internal: its manifest, with the files in the workspace's store.
        assert!(run_dir.join("qualification/workspace_template/.harnessgym/snapshot").is_file());
        // The fake agent builds a tool: nothing runs in the room, so it holds only the bundle.
        assert_eq!(run_dir.join("qualification/room/.harnessgym/registry.json").is_file(), keep);
        assert!(!run_dir.join("qualification/room/task.md").exists());
        let path = summary["artifact_qualification"]["reports"][0]["report_path"].as_str().unwrap_or_default();
        let report = read_json(Path::new(path));
        assert!(report["room_contents"].as_str().is_some_and(|c| c.starts_with("bundle only")), "{report}");
    }
}
