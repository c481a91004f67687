//! bubblewrap for the sandbox tests: found on `PATH` and working, or the test does not run —
//! except under `CI=true`, where a missing or broken bwrap fails the test (`.ci/run` installs it).

use camino::Utf8PathBuf;

/// `bwrap` on `PATH` when `bwrap --ro-bind / / true` succeeds; otherwise panics under `CI=true`
/// and elsewhere prints `NOT RUN: <test>: …` and returns `None`.
pub fn bwrap_or_skip(test: &str) -> Option<Utf8PathBuf> {
    let why = match find() {
        Ok(bin) => return Some(bin),
        Err(why) => why,
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: bubblewrap is needed under CI=true ({why}); .ci/run installs the bubblewrap package"
    );
    eprintln!("NOT RUN: {test}: {why}");
    None
}

fn find() -> Result<Utf8PathBuf, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let bin = path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Utf8PathBuf::from(d).join("bwrap"))
        .find(|p| p.is_file())
        .ok_or_else(|| "bwrap is not on PATH".to_owned())?;
    let status = std::process::Command::new(&bin)
        .args(["--ro-bind", "/", "/", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{bin} did not start: {e}"))?;
    if status.success() { Ok(bin) } else { Err(format!("{bin} --ro-bind / / true failed ({status})")) }
}
