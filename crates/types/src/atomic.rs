//! Atomic file writes: temp file in the target directory, fsync, rename.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use camino::Utf8Path;

use crate::TypesError;

/// Writes `bytes` to `path` so that readers see either the old or the new content, never a
/// partial file. Parent directories are created. A rewrite keeps the existing file's permission
/// bits; a new file gets the mode `File::create` gives (`0o666` under the umask), not the temp
/// file's private `0o600`.
pub fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> Result<(), TypesError> {
    let io_err = |source| TypesError::Io { path: path.to_owned(), source };
    let parent = match path.parent() {
        Some(p) if !p.as_str().is_empty() => p,
        _ => Utf8Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io_err)?;
    let existing = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Some(meta.permissions()),
        _ => None,
    };
    // Created with 0o666 so the umask applies exactly as for `File::create`.
    let mut tmp = tempfile::Builder::new()
        .prefix(".harnessgym-tmp-")
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .map_err(io_err)?;
    if let Some(permissions) = existing {
        tmp.as_file().set_permissions(permissions).map_err(io_err)?;
    }
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leaving_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("nested/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(root.join("nested")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temp files left behind: {names:?}");
    }
}
