//! Output files: creation before spawn, capped reads and notes afterwards.

use std::io::{self, Read, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::AsyncReadExt;

use crate::ProcError;

/// Creates (truncating) both output files with their parent directories and
/// returns append-mode handles. Appending makes `stdout_path == stderr_path`
/// interleave instead of overwrite.
pub(crate) async fn open_outputs(stdout_path: &Utf8Path, stderr_path: &Utf8Path) -> Result<(File, File), ProcError> {
    create_truncated(stdout_path).await?;
    if stderr_path != stdout_path {
        create_truncated(stderr_path).await?;
    }
    Ok((open_append(stdout_path).await?, open_append(stderr_path).await?))
}

async fn create_truncated(path: &Utf8Path) -> Result<(), ProcError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
        fs::create_dir_all(parent).await.map_err(|e| ProcError::io(parent, e))?;
    }
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .await
        .map(drop)
        .map_err(|e| ProcError::io(path, e))
}

async fn open_append(path: &Utf8Path) -> Result<File, ProcError> {
    OpenOptions::new().append(true).open(path).await.map_err(|e| ProcError::io(path, e))
}

/// Reads at most `max_bytes` of `path`. The flag is `true` when the file held
/// more (the rest is not read). Bytes are returned undecoded; use
/// `String::from_utf8_lossy` (or [`read_capped_lossy`]) to get text.
pub async fn read_capped(path: &Utf8Path, max_bytes: usize) -> Result<(Vec<u8>, bool), ProcError> {
    let err = |e| ProcError::io(path, e);
    let file = File::open(path).await.map_err(err)?;
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    // Never pre-allocate more than the file could hold.
    let hint = file.metadata().await.map(|m| m.len()).unwrap_or(0).min(cap);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    let mut limited = file.take(cap);
    limited.read_to_end(&mut bytes).await.map_err(err)?;
    let mut file = limited.into_inner();
    let mut probe = [0u8; 1];
    let truncated = file.read(&mut probe).await.map_err(err)? > 0;
    Ok((bytes, truncated))
}

/// [`read_capped`], decoded lossily as UTF-8 (invalid sequences become U+FFFD).
pub async fn read_capped_lossy(path: &Utf8Path, max_bytes: usize) -> Result<(String, bool), ProcError> {
    let (bytes, truncated) = read_capped(path, max_bytes).await?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((text, truncated))
}

/// Appends `note` as its own line to `path` (created if missing): a newline
/// is inserted first if the file does not already end with one, and one is
/// added after the note. Synchronous and small; fine to call from async code.
pub fn append_note(path: &Utf8Path, note: &str) -> Result<(), ProcError> {
    let err = |e| ProcError::io(path, e);
    let mut file = std::fs::OpenOptions::new().read(true).append(true).create(true).open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let mut text = String::with_capacity(note.len() + 2);
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1)).map_err(err)?;
        file.read_exact(&mut last).map_err(err)?;
        if last[0] != b'\n' {
            text.push('\n');
        }
    }
    text.push_str(note);
    if !note.ends_with('\n') {
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(err)?;
    file.flush().map_err(err)
}

/// Flushes and fsyncs `file`. Files that cannot be synced (`/dev/null`,
/// pipes) are accepted as they are.
pub(crate) async fn flush_and_sync(file: &mut File, path: &Utf8PathBuf) -> Result<(), ProcError> {
    use tokio::io::AsyncWriteExt;
    file.flush().await.map_err(|e| ProcError::io(path, e))?;
    match file.sync_all().await {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Ok(()),
        Err(e) => Err(ProcError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf8 tempdir");
        (dir, path)
    }

    #[tokio::test]
    async fn read_capped_reports_truncation_only_when_more_bytes_exist() {
        let (_guard, dir) = tmp();
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(read_capped(&path, 4).await.expect("read"), (b"0123".to_vec(), true));
        assert_eq!(read_capped(&path, 10).await.expect("read"), (b"0123456789".to_vec(), false));
        assert_eq!(read_capped(&path, 100).await.expect("read"), (b"0123456789".to_vec(), false));
        assert_eq!(read_capped(&path, 0).await.expect("read"), (Vec::new(), true));
    }

    #[tokio::test]
    async fn read_capped_missing_file_names_the_path() {
        let (_guard, dir) = tmp();
        let path = dir.join("missing");
        let err = read_capped(&path, 10).await.expect_err("missing file");
        assert!(matches!(&err, ProcError::Io { path: p, .. } if *p == path));
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[tokio::test]
    async fn read_capped_lossy_replaces_invalid_utf8() {
        let (_guard, dir) = tmp();
        let path = dir.join("f");
        std::fs::write(&path, b"ok \xff\xfe end").expect("write");
        let (text, truncated) = read_capped_lossy(&path, 100).await.expect("read");
        assert_eq!(text, "ok \u{fffd}\u{fffd} end");
        assert!(!truncated);
    }

    #[test]
    fn append_note_starts_on_its_own_line() {
        let (_guard, dir) = tmp();
        let path = dir.join("stderr.txt");
        append_note(&path, "first").expect("append to missing file");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"partial"))
            .expect("write partial line");
        append_note(&path, "Timed out after 60 seconds; terminated Codex process.").expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "first\npartial\nTimed out after 60 seconds; terminated Codex process.\n");
    }

    #[tokio::test]
    async fn open_outputs_creates_parents_and_truncates() {
        let (_guard, dir) = tmp();
        let out = dir.join("a/b/out.txt");
        let err = dir.join("c/err.txt");
        std::fs::create_dir_all(dir.join("c")).expect("mkdir");
        std::fs::write(&err, b"stale").expect("write");
        let (_o, _e) = open_outputs(&out, &err).await.expect("open");
        assert_eq!(std::fs::metadata(&out).expect("out").len(), 0);
        assert_eq!(std::fs::metadata(&err).expect("err").len(), 0);
    }
}
