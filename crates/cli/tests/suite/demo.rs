//! `harnessgym demo`: the offline loop on a scratch copy of the numerical-debug task.

use pretty_assertions::assert_eq;

use super::common::{Tmp, harnessgym, only_run_dir, output, printed_run_id, read_json, redact, s, tree, write};

#[test]
fn demo_solves_in_two_iterations_in_the_given_dir() {
    let tmp = Tmp::new();
    let dir = tmp.path("d");
    let out = output(harnessgym(&tmp.root).args(["demo", "--dir", s(&dir)]));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("Final status: solved\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Solved and verified: True\n"), "{}", out.stdout);
    assert!(out.stderr.starts_with(&format!("Demo workspace: {}\n", s(&dir))), "{}", out.stderr);

    let run_dir = only_run_dir(&dir);
    let summary = read_json(&run_dir.join("summary.json"));
    let rows = summary["iterations"].as_array().expect("iterations");
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap_or("?")).collect();
    assert_eq!(statuses, ["tooling_built", "solved"]);
    assert_eq!(summary["final_status"], "solved");
    assert_eq!(summary["solved"], true);
    assert!(dir.join(".harnessgym/tools/harnessgym_fake_probe.py").is_file());

    let run_id = printed_run_id(&out.stdout);
    insta::assert_snapshot!("demo_stdout", redact(&out.stdout, &run_id, &tmp));
}

#[test]
fn demo_refuses_a_non_empty_dir() {
    let tmp = Tmp::new();
    let dir = tmp.dir("d");
    write(&dir.join("keep.txt"), "mine\n");
    let out = output(harnessgym(&tmp.root).args(["demo", "--dir", s(&dir)]));
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "harnessgym: error: demo directory {} is not empty; pass an empty or new directory to --dir\n",
            s(&dir)
        )
    );
    assert_eq!(tree(&dir), ["keep.txt"]);
    assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).expect("kept"), "mine\n");
}
