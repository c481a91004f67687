//! Helpers shared by the integration tests.

use std::future::Future;
use std::time::Duration;

use camino::Utf8PathBuf;
use harnessgym_mcp::ServerCommand;

/// Generous: the point is that calls return at all.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A roomy per-request timeout for servers that should answer at once.
pub const ANSWER: Duration = Duration::from_secs(20);

/// The fixture server with these flags, run by `python3` in the crate dir.
pub fn fixture(flags: &[&str]) -> ServerCommand {
    let dir = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = dir.join("tests/fixtures/mcp_server.py");
    let mut args = vec!["-u".to_owned(), script.into_string()];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    ServerCommand::new("python3", args, dir)
}

/// Fails the test instead of hanging it forever ([`LIMIT`]).
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    harnessgym_test_support::bounded(LIMIT, fut).await
}

pub use harnessgym_test_support::process::wait_dead;
