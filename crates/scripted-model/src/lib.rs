//! A scripted model server on 127.0.0.1 that lets the **real** `codex`
//! (0.169, OpenAI Responses API over SSE) and `claude` (2.1.330, Anthropic
//! Messages API streaming) CLIs rehearse a HarnessGym run at zero token cost
//! (`harnessgym run … --model-script FILE`), and lets tests drive them
//! deterministically.
//!
//! # How a request is answered (stateless)
//!
//! Each reply is a pure function of the request body, so retries, parallel
//! runs and resumed sessions all get the same answer:
//!
//! * **phase** — the first script phase (in script order) whose `match`
//!   string occurs in the **last user message that matches any phase**.
//!   Not simply the first user message: a resumed session (reflect, build)
//!   carries the attempt's history first and its own prompt last. Codex:
//!   `input` items with role `user` (the `<environment_context>` message
//!   does not match); claude: `messages` with role `user`, all text blocks
//!   joined (the first also carries a `<system-reminder>`).
//! * **step** — the number of tool results after that message
//!   (`*_call_output` items for codex, `tool_result` blocks for claude).
//! * the reply plays `steps[step]`; past the last step a final text ends the
//!   turn ([`Outcome::PastEnd`]); with no matching phase a short text
//!   ([`Outcome::Unmatched`], e.g. a side request).
//!
//! # Script format
//!
//! ```json
//! {
//!   "phases": [
//!     {"name": "attempt", "match": "HarnessGym attempt", "steps": [
//!       {"shell": "echo hi > out.txt"},
//!       {"mcp": {"server": "probe", "tool": "echo", "arguments": {"text": "ping"}}},
//!       {"shell": "printf '{\"score\": 1}' > result.json"},
//!       {"text": "ATTEMPT DONE"}
//!     ]},
//!     {"match": "reflect", "steps": [{"text": "Build a skill."}]}
//!   ],
//!   "usage": {"input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 10}
//! }
//! ```
//!
//! `name` defaults to `match`; `usage` (reported by every reply) defaults to
//! the figures above; `arguments` defaults to `{}`. Unknown keys are errors.
//!
//! | step | codex (Responses SSE) | claude (Messages SSE) |
//! |---|---|---|
//! | `shell` | `function_call` `exec_command {"cmd"}` (or `shell_command {"command"}`, `shell {"command": ["bash","-lc",…]}`, whichever `tools` lists) | `tool_use` `Bash {"command"}` |
//! | `mcp` | `function_call` with `"namespace": "mcp__<server>"`, `"name": "<tool>"` | `tool_use` `mcp__<server>__<tool>` |
//! | `text` | `message` with one `output_text` | `text` block, `stop_reason: end_turn` |
//!
//! # Failing loudly
//!
//! A scripted MCP tool (or the shell tool) missing from the request's
//! `tools` is the regression catch for framing, environment and approval
//! bugs that otherwise pass silently with exit 0: the server answers an
//! API-shaped error whose message starts `MCP TOOL NOT VISIBLE` and logs an
//! [`Outcome::Failure`]. The status is chosen per client so the message
//! reaches the user after one request (verified with the real CLIs): codex
//! gets **422** and fails the turn (`turn.failed`, exit 1, "unexpected
//! status 422 Unprocessable Entity: MCP TOOL NOT VISIBLE: …"; a 5xx body
//! would be hidden behind "We're currently experiencing high demand");
//! claude gets **500** and ends with `is_error: true`, exit 1, "API Error:
//! 500 MCP TOOL NOT VISIBLE: …" (a 4xx makes it send the request three
//! times). Both fail in under a second with the rehearsal settings. An
//! unknown method or path gets 404 and [`Outcome::NotFound`].
//! [`ScriptedModelServer::failures`] lists both; a clean rehearsal has none.
//!
//! # Routes
//!
//! `POST /v1/responses` (codex), `POST /v1/messages` (claude; the query,
//! `?beta=true`, is ignored; JSON instead of SSE when `stream` is false),
//! `POST /v1/messages/count_tokens`, `GET /v1/models` (empty list), `HEAD`
//! anything (200). Everything else is 404.
//!
//! # Decision: a hand-written HTTP/1.1 server, not hyper/axum
//!
//! Two known clients send plain HTTP/1.1 to an `http://` base URL — no TLS,
//! no HTTP/2 (that needs TLS/ALPN or prior knowledge, which neither uses),
//! no request compression (codex's body was verified uncompressed; a
//! `Content-Encoding` is refused with 415 so it cannot go unnoticed). Every
//! reply is computed whole before it is sent (the script has no timing), so
//! each response carries `Content-Length` plus `Connection: close`: the SSE
//! body ends exactly where both clients expect it, and no keep-alive state
//! is needed (the verified Python mock also closed each connection). The
//! reader accepts `Content-Length` and chunked bodies and answers
//! `Expect: 100-continue`. That is ~200 lines (module `http`) on tokio,
//! against hyper + http + httparse + their features for one test fixture.
//!
//! # Client setup
//!
//! [`CodexRehearsal`] / [`ClaudeRehearsal`] return the files, environment
//! and arguments (pure functions; runners spawn through `harnessgym-proc`).

mod anthropic;
pub mod clients;
mod error;
mod http;
mod log;
mod openai;
mod script;
mod server;
mod turn;

pub use clients::{CLAUDE_MODEL, CODEX_MODEL, ClaudeRehearsal, CodexRehearsal, EnvPlan};
pub use error::{ScriptError, ScriptedModelError};
pub use log::{Api, LoggedRequest, Outcome};
pub use script::{McpCall, Phase, Script, Step, Usage};
pub use server::{ScriptedModelServer, ServerOptions};
