//! The bundled tasks, part 1 (issue 14): tensor-layout-pipeline, cpu-attention-autotune and
//! paged-attention-decode. Each frozen `benchmark.py` runs with python3 on its starting files
//! (exact scores for the deterministic ones), on a known-better variant and on broken and
//! cheating variants. Every output must be one strict JSON object (serde_json refuses NaN and
//! Infinity) whose `status` agrees with the exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn task_dir(name: &str) -> PathBuf {
    repo_root().join("benches-tasks").join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tasks_part1").join(name)
}

/// What one benchmark run printed and returned.
struct Run {
    code: i32,
    json: Value,
}

impl Run {
    fn status(&self) -> &str {
        self.json["status"].as_str().unwrap_or("<no status>")
    }

    fn errors(&self) -> String {
        self.json["errors"].to_string()
    }

    fn assert_passed(&self) -> &Self {
        assert_eq!(self.status(), "passed", "{}", self.json);
        assert_eq!(self.code, 0, "{}", self.json);
        assert_eq!(self.json["errors"], serde_json::json!([]));
        self
    }

    fn assert_failed(&self, reason: &str) -> &Self {
        assert_eq!(self.status(), "failed", "{}", self.json);
        assert_ne!(self.code, 0, "a failed run must exit non-zero: {}", self.json);
        assert!(self.errors().contains(reason), "no error mentions {reason:?}: {}", self.errors());
        assert!(self.json["score"].is_null(), "a failed run has no score: {}", self.json);
        self
    }

    fn score(&self) -> f64 {
        self.json["score"].as_f64().unwrap_or(f64::NAN)
    }
}

/// Runs `python3 benchmark.py ARGS` in `dir`; stdout must be exactly one strict JSON object.
fn bench(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new("python3").arg("benchmark.py").args(args).current_dir(dir).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("not one strict JSON object ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    assert!(json.is_object(), "{json}");
    assert_eq!(stdout.trim().lines().count(), 1, "one line of JSON on stdout: {stdout}");
    Run { code: out.status.code().unwrap_or(-1), json }
}

/// A scratch copy of a task directory (variants are written there, never in the repository).
fn scratch_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join(name);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(task_dir(name)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
    (tmp, dest)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// The task directory holds exactly the contract's files.
fn assert_task_files(name: &str, edit_surface: &str) {
    let dir = task_dir(name);
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut expected = vec!["benchmark.py".to_owned(), "task.md".to_owned(), edit_surface.to_owned()];
    expected.sort();
    assert_eq!(files, expected, "{}", dir.display());
    let task = std::fs::read_to_string(dir.join("task.md")).unwrap();
    for needle in [edit_surface, "--mode dev", "--mode final", "metrics.score"] {
        assert!(task.contains(needle), "task.md of {name} does not mention {needle:?}");
    }
}

// ---------------------------------------------------------------- tensor-layout-pipeline

const TLP: &str = "tensor-layout-pipeline";

#[test]
fn tensor_layout_starting_plan_scores_exactly() {
    assert_task_files(TLP, "kernel_plan.json");
    let dir = task_dir(TLP);
    let dev = bench(&dir, &["--json", "--mode", "dev"]);
    dev.assert_passed();
    assert_eq!(dev.json["best_cycles"], 439_829_209, "{}", dev.json);
    assert_eq!(dev.json["score"], dev.json["best_cycles"]);
    assert_eq!(dev.json["cases"].as_array().map(Vec::len), Some(4));
    let final_ = bench(&dir, &["--json", "--mode", "final"]);
    final_.assert_passed();
    assert_eq!(final_.json["best_cycles"], 1_757_573_013, "{}", final_.json);
    assert_eq!(final_.json["cases"].as_array().map(Vec::len), Some(5));
    // The objective is the worst case.
    let worst = final_.json["cases"].as_array().unwrap().iter().filter_map(|c| c["cycles"].as_i64()).max();
    assert_eq!(worst, final_.json["best_cycles"].as_i64());
}

#[test]
fn tensor_layout_better_plan_scores_lower_and_the_trace_explains() {
    let (_tmp, dir) = scratch_copy(TLP);
    std::fs::copy(fixture("tensor_layout_better_plan.json"), dir.join("kernel_plan.json")).unwrap();
    let dev = bench(&dir, &["--json", "--mode", "dev", "--trace", "trace.json"]);
    dev.assert_passed();
    let final_ = bench(&dir, &["--json", "--mode", "final"]);
    final_.assert_passed();
    assert!(dev.score() < 439_829_209.0 / 50.0, "{}", dev.json);
    assert!(final_.score() < 1_757_573_013.0 / 50.0, "{}", final_.json);
    let trace = read_json(&dir.join("trace.json"));
    let cases = trace["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 4);
    for (name, case) in cases {
        for key in ["penalties", "synergies", "footprint_kib", "resident_items_per_core", "overlap", "modelled_error"] {
            assert!(case.get(key).is_some(), "trace of {name} lacks {key}: {case}");
        }
    }
    // The better plan earns named synergies; the starting plan pays named penalties.
    assert!(cases.values().any(|c| c["synergies"].as_object().is_some_and(|s| !s.is_empty())), "{trace}");
    let start = task_dir(TLP);
    let tmp = tempfile::tempdir().unwrap();
    let start_trace = tmp.path().join("start.json");
    bench(&start, &["--json", "--mode", "dev", "--trace", start_trace.to_str().unwrap()]).assert_passed();
    let start_trace = read_json(&start_trace);
    assert!(start_trace["cases"]["window_2k"]["penalties"].get("scratchpad_overflow_kib").is_some(), "{start_trace}");
}

#[test]
fn tensor_layout_rejects_unknown_keys_bad_values_and_infeasible_plans() {
    let (_tmp, dir) = scratch_copy(TLP);
    let start = read_json(&dir.join("kernel_plan.json"));
    let cases: Vec<(&str, Value)> = vec![
        ("unknown key 'tile_m'", {
            let mut p = start.clone();
            p["tile_m"] = 64.into();
            p
        }),
        ("missing key 'swizzle'", {
            let mut p = start.clone();
            p.as_object_mut().unwrap().remove("swizzle");
            p
        }),
        ("tile_q=48", {
            let mut p = start.clone();
            p["tile_q"] = 48.into();
            p
        }),
        ("tile_q=64.0", {
            let mut p = start.clone();
            p["tile_q"] = 64.0.into();
            p
        }),
        ("prefetch_ring", {
            let mut p = start.clone();
            p["prefetch_distance"] = 2.into();
            p
        }),
        ("split_k_accumulator", {
            let mut p = start.clone();
            p["softmax"] = "online".into();
            p["accumulate"] = "fp16".into();
            p["split_k"] = 4.into();
            p
        }),
        ("tile_aspect", {
            let mut p = start;
            p["tile_q"] = 16.into();
            p["tile_kv"] = 256.into();
            p
        }),
    ];
    for (reason, plan) in cases {
        write_json(&dir.join("kernel_plan.json"), &plan);
        let run = bench(&dir, &["--json", "--mode", "dev"]);
        run.assert_failed(reason);
        assert!(run.json["best_cycles"].is_null());
    }
    // Not JSON at all, and JSON's forbidden constants.
    for (text, reason) in
        [("{\"tile_q\": NaN}", "NaN"), ("{\"tile_q\": 1e400}", "out of range"), ("{not json", "JSONDecodeError")]
    {
        std::fs::write(dir.join("kernel_plan.json"), text).unwrap();
        bench(&dir, &["--json", "--mode", "dev"]).assert_failed(reason);
    }
}

#[test]
fn tensor_layout_modelled_error_is_a_gate_that_final_tightens() {
    let (_tmp, dir) = scratch_copy(TLP);
    let mut plan = read_json(&fixture("tensor_layout_better_plan.json"));
    // An fp16 accumulator (faster) passes the dev shapes but not the long-context final one:
    // the held-out mode rejects it.
    plan["accumulate"] = "fp16".into();
    plan["softmax"] = "online".into();
    plan["split_k"] = 1.into();
    plan["schedule"] = "persistent".into();
    write_json(&dir.join("kernel_plan.json"), &plan);
    bench(&dir, &["--json", "--mode", "dev"]).assert_passed();
    let final_ = bench(&dir, &["--json", "--mode", "final"]);
    final_.assert_failed("long_context_few_queries: modelled error");
    let failed = final_.json["cases"].as_array().unwrap().iter().filter(|c| c["status"] == "failed").count();
    assert_eq!(failed, 1, "{}", final_.json);
    // A lazy rescale on top fails dev too; bf16 fails everywhere.
    plan["softmax"] = "online_lazy".into();
    write_json(&dir.join("kernel_plan.json"), &plan);
    bench(&dir, &["--json", "--mode", "dev"]).assert_failed("exceeds tolerance");
    plan["softmax"] = "online".into();
    plan["accumulate"] = "bf16".into();
    write_json(&dir.join("kernel_plan.json"), &plan);
    bench(&dir, &["--json", "--mode", "dev"]).assert_failed("exceeds tolerance");
}

#[test]
fn tensor_layout_list_valid_names_every_knob() {
    let out =
        Command::new("python3").args(["benchmark.py", "--list-valid"]).current_dir(task_dir(TLP)).output().unwrap();
    assert!(out.status.success());
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let plan = read_json(&task_dir(TLP).join("kernel_plan.json"));
    let domains = listing["domains"].as_object().unwrap();
    assert_eq!(domains.len(), 19);
    let mut plan_keys: Vec<_> = plan.as_object().unwrap().keys().collect();
    let mut domain_keys: Vec<_> = domains.keys().collect();
    plan_keys.sort();
    domain_keys.sort();
    assert_eq!(plan_keys, domain_keys);
}

// ---------------------------------------------------------------- cpu-attention-autotune

const CAT: &str = "cpu-attention-autotune";

#[test]
fn cpu_attention_starting_config_scores_exactly() {
    assert_task_files(CAT, "kernel_config.json");
    let dir = task_dir(CAT);
    let before = std::fs::read(dir.join("kernel_config.json")).unwrap();
    let dev = bench(&dir, &["--json", "--mode", "dev"]);
    dev.assert_passed();
    assert_eq!(dev.json["best_cycles"], 2_576_081_625_i64, "{}", dev.json);
    let final_ = bench(&dir, &["--json", "--mode", "final"]);
    final_.assert_passed();
    assert_eq!(final_.json["best_cycles"], 20_597_477_640_i64, "{}", final_.json);
    assert_eq!(final_.json["score"], final_.json["best_cycles"]);
    // The benchmark only scores: it never rewrites the configuration.
    assert_eq!(std::fs::read(dir.join("kernel_config.json")).unwrap(), before);
}

#[test]
fn cpu_attention_has_no_optimiser_and_its_better_config_scores_lower() {
    // No search entry point: an unknown flag is an argparse usage error (exit 2).
    for flag in ["--beam-search", "--search", "--autotune", "--write-best"] {
        let out = Command::new("python3").args(["benchmark.py", flag]).current_dir(task_dir(CAT)).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} must not be an option");
    }
    let source = std::fs::read_to_string(task_dir(CAT).join("benchmark.py")).unwrap();
    for word in ["beam", "anneal", "random", "itertools", "product("] {
        assert!(!source.contains(word), "benchmark.py contains {word:?}: it must not search");
    }
    let (_tmp, dir) = scratch_copy(CAT);
    std::fs::copy(fixture("cpu_attention_better_config.json"), dir.join("kernel_config.json")).unwrap();
    let dev = bench(&dir, &["--json", "--mode", "dev", "--trace", "trace.json"]);
    dev.assert_passed();
    let final_ = bench(&dir, &["--json", "--mode", "final"]);
    final_.assert_passed();
    assert!(dev.score() < 2_576_081_625.0 / 20.0, "{}", dev.json);
    assert!(final_.score() < 20_597_477_640.0 / 20.0, "{}", final_.json);
    let trace = read_json(&dir.join("trace.json"));
    assert!(trace["cases"]["heads2_n4096_d64"]["cache_level"].is_string(), "{trace}");
}

#[test]
fn cpu_attention_rejects_unknown_keys_infeasible_and_inaccurate_configs() {
    let (_tmp, dir) = scratch_copy(CAT);
    let better = read_json(&fixture("cpu_attention_better_config.json"));
    let variants: Vec<(&str, &str, Value)> = vec![
        ("dev", "unknown key 'beam_width'", {
            let mut c = better.clone();
            c["beam_width"] = 48.into();
            c
        }),
        ("dev", "pack_q=1", {
            let mut c = better.clone();
            c["pack_q"] = 1.into();
            c
        }),
        ("dev", "unroll_divides_block", {
            let mut c = better.clone();
            c["block_k"] = 16.into();
            c["unroll_k"] = 8.into();
            c
        }),
        ("dev", "exceeds tolerance", {
            let mut c = better.clone();
            c["exp"] = "bitshift".into();
            c
        }),
        // poly3 passes dev but not the long final sequences.
        ("final", "exceeds tolerance", {
            let mut c = better.clone();
            c["exp"] = "poly3".into();
            c
        }),
    ];
    for (mode, reason, config) in variants {
        write_json(&dir.join("kernel_config.json"), &config);
        bench(&dir, &["--json", "--mode", mode]).assert_failed(reason);
    }
    let mut poly3 = better;
    poly3["exp"] = "poly3".into();
    write_json(&dir.join("kernel_config.json"), &poly3);
    bench(&dir, &["--json", "--mode", "dev"]).assert_passed();
}

// ---------------------------------------------------------------- paged-attention-decode

const PAD: &str = "paged-attention-decode";

/// The NumPy task needs NumPy: fail with the install command, never skip.
fn require_numpy() {
    let ok = Command::new("python3").args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
    assert!(ok, "NumPy is missing for python3: `python3 -m pip install numpy==2.4.6` (.ci/run installs it)");
}

fn paged_variant(fixture_name: &str) -> (tempfile::TempDir, PathBuf, Run) {
    let (tmp, dir) = scratch_copy(PAD);
    std::fs::copy(fixture(fixture_name), dir.join("kernel.py")).unwrap();
    let run = bench(&dir, &["--json", "--mode", "dev"]);
    (tmp, dir, run)
}

#[test]
fn paged_decode_starting_kernel_passes_and_a_vectorised_one_is_faster() {
    require_numpy();
    assert_task_files(PAD, "kernel.py");
    let start = bench(&task_dir(PAD), &["--json", "--mode", "dev"]);
    start.assert_passed();
    assert_eq!(start.json["source_scan"], "passed");
    let best = start.json["best_ms"].as_f64().unwrap();
    assert!(best > 0.0 && start.score() == best, "{}", start.json);
    let cases = start.json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let sum: f64 = cases.iter().filter_map(|c| c["best_ms"].as_f64()).sum();
    assert!((sum - best).abs() < 1e-3, "best_ms is the sum over cases: {}", start.json);
    // Timing on a shared 2-core machine: up to three paired runs, the vectorised kernel must win one.
    let (_tmp, dir) = scratch_copy(PAD);
    std::fs::copy(fixture("paged_vectorised.py"), dir.join("kernel.py")).unwrap();
    let mut pairs = vec![];
    for _ in 0..3 {
        let start = if pairs.is_empty() { best } else { bench(&task_dir(PAD), &["--json", "--mode", "dev"]).score() };
        let fast = bench(&dir, &["--json", "--mode", "dev"]);
        fast.assert_passed();
        pairs.push((fast.score(), start));
        if fast.score() < start {
            return;
        }
    }
    panic!("the vectorised kernel was never faster than the starting one: (vectorised, starting) ms {pairs:?}");
}

#[test]
fn paged_decode_wrong_results_fail() {
    require_numpy();
    for name in ["paged_wrong_result.py", "paged_reads_past_end.py"] {
        let (_tmp, _dir, run) = paged_variant(name);
        run.assert_failed("wrong output");
        assert_eq!(run.json["source_scan"], "passed", "{name}");
    }
    let (_tmp, dir) = scratch_copy(PAD);
    std::fs::write(dir.join("kernel.py"), "def paged_decode(*args):\n    raise RuntimeError('boom')\n").unwrap();
    bench(&dir, &["--json", "--mode", "dev"]).assert_failed("RuntimeError: boom");
    std::fs::write(
        dir.join("kernel.py"),
        "import numpy as np\n\ndef paged_decode(q, *args):\n    return np.full(q.shape, np.nan)\n",
    )
    .unwrap();
    bench(&dir, &["--json", "--mode", "dev"]).assert_failed("non-finite");
    // A kernel that prints on every call still leaves exactly one JSON object on stdout.
    let vectorised = std::fs::read_to_string(fixture("paged_vectorised.py")).unwrap();
    let printing = vectorised.replace("    out = np.empty(", "    print('debug', query.shape)\n    out = np.empty(");
    assert_ne!(printing, vectorised);
    std::fs::write(dir.join("kernel.py"), printing).unwrap();
    bench(&dir, &["--json", "--mode", "dev"]).assert_passed();
}

#[test]
fn paged_decode_refuses_reading_the_reference_and_caching_across_calls() {
    require_numpy();
    for (name, reason) in [
        ("paged_reads_reference.py", "import of 'benchmark'"),
        ("paged_module_cache.py", "no state kept between calls"),
        ("paged_default_arg_cache.py", "non-constant default argument"),
        ("paged_function_attr_cache.py", "assignment to an attribute"),
    ] {
        let (_tmp, _dir, run) = paged_variant(name);
        run.assert_failed(reason);
        assert_eq!(run.json["source_scan"], "failed", "{name}");
    }
    // Reaching outside the arguments: files, the interpreter, the clock.
    let (_tmp, dir) = scratch_copy(PAD);
    let vectorised = std::fs::read_to_string(fixture("paged_vectorised.py")).unwrap();
    for (line, reason) in [
        ("import time", "import of 'time'"),
        ("import sys", "import of 'sys'"),
        ("SOURCE = open('benchmark.py').read()", "use of 'open'"),
        ("from . import benchmark", "import of '.'"),
    ] {
        std::fs::write(dir.join("kernel.py"), format!("{line}\n{vectorised}")).unwrap();
        bench(&dir, &["--json", "--mode", "dev"]).assert_failed(reason);
    }
}

// ---------------------------------------------------------------- rehearsal scripts

fn rehearsal_dir(task: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rehearsal").join(task)
}

#[test]
fn rehearsal_scripts_are_generated_and_valid() {
    let out = Command::new("python3")
        .args(["make_scripts.py", "--check"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("rehearsal"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for (task, server) in [(TLP, "plan_sweep"), (CAT, "config_sweep"), (PAD, "kernel_variants")] {
        let path = rehearsal_dir(task).join("script.json");
        let script =
            harnessgym_scripted_model::Script::from_json_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let names: Vec<_> = script.phases.iter().map(|p| p.display_name().to_owned()).collect();
        assert_eq!(names, ["harnessed-attempt", "attempt", "reflection", "build"], "{task}");
        // The harnessed phase is chosen only when the generated server is active, and it calls
        // that server (codex shows `-` in a server name as `_`: the names have none).
        assert!(!server.contains('-'));
        let active = format!("# HarnessGym attempt, iteration 2\n- MCP `{server}` active=true; smoke: passed");
        let harnessed = script.phase_for(&active).unwrap();
        assert_eq!(harnessed.display_name(), "harnessed-attempt", "{task}");
        assert!(
            harnessed.steps.iter().any(|s| matches!(s, harnessgym_scripted_model::Step::Mcp(c) if c.server == server))
        );
        let inactive = format!("# HarnessGym attempt, iteration 1\n- MCP `{server}` active=false");
        assert_eq!(script.phase_for(&inactive).map(|p| p.display_name()), Some("attempt"), "{task}");
        // Nothing of the rehearsal lives in the task directory (the template every trial copies).
        assert!(!task_dir(task).join(".harnessgym").exists());
    }
}

/// Plays the tensor-layout script's shell steps on a scratch copy without an agent CLI: the
/// manual edit improves the plan a little, the build's server passes its self-test, and its
/// `sweep` (called over stdio as the harnessed attempt would through MCP) applies a far better
/// plan to kernel_plan.json.
#[test]
fn tensor_layout_rehearsal_plays_offline() {
    let script: Value = read_json(&rehearsal_dir(TLP).join("script.json"));
    let (_tmp, ws) = scratch_copy(TLP);
    let iteration = ws.join(".harnessgym/runs/r1/iterations/1");
    std::fs::create_dir_all(&iteration).unwrap();
    std::fs::write(iteration.join("result.json"), r#"{"metrics": {"score": null}}"#).unwrap();
    let shell = |phase: &str| {
        let steps = script["phases"].as_array().unwrap().iter().find(|p| p["name"] == phase).unwrap()["steps"].clone();
        for step in steps.as_array().unwrap() {
            if let Some(cmd) = step["shell"].as_str() {
                let out = Command::new("bash").args(["-c", cmd]).current_dir(&ws).output().unwrap();
                assert!(out.status.success(), "{phase}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    };
    shell("attempt");
    let manual = read_json(&iteration.join("result.json"));
    let manual_score = manual["metrics"]["score"].as_f64().unwrap();
    assert!(manual_score < 1_757_573_013.0, "{manual}");
    assert_eq!(manual["verified"], true);
    shell("reflection");
    shell("build");
    let result = read_json(&iteration.join("result.json"));
    assert_eq!(result["reflection"]["selected_improvement"]["name"], "plan_sweep");
    assert_eq!(result["verification"]["tooling_tests"][0]["status"], "passed");
    let manifest = read_json(&ws.join(".harnessgym/mcp/plan_sweep/mcp.json"));
    assert_eq!(manifest["self_test"], true);
    assert!(ws.join(".harnessgym/skills/plan-sweep/SKILL.md").is_file());
    // The harnessed attempt's tool call, over the server's stdio.
    let requests = concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sweep","arguments":{"mode":"final","apply":true}}}"#,
        "\n"
    );
    let mut child = Command::new("python3")
        .arg(".harnessgym/mcp/plan_sweep/server.py")
        .current_dir(&ws)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), requests.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let replies: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sweep: Value = serde_json::from_str(replies[1]["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(sweep["applied"], true, "{sweep}");
    let run = bench(&ws, &["--json", "--mode", "final"]);
    run.assert_passed();
    assert_eq!(run.json["best_cycles"], sweep["after"]["final"]);
    assert!(run.score() < manual_score / 5.0, "sweep {} vs manual {manual_score}", run.score());
}

/// The real `codex` (installed by `.ci/run` into target/agent-clis) plays the tensor-layout
/// rehearsal script through `harnessgym run --model-script` against the scripted model server
/// on 127.0.0.1: iteration 1 edits the plan by hand; its build writes the sweep server, which
/// qualifies; iteration 2 calls it through MCP (the proxy records the calls) and the tool writes a
/// far better plan. Under `CI=true` a missing codex fails the test; elsewhere it says NOT RUN.
#[test]
fn tensor_layout_rehearsal_with_the_real_codex() {
    let codex = match std::env::var("HARNESSGYM_CODEX_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => repo_root().join("target/agent-clis/node_modules/.bin/codex"),
    };
    if !codex.exists() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "codex is not installed: .ci/run installs it");
        eprintln!("NOT RUN: codex is not installed (npm install --prefix target/agent-clis …, see .ci/run)");
        return;
    }
    let (_tmp, ws) = scratch_copy(TLP);
    let script = rehearsal_dir(TLP).join("script.json");
    let out = Command::new(harnessgym_test_support::cli_bin().as_std_path())
        .current_dir(&ws)
        .args(["run", "--task", "task.md", "--workspace", ws.to_str().unwrap(), "--iterations", "2"])
        .args(["--runner", "exec", "--model-script", script.to_str().unwrap(), "--codex-bin", codex.to_str().unwrap()])
        .args(["--attempt-timeout", "3m", "--reflection-timeout", "2m", "--build-timeout", "3m"])
        .args(["--optimization-mode", "--score-key", "best_cycles", "--stop-score", "1", "--task-state", "continue"])
        .args(["--post-attempt-command", "python3 benchmark.py --json --mode final"])
        .args(["--post-attempt-score-key", "best_cycles"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("no failures"), "the model script failed: {stdout}\n{stderr}");
    let result = |i: u32| {
        let runs = std::fs::read_dir(ws.join(".harnessgym/runs")).unwrap().next().unwrap().unwrap().path();
        read_json(&runs.join(format!("iterations/{i}/result.json")))
    };
    let manual = result(1)["metrics"]["score"].as_f64().unwrap();
    let harnessed = result(2);
    assert_eq!(harnessed["used_harness_tools"], serde_json::json!(["evaluate", "sweep"]));
    let swept = harnessed["metrics"]["score"].as_f64().unwrap();
    assert!(swept < manual / 5.0, "sweep {swept} vs manual {manual}");
    let calls = std::fs::read_to_string(ws.join(".harnessgym/mcp_calls.jsonl")).unwrap();
    assert_eq!(calls.lines().filter(|l| l.contains("plan_sweep")).count(), 2, "{calls}");
    let run = bench(&ws, &["--json", "--mode", "final"]);
    run.assert_passed();
    assert_eq!(run.score(), swept);
}

/// The evidence docs/tasks.md records: the greedy one-knob-at-a-time search is deterministic
/// (its figures are the documented ones) and stalls well above a joint search, in both modes,
/// also with shuffled knob orders. A short joint budget keeps the test fast.
#[test]
fn tensor_layout_greedy_search_stalls_above_a_joint_search() {
    let out = Command::new("python3")
        .args(["xtask/tasks-search/tensor_layout_search.py", "--budget", "1000", "--json"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["start"]["dev"], 439_829_209);
    assert_eq!(report["optimise_dev"]["greedy"]["dev"], 5_012_528);
    assert_eq!(report["optimise_final"]["greedy"]["final"], 15_512_848);
    for (mode, key) in [("dev", "optimise_dev"), ("final", "optimise_final")] {
        let greedy = report[key]["greedy"][mode].as_f64().unwrap();
        let joint = report[key]["joint"][mode].as_f64().unwrap();
        assert!(greedy > 1.8 * joint, "{mode}: greedy {greedy} vs joint {joint}");
        let shuffled = report[key]["greedy_shuffled_orders"].as_array().unwrap();
        let best = shuffled.iter().filter_map(Value::as_f64).fold(f64::INFINITY, f64::min);
        assert!(best > 1.25 * joint, "{mode}: best shuffled greedy {best} vs joint {joint}");
    }
}

/// `cargo xtask reproduce tensor-layout-pipeline`'s library function, offline: the generation
/// run and the compare play the task's rehearsal script through the real codex; the table is
/// titled as a rehearsal and shows the harnessed arm ahead, with its tool calls recorded.
#[test]
fn reproduce_tensor_layout_offline_puts_the_harnessed_arm_ahead() {
    let codex = match std::env::var("HARNESSGYM_CODEX_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => repo_root().join("target/agent-clis/node_modules/.bin/codex"),
    };
    if !codex.exists() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "codex is not installed: .ci/run installs it");
        eprintln!("NOT RUN: codex is not installed (npm install --prefix target/agent-clis …, see .ci/run)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let task = xtask::reproduce::TASKS.iter().find(|t| t.name == TLP).unwrap();
    let options = xtask::reproduce::Options {
        runner: "exec".to_owned(),
        agent_bin: Some(codex),
        model_script: None,
        real: false,
        iterations: 2,
        trials: 4,
        jobs: 2,
        seed: 7,
        out: tmp.path().join("reproduce"),
        harnessgym: harnessgym_test_support::cli_bin().as_std_path().to_path_buf(),
    };
    let reproduction = xtask::reproduce::reproduce(&repo_root(), task, &options).unwrap();
    let table = &reproduction.table;
    assert!(table.contains("a rehearsal of the mechanism"), "{table}");
    let row = |arm: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("| {TLP} | {arm} |")))
            .unwrap_or_else(|| panic!("{table}"))
            .to_owned()
    };
    let cells = |line: String| line.split('|').map(|c| c.trim().to_owned()).collect::<Vec<_>>();
    let harnessed = cells(row("harnessed"));
    let plain = cells(row("plain"));
    // | task | arm | trials (valid) | attempts | time | score median (best) | change | tools | calls | verdict |
    assert_eq!(harnessed[10], "better", "{table}");
    assert!(harnessed[9].parse::<u32>().unwrap() >= 4, "one call per harnessed trial at least: {table}");
    assert_eq!(plain[9], "0", "{table}");
    let median = |c: &str| c.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(median(&harnessed[6]) < median(&plain[6]) / 5.0, "{table}");
}
