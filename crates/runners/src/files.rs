//! The four files every phase writes.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::TypesError;
use harnessgym_types::runner::Phase;

#[derive(Clone, Debug)]
pub struct PhaseFiles {
    pub prompt: Utf8PathBuf,
    pub stdout: Utf8PathBuf,
    pub stderr: Utf8PathBuf,
    pub transcript: Utf8PathBuf,
}

impl PhaseFiles {
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
