//! The bundle sandbox: bubblewrap (`bwrap`) around a program HarnessGym starts from a bundle
//! (an MCP server, its smoke probe, its self-test), so code the agent wrote cannot change
//! anything outside the workspace (or the clean room).
//!
//! Inside: the whole filesystem read-only (`--ro-bind / /`) except the root given (the workspace
//! or the room, `--bind`), devices as they are (`--dev-bind /dev /dev`: a GPU stays usable)
//! with a private `/dev/shm`, a private `/tmp` (`--tmpfs`), a fresh `/proc` in its own PID
//! namespace (`--unshare-pid`), killed when its parent dies (`--die-with-parent`), and — when
//! the network is off — its own empty network namespace (`--unshare-net`: not even the host's
//! 127.0.0.1).
//!
//! This module only builds command lines and probes; the process itself is started by the
//! caller through [`crate::run`] or [`crate::spawn_piped`] like any other.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use crate::piped::{PipedSpec, spawn_piped};

/// The environment variable naming the `bwrap` executable (else it is looked up on `PATH`).
pub const BWRAP_ENV: &str = "HARNESSGYM_BWRAP";

/// How long the probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether (and with which `bwrap`) bundle processes are confined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Sandbox {
    /// Started as they are.
    #[default]
    Off,
    /// Started inside bubblewrap, this executable.
    Bwrap(Utf8PathBuf),
}

/// What one sandboxed process may touch.
#[derive(Clone, Copy, Debug)]
pub struct Confinement<'a> {
    /// Writable: the workspace (or the room). Everything else is read-only.
    pub root: &'a Utf8Path,
    /// The working directory inside the sandbox.
    pub cwd: &'a Utf8Path,
    /// Whether the process keeps the network.
    pub network: bool,
}

impl Sandbox {
    /// `program args` as this sandbox starts it: unchanged when [`Sandbox::Off`], else
    /// `bwrap <flags> -- program args`.
    pub fn wrap(&self, program: String, args: Vec<String>, confinement: Confinement<'_>) -> (String, Vec<String>) {
        match self {
            Sandbox::Off => (program, args),
            Sandbox::Bwrap(bwrap) => {
                let mut argv = flags(confinement);
                argv.push("--".to_owned());
                argv.push(program);
                argv.extend(args);
                (bwrap.to_string(), argv)
            }
        }
    }

    /// `bwrap` or `none`.
    pub fn mode(&self) -> &'static str {
        match self {
            Sandbox::Off => "none",
            Sandbox::Bwrap(_) => "bwrap",
        }
    }
}

/// The bwrap flags of a confinement (before `--`).
pub fn flags(c: Confinement<'_>) -> Vec<String> {
    let mut argv: Vec<String> = ["--die-with-parent", "--unshare-pid"].map(str::to_owned).to_vec();
    if !c.network {
        argv.push("--unshare-net".to_owned());
    }
    for part in [
        ["--ro-bind", "/", "/"].as_slice(),
        &["--dev-bind", "/dev", "/dev"],
        &["--tmpfs", "/dev/shm"],
        &["--proc", "/proc"],
        &["--tmpfs", "/tmp"],
        // After the private /tmp, so a root under /tmp is bound on top of it.
        &["--bind", c.root.as_str(), c.root.as_str()],
    ] {
        argv.extend(part.iter().map(|s| (*s).to_owned()));
    }
    // A working directory outside the root (a proxy started by hand with another --cwd) stays
    // visible, read-only, even under the private /tmp.
    if !c.cwd.starts_with(c.root) {
        argv.extend(["--ro-bind".to_owned(), c.cwd.to_string(), c.cwd.to_string()]);
    }
    argv.extend(["--chdir".to_owned(), c.cwd.to_string()]);
    argv
}

/// The `bwrap` to use: `$HARNESSGYM_BWRAP` when set (a path, or a name looked up on `PATH`),
/// else `bwrap` on `PATH`; when there is none, why not.
pub fn find_bwrap() -> Result<Utf8PathBuf, String> {
    let named = std::env::var(BWRAP_ENV).ok().filter(|v| !v.is_empty());
    let name = named.as_deref().unwrap_or("bwrap");
    let found = if name.contains('/') {
        Some(Utf8PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':').filter(|d| !d.is_empty()).map(|d| Utf8PathBuf::from(d).join(name)).find(|p| p.is_file())
    };
    found.ok_or_else(|| match &named {
        Some(named) => format!("{BWRAP_ENV}={named} is not an executable file"),
        None => "bubblewrap (bwrap) is not installed (not on PATH)".to_owned(),
    })
}

/// Runs `true` inside the full sandbox (network off, the root `/tmp`): `Ok` when bubblewrap works
/// here (user or PID namespaces may be unavailable in a container), else why not.
pub async fn probe(bwrap: &Utf8Path) -> Result<(), String> {
    let root = Utf8Path::new("/tmp");
    let mut argv = flags(Confinement { root, cwd: root, network: false });
    argv.extend(["--".to_owned(), "true".to_owned()]);
    let mut child = spawn_piped(PipedSpec::new(bwrap.as_str(), "/").args(argv)).map_err(|e| e.to_string())?;
    child.stdin = None;
    match child.wait_for_exit(PROBE_TIMEOUT).await {
        Some(status) if status.success() => Ok(()),
        Some(status) => {
            let tail = child.stderr_tail();
            let why = tail.trim().lines().last().unwrap_or("").to_owned();
            Err(format!("{bwrap} failed ({status}){}", if why.is_empty() { String::new() } else { format!(": {why}") }))
        }
        None => {
            child.terminate(Duration::from_secs(1)).await;
            Err(format!("{bwrap} did not finish within {PROBE_TIMEOUT:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_leaves_the_command_alone_and_bwrap_confines_it() {
        let root = Utf8Path::new("/ws");
        let c = Confinement { root, cwd: Utf8Path::new("/ws/srv"), network: true };
        assert_eq!(
            Sandbox::Off.wrap("python3".into(), vec!["s.py".into()], c),
            ("python3".into(), vec!["s.py".into()])
        );
        let (program, argv) = Sandbox::Bwrap("/usr/bin/bwrap".into()).wrap("python3".into(), vec!["s.py".into()], c);
        assert_eq!(program, "/usr/bin/bwrap");
        assert_eq!(
            argv.join(" "),
            "--die-with-parent --unshare-pid --ro-bind / / --dev-bind /dev /dev --tmpfs /dev/shm --proc /proc \
             --tmpfs /tmp --bind /ws /ws --chdir /ws/srv -- python3 s.py"
        );
        let off = flags(Confinement { network: false, ..c });
        assert!(off.contains(&"--unshare-net".to_owned()));
        assert!(!flags(c).contains(&"--unshare-net".to_owned()));
        let elsewhere = flags(Confinement { cwd: Utf8Path::new("/tmp/other"), ..c });
        assert!(elsewhere.join(" ").ends_with("--bind /ws /ws --ro-bind /tmp/other /tmp/other --chdir /tmp/other"));
    }
}
