//! One verdict per registry artifact (fixing the reference's whole-gate blast radius, core.md
//! B9 / integration.md W28): an MCP server passes or fails on its own smoke test, self-test and
//! tool inventory; a skill on a resolvable SKILL.md (frontmatter problems are advisory); every
//! other artifact on existing inside the bundle. A refused path fails the artifact that owns it.

use camino::Utf8Path;
use harnessgym_activation::mcp::manifest_path;
use harnessgym_activation::skills::resolve_skill_md;
use harnessgym_types::activation::{ActivationReport, McpServerActivation};
use harnessgym_types::registry::Artifact;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bundle::{BUNDLE_DIR, Refusal, registry_path_refusal};

pub const PASSED: &str = "passed";
pub const FAILED: &str = "failed";

/// `verdicts[]` of `qualification.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub path: String,
    pub kind: String,
    /// `passed` or `failed`.
    pub status: String,
    pub reason: String,
    /// Whether this verdict decides the report's status (an artifact of the iteration being
    /// qualified); others are reported but neither fail the report nor get quarantined.
    pub counted: bool,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.status == PASSED
    }
}

/// Whether artifact `a` owns the refused room-relative `path`: the path is the artifact or lies
/// under it, or — for skills and MCP servers, whose unit is their directory — lies in the
/// directory of the artifact's SKILL.md / manifest (`.harnessgym/<kind dir>/<name>/…`).
pub fn owns(a: &Artifact, path: &str) -> bool {
    let own = a.path.trim_end_matches('/');
    if path == own || path.starts_with(&format!("{own}/")) {
        return true;
    }
    if !matches!(a.kind.as_str(), "skill" | "mcp") {
        return false;
    }
    let dir = Utf8Path::new(own).parent().map(Utf8Path::as_str).unwrap_or_default();
    dir.split('/').count() >= 3 && dir.starts_with(&format!("{BUNDLE_DIR}/")) && path.starts_with(&format!("{dir}/"))
}

fn outcome(a: &Artifact, passed: bool, reason: String, counted: bool) -> Verdict {
    Verdict {
        path: a.path.clone(),
        kind: a.kind.clone(),
        status: if passed { PASSED } else { FAILED }.into(),
        reason,
        counted,
    }
}

/// The verdict of one artifact of the room's registry after activation in the room.
pub fn judge(
    room: &Utf8Path,
    a: &Artifact,
    activation: &ActivationReport,
    refused: &[Refusal],
    counted: bool,
) -> Verdict {
    if let Some(reason) = registry_path_refusal(&a.path) {
        return outcome(a, false, format!("refused: {reason}"), counted);
    }
    if let Some(r) = refused.iter().find(|r| owns(a, &r.path)) {
        return outcome(a, false, r.to_string(), counted);
    }
    match a.kind.as_str() {
        "mcp" => mcp_verdict(room, a, activation, counted),
        "skill" => match resolve_skill_md(room, &a.path) {
            Some(md) => {
                let rel = md.strip_prefix(room).map(|p| p.to_string()).unwrap_or_else(|_| md.to_string());
                outcome(a, true, format!("SKILL.md found at {rel}"), counted)
            }
            None => outcome(
                a,
                false,
                format!("no SKILL.md at {} (the file itself, <dir>/SKILL.md or a sibling SKILL.md)", a.path),
                counted,
            ),
        },
        _ => {
            if !a.path.starts_with(&format!("{BUNDLE_DIR}/")) {
                outcome(
                    a,
                    false,
                    format!("{} is outside {BUNDLE_DIR}/: only the bundle is copied into the clean room", a.path),
                    counted,
                )
            } else if room.join(&a.path).exists() {
                outcome(a, true, "present in the bundle".into(), counted)
            } else {
                outcome(a, false, format!("missing from the bundle: {} does not exist", a.path), counted)
            }
        }
    }
}

fn text<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// Why an inactive server failed: its gate message plus the failing checks' own messages.
fn server_failure(e: &McpServerActivation) -> String {
    let gate = e.extra.get("quality_gate");
    let mut reason = format!(
        "MCP server {}: {}",
        e.name,
        text(gate, "message").unwrap_or("inactive (smoke, self-test or tool inventory failed)")
    );
    let mut details = Vec::new();
    if text(e.smoke.as_ref(), "status") != Some(PASSED)
        && let Some(m) = text(e.smoke.as_ref(), "message")
    {
        details.push(format!("smoke: {m}"));
    }
    let test = e.extra.get("self_test");
    if text(test, "status") != Some(PASSED)
        && let Some(m) = text(test, "message")
    {
        details.push(format!("self-test: {m}"));
    }
    if !details.is_empty() {
        reason.push_str(&format!(" ({})", details.join("; ")));
    }
    reason
}

fn mcp_verdict(room: &Utf8Path, a: &Artifact, activation: &ActivationReport, counted: bool) -> Verdict {
    let Some(manifest) = manifest_path(room, &a.path) else {
        return outcome(
            a,
            false,
            format!("no MCP manifest (mcp.json, server.json or harnessgym-mcp.json) at {}", a.path),
            counted,
        );
    };
    let entry =
        activation.mcp_servers.iter().find(|e| manifest_path(room, &e.artifact_path).as_ref() == Some(&manifest));
    match entry {
        Some(e) if e.is_active() => {
            let tools = e.tools();
            outcome(
                a,
                true,
                format!(
                    "MCP server {}: smoke, self-test and tool inventory passed ({} tool(s): {})",
                    e.name,
                    tools.len(),
                    tools.join(", ")
                ),
                counted,
            )
        }
        Some(e) => outcome(a, false, server_failure(e), counted),
        None => {
            let reason = activation
                .warnings
                .iter()
                .find(|w| w.contains(manifest.as_str()) || w.ends_with(&format!(": {}", a.path)))
                .cloned()
                .unwrap_or_else(|| {
                    "MCP server was not activated: another server with the same name was activated first (give each server a unique name)"
                        .to_owned()
                });
            outcome(a, false, reason, counted)
        }
    }
}
