//! The run report's view: a run directory's files (summary.json, run_config.json,
//! `iterations/<n>/result.json`, qualification reports) arranged for the templates.
//!
//! Every file is optional: a run killed before its summary, or written by the reference, still
//! gets a report, with what is missing said to be not recorded.

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::json as hjson;
use harnessgym_types::summary::Summary;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ReportError;
use crate::charts::{self, LineStyle, Series};
use crate::compare::ChartSlot;
use crate::fmt::{NOT_RECORDED, num, secs};

/// What a run directory holds, read leniently.
#[derive(Debug, Default)]
pub struct RunFiles {
    /// The run directory.
    pub dir: Utf8PathBuf,
    /// summary.json, when it exists and parses.
    pub summary: Option<Summary>,
    /// run_config.json.
    pub config: Option<Value>,
    /// `(n, result.json)` per iteration directory, in order.
    pub results: Vec<(u32, Map<String, Value>)>,
    /// `(iteration, attempt, qualification.json)`, in order.
    pub qualifications: Vec<(u32, u32, Value)>,
    /// What could not be read (file and why), shown in the report.
    pub unreadable: Vec<String>,
}

/// Numbered subdirectories `<prefix><n>` of `dir`, sorted by `n`.
fn numbered(dir: &Utf8Path, prefix: &str) -> Result<Vec<(u32, Utf8PathBuf)>, ReportError> {
    let entries = match dir.read_dir_utf8() {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ReportError::List { path: dir.to_owned(), source }),
    };
    let mut out: Vec<(u32, Utf8PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().strip_prefix(prefix)?.parse().ok()?;
            e.path().is_dir().then(|| (n, e.path().to_owned()))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

impl RunFiles {
    /// Reads `dir`'s files; what is missing or unreadable is left out (and named in `unreadable`).
    pub fn load(dir: &Utf8Path) -> Result<Self, ReportError> {
        let mut files = Self { dir: dir.to_owned(), ..Self::default() };
        let summary_path = dir.join("summary.json");
        match hjson::read_typed::<Summary>(&summary_path) {
            Ok(s) => files.summary = s,
            Err(e) => files.unreadable.push(format!("summary.json: {e}")),
        }
        match hjson::read_value(&dir.join("run_config.json")) {
            Ok(v) => files.config = v,
            Err(e) => files.unreadable.push(format!("run_config.json: {e}")),
        }
        for (n, it_dir) in numbered(&dir.join("iterations"), "")? {
            match hjson::read_object(&it_dir.join("result.json")) {
                Ok(Some(r)) => files.results.push((n, r)),
                Ok(None) => {}
                Err(e) => files.unreadable.push(format!("iterations/{n}/result.json: {e}")),
            }
            for (k, q_dir) in numbered(&it_dir.join("qualification"), "attempt_")? {
                match hjson::read_value(&q_dir.join("qualification.json")) {
                    Ok(Some(q)) => files.qualifications.push((n, k, q)),
                    Ok(None) => {}
                    Err(e) => files
                        .unreadable
                        .push(format!("iterations/{n}/qualification/attempt_{k}/qualification.json: {e}")),
                }
            }
        }
        Ok(files)
    }

    /// Whether this looks like a run directory at all.
    pub fn is_empty(&self) -> bool {
        self.summary.is_none() && self.config.is_none() && self.results.is_empty()
    }
}

/// Everything the run templates show.
#[derive(Debug, Serialize)]
pub(crate) struct RunView {
    run_id: String,
    final_status: String,
    solved: String,
    score_key: String,
    direction: String,
    post_command: String,
    baseline: String,
    best: String,
    best_unverified: String,
    best_checkpoint: String,
    restored: String,
    iterations: Vec<IterationRow>,
    artifacts: Vec<ArtifactRow>,
    tool_calls: Vec<ToolCallRow>,
    errors: Vec<ErrorRow>,
    notes: Vec<String>,
    pub(crate) charts: Vec<ChartSlot>,
}

#[derive(Debug, Serialize)]
struct IterationRow {
    iteration: u32,
    status: String,
    attempt: String,
    reflection: String,
    build: String,
    qualify: String,
    post: String,
    score: String,
    best_so_far: String,
    qualification: String,
    mcp_calls: String,
}

#[derive(Debug, Serialize)]
struct ArtifactRow {
    iteration: u32,
    attempt: u32,
    kind: String,
    path: String,
    verdict: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct ToolCallRow {
    iteration: u32,
    calls: u64,
    successful: String,
    tools: String,
}

#[derive(Debug, Serialize)]
struct ErrorRow {
    iteration: String,
    phase: String,
    path: String,
    message: String,
}

fn f64_at(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The iteration's verified score: the post command's, when its check passed.
fn verified_score(result: &Value) -> Option<f64> {
    (str_at(result, "/verification/status") == Some("passed"))
        .then(|| f64_at(result, "/post_attempt/score").or_else(|| f64_at(result, "/verification/score")))
        .flatten()
}

fn higher_is_better(files: &RunFiles) -> Option<bool> {
    files
        .summary
        .as_ref()
        .map(|s| s.optimization.higher_is_better)
        .or_else(|| files.config.as_ref().and_then(|c| c.get("higher_is_better")).and_then(Value::as_bool))
}

fn phase_seconds(result: &Value, phase: &str) -> Option<f64> {
    f64_at(result, &format!("/phases/{phase}/duration_seconds"))
}

fn phase_cell(result: &Value, phase: &str) -> String {
    match result.pointer(&format!("/phases/{phase}")) {
        Some(p) => {
            let status = p.get("status").and_then(Value::as_str).unwrap_or("?");
            format!("{} ({status})", secs(p.get("duration_seconds").and_then(Value::as_f64)))
        }
        None => "—".to_owned(),
    }
}

/// Builds the view of a run's files.
pub(crate) fn view(files: &RunFiles) -> RunView {
    let hib = higher_is_better(files);
    let summary = files.summary.as_ref();
    let config = files.config.as_ref();
    let score_key = config
        .and_then(|c| c.get("post_attempt_score_key").or_else(|| c.get("score_key")))
        .and_then(Value::as_str)
        .unwrap_or("score")
        .to_owned();
    let mut best: Option<f64> = None;
    let iterations = files
        .results
        .iter()
        .map(|(n, r)| {
            let result = Value::Object(r.clone());
            let score = verified_score(&result);
            if let Some(s) = score {
                best = Some(match best {
                    Some(b) if hib.unwrap_or(false) == (b >= s) || b == s => b,
                    _ => s,
                });
            }
            let claimed = r.get("metrics").and_then(|m| m.get(&score_key)).and_then(Value::as_f64);
            let quals: Vec<&(u32, u32, Value)> = files.qualifications.iter().filter(|q| q.0 == *n).collect();
            IterationRow {
                iteration: *n,
                status: r.get("status").and_then(Value::as_str).unwrap_or("—").to_owned(),
                attempt: phase_cell(&result, "attempt"),
                reflection: phase_cell(&result, "reflection"),
                build: phase_cell(&result, "build"),
                qualify: NOT_RECORDED.to_owned(),
                post: str_at(&result, "/post_attempt/status").unwrap_or("—").to_owned(),
                score: match (score, claimed) {
                    (Some(s), _) => num(Some(s)),
                    (None, Some(c)) => format!("{} (unverified)", num(Some(c))),
                    (None, None) => "—".to_owned(),
                },
                best_so_far: num(best),
                qualification: match quals.last() {
                    Some((_, k, q)) => {
                        format!(
                            "{} ({} attempt{})",
                            str_at(q, "/status").unwrap_or("?"),
                            k,
                            if *k == 1 { "" } else { "s" }
                        )
                    }
                    None => "—".to_owned(),
                },
                mcp_calls: result
                    .pointer("/harness_usage/mcp_call_count")
                    .and_then(Value::as_u64)
                    .map_or_else(|| NOT_RECORDED.to_owned(), |c| c.to_string()),
            }
        })
        .collect();

    let mut artifacts = Vec::new();
    for (n, k, q) in &files.qualifications {
        let quarantined: Vec<&str> = q
            .get("quarantined_artifacts")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match q.get("verdicts").and_then(Value::as_array) {
            Some(verdicts) => {
                for v in verdicts {
                    let path = v.get("path").and_then(Value::as_str).unwrap_or("?");
                    let mut verdict = v.get("status").and_then(Value::as_str).unwrap_or("?").to_owned();
                    if quarantined.contains(&path) {
                        verdict.push_str(", quarantined");
                    }
                    artifacts.push(ArtifactRow {
                        iteration: *n,
                        attempt: *k,
                        kind: v.get("kind").and_then(Value::as_str).unwrap_or("?").to_owned(),
                        path: path.to_owned(),
                        verdict,
                        reason: v.get("reason").and_then(Value::as_str).unwrap_or("").to_owned(),
                    });
                }
            }
            // The reference's reports: qualified and failed lists, no per-artifact reasons.
            None => {
                let list = |key: &str| -> Vec<String> {
                    q.get(key)
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                for (key, verdict) in [("qualified_artifacts", "passed"), ("failed_artifacts", "failed")] {
                    for path in list(key) {
                        artifacts.push(ArtifactRow {
                            iteration: *n,
                            attempt: *k,
                            kind: "—".to_owned(),
                            path: path.clone(),
                            verdict: if quarantined.contains(&path.as_str()) {
                                format!("{verdict}, quarantined")
                            } else {
                                verdict.to_owned()
                            },
                            reason: NOT_RECORDED.to_owned(),
                        });
                    }
                }
            }
        }
    }

    let tool_calls = files
        .results
        .iter()
        .filter_map(|(n, r)| {
            let usage = r.get("harness_usage")?;
            let calls = usage.get("mcp_call_count").and_then(Value::as_u64)?;
            let tools: Vec<&str> = usage
                .get("mcp_called_tools")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            Some(ToolCallRow {
                iteration: *n,
                calls,
                successful: usage
                    .get("mcp_successful_call_count")
                    .and_then(Value::as_u64)
                    .map_or_else(|| NOT_RECORDED.into(), |c| c.to_string()),
                tools: if tools.is_empty() { "—".to_owned() } else { tools.join(", ") },
            })
        })
        .collect();

    let errors = match summary {
        Some(s) => s
            .errors
            .iter()
            .map(|e| ErrorRow {
                iteration: e.iteration.map_or_else(|| "—".to_owned(), |i| i.to_string()),
                phase: e.phase.clone(),
                path: e.path.clone().unwrap_or_default(),
                message: e.message.clone(),
            })
            .collect(),
        None => files
            .results
            .iter()
            .flat_map(|(_, r)| r.get("errors").and_then(Value::as_array).cloned().unwrap_or_default())
            .map(|e| ErrorRow {
                iteration: e.get("iteration").and_then(Value::as_u64).map_or_else(|| "—".to_owned(), |i| i.to_string()),
                phase: e.get("phase").and_then(Value::as_str).unwrap_or("").to_owned(),
                path: e.get("path").and_then(Value::as_str).unwrap_or("").to_owned(),
                message: e.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
            })
            .collect(),
    };

    let checkpoint = summary.and_then(|s| s.best_checkpoint.latest.as_ref());
    let mut notes: Vec<String> = files.unreadable.iter().map(|u| format!("Unreadable: {u}")).collect();
    if summary.is_none() {
        notes.push("summary.json not recorded: the run was killed or is still going; the iterations are read from their files.".to_owned());
    }
    if summary.is_some_and(|s| s.final_status == "interrupted") {
        notes.push("The run was interrupted: the report covers what finished.".to_owned());
    }
    RunView {
        run_id: summary
            .map(|s| s.run_id.clone())
            .or_else(|| config.and_then(|c| c.get("run_id")).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| files.dir.file_name().map(str::to_owned))
            .unwrap_or_default(),
        final_status: summary.map_or_else(|| NOT_RECORDED.to_owned(), |s| s.final_status.clone()),
        solved: summary.map_or_else(|| NOT_RECORDED.to_owned(), |s| if s.solved { "yes".into() } else { "no".into() }),
        score_key,
        direction: match hib {
            Some(true) => "higher is better".to_owned(),
            Some(false) => "lower is better".to_owned(),
            None => NOT_RECORDED.to_owned(),
        },
        post_command: config
            .and_then(|c| c.get("post_attempt_command"))
            .and_then(Value::as_str)
            .map_or_else(|| "none".to_owned(), str::to_owned),
        baseline: summary.map_or_else(
            || NOT_RECORDED.to_owned(),
            |s| match &s.baseline_post_attempt {
                Some(b) if b.score.is_some() => num(b.score),
                Some(b) => format!("no score (post command {})", b.status),
                None => "—".to_owned(),
            },
        ),
        best: summary.map_or_else(|| num(best), |s| num(s.best_score)),
        best_unverified: summary.map_or_else(|| NOT_RECORDED.to_owned(), |s| num(s.best_unverified_score)),
        best_checkpoint: match checkpoint {
            Some(c) => format!("iteration {} (score {})", c.iteration, num(c.score)),
            None => "—".to_owned(),
        },
        restored: summary.map_or_else(
            || NOT_RECORDED.to_owned(),
            |s| if s.best_checkpoint.restored { "yes".into() } else { "no".into() },
        ),
        iterations,
        artifacts,
        tool_calls,
        errors,
        notes,
        charts: Vec::new(),
    }
}

/// The HTML report's charts.
pub(crate) fn charts(files: &RunFiles) -> Result<Vec<ChartSlot>, ReportError> {
    let mut slots = Vec::new();
    let keys: Vec<f64> = files.results.iter().map(|(n, _)| f64::from(*n)).collect();
    let scores: Vec<(f64, f64)> = files
        .results
        .iter()
        .filter_map(|(n, r)| verified_score(&Value::Object(r.clone())).map(|s| (f64::from(*n), s)))
        .collect();
    let summary = files.summary.as_ref();
    let baseline = summary.and_then(|s| s.baseline_post_attempt.as_ref()).and_then(|b| b.score);
    let highlight = summary
        .and_then(|s| s.best_checkpoint.latest.as_ref())
        .and_then(|c| c.score.map(|s| (f64::from(c.iteration), s)));
    let title = "Verified score per iteration";
    let chart = charts::lines(
        &[Series { name: "verified score".to_owned(), points: scores }],
        &LineStyle { title, x_desc: "iteration", y_desc: "score", reference_line: baseline, highlight, x_keys: keys },
        "One point per iteration with a verified score; dashed: the baseline; red cross: the best checkpoint.",
    )?;
    slots.push(ChartSlot::new(title, chart, "no iteration has a verified score"));

    let rows: Vec<String> = files.results.iter().map(|(n, _)| format!("iteration {n}")).collect();
    let parts: Vec<(String, Vec<f64>)> = ["attempt", "reflection", "build"]
        .into_iter()
        .map(|phase| {
            let values = files
                .results
                .iter()
                .map(|(_, r)| phase_seconds(&Value::Object(r.clone()), phase).unwrap_or(0.0))
                .collect();
            (phase.to_owned(), values)
        })
        .collect();
    let title = "Phase timeline";
    let chart = charts::stacked_bars(
        &rows,
        &parts,
        title,
        "seconds",
        "One bar per iteration: attempt, reflection and build times stacked (qualification time is not recorded).",
    )?;
    slots.push(ChartSlot::new(title, chart, "no phase durations recorded"));

    let calls: Vec<(f64, f64)> = files
        .results
        .iter()
        .filter_map(|(n, r)| {
            r.get("harness_usage")
                .and_then(|u| u.get("mcp_call_count"))
                .and_then(Value::as_u64)
                .map(|c| (f64::from(*n), c as f64))
        })
        .collect();
    let title = "MCP tool calls per iteration";
    let keys: Vec<f64> = files.results.iter().map(|(n, _)| f64::from(*n)).collect();
    let chart = charts::lines(
        &[Series { name: "tool calls".to_owned(), points: calls }],
        &LineStyle { title, x_desc: "iteration", y_desc: "calls", reference_line: None, highlight: None, x_keys: keys },
        "One point per iteration: tools/call requests through the telemetry proxy during its attempt.",
    )?;
    slots.push(ChartSlot::new(title, chart, "tool calls not recorded"));
    Ok(slots)
}
