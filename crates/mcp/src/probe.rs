//! Which framing does a server speak? Ask it in both.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::client::{McpClient, ServerCommand, initialize_params};
use crate::{Framing, McpError};

/// After a Content-Length reply at time `t`, the newline-JSON attempt still
/// gets `t` plus this long (within the startup timeout) to answer too.
const NDJSON_EXTRA: Duration = Duration::from_secs(1);

/// Starts the server twice in parallel, sends `initialize` to one copy in
/// newline JSON and to the other with Content-Length headers, and returns
/// the framing whose copy replied with the request's id (a JSON-RPC error
/// reply counts: it proves the framing) within `startup_timeout`.
///
/// Newline JSON (the MCP spec) wins whenever it answers. A server that
/// answers in both framings is therefore ndjson; when the Content-Length copy
/// answers first, after `t`, the ndjson copy gets `t` + 1 s more (never past
/// the startup timeout) before Content-Length is declared. A slow ndjson
/// server cannot be mistaken for a Content-Length one: a newline-JSON server
/// never completes a Content-Length exchange.
///
/// Failing to start the program at all is [`McpError::Start`]; otherwise,
/// when neither copy answers, [`McpError::NoFraming`] carries both reasons.
/// Both copies are shut down before this returns. The server runs twice at
/// once: one that takes an exclusive lock or port may fail in one framing.
pub async fn detect_server_framing(cmd: &ServerCommand, startup_timeout: Duration) -> Result<Framing, McpError> {
    let started = Instant::now();
    let deadline = started + startup_timeout;
    let ndjson = McpClient::start(cmd, Framing::Ndjson)?;
    let content_length = McpClient::start(cmd, Framing::ContentLength)?;

    // The attempts borrow the clients: finish with them before shutting down.
    let (nd_result, cl_result) = {
        let nd_attempt = initialize_only(&ndjson, startup_timeout);
        let cl_attempt = initialize_only(&content_length, startup_timeout);
        tokio::pin!(nd_attempt, cl_attempt);
        let mut nd_result = None;
        let mut cl_result = None;
        while nd_result.is_none() || cl_result.is_none() {
            tokio::select! {
                r = &mut nd_attempt, if nd_result.is_none() => {
                    let ok = r.is_ok();
                    nd_result = Some(r);
                    if ok { break; }
                }
                r = &mut cl_attempt, if cl_result.is_none() => {
                    let ok = r.is_ok();
                    cl_result = Some(r);
                    if ok && nd_result.is_none() {
                        let grace = (Instant::now() + started.elapsed() + NDJSON_EXTRA).min(deadline);
                        tokio::select! {
                            r = &mut nd_attempt => nd_result = Some(r),
                            () = sleep_until(grace) => {}
                        }
                        break;
                    }
                }
            }
        }
        (nd_result, cl_result)
    };

    let verdict = match (nd_result, cl_result) {
        (Some(Ok(())), _) => Ok(Framing::Ndjson),
        (_, Some(Ok(()))) => Ok(Framing::ContentLength),
        (nd, cl) => {
            let missing = || McpError::Timeout { method: "initialize".into(), seconds: startup_timeout.as_secs_f64() };
            Err(McpError::NoFraming {
                ndjson: Box::new(nd.and_then(Result::err).unwrap_or_else(missing)),
                content_length: Box::new(cl.and_then(Result::err).unwrap_or_else(missing)),
                stderr_tail: ndjson.stderr_tail().await,
            })
        }
    };
    match &verdict {
        Ok(framing) => {
            tracing::debug!(program = %cmd.program, %framing, elapsed = ?started.elapsed(), "detected MCP framing")
        }
        Err(e) => tracing::debug!(program = %cmd.program, error = %e, "could not detect MCP framing"),
    }
    tokio::join!(ndjson.shutdown(), content_length.shutdown());
    verdict
}

/// One `initialize` request; any reply with its id (result or error) is a success.
async fn initialize_only(client: &McpClient, limit: Duration) -> Result<(), McpError> {
    match client.request("initialize", initialize_params(), limit).await {
        Ok(_) | Err(McpError::Rpc { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
