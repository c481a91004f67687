//! MCP manifest normalisation (spec/integration.md §2.3), compatible with
//! every spelling the reference accepts, plus an optional `framing` key.
//!
//! A manifest is the JSON object an agent writes next to its server
//! (`mcp.json`, `server.json` or `harnessgym-mcp.json`). Compatibility notes:
//!
//! * Timeouts: the first *set* key of each chain wins, where null, `0`,
//!   `false` and `""` count as unset (the reference chains with `or`).
//!   Values go through Python's `int()`: numbers are truncated, numeric
//!   strings are parsed, `true` is 1; millisecond keys become
//!   `max(1, int(ms / 1000))` seconds. A negative number of seconds or a
//!   value `int()` rejects makes the manifest invalid.
//! * Scalars the reference passes through `str()` (args, enabled tools,
//!   self-test parts) are rendered like Python would (`True`, `None`, `1`).
//! * Paths are normalised lexically (`.`/`..`), not through the file
//!   system; `workspace` should already be absolute and resolved.

use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use harnessgym_types::confine::{Escape, resolve_inside};
use harnessgym_types::json::is_truthy;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::ServerCommand;
use crate::framing::Framing;

/// Default `startup_timeout_sec`.
pub const DEFAULT_STARTUP_TIMEOUT_SEC: u64 = 10;
/// Default `tool_timeout_sec`.
pub const DEFAULT_TOOL_TIMEOUT_SEC: u64 = 60;
/// Default `self_test_timeout_sec`.
pub const DEFAULT_SELF_TEST_TIMEOUT_SEC: u64 = 20;
/// The name of a server whose name sanitises to nothing.
pub const FALLBACK_SERVER_NAME: &str = "harnessgym_mcp";

/// A manifest after normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedServer {
    /// Sanitised: only `[A-Za-z0-9_-]`.
    pub name: String,
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Absolute working directory of the server.
    pub cwd: Utf8PathBuf,
    /// Tools the manifest declares (not checked against `tools/list` here).
    pub enabled_tools: Vec<String>,
    /// Limit for start-up and `initialize`.
    pub startup_timeout_sec: u64,
    /// Limit for each tool call (and `tools/list`).
    pub tool_timeout_sec: u64,
    /// Default limit for the self-test.
    pub self_test_timeout_sec: u64,
    /// The self-test command, if configured.
    pub self_test: Option<SelfTestSpec>,
    /// The framing the manifest pins (`"auto"` or absent: detect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<Framing>,
    /// `"network": false` cuts the server's network in the bundle sandbox; absent or `true`
    /// leaves it to `--bundle-network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

impl NormalizedServer {
    /// How to start this server (inherited environment).
    pub fn server_command(&self) -> ServerCommand {
        ServerCommand::new(self.command.clone(), self.args.iter().cloned(), self.cwd.clone())
    }
}

/// A normalised `self_test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestSpec {
    /// Program and arguments; may be empty (the self-test then fails).
    pub command: Vec<String>,
    /// Absolute working directory.
    pub cwd: Utf8PathBuf,
    /// Its own limit, overriding `self_test_timeout_sec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<u64>,
}

/// Why a manifest is invalid. Activation reports it as
/// `invalid mcp manifest <path>: <this message>`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The manifest.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not valid JSON: {source}")]
    Json {
        /// The manifest.
        path: Utf8PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an object.
    #[error("an MCP manifest must be a JSON object")]
    NotAnObject,
    /// No (or an empty) `command`.
    #[error("the manifest has no \"command\"")]
    MissingCommand,
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The field, e.g. `args`.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A timeout that Python's `int()` would reject, or a negative one.
    #[error("{field} must be a non-negative whole number, got {value}")]
    BadTimeout {
        /// The key, e.g. `timeouts.tool_seconds`.
        field: String,
        /// The value as written.
        value: String,
    },
    /// `self_test` has an unusable type.
    #[error("self_test must be true, false, a command string/list, or an object with command/args")]
    SelfTest,
    /// `self_test.command` has an unusable type.
    #[error("self_test.command must be a string or list")]
    SelfTestCommand,
    /// A command line that shell splitting rejects (e.g. an open quote).
    #[error("{field}: cannot split command line {line:?}: {reason}")]
    Split {
        /// `self_test` or `self_test.command`.
        field: String,
        /// The command line.
        line: String,
        /// The splitter's complaint.
        reason: String,
    },
    /// An unknown `framing`.
    #[error("framing must be \"ndjson\", \"content-length\" or \"auto\", got {0}")]
    Framing(String),
    /// A `network` that is not a boolean.
    #[error("network must be true or false, got {0}")]
    Network(String),
    /// A working directory that leaves the workspace (`..` out of it, an absolute path elsewhere
    /// that is not a stale copy of the workspace's, a symlink).
    #[error(
        "{field} {cwd:?} is not inside the workspace {workspace}: {reason}; give a path relative to the workspace that stays inside it"
    )]
    CwdOutside {
        /// `cwd` or `self_test.cwd`.
        field: &'static str,
        /// The cwd as the manifest wrote it (or as inherited from the server's).
        cwd: String,
        /// The workspace (or room) it must stay in.
        workspace: Utf8PathBuf,
        /// Which confinement rule it breaks.
        #[source]
        reason: Box<Escape>,
    },
}

/// Reads, normalises and confines the manifest at `path` ([`normalize_confined`]).
pub fn load_manifest(path: &Utf8Path, workspace: &Utf8Path) -> Result<NormalizedServer, ManifestError> {
    let text = std::fs::read(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
    let manifest: Value =
        serde_json::from_slice(&text).map_err(|source| ManifestError::Json { path: path.to_owned(), source })?;
    normalize_confined(&manifest, path, workspace)
}

/// [`normalize_manifest`], then the confinement every server we start needs: its `cwd` and its
/// self-test's `cwd` resolve inside `workspace` (after the stale-cwd rewrite), without `..`
/// leaving it and without a symlinked component ([`harnessgym_types::confine::resolve_inside`]).
/// A cwd that escapes makes the manifest invalid ([`ManifestError::CwdOutside`]), naming the
/// cwd as written.
pub fn normalize_confined(
    manifest: &Value,
    manifest_path: &Utf8Path,
    workspace: &Utf8Path,
) -> Result<NormalizedServer, ManifestError> {
    let server = normalize_manifest(manifest, manifest_path, workspace)?;
    let written = |v: Option<&Value>, resolved: &Utf8Path| match v {
        Some(Value::String(raw)) if !raw.is_empty() => raw.clone(),
        _ => resolved.to_string(),
    };
    let raw_cwd = manifest.get("cwd");
    confine_cwd("cwd", &server.cwd, || written(raw_cwd, &server.cwd), workspace)?;
    if let Some(test) = &server.self_test {
        let raw_test_cwd = manifest.get("self_test").and_then(|t| t.get("cwd"));
        let shown = || match raw_test_cwd {
            Some(Value::String(raw)) if !raw.is_empty() => raw.clone(),
            _ => written(raw_cwd, &test.cwd),
        };
        confine_cwd("self_test.cwd", &test.cwd, shown, workspace)?;
    }
    Ok(server)
}

fn confine_cwd(
    field: &'static str,
    resolved: &Utf8Path,
    written: impl FnOnce() -> String,
    workspace: &Utf8Path,
) -> Result<(), ManifestError> {
    let workspace = normalize_lexically(workspace);
    match resolve_inside(&workspace, resolved) {
        Ok(_) => Ok(()),
        Err(reason) => Err(ManifestError::CwdOutside { field, cwd: written(), workspace, reason: Box::new(reason) }),
    }
}

/// Normalises a parsed manifest. `manifest_path` supplies the default name
/// (its parent directory's name); relative paths resolve against
/// `workspace`, not the manifest's directory. Lexical only: it does not confine the
/// working directories to the workspace — whatever starts a server uses
/// [`normalize_confined`].
pub fn normalize_manifest(
    manifest: &Value,
    manifest_path: &Utf8Path,
    workspace: &Utf8Path,
) -> Result<NormalizedServer, ManifestError> {
    let Value::Object(m) = manifest else {
        return Err(ManifestError::NotAnObject);
    };
    let raw_name = match m.get("name").filter(|v| is_truthy(v)) {
        Some(name) => py_str(name),
        None => manifest_path.parent().and_then(Utf8Path::file_name).unwrap_or_default().to_owned(),
    };
    let command = match m.get("command") {
        None | Some(Value::Null) => return Err(ManifestError::MissingCommand),
        Some(v @ (Value::String(_) | Value::Number(_))) => py_str(v),
        Some(_) => return Err(ManifestError::WrongType { field: "command".into(), expected: "a string" }),
    };
    if command.is_empty() {
        return Err(ManifestError::MissingCommand);
    }
    let args = string_list(m, "args")?;
    let cwd = resolve_cwd(optional_str(m, "cwd")?, workspace, &args);
    let timeouts = match m.get("timeouts") {
        Some(Value::Object(t)) => Some(t),
        _ => None,
    };
    let startup_timeout_sec = timeout_chain(
        m,
        timeouts,
        &["startup_timeout_sec"],
        &["startup_seconds", "startup_timeout_sec"],
        &["initialize_ms", "startup_ms"],
    )?
    .unwrap_or(DEFAULT_STARTUP_TIMEOUT_SEC);
    let tool_timeout_sec = timeout_chain(
        m,
        timeouts,
        &["tool_timeout_sec"],
        &["tool_seconds", "tool_timeout_sec"],
        &["tool_call_ms", "tool_ms"],
    )?
    .unwrap_or(DEFAULT_TOOL_TIMEOUT_SEC);
    let self_test_timeout_sec = timeout_chain(
        m,
        timeouts,
        &["self_test_timeout_sec", "test_timeout_sec"],
        &["self_test_seconds", "self_test_timeout_sec"],
        &["self_test_ms", "test_ms"],
    )?
    .unwrap_or(DEFAULT_SELF_TEST_TIMEOUT_SEC);
    let self_test = normalize_self_test(m.get("self_test"), &command, &args, &cwd, workspace)?;
    let framing = match m.get("framing") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("auto") => None,
        Some(Value::String(s)) => Some(s.parse::<Framing>().map_err(|_| ManifestError::Framing(format!("{s:?}")))?),
        Some(other) => return Err(ManifestError::Framing(other.to_string())),
    };
    let network = match m.get("network") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(ManifestError::Network(other.to_string())),
    };
    Ok(NormalizedServer {
        name: sanitize_server_name(&raw_name),
        command,
        args,
        cwd,
        enabled_tools: string_list(m, "enabled_tools")?,
        startup_timeout_sec,
        tool_timeout_sec,
        self_test_timeout_sec,
        self_test,
        framing,
        network,
    })
}

/// Replaces every run of characters outside `[A-Za-z0-9_-]` with `_`; an
/// empty result becomes [`FALLBACK_SERVER_NAME`]. `"err srv!"` → `err_srv_`.
pub fn sanitize_server_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_run = false;
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    if out.is_empty() { FALLBACK_SERVER_NAME.to_owned() } else { out }
}

fn normalize_self_test(
    spec: Option<&Value>,
    command: &str,
    args: &[String],
    server_cwd: &Utf8Path,
    workspace: &Utf8Path,
) -> Result<Option<SelfTestSpec>, ManifestError> {
    let Some(spec) = spec.filter(|v| is_truthy(v)) else {
        return Ok(None);
    };
    let in_server_cwd = |command: Vec<String>| SelfTestSpec { command, cwd: server_cwd.to_owned(), timeout_sec: None };
    match spec {
        Value::Bool(true) => {
            let mut parts = vec![command.to_owned()];
            parts.extend(args.iter().cloned());
            parts.push("--self-test".to_owned());
            Ok(Some(in_server_cwd(parts)))
        }
        Value::Array(items) => Ok(Some(in_server_cwd(items.iter().map(py_str).collect()))),
        Value::String(line) => Ok(Some(in_server_cwd(split("self_test", line)?))),
        Value::Object(obj) => {
            let parts = match obj.get("command") {
                Some(Value::Array(items)) => items.iter().map(py_str).collect(),
                Some(Value::String(line)) => match obj.get("args").filter(|v| is_truthy(v)) {
                    Some(Value::Array(extra)) => {
                        let mut parts = vec![line.clone()];
                        parts.extend(extra.iter().map(py_str));
                        parts
                    }
                    Some(_) => {
                        return Err(ManifestError::WrongType { field: "self_test.args".into(), expected: "a list" });
                    }
                    None => split("self_test.command", line)?,
                },
                _ => return Err(ManifestError::SelfTestCommand),
            };
            let cwd = match obj.get("cwd") {
                None | Some(Value::Null) => server_cwd.to_owned(),
                Some(Value::String(raw)) if raw.is_empty() => server_cwd.to_owned(),
                Some(Value::String(raw)) => resolve_cwd(Some(raw), workspace, parts.get(1..).unwrap_or_default()),
                Some(_) => {
                    return Err(ManifestError::WrongType { field: "self_test.cwd".into(), expected: "a string" });
                }
            };
            let timeout_sec = first_timeout(obj, "self_test.", &["timeout_seconds", "timeout_sec"], &["timeout_ms"])?;
            Ok(Some(SelfTestSpec { command: parts, cwd, timeout_sec }))
        }
        _ => Err(ManifestError::SelfTest),
    }
}

fn split(field: &str, line: &str) -> Result<Vec<String>, ManifestError> {
    shell_words::split(line).map_err(|e| ManifestError::Split {
        field: field.to_owned(),
        line: line.to_owned(),
        reason: e.to_string(),
    })
}

/// `cwd` rules: absent → workspace; relative → under the workspace;
/// absolute elsewhere while an argument is a relative path that exists in
/// the workspace → the workspace (a manifest copied from another checkout);
/// otherwise as given.
fn resolve_cwd(raw: Option<&str>, workspace: &Utf8Path, parts: &[String]) -> Utf8PathBuf {
    let workspace = normalize_lexically(workspace);
    match raw.filter(|r| !r.is_empty()) {
        None => workspace,
        Some(raw) if Utf8Path::new(raw).is_relative() => normalize_lexically(&workspace.join(raw)),
        Some(raw) => {
            let given = Utf8PathBuf::from(raw);
            if normalize_lexically(&given) != workspace && parts.iter().any(|p| exists_in_workspace(p, &workspace)) {
                tracing::debug!(cwd = raw, %workspace, "manifest cwd points elsewhere but its arguments are workspace paths; using the workspace");
                workspace
            } else {
                given
            }
        }
    }
}

fn exists_in_workspace(part: &str, workspace: &Utf8Path) -> bool {
    if part.is_empty() || Utf8Path::new(part).is_absolute() {
        return false;
    }
    let path = normalize_lexically(&workspace.join(part));
    path.starts_with(workspace) && path != workspace && path.exists()
}

fn normalize_lexically(path: &Utf8Path) -> Utf8PathBuf {
    let mut out = Utf8PathBuf::new();
    for component in path.components() {
        match component {
            Utf8Component::CurDir => {}
            Utf8Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_str()),
        }
    }
    out
}

fn timeout_chain(
    m: &Map<String, Value>,
    timeouts: Option<&Map<String, Value>>,
    top: &[&str],
    nested_seconds: &[&str],
    nested_ms: &[&str],
) -> Result<Option<u64>, ManifestError> {
    if let Some(found) = first_timeout(m, "", top, &[])? {
        return Ok(Some(found));
    }
    match timeouts {
        Some(t) => first_timeout(t, "timeouts.", nested_seconds, nested_ms),
        None => Ok(None),
    }
}

/// The first set key of `seconds`, else of `ms` (converted), in `obj`.
fn first_timeout(
    obj: &Map<String, Value>,
    prefix: &str,
    seconds: &[&str],
    ms: &[&str],
) -> Result<Option<u64>, ManifestError> {
    for key in seconds {
        if let Some(value) = obj.get(*key).filter(|v| is_truthy(v)) {
            let field = format!("{prefix}{key}");
            let n = py_int(value).ok_or_else(|| bad_timeout(&field, value))?;
            return u64::try_from(n).map(Some).map_err(|_| bad_timeout(&field, value));
        }
    }
    for key in ms {
        if let Some(value) = obj.get(*key).filter(|v| is_truthy(v)) {
            let millis = py_float(value).ok_or_else(|| bad_timeout(&format!("{prefix}{key}"), value))?;
            // max(1, int(ms / 1000)); `as` saturates and maps NaN to 0.
            return Ok(Some(((millis / 1000.0).trunc() as i64).max(1).unsigned_abs()));
        }
    }
    Ok(None)
}

fn bad_timeout(field: &str, value: &Value) -> ManifestError {
    ManifestError::BadTimeout { field: field.to_owned(), value: value.to_string() }
}

/// Python's `int(value)` for JSON values; `None` where it raises.
fn py_int(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    }
}

fn py_float(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Python's `str()` for JSON scalars (containers fall back to compact JSON).
fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

fn optional_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ManifestError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ManifestError::WrongType { field: key.to_owned(), expected: "a string" }),
    }
}

fn string_list(m: &Map<String, Value>, key: &str) -> Result<Vec<String>, ManifestError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(py_str).collect()),
        Some(_) => Err(ManifestError::WrongType { field: key.to_owned(), expected: "a list of strings" }),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    struct Ws {
        _dir: tempfile::TempDir,
        root: Utf8PathBuf,
    }

    fn ws() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        std::fs::create_dir_all(root.join(".harnessgym/mcp/kernel-tools")).unwrap();
        std::fs::write(root.join(".harnessgym/mcp/kernel-tools/server.py"), "").unwrap();
        Ws { _dir: dir, root }
    }

    fn norm(ws: &Ws, manifest: Value) -> Result<NormalizedServer, ManifestError> {
        normalize_manifest(&manifest, &ws.root.join(".harnessgym/mcp/kernel-tools/mcp.json"), &ws.root)
    }

    #[test]
    fn minimal_manifest_gets_the_defaults() {
        let w = ws();
        let s = norm(&w, json!({"command": "python3"})).unwrap();
        assert_eq!(
            s,
            NormalizedServer {
                name: "kernel-tools".into(),
                command: "python3".into(),
                args: vec![],
                cwd: w.root,
                enabled_tools: vec![],
                startup_timeout_sec: 10,
                tool_timeout_sec: 60,
                self_test_timeout_sec: 20,
                self_test: None,
                framing: None,
                network: None,
            }
        );
    }

    #[test]
    fn network_is_a_boolean_or_absent() {
        let w = ws();
        assert_eq!(norm(&w, json!({"command": "x", "network": false})).unwrap().network, Some(false));
        assert_eq!(norm(&w, json!({"command": "x", "network": true})).unwrap().network, Some(true));
        assert_eq!(norm(&w, json!({"command": "x"})).unwrap().network, None);
        assert_eq!(
            norm(&w, json!({"command": "x", "network": "off"})).unwrap_err().to_string(),
            "network must be true or false, got \"off\""
        );
    }

    #[test]
    fn names_are_sanitised() {
        let w = ws();
        assert_eq!(norm(&w, json!({"name": "err srv!", "command": "x"})).unwrap().name, "err_srv_");
        assert_eq!(sanitize_server_name("a..b//c"), "a_b_c");
        assert_eq!(sanitize_server_name("ok_Name-2"), "ok_Name-2");
        assert_eq!(sanitize_server_name("é"), "_");
        assert_eq!(sanitize_server_name(""), "harnessgym_mcp");
        // An empty name falls back to the directory name.
        assert_eq!(norm(&w, json!({"name": "", "command": "x"})).unwrap().name, "kernel-tools");
        let bare = normalize_manifest(&json!({"command": "x"}), Utf8Path::new("mcp.json"), &w.root).unwrap();
        assert_eq!(bare.name, "harnessgym_mcp");
    }

    #[test]
    fn manifest_timeouts_in_seconds() {
        let w = ws();
        let s = norm(
            &w,
            json!({"command": "x", "timeouts": {"startup_seconds": 11, "tool_seconds": 77, "self_test_seconds": 33}}),
        )
        .unwrap();
        assert_eq!((s.startup_timeout_sec, s.tool_timeout_sec, s.self_test_timeout_sec), (11, 77, 33));
    }

    #[test]
    fn manifest_timeouts_in_milliseconds() {
        let w = ws();
        let s = norm(
            &w,
            json!({"command": "x", "timeouts": {"initialize_ms": 5000, "tool_call_ms": 120000, "self_test_ms": 45000}}),
        )
        .unwrap();
        assert_eq!((s.startup_timeout_sec, s.tool_timeout_sec, s.self_test_timeout_sec), (5, 120, 45));
    }

    #[test]
    fn every_timeout_spelling_and_precedence() {
        let w = ws();
        let t = |manifest: Value| {
            let s = norm(&w, manifest).unwrap();
            (s.startup_timeout_sec, s.tool_timeout_sec, s.self_test_timeout_sec)
        };
        assert_eq!(
            t(json!({"command": "x", "startup_timeout_sec": 1, "tool_timeout_sec": 2, "self_test_timeout_sec": 3,
                     "timeouts": {"startup_seconds": 11, "tool_seconds": 77, "self_test_seconds": 33}})),
            (1, 2, 3),
            "top-level keys win"
        );
        assert_eq!(t(json!({"command": "x", "test_timeout_sec": 4})), (10, 60, 4));
        assert_eq!(
            t(
                json!({"command": "x", "timeouts": {"startup_timeout_sec": 5, "tool_timeout_sec": 6, "self_test_timeout_sec": 7}})
            ),
            (5, 6, 7)
        );
        assert_eq!(
            t(json!({"command": "x", "timeouts": {"startup_ms": 2500, "tool_ms": 999, "test_ms": 61000}})),
            (2, 1, 61),
            "ms → max(1, int(ms/1000))"
        );
        assert_eq!(
            t(json!({"command": "x", "timeouts": {"startup_seconds": 8, "initialize_ms": 1000}})),
            (8, 60, 20),
            "seconds before ms"
        );
        assert_eq!(t(json!({"command": "x", "timeouts": {"tool_seconds": "30", "startup_seconds": 2.9}})), (2, 30, 20));
        assert_eq!(t(json!({"command": "x", "startup_timeout_sec": null, "tool_timeout_sec": 0})), (10, 60, 20));
        assert_eq!(t(json!({"command": "x", "timeouts": [1, 2]})), (10, 60, 20), "non-object timeouts are ignored");
        let err = norm(&w, json!({"command": "x", "timeouts": {"tool_seconds": "soon"}})).unwrap_err();
        assert_eq!(err.to_string(), "timeouts.tool_seconds must be a non-negative whole number, got \"soon\"");
        assert!(matches!(
            norm(&w, json!({"command": "x", "tool_timeout_sec": -1})),
            Err(ManifestError::BadTimeout { .. })
        ));
    }

    #[test]
    fn command_args_and_enabled_tools() {
        let w = ws();
        let s =
            norm(&w, json!({"command": "python3", "args": ["s.py", 1, true], "enabled_tools": ["a", "b"]})).unwrap();
        assert_eq!(s.args, ["s.py", "1", "True"]);
        assert_eq!(s.enabled_tools, ["a", "b"]);
        assert!(matches!(norm(&w, json!({"args": []})), Err(ManifestError::MissingCommand)));
        assert!(matches!(norm(&w, json!({"command": ""})), Err(ManifestError::MissingCommand)));
        assert!(matches!(norm(&w, json!({"command": ["a"]})), Err(ManifestError::WrongType { .. })));
        assert!(matches!(norm(&w, json!({"command": "x", "args": "a b"})), Err(ManifestError::WrongType { .. })));
        assert!(matches!(norm(&w, json!([1])), Err(ManifestError::NotAnObject)));
        assert_eq!(norm(&w, json!({"command": 5})).unwrap().command, "5");
    }

    #[test]
    fn cwd_rules() {
        let w = ws();
        let cwd = |manifest: Value| norm(&w, manifest).unwrap().cwd;
        assert_eq!(cwd(json!({"command": "x"})), w.root);
        assert_eq!(cwd(json!({"command": "x", "cwd": "sub/../tools"})), w.root.join("tools"));
        assert_eq!(cwd(json!({"command": "x", "cwd": "."})), w.root);
        assert_eq!(cwd(json!({"command": "x", "cwd": "/opt/elsewhere"})), Utf8PathBuf::from("/opt/elsewhere"));
        // A7: a foreign absolute cwd with repo-local relative args → the workspace.
        assert_eq!(
            cwd(json!({"command": "python3", "cwd": "/old/training/workspace",
                       "args": [".harnessgym/mcp/kernel-tools/server.py"]})),
            w.root
        );
        // Args that do not exist here keep the absolute cwd.
        assert_eq!(
            cwd(json!({"command": "python3", "cwd": "/old/training/workspace", "args": ["missing.py"]})),
            Utf8PathBuf::from("/old/training/workspace")
        );
        assert!(matches!(norm(&w, json!({"command": "x", "cwd": 3})), Err(ManifestError::WrongType { .. })));
    }

    #[test]
    fn confined_cwds_stay_inside_the_workspace() {
        let w = ws();
        let confined = |manifest: Value| normalize_confined(&manifest, &w.root.join("m/mcp.json"), &w.root);
        // Inside, or a stale foreign cwd rewritten to the workspace: fine.
        assert_eq!(confined(json!({"command": "x", "cwd": "sub/../tools"})).unwrap().cwd, w.root.join("tools"));
        assert_eq!(confined(json!({"command": "x", "cwd": w.root.as_str()})).unwrap().cwd, w.root);
        std::fs::write(w.root.join("server.py"), "").unwrap();
        let stale = json!({"command": "python3", "cwd": "/old/training/workspace", "args": ["server.py"]});
        assert_eq!(confined(stale).unwrap().cwd, w.root);
        // Escapes: `..` out, absolute elsewhere, a symlink, the same for a self-test.
        std::os::unix::fs::symlink("/tmp", w.root.join("out")).unwrap();
        for (manifest, field, cwd) in [
            (json!({"command": "x", "cwd": "../.."}), "cwd", "../.."),
            (json!({"command": "x", "cwd": "/"}), "cwd", "/"),
            (json!({"command": "x", "cwd": "/opt/elsewhere"}), "cwd", "/opt/elsewhere"),
            (json!({"command": "x", "cwd": "out"}), "cwd", "out"),
            (json!({"command": "x", "self_test": {"command": "t", "cwd": ".."}}), "self_test.cwd", ".."),
        ] {
            match confined(manifest) {
                Err(e @ ManifestError::CwdOutside { .. }) => {
                    let text = e.to_string();
                    assert!(text.starts_with(&format!("{field} {cwd:?} is not inside the workspace")), "{text}");
                }
                other => panic!("{field} {cwd}: {other:?}"),
            }
        }
    }

    #[test]
    fn self_test_variants() {
        let w = ws();
        let st = |value: Value| {
            norm(&w, json!({"command": "python3", "args": ["s.py"], "self_test": value})).unwrap().self_test
        };
        let spec = |command: &[&str]| {
            Some(SelfTestSpec {
                command: command.iter().map(|s| (*s).to_owned()).collect(),
                cwd: w.root.clone(),
                timeout_sec: None,
            })
        };
        assert_eq!(st(json!(true)), spec(&["python3", "s.py", "--self-test"]));
        for falsy in [json!(false), json!(""), json!([]), json!({}), json!(null), json!(0)] {
            assert_eq!(st(falsy.clone()), None, "{falsy}");
        }
        assert_eq!(st(json!(["python3", "t.py", 3])), spec(&["python3", "t.py", "3"]));
        assert_eq!(st(json!("python3 'my test.py' --quick")), spec(&["python3", "my test.py", "--quick"]));
        assert_eq!(st(json!({"command": ["a", "b"], "args": ["ignored"]})), spec(&["a", "b"]));
        assert_eq!(
            st(json!({"command": "python3", "args": ["s.py", "--self-test"]})),
            spec(&["python3", "s.py", "--self-test"])
        );
        assert_eq!(st(json!({"command": "python3 s.py --self-test"})), spec(&["python3", "s.py", "--self-test"]));
        assert_eq!(st(json!({"command": "python3 s.py", "args": []})), spec(&["python3", "s.py"]));
    }

    #[test]
    fn object_self_test_with_timeout_and_cwd() {
        let w = ws();
        let server = ".harnessgym/mcp/kernel-tools/server.py";
        let s = norm(
            &w,
            json!({"command": "python3", "args": [server],
                   "self_test": {"command": "python3", "args": [server, "--self-test"], "timeout_seconds": 22}}),
        )
        .unwrap();
        let expected = SelfTestSpec {
            command: vec!["python3".into(), server.into(), "--self-test".into()],
            cwd: w.root.clone(),
            timeout_sec: Some(22),
        };
        assert_eq!(s.self_test, Some(expected));
        let timeout =
            |obj: Value| norm(&w, json!({"command": "x", "self_test": obj})).unwrap().self_test.unwrap().timeout_sec;
        assert_eq!(timeout(json!({"command": "t", "timeout_sec": 7})), Some(7));
        assert_eq!(timeout(json!({"command": "t", "timeout_ms": 1500})), Some(1));
        assert_eq!(timeout(json!({"command": "t", "timeout_seconds": 3, "timeout_sec": 7})), Some(3));
        assert_eq!(timeout(json!({"command": "t"})), None);
    }

    #[test]
    fn self_test_foreign_cwd_is_rewritten_and_relative_cwd_resolved() {
        let w = ws();
        let server = ".harnessgym/mcp/kernel-tools/server.py";
        let cwd = |obj: Value| norm(&w, json!({"command": "x", "self_test": obj})).unwrap().self_test.unwrap().cwd;
        assert_eq!(cwd(json!({"command": ["python3", server, "--self-test"], "cwd": "/foreign/ws"})), w.root);
        assert_eq!(
            cwd(json!({"command": ["python3", "nope.py"], "cwd": "/foreign/ws"})),
            Utf8PathBuf::from("/foreign/ws")
        );
        assert_eq!(cwd(json!({"command": ["t"], "cwd": ".harnessgym"})), w.root.join(".harnessgym"));
        // The server's cwd is the default.
        let s = norm(&w, json!({"command": "x", "cwd": "srv", "self_test": {"command": "t"}})).unwrap();
        assert_eq!(s.self_test.unwrap().cwd, w.root.join("srv"));
    }

    #[test]
    fn self_test_errors_are_worded_like_the_reference() {
        let w = ws();
        let err = |value: Value| norm(&w, json!({"command": "x", "self_test": value})).unwrap_err().to_string();
        assert_eq!(
            err(json!(5)),
            "self_test must be true, false, a command string/list, or an object with command/args"
        );
        assert_eq!(err(json!({"command": 5})), "self_test.command must be a string or list");
        assert_eq!(err(json!({"args": ["a"]})), "self_test.command must be a string or list");
        assert!(err(json!("python3 'open")).starts_with("self_test: cannot split command line"));
    }

    #[test]
    fn framing_key() {
        let w = ws();
        let f = |value: Value| norm(&w, json!({"command": "x", "framing": value}));
        assert_eq!(f(json!("ndjson")).unwrap().framing, Some(Framing::Ndjson));
        assert_eq!(f(json!("content-length")).unwrap().framing, Some(Framing::ContentLength));
        assert_eq!(f(json!("auto")).unwrap().framing, None);
        assert_eq!(
            f(json!("lsp")).unwrap_err().to_string(),
            "framing must be \"ndjson\", \"content-length\" or \"auto\", got \"lsp\""
        );
    }

    #[test]
    fn load_manifest_reads_files_and_reports_bad_json() {
        let w = ws();
        let path = w.root.join(".harnessgym/mcp/kernel-tools/mcp.json");
        std::fs::write(&path, r#"{"command": "python3", "args": [".harnessgym/mcp/kernel-tools/server.py"]}"#).unwrap();
        let s = load_manifest(&path, &w.root).unwrap();
        assert_eq!(s.server_command().program, "python3");
        assert_eq!(s.server_command().cwd, w.root);
        std::fs::write(&path, "{oops").unwrap();
        assert!(matches!(load_manifest(&path, &w.root), Err(ManifestError::Json { .. })));
        assert!(matches!(load_manifest(&w.root.join("none.json"), &w.root), Err(ManifestError::Read { .. })));
    }

    #[test]
    fn serialises_with_snake_case_keys() {
        let w = ws();
        let s = norm(&w, json!({"command": "x", "self_test": ["t"]})).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["startup_timeout_sec"], json!(10));
        assert_eq!(v["self_test"]["command"], json!(["t"]));
        assert!(v.get("framing").is_none());
    }

    const KEYS: &[&str] = &[
        "name",
        "command",
        "args",
        "cwd",
        "enabled_tools",
        "timeouts",
        "framing",
        "self_test",
        "timeout_seconds",
        "timeout_sec",
        "timeout_ms",
        "startup_timeout_sec",
        "tool_timeout_sec",
        "self_test_timeout_sec",
        "test_timeout_sec",
        "startup_seconds",
        "tool_seconds",
        "self_test_seconds",
        "initialize_ms",
        "startup_ms",
        "tool_call_ms",
        "tool_ms",
        "self_test_ms",
        "test_ms",
    ];

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,10}".prop_map(Value::String),
            proptest::sample::select(
                &[
                    "python3",
                    "server.py",
                    "auto",
                    "ndjson",
                    "content-length",
                    "1_000",
                    " 7 ",
                    "-3",
                    "1e3",
                    "inf",
                    "NaN",
                    "0",
                    "'unclosed",
                    "a \"b",
                    "..",
                    "../..",
                    "/",
                    "/etc",
                    ".harnessgym/mcp/kernel-tools",
                ][..]
            )
            .prop_map(Value::from),
        ];
        let key = proptest::sample::select(KEYS);
        leaf.prop_recursive(3, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((key.clone().prop_map(str::to_owned), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Arbitrary JSON with the manifest's key names at any depth (and near-valid manifests:
        /// a string `command` plus arbitrary other keys): normalisation and confinement give a
        /// server — a sanitised non-empty name, a non-empty command, an absolute cwd — or an
        /// error with a message; no timeout spelling panics.
        #[test]
        fn any_manifest_is_a_server_or_a_clear_error(
            value in arb_json(),
            extra in proptest::collection::vec((proptest::sample::select(KEYS), arb_json()), 0..8),
            command in "[a-z./ '\"]{0,12}",
        ) {
            let workspace = Utf8Path::new("/nonexistent-ws");
            let path = workspace.join(".harnessgym/mcp/x/mcp.json");
            let mut near = Map::new();
            near.insert("command".into(), Value::String(command));
            near.extend(extra.into_iter().filter(|(k, _)| *k != "command").map(|(k, v)| (k.to_owned(), v)));
            for manifest in [value, Value::Object(near)] {
                let plain = normalize_manifest(&manifest, &path, workspace);
                match normalize_confined(&manifest, &path, workspace) {
                    Ok(server) => {
                        proptest::prop_assert!(plain.is_ok());
                        proptest::prop_assert!(!server.name.is_empty());
                        proptest::prop_assert!(
                            server.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        );
                        proptest::prop_assert!(!server.command.is_empty());
                        proptest::prop_assert!(server.cwd.starts_with(workspace));
                    }
                    Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
                }
                if let Err(e) = plain {
                    proptest::prop_assert!(!e.to_string().is_empty());
                }
            }
        }

        /// Arbitrary bytes as a manifest file: `load_manifest` is a server or an error naming
        /// the file.
        #[test]
        fn any_manifest_file_is_a_server_or_a_clear_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let dir = tempfile::tempdir().map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let root = Utf8Path::from_path(dir.path()).ok_or_else(|| proptest::test_runner::TestCaseError::fail("non-utf8"))?;
            let path = root.join("mcp.json");
            std::fs::write(&path, &bytes).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            if let Err(e) = load_manifest(&path, root) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
