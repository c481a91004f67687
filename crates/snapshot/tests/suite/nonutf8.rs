use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use harnessgym_snapshot::{CopyPolicy, Purpose, capture, restore};

use super::common::*;

#[test]
fn non_utf8_file_names_round_trip() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    fs::create_dir_all(&ws)?;
    let name = OsStr::from_bytes(b"caf\xe9.txt");
    let dir = OsStr::from_bytes(b"d\xff");
    let file = ws.as_std_path().join(name);
    let nested = ws.as_std_path().join(dir).join(name);
    if fs::write(&file, "latin-1 name").is_err() {
        // Some filesystems (e.g. macOS APFS) reject non-UTF-8 names; nothing to test there.
        return Ok(());
    }
    fs::create_dir_all(ws.as_std_path().join(dir))?;
    fs::write(&nested, "nested")?;
    write(&ws, "__pycache__/x.pyc", "b")?;

    let policy = CopyPolicy::load(&ws, Purpose::Copy)?;
    let snap = t.path("snap");
    let report = capture(&ws, &snap, &policy)?;
    assert_eq!(report.file_count, 2);
    // Non-UTF-8 bytes are escaped, reversibly.
    assert_eq!(report.files, ["caf\\xe9.txt", "d\\xff/caf\\xe9.txt"]);
    assert_eq!(harnessgym_snapshot::escape::unescape_bytes(&report.files[0]), Some(b"caf\xe9.txt".to_vec()));
    assert_eq!(fs::read(snap.as_std_path().join(name))?, b"latin-1 name");

    fs::write(&file, "changed")?;
    fs::remove_file(&nested)?;
    fs::write(ws.as_std_path().join(OsStr::from_bytes(b"added\xfe")), "x")?;
    restore(&snap, &ws, &policy)?;
    assert_eq!(fs::read(&file)?, b"latin-1 name");
    assert_eq!(fs::read(&nested)?, b"nested");
    assert!(fs::symlink_metadata(ws.as_std_path().join(OsStr::from_bytes(b"added\xfe"))).is_err());
    assert!(exists(&ws, "__pycache__/x.pyc"));
    Ok(())
}
