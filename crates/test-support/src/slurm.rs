//! A throwaway single-node Slurm cluster for tests: munged, slurmctld and slurmd (Debian's
//! packages) in the foreground, every file in a temporary directory, ports on 127.0.0.1, the
//! node declaring more CPUs than tasks so that only an array's throttle limits concurrency.
//! Dropping it cancels every job and kills the daemons.
//!
//! [`TestSlurm::start_or_skip`] is what tests call: when a daemon or client command is missing it
//! panics under `CI=true` (CI installs `slurmctld slurmd slurm-client munge`) and otherwise
//! prints `NOT RUN: …` and returns `None`. Every client command needs [`TestSlurm::env`]
//! (`SLURM_CONF`): without it Slurm looks its controller up in DNS, which leaves the loopback.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use crate::sshd::unused_port;

/// A running test cluster.
pub struct TestSlurm {
    daemons: Vec<Child>,
    dir: tempfile::TempDir,
    /// `slurm.conf` (export it as `SLURM_CONF`).
    pub conf: Utf8PathBuf,
    /// The user jobs run as (the current user).
    pub user: String,
}

fn find(name: &str) -> Option<Utf8PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .filter(|d| !d.is_empty())
        .map(|d| Utf8Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn current_user() -> Result<String, String> {
    let out = Command::new("id").arg("-un").output().map_err(|e| format!("cannot run `id -un`: {e}"))?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if name.is_empty() { Err("`id -un` printed no user name".into()) } else { Ok(name) }
}

impl TestSlurm {
    /// Starts the cluster with `cpus` CPUs declared on its one node, or says why it cannot.
    pub fn start(cpus: u32) -> Result<Self, String> {
        let mut programs = Vec::new();
        for (name, package) in [
            ("munged", "munge"),
            ("slurmctld", "slurmctld"),
            ("slurmd", "slurmd"),
            ("sbatch", "slurm-client"),
            ("squeue", "slurm-client"),
            ("scontrol", "slurm-client"),
            ("scancel", "slurm-client"),
            ("sinfo", "slurm-client"),
        ] {
            programs.push(find(name).ok_or_else(|| {
                format!("{name} is not installed (Debian/Ubuntu: apt-get install slurmctld slurmd slurm-client munge; {package})")
            })?);
        }
        let (munged, slurmctld, slurmd) = (&programs[0], &programs[1], &programs[2]);
        let user = current_user()?;
        loopback_only_fix()?;
        let dir = tempfile::Builder::new().prefix("hg-slurm-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let base = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).map_err(|_| "tempdir is not UTF-8")?;
        let io = |e: std::io::Error| e.to_string();
        // munged wants o+x on every directory above its socket; its key stays in a 0700 one.
        for sub in ["munge", "etc", "state", "spool/localhost", "log", "run"] {
            std::fs::create_dir_all(base.join(sub)).map_err(io)?;
        }
        for (path, mode) in [(base.clone(), 0o755), (base.join("munge"), 0o755), (base.join("etc"), 0o700)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        let key = base.join("etc/munge.key");
        let mut bytes = vec![0u8; 1024];
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(io)?;
        std::fs::write(&key, &bytes).map_err(io)?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).map_err(io)?;
        std::fs::write(base.join("plugstack.conf"), "").map_err(io)?;
        let (ctld_port, slurmd_port) = (unused_port(), unused_port());
        let conf = base.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=hgtest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={ctld_port}\n\
                 SlurmdPort={slurmd_port}\nSlurmUser={user}\nSlurmdUser={user}\nAuthType=auth/munge\n\
                 CredType=cred/munge\nAuthInfo=socket={base}/munge/munge.socket\nStateSaveLocation={base}/state\n\
                 SlurmdSpoolDir={base}/spool/%n\nSlurmctldPidFile={base}/run/slurmctld.pid\n\
                 SlurmdPidFile={base}/run/slurmd.pid\nSlurmctldLogFile={base}/log/slurmctld.log\n\
                 SlurmdLogFile={base}/log/slurmd.log\nSlurmctldDebug=info\nSlurmdDebug=info\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\nSwitchType=switch/none\n\
                 MailProg=/bin/true\nSlurmdParameters=config_overrides\nPlugStackConfig={base}/plugstack.conf\n\
                 AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none\n\
                 SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nSchedulerType=sched/backfill\n\
                 SchedulerParameters=batch_sched_delay=0\nMinJobAge=600\nReturnToService=2\nKillWait=2\n\
                 UnkillableStepTimeout=10\nInactiveLimit=0\nSlurmdTimeout=30\nSlurmctldTimeout=30\nMessageTimeout=10\n\
                 NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN\n\
                 PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO\n"
            ),
        )
        .map_err(io)?;
        let mut cluster = Self { daemons: Vec::new(), dir, conf: conf.clone(), user };
        let log = |name: &str| -> Result<Stdio, String> {
            std::fs::File::create(base.join("log").join(format!("{name}.out"))).map(Stdio::from).map_err(io)
        };
        let socket = base.join("munge/munge.socket");
        let munge = Command::new(munged)
            .args(["-F", "--force", "--key-file", key.as_str(), "--socket", socket.as_str()])
            .arg(format!("--pid-file={base}/run/munged.pid"))
            .arg(format!("--log-file={base}/log/munged.log"))
            .arg(format!("--seed-file={base}/run/munged.seed"))
            .stdin(Stdio::null())
            .stdout(log("munged")?)
            .stderr(log("munged.err")?)
            .spawn()
            .map_err(|e| format!("cannot start munged: {e}"))?;
        cluster.daemons.push(munge);
        let started = Instant::now();
        while !socket.exists() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("munged made no socket in 10 s: {}", cluster.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let ctld = Command::new(slurmctld)
            .args(["-D", "-i", "-f", conf.as_str()])
            .env("SLURM_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(log("slurmctld")?)
            .stderr(log("slurmctld.err")?)
            .spawn()
            .map_err(|e| format!("cannot start slurmctld: {e}"))?;
        cluster.daemons.push(ctld);
        let node = Command::new(slurmd)
            .args(["-D", "-N", "localhost", "-f", conf.as_str()])
            .env("SLURM_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(log("slurmd")?)
            .stderr(log("slurmd.err")?)
            .spawn()
            .map_err(|e| format!("cannot start slurmd: {e}"))?;
        cluster.daemons.push(node);
        let started = Instant::now();
        loop {
            // `idle*` is a node that has not registered yet.
            let state = cluster.client("sinfo", &["-h", "-o", "%t"]).unwrap_or_default();
            if state.trim() == "idle" {
                return Ok(cluster);
            }
            for d in &mut cluster.daemons {
                if let Ok(Some(status)) = d.try_wait() {
                    return Err(format!("a Slurm daemon exited ({status}): {}", cluster.logs()));
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("the node was not idle within 30 s (sinfo: {state:?}): {}", cluster.logs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a cluster with `cpus` CPUs; when that is impossible, panics under `CI=true` and
    /// otherwise prints `NOT RUN: <test>: <why>` and returns `None`.
    pub fn start_or_skip(test: &str, cpus: u32) -> Option<Self> {
        match Self::start(cpus) {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: cannot start a test Slurm cluster under CI=true: {why}")
            }
            Err(why) => {
                eprintln!("NOT RUN: {test}: {why}");
                None
            }
        }
    }

    /// The environment every Slurm client command (and `harnessgym compare --executor slurm`)
    /// needs: `SLURM_CONF`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SLURM_CONF".to_owned(), self.conf.to_string())]
    }

    /// Runs a Slurm client command against this cluster; its stdout, or its stderr as the error.
    pub fn client(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// `squeue -h -r -t all -o '%F|%K|%T|%r'`: every array task the cluster knows, one line each.
    pub fn tasks(&self) -> Vec<String> {
        self.client("squeue", &["-h", "-r", "-t", "all", "-o", "%F|%K|%T|%r"])
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The daemons' logs (for failing tests).
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["munged.log", "slurmctld.log", "slurmd.log", "slurmctld.err.out", "slurmd.err.out"] {
            let body = std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(30).collect();
            text.push_str(&format!("\n--- {name} (last lines) ---\n"));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Whether a job step's unix socket is still in the spool (its slurmstepd runs).
    fn step_sockets_left(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        let spool = self.dir.path().join("spool/localhost");
        std::fs::read_dir(spool)
            .map(|d| d.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_socket())))
            .unwrap_or(false)
    }
}

/// Slurm 22.05 binds its ports through `getaddrinfo(NULL, port, AF_INET, AI_ADDRCONFIG)`, which
/// fails ("Name or service not known") where 127.0.0.1 is the only IPv4 address — in the
/// loopback-only namespace `cargo xtask test` runs the suite in (glibc does not count 127.0.0.1
/// as configured). There, and only there, this gives `lo` a second loopback address, 127.0.0.2;
/// a machine with any other IPv4 address is left alone.
fn loopback_only_fix() -> Result<(), String> {
    static FIX: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FIX.get_or_init(add_loopback_address).clone()
}

fn add_loopback_address() -> Result<(), String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map_err(|e| format!("cannot run `ip -4 -o addr show` (iproute2): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let addresses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .map(|a| a.split('/').next().unwrap_or(a))
        .collect();
    if addresses.iter().any(|a| *a != "127.0.0.1") {
        return Ok(());
    }
    let status = Command::new("ip")
        .args(["addr", "add", "127.0.0.2/8", "dev", "lo"])
        .status()
        .map_err(|e| format!("cannot run `ip addr add`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("127.0.0.1 is this network namespace's only IPv4 address, where Slurm cannot bind its ports, and \
             `ip addr add 127.0.0.2/8 dev lo` failed (not root?)"
            .into())
    }
}

impl Drop for TestSlurm {
    fn drop(&mut self) {
        // Jobs first (their steps outlive slurmd), then the daemons.
        let _ = self.client("scancel", &["-u", &self.user.clone()]);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let live = self
                .client("squeue", &["-h", "-t", "R,CG,S,CF", "-o", "%i"])
                .map(|s| !s.trim().is_empty())
                .unwrap_or(false);
            if !live && !self.step_sockets_left() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}
