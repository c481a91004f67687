//! Spawning: program lookup, working directory, environment.

use std::time::Duration;

use harnessgym_proc::{CommandSpec, ProcError, append_note, run};

use super::support::{Scratch, bounded};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_not_found_and_names_the_program() {
    let s = Scratch::new();
    let spec = CommandSpec::new("harnessgym-no-such-program-xyz", &s.root, s.out(), s.err());
    let err = bounded(LIMIT, run(spec)).await.expect_err("must fail");
    match &err {
        ProcError::NotFound { program, .. } => {
            assert_eq!(program, "harnessgym-no-such-program-xyz")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("harnessgym-no-such-program-xyz"), "{err}");
    // The output files exist, so a caller can note the failure in them.
    append_note(&s.err(), "Codex executable not found: harnessgym-no-such-program-xyz").expect("note");
    assert_eq!(s.read(&s.err()), b"Codex executable not found: harnessgym-no-such-program-xyz\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_by_path_is_not_found() {
    let s = Scratch::new();
    let spec = CommandSpec::new(s.path("nope/bin").as_str(), &s.root, s.out(), s.err());
    let err = bounded(LIMIT, run(spec)).await.expect_err("must fail");
    assert!(matches!(err, ProcError::NotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_executable_program_is_a_spawn_error() {
    let s = Scratch::new();
    let script = s.path("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    let spec = CommandSpec::new(script.as_str(), &s.root, s.out(), s.err());
    let err = bounded(LIMIT, run(spec)).await.expect_err("must fail");
    assert!(matches!(err, ProcError::Spawn { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_cwd_is_an_io_error_naming_the_directory_not_not_found() {
    let s = Scratch::new();
    let cwd = s.path("no-such-dir");
    let spec = CommandSpec::new("true", &cwd, s.out(), s.err());
    let err = bounded(LIMIT, run(spec)).await.expect_err("must fail");
    match &err {
        ProcError::Io { path, .. } => assert_eq!(*path, cwd),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cwd_is_honoured() {
    let s = Scratch::new();
    let work = s.path("work dir");
    std::fs::create_dir(&work).expect("mkdir");
    let spec = CommandSpec::new("pwd", &work, s.out(), s.err()).arg("-P");
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(String::from_utf8_lossy(&s.read(&s.out())), format!("{work}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_is_added_and_removed_on_top_of_the_inherited_environment() {
    let s = Scratch::new();
    let spec = s
        .sh(r#"printf '%s|%s|%s' "$HG_PROC_TEST" "${HOME-unset}" "${PATH:+has-path}""#)
        .env("HG_PROC_TEST", "value with spaces")
        .env_remove("HOME");
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(s.read(&s.out()), b"value with spaces|unset|has-path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_is_resolved_through_path() {
    let s = Scratch::new();
    let bin = s.path("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let tool = bin.join("hg-proc-test-tool");
    std::fs::write(&tool, "#!/bin/sh\necho from-path-tool\n").expect("write");
    let mut perms = std::fs::metadata(&tool).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&tool, perms).expect("chmod");
    let path = format!("{bin}:/usr/bin:/bin");
    let spec = CommandSpec::new("hg-proc-test-tool", &s.root, s.out(), s.err()).env("PATH", path);
    let outcome = bounded(LIMIT, run(spec)).await.expect("run");
    assert!(outcome.success());
    assert_eq!(s.read(&s.out()), b"from-path-tool\n");
}
