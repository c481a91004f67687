//! detect_server_framing against real fixture servers.

use std::time::{Duration, Instant};

use harnessgym_mcp::{Framing, McpError, ServerCommand, detect_server_framing};
use harnessgym_proc::ProcError;

use super::support::{bounded, fixture};

const STARTUP: Duration = Duration::from_secs(10);

async fn detect(flags: &[&str], startup: Duration) -> (Result<Framing, McpError>, Duration) {
    let started = Instant::now();
    let result = bounded(detect_server_framing(&fixture(flags), startup)).await;
    (result, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_server_is_detected_as_ndjson() {
    let (result, elapsed) = detect(&["--framing", "ndjson"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::Ndjson);
    assert!(elapsed < Duration::from_secs(8), "no need to wait for the other framing: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_server_is_detected_as_content_length() {
    let (result, elapsed) = detect(&["--framing", "content-length"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::ContentLength);
    assert!(elapsed < Duration::from_secs(8), "the ndjson grace is short: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_ndjson_server_is_still_ndjson() {
    let (result, elapsed) = detect(&["--framing", "ndjson", "--init-delay", "2"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::Ndjson);
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_content_length_server_is_content_length() {
    let (result, _) = detect(&["--framing", "content-length", "--init-delay", "1"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::ContentLength);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_speaking_both_framings_is_ndjson() {
    let (result, _) = detect(&["--framing", "auto"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::Ndjson);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initialize_error_still_proves_the_framing() {
    let (result, _) = detect(&["--framing", "content-length", "--init-error"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::ContentLength);
    let (result, _) = detect(&["--framing", "ndjson", "--init-error"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::Ndjson);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_servers_are_detected() {
    let (result, _) = detect(&["--framing", "ndjson", "--garbage", "--chatty"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::Ndjson);
    let (result, _) = detect(&["--framing", "content-length", "--chatty"], STARTUP).await;
    assert_eq!(result.expect("detected"), Framing::ContentLength);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_server_reports_both_failures_and_stderr() {
    let (result, elapsed) = detect(&["--crash"], STARTUP).await;
    let err = result.expect_err("must fail");
    match &err {
        McpError::NoFraming { ndjson, content_length, stderr_tail } => {
            assert!(matches!(**ndjson, McpError::Closed { .. }), "{ndjson:?}");
            assert!(matches!(**content_length, McpError::Closed { .. }), "{content_length:?}");
            assert!(stderr_tail.contains("boom at startup"), "{stderr_tail:?}");
        }
        other => panic!("expected NoFraming, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("ndjson: MCP server closed the connection"), "{text}");
    assert!(text.contains("content-length: MCP server closed the connection"), "{text}");
    assert!(elapsed < Duration::from_secs(8), "a crash is not a timeout: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_fails_after_the_startup_timeout() {
    let (result, elapsed) = detect(&["--init-delay", "300"], Duration::from_secs(1)).await;
    let err = result.expect_err("must fail");
    assert!(
        matches!(&err, McpError::NoFraming { ndjson, content_length, .. }
            if matches!(**ndjson, McpError::Timeout { .. }) && matches!(**content_length, McpError::Timeout { .. })),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_a_start_error() {
    let cmd = ServerCommand::new("harnessgym-no-such-mcp-server", ["x"], env!("CARGO_MANIFEST_DIR"));
    let err = bounded(detect_server_framing(&cmd, STARTUP)).await.expect_err("must fail");
    assert!(matches!(&err, McpError::Start { source: ProcError::NotFound { .. }, .. }), "{err:?}");
}
