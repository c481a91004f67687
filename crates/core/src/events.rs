//! Progress events of a run, for observers (the CLI renders them; core never prints).

use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_proc::live::Survivor;
use harnessgym_types::RecordedError;

use crate::lock::LockHolder;

/// What a run reports as it goes, in order: `Started` (then `Resumed` for a resumed run), per
/// iteration `IterationStarted`, the phases, `Scored`, `IterationFinished`; `Problem` whenever a
/// fault is recorded; `Finished` last.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// The run directory exists.
    Started {
        /// The run's id.
        run_id: String,
        /// `<workspace>/.harnessgym/runs/<run_id>`.
        run_dir: Utf8PathBuf,
    },
    /// A resumed run goes on from here (after `Started`).
    Resumed {
        /// Where, in words (`iteration 2, after its reflection`).
        position: String,
    },
    /// An iteration begins (or a resumed one goes on).
    IterationStarted {
        /// The iteration, from 1.
        iteration: u32,
    },
    /// An agent phase begins.
    PhaseStarted {
        /// The iteration.
        iteration: u32,
        /// `attempt`, `reflection`, `build` or `repair_<k>`.
        phase: String,
    },
    /// An agent phase ended.
    PhaseFinished {
        /// The iteration.
        iteration: u32,
        /// As in `PhaseStarted`.
        phase: String,
        /// The phase status (`completed`, `blocked`, `failed`, `timeout`, …).
        status: String,
    },
    /// An iteration ended.
    IterationFinished {
        /// The iteration.
        iteration: u32,
        /// Its result status (`solved`, `verified`, `improved`, `tooling_built`, …).
        status: String,
        /// It solved the task (the run stops).
        solved: bool,
    },
    /// An attempt was scored (iteration 0: the baseline, scored before any attempt).
    Scored {
        /// The iteration (0 for the baseline).
        iteration: u32,
        /// The score: the post command's when one is configured, else the agent's result.json.
        score: f64,
        /// The independent check passed, so the score counts (only verified scores can become
        /// the best, stop a run or seed a checkpoint).
        verified: bool,
        /// The best verified score so far, this one included.
        best: Option<f64>,
    },
    /// Before the run starts: the last command that held the workspace's lock ended without
    /// releasing it (it was killed); a run it left can go on with `run --resume`.
    EarlierCommandInterrupted(LockHolder),
    /// Before the run starts (a resumed one too): processes an interrupted command left running
    /// were killed (see [`crate::lock::survivors_report`]).
    SurvivorsKilled(Vec<Survivor>),
    /// A fault the loop recorded and tolerated.
    Problem(RecordedError),
    /// summary.json is written; the run is over.
    Finished {
        /// Where summary.json is.
        summary_path: Utf8PathBuf,
    },
}

/// Receives every [`RunEvent`], on the loop's task: keep it quick (hand slow work to a channel).
pub type EventSink = Arc<dyn Fn(&RunEvent) + Send + Sync>;
