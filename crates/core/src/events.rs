//! Progress events of a run, for observers (the CLI renders them; core never prints).

use std::sync::Arc;

use camino::Utf8PathBuf;
use harnessgym_types::RecordedError;

#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    Started {
        run_id: String,
        run_dir: Utf8PathBuf,
    },
    /// A resumed run goes on from here (after `Started`).
    Resumed {
        position: String,
    },
    IterationStarted {
        iteration: u32,
    },
    PhaseStarted {
        iteration: u32,
        phase: String,
    },
    PhaseFinished {
        iteration: u32,
        phase: String,
        status: String,
    },
    IterationFinished {
        iteration: u32,
        status: String,
        solved: bool,
    },
    /// A fault the loop recorded and tolerated.
    Problem(RecordedError),
    Finished {
        summary_path: Utf8PathBuf,
    },
}

pub type EventSink = Arc<dyn Fn(&RunEvent) + Send + Sync>;
