//! `write_atomic` keeps a rewritten file's permission bits; a new file gets `File::create`'s mode.

use std::os::unix::fs::PermissionsExt;

use camino::Utf8PathBuf;
use harnessgym_types::atomic::write_atomic;

fn mode(path: &Utf8PathBuf) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_rewrite_keeps_the_existing_files_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("registry.json")).unwrap();
    for wanted in [0o664, 0o640, 0o755] {
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), wanted, "mode {wanted:o} changed to {:o} by a rewrite", mode(&path));
    }
}

#[test]
fn a_new_file_gets_the_mode_file_create_gives() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Utf8PathBuf::from_path_buf(dir.path().join("new.json")).unwrap();
    let theirs = Utf8PathBuf::from_path_buf(dir.path().join("created.json")).unwrap();
    write_atomic(&ours, b"{}").unwrap();
    std::fs::File::create(&theirs).unwrap();
    // Whatever the umask, the same bits as `File::create` (0666 & !umask).
    assert_eq!(mode(&ours), mode(&theirs));
}
