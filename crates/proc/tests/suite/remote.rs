//! `run_remote` against a real sshd started on 127.0.0.1 (the "remote host" is this machine, so
//! remote pids can be checked directly).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use harnessgym_proc::remote::{RemoteError, RemoteSpec, RemoteWorkspace, run_remote};
use harnessgym_test_support::sshd::{TestSshd, unused_port};
use tokio::sync::watch;

use super::support::{Scratch, bounded, cleanup, is_dead, read_pid_file, wait_dead};

/// A local workspace, a remote directory (on this machine) and log paths.
struct Fixture {
    scratch: Scratch,
    ws: Utf8PathBuf,
    remote: Utf8PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let scratch = Scratch::new();
        let ws = scratch.path("ws");
        let remote = scratch.path("remote/ws");
        std::fs::create_dir_all(&ws).unwrap();
        Self { scratch, ws, remote }
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.ws.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn spec(&self, sshd: &TestSshd, command: &str) -> RemoteSpec {
        let target = RemoteWorkspace { host: sshd.host(), dir: self.remote.to_string() };
        let mut spec = RemoteSpec::shell(
            target,
            &self.ws,
            command,
            self.scratch.path("logs/out.txt"),
            self.scratch.path("logs/err.txt"),
            self.scratch.path("logs/remote.txt"),
        );
        let ignore = std::fs::read_to_string(self.ws.join(".harnessgymignore")).ok();
        // The copy policy as the post command's mirror renders it.
        spec.filter_rules = harnessgym_snapshot::rsync_rules(harnessgym_snapshot::Purpose::Copy, ignore.as_deref());
        spec.kill_grace = Duration::from_secs(1);
        spec
    }

    fn out(&self) -> String {
        std::fs::read_to_string(self.scratch.path("logs/out.txt")).unwrap_or_default()
    }

    fn err(&self) -> String {
        std::fs::read_to_string(self.scratch.path("logs/err.txt")).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.path("logs/remote.txt")).unwrap_or_default()
    }
}

fn no_cancel() -> watch::Receiver<bool> {
    watch::channel(false).1
}

#[tokio::test]
async fn remote_command_runs_in_the_mirror_and_its_files_come_back() {
    let Some(sshd) = TestSshd::start_or_skip("remote_command_runs_in_the_mirror_and_its_files_come_back") else {
        return;
    };
    let f = Fixture::new();
    f.write("src/kernel.c", "int main(){}\n");
    f.write("gone.txt", "deleted remotely\n");
    f.write("build.o", "object\n");
    f.write("keep.o/inside.txt", "a directory named *.o is kept\n");
    f.write(".git/HEAD", "ref: local\n");
    f.write(".harnessgym/runs/r1/result.json", "{}\n");
    f.write("data/big.bin", "huge\n");
    f.write(".harnessgymignore", "data/\n");
    // Files only the remote copy has, on excluded paths: never pulled back, never deleted.
    std::fs::create_dir_all(f.remote.join(".git")).unwrap();
    std::fs::write(f.remote.join(".git/remote-only"), "x").unwrap();
    std::fs::create_dir_all(f.remote.join("data")).unwrap();
    std::fs::write(f.remote.join("data/dataset.bin"), "on the gpu host").unwrap();

    let command = "set -e; test -f src/kernel.c; test -f keep.o/inside.txt; \
                   for p in build.o .git/HEAD .harnessgym/runs data/big.bin; do if [ -e \"$p\" ]; then echo \"leaked $p\" >&2; exit 3; fi; done; \
                   echo built > result.txt; rm gone.txt; mkdir -p out; echo 1 > out/log.txt; \
                   mkdir -p .harnessgym/runs; echo remote > .harnessgym/runs/remote.txt; echo junk > new.o; \
                   printf '{\"score\": 1.5, \"pwd\": \"%s\"}\\n' \"$PWD\"";
    let started = Instant::now();
    let outcome = bounded(Duration::from_secs(60), run_remote(f.spec(&sshd, command), no_cancel())).await;
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\nlog:\n{}\nsshd:\n{}", f.log(), sshd.log()));
    assert_eq!(outcome.return_code, Some(0), "stderr: {}\nlog: {}", f.err(), f.log());
    assert!(outcome.synced_back && outcome.sync_back_error.is_none());
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = f.out();
    assert!(out.contains("\"score\": 1.5"), "{out}");
    assert!(out.contains(f.remote.as_str()), "ran in the remote directory: {out}");

    // Pushed: the source; not pushed: excluded names, suffixes, .harnessgymignore.
    assert!(f.remote.join("src/kernel.c").is_file());
    assert!(!f.remote.join("build.o").exists());
    assert!(!f.remote.join("data/big.bin").exists());
    // Pulled: new and changed files, deletions mirrored.
    assert_eq!(std::fs::read_to_string(f.ws.join("result.txt")).unwrap(), "built\n");
    assert_eq!(std::fs::read_to_string(f.ws.join("out/log.txt")).unwrap(), "1\n");
    assert!(!f.ws.join("gone.txt").exists(), "a file the command deleted is deleted locally");
    // Never pulled, never deleted: excluded paths on either side.
    assert!(!f.ws.join("new.o").exists());
    assert!(!f.ws.join(".harnessgym/runs/remote.txt").exists());
    assert!(!f.ws.join(".git/remote-only").exists());
    assert!(!f.ws.join("data/dataset.bin").exists());
    assert_eq!(std::fs::read_to_string(f.ws.join(".git/HEAD")).unwrap(), "ref: local\n");
    assert!(f.ws.join(".harnessgym/runs/r1/result.json").is_file());
    assert!(f.ws.join("data/big.bin").is_file());
    assert!(f.ws.join("build.o").is_file());
    assert_eq!(std::fs::read_to_string(f.remote.join("data/dataset.bin")).unwrap(), "on the gpu host");
    let log = f.log();
    assert!(log.contains("[preflight]") && log.contains("[push]") && log.contains("[pull]"), "{log}");
}

#[tokio::test]
async fn exit_codes_stdin_and_env_cross_the_connection() {
    let Some(sshd) = TestSshd::start_or_skip("exit_codes_stdin_and_env_cross_the_connection") else {
        return;
    };
    let f = Fixture::new();
    let mut spec = f.spec(&sshd, "cat > prompt.txt; printf '%s' \"$HG_TEST_VALUE\" > env.txt; exit 7");
    spec.stdin = harnessgym_proc::StdinSource::Bytes(b"a prompt with 'quotes' and $dollars\n".to_vec());
    spec.env = vec![("HG_TEST_VALUE".into(), "it's $here".into())];
    let outcome = bounded(Duration::from_secs(60), run_remote(spec, no_cancel())).await.unwrap();
    assert_eq!(outcome.return_code, Some(7));
    assert!(!outcome.timed_out && !outcome.cancelled);
    assert_eq!(std::fs::read_to_string(f.ws.join("prompt.txt")).unwrap(), "a prompt with 'quotes' and $dollars\n");
    assert_eq!(std::fs::read_to_string(f.ws.join("env.txt")).unwrap(), "it's $here");
    // The control files are cleaned up.
    let control: Vec<_> = std::fs::read_dir(f.remote.join(".harnessgym/remote")).unwrap().collect();
    assert!(control.is_empty(), "{control:?}");
}

#[tokio::test]
async fn remote_timeout_kills_the_remote_process_group() {
    let Some(sshd) = TestSshd::start_or_skip("remote_timeout_kills_the_remote_process_group") else {
        return;
    };
    let f = Fixture::new();
    // The leader ignores SIGTERM, so only the SIGKILL after the grace period ends it; a
    // background grandchild is in the same group.
    let mut spec =
        f.spec(&sshd, "echo $$ > leader.pid; trap '' TERM; sleep 300 & echo $! > child.pid; echo started; wait; wait");
    spec.timeout = Some(Duration::from_secs(2));
    let started = Instant::now();
    let run = tokio::spawn(run_remote(spec, no_cancel()));
    let leader = read_pid_file(&f.remote.join("leader.pid")).await;
    let child = read_pid_file(&f.remote.join("child.pid")).await;
    assert!(!is_dead(leader) && !is_dead(child));
    let outcome = bounded(Duration::from_secs(60), run).await.unwrap();
    let elapsed = started.elapsed();
    let dead = (wait_dead(leader).await, wait_dead(child).await);
    cleanup(leader);
    cleanup(child);
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{}", f.log()));
    assert!(outcome.timed_out, "{outcome:?}");
    assert_eq!(outcome.return_code, None);
    assert_eq!(outcome.remote_pgid, Some(u32::try_from(leader).unwrap()), "{}", f.log());
    assert!(outcome.remote_kill.as_deref().unwrap_or("").contains("SIGKILL"), "{outcome:?}");
    assert_eq!(dead, (true, true), "the remote group survived the timeout");
    assert!(wait_dead(i32::try_from(outcome.local_pid).unwrap()).await, "the local ssh survived");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // Synced back after the timeout, like a local command's partial effects.
    assert!(outcome.synced_back);
    assert_eq!(std::fs::read_to_string(f.ws.join("leader.pid")).unwrap().trim(), leader.to_string());
    assert!(f.out().contains("started"));
}

#[tokio::test]
async fn cancellation_kills_the_remote_group_and_skips_the_pull() {
    let Some(sshd) = TestSshd::start_or_skip("cancellation_kills_the_remote_group_and_skips_the_pull") else {
        return;
    };
    let f = Fixture::new();
    let spec = f.spec(&sshd, "echo $$ > leader.pid; sleep 300");
    let (tx, rx) = watch::channel(false);
    let run = tokio::spawn(run_remote(spec, rx));
    let leader = read_pid_file(&f.remote.join("leader.pid")).await;
    tx.send(true).unwrap();
    let outcome = bounded(Duration::from_secs(60), run).await.unwrap();
    let dead = wait_dead(leader).await;
    cleanup(leader);
    let outcome = outcome.unwrap();
    assert!(outcome.cancelled && !outcome.timed_out);
    assert!(dead, "the remote group survived the cancellation");
    assert!(!outcome.synced_back);
    assert!(outcome.sync_back_error.unwrap().contains("interrupted"));
    assert!(!f.ws.join("leader.pid").exists());
}

#[tokio::test]
async fn unreachable_host_is_a_clear_error_not_a_hang() {
    let Some(sshd) = TestSshd::start_or_skip("unreachable_host_is_a_clear_error_not_a_hang") else {
        return;
    };
    let f = Fixture::new();
    let mut spec = f.spec(&sshd, "echo never");
    spec.target.host.port = Some(unused_port());
    let started = Instant::now();
    let err = bounded(Duration::from_secs(60), run_remote(spec.clone(), no_cancel())).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = err.to_string();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err:?}");
    assert!(text.contains(&sshd.user) && text.contains("127.0.0.1") && text.contains("refused"), "{text}");
    assert!(!f.remote.exists());

    // A wrong key: refused by the server, also named.
    spec.target.host.port = Some(sshd.port);
    spec.target.host.ssh_args = vec![
        "-F".into(),
        "/dev/null".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-i".into(),
        "/nonexistent-key".into(),
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        "UserKnownHostsFile=/dev/null".into(),
    ];
    let err = bounded(Duration::from_secs(60), run_remote(spec, no_cancel())).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach") && err.to_string().contains("Permission denied"), "{err}");
}

#[tokio::test]
async fn missing_remote_program_is_named() {
    let Some(sshd) = TestSshd::start_or_skip("missing_remote_program_is_named") else {
        return;
    };
    let f = Fixture::new();
    let mut spec = f.spec(&sshd, "echo never");
    spec.require = vec!["harnessgym-no-such-tool".into()];
    let err = bounded(Duration::from_secs(60), run_remote(spec, no_cancel())).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("harnessgym-no-such-tool") && text.contains(&sshd.user), "{text}");

    let mut spec = f.spec(&sshd, "echo never");
    spec.target.host.rsync_program = "/nonexistent/rsync".into();
    let err = bounded(Duration::from_secs(60), run_remote(spec, no_cancel())).await.unwrap_err();
    assert!(matches!(err, RemoteError::LocalProgramMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("apt-get install rsync"), "{err}");
}

#[tokio::test]
async fn probe_resolves_paths_and_files_and_links_are_placed_before_the_command() {
    let Some(sshd) = TestSshd::start_or_skip("probe_resolves_paths_and_files_and_links_are_placed_before_the_command")
    else {
        return;
    };
    let f = Fixture::new();
    let target = RemoteWorkspace { host: sshd.host(), dir: f.remote.to_string() };
    let probe = bounded(
        Duration::from_secs(60),
        harnessgym_proc::remote::probe(
            &target,
            &f.ws,
            &f.scratch.path("logs/probe.txt"),
            &[],
            &["sh".to_owned(), "harnessgym-no-such-tool".to_owned()],
            no_cancel(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(probe.dir, f.remote.as_str());
    assert!(probe.programs[0].as_deref().is_some_and(|p| p.ends_with("/sh")), "{probe:?}");
    assert_eq!(probe.programs[1], None);

    f.write("skills/k/SKILL.md", "skill\n");
    let mut spec = f.spec(&sshd, "cat conf/app.json; echo; cat link/SKILL.md");
    spec.files = vec![("conf/app.json".into(), "{\"ws\": \"it's here\"}".into())];
    spec.links = vec![("link".into(), format!("{}/skills/k", f.remote))];
    spec.pull_only_rules = vec!["- /conf/".into(), "- /link".into()];
    let outcome = bounded(Duration::from_secs(60), run_remote(spec.clone(), no_cancel())).await.unwrap();
    assert_eq!(outcome.return_code, Some(0), "{}", f.err());
    assert_eq!(f.out(), "{\"ws\": \"it's here\"}\nskill\n");
    assert!(!f.ws.join("conf").exists() && !f.ws.join("link").exists(), "pull-only exclusions are not pulled");

    spec.files = vec![("../escape".into(), String::new())];
    let err = run_remote(spec, no_cancel()).await.unwrap_err();
    assert!(matches!(err, RemoteError::Invalid(_)), "{err:?}");
}
