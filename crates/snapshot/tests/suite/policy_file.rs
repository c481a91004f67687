use harnessgym_snapshot::{CopyPolicy, Purpose, SnapshotError};

use super::common::*;

#[test]
fn malformed_harnessgymignore_error_names_the_file_and_line() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    write(&ws, ".harnessgymignore", "# fine\n*.log\nsrc/{a,b\n")?;
    for purpose in [Purpose::Copy, Purpose::TaskState] {
        let err = CopyPolicy::load(&ws, purpose).err().ok_or("expected an error")?;
        let msg = err.to_string();
        assert!(matches!(err, SnapshotError::BadIgnoreFile { line: 3, .. }), "{msg}");
        assert!(msg.contains(ws.join(".harnessgymignore").as_str()), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("src/{a,b"), "{msg}");
    }
    Ok(())
}

#[test]
fn non_utf8_harnessgymignore_error_names_the_file() -> TestResult {
    let t = Tmp::new()?;
    let ws = t.path("ws");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(ws.join(".harnessgymignore"), b"\xff\xfe*.bin\n")?;
    let err = CopyPolicy::load(&ws, Purpose::Copy).err().ok_or("expected an error")?;
    assert!(err.to_string().contains(".harnessgymignore"), "{err}");
    Ok(())
}
