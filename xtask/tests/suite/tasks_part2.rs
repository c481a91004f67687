//! The bundled tasks of issue 15 under `benches-tasks/`: c-flash-attention, cpp-stencil and
//! triton-rmsnorm. Each benchmark runs on a scratch copy of its task directory: the starting
//! files pass with a positive score, a known-better kernel beats them by a wide margin, and
//! every cheating variant is refused with strict JSON, status failed, exit 1 and an error naming
//! the check that caught it. The GPU task is checked as far as a machine without a GPU allows:
//! config validation, the source scan, the NumPy reference against an independent
//! implementation here, the JSON shape, and the remote path through a loopback sshd.
// Test helpers outside `#[test]` functions panic on setup failures by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harnessgym_test_support::sshd::TestSshd;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn variant(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/tasks_part2").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of `benches-tasks/<task>` (the template every trial copies).
fn task_copy(task: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(task);
    copy_dir(&repo_root().join("benches-tasks").join(task), &dir);
    (tmp, dir)
}

struct Bench {
    code: i32,
    json: Value,
    stdout: String,
    stderr: String,
}

impl Bench {
    fn status(&self) -> &str {
        self.json["status"].as_str().unwrap_or("<none>")
    }

    fn score(&self) -> f64 {
        self.json["score"].as_f64().unwrap_or_else(|| panic!("no numeric score: {}", self.stdout))
    }

    fn first_error(&self) -> &str {
        self.json["errors"][0].as_str().unwrap_or("")
    }
}

/// Runs `python3 benchmark.py ARGS` in `dir`. Its whole stdout must be one strict JSON object
/// (serde_json rejects NaN and Infinity) and its exit code 0 exactly when the status is passed.
fn bench_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Bench {
    let mut cmd = Command::new("python3");
    cmd.arg("benchmark.py").args(args).current_dir(dir).env("PYTHONDONTWRITEBYTECODE", "1");
    for var in ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one strict JSON object ({e}):\n{stdout}\nstderr:\n{stderr}"));
    assert!(json.is_object(), "{stdout}");
    let code = out.status.code().expect("exit code");
    let passed = json["status"] == "passed";
    assert_eq!(code == 0, passed, "exit code {code} but status {}: {stdout}\n{stderr}", json["status"]);
    Bench { code, json, stdout, stderr }
}

fn bench(dir: &Path, args: &[&str]) -> Bench {
    bench_env(dir, args, &[])
}

fn assert_passed(b: &Bench) {
    assert_eq!(b.status(), "passed", "{}\n{}", b.stdout, b.stderr);
    assert!(b.score() > 0.0, "{}", b.stdout);
    assert!(b.json["errors"].as_array().unwrap().is_empty(), "{}", b.stdout);
    for case in b.json["cases"].as_array().unwrap() {
        assert_eq!(case["status"], "passed", "{case}");
        if let (Some(warmup), Some(timed)) = (case["warmup_calls"].as_u64(), case["timed_calls"].as_u64()) {
            assert_eq!(case["calls_verified"].as_u64().unwrap(), warmup + timed, "every call is verified: {case}");
        }
    }
}

/// Status failed, exit 1, no score, and the first error names `check` (which is also marked
/// failed in the report's `checks`).
fn assert_caught(b: &Bench, check: &str, what: &str) {
    assert_eq!(b.status(), "failed", "{what}: {}", b.stdout);
    assert_eq!(b.code, 1, "{what}");
    assert!(b.json["score"].is_null(), "{what}: a refused kernel has no score: {}", b.stdout);
    let prefix = if check == "gpu" { "no GPU:".to_owned() } else { format!("{check}:") };
    assert!(
        b.first_error().starts_with(&prefix),
        "{what}: expected an error from the {check}, got {:?}",
        b.json["errors"]
    );
    assert_eq!(b.json["checks"][check], "failed", "{what}: {}", b.json["checks"]);
}

fn with_kernel(task: &str, file: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = task_copy(task);
    std::fs::write(dir.join(file), source).unwrap();
    (tmp, dir)
}

/// The frozen driver with its clock patched to run 64x slow (every tick read divided by 64):
/// what a timer patch that got past every static check would report. Only the judge's
/// wall-clock cross-check can see it.
fn with_patched_timer(task: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = task_copy(task);
    let driver = dir.join("harness/driver.c");
    let text = std::fs::read_to_string(&driver).unwrap();
    assert!(text.matches("hg_ticks_now()").count() >= 4, "the driver's tick reads moved");
    std::fs::write(&driver, text.replace("hg_ticks_now()", "(hg_ticks_now() / 64)")).unwrap();
    (tmp, dir)
}

// ------------------------------------------------------------------------- c-flash-attention

#[test]
fn flash_attention_start_passes_and_a_better_kernel_wins_widely() {
    let (_t, start_dir) = task_copy("c-flash-attention");
    let start = bench(&start_dir, &["--json", "--mode", "dev"]);
    assert_passed(&start);
    assert_eq!(start.json["cases"].as_array().unwrap().len(), 3);
    assert!(start.json["cases"].as_array().unwrap().iter().any(|c| c["guard"] == true));
    let (_b, better_dir) = with_kernel("c-flash-attention", "kernel.c", &variant("flash/better.c"));
    let better = bench(&better_dir, &["--json", "--mode", "dev"]);
    assert_passed(&better);
    // about 5x here; timing noise is about +-20%: assert a 2x margin only
    assert!(better.score() * 2.0 < start.score(), "better {} vs start {}", better.score(), start.score());
    let final_ = bench(&start_dir, &["--json", "--mode", "final"]);
    assert_passed(&final_);
    let names: Vec<&str> =
        final_.json["cases"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| n.starts_with("final-")), "final cases are held out: {names:?}");
    assert!(start_dir.read_dir().unwrap().all(|e| {
        let name = e.unwrap().file_name();
        ["kernel.c", "attention.h", "benchmark.py", "task.md", "harness"].contains(&name.to_str().unwrap())
    }));
}

#[test]
fn flash_attention_cheats_are_refused_by_the_check_that_catches_them() {
    let cases: [(&str, &str, &str); 9] = [
        ("flash/ctor_timer.c", "source scan", "a constructor that would patch the timer"),
        ("flash/asm_splice.c", "source scan", "inline assembly hidden by a line splice"),
        ("flash/reference.c", "source scan", "including the judge's reference"),
        ("flash/interpose.c", "symbol check", "defining clock_gettime (interposition)"),
        ("flash/thread.c", "symbol check", "returning before a background thread finishes"),
        ("flash/ptr_cache.c", "verify", "caching outputs by input pointer"),
        ("flash/hash_cache.c", "verify", "caching outputs by a hash of sampled inputs"),
        ("flash/past_end.c", "canary check", "writing past the output"),
        ("flash/partial.c", "sentinel check", "returning with part of the output unwritten"),
    ];
    for (file, check, what) in cases {
        let (_t, dir) = with_kernel("c-flash-attention", "kernel.c", &variant(file));
        assert_caught(&bench(&dir, &["--json", "--mode", "dev"]), check, what);
    }
}

#[test]
fn flash_attention_patched_timer_fails_the_wall_clock_cross_check() {
    // final mode: its timed loops (about 0.3 s with the starting kernel) are well past the
    // cross-check's resolution (about 0.1 s for a clock this slow)
    let (_t, dir) = with_patched_timer("c-flash-attention");
    assert_caught(&bench(&dir, &["--json", "--mode", "final"]), "timing cross-check", "a patched timer");
}

#[test]
fn flash_attention_build_failure_crash_and_bad_usage_are_strict_json() {
    let (_t, dir) = with_kernel(
        "c-flash-attention",
        "kernel.c",
        "#include \"attention.h\"\nvoid attention_forward(void) { oops }\n",
    );
    let b = bench(&dir, &["--json", "--mode", "dev"]);
    assert_caught(&b, "build", "a kernel that does not compile");
    let crash = "#include \"attention.h\"\nvoid attention_forward(const float *q, const float *k, const float *v, \
                 float *out, int heads, int n_q, int n_kv, int d, float scale, int causal) {\n  __builtin_trap();\n}\n";
    let (_c, crash_dir) = with_kernel("c-flash-attention", "kernel.c", crash);
    let crashed = bench(&crash_dir, &["--json", "--mode", "dev"]);
    assert_caught(&crashed, "run", "a kernel that crashes the timing process");
    assert!(crashed.first_error().contains("signal"), "{}", crashed.first_error());
    let (_t2, dir2) = task_copy("c-flash-attention");
    let usage = bench(&dir2, &["--json", "--mode", "held-out"]);
    assert_eq!(usage.code, 2);
    assert!(usage.first_error().starts_with("usage:"), "{}", usage.stdout);
}

// ------------------------------------------------------------------------- cpp-stencil

#[test]
fn stencil_start_passes_a_better_kernel_wins_widely_and_assembly_reports_the_mix() {
    let (_t, start_dir) = task_copy("cpp-stencil");
    let asm_start = start_dir.parent().unwrap().join("start-mix.json");
    let start = bench(&start_dir, &["--json", "--mode", "dev", "--assembly", asm_start.to_str().unwrap()]);
    assert_passed(&start);
    let cases = start.json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    assert!(
        cases.iter().any(|c| c["guard"] == true && c["coeffs"] != cases[0]["coeffs"]),
        "a guard with other coefficients"
    );
    let (_b, better_dir) = with_kernel("cpp-stencil", "kernel.cpp", &variant("stencil/better.cpp"));
    let asm_better = better_dir.parent().unwrap().join("better-mix.json");
    let better = bench(&better_dir, &["--json", "--mode", "dev", "--assembly", asm_better.to_str().unwrap()]);
    assert_passed(&better);
    // tens of times faster here; assert a 3x margin only
    assert!(better.score() * 3.0 < start.score(), "better {} vs start {}", better.score(), start.score());

    // the instruction mix: in stdout and in the file, with the listing beside it
    let mix_start: Value = serde_json::from_str(&std::fs::read_to_string(&asm_start).unwrap()).unwrap();
    let mix_better: Value = serde_json::from_str(&std::fs::read_to_string(&asm_better).unwrap()).unwrap();
    assert_eq!(start.json["assembly"]["instructions"], mix_start["instructions"]);
    assert!(mix_start["instructions"].as_u64().unwrap() > 0);
    assert!(mix_start["functions"]["stencil_apply"].as_u64().unwrap() > 0, "{mix_start}");
    assert!(Path::new(mix_start["listing"].as_str().unwrap()).is_file());
    // the vectorised interior shows up as packed SIMD instructions; the start has (almost) none
    assert!(
        mix_better["packed"].as_u64().unwrap() > 4 * mix_start["packed"].as_u64().unwrap().max(1),
        "start {mix_start}\nbetter {mix_better}"
    );
    assert!(mix_better["calls"].as_u64().unwrap() < mix_start["calls"].as_u64().unwrap());

    let final_ = bench(&start_dir, &["--json", "--mode", "final"]);
    assert_passed(&final_);
    assert_eq!(final_.json["cases"].as_array().unwrap().iter().filter(|c| c["guard"] == true).count(), 2);

    // An incremental kernel (correct: it recomputes only the rows a near-duplicate changed) is
    // dozens of times faster on the near-duplicate calls, which are verified but not scored:
    // scored on fresh calls only, it is the starting kernel again.
    let (_i, inc_dir) = with_kernel("cpp-stencil", "kernel.cpp", &variant("stencil/incremental.cpp"));
    let inc = bench(&inc_dir, &["--json", "--mode", "dev"]);
    assert_passed(&inc);
    assert!(inc.score() * 2.0 > start.score(), "incremental {} vs start {}", inc.score(), start.score());
    for case in inc.json["cases"].as_array().unwrap() {
        let fastest_any = case["cycles"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).min().unwrap();
        assert!(fastest_any * 10 < case["best_cycles"].as_u64().unwrap(), "the exploit would have paid: {case}");
        assert!(case["scored_calls"].as_array().unwrap().iter().all(|i| i.as_u64().unwrap() % 2 == 0), "{case}");
    }
}

#[test]
fn stencil_cheats_are_refused_by_the_check_that_catches_them() {
    let cases: [(&str, &str, &str); 10] = [
        ("stencil/static_init.cpp", "object check", "a static initialiser that runs at load time"),
        ("stencil/dlsym.cpp", "source scan", "looking symbols up with dlsym"),
        ("stencil/interpose.cpp", "symbol check", "defining clock_gettime (interposition)"),
        ("stencil/thread.cpp", "symbol check", "returning before a background thread finishes"),
        ("stencil/ptr_cache.cpp", "verify", "caching outputs by input pointer"),
        ("stencil/hash_cache.cpp", "verify", "caching outputs by a hash of sampled inputs"),
        ("stencil/gap_write.cpp", "canary check", "writing the gap between cols and ld_out"),
        ("stencil/past_end.cpp", "canary check", "writing past the output"),
        ("stencil/partial.cpp", "sentinel check", "skipping the last row"),
        ("flash/reference.c", "source scan", "including the judge's reference"),
    ];
    for (file, check, what) in cases {
        let source = if file.starts_with("flash/") {
            "#include \"harness/judge.c\"\n#include \"stencil.h\"\n".to_owned()
        } else {
            variant(file)
        };
        let (_t, dir) = with_kernel("cpp-stencil", "kernel.cpp", &source);
        assert_caught(&bench(&dir, &["--json", "--mode", "dev"]), check, what);
    }
}

#[test]
fn stencil_ld_preload_and_a_patched_timer_are_refused() {
    let (_t, dir) = task_copy("cpp-stencil");
    let preload = bench_env(&dir, &["--json", "--mode", "dev"], &[("LD_PRELOAD", "/nonexistent/libfaketime.so")]);
    assert_caught(&preload, "environment check", "LD_PRELOAD");
    let (_t2, dir2) = with_patched_timer("cpp-stencil");
    assert_caught(&bench(&dir2, &["--json", "--mode", "dev"]), "timing cross-check", "a patched timer");
}

// ------------------------------------------------------------------------- triton-rmsnorm

const TRITON_KEYS: [&str; 14] = [
    "atol",
    "best_us",
    "cases",
    "checks",
    "config",
    "device",
    "elapsed_seconds",
    "errors",
    "mode",
    "objective",
    "rtol",
    "score",
    "status",
    "task",
];

fn python_has(module: &str) -> bool {
    Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn triton_without_a_gpu_fails_fast_with_a_clear_message_and_strict_json() {
    if python_has("torch") {
        eprintln!("NOT RUN: triton_without_a_gpu_fails_fast: torch is installed here");
        return;
    }
    let (_t, dir) = task_copy("triton-rmsnorm");
    for mode in ["dev", "final"] {
        let started = Instant::now();
        let b = bench(&dir, &["--json", "--mode", mode]);
        assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
        assert_caught(&b, "gpu", "no GPU");
        assert!(b.first_error().starts_with("no GPU: PyTorch is not importable here"), "{}", b.first_error());
        assert!(b.first_error().contains("--post-attempt-remote"), "the message says what to do: {}", b.first_error());
        for key in TRITON_KEYS {
            assert!(b.json.get(key).is_some(), "missing {key}: {}", b.stdout);
        }
        assert_eq!(b.json["mode"], mode);
        assert_eq!(b.json["objective"], "best_us");
        assert!(b.json["best_us"].is_null());
        // what can be checked without a GPU was checked, and passed, before the probe
        assert_eq!(b.json["checks"]["config check"], "passed");
        assert_eq!(b.json["checks"]["source scan"], "passed");
        assert_eq!(b.json["config"]["num_warps"], 4);
    }
}

#[test]
fn triton_config_is_validated_before_the_gpu_is_needed() {
    let bad: [(&str, &str); 7] = [
        (r#"{"block_size": 256, "num_stages": 1, "num_warps": 3, "rows_per_program": 1}"#, "num_warps"),
        (r#"{"block_size": 100, "num_stages": 1, "num_warps": 4, "rows_per_program": 1}"#, "block_size"),
        (r#"{"block_size": 256, "num_stages": 0, "num_warps": 4, "rows_per_program": 1}"#, "num_stages"),
        (r#"{"block_size": 256, "num_stages": 1, "num_warps": 4, "rows_per_program": 65}"#, "rows_per_program"),
        (r#"{"block_size": 256, "num_stages": 1, "num_warps": 4, "rows_per_program": 1, "turbo": 1}"#, "unknown key"),
        (r#"{"block_size": 256, "num_stages": 1, "num_warps": 4}"#, "missing key"),
        (r#"{"block_size": NaN, "num_stages": 1, "num_warps": 4, "rows_per_program": 1}"#, "NaN"),
    ];
    for (config, words) in bad {
        let (_t, dir) = with_kernel("triton-rmsnorm", "kernel_config.json", config);
        let b = bench(&dir, &["--json", "--mode", "dev"]);
        assert_caught(&b, "config check", config);
        assert!(b.first_error().contains(words), "{config}: {}", b.first_error());
        assert_eq!(b.json["checks"]["gpu"], "not run", "the config is refused before the GPU probe");
    }
    let (_t, dir) = with_kernel(
        "triton-rmsnorm",
        "kernel_config.json",
        r#"{"block_size": 0, "num_stages": 2, "num_warps": 8, "rows_per_program": 4}"#,
    );
    let b = bench(&dir, &["--json", "--mode", "dev"]);
    assert_eq!(b.json["checks"]["config check"], "passed", "{}", b.stdout);
}

#[test]
fn triton_kernel_that_reaches_for_the_judge_or_the_timer_is_refused() {
    let start = std::fs::read_to_string(repo_root().join("benches-tasks/triton-rmsnorm/kernel.py")).unwrap();
    let cheats: [(&str, &str); 5] = [
        ("import benchmark\n", "import of benchmark"),
        ("from numpy import tanh\n", "import of numpy"),
        ("import torch\ntorch.cuda.Event.elapsed_time = lambda a, b: 0.001\n", "(timers)"),
        ("import torch\nside = torch.cuda.Stream()\n", "streams"),
        ("import torch\nsetattr(torch, 'cuda', None)\n", "monkey-patching"),
    ];
    for (prefix, words) in cheats {
        let (_t, dir) = with_kernel("triton-rmsnorm", "kernel.py", &format!("{prefix}{start}"));
        let b = bench(&dir, &["--json", "--mode", "dev"]);
        assert_caught(&b, "source scan", prefix);
        assert!(b.first_error().contains(words), "{prefix}: {}", b.first_error());
    }
}

/// y = x / sqrt(mean(x^2) + eps) * (1 + w) * gelu_tanh(g), written out here independently.
fn rmsnorm_gelu(x: &[f64], g: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps).sqrt();
    let c = (2.0 / std::f64::consts::PI).sqrt();
    x.iter()
        .zip(g)
        .zip(w)
        .map(|((x, g), w)| x * inv * (1.0 + w) * 0.5 * g * (1.0 + (c * (g + 0.044715 * g * g * g)).tanh()))
        .collect()
}

#[test]
fn triton_reference_math_matches_an_independent_implementation() {
    if !python_has("numpy") {
        assert!(std::env::var("CI").is_err(), "NumPy is missing under CI=true (.ci/run installs it)");
        eprintln!("NOT RUN: triton_reference_math: NumPy is not installed");
        return;
    }
    let x = [[0.5, -1.25, 2.0, 0.0, 3.5], [1e-3, -2e-3, 4e-3, 0.0, 1e-3]];
    let g = [[1.0, -0.5, 3.0, 2.0, -4.0], [0.25, 0.0, -1.0, 6.0, 1.5]];
    let w = [0.1, -0.2, 0.0, 0.45, -0.5];
    let eps = 1e-5;
    let script = format!(
        "import json, benchmark\nprint(json.dumps(benchmark.reference({x:?}, {g:?}, {w:?}, {eps:?}).tolist()))"
    );
    let dir = repo_root().join("benches-tasks/triton-rmsnorm");
    let out = Command::new("python3").args(["-B", "-c", &script]).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<Vec<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    for row in 0..2 {
        let want = rmsnorm_gelu(&x[row], &g[row], &w, eps);
        for (a, b) in got[row].iter().zip(&want) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "row {row}: {a} vs {b}");
        }
    }
    // the eps matters on the tiny row (the guard cases use small and large x)
    let without_eps = rmsnorm_gelu(&x[1], &g[1], &w, 0.0);
    assert!((got[1][0] - without_eps[0]).abs() > 1e-3, "{:?} vs {:?}", got[1], without_eps);
}

#[test]
fn triton_post_command_over_ssh_returns_the_no_gpu_failure() {
    let Some(sshd) = TestSshd::start_or_skip("triton_post_command_over_ssh_returns_the_no_gpu_failure") else {
        return;
    };
    let (tmp, ws) = task_copy("triton-rmsnorm");
    let remote_root = tmp.path().join("gpu-host/ws");
    let mut cmd = Command::new(harnessgym_test_support::cli_bin().as_std_path());
    cmd.current_dir(tmp.path())
        .args(["run", "--runner", "fake", "--workspace", ws.to_str().unwrap(), "--task", "task.md"])
        .args(["--iterations", "1", "--no-qualify-artifacts"])
        .args(["--post-attempt-command", "python3 benchmark.py --json --mode final"])
        .args(["--post-attempt-score-key", "best_us", "--post-attempt-timeout", "60s"])
        .args(["--post-attempt-remote", &format!("{}@127.0.0.1", sshd.user)])
        .args(["--remote-port", &sshd.port.to_string(), "--remote-root", remote_root.to_str().unwrap()]);
    for arg in sshd.ssh_args() {
        cmd.arg(format!("--remote-ssh-arg={arg}"));
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}\nsshd: {}", sshd.log());
    let runs = ws.join(".harnessgym/runs");
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("iterations/1/result.json")).unwrap()).unwrap();
    let post = &result["post_attempt"];
    assert_eq!(post["remote"]["dir"], remote_root.to_str().unwrap(), "{post}");
    assert!(remote_root.join("benchmark.py").is_file(), "the task was synced to the remote root");
    assert_eq!(post["status"], "failed", "exit 1 on the remote host: {post}");
    assert_eq!(post["return_code"], 1, "{post}");
    let report = &post["json"];
    assert_eq!(report["status"], "failed", "{post}");
    assert_eq!(report["mode"], "final");
    assert!(report["score"].is_null() && post["score"].is_null(), "{post}");
    let error = report["errors"][0].as_str().unwrap();
    assert!(error.starts_with("no GPU:"), "{error}");
    assert_eq!(report["checks"]["config check"], "passed");
}

/// The judge's GPU path (fresh input per call, sentinel, verification, timing, the JSON) run
/// against a NumPy stand-in for torch (`tasks_part2/triton_mock/`) and kernels written for it:
/// a correct one passes, a stale cache and a half-done output are refused. This checks the
/// judge's own code without a GPU; it says nothing about Triton kernels.
#[test]
fn triton_judge_gpu_path_against_a_numpy_stand_in_for_torch() {
    if !python_has("numpy") {
        assert!(std::env::var("CI").is_err(), "NumPy is missing under CI=true (.ci/run installs it)");
        eprintln!("NOT RUN: triton_judge_gpu_path: NumPy is not installed");
        return;
    }
    let mock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/tasks_part2/triton_mock");
    let pythonpath = mock.to_str().unwrap();
    let args = ["--json", "--mode", "dev", "--warmup", "1", "--repeats", "2"];
    let (_t, dir) = with_kernel("triton-rmsnorm", "kernel.py", &variant("triton_mock_kernel.py"));
    let b = bench_env(&dir, &args, &[("PYTHONPATH", pythonpath)]);
    assert_passed(&b);
    assert_eq!(b.json["device"], "mock GPU (NumPy)");
    let cases = b.json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    let sum: f64 = cases.iter().map(|c| c["best_us"].as_f64().unwrap()).sum();
    assert!((sum - b.json["best_us"].as_f64().unwrap()).abs() < 0.01 * cases.len() as f64, "best_us is the sum");
    for c in cases {
        assert_eq!(c["calls_verified"], 3, "{c}");
    }
    assert!(b.json["checks"].as_object().unwrap().values().all(|v| v == "passed"), "{}", b.json["checks"]);

    for (file, check, what) in [
        ("triton_mock_stale.py", "verify", "returning the first answer again (every call has a fresh input)"),
        ("triton_mock_half.py", "sentinel check", "writing half the rows"),
    ] {
        let (_t, dir) = with_kernel("triton-rmsnorm", "kernel.py", &variant(file));
        assert_caught(&bench_env(&dir, &args, &[("PYTHONPATH", pythonpath)]), check, what);
    }
}
