//! The four files every phase writes.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::TypesError;
use harnessgym_types::runner::Phase;

/// The four files every phase writes in its phase directory, named after the phase
/// (`attempt.prompt.txt`, `attempt.stdout.txt`, ...).
#[derive(Clone, Debug)]
pub struct PhaseFiles {
    /// `<phase>.prompt.txt`: the prompt as sent.
    pub prompt: Utf8PathBuf,
    /// `<phase>.stdout.txt`: everything the agent wrote on stdout.
    pub stdout: Utf8PathBuf,
    /// `<phase>.stderr.txt`: everything the agent wrote on stderr, plus our notes.
    pub stderr: Utf8PathBuf,
    /// `<phase>.transcript.txt`: command, status, session and a summary of the output.
    pub transcript: Utf8PathBuf,
}

impl PhaseFiles {
    /// The files of `phase` in `dir`.
    pub fn new(dir: &Utf8Path, phase: Phase) -> Self {
        let name = phase.as_str();
        Self {
            prompt: dir.join(format!("{name}.prompt.txt")),
            stdout: dir.join(format!("{name}.stdout.txt")),
            stderr: dir.join(format!("{name}.stderr.txt")),
            transcript: dir.join(format!("{name}.transcript.txt")),
        }
    }

    /// Writes a file of the phase atomically (creating the directory).
    pub fn write(path: &Utf8Path, text: &str) -> Result<(), TypesError> {
        harnessgym_types::atomic::write_atomic(path, text.as_bytes())
    }
}
