//! `cargo xtask bench registry`: load, `sync_from_files` and save of big registries, each size
//! measured in a fresh child process (wall times and its peak RSS, `VmHWM`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_artifacts::prompts::{ActivationView, AgentFlavor, AttemptPromptInput, attempt_prompt};
use harnessgym_artifacts::registry as reg;

/// Kinds whose every file is registered (so each entry has its file on disk, as after a run).
const KINDS: [(&str, &str); 6] = [
    ("tool", "tools"),
    ("docs", "docs"),
    ("script", "scripts"),
    ("test", "tests"),
    ("fixture", "fixtures"),
    ("verifier", "verifiers"),
];
/// Files written beside the registered ones, not yet registered: what `sync_from_files` adds.
const NEW_FILES: usize = 100;

/// `bench registry [--sizes 20000,200000] [--dir DIR] [--keep]`.
pub fn bench_registry(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<usize> = value("--sizes")
        .unwrap_or_else(|| "20000,200000".into())
        .split(',')
        .map(|s| s.trim().parse().with_context(|| format!("--sizes: {s:?} is not a number")))
        .collect::<anyhow::Result<_>>()?;
    let dir = value("--dir").map_or_else(|| root.join("target/bench/registry"), Into::into);
    let dir = Utf8PathBuf::from_path_buf(dir).map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))?;
    let exe = std::env::current_exe()?;
    println!("| entries | registry.json | load | sync_from_files (+save) | save | attempt prompt | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        let ws = dir.join(format!("ws-{n}"));
        if ws.exists() {
            std::fs::remove_dir_all(&ws)?;
        }
        eprintln!("generating {n} entries in {ws} …");
        generate(&ws, n)?;
        let out = Command::new(&exe).args(["bench", "registry-child", ws.as_str()]).output()?;
        if !out.status.success() {
            bail!("child for {n} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim())?;
        let mb = |k: &str| v[k].as_f64().unwrap_or(0.0) / 1e6;
        let s = |k: &str| v[k].as_f64().unwrap_or(0.0);
        println!(
            "| {n} | {:.1} MB | {:.2} s | {:.2} s | {:.2} s | {:.2} MB | {:.0} MB |",
            mb("file_bytes"),
            s("load_s"),
            s("sync_s"),
            s("save_s"),
            mb("prompt_bytes"),
            v["vm_hwm_kb"].as_f64().unwrap_or(0.0) / 1024.0
        );
        if !args.iter().any(|a| a == "--keep") {
            std::fs::remove_dir_all(&ws)?;
        }
    }
    Ok(())
}

/// A workspace whose registry holds `n` entries (files on disk) plus [`NEW_FILES`] unregistered files.
fn generate(ws: &Utf8Path, n: usize) -> anyhow::Result<()> {
    let mut artifacts = Vec::with_capacity(n);
    for i in 0..n + NEW_FILES {
        let (kind, dir) = KINDS[i % KINDS.len()];
        let folder = reg::harness_dir(ws).join(dir).join(format!("g{:04}", i / 1000));
        if i % 1000 < KINDS.len() {
            std::fs::create_dir_all(&folder)?;
        }
        let rel = format!(".harnessgym/{dir}/g{:04}/a{i:07}.txt", i / 1000);
        std::fs::write(ws.join(&rel), format!("artifact {i}\n"))?;
        if i < n {
            artifacts.push(serde_json::json!({
                "id": format!("{kind}:{rel}"),
                "kind": kind,
                "path": rel,
                "description": format!("Generated {kind} number {i} for the registry benchmark"),
                "iteration": (i / 100) as i64,
                "created_at": "2026-12-06T09:00:00Z",
                "metadata": {"source": "bench"},
            }));
        }
    }
    let doc =
        serde_json::json!({"version": 1, "updated_at": "2026-12-06T09:00:00Z", "artifacts": artifacts, "metadata": {}});
    std::fs::write(reg::registry_path(ws), serde_json::to_vec_pretty(&doc)?)?;
    Ok(())
}

/// The child: load, sync (which saves), save, the attempt prompt; prints one JSON line.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let ws = Utf8PathBuf::from(args.first().context("bench registry-child WORKSPACE")?);
    let file_bytes = std::fs::metadata(reg::registry_path(&ws))?.len();
    let t = Instant::now();
    let mut loaded = reg::load(&ws)?;
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let added = reg::sync_from_files(&ws, &mut loaded.registry, Some(1))?;
    let sync_s = t.elapsed().as_secs_f64();
    if added.len() != NEW_FILES {
        bail!("sync added {} entries, expected {NEW_FILES}", added.len());
    }
    let t = Instant::now();
    reg::save(&ws, &mut loaded.registry)?;
    let save_s = t.elapsed().as_secs_f64();
    let listings = reg::listings(&ws, &loaded.registry);
    let result_path = ws.join(".harnessgym/runs/bench/result.json");
    let prompt = attempt_prompt(&AttemptPromptInput {
        agent: AgentFlavor::Codex,
        iteration: 2,
        workspace: &ws,
        task_origin: None,
        task_text: "Benchmark task.",
        artifacts: &listings,
        quarantined_count: 0,
        activation: &ActivationView::Missing,
        stop_target: None,
        result_path: &result_path,
    });
    let status = std::fs::read_to_string("/proc/self/status")?;
    let vm_hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({"file_bytes": file_bytes, "load_s": load_s, "sync_s": sync_s, "save_s": save_s,
            "prompt_bytes": prompt.len(), "vm_hwm_kb": vm_hwm_kb})
    );
    Ok(())
}
