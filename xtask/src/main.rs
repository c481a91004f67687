//! Project automation: `cargo xtask bench overhead`, `cargo xtask bench mcp`.

mod mcp_bench;
mod test_cmd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask test [cargo test args] | cargo xtask bench overhead [--keep] [--make-workspace PATH/make_workspace.py]
       cargo xtask bench mcp [--mcpbench DIR] [--rounds N] [--calls N] [--payload BYTES] [--startup-rounds N]
       cargo xtask relay --framing nd|cl -- CMD... (the bench's minimal relay)";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test_cmd::run(&args[1..]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("overhead") => bench_overhead(&args[2..]),
            Some("mcp") => mcp_bench::bench_mcp(&repo_root(), &args[2..]),
            _ => bail!("{USAGE}"),
        },
        Some("relay") => mcp_bench::relay(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The interpreter `python3` on PATH runs (`sys.executable`), so benchmarks can run it directly
/// instead of through launcher shims (pyenv's cost ~0.3 s per start here).
pub(crate) fn python_executable() -> anyhow::Result<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("running python3 to find its interpreter")?;
    let path = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    if !path.is_file() {
        bail!("python3 reported {} as its interpreter, which is not a file", path.display());
    }
    Ok(path)
}

fn du_bytes(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("du").arg("-sb").arg(path).output().context("running du")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().and_then(|n| n.parse().ok()).context("parsing du output")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs `program args…` under `/usr/bin/time` and returns (seconds, peak RSS in KiB): the
/// largest resident set of the process and the children it waited for.
fn timed_with_rss(cwd: &Path, program: &Path, args: &[&str], scratch: &Path) -> anyhow::Result<(f64, u64)> {
    let rss_file = scratch.join("rss.txt");
    let start = Instant::now();
    run(Command::new("/usr/bin/time")
        .current_dir(cwd)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(program)
        .args(args))?;
    let secs = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&rss_file)?;
    let kib = text.lines().last().and_then(|l| l.trim().parse().ok()).context("parsing /usr/bin/time output")?;
    Ok((secs, kib))
}

/// The spine's overhead on a 483 MB / 20k-file workspace: 3 fake iterations with task-state
/// reset, optimisation mode, a post command and a checkpoint, next to one `cp -a`.
///
/// Two runs on two identical workspaces: the post command exactly as the issue gives it
/// (`python3 score.py`, found on PATH — on a machine with pyenv that is a chain of bash shims
/// costing ~0.3 s per call) and with `python3` resolved to the interpreter it runs (the same
/// interpreter and script, without the shims), so the figure shows what harnessgym itself costs.
fn bench_overhead(args: &[String]) -> anyhow::Result<()> {
    let root = repo_root();
    let keep = args.iter().any(|a| a == "--keep");
    let maker = args
        .iter()
        .position(|a| a == "--make-workspace")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/tools/bigws/make_workspace.py"));
    if !maker.exists() {
        bail!("{} not found; pass --make-workspace PATH/make_workspace.py", maker.display());
    }
    run(Command::new("cargo").current_dir(&root).args(["build", "--release", "-p", "harnessgym-cli"]))?;
    let binary = root.join("target/release/harnessgym");
    let bench_dir = root.join("target/bench/overhead");
    if bench_dir.exists() {
        std::fs::remove_dir_all(&bench_dir)?;
        // ext4 (without a journal, as here) skips inodes freed in the last seconds when it
        // allocates: right after a mass delete, creating files is several times slower, for
        // cp and harnessgym alike. Let that pass before anything is timed.
        std::thread::sleep(std::time::Duration::from_secs(11));
    }
    std::fs::create_dir_all(&bench_dir)?;
    let ws = bench_dir.join("ws");
    let ws_resolved = bench_dir.join("ws-resolved");
    eprintln!("generating the workspaces in {} …", bench_dir.display());
    run(Command::new("python3").arg(&maker).arg(&ws))?;
    run(Command::new("cp").arg("-a").arg(&ws).arg(&ws_resolved))?;
    let ws_bytes = du_bytes(&ws)?;
    let python = python_executable()?.display().to_string();

    let mut rows = Vec::new();
    for (label, workspace, post) in [
        ("`python3 score.py` (PATH)", &ws, "python3 score.py".to_owned()),
        ("`python3` resolved", &ws_resolved, format!("{python} score.py")),
    ] {
        // The operation the loop's copies are compared with: one `cp -a` of the same workspace,
        // timed right before each run so both meet the same disk (this disk's speed drifts by
        // several times within minutes). Copies are removed only after the runs (see above).
        run(&mut Command::new("sync"))?;
        let copy = bench_dir.join(format!("cp-copy-{}", rows.len()));
        let start = Instant::now();
        run(Command::new("cp").arg("-a").arg(workspace).arg(&copy))?;
        let cp_secs = start.elapsed().as_secs_f64();
        run(&mut Command::new("sync"))?;
        let ws_str = workspace.to_str().context("non-UTF-8 path")?;
        let args = [
            "run",
            "--task",
            "task.md",
            "--workspace",
            ws_str,
            "--iterations",
            "3",
            "--runner",
            "fake",
            "--attempt-timeout",
            "60s",
            "--build-timeout",
            "60s",
            "--task-state",
            "reset",
            "--optimization-mode",
            "--score-key",
            "best_cycles",
            "--stop-score",
            "1",
            "--post-attempt-command",
            &post,
            "--post-attempt-score-key",
            "best_cycles",
            "--run-id",
            "bench",
        ];
        let (run_secs, rss_kib) = timed_with_rss(workspace, &binary, &args, &bench_dir)?;
        run(&mut Command::new("sync"))?;
        let harness = workspace.join(".harnessgym");
        let harness_bytes = du_bytes(&harness)?;
        let summary_bytes = std::fs::metadata(harness.join("runs/bench/summary.json"))?.len();
        rows.push((label, cp_secs, run_secs, rss_kib, harness_bytes, summary_bytes));
    }
    for i in 0..rows.len() {
        std::fs::remove_dir_all(bench_dir.join(format!("cp-copy-{i}")))?;
    }

    println!("workspace (`du -sb`): {}; interpreter: {python}", mib(ws_bytes));
    println!();
    println!(
        "| post command | one `cp -a` | `harnessgym run` | × `cp -a` | peak RSS | `.harnessgym` (`du -sb`) | × workspace \
         | summary.json |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, cp_secs, run_secs, rss_kib, harness_bytes, summary_bytes) in rows {
        println!(
            "| {label} | {cp_secs:.2} s | {run_secs:.2} s | {:.2}× | {:.1} MiB | {} | {:.2}× | {summary_bytes} B |",
            run_secs / cp_secs,
            rss_kib as f64 / 1024.0,
            mib(harness_bytes),
            harness_bytes as f64 / ws_bytes as f64,
        );
    }
    if !keep {
        std::fs::remove_dir_all(&bench_dir)?;
    }
    Ok(())
}
