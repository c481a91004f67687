//! A throwaway `sshd` on 127.0.0.1 for tests: its own config, host key and authorized key in a
//! temporary directory, run as the current user, killed on drop.
//!
//! [`TestSshd::start_or_skip`] is what tests call: when sshd, ssh-keygen, ssh, rsync or setsid is
//! missing it panics under `CI=true` (a missing dependency must fail CI, never skip it) and
//! otherwise prints `NOT RUN: …` and returns `None`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use harnessgym_proc::RemoteHost;

/// A running test sshd.
pub struct TestSshd {
    child: Child,
    dir: tempfile::TempDir,
    /// The port sshd listens on (127.0.0.1).
    pub port: u16,
    /// The user it accepts (the current user).
    pub user: String,
    /// The client's private key.
    pub key: Utf8PathBuf,
}

/// Why a test sshd cannot be started here (a missing program, a failed key generation, an sshd
/// that exits or never listens); the text says what to install or what sshd said.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SshdUnavailable(pub String);

impl From<String> for SshdUnavailable {
    fn from(why: String) -> Self {
        Self(why)
    }
}

impl From<&str> for SshdUnavailable {
    fn from(why: &str) -> Self {
        Self(why.to_owned())
    }
}

fn find_program(name: &str, extra_dirs: &[&str]) -> Option<Utf8PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(extra_dirs.iter().copied())
        .filter(|d| !d.is_empty())
        .map(|d| Utf8Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn current_user() -> Result<String, String> {
    let out = Command::new("id").arg("-un").output().map_err(|e| format!("cannot run `id -un`: {e}"))?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if name.is_empty() { Err("`id -un` printed no user name".into()) } else { Ok(name) }
}

fn keygen(keygen: &Utf8Path, path: &Utf8Path) -> Result<(), String> {
    let status = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "harnessgym-test", "-f", path.as_str()])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("ssh-keygen failed for {path}: {status}")) }
}

/// A port nothing listens on right now (bound and released).
pub fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1)
}

impl TestSshd {
    /// Starts sshd, or says why it cannot.
    pub fn start() -> Result<Self, SshdUnavailable> {
        let sshd = find_program("sshd", &["/usr/sbin", "/usr/local/sbin", "/sbin"])
            .ok_or("sshd is not installed (Debian/Ubuntu: apt-get install openssh-server)")?;
        let ssh_keygen = find_program("ssh-keygen", &[]).ok_or("ssh-keygen is not installed (openssh-client)")?;
        for (program, package) in [("ssh", "openssh-client"), ("rsync", "rsync"), ("setsid", "util-linux")] {
            if find_program(program, &[]).is_none() {
                return Err(format!("{program} is not installed (Debian/Ubuntu: apt-get install {package})").into());
            }
        }
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        if root && !Utf8Path::new("/run/sshd").is_dir() {
            // sshd's privilege-separation directory; the Debian service creates it at start.
            std::fs::create_dir_all("/run/sshd").map_err(|e| format!("cannot create /run/sshd: {e}"))?;
        }
        let user = current_user()?;
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let base = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).map_err(|_| "tempdir is not UTF-8")?;
        let host_key = base.join("host_key");
        let key = base.join("client_key");
        keygen(&ssh_keygen, &host_key)?;
        keygen(&ssh_keygen, &key)?;
        std::fs::copy(base.join("client_key.pub"), base.join("authorized_keys")).map_err(|e| e.to_string())?;
        let config = base.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {base}/authorized_keys\n\
                 PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAllowUsers {user}\n\
                 AllowTcpForwarding no\nX11Forwarding no\nLogLevel INFO\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = base.join("sshd.log");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = unused_port();
            let mut child = Command::new(&sshd)
                .args(["-D", "-f", config.as_str(), "-p", &port.to_string(), "-E", log.as_str()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {sshd}: {e}"))?;
            let started = Instant::now();
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut err);
                    }
                    let logged = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("sshd exited ({status}): {}{}", err.trim(), logged.trim());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Self { child, dir, port, user, key });
                }
                if started.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = "sshd did not listen within 10 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Err(SshdUnavailable(last_error))
    }

    /// Starts sshd; when that is impossible, panics under `CI=true` and otherwise prints
    /// `NOT RUN: <test>: <why>` and returns `None`.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match Self::start() {
            Ok(sshd) => Some(sshd),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: cannot start a test sshd under CI=true: {why}")
            }
            Err(why) => {
                eprintln!("NOT RUN: {test}: {why}");
                None
            }
        }
    }

    /// ssh arguments that reach this sshd and nothing else (`-F /dev/null` ignores the user's
    /// config; the host key is not remembered).
    pub fn ssh_args(&self) -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-i",
            self.key.as_str(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// `user@127.0.0.1` on this sshd's port with [`Self::ssh_args`].
    pub fn host(&self) -> RemoteHost {
        let mut host = RemoteHost::new(format!("{}@127.0.0.1", self.user));
        host.port = Some(self.port);
        host.ssh_args = self.ssh_args();
        host.connect_timeout = Duration::from_secs(10);
        host
    }

    /// The sshd log (for failing tests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
