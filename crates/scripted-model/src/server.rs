//! The server: accept loop, routing, request log.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use camino::Utf8PathBuf;
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::ScriptedModelError;
use crate::http::{self, ReadError, Request, Response};
use crate::log::{Api, LoggedRequest, Outcome, redact_headers};
use crate::script::Script;
use crate::turn::{self, Action, Ids, Position, SseEvent};
use crate::{anthropic, openai};

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
/// The status of a step that cannot be played (a scripted tool not
/// offered), chosen per client so that the message reaches the user in one
/// request (both verified): codex 0.169 replaces any 5xx body with "We're
/// currently experiencing high demand…" but prints "unexpected status 422
/// Unprocessable Entity: <message>"; claude 2.1.330 prints "API Error: 500
/// <message>" and sends a 4xx request three times. Neither retries these
/// with the rehearsal settings.
fn script_failure_status(api: Api) -> u16 {
    match api {
        Api::OpenaiResponses => 422,
        Api::AnthropicMessages => 500,
    }
}

/// Options of [`ScriptedModelServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Also append every [`LoggedRequest`] as one JSON line to this file
    /// (created or truncated at start), for a failed run to be examined.
    pub log_jsonl: Option<Utf8PathBuf>,
}

/// A running scripted model server on 127.0.0.1. Dropping it stops it.
#[derive(Debug)]
pub struct ScriptedModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    script: Script,
    ids: Ids,
    seq: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
    log_file: Option<Mutex<std::fs::File>>,
}

impl ScriptedModelServer {
    /// Validates `script`, binds 127.0.0.1:0 and starts serving.
    pub async fn start(script: Script) -> Result<Self, ScriptedModelError> {
        Self::start_with(script, ServerOptions::default()).await
    }

    /// [`start`](Self::start) with options.
    pub async fn start_with(script: Script, options: ServerOptions) -> Result<Self, ScriptedModelError> {
        script.validate()?;
        let log_file = match &options.log_jsonl {
            Some(path) => Some(Mutex::new(
                std::fs::File::create(path)
                    .map_err(|source| ScriptedModelError::LogFile { path: path.clone(), source })?,
            )),
            None => None,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(ScriptedModelError::Bind)?;
        let addr = listener.local_addr().map_err(ScriptedModelError::Bind)?;
        let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let shared = Arc::new(Shared {
            script,
            ids: Ids::new(clock ^ u64::from(addr.port()).rotate_left(40)),
            seq: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            log_file,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, "scripted model server listening");
        Ok(Self { addr, shared, accept: Some(accept) })
    }

    /// The bound address (127.0.0.1 and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// codex's `model_providers.<id>.base_url`: `http://127.0.0.1:PORT/v1`
    /// (codex POSTs `{base_url}/responses`).
    pub fn base_url_openai(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// claude's `ANTHROPIC_BASE_URL`: `http://127.0.0.1:PORT` (claude POSTs
    /// `/v1/messages?beta=true`).
    pub fn base_url_anthropic(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The script being played.
    pub fn script(&self) -> &Script {
        &self.shared.script
    }

    /// Every request so far, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The failures and 404s so far (a clean rehearsal has none).
    pub fn failures(&self) -> Vec<LoggedRequest> {
        self.request_log().into_iter().filter(LoggedRequest::is_failure).collect()
    }

    /// Stops accepting and drops open connections.
    pub async fn shutdown(mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            // A cancelled task's JoinError is the expected outcome.
            let _ = accept.await;
        }
    }
}

impl Drop for ScriptedModelServer {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
    }
}

/// Accepts connections; each is served by a task of `connections`, so
/// aborting this task aborts them all.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(error) => {
                    tracing::warn!(%error, "scripted model server: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let read = tokio::time::timeout(http::READ_TIMEOUT, http::read_request(&mut reader, &mut writer)).await;
    let (response, head_only) = match read {
        Err(_elapsed) => {
            tracing::debug!("scripted model server: request not complete within the read timeout");
            return;
        }
        Ok(Err(ReadError::Closed)) => return,
        Ok(Err(ReadError::Io(error))) => {
            tracing::debug!(%error, "scripted model server: reading a request failed");
            return;
        }
        Ok(Err(error @ (ReadError::Bad(_) | ReadError::TooLarge(_)))) => {
            let status = if matches!(error, ReadError::TooLarge(_)) { 413 } else { 400 };
            let message = format!("scripted model server: {error}");
            let reply = json!({"error": {"message": message}});
            shared.record(LoggedRequest {
                seq: 0,
                method: String::new(),
                path: String::new(),
                headers: Default::default(),
                body: Value::Null,
                api: None,
                status,
                outcome: Outcome::Failure { phase: None, step: None, message },
                reply: reply.clone(),
            });
            (Response { status, content_type: JSON, body: reply.to_string().into_bytes() }, false)
        }
        Ok(Ok(request)) => {
            let head_only = request.method == "HEAD";
            (shared.answer(&request), head_only)
        }
    };
    if let Err(error) = http::write_response(&mut writer, &response, head_only).await {
        tracing::debug!(%error, "scripted model server: writing a response failed");
    }
}

/// A reply and how the log describes it.
struct Answer {
    api: Option<Api>,
    status: u16,
    outcome: Outcome,
    content_type: &'static str,
    body: Vec<u8>,
    reply: Value,
}

impl Answer {
    fn json(api: Option<Api>, status: u16, outcome: Outcome, value: Value) -> Self {
        Self { api, status, outcome, content_type: JSON, body: value.to_string().into_bytes(), reply: value }
    }

    fn sse(api: Api, outcome: Outcome, events: &[SseEvent]) -> Self {
        Self {
            api: Some(api),
            status: 200,
            outcome,
            content_type: EVENT_STREAM,
            body: turn::encode_sse(events),
            reply: turn::sse_for_log(events),
        }
    }
}

impl Shared {
    /// Answers one request and logs it (before the reply is written, so a
    /// client that has its reply also finds it in the log).
    fn answer(&self, request: &Request) -> Response {
        let body = parse_body(&request.body);
        let answer = self.route(request, &body);
        self.record(LoggedRequest {
            seq: 0,
            method: request.method.clone(),
            path: request.target.clone(),
            headers: redact_headers(&request.headers),
            body,
            api: answer.api,
            status: answer.status,
            outcome: answer.outcome,
            reply: answer.reply,
        });
        Response { status: answer.status, content_type: answer.content_type, body: answer.body }
    }

    fn record(&self, mut entry: LoggedRequest) {
        entry.seq = self.seq.fetch_add(1, Ordering::SeqCst);
        if entry.is_failure() {
            tracing::warn!("scripted model server: {}", entry.summary());
        }
        if let Some(file) = &self.log_file {
            let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
            let line = serde_json::to_string(&entry).unwrap_or_default();
            if let Err(error) = writeln!(file, "{line}") {
                tracing::warn!(%error, "scripted model server: could not append to the request log file");
            }
        }
        self.log.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    }

    fn route(&self, request: &Request, body: &Value) -> Answer {
        let method = request.method.as_str();
        let path = request.path();
        if method == "HEAD" {
            let mut answer = Answer::json(None, 200, Outcome::Utility, Value::Null);
            answer.body.clear();
            return answer;
        }
        let api = match (method, path) {
            ("POST", "/v1/responses") => Api::OpenaiResponses,
            ("POST", "/v1/messages") => Api::AnthropicMessages,
            ("POST", "/v1/messages/count_tokens") => {
                return Answer::json(
                    None,
                    200,
                    Outcome::Utility,
                    json!({"input_tokens": self.script.usage.input_tokens}),
                );
            }
            ("GET", "/v1/models") => {
                return Answer::json(
                    None,
                    200,
                    Outcome::Utility,
                    json!({"object": "list", "data": [], "has_more": false}),
                );
            }
            _ => {
                let message = format!("scripted model server: no route for {method} {}", request.target);
                return Answer::json(None, 404, Outcome::NotFound, json!({"error": {"message": message}}));
            }
        };
        let error_body = |message: &str| match api {
            Api::OpenaiResponses => openai::error_body(message),
            Api::AnthropicMessages => anthropic::error_body(message),
        };
        let failure = |status: u16, phase: Option<String>, step: Option<usize>, message: String| {
            let reply = error_body(&message);
            Answer::json(Some(api), status, Outcome::Failure { phase, step, message }, reply)
        };
        if let Some(encoding) =
            request.header("content-encoding").filter(|value| !value.eq_ignore_ascii_case("identity"))
        {
            return failure(
                415,
                None,
                None,
                format!(
                    "scripted model server: compressed request bodies are not supported (content-encoding: {encoding})"
                ),
            );
        }
        if !body.is_object() {
            return failure(400, None, None, "scripted model server: the request body is not a JSON object".to_owned());
        }

        let position = match api {
            Api::OpenaiResponses => {
                turn::locate(&self.script, &openai::prompts(body), |index| openai::tool_results_after(body, index))
            }
            Api::AnthropicMessages => turn::locate(&self.script, &anthropic::prompts(body), |index| {
                anthropic::tool_results_after(body, index)
            }),
        };
        let past_end;
        let (action, outcome, phase_step) = match position {
            Position::Step { phase, step } => {
                let scripted = &phase.steps[step];
                let outcome =
                    Outcome::Scripted { phase: phase.display_name().to_owned(), step, action: scripted.clone() };
                (Action::from(scripted), outcome, Some((phase.display_name().to_owned(), step)))
            }
            Position::PastEnd { phase, step } => {
                past_end = turn::past_end_text(phase, step);
                let outcome = Outcome::PastEnd { phase: phase.display_name().to_owned(), step };
                (Action::Text(&past_end), outcome, Some((phase.display_name().to_owned(), step)))
            }
            Position::Unmatched => (Action::Text(turn::UNMATCHED_TEXT), Outcome::Unmatched, None),
        };
        let usage = &self.script.usage;
        let rendered = match api {
            Api::OpenaiResponses => {
                openai::reply(action, body, &self.ids, usage).map(|events| Answer::sse(api, outcome, &events))
            }
            Api::AnthropicMessages if anthropic::is_stream(body) => {
                anthropic::reply_sse(action, body, &self.ids, usage).map(|events| Answer::sse(api, outcome, &events))
            }
            Api::AnthropicMessages => anthropic::reply_json(action, body, &self.ids, usage)
                .map(|value| Answer::json(Some(api), 200, outcome, value)),
        };
        rendered.unwrap_or_else(|message| {
            let (phase, step) = phase_step.unzip();
            failure(script_failure_status(api), phase, step, message)
        })
    }
}

/// The body as JSON; a string when it is not JSON; null when empty.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
