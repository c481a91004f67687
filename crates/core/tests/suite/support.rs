//! Shared helpers: temp workspaces, run requests, a scripted agent and JSON readers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_core::{Run, RunConfig, RunOutcome, RunRequest};
use harnessgym_runners::{Phase, PhaseFiles, PhaseRequest, PhaseStatus, Runner, RunnerKind, RunnerResult};
use serde_json::{Map, Value};

/// The run id every helper run uses (each test has its own workspace).
pub const RUN_ID: &str = "test-run";

// ------------------------------------------------------------------------------------------
// Workspaces
// ------------------------------------------------------------------------------------------

/// A temporary workspace with a canonical UTF-8 path.
pub struct Ws {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
}

impl Ws {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().expect("canonicalize")).expect("utf-8 tempdir");
        Self { _dir: dir, root }
    }

    pub fn with_files(files: &[(&str, &str)]) -> Self {
        let ws = Self::new();
        for (rel, text) in files {
            ws.write(rel, text);
        }
        ws
    }

    pub fn path(&self, rel: &str) -> Utf8PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        write_file(&self.root, rel, text.as_bytes());
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.path(rel)).is_ok()
    }
}

pub fn write_file(root: &Utf8Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {parent}: {e}"));
    }
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// A request with test-friendly values: fixed run id, one iteration, inline task text.
pub fn request(ws: &Ws) -> RunRequest {
    let mut r = RunRequest::for_task_text("Make work.txt say done.", ws.root.as_str());
    r.run_id = Some(RUN_ID.into());
    r.options.iterations = 1;
    r.options.runner = RunnerKind::Fake;
    r
}

pub fn config(req: RunRequest, cwd: &Utf8Path) -> RunConfig {
    RunConfig::from_request(req, cwd).expect("valid run config")
}

/// Builds a run of `req` (relative paths resolved against the workspace) with `runner`.
pub fn build_run(req: RunRequest, runner: Arc<dyn Runner>) -> Run {
    let cwd = Utf8PathBuf::from(req.workspace.clone());
    Run::new(config(req, &cwd), runner)
}

/// Runs `req` with the scripted agent and returns the finished run.
pub async fn run(req: RunRequest, agent: &Arc<ScriptedAgent>) -> Done {
    let runner: Arc<dyn Runner> = agent.clone();
    execute(build_run(req, runner)).await
}

pub async fn execute(run: Run) -> Done {
    let started = Instant::now();
    let outcome = run.execute().await.expect("run executes");
    Done { outcome, elapsed: started.elapsed() }
}

// ------------------------------------------------------------------------------------------
// A finished run and its files
// ------------------------------------------------------------------------------------------

pub struct Done {
    pub outcome: RunOutcome,
    pub elapsed: std::time::Duration,
}

impl Done {
    /// summary.json as written on disk.
    pub fn summary(&self) -> Value {
        read_json(&self.outcome.summary_path)
    }

    pub fn iteration_dir(&self, iteration: u32) -> Utf8PathBuf {
        self.outcome.run_dir.join("iterations").join(iteration.to_string())
    }

    /// `iterations/<i>/result.json` as written on disk.
    pub fn result(&self, iteration: u32) -> Value {
        read_json(&self.iteration_dir(iteration).join("result.json"))
    }

    /// A file of the iteration dir, decoded lossily.
    pub fn iteration_text(&self, iteration: u32, name: &str) -> String {
        let path = self.iteration_dir(iteration).join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The iteration rows' statuses, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.summary()["iterations"]
            .as_array()
            .expect("iterations array")
            .iter()
            .map(|row| row["status"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// summary.json `errors` whose `phase` is `phase`.
    pub fn errors_of(&self, phase: &str) -> Vec<Value> {
        self.summary()["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .filter(|e| e["phase"] == phase)
            .cloned()
            .collect()
    }
}

pub fn read_json(path: &Utf8Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON ({e}):\n{text}"))
}

pub fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

// ------------------------------------------------------------------------------------------
// The scripted agent
// ------------------------------------------------------------------------------------------

/// What a scripted phase sees and does: edit the workspace and result.json like an agent, print
/// output, choose the phase status.
pub struct Ctx<'a> {
    pub req: &'a PhaseRequest,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: PhaseStatus,
    pub timed_out: bool,
}

impl Ctx<'_> {
    pub fn write(&self, rel: &str, text: &str) {
        write_file(&self.req.workspace, rel, text.as_bytes());
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.req.workspace.join(rel)).ok()
    }

    pub fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.req.workspace.join(rel)).is_ok()
    }

    /// Deep-merges `update` into result.json, as an agent editing the file would (an unreadable
    /// file is started over).
    pub fn merge_result(&self, update: Value) {
        let path = &self.req.result_path;
        let mut current: Map<String, Value> = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        if let Value::Object(update) = update {
            harnessgym_types::result::deep_merge(&mut current, &update);
        }
        let text = serde_json::to_string_pretty(&Value::Object(current)).expect("serialise result");
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }

    /// Overwrites result.json with raw bytes (to corrupt it).
    pub fn write_result_raw(&self, bytes: impl AsRef<[u8]>) {
        std::fs::write(&self.req.result_path, bytes).unwrap_or_else(|e| panic!("write result: {e}"));
    }
}

pub type Step = Arc<dyn Fn(&mut Ctx<'_>) + Send + Sync>;

/// One phase the agent was asked to run.
#[derive(Clone, Debug)]
pub struct Call {
    pub phase: Phase,
    pub iteration: u32,
    pub session_id: Option<String>,
    pub prompt: String,
    pub phase_dir: Utf8PathBuf,
}

/// A test-only agent: each (phase, iteration) runs a closure; unscripted phases do nothing and
/// report `completed`. Writes the four phase files like the real runners.
#[derive(Default)]
pub struct ScriptedAgent {
    exact: HashMap<(Phase, u32), Step>,
    every: HashMap<Phase, Step>,
    calls: Mutex<Vec<Call>>,
}

impl ScriptedAgent {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts `phase` of one iteration.
    pub fn on(mut self, phase: Phase, iteration: u32, step: impl Fn(&mut Ctx<'_>) + Send + Sync + 'static) -> Self {
        self.exact.insert((phase, iteration), Arc::new(step));
        self
    }

    /// Scripts `phase` of every iteration without an exact script.
    pub fn on_every(mut self, phase: Phase, step: impl Fn(&mut Ctx<'_>) + Send + Sync + 'static) -> Self {
        self.every.insert(phase, Arc::new(step));
        self
    }

    pub fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// The phases run in `iteration`, in order.
    pub fn phases_of(&self, iteration: u32) -> Vec<Phase> {
        self.calls().iter().filter(|c| c.iteration == iteration).map(|c| c.phase).collect()
    }
}

#[async_trait]
impl Runner for ScriptedAgent {
    async fn run_phase(&self, request: PhaseRequest) -> RunnerResult {
        let started = Instant::now();
        self.calls.lock().expect("calls lock").push(Call {
            phase: request.phase,
            iteration: request.iteration,
            session_id: request.session_id.clone(),
            prompt: request.prompt.clone(),
            phase_dir: request.phase_dir.clone(),
        });
        let files = PhaseFiles::new(&request.phase_dir, request.phase);
        PhaseFiles::write(&files.prompt, &request.prompt).expect("write prompt file");
        let step = self.exact.get(&(request.phase, request.iteration)).or_else(|| self.every.get(&request.phase));
        let mut ctx = Ctx {
            req: &request,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: PhaseStatus::Completed,
            timed_out: false,
        };
        if let Some(step) = step {
            step(&mut ctx);
        }
        let Ctx { stdout, stderr, status, timed_out, .. } = ctx;
        let session_id = request.session_id.clone().unwrap_or_else(|| format!("scripted-{}", request.iteration));
        let mut transcript =
            format!("runner: scripted\nphase: {}\nstatus: {}\n\n", request.phase.as_str(), status.as_str())
                .into_bytes();
        transcript.extend_from_slice(&stdout);
        for (path, bytes) in [(&files.stdout, &stdout), (&files.stderr, &stderr), (&files.transcript, &transcript)] {
            std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        RunnerResult {
            phase: request.phase,
            status,
            session_id: Some(session_id),
            return_code: if timed_out { None } else { Some(0) },
            timed_out,
            duration_seconds: started.elapsed().as_secs_f64(),
            stdout_path: Some(files.stdout),
            stderr_path: Some(files.stderr),
            transcript_path: Some(files.transcript),
            prompt_path: Some(files.prompt),
            message: String::new(),
            usage: None,
            cost_usd: None,
            extra: Default::default(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Common agent behaviours
// ------------------------------------------------------------------------------------------

/// An attempt that gives up: `blocked`, not verified.
pub fn blocked(ctx: &mut Ctx<'_>) {
    ctx.merge_result(serde_json::json!({"status": "blocked", "verified": false, "summary": "stuck"}));
    ctx.status = PhaseStatus::Blocked;
}

/// A post command that prints the workspace's `post.json` (the agent controls the verdict by
/// writing that file, so checkpoints and restores carry it along).
pub const CAT_POST: &str = "cat post.json";

/// Writes `post.json` with a passing verdict and `key = score`.
pub fn post_passes(ctx: &Ctx<'_>, key: &str, score: f64) {
    ctx.write("post.json", &format!("{{\"status\": \"passed\", \"{key}\": {score}}}\n"));
}

/// Checks that every JSON object in `text` (house style: 2-space indent, one key per line) lists
/// its keys in strictly sorted order.
pub fn assert_keys_sorted(text: &str) {
    let mut last_key_at: HashMap<usize, String> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        // Anything deeper than this line belongs to an object that has ended.
        last_key_at.retain(|level, _| *level <= indent);
        let key = line[indent..].strip_prefix('"').and_then(|r| r.split_once("\": ")).map(|(k, _)| k.to_owned());
        if let Some(key) = key {
            if let Some(prev) = last_key_at.get(&indent) {
                assert!(prev.as_str() < key.as_str(), "line {}: key {key:?} comes after {prev:?}", n + 1);
            }
            last_key_at.insert(indent, key);
        }
    }
}
