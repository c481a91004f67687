//! Where trials run. A compare writes one spec per trial and hands them, in design order, to an
//! [`Executor`] through a [`TrialQueue`]; each trial is `harnessgym trial run --spec FILE`, a
//! process of its own that writes its `trial.json` last. [`LocalExecutor`] runs them as child
//! processes of this machine, at most `--jobs` at once; a cluster executor runs the same command
//! elsewhere.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use camino::Utf8PathBuf;
use harnessgym_proc::CommandSpec;
use tokio::sync::watch;

use crate::compare::spec::TrialSpec;
use crate::compare::trial::complete_record;

/// One trial waiting to run: its spec and where the spec file is.
#[derive(Clone, Debug)]
pub struct QueuedTrial {
    /// The spec.
    pub spec: TrialSpec,
    /// `<trial_dir>/trial-spec.json`.
    pub spec_path: Utf8PathBuf,
}

/// How a trial's process ended (its `trial.json`, not this, is the record of the trial).
#[derive(Clone, Debug, PartialEq)]
pub enum TrialExit {
    /// It exited; `code` as reported.
    Exited {
        /// The exit code, `None` when killed by a signal.
        code: Option<i32>,
    },
    /// It could not be started or followed.
    Failed(String),
    /// It was stopped by the compare's cancellation.
    Cancelled,
}

/// The trials still to run, in design order, and the spend cap that stops new starts.
pub struct TrialQueue {
    waiting: Mutex<VecDeque<QueuedTrial>>,
    running: Mutex<Vec<QueuedTrial>>,
    finished: Mutex<Vec<(QueuedTrial, TrialExit)>>,
    max_cost_usd: Option<f64>,
    spent: Mutex<f64>,
    stopped_by_budget: Mutex<bool>,
}

impl TrialQueue {
    /// A queue of `trials` (design order) that starts nothing new once the recorded spend of
    /// finished trials reaches `max_cost_usd`; `spent` is what trials kept from an earlier
    /// run of the compare already cost.
    pub fn new(trials: Vec<QueuedTrial>, max_cost_usd: Option<f64>, spent: f64) -> Self {
        Self {
            waiting: Mutex::new(trials.into()),
            running: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
            max_cost_usd,
            spent: Mutex::new(spent),
            stopped_by_budget: Mutex::new(false),
        }
    }

    /// The next trial to start, or `None` when none is left or the spend cap is reached.
    pub fn next(&self) -> Option<QueuedTrial> {
        if let (Some(cap), Ok(spent)) = (self.max_cost_usd, self.spent.lock())
            && *spent >= cap
        {
            let left = self.waiting.lock().map(|w| !w.is_empty()).unwrap_or(false);
            if left && let Ok(mut stopped) = self.stopped_by_budget.lock() {
                *stopped = true;
            }
            return None;
        }
        let trial = self.waiting.lock().ok()?.pop_front()?;
        if let Ok(mut running) = self.running.lock() {
            running.push(trial.clone());
        }
        Some(trial)
    }

    /// Records that `trial`'s process ended; its recorded cost counts towards the cap.
    pub fn finished(&self, trial: &QueuedTrial, exit: TrialExit) {
        if let Ok(mut running) = self.running.lock() {
            running.retain(|t| t.spec_path != trial.spec_path);
        }
        let cost = complete_record(&trial.spec.record_path()).and_then(|r| r.budget).and_then(|b| b.cost_usd);
        if let (Some(c), Ok(mut spent)) = (cost, self.spent.lock()) {
            *spent += c;
        }
        if let Ok(mut finished) = self.finished.lock() {
            finished.push((trial.clone(), exit));
        }
    }

    /// The trials running now.
    pub fn running(&self) -> Vec<QueuedTrial> {
        self.running.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How the finished trials' processes ended, in the order they ended.
    pub fn exits(&self) -> Vec<(QueuedTrial, TrialExit)> {
        self.finished.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The recorded spend so far (US dollars; trials of unknown cost count nothing).
    pub fn spent(&self) -> f64 {
        self.spent.lock().map(|s| *s).unwrap_or(0.0)
    }

    /// Whether trials were left unstarted because the spend cap was reached.
    pub fn stopped_by_budget(&self) -> bool {
        self.stopped_by_budget.lock().map(|s| *s).unwrap_or(false)
    }

    /// Trials never started.
    pub fn unstarted(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }
}

/// Runs trials from a queue.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Takes trials from `queue` until it is empty (or the spend cap stops it) and returns when
    /// every started trial has ended; on cancellation, stops the running trials (their
    /// `trial.json` is not written, so `--resume` runs them again) and starts no more.
    async fn run(&self, queue: &TrialQueue, cancel: watch::Receiver<bool>);
}

/// Trials as child processes of this machine, at most `jobs` at once.
#[derive(Clone, Debug)]
pub struct LocalExecutor {
    /// The `harnessgym` binary (`<bin> trial run --spec FILE`).
    pub harnessgym_bin: Utf8PathBuf,
    /// Trials at once (`--jobs`).
    pub jobs: u32,
    /// Set for every trial process (`CompareConfig::trial_env`).
    pub env: Vec<(String, String)>,
}

impl LocalExecutor {
    async fn run_one(&self, trial: &QueuedTrial, cancel: watch::Receiver<bool>) -> TrialExit {
        let dir = &trial.spec.trial_dir;
        if let Err(e) = std::fs::create_dir_all(dir) {
            return TrialExit::Failed(format!("creating {dir}: {e}"));
        }
        let spec = CommandSpec::new(
            self.harnessgym_bin.as_str(),
            dir.clone(),
            dir.join("trial.stdout.txt"),
            dir.join("trial.stderr.txt"),
        )
        .args(["trial", "run", "--spec", trial.spec_path.as_str()]);
        let spec = self.env.iter().fold(spec, |spec, (k, v)| spec.env(k, v));
        match harnessgym_proc::run_with_cancel(spec, cancel).await {
            Ok(o) if o.cancelled => TrialExit::Cancelled,
            Ok(o) => TrialExit::Exited { code: o.return_code },
            Err(e) => TrialExit::Failed(e.to_string()),
        }
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    async fn run(&self, queue: &TrialQueue, cancel: watch::Receiver<bool>) {
        let jobs = self.jobs.max(1) as usize;
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < jobs && !*cancel.borrow() {
                let Some(trial) = queue.next() else { break };
                let (executor, cancel) = (self.clone(), cancel.clone());
                running.spawn(async move {
                    let exit = executor.run_one(&trial, cancel).await;
                    (trial, exit)
                });
            }
            match running.join_next().await {
                Some(Ok((trial, exit))) => queue.finished(&trial, exit),
                Some(Err(e)) => tracing::error!(error = %e, "a trial's task failed"),
                None => break,
            }
        }
    }
}
