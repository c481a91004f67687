//! Clean-room qualification: do the artifacts an agent built work in a fresh copy of the task,
//! with nothing but the bundle?
//!
//! 1. At run start the clean workspace is captured as a template ([`room::capture_template`]).
//! 2. Each qualification attempt makes the run's one room equal to the template
//!    ([`room::prepare_room`]), copies the bundle in ([`bundle::copy_bundle`]: untrusted input,
//!    hostile symlinks and registry paths refused), strips quarantine from the room's registry
//!    (everything is re-tested), activates it there (`harnessgym_activation::activate`: MCP smoke
//!    tests and self-tests run in the room) and gives every artifact its own verdict
//!    ([`verdict::judge`]).
//! 3. The report passes iff every artifact *of the iteration being qualified* passes, so an old
//!    broken artifact can neither fail nor quarantine a healthy new one (core.md B9,
//!    integration.md W28).
//! 4. On failure the [`RepairHook`] may repair in the same agent session; then the next attempt
//!    runs. After the last attempt, passing artifacts are marked qualified and — when the report
//!    failed — the failing artifacts of the iteration are quarantined, each with its own reason.
//!
//! Reports go to `<reports dir>/attempt_<k>/qualification.json`.

pub mod bundle;
pub mod room;
pub mod verdict;

use std::collections::BTreeSet;

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_artifacts::registry as reg;
use harnessgym_snapshot::{CopyPolicy, SnapshotError};
use harnessgym_types::qualification::QualificationReport;
use harnessgym_types::registry::{Artifact, Registry};
use harnessgym_types::timefmt::utc_now;
use serde_json::{Value, json};

pub use bundle::{BundleCopy, BundleError, Refusal, copy_bundle};
pub use room::{
    capture_template, derive_template, holds_task_files, needs_task_files, prepare_bundle_only_room, prepare_room,
    remove_room, room_dir, template_dir,
};
pub use verdict::Verdict;

/// Asked by [`qualify`] to repair the failing artifacts (e.g. by resuming the agent's build
/// session with the failed report). Returns `false` when no repair could be run (no session to
/// resume, the run was interrupted); the loop then stops.
#[async_trait]
pub trait RepairHook: Send {
    async fn repair(&mut self, repair_attempt: u32, failed_report: &Value) -> bool;
}

/// A hook that never repairs (the standalone `harnessgym qualify`).
#[derive(Debug, Default)]
pub struct NoRepair;

#[async_trait]
impl RepairHook for NoRepair {
    async fn repair(&mut self, _: u32, _: &Value) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QualifyError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("{path}: {source}")]
    Io { path: Utf8PathBuf, source: std::io::Error },
    #[error("room registry: {0}")]
    Registry(String),
}

/// Which artifacts' verdicts decide the report's status (and may be quarantined).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Artifacts whose registry `iteration` is this one, plus untagged artifacts that are not
    /// quarantined yet (in a run).
    Iteration(u32),
    /// Every artifact (a hand-built bundle); any refused entry also fails the report.
    All,
}

impl Scope {
    /// `a` as found in the copied registry, before quarantine is stripped.
    fn counts(self, a: &Artifact) -> bool {
        match self {
            Scope::All => true,
            Scope::Iteration(i) => match a.iteration {
                Some(n) => n == i64::from(i),
                None => !a.is_quarantined(),
            },
        }
    }
}

/// Everything one qualification needs.
#[derive(Clone, Debug)]
pub struct QualifyOptions {
    /// The `.harnessgym/` directory copied into the room.
    pub bundle: Utf8PathBuf,
    /// The workspace the bundle came from (recorded as `source_workspace`; its registry receives
    /// the qualification / quarantine metadata when `mark_registry`).
    pub source_workspace: Utf8PathBuf,
    /// The clean template the room is made from.
    pub template: Utf8PathBuf,
    pub room: Utf8PathBuf,
    /// Copy policy of template and room.
    pub policy: CopyPolicy,
    /// Reports go to `<reports_dir>/attempt_<k>/qualification.json`.
    pub reports_dir: Utf8PathBuf,
    pub iteration: u32,
    pub scope: Scope,
    /// Repairs allowed after a failed attempt (so at most `repair_attempts + 1` attempts).
    pub repair_attempts: u32,
    /// The `harnessgym` binary activation points agent configs at.
    pub harnessgym_bin: Utf8PathBuf,
    /// The bundle sandbox of every process qualification starts from the bundle (the room
    /// writable, see `harnessgym_activation::sandbox`).
    pub sandbox: harnessgym_activation::sandbox::SandboxSetting,
    /// Write qualification / quarantine metadata into the source workspace's registry.
    pub mark_registry: bool,
    /// The room already equals the template (the caller made it so since its last use, e.g. in
    /// the background): the first attempt uses it as it is.
    pub room_prepared: bool,
}

/// `<reports_dir>/attempt_<k>/qualification.json`.
pub fn report_path(reports_dir: &Utf8Path, attempt: u32) -> Utf8PathBuf {
    reports_dir.join(format!("attempt_{attempt}/qualification.json"))
}

struct Attempt {
    report: QualificationReport,
    verdicts: Vec<Verdict>,
}

/// Runs up to `repair_attempts + 1` attempts and returns every attempt's report (the last one
/// final, with `qualified_artifacts` and — when failed — `quarantined_artifacts`). Each report is
/// written to its `report_path`. Never fails: problems become a failed report with a `reason`.
pub async fn qualify(options: &QualifyOptions, hook: &mut dyn RepairHook) -> Vec<QualificationReport> {
    let mut reports = Vec::new();
    let mut last_verdicts = Vec::new();
    for k in 1..=options.repair_attempts.saturating_add(1) {
        let Attempt { report, verdicts } = attempt(options, k).await;
        let passed = report.status == verdict::PASSED;
        // Only a failing artifact can be repaired; a room that could not be made cannot.
        let repairable = !report.failed_artifacts.is_empty();
        let value = serde_json::to_value(&report).unwrap_or(Value::Null);
        reports.push(report);
        last_verdicts = verdicts;
        if passed || k > options.repair_attempts || !repairable {
            break;
        }
        if !hook.repair(k, &value).await {
            break;
        }
    }
    if let Some(last) = reports.last_mut() {
        finalize(options, last, &last_verdicts);
    }
    reports
}

fn write_report(report: &mut QualificationReport) {
    let Some(path) = report.report_path.clone() else { return };
    if let Err(e) = harnessgym_types::json::write_json(Utf8Path::new(&path), report) {
        tracing::warn!(%path, error = %e, "could not write the qualification report");
        report.extra.insert("write_error".into(), json!(e.to_string()));
    }
}

async fn attempt(options: &QualifyOptions, k: u32) -> Attempt {
    let path = report_path(&options.reports_dir, k);
    let mut report = QualificationReport {
        created_at: utc_now(),
        status: verdict::FAILED.into(),
        iteration: options.iteration,
        source_workspace: Some(options.source_workspace.to_string()),
        fresh_workspace: Some(options.room.to_string()),
        copied_artifacts: Vec::new(),
        quality_gate: None,
        activation: None,
        failed_artifacts: Vec::new(),
        registry_artifact_count: 0,
        reason: None,
        report_path: Some(path.to_string()),
        qualified_artifacts: None,
        quarantined_artifacts: None,
        extra: Default::default(),
    };
    report.extra.insert("attempt".into(), json!(k));
    let verdicts = match run_attempt(options, options.room_prepared && k == 1, &mut report).await {
        Ok(verdicts) => verdicts,
        Err(e) => {
            report.reason = Some(format!("qualification could not run: {e}"));
            Vec::new()
        }
    };
    write_report(&mut report);
    Attempt { report, verdicts }
}

async fn run_attempt(
    options: &QualifyOptions,
    room_prepared: bool,
    report: &mut QualificationReport,
) -> Result<Vec<Verdict>, QualifyError> {
    let room = &options.room;
    let state = if room_prepared {
        room::RoomState::Restored
    } else if room::needs_task_files(&options.source_workspace) {
        room::prepare_room(&options.template, room, &options.policy)?
    } else {
        room::prepare_bundle_only_room(&options.template, room, &options.policy)?
    };
    tracing::debug!(%room, ?state, "room ready");
    report.extra.insert("room_contents".into(), json!(state.contents()));
    let copy = copy_bundle(&options.bundle, room)?;
    report.copied_artifacts = copy.files.clone();
    if !copy.refused.is_empty() {
        report.extra.insert("refused".into(), serde_json::to_value(&copy.refused).unwrap_or(Value::Null));
    }

    let loaded = reg::load(room).map_err(|e| QualifyError::Registry(e.to_string()))?;
    if !loaded.problems.is_empty() {
        report.extra.insert("registry_problems".into(), json!(loaded.problems));
    }
    let mut registry = loaded.registry;
    if !copy.has_registry {
        // A hand-built bundle without a registry: discover its artifacts like a run would.
        reg::sync_from_files(room, &mut registry, None).map_err(|e| QualifyError::Registry(e.to_string()))?;
    }
    let counted: Vec<bool> = registry.artifacts.iter().map(|a| options.scope.counts(a)).collect();
    for a in &mut registry.artifacts {
        a.metadata.remove("quarantined");
        a.metadata.remove("quarantine");
    }
    // Activation never sees a refused path.
    let mut active = Registry {
        artifacts: registry.artifacts.iter().filter(|a| bundle::registry_path_is_safe(&a.path)).cloned().collect(),
        ..registry.clone()
    };
    reg::save(room, &mut active).map_err(|e| QualifyError::Registry(e.to_string()))?;
    report.registry_artifact_count = registry.artifacts.len();

    let activation_options =
        harnessgym_activation::ActivationOptions::new(room.clone(), options.harnessgym_bin.clone())
            .with_sandbox(options.sandbox.clone());
    let activation = harnessgym_activation::activate(&activation_options, &active).await;
    let verdicts: Vec<Verdict> = registry
        .artifacts
        .iter()
        .zip(&counted)
        .map(|(a, counts)| verdict::judge(room, a, &activation, &copy.refused, *counts))
        .collect();

    let failed: BTreeSet<String> =
        verdicts.iter().filter(|v| v.counted && !v.passed()).map(|v| v.path.clone()).collect();
    let unowned: Vec<&Refusal> = match options.scope {
        Scope::All => {
            copy.refused.iter().filter(|r| !registry.artifacts.iter().any(|a| verdict::owns(a, &r.path))).collect()
        }
        Scope::Iteration(_) => Vec::new(),
    };
    let passed = failed.is_empty() && unowned.is_empty();
    report.status = if passed { verdict::PASSED } else { verdict::FAILED }.into();
    if !passed {
        let mut parts: Vec<String> = verdicts
            .iter()
            .filter(|v| v.counted && !v.passed())
            .map(|v| format!("{} ({}): {}", v.path, v.kind, v.reason))
            .collect();
        parts.extend(unowned.iter().map(|r| r.to_string()));
        report.reason = Some(parts.join("; "));
    }
    report.failed_artifacts = failed.into_iter().collect();
    report.quality_gate = serde_json::to_value(&activation.quality_gate).ok();
    report.activation = serde_json::to_value(&activation).ok();
    report.extra.insert("verdicts".into(), serde_json::to_value(&verdicts).unwrap_or(Value::Null));
    Ok(verdicts)
}

/// Adds the outcome lists to the last report, updates the registry, rewrites the report.
fn finalize(options: &QualifyOptions, report: &mut QualificationReport, verdicts: &[Verdict]) {
    let qualified: BTreeSet<String> = verdicts.iter().filter(|v| v.passed()).map(|v| v.path.clone()).collect();
    let failed = report.status != verdict::PASSED;
    let quarantined: BTreeSet<String> =
        if failed { report.failed_artifacts.iter().cloned().collect() } else { BTreeSet::new() };
    report.qualified_artifacts = Some(qualified.into_iter().collect());
    if failed {
        report.quarantined_artifacts = Some(quarantined.iter().cloned().collect());
    }
    let updated = options.mark_registry && !verdicts.is_empty();
    if updated {
        let path = report.report_path.clone().unwrap_or_default();
        if let Err(e) = mark_registry(&options.source_workspace, &path, options.iteration, verdicts, &quarantined) {
            tracing::warn!(error = %e, "could not update the registry after qualification");
            report.extra.insert("registry_error".into(), json!(e.to_string()));
        }
    }
    report.extra.insert("registry_updated".into(), json!(updated && !report.extra.contains_key("registry_error")));
    write_report(report);
}

/// Passing artifacts: quarantine removed, `metadata.qualification` set. Failing counted artifacts
/// in `quarantine`: `metadata.quarantined` and `metadata.quarantine` set with their own reason.
/// Every other entry is left exactly as it was.
pub fn mark_registry(
    workspace: &Utf8Path,
    report_path: &str,
    iteration: u32,
    verdicts: &[Verdict],
    quarantine: &BTreeSet<String>,
) -> Result<(), reg::RegistryError> {
    let loaded = reg::load(workspace)?;
    let mut registry = loaded.registry;
    let now = utc_now();
    for a in &mut registry.artifacts {
        let Some(v) = verdicts.iter().find(|v| v.path == a.path && v.kind == a.kind) else { continue };
        if v.passed() {
            a.metadata.remove("quarantined");
            a.metadata.remove("quarantine");
            a.metadata.insert(
                "qualification".into(),
                json!({"status": "passed", "report_path": report_path, "iteration": iteration, "updated_at": now}),
            );
        } else if v.counted && quarantine.contains(&a.path) {
            a.metadata.insert("quarantined".into(), json!(true));
            a.metadata.insert(
                "quarantine".into(),
                json!({"status": "quarantined", "reason": v.reason, "report_path": report_path,
                       "iteration": iteration, "updated_at": now}),
            );
        }
    }
    reg::save(workspace, &mut registry)
}
