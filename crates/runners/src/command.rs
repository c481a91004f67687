//! The `command` runner: any agent CLI described by a small TOML profile (`--runner-profile`).
//!
//! ```toml
//! program = "codex"
//! fresh = ["exec", "--json", "--skip-git-repo-check", "-"]
//! resume = ["exec", "--json", "--skip-git-repo-check", "resume", "{session_id}", "-"]
//! prompt = "stdin"            # "stdin" (default) or "argument": replaces "{prompt}" in the argv
//! agent = "Codex"             # the name used in prompts and messages
//! env = { SOME_VAR = "value" }
//!
//! [output]                    # stdout is JSON Lines; each rule: the last matching event wins
//! session_id = { when = { "/type" = "thread.started" }, pointer = "/thread_id" }
//! final_message = { when = { "/type" = "item.completed", "/item/type" = "agent_message" }, pointer = "/item/text" }
//! error = { when = { "/type" = "turn.failed" }, pointer = "/error/message" }
//! input_tokens = { when = { "/type" = "turn.completed" }, pointer = "/usage/input_tokens" }
//! cached_input_tokens = { when = { "/type" = "turn.completed" }, pointer = "/usage/cached_input_tokens" }
//! output_tokens = { when = { "/type" = "turn.completed" }, pointer = "/usage/output_tokens" }
//! cost_usd = { when = { "/type" = "result" }, pointer = "/total_cost_usd" }
//! ```
//!
//! `{session_id}`, `{workspace}` and `{prompt_file}` are replaced in `fresh`/`resume`. Profiles
//! equivalent to the native adapters ship in `profiles/`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use camino::Utf8Path;
use harnessgym_types::runner::{RunnerResult, Usage};
use serde_json::Value;
use toml_edit::{DocumentMut, Item};

use crate::agent_cli::{Invocation, Parsed, finish, missing_session, read_stdout};
use crate::launcher::AgentLauncher;
use crate::{PhaseFiles, PhaseRequest, Runner};

/// Largest prompt a profile may put into argv (Linux caps one argument at 128 KiB).
const ARGV_PROMPT_LIMIT: usize = 100 * 1024;

/// One `[output]` rule of a profile: the last JSON Lines event matching `when` gives the value
/// at `pointer`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// (JSON pointer, expected string) pairs an event must all match; empty matches every event.
    pub when: Vec<(String, String)>,
    /// The JSON pointer of the value in a matching event (a `null` there does not count).
    pub pointer: String,
}

impl Rule {
    fn pick<'a>(&self, event: &'a Value) -> Option<&'a Value> {
        let matches = self.when.iter().all(|(p, want)| event.pointer(p).and_then(Value::as_str) == Some(want.as_str()));
        if matches { event.pointer(&self.pointer).filter(|v| !v.is_null()) } else { None }
    }
}

/// How a profile's CLI gets the prompt (`prompt = ...`).
#[derive(Clone, Debug, PartialEq)]
pub enum PromptMode {
    /// On stdin (the default): no size limit.
    Stdin,
    /// In argv, replacing `{prompt}` (at most 100 KiB; see [`ArgvError`]).
    Argument,
}

/// A runner profile (`--runner-profile FILE`): the CLI, its argv for fresh and resumed phases,
/// and how to read its JSON Lines output (see the module docs for the format).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The executable (`program`).
    pub program: String,
    /// argv of an attempt (`fresh`), with placeholders.
    pub fresh: Vec<String>,
    /// argv of a resumed phase (`resume`), with `{session_id}`.
    pub resume: Vec<String>,
    /// How the prompt is delivered (`prompt`).
    pub prompt: PromptMode,
    /// The agent's name in prompts and messages (`agent`, default "the agent").
    pub agent: String,
    /// Variables set for the CLI (`env`).
    pub env: Vec<(String, String)>,
    /// The `[output]` rules by name (`session_id`, `final_message`, `error`, token counts,
    /// `cost_usd`).
    pub rules: BTreeMap<String, Rule>,
}

/// A profile that cannot be used: unreadable, not TOML, or not a valid profile.
#[derive(Debug, thiserror::Error)]
#[error("runner profile {path}: {message}")]
pub struct ProfileError {
    /// The profile file.
    pub path: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// Why [`CommandRunner::args`] cannot build a phase's argv (the phase fails with this message;
/// no process starts).
#[derive(Debug, thiserror::Error)]
pub enum ArgvError {
    /// `prompt = "argument"` with a prompt over the one-argument limit (Linux caps one argument
    /// at 128 KiB).
    #[error(
        "the prompt is {bytes} bytes, too long for one argument; use prompt = \"stdin\" or \"{{prompt_file}}\" in the profile"
    )]
    PromptTooLong {
        /// The prompt's size in bytes.
        bytes: usize,
    },
}

const RULE_NAMES: [&str; 7] =
    ["session_id", "final_message", "error", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd"];

fn strings(item: Option<&Item>, key: &str) -> Result<Vec<String>, String> {
    let Some(array) = item.and_then(Item::as_array) else { return Err(format!("`{key}` must be an array of strings")) };
    array
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("`{key}` must hold only strings")))
        .collect()
}

impl Profile {
    /// Parses and validates a profile's text (`path` names it in errors).
    pub fn parse(path: &str, text: &str) -> Result<Self, ProfileError> {
        let err = |message: String| ProfileError { path: path.to_owned(), message };
        let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| err(e.to_string()))?;
        let program =
            doc.get("program").and_then(Item::as_str).ok_or_else(|| err("`program` (string) is required".into()))?;
        let fresh = strings(doc.get("fresh"), "fresh").map_err(err)?;
        let resume = strings(doc.get("resume"), "resume").map_err(err)?;
        let prompt = match doc.get("prompt").and_then(Item::as_str).unwrap_or("stdin") {
            "stdin" => PromptMode::Stdin,
            "argument" => PromptMode::Argument,
            other => return Err(err(format!("`prompt` must be \"stdin\" or \"argument\", not {other:?}"))),
        };
        if prompt == PromptMode::Argument && !fresh.iter().chain(&resume).any(|a| a.contains("{prompt}")) {
            return Err(err("`prompt = \"argument\"` needs a \"{prompt}\" placeholder in `fresh` and `resume`".into()));
        }
        if !resume.iter().any(|a| a.contains("{session_id}")) {
            return Err(err("`resume` must contain the \"{session_id}\" placeholder".into()));
        }
        let env = match doc.get("env") {
            None => Vec::new(),
            Some(item) => item
                .as_table_like()
                .ok_or_else(|| err("`env` must be a table of strings".into()))?
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.to_owned(), s.to_owned()))
                        .ok_or_else(|| err(format!("env.{k} must be a string")))
                })
                .collect::<Result<_, _>>()?,
        };
        let mut rules = BTreeMap::new();
        if let Some(output) = doc.get("output").and_then(Item::as_table_like) {
            for (name, item) in output.iter() {
                if !RULE_NAMES.contains(&name) {
                    return Err(err(format!("unknown output rule `{name}` (known: {})", RULE_NAMES.join(", "))));
                }
                let table = item.as_table_like().ok_or_else(|| err(format!("output.{name} must be a table")))?;
                let pointer = table
                    .get("pointer")
                    .and_then(Item::as_str)
                    .ok_or_else(|| err(format!("output.{name}.pointer (a JSON pointer) is required")))?;
                let when = match table.get("when").and_then(Item::as_table_like) {
                    None => Vec::new(),
                    Some(w) => w
                        .iter()
                        .map(|(k, v)| {
                            v.as_str()
                                .map(|s| (k.to_owned(), s.to_owned()))
                                .ok_or_else(|| err(format!("output.{name}.when values must be strings")))
                        })
                        .collect::<Result<_, _>>()?,
                };
                rules.insert(name.to_owned(), Rule { when, pointer: pointer.to_owned() });
            }
        }
        Ok(Self {
            program: program.to_owned(),
            fresh,
            resume,
            prompt,
            agent: doc.get("agent").and_then(Item::as_str).unwrap_or("the agent").to_owned(),
            env,
            rules,
        })
    }

    /// Reads and parses the profile at `path`.
    pub fn load(path: &Utf8Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError { path: path.to_string(), message: format!("cannot be read: {e}") })?;
        Self::parse(path.as_str(), &text)
    }

    /// Applies the output rules to JSON Lines stdout.
    pub fn parse_output(&self, stdout: &str) -> Parsed {
        let mut found: BTreeMap<&str, Value> = BTreeMap::new();
        for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            for (name, rule) in &self.rules {
                if let Some(v) = rule.pick(&event) {
                    found.insert(name, v.clone());
                }
            }
        }
        let text = |k: &str| found.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
        let number = |k: &str| found.get(k).and_then(Value::as_u64);
        let usage = ["input_tokens", "cached_input_tokens", "output_tokens"]
            .iter()
            .any(|k| found.contains_key(k))
            .then(|| Usage {
                input_tokens: number("input_tokens"),
                cached_input_tokens: number("cached_input_tokens"),
                output_tokens: number("output_tokens"),
            });
        Parsed {
            session_id: text("session_id"),
            final_message: text("final_message"),
            usage,
            cost_usd: found.get("cost_usd").and_then(Value::as_f64),
            error: text("error"),
            transcript_lines: vec![format!("profile_program: {}", self.program)],
        }
    }
}

/// The `command` runner: any agent CLI described by a [`Profile`].
#[derive(Clone, Debug)]
pub struct CommandRunner {
    /// The CLI and how to read it.
    pub profile: Profile,
    launcher: AgentLauncher,
}

impl CommandRunner {
    /// A runner that starts the profile's CLI on this machine ([`AgentLauncher::Local`]).
    pub fn new(profile: Profile) -> Self {
        Self { profile, launcher: AgentLauncher::Local }
    }

    /// The same runner, starting its CLI through `launcher` (default [`AgentLauncher::Local`]).
    pub fn with_launcher(mut self, launcher: AgentLauncher) -> Self {
        self.launcher = launcher;
        self
    }

    /// Where this runner starts its CLI.
    pub fn launcher(&self) -> &AgentLauncher {
        &self.launcher
    }

    /// The argv of a phase, or why it cannot be built.
    pub fn args(&self, request: &PhaseRequest, prompt_file: &Utf8Path) -> Result<Vec<String>, ArgvError> {
        let template = if request.phase == crate::Phase::Attempt { &self.profile.fresh } else { &self.profile.resume };
        if self.profile.prompt == PromptMode::Argument && request.prompt.len() > ARGV_PROMPT_LIMIT {
            return Err(ArgvError::PromptTooLong { bytes: request.prompt.len() });
        }
        Ok(template
            .iter()
            .map(|a| {
                a.replace("{session_id}", request.session_id.as_deref().unwrap_or(""))
                    .replace("{workspace}", request.workspace.as_str())
                    .replace("{prompt_file}", prompt_file.as_str())
                    .replace("{prompt}", &request.prompt)
            })
            .collect())
    }
}

#[async_trait]
impl Runner for CommandRunner {
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        let agent = self.profile.agent.clone();
        if let Some(short) = missing_session(&request, &agent) {
            return short;
        }
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        let args = match self.args(&request, &files.prompt) {
            Ok(a) => a,
            Err(e) => {
                let message = e.to_string();
                let _ = PhaseFiles::write(&files.prompt, &request.prompt);
                let _ = PhaseFiles::write(&files.stderr, &format!("{message}\n"));
                let _ = PhaseFiles::write(&files.stdout, "");
                let _ = PhaseFiles::write(&files.transcript, &format!("command: <not run>\nmessage: {message}\n"));
                return crate::agent_cli::result_record(
                    &request,
                    &files,
                    crate::PhaseStatus::Failed,
                    None,
                    false,
                    0.0,
                    request.session_id.clone(),
                    message,
                    None,
                    None,
                );
            }
        };
        let invocation = Invocation {
            program: self.profile.program.clone(),
            args,
            env: self.profile.env.clone(),
            env_remove: Vec::new(),
            prompt_on_stdin: self.profile.prompt == PromptMode::Stdin,
        };
        let raw = self.launcher.run_cli(&request, &files, &invocation).await;
        let parsed = self.profile.parse_output(&read_stdout(&files.stdout));
        finish(&request, &files, &invocation, raw, parsed, &agent, "check `program` in the runner profile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODEX: &str = include_str!("../profiles/codex.toml");
    const CLAUDE: &str = include_str!("../profiles/claude.toml");

    #[test]
    fn shipped_codex_profile_parses_codex_events_like_the_native_adapter() {
        let p = Profile::parse("codex.toml", CODEX).unwrap();
        let out = concat!(
            "{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n",
            "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"DONE\"}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":4,\"cached_input_tokens\":1,\"output_tokens\":2}}\n",
        );
        let parsed = p.parse_output(out);
        let native = crate::exec::parse_events(out);
        assert_eq!(parsed.session_id, native.session_id);
        assert_eq!(parsed.final_message, native.final_message);
        assert_eq!(parsed.usage, native.usage);
    }

    #[test]
    fn shipped_claude_profile_parses_stream_json_like_the_native_adapter() {
        let p = Profile::parse("claude.toml", CLAUDE).unwrap();
        let out = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"OK\",\"session_id\":\"s\",\"total_cost_usd\":0.5,\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":1,\"output_tokens\":2}}\n";
        let parsed = p.parse_output(out);
        let native = crate::claude::parse_stream(out);
        assert_eq!(parsed.session_id, native.session_id);
        assert_eq!(parsed.final_message, native.final_message);
        assert_eq!(parsed.usage, native.usage);
        assert_eq!(parsed.cost_usd, native.cost_usd);
    }

    #[test]
    fn bad_profiles_name_the_file_and_the_problem() {
        let e = Profile::parse("p.toml", "fresh = []\nresume = []").unwrap_err();
        assert_eq!(e.to_string(), "runner profile p.toml: `program` (string) is required");
        let e = Profile::parse("p.toml", "program = \"x\"\nfresh = []\nresume = [\"r\"]").unwrap_err();
        assert!(e.to_string().contains("{session_id}"));
        let e = Profile::parse(
            "p.toml",
            "program=\"x\"\nfresh=[]\nresume=[\"{session_id}\"]\n[output]\nbogus={pointer=\"/a\"}",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown output rule `bogus`"));
    }

    /// Near-valid profile text: lines of the real keys with values of every TOML type
    /// (strings with and without the placeholders, arrays, inline tables, bad syntax), in any
    /// order, with and without the `[output]` / `[env]` headers.
    fn near_profile() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = proptest::sample::select(
            &[
                "program",
                "fresh",
                "resume",
                "prompt",
                "agent",
                "env",
                "session_id",
                "final_message",
                "error",
                "input_tokens",
                "cost_usd",
                "output",
                "pointer",
                "when",
                "nope",
            ][..],
        );
        let value = proptest::sample::select(
            &[
                "\"codex\"",
                "\"stdin\"",
                "\"argument\"",
                "[\"exec\", \"{prompt}\"]",
                "[\"resume\", \"{session_id}\", \"{prompt}\"]",
                "[1, 2]",
                "[]",
                "{ A = \"b\" }",
                "{ A = 1 }",
                "{ when = { \"/type\" = \"x\" }, pointer = \"/id\" }",
                "{ when = { \"/type\" = 1 }, pointer = \"/id\" }",
                "{ pointer = 3 }",
                "{ when = \"x\", pointer = \"\" }",
                "42",
                "true",
                "1979-05-27T07:32:00Z",
                "\"unterminated",
                "[[[",
                "",
            ][..],
        );
        let line = prop_oneof![
            4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            1 => proptest::sample::select(&["[output]", "[env]", "[output.error]", "[[output]]", "# c", "=", "\u{feff}"][..])
                .prop_map(str::to_owned),
            1 => "[ -~]{0,16}",
        ];
        proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
    }

    proptest::proptest! {
        /// Arbitrary text and near-valid profiles: `Profile::parse` is a profile (whose
        /// `resume` has the session placeholder) or an error naming the file with a message;
        /// a parsed profile reads any stdout (arbitrary text, JSON lines of its own pointers)
        /// without panicking.
        #[test]
        fn profile_text_is_a_profile_or_a_clear_error(
            text in ".{0,200}",
            near in near_profile(),
            stdout in proptest::collection::vec(
                prop_oneof![
                    "[ -~]{0,30}".boxed(),
                    Just("{\"type\": \"x\", \"id\": 7}".to_owned()).boxed(),
                    Just("{\"type\": \"thread.started\", \"thread_id\": null}".to_owned()).boxed(),
                    Just("{\"usage\": {\"input_tokens\": -1}}".to_owned()).boxed(),
                    Just("{\"total_cost_usd\": \"x\"".to_owned()).boxed(),
                ],
                0..8,
            ),
        ) {
            let stdout = stdout.join("\n");
            for input in [text.as_str(), near.as_str(), CODEX, CLAUDE] {
                match Profile::parse("p.toml", input) {
                    Ok(profile) => {
                        let placeholder = "{session_id}";
                        proptest::prop_assert!(profile.resume.iter().any(|a| a.contains(placeholder)));
                        let _ = profile.parse_output(&stdout);
                    }
                    Err(e) => {
                        proptest::prop_assert!(!e.message.is_empty());
                        proptest::prop_assert!(e.to_string().starts_with("runner profile p.toml: "));
                    }
                }
            }
        }
    }

    #[test]
    fn deeply_nested_profile_text_is_an_error_not_a_stack_overflow() {
        for open in ["[", "{a="] {
            let text = format!("program = {}", open.repeat(100_000));
            let e = Profile::parse("p.toml", &text).err();
            assert!(e.is_some_and(|e| !e.message.is_empty()), "{open}");
        }
    }
}
