//! Background tasks that copy a child's pipes to files and feed its stdin.

use std::io;

use camino::Utf8PathBuf;
use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use crate::ProcError;
use crate::files::flush_and_sync;

/// Size of the single buffer each pump owns: memory use is bounded by this,
/// whatever the child writes.
const PUMP_BUFFER: usize = 64 * 1024;

/// What a pump did.
#[derive(Debug, Default)]
pub(crate) struct PumpReport {
    /// Bytes read from the pipe.
    pub(crate) bytes: u64,
    /// The pipe reached EOF (rather than being abandoned on stop).
    pub(crate) eof: bool,
    /// First failure writing or syncing the file; reading went on regardless
    /// so the child never blocks on a full pipe.
    pub(crate) error: Option<ProcError>,
}

/// Aborts the task when dropped.
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running pipe-to-file copy.
pub(crate) struct Pump {
    handle: AbortOnDrop<PumpReport>,
    report: Option<PumpReport>,
}

impl Pump {
    /// Starts copying `src` into `file` until EOF or until `stop` turns true
    /// (or its sender is dropped).
    pub(crate) fn spawn<R>(src: Option<R>, file: File, path: Utf8PathBuf, stop: watch::Receiver<bool>) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let handle = tokio::spawn(async move {
            match src {
                Some(src) => pump(src, file, path, stop).await,
                None => PumpReport { eof: true, ..PumpReport::default() },
            }
        });
        Self { handle: AbortOnDrop(handle), report: None }
    }

    /// Waits for the pump to finish, but not past `deadline`.
    pub(crate) async fn wait_until(&mut self, deadline: Instant) {
        if self.report.is_none()
            && let Ok(joined) = timeout_at(deadline, &mut self.handle.0).await
        {
            self.report = Some(joined.unwrap_or_else(join_failure));
        }
    }

    /// Whether the pump has already finished (as observed by `wait_until`).
    pub(crate) fn done(&self) -> bool {
        self.report.is_some()
    }

    /// Waits for the pump to finish; call after signalling stop.
    pub(crate) async fn finish(mut self) -> PumpReport {
        match self.report.take() {
            Some(report) => report,
            None => (&mut self.handle.0).await.unwrap_or_else(join_failure),
        }
    }
}

fn join_failure(e: tokio::task::JoinError) -> PumpReport {
    tracing::error!(error = %e, "output pump task failed");
    PumpReport::default()
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: the run was abandoned, so stop too.
    let _ = stop.wait_for(|s| *s).await;
}

async fn pump<R: AsyncRead + Unpin>(
    mut src: R,
    mut file: File,
    path: Utf8PathBuf,
    mut stop: watch::Receiver<bool>,
) -> PumpReport {
    let mut buf = vec![0u8; PUMP_BUFFER];
    let mut report = PumpReport::default();
    let mut write_error: Option<io::Error> = None;
    loop {
        let read = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            read = src.read(&mut buf) => read,
        };
        match read {
            Ok(0) => {
                report.eof = true;
                break;
            }
            Ok(n) => {
                report.bytes += n as u64;
                if write_error.is_none()
                    && let Err(e) = file.write_all(&buf[..n]).await
                {
                    tracing::warn!(path = %path, error = %e, "could not write child output; discarding the rest");
                    write_error = Some(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "reading child output failed");
                break;
            }
        }
    }
    report.error = match write_error {
        Some(e) => Some(ProcError::io(path, e)),
        None => flush_and_sync(&mut file, &path).await.err(),
    };
    report
}

/// Writes `bytes` to the child's stdin and closes it. A child that exits or
/// closes stdin without reading everything is normal: broken pipes are ignored.
pub(crate) async fn feed_stdin<W: AsyncWrite + Unpin>(mut stdin: W, bytes: Vec<u8>) {
    match stdin.write_all(&bytes).await {
        Ok(()) => {
            if let Err(e) = stdin.shutdown().await {
                tracing::debug!(error = %e, "closing child stdin failed");
            }
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            tracing::debug!(len = bytes.len(), "child closed stdin before reading all input");
        }
        Err(e) => tracing::warn!(error = %e, "writing child stdin failed"),
    }
    // Dropping `stdin` closes the pipe: the child sees EOF.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pump_copies_until_eof_and_counts_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().join("out")).expect("utf8");
        let file = File::create(&path).await.expect("create");
        let (_tx, rx) = watch::channel(false);
        let data: &'static [u8] = &[7u8; 200_000];
        let mut pump = Pump::spawn(Some(data), file, path.clone(), rx);
        pump.wait_until(Instant::now() + std::time::Duration::from_secs(10)).await;
        assert!(pump.done());
        let report = pump.finish().await;
        assert!(report.eof);
        assert!(report.error.is_none());
        assert_eq!(report.bytes, 200_000);
        assert_eq!(std::fs::read(&path).expect("read"), data);
    }

    #[tokio::test]
    async fn pump_stops_on_signal_when_pipe_never_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().join("out")).expect("utf8");
        let file = File::create(&path).await.expect("create");
        let (tx, rx) = watch::channel(false);
        // The writer half is kept alive, so the reader never sees EOF.
        let (_writer, reader) = tokio::io::duplex(16);
        let pump = Pump::spawn(Some(reader), file, path, rx);
        tx.send(true).expect("send stop");
        let report =
            tokio::time::timeout(std::time::Duration::from_secs(10), pump.finish()).await.expect("pump obeys stop");
        assert!(!report.eof);
        assert_eq!(report.bytes, 0);
    }

    #[tokio::test]
    async fn feed_stdin_ignores_a_reader_that_went_away() {
        let (writer, reader) = tokio::io::duplex(16);
        drop(reader);
        // Must simply return (BrokenPipe is swallowed).
        feed_stdin(writer, vec![1u8; 1024]).await;
    }
}
