//! `--executor slurm`: a compare's trials as one Slurm job array per submission.
//!
//! Each array task runs `harnessgym trial run --spec <spec of index $SLURM_ARRAY_TASK_ID>` (a
//! wrapper script reads the spec's path from the submission's list file) on a filesystem the
//! nodes share with this machine; `--jobs` is the array's throttle (`%N`). The trial's own
//! `trial.json` is the record of the trial; this executor polls Slurm (`squeue -r -t all`, and
//! `scontrol show job -o` for exit codes; no accounting daemon needed) only to learn that a task
//! ended without one, and records such a trial as invalid with the Slurm state as its reason.
//!
//! Everything it keeps lives in `<out>/.harnessgym-compare/slurm/`: `submissions.json` (every
//! array submitted, with its trials, so `--resume` finds tasks still pending or running), the
//! list files, the wrapper `task.sh`, the tasks' logs, and the stop file `STOP` that queued tasks
//! check before starting their trial (written on Ctrl-C and when the spend cap is reached).
//!
//! Secrets in `--remote-ssh-arg` are refused here: Slurm keeps a job's environment in its
//! controller's state directory (on disk), so they cannot reach the tasks without being written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::CommandSpec;
use harnessgym_types::compare::TrialRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::executor::{Executor, QueuedTrial, TrialExit, TrialQueue};
use super::{CompareConfig, CompareError, STATE_DIR, find_program, trial};

/// The executor's directory inside the compare's state directory.
pub const SLURM_DIR: &str = "slurm";
/// Its record of the arrays submitted.
pub const SUBMISSIONS_FILE: &str = "submissions.json";
/// The stop file: a task that finds it does not start its trial (it is reported as not run).
pub const STOP_FILE: &str = "STOP";
/// The marker a task leaves in its trial directory when the stop file kept it from running.
pub const NOT_RUN_MARKER: &str = "slurm-not-run";
/// The exit code of a task whose trial spec cannot be read on its node.
pub const SPEC_UNREADABLE_EXIT: i32 = 3;

/// Slurm's terminal job states (`squeue -t all` lists them while the job is in memory).
const TERMINAL: &[&str] = &[
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
    "REVOKED",
];

/// One `sbatch` of this compare: an array whose task `i` runs the trial of `specs[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id (`sbatch --parsable`, cluster name stripped).
    pub array_job_id: String,
    /// Task `i`'s trial spec.
    pub specs: Vec<Utf8PathBuf>,
    /// When it was submitted.
    pub submitted_at: String,
    /// The compare cancelled it (Ctrl-C / SIGTERM): its tasks that left no trial.json run again
    /// on `--resume`.
    #[serde(default)]
    pub cancelled_by_compare: bool,
}

/// `submissions.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions {
    /// Every array submitted for this compare, oldest first.
    pub submissions: Vec<Submission>,
}

/// What Slurm says about one array task.
#[derive(Clone, Debug, PartialEq)]
struct TaskState {
    state: String,
    reason: String,
}

impl TaskState {
    fn terminal(&self) -> bool {
        TERMINAL.contains(&self.state.as_str())
    }
}

/// A trial handed to Slurm and followed until its task ends.
struct Tracked {
    trial: QueuedTrial,
    array_job_id: String,
    task: usize,
    state: Option<TaskState>,
    /// When the task was first seen terminal without a trial.json (the record may still be on
    /// its way through a network filesystem's caches).
    terminal_since: Option<Instant>,
    /// Polls in a row in which Slurm did not know the task.
    missing: u32,
    done: bool,
}

/// The settings of `--executor slurm`.
#[derive(Clone, Debug)]
pub struct SlurmExecutor {
    /// The `harnessgym` binary the tasks run (its path must be valid on the nodes).
    pub harnessgym_bin: Utf8PathBuf,
    /// The compare's output directory (shared with the nodes).
    pub output_dir: Utf8PathBuf,
    /// The array throttle (`--jobs`).
    pub jobs: u32,
    /// `--slurm-partition`.
    pub partition: Option<String>,
    /// The tasks' time limit, in sbatch's form.
    pub time: String,
    /// `--slurm-cpus-per-task`.
    pub cpus_per_task: u32,
    /// `--slurm-gres`.
    pub gres: Option<String>,
    /// `--slurm-extra-arg` values.
    pub extra_args: Vec<String>,
    /// Submit and return without waiting (`--detach`).
    pub detach: bool,
    /// How often Slurm is polled.
    pub poll: Duration,
    /// How long a task may be terminal without a visible trial.json before it is recorded as
    /// invalid (the file may lag on a network filesystem); COMPLETED tasks get
    /// [`Self::completed_grace`].
    pub grace: Duration,
    /// The same for tasks Slurm reports COMPLETED (the trial exits 0 only after writing its
    /// record, so a missing one is most likely still in flight).
    pub completed_grace: Duration,
    status: std::sync::Arc<Mutex<Status>>,
}

/// What happened, for the report.
#[derive(Clone, Debug, Default)]
struct Status {
    arrays: Vec<String>,
    tasks: BTreeMap<Utf8PathBuf, Value>,
    detached: bool,
}

/// The time limit derived from a trial's budget: every attempt's timeout, the post command's
/// timeout per scoring, plus a quarter (at least 10 minutes) for set-up, activation and slack;
/// whole minutes.
pub fn default_time_minutes(config: &CompareConfig) -> u64 {
    let r = &config.request;
    let attempts: u64 = (0..config.iterations as usize)
        .map(|i| match &r.attempt_timeouts {
            Some(schedule) if !schedule.0.is_empty() => {
                schedule.0.get(i).or_else(|| schedule.0.last()).copied().unwrap_or(r.attempt_timeout.seconds())
            }
            _ => r.attempt_timeout.seconds(),
        })
        .sum();
    let scorings = match (&r.post_command, r.post_every_iteration) {
        (None, _) => 0,
        (Some(_), true) => u64::from(config.iterations),
        (Some(_), false) => 1,
    };
    let total = attempts + scorings * r.post_timeout.seconds();
    let margin = (total / 4).max(600);
    (total + margin).div_ceil(60)
}

impl SlurmExecutor {
    /// The executor of `config`'s trials, running `harnessgym_bin` on the nodes.
    pub fn new(config: &CompareConfig, harnessgym_bin: Utf8PathBuf, detach: bool) -> Self {
        let r = &config.request;
        Self {
            harnessgym_bin,
            output_dir: config.output_dir.clone(),
            jobs: r.jobs.max(1),
            partition: r.slurm_partition.clone(),
            time: r.slurm_time.clone().unwrap_or_else(|| default_time_minutes(config).to_string()),
            cpus_per_task: r.slurm_cpus_per_task.max(1),
            gres: r.slurm_gres.clone(),
            extra_args: r.slurm_extra_args.clone(),
            detach,
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(3),
            completed_grace: Duration::from_secs(30),
            status: Default::default(),
        }
    }

    /// `<out>/.harnessgym-compare/slurm`.
    pub fn dir(&self) -> Utf8PathBuf {
        slurm_dir(&self.output_dir)
    }

    /// The array job ids submitted by this run (what `--detach` prints).
    pub fn submitted(&self) -> Vec<String> {
        self.status.lock().map(|s| s.arrays.clone()).unwrap_or_default()
    }

    fn set_task(&self, t: &Tracked, note: Option<&str>) {
        let value = json!({
            "arm": t.trial.spec.arm,
            "trial": t.trial.spec.trial,
            "array_job_id": t.array_job_id,
            "array_task_id": t.task,
            "state": t.state.as_ref().map(|s| s.state.clone()),
            "reason": t.state.as_ref().map(|s| s.reason.clone()),
            "note": note,
        });
        if let Ok(mut status) = self.status.lock() {
            status.tasks.insert(t.trial.spec_path.clone(), value);
        }
    }

    /// Runs one of Slurm's client commands; its stdout, or what went wrong.
    async fn slurm(&self, program: &str, args: &[String]) -> Result<String, String> {
        let dir = self.dir().join("cmd");
        let (out, err) = (dir.join(format!("{program}.stdout")), dir.join(format!("{program}.stderr")));
        let spec = CommandSpec::new(program, self.dir(), out.clone(), err.clone())
            .args(args.iter().cloned())
            .timeout(Duration::from_secs(60));
        let outcome = harnessgym_proc::run(spec).await.map_err(|e| format!("{program}: {e}"))?;
        let (stdout, _) = harnessgym_proc::read_capped_lossy(&out, 16 * 1024 * 1024).await.unwrap_or_default();
        if outcome.success() {
            return Ok(stdout);
        }
        let (stderr, _) = harnessgym_proc::read_capped_lossy(&err, 64 * 1024).await.unwrap_or_default();
        let code = outcome.return_code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        Err(format!("{program} {} failed (exit code {code}): {}", args.join(" "), stderr.trim()))
    }

    /// Every task of `array`: task id → state. `None` when Slurm no longer knows the job.
    async fn states(&self, array: &str) -> Result<Option<HashMap<usize, TaskState>>, String> {
        let args: Vec<String> =
            ["-h", "-r", "-t", "all", "-j", array, "-o", "%F|%K|%T|%r"].iter().map(|s| (*s).to_owned()).collect();
        match self.slurm("squeue", &args).await {
            Ok(text) => Ok(Some(parse_squeue(&text, array))),
            Err(e) if e.contains("Invalid job id") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `ExitCode=code:signal` of one task (`scontrol show job -o`), when Slurm still knows it.
    async fn exit_code(&self, array: &str, task: usize) -> Option<String> {
        let args = vec!["show".to_owned(), "job".to_owned(), "-o".to_owned(), format!("{array}_{task}")];
        let text = self.slurm("scontrol", &args).await.ok()?;
        text.split_whitespace().find_map(|w| w.strip_prefix("ExitCode=")).map(str::to_owned)
    }

    fn write_wrapper(&self) -> Result<Utf8PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir().join("task.sh");
        let q = harnessgym_proc::remote::sh_quote;
        let script = format!(
            "#!/bin/bash\n\
             # Written by `harnessgym compare --executor slurm`: array task i runs the trial whose spec is line i+1\n\
             # of the list file given as $1.\n\
             spec=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$1\" 2>/dev/null)\n\
             if [ -z \"$spec\" ] || [ ! -r \"$spec\" ]; then\n\
             \x20 echo \"harnessgym: the trial spec of task $SLURM_ARRAY_TASK_ID (${{spec:-list $1}}) is not readable on ${{HOSTNAME:-$(uname -n)}}: \
             the compare's output directory must be on a filesystem the nodes share, at the same path\" >&2\n\
             \x20 exit {SPEC_UNREADABLE_EXIT}\n\
             fi\n\
             dir=$(dirname \"$spec\")\n\
             if [ -e {stop} ]; then\n\
             \x20 echo \"harnessgym: the compare stopped (spend cap or interrupt); trial not run\" > \"$dir/{NOT_RUN_MARKER}\"\n\
             \x20 exit 0\n\
             fi\n\
             rm -f \"$dir/{NOT_RUN_MARKER}\"\n\
             exec {bin} trial run --spec \"$spec\" > \"$dir/trial.stdout.txt\" 2> \"$dir/trial.stderr.txt\"\n",
            stop = q(self.dir().join(STOP_FILE).as_str()),
            bin = q(self.harnessgym_bin.as_str()),
        );
        std::fs::write(&path, script).map_err(|e| format!("writing {path}: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("making {path} executable: {e}"))?;
        Ok(path)
    }

    /// Submits one array of `trials`; its job id.
    async fn submit(&self, trials: &[QueuedTrial], submissions: &mut Submissions) -> Result<String, String> {
        let dir = self.dir();
        std::fs::create_dir_all(dir.join("logs")).map_err(|e| format!("creating {dir}/logs: {e}"))?;
        let wrapper = self.write_wrapper()?;
        let n = submissions.submissions.len() + 1;
        let list = dir.join(format!("array-{n}.list"));
        let mut text = String::new();
        for t in trials {
            let _ = std::fs::remove_file(t.spec.trial_dir.join(NOT_RUN_MARKER));
            text.push_str(t.spec_path.as_str());
            text.push('\n');
        }
        std::fs::write(&list, text).map_err(|e| format!("writing {list}: {e}"))?;
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--array=0-{}%{}", trials.len() - 1, self.jobs),
            "--job-name=harnessgym-compare".to_owned(),
            format!("--chdir={dir}"),
            format!("--output={dir}/logs/%A_%a.out"),
            format!("--error={dir}/logs/%A_%a.out"),
            format!("--time={}", self.time),
            format!("--cpus-per-task={}", self.cpus_per_task),
        ];
        if let Some(p) = &self.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(g) = &self.gres {
            args.push(format!("--gres={g}"));
        }
        args.extend(self.extra_args.iter().cloned());
        args.push(wrapper.to_string());
        args.push(list.to_string());
        let out = self.slurm("sbatch", &args).await?;
        let id = out.trim().split(';').next().unwrap_or_default().trim().to_owned();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("sbatch printed {:?}, not a job id", out.trim()));
        }
        submissions.submissions.push(Submission {
            array_job_id: id.clone(),
            specs: trials.iter().map(|t| t.spec_path.clone()).collect(),
            submitted_at: harnessgym_types::timefmt::utc_now(),
            cancelled_by_compare: false,
        });
        self.save(submissions)?;
        if let Ok(mut status) = self.status.lock() {
            status.arrays.push(id.clone());
        }
        tracing::info!(array = %id, tasks = trials.len(), throttle = self.jobs, "submitted a Slurm job array");
        Ok(id)
    }

    fn save(&self, submissions: &Submissions) -> Result<(), String> {
        let path = self.dir().join(SUBMISSIONS_FILE);
        harnessgym_types::json::write_json(&path, submissions).map_err(|e| format!("recording {path}: {e}"))
    }

    /// Records a trial whose task ended without a trial.json as invalid, unless a record
    /// appeared meanwhile (the trial's own always wins; this one never replaces it).
    fn record_invalid(&self, t: &Tracked, reason: &str) {
        let spec = &t.trial.spec;
        let state = t.state.clone().unwrap_or(TaskState { state: "UNKNOWN".into(), reason: String::new() });
        let record = invalid_record(spec, reason, &t.array_job_id, t.task, &state);
        let path = spec.record_path();
        let tmp = spec.trial_dir.join(".trial.json.slurm.tmp");
        let written = harnessgym_types::json::write_json(&tmp, &record)
            .map_err(|e| e.to_string())
            .and_then(|()| std::fs::hard_link(&tmp, &path).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = written
            && trial::complete_record(&path).is_none()
        {
            tracing::warn!(path = %path, error = %e, "could not record the trial Slurm ended");
        }
    }

    /// The task of each trial that still has a live one, from the recorded submissions.
    async fn live_tasks(&self, trials: &[QueuedTrial], submissions: &Submissions) -> HashMap<Utf8PathBuf, Tracked> {
        let mut latest: HashMap<&Utf8Path, (&Submission, usize)> = HashMap::new();
        for s in &submissions.submissions {
            for (i, spec) in s.specs.iter().enumerate() {
                latest.insert(spec.as_path(), (s, i));
            }
        }
        let mut cache: HashMap<String, Option<HashMap<usize, TaskState>>> = HashMap::new();
        let mut live = HashMap::new();
        for t in trials {
            let Some((s, i)) = latest.get(t.spec_path.as_path()) else { continue };
            if !cache.contains_key(&s.array_job_id) {
                let states = self.states(&s.array_job_id).await.unwrap_or_else(|e| {
                    tracing::warn!(array = %s.array_job_id, error = %e, "cannot ask Slurm about a recorded array");
                    None
                });
                cache.insert(s.array_job_id.clone(), states);
            }
            let state = cache.get(&s.array_job_id).and_then(|m| m.as_ref()).and_then(|m| m.get(i)).cloned();
            if state.as_ref().is_some_and(|s| !s.terminal()) {
                live.insert(
                    t.spec_path.clone(),
                    Tracked {
                        trial: t.clone(),
                        array_job_id: s.array_job_id.clone(),
                        task: *i,
                        state,
                        terminal_since: None,
                        missing: 0,
                        done: false,
                    },
                );
            }
        }
        live
    }

    /// Cancels the arrays with tasks still live; marks them cancelled by the compare.
    async fn cancel_all(&self, tracked: &[Tracked], submissions: &mut Submissions) {
        let _ = std::fs::write(self.dir().join(STOP_FILE), "interrupted\n");
        let mut arrays: Vec<String> = tracked.iter().filter(|t| !t.done).map(|t| t.array_job_id.clone()).collect();
        arrays.sort();
        arrays.dedup();
        for s in submissions.submissions.iter_mut().filter(|s| arrays.contains(&s.array_job_id)) {
            s.cancelled_by_compare = true;
        }
        if let Err(e) = self.save(submissions) {
            tracing::warn!(error = %e, "could not record the cancelled arrays");
        }
        if !arrays.is_empty()
            && let Err(e) = self.slurm("scancel", &arrays).await
        {
            tracing::warn!(error = %e, "scancel failed");
        }
    }

    /// Polls until every tracked task has ended (or `deadline` passes when cancelling).
    async fn follow(
        &self,
        queue: &TrialQueue,
        tracked: &mut [Tracked],
        mut cancel: watch::Receiver<bool>,
        submissions: &mut Submissions,
    ) {
        let mut cancelled_at: Option<Instant> = None;
        loop {
            if cancelled_at.is_none() && *cancel.borrow() {
                self.cancel_all(tracked, submissions).await;
                cancelled_at = Some(Instant::now());
            }
            let mut arrays: Vec<String> = tracked.iter().filter(|t| !t.done).map(|t| t.array_job_id.clone()).collect();
            arrays.sort();
            arrays.dedup();
            let mut states: HashMap<String, Option<HashMap<usize, TaskState>>> = HashMap::new();
            for a in &arrays {
                match self.states(a).await {
                    Ok(s) => {
                        states.insert(a.clone(), s);
                    }
                    Err(e) => tracing::warn!(array = %a, error = %e, "squeue failed; asking again"),
                }
            }
            let stop_file = self.dir().join(STOP_FILE);
            for t in tracked.iter_mut().filter(|t| !t.done) {
                let Some(known) = states.get(&t.array_job_id) else { continue };
                let state = known.as_ref().and_then(|m| m.get(&t.task)).cloned();
                if state.is_some() {
                    t.state = state;
                    t.missing = 0;
                } else {
                    t.missing += 1;
                }
                let record = trial::complete_record(&t.trial.spec.record_path());
                let ended = t.state.as_ref().is_some_and(TaskState::terminal) || t.missing >= 3;
                if record.is_some() {
                    // Done once Slurm has ended the task too, so the report holds its final state.
                    if ended {
                        t.done = true;
                        let completed = t.state.as_ref().is_some_and(|s| s.state == "COMPLETED");
                        queue.finished(&t.trial, TrialExit::Exited { code: completed.then_some(0) });
                    }
                    self.set_task(t, None);
                } else if ended {
                    let not_run = t.trial.spec.trial_dir.join(NOT_RUN_MARKER).exists();
                    if cancelled_at.is_some() {
                        t.done = true;
                        self.set_task(t, Some("cancelled by the compare"));
                        queue.finished(&t.trial, TrialExit::Cancelled);
                    } else if not_run {
                        t.done = true;
                        self.set_task(t, Some("not run: the stop file was present"));
                        queue.finished(
                            &t.trial,
                            TrialExit::Failed("not run: the compare's spend cap was reached".into()),
                        );
                    } else {
                        let since = *t.terminal_since.get_or_insert_with(Instant::now);
                        let completed = t.state.as_ref().is_some_and(|s| s.state == "COMPLETED");
                        let grace = if completed { self.completed_grace } else { self.grace };
                        if since.elapsed() >= grace {
                            t.done = true;
                            let exit = self.exit_code(&t.array_job_id, t.task).await;
                            let reason = ended_reason(t, exit.as_deref(), &self.dir());
                            self.record_invalid(t, &reason);
                            self.set_task(t, Some(&reason));
                            queue.finished(&t.trial, TrialExit::Failed(reason));
                        }
                    }
                } else {
                    self.set_task(t, None);
                }
            }
            if cancelled_at.is_none()
                && queue.budget_reached()
                && tracked.iter().any(|t| !t.done)
                && !stop_file.exists()
            {
                let _ = std::fs::write(&stop_file, "spend cap reached\n");
                queue.note_stopped_by_budget();
            }
            if tracked.iter().all(|t| t.done) {
                break;
            }
            if let Some(at) = cancelled_at
                && at.elapsed() > Duration::from_secs(120)
            {
                for t in tracked.iter_mut().filter(|t| !t.done) {
                    t.done = true;
                    self.set_task(t, Some("cancelled by the compare; Slurm had not ended it after 120 s"));
                    queue.finished(&t.trial, TrialExit::Cancelled);
                }
                break;
            }
            let _ = tokio::time::timeout(self.poll, cancel.changed()).await;
        }
    }
}

/// `<out>/.harnessgym-compare/slurm`.
pub fn slurm_dir(output_dir: &Utf8Path) -> Utf8PathBuf {
    output_dir.join(STATE_DIR).join(SLURM_DIR)
}

/// The arrays recorded in `output_dir` (what `--resume` waits for).
pub fn recorded_submissions(output_dir: &Utf8Path) -> Submissions {
    harnessgym_types::json::read_typed(&slurm_dir(output_dir).join(SUBMISSIONS_FILE)).ok().flatten().unwrap_or_default()
}

fn parse_squeue(text: &str, array: &str) -> HashMap<usize, TaskState> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(4, '|');
            let (base, task, state, reason) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            if base != array {
                return None;
            }
            let task = task.parse().ok()?;
            // `CANCELLED by 0` in some versions: the state is the first word.
            let state = state.split_whitespace().next().unwrap_or_default().to_owned();
            Some((task, TaskState { state, reason: reason.trim().to_owned() }))
        })
        .collect()
}

fn ended_reason(t: &Tracked, exit: Option<&str>, dir: &Utf8Path) -> String {
    let (state, why) = match &t.state {
        Some(s) if t.missing < 3 => (s.state.clone(), s.reason.clone()),
        _ => ("UNKNOWN".to_owned(), "Slurm no longer knows the task".to_owned()),
    };
    let mut details: Vec<String> = Vec::new();
    if !why.is_empty() && why != "None" {
        details.push(why);
    }
    if let Some(code) = exit {
        details.push(format!("exit code {code}"));
    }
    let details = if details.is_empty() { String::new() } else { format!(" ({})", details.join(", ")) };
    format!(
        "slurm: task {}_{} ended {state}{details} without a trial.json; see {dir}/logs/{}_{}.out and {}/trial.stderr.txt",
        t.array_job_id, t.task, t.array_job_id, t.task, t.trial.spec.trial_dir
    )
}

/// The record of a trial whose task Slurm ended before the trial wrote its own: complete,
/// invalid, its reason the Slurm state.
fn invalid_record(
    spec: &super::spec::TrialSpec,
    reason: &str,
    array: &str,
    task: usize,
    state: &TaskState,
) -> TrialRecord {
    let post = spec.post_command.is_some();
    let mut extra = harnessgym_types::Extra::new();
    extra.insert(
        "slurm".into(),
        json!({"array_job_id": array, "array_task_id": task, "state": state.state, "reason": state.reason}),
    );
    let now = harnessgym_types::timefmt::utc_now_micros();
    TrialRecord {
        group: spec.arm.clone(),
        trial: spec.trial,
        workspace: spec.workspace().to_string(),
        run_id: spec.request.run_id.clone().unwrap_or_default(),
        run_dir: None,
        result_path: None,
        status: "failed".into(),
        solved: false,
        error: Some(reason.to_owned()),
        duration_seconds: 0.0,
        attempt_duration_seconds: None,
        cumulative_attempt_duration_seconds: None,
        iterations_completed: 0,
        iterations: Vec::new(),
        score: None,
        copied_artifacts: Vec::new(),
        mcp_telemetry: Value::Null,
        mcp_call_count: 0,
        mcp_called_tools: Vec::new(),
        runner_validation: json!({"valid": false, "reason": reason, "failed_iterations": [], "failed_attempts": []}),
        harness_validation: json!({"required": spec.bundle.is_some(), "valid": false, "reason": ""}),
        comparison_valid: false,
        comparison_invalid_reason: reason.to_owned(),
        post_result: None,
        objective_post_valid: None,
        post_valid: post.then_some(false),
        post_invalid_reason: if post { reason.to_owned() } else { String::new() },
        post_score: None,
        post_treated_as_worst: post,
        best_post_score: Some(None),
        final_post_score: Some(None),
        block: Some(spec.block),
        started_at: None,
        finished_at: Some(now),
        budget: None,
        refused_artifacts: Vec::new(),
        complete: Some(true),
        extra,
    }
}

#[async_trait]
impl Executor for SlurmExecutor {
    async fn run(&self, queue: &TrialQueue, cancel: watch::Receiver<bool>) {
        // The spend cap is checked as each trial is taken: before this submission.
        let mut trials = Vec::new();
        while let Some(t) = queue.next() {
            trials.push(t);
        }
        if trials.is_empty() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(self.dir()) {
            for t in &trials {
                queue.finished(t, TrialExit::Failed(format!("creating {}: {e}", self.dir())));
            }
            return;
        }
        let _ = std::fs::remove_file(self.dir().join(STOP_FILE));
        let mut submissions = recorded_submissions(&self.output_dir);
        // `--resume`: tasks still pending or running are waited for, not submitted again.
        let mut live = self.live_tasks(&trials, &submissions).await;
        let mut tracked: Vec<Tracked> = Vec::new();
        let mut to_submit = Vec::new();
        for t in trials {
            match live.remove(&t.spec_path) {
                Some(task) => tracked.push(task),
                None => to_submit.push(t),
            }
        }
        if let Ok(mut status) = self.status.lock() {
            let mut old: Vec<String> = tracked.iter().map(|t| t.array_job_id.clone()).collect();
            old.sort();
            old.dedup();
            status.arrays.extend(old);
        }
        if !to_submit.is_empty() && !*cancel.borrow() {
            match self.submit(&to_submit, &mut submissions).await {
                Ok(id) => {
                    for (i, t) in to_submit.into_iter().enumerate() {
                        tracked.push(Tracked {
                            trial: t,
                            array_job_id: id.clone(),
                            task: i,
                            state: None,
                            terminal_since: None,
                            missing: 0,
                            done: false,
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "sbatch failed");
                    for t in &to_submit {
                        queue.finished(t, TrialExit::Failed(format!("not submitted to Slurm: {e}")));
                    }
                }
            }
        } else {
            for t in &to_submit {
                queue.finished(t, TrialExit::Cancelled);
            }
        }
        for t in &tracked {
            self.set_task(t, None);
        }
        if self.detach {
            if let Ok(mut status) = self.status.lock() {
                status.detached = true;
            }
            return;
        }
        self.follow(queue, &mut tracked, cancel, &mut submissions).await;
    }

    fn describe(&self) -> Option<Value> {
        let status = self.status.lock().ok()?.clone();
        Some(json!({
            "kind": "slurm",
            "throttle": self.jobs,
            "time_limit": self.time,
            "cpus_per_task": self.cpus_per_task,
            "partition": self.partition,
            "gres": self.gres,
            "extra_args": self.extra_args,
            "arrays": status.arrays,
            "all_arrays": recorded_submissions(&self.output_dir).submissions.iter().map(|s| s.array_job_id.clone()).collect::<Vec<_>>(),
            "detached": status.detached,
            "tasks": status.tasks.into_values().collect::<Vec<_>>(),
        }))
    }
}

/// What `--executor slurm` checks before anything is submitted: Slurm's client commands, no
/// secret `--remote-ssh-arg` values, and a positive CPU count. Returns notes for the user
/// (an ignored `--score-jobs`, a missing `SLURM_CONF`, an output directory the nodes may not
/// see). `given` holds the ids of the flags typed on the command line.
pub fn preflight(config: &CompareConfig, given: &[String]) -> Result<Vec<String>, CompareError> {
    let invalid = |m: String| CompareError::Invalid(m);
    let r = &config.request;
    for program in ["sbatch", "squeue", "scontrol", "scancel"] {
        if find_program(program).is_none() {
            return Err(invalid(format!(
                "--executor slurm needs Slurm's client commands; {program} is not on PATH (run the compare on a \
                 submit node, or install slurm-client)"
            )));
        }
    }
    if config.trial_env().iter().any(|(k, _)| k == super::SSH_ARGS_ENV) {
        return Err(invalid(
            "--executor slurm cannot pass --remote-ssh-arg values holding secrets (SetEnv=…): Slurm keeps a job's \
             environment in its controller's state directory, on disk. Put them in an ssh config file or identity file \
             readable on the nodes and pass -F/-i instead"
                .to_owned(),
        ));
    }
    if r.slurm_cpus_per_task == 0 {
        return Err(invalid("--slurm-cpus-per-task must be at least 1".to_owned()));
    }
    let mut notes = Vec::new();
    if given.iter().any(|g| g == "score_jobs") {
        notes.push(
            "--score-jobs does not apply with --executor slurm: each trial scores inside its own allocation (ask for \
             whole cores with --slurm-cpus-per-task, or --slurm-extra-arg=--exclusive, for timing tasks)"
                .to_owned(),
        );
    }
    if std::env::var_os("SLURM_CONF").is_none() && !Utf8Path::new("/etc/slurm/slurm.conf").exists() {
        notes.push(
            "SLURM_CONF is not set and /etc/slurm/slurm.conf does not exist: Slurm's commands will look the controller \
             up in DNS (configless mode)"
                .to_owned(),
        );
    }
    if let Some(note) = filesystem_note(&config.output_dir) {
        notes.push(note);
    }
    Ok(notes)
}

/// Filesystems the nodes of a cluster typically share.
const SHARED_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "lustre",
    "gpfs",
    "beegfs",
    "cephfs",
    "ceph",
    "cifs",
    "smb3",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.ceph",
    "pvfs2",
    "orangefs",
    "panfs",
    "wekafs",
    "fuse.sshfs",
    "fuse.juicefs",
    "virtiofs",
];

/// A note when `dir` is on a filesystem that is usually local (the nodes may not see it; on a
/// single-node cluster that is this machine they do), `None` when it looks shared.
fn filesystem_note(dir: &Utf8Path) -> Option<String> {
    let probe = dir.ancestors().find(|p| p.exists()).unwrap_or(dir);
    let canonical = std::fs::canonicalize(probe).ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok())?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let fstype = mount_fstype(&mountinfo, &canonical)?;
    if SHARED_FS.contains(&fstype.as_str()) {
        return None;
    }
    Some(format!(
        "the output directory {dir} is on a {fstype} filesystem, which is usually local: Slurm nodes other than this \
         machine must see it at the same path (a task that cannot read its trial spec ends with exit code \
         {SPEC_UNREADABLE_EXIT} and its trial is recorded as invalid)"
    ))
}

/// The filesystem type of the mount holding `path` (the longest mount point containing it).
fn mount_fstype(mountinfo: &str, path: &Utf8Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            let dash = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(dash + 1)?;
            let mount_point = mount_point.replace("\\040", " ");
            path.starts_with(&mount_point).then(|| (mount_point.len(), (*fstype).to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fstype)| fstype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_give_each_task_its_state_and_reason() {
        let text = "7|0|COMPLETED|None\n7|1|RUNNING|None\n7|2|PENDING|JobArrayTaskLimit\n8|0|FAILED|NonZeroExitCode\n";
        let states = parse_squeue(text, "7");
        assert_eq!(states.len(), 3);
        assert!(states[&0].terminal());
        assert!(!states[&1].terminal());
        assert_eq!(states[&2], TaskState { state: "PENDING".into(), reason: "JobArrayTaskLimit".into() });
        let other = parse_squeue(text, "8");
        assert_eq!(other[&0].state, "FAILED");
        assert!(parse_squeue("garbage\n", "7").is_empty());
    }

    #[test]
    fn the_mount_holding_a_path_is_the_longest_prefix() {
        let info = "22 1 0:21 / / rw - ext4 /dev/vda rw\n\
                    30 22 0:40 / /shared rw,relatime - nfs4 srv:/export rw\n\
                    31 22 0:41 / /sharedx rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_fstype(info, Utf8Path::new("/shared/out")).as_deref(), Some("nfs4"));
        assert_eq!(mount_fstype(info, Utf8Path::new("/home/u/out")).as_deref(), Some("ext4"));
        assert_eq!(mount_fstype(info, Utf8Path::new("/sharedx/o")).as_deref(), Some("tmpfs"));
    }
}
