//! `--runner-remote user@host`: the agent CLI of any agent CLI adapter (`exec`, `claude`,
//! `command`) runs on another host, in a mirror of the workspace, through
//! `harnessgym_proc::remote` (system ssh + rsync, remote process group killed on timeout).
//!
//! An adapter holding [`crate::launcher::AgentLauncher::Remote`] (built from
//! [`RemoteAgentOptions`]) hands each invocation to its [`RemoteLauncher`] instead of starting a
//! local process. Per phase:
//!
//! * **Paths.** The first phase probes the host once: the absolute remote directory, and
//!   `harnessgym` (`--remote-harnessgym`, else the remote PATH; missing → the phase fails saying
//!   what to install). In the argv, the prompt, the explicit environment and the harness config
//!   files, the local workspace path becomes the remote one and the local harnessgym binary the
//!   remote one (whole paths only).
//! * **What is synced** (both ways, mirrored with `--delete`): the workspace with the copy
//!   policy's cache/VCS exclusions (`.git`, `__pycache__`, `.pytest_cache`, `.harnessgym_build`,
//!   object files, `.harnessgymignore`), *including* `.harnessgym/` (registry, skills, MCP
//!   servers, telemetry), `.agents/`, `.claude/` and `.codex/` — except `.harnessgym/runs/`
//!   (only the phase's own `result.json` travels), the snapshot store `.harnessgym/store/`,
//!   `.harnessgym/rehearsal/`, the control directory `.harnessgym/remote/` and the record of
//!   the local command's live process groups (`.harnessgym/live-processes.json`).
//! * **Generated files with local paths** (`activation.json`, `claude_mcp_config.json`,
//!   `runtime/mcp_call.py`, the framing cache, `.codex/config.toml`) are written translated on
//!   the remote side and never pulled back; skill links (absolute symlinks in `.agents/skills/`
//!   and `.claude/skills/`) are re-created there pointing into the remote copy.
//! * **Environment.** Only the runner's explicit variables are exported remotely — never this
//!   machine's environment, so API keys stay here: configure the agent CLI's credentials on the
//!   remote host.
//! * **Records.** The prompt file, stdout, stderr and transcript stay local as for a local run;
//!   the ssh/rsync log is `<phase>.remote.txt` beside them.

use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_proc::remote::{Probe, RemoteSpec, RemoteWorkspace, probe};
use harnessgym_proc::{ProcError, RemoteError, StdinSource};
use harnessgym_snapshot::Purpose;
use tokio::sync::OnceCell;

use crate::agent_cli::{Invocation, RawRun};
use crate::{PhaseFiles, PhaseRequest};

/// Harness-internal directories of `.harnessgym/` that never travel (`runs/` is handled apart:
/// the phase's result.json goes through).
const HARNESS_INTERNAL_DIRS: &[&str] = &[".harnessgym/store/", ".harnessgym/rehearsal/", ".harnessgym/remote/"];

/// Files of the local command's own that never travel (nor are overwritten or deleted by the pull):
/// the record of its live process groups (harnessgym-proc's `live`), also while it is rewritten.
const LOCAL_PROCESS_FILES: &[&str] = &[".harnessgym/live-processes.json", ".harnessgym/.live-processes.json.*"];

/// Files activation generates with local absolute paths: written translated remotely, never
/// pulled back.
const TRANSLATED_FILES: &[&str] = &[
    ".harnessgym/activation.json",
    ".harnessgym/claude_mcp_config.json",
    ".harnessgym/runtime/mcp_call.py",
    ".harnessgym/mcp_framing_cache.json",
    ".codex/config.toml",
];

/// Where and with which harnessgym binaries a [`RemoteLauncher`] runs the agent CLI.
#[derive(Clone, Debug)]
pub struct RemoteAgentOptions {
    /// The host (`user@host`, ssh options) and the directory of the workspace mirror there.
    pub target: RemoteWorkspace,
    /// The local harnessgym binary (named in MCP launches and generated files).
    pub local_harnessgym: Utf8PathBuf,
    /// `--remote-harnessgym`; `None`: found on the remote PATH.
    pub remote_harnessgym: Option<String>,
}

/// What the probe found, once per run.
#[derive(Clone, Debug)]
struct Resolved {
    dir: String,
    harnessgym: String,
}

/// Runs agent CLIs on a remote host (see the module docs); held by an adapter as
/// [`crate::launcher::AgentLauncher::Remote`]. Clones share one probe of the host: the first phase
/// resolves the remote directory and harnessgym binary, later phases reuse them.
#[derive(Clone, Debug)]
pub struct RemoteLauncher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: RemoteAgentOptions,
    resolved: OnceCell<Resolved>,
}

impl RemoteLauncher {
    /// A launcher for `options.target`; nothing is contacted before the first phase.
    pub fn new(options: RemoteAgentOptions) -> Self {
        Self { inner: Arc::new(Inner { options, resolved: OnceCell::new() }) }
    }

    /// What this launcher was built from.
    pub fn options(&self) -> &RemoteAgentOptions {
        &self.inner.options
    }
}

/// Replaces `from` by `to` wherever it appears as a whole path (not followed by a character
/// that would continue a file name).
pub fn replace_path(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        let whole = after.chars().next().is_none_or(|c| !(c.is_alphanumeric() || "-_.".contains(c)));
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

struct Paths<'a> {
    local_ws: &'a str,
    remote_ws: &'a str,
    local_bin: &'a str,
    remote_bin: &'a str,
}

impl Paths<'_> {
    fn translate(&self, text: &str) -> String {
        let text = replace_path(text, self.local_bin, self.remote_bin);
        replace_path(&text, self.local_ws, self.remote_ws)
    }
}

/// `- /path` rules that let only `result_rel` through from `.harnessgym/runs/`.
fn result_rules(result_rel: Option<&str>) -> Vec<String> {
    let mut rules = Vec::new();
    if let Some(rel) = result_rel.filter(|r| r.starts_with(".harnessgym/runs/")) {
        rules.push(format!("+ /{rel}"));
        let mut dir = Utf8Path::new(rel).parent();
        while let Some(d) = dir.filter(|d| d.as_str().len() > ".harnessgym".len()) {
            rules.push(format!("+ /{d}/"));
            dir = d.parent();
        }
        rules.push("- /.harnessgym/runs/**".into());
    } else {
        rules.push("- /.harnessgym/runs/".into());
    }
    rules
}

/// Absolute symlinks in the skill link directories that point into the workspace:
/// (relative link path, target relative to the workspace).
fn skill_links(ws: &Utf8Path) -> Vec<(String, String)> {
    let mut links = Vec::new();
    for dir in harnessgym_activation::skills::LINK_DIRS {
        let Ok(entries) = std::fs::read_dir(ws.join(dir)) else { continue };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let path = ws.join(dir).join(&name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.file_type().is_symlink() {
                continue;
            }
            let Ok(target) = std::fs::read_link(&path) else { continue };
            let Some(target) = target.to_str() else { continue };
            if let Ok(rel) = Utf8Path::new(target).strip_prefix(ws) {
                links.push((format!("{dir}/{name}"), rel.to_string()));
            }
        }
    }
    links.sort();
    links
}

impl RemoteLauncher {
    fn host(&self) -> String {
        self.options().target.host.describe()
    }

    async fn resolve(&self, request: &PhaseRequest, log: &Utf8Path) -> Result<Resolved, RemoteError> {
        self.inner
            .resolved
            .get_or_try_init(|| async {
                let (require, resolve) = match &self.options().remote_harnessgym {
                    Some(path) => (vec![path.clone()], Vec::new()),
                    None => (Vec::new(), vec!["harnessgym".to_owned()]),
                };
                let Probe { dir, programs } =
                    probe(&self.options().target, &request.workspace, log, &require, &resolve, request.cancel.clone())
                        .await
                        .map_err(|e| match e {
                            RemoteError::MissingOnRemote { host, program, .. } => RemoteError::MissingOnRemote {
                                host,
                                program,
                                hint: "check --remote-harnessgym (the harnessgym binary on the remote host)".into(),
                            },
                            other => other,
                        })?;
                let harnessgym = match &self.options().remote_harnessgym {
                    Some(path) => path.clone(),
                    None => programs.into_iter().flatten().next().ok_or_else(|| RemoteError::MissingOnRemote {
                        host: self.host(),
                        program: "harnessgym".into(),
                        hint: "the agent's MCP servers run through `harnessgym mcp-proxy` there: install it on that \
                               host (`cargo install --path crates/cli` from a HarnessGym checkout, or copy the binary \
                               onto its PATH) or pass --remote-harnessgym PATH"
                            .into(),
                    })?,
                };
                Ok(Resolved { dir, harnessgym })
            })
            .await
            .cloned()
    }

    /// `AgentLauncher::run_cli` for a remote phase.
    pub(crate) async fn run_cli(&self, request: &PhaseRequest, files: &PhaseFiles, invocation: &Invocation) -> RawRun {
        let started = std::time::Instant::now();
        let _ = PhaseFiles::write(&files.prompt, &request.prompt);
        let log = request.phase_dir.join(format!("{}.remote.txt", request.phase.as_str()));
        let failed = |error: ProcError| RawRun {
            return_code: None,
            timed_out: false,
            cancelled: false,
            duration: started.elapsed(),
            spawn_error: Some(error),
        };
        let resolved = match self.resolve(request, &log).await {
            Ok(r) => r,
            Err(e) => {
                // Output files exist for every phase, run or not.
                let _ = PhaseFiles::write(&files.stdout, "");
                let _ = PhaseFiles::write(&files.stderr, "");
                return failed(self.proc_error(&invocation.program, e));
            }
        };
        let ws = &request.workspace;
        let paths = Paths {
            local_ws: ws.as_str(),
            remote_ws: &resolved.dir,
            local_bin: self.options().local_harnessgym.as_str(),
            remote_bin: &resolved.harnessgym,
        };
        let mut spec = RemoteSpec::new(
            self.options().target.clone(),
            ws.clone(),
            invocation.program.clone(),
            files.stdout.clone(),
            files.stderr.clone(),
            log,
        );
        spec.args = invocation.args.iter().map(|a| paths.translate(a)).collect();
        spec.env = invocation.env.iter().map(|(k, v)| (k.clone(), paths.translate(v))).collect();
        if invocation.prompt_on_stdin {
            spec.stdin = StdinSource::Bytes(paths.translate(&request.prompt).into_bytes());
        }
        spec.timeout = Some(request.timeout);
        spec.require = vec![invocation.program.clone(), resolved.harnessgym.clone()];
        let links = skill_links(ws);
        let result_rel = request.result_path.strip_prefix(ws).ok().map(|r| r.to_string());
        let mut rules = result_rules(result_rel.as_deref());
        rules.extend(HARNESS_INTERNAL_DIRS.iter().map(|p| format!("- /{p}")));
        rules.extend(LOCAL_PROCESS_FILES.iter().map(|p| format!("- /{p}")));
        rules.extend(links.iter().map(|(link, _)| format!("- /{link}")));
        let ignore = std::fs::read_to_string(ws.join(".harnessgymignore")).ok();
        rules.extend(harnessgym_snapshot::rsync_rules(Purpose::AgentMirror, ignore.as_deref()));
        spec.filter_rules = rules;
        spec.pull_only_rules = TRANSLATED_FILES.iter().map(|f| format!("- /{f}")).collect();
        spec.files = TRANSLATED_FILES
            .iter()
            .filter_map(|rel| {
                let text = std::fs::read_to_string(ws.join(rel)).ok()?;
                let translated = paths.translate(&text);
                (translated != text).then(|| ((*rel).to_owned(), translated))
            })
            .collect();
        spec.links = links.into_iter().map(|(link, target)| (link, format!("{}/{target}", resolved.dir))).collect();

        match harnessgym_proc::run_remote(spec, request.cancel.clone()).await {
            Ok(outcome) => {
                let spawn_error = outcome.sync_back_error.as_ref().filter(|_| !outcome.cancelled).map(|e| {
                    let _ = harnessgym_proc::append_note(&files.stderr, e);
                    ProcError::Spawn {
                        program: format!("rsync (from {})", self.host()),
                        source: std::io::Error::other(format!("the agent's changes stayed on the remote host: {e}")),
                    }
                });
                RawRun {
                    return_code: outcome.return_code,
                    timed_out: outcome.timed_out,
                    cancelled: outcome.cancelled,
                    duration: outcome.duration,
                    spawn_error,
                }
            }
            Err(RemoteError::Interrupted { .. }) => RawRun {
                return_code: None,
                timed_out: false,
                cancelled: true,
                duration: started.elapsed(),
                spawn_error: None,
            },
            Err(e) => {
                let _ = harnessgym_proc::append_note(&files.stderr, &e.to_string());
                failed(self.proc_error(&invocation.program, e))
            }
        }
    }

    /// The agent's missing program becomes "not found" (return code 127 in the record); every
    /// other problem names the host.
    fn proc_error(&self, program: &str, e: RemoteError) -> ProcError {
        match e {
            RemoteError::MissingOnRemote { host, program: missing, .. } if missing == program => ProcError::NotFound {
                program: format!("{program} (on {host})"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not on the remote PATH"),
            },
            RemoteError::LocalProgramMissing { program: local, hint } => ProcError::NotFound {
                program: format!("{local} (needed for --runner-remote; {hint})"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not installed"),
            },
            other => ProcError::Spawn {
                program: format!("{program} on {}", self.host()),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_paths_are_replaced() {
        assert_eq!(
            replace_path("/w/ws and /w/ws/x and /w/ws2 and /w/ws.txt", "/w/ws", "/r"),
            "/r and /r/x and /w/ws2 and /w/ws.txt"
        );
        assert_eq!(replace_path("\"/w/ws\"", "/w/ws", "/r"), "\"/r\"");
    }

    #[test]
    fn only_the_phase_result_leaves_the_runs_directory() {
        assert_eq!(
            result_rules(Some(".harnessgym/runs/r1/iterations/2/result.json")),
            [
                "+ /.harnessgym/runs/r1/iterations/2/result.json",
                "+ /.harnessgym/runs/r1/iterations/2/",
                "+ /.harnessgym/runs/r1/iterations/",
                "+ /.harnessgym/runs/r1/",
                "+ /.harnessgym/runs/",
                "- /.harnessgym/runs/**",
            ]
        );
        assert_eq!(result_rules(None), ["- /.harnessgym/runs/"]);
        assert_eq!(result_rules(Some("elsewhere/result.json")), ["- /.harnessgym/runs/"]);
    }
}
