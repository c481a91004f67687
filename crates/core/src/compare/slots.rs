//! `--score-jobs N`: a semaphore across processes made of N lock files (`slot-<k>.lock` in the
//! compare's output directory), so trials running as separate processes — or on other machines
//! sharing the directory — never run more than N post commands at once.

use std::fs::{File, TryLockError};
use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;

use crate::hooks::ScoreGate;

/// How often a waiting trial tries the slots again.
const POLL: Duration = Duration::from_millis(25);

/// The slots of one compare.
#[derive(Clone, Debug)]
pub struct ScoreSlots {
    dir: Utf8PathBuf,
    count: u32,
}

impl ScoreSlots {
    /// `count` slots (at least one) in `dir`.
    pub fn new(dir: Utf8PathBuf, count: u32) -> Self {
        Self { dir, count: count.max(1) }
    }

    fn try_take(&self) -> Result<Option<File>, std::io::Error> {
        std::fs::create_dir_all(&self.dir)?;
        for k in 0..self.count {
            let file = File::options().create(true).append(true).open(self.dir.join(format!("slot-{k}.lock")))?;
            match file.try_lock() {
                Ok(()) => return Ok(Some(file)),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ScoreGate for ScoreSlots {
    async fn acquire(&self) -> Box<dyn Send> {
        loop {
            match self.try_take() {
                // The kernel drops the lock with the file, however the holder dies.
                Ok(Some(file)) => return Box::new(file),
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    // Scoring unbounded beats scoring never: say so and go on.
                    tracing::warn!(dir = %self.dir, error = %e, "score slots unusable; scoring without a slot");
                    return Box::new(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_than_n_holders_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let slots = ScoreSlots::new(Utf8PathBuf::from_path_buf(dir.path().join("slots")).unwrap(), 2);
        let a = slots.acquire().await;
        let b = slots.acquire().await;
        assert!(slots.try_take().unwrap().is_none(), "a third holder must wait");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), slots.acquire()).await;
        assert!(c.is_ok(), "a freed slot is taken");
        drop(b);
    }
}
