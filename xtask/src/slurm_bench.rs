//! `cargo xtask bench compare --executor slurm`: Slurm's scheduling overhead per trial over the
//! local executor. A throwaway single-node cluster (munged, slurmctld, slurmd on 127.0.0.1,
//! `batch_sched_delay=0`, 8 CPUs declared; `harnessgym_test_support::slurm`) runs the same
//! sleep-agent compare as the local executor, at the same `--jobs`, in the same run.
//! Overhead per trial = (wall through Slurm − wall local) × jobs / trials (goal ≤ 1.5 s).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use harnessgym_test_support::slurm::TestSlurm;

use crate::compare_bench::{SCORE, bundle, write};

pub fn bench(hg: &Path, dir: &Path, trials_per_arm: u32, jobs: u32) -> anyhow::Result<()> {
    let cluster = TestSlurm::start(8).map_err(|e| anyhow::anyhow!("cannot start a Slurm cluster: {e}"))?;
    let template = dir.join("template");
    write(&template.join("score.py"), SCORE)?;
    bundle(&dir.join("bundle"))?;
    let agent = "cat > /dev/null; sleep 2; echo 10 > answer.txt";
    let profile = dir.join("agent.toml");
    write(
        &profile,
        &format!("program = \"sh\"\nfresh = [\"-c\", {agent:?}]\nresume = [\"-c\", {agent:?}, \"{{session_id}}\"]\n"),
    )?;
    let trials = trials_per_arm * 2;
    let compare = |out: &str, executor: &str| -> anyhow::Result<f64> {
        let start = Instant::now();
        let output = Command::new(hg)
            .current_dir(dir)
            .envs(cluster.env())
            .args(["compare", "--task-text", "Write the smallest number you can into answer.txt."])
            .arg("--workspace-template")
            .arg(&template)
            .arg("--output-dir")
            .arg(dir.join(out))
            .args(["--artifact-source", "bundle", "--runner", "command", "--runner-profile"])
            .arg(&profile)
            .args(["--post-command", "python3 score.py", "--seed", "1", "--executor", executor])
            .args(["--trials", &trials_per_arm.to_string(), "--jobs", &jobs.to_string()])
            .output()
            .context("running harnessgym compare")?;
        let wall = start.elapsed().as_secs_f64();
        if !output.status.success() {
            bail!("compare --executor {executor} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(wall)
    };
    let local = compare("out-local", "local")?;
    let slurm = compare("out-slurm", "slurm")?;
    let per_trial = (slurm - local) * f64::from(jobs) / f64::from(trials);
    println!("## Slurm executor vs local ({trials} trials, agent sleeps 2 s, --jobs {jobs}, single node)\n");
    println!("| executor | wall (s) |\n|---|---|\n| local | {local:.2} |\n| slurm | {slurm:.2} |\n");
    println!("scheduling overhead per trial: {per_trial:.2} s (goal ≤ 1.5 s)\n");
    Ok(())
}
