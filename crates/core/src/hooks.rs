//! Seams where activation and qualification plug into the loop. The spine ships placeholders:
//! activation that reports no MCP servers, and qualification that records `not_run` (never
//! `passed`). The real implementations come with `harnessgym-activation` / `harnessgym-qualify`.

use async_trait::async_trait;
use camino::Utf8PathBuf;
use harnessgym_types::activation::{ActivationReport, ArtifactRef, OverallGate};
use harnessgym_types::qualification::{QualificationReport, TemplateReport};
use harnessgym_types::registry::Registry;
use harnessgym_types::timefmt::utc_now;
use serde_json::Value;

/// Projects the registry's artifacts into the agent's native places and reports what is active.
#[async_trait]
pub trait Activator: Send + Sync {
    async fn activate(&self, workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport;
}

/// The real activation: skills linked, MCP servers smoke-tested, self-tested and configured for
/// both agents behind `harnessgym mcp-proxy` (run by `harnessgym_bin`).
#[derive(Debug, Clone)]
pub struct HarnessActivation {
    pub harnessgym_bin: Utf8PathBuf,
}

impl HarnessActivation {
    /// Uses the running executable as the `harnessgym` binary.
    pub fn from_current_exe() -> Self {
        let bin = std::env::current_exe().ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok());
        Self { harnessgym_bin: bin.unwrap_or_else(|| Utf8PathBuf::from("harnessgym")) }
    }
}

#[async_trait]
impl Activator for HarnessActivation {
    async fn activate(&self, workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport {
        let options = harnessgym_activation::ActivationOptions {
            workspace: workspace.to_owned(),
            harnessgym_bin: self.harnessgym_bin.clone(),
        };
        harnessgym_activation::activate(&options, registry).await
    }
}

/// Lists quarantined artifacts and activates nothing (no skills linked, no MCP servers).
#[derive(Debug, Default)]
pub struct NoActivation;

#[async_trait]
impl Activator for NoActivation {
    async fn activate(&self, _workspace: &camino::Utf8Path, registry: &Registry) -> ActivationReport {
        let quarantined_artifacts =
            registry.quarantined().map(|a| ArtifactRef { kind: a.kind.clone(), path: a.path.clone() }).collect();
        ActivationReport { quarantined_artifacts, quality_gate: OverallGate::default(), ..Default::default() }
    }
}

/// Asked by a qualifier to repair the artifacts in the same agent session. Returns `false` when
/// no repair could be run (e.g. no session to resume).
#[async_trait]
pub trait RepairHook: Send {
    async fn repair(&mut self, repair_attempt: u32, failed_report: &Value) -> bool;
}

pub struct QualifyRequest {
    pub iteration: u32,
    pub workspace: Utf8PathBuf,
    pub run_dir: Utf8PathBuf,
    pub iteration_dir: Utf8PathBuf,
    pub repair_attempts: u32,
}

/// Every qualification attempt's report (last one final), with `report_path` set.
pub struct QualificationOutcome {
    pub reports: Vec<QualificationReport>,
}

/// The clean-room check of the artifacts built in an iteration.
#[async_trait]
pub trait Qualifier: Send + Sync {
    /// Called once at run start (e.g. to capture the clean template).
    async fn prepare(
        &self,
        workspace: &camino::Utf8Path,
        run_dir: &camino::Utf8Path,
    ) -> Result<Option<TemplateReport>, String>;

    async fn qualify(&self, request: &QualifyRequest, repair: &mut dyn RepairHook) -> QualificationOutcome;
}

/// Records `status: "not_run"` with the reason: nothing is qualified until the clean-room
/// qualifier exists, and nothing may claim it passed.
#[derive(Debug, Default)]
pub struct NotRunQualifier;

pub const NOT_RUN_REASON: &str =
    "clean-room qualification is not available in this build yet; artifacts were neither qualified nor quarantined";

#[async_trait]
impl Qualifier for NotRunQualifier {
    async fn prepare(&self, _: &camino::Utf8Path, _: &camino::Utf8Path) -> Result<Option<TemplateReport>, String> {
        Ok(None)
    }

    async fn qualify(&self, request: &QualifyRequest, _repair: &mut dyn RepairHook) -> QualificationOutcome {
        let report_path = request.iteration_dir.join("qualification/attempt_1/qualification.json");
        let report = QualificationReport {
            created_at: utc_now(),
            status: "not_run".into(),
            iteration: request.iteration,
            source_workspace: Some(request.workspace.to_string()),
            fresh_workspace: None,
            copied_artifacts: Vec::new(),
            quality_gate: None,
            activation: None,
            failed_artifacts: Vec::new(),
            registry_artifact_count: 0,
            reason: Some(NOT_RUN_REASON.into()),
            report_path: Some(report_path.to_string()),
            qualified_artifacts: None,
            quarantined_artifacts: None,
            extra: Default::default(),
        };
        QualificationOutcome { reports: vec![report] }
    }
}
