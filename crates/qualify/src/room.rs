//! The clean workspace template and the room made from it.
//!
//! The template is captured once, at run start, with the workspace's copy policy, so
//! qualification always tests against the original task files. A run has one room: made with
//! `copy_tree` the first time, brought back to the template with `restore` before every later
//! use (rooms hold real files, so a self-test that scribbled on the task files is undone), kept
//! until the run ends so a repair can inspect the failure, then removed.
//!
//! The task's files are copied into the room only when something can see them: an MCP server
//! (its smoke test and self-test run in the room) or an artifact registered outside the bundle
//! (it resolves against the room's task files). Skills and tools inside the bundle are judged
//! by the bundle alone, so for them the room holds just the bundle ([`RoomState::BundleOnly`]):
//! same verdicts, no copy of a workspace that may be gigabytes. See [`needs_task_files`].

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_snapshot::CopyPolicy;
use harnessgym_types::qualification::TemplateReport;
use harnessgym_types::timefmt::utc_now;

use crate::QualifyError;
use crate::bundle::{BUNDLE_DIR, remove_any};

/// `<run dir>/qualification/workspace_template`.
pub fn template_dir(run_dir: &Utf8Path) -> Utf8PathBuf {
    run_dir.join("qualification/workspace_template")
}

/// `<run dir>/qualification/room`.
pub fn room_dir(run_dir: &Utf8Path) -> Utf8PathBuf {
    run_dir.join("qualification/room")
}

/// What activation writes at the top of a room; the copy policy excludes these names, so a
/// restore never touches them and the room is cleared of them explicitly.
const ROOM_STATE: [&str; 4] = [BUNDLE_DIR, ".codex", ".agents", ".claude"];

/// Captures `workspace` into `template` (replacing it) under `policy`, as a snapshot of the
/// workspace's store (`<workspace>/.harnessgym/store`): unchanged files cost one `lstat`, the
/// template holds only its manifest (no view: nobody browses it), and rooms are copied out of it.
///
/// A file list longer than 1,000 entries keeps its first 1,000 in the report, with
/// `files_truncated` and `files_list_path` (a side file beside the template) in `extra`, as
/// checkpoint manifests do; `bytes` and `digest` are added too.
pub fn capture_template(
    workspace: &Utf8Path,
    template: &Utf8Path,
    policy: &CopyPolicy,
) -> Result<TemplateReport, QualifyError> {
    let store = harnessgym_snapshot::Store::for_workspace(workspace)?;
    // Internal: rooms are restored and copied from the manifest and the store.
    let tree = store.capture_as(workspace, template, policy, harnessgym_snapshot::SnapshotView::ManifestOnly)?;
    template_report(workspace, template, &tree)
}

/// [`capture_template`] without reading the workspace again: the template is derived from
/// `start_snapshot`, a snapshot of the workspace's store taken a moment before under a policy
/// that keeps at least what `policy` keeps (the run's task-state snapshot).
pub fn derive_template(
    start_snapshot: &Utf8Path,
    workspace: &Utf8Path,
    template: &Utf8Path,
    policy: &CopyPolicy,
) -> Result<TemplateReport, QualifyError> {
    let store = harnessgym_snapshot::Store::for_workspace(workspace)?;
    let tree = store.derive(start_snapshot, template, policy, harnessgym_snapshot::SnapshotView::ManifestOnly)?;
    template_report(workspace, template, &tree)
}

fn template_report(
    workspace: &Utf8Path,
    template: &Utf8Path,
    tree: &harnessgym_snapshot::TreeReport,
) -> Result<TemplateReport, QualifyError> {
    let side_dir = template.parent().unwrap_or(template);
    let listing = tree.listing(side_dir, template.file_name().unwrap_or("template"))?;
    let mut extra = harnessgym_types::Extra::new();
    extra.insert("bytes".into(), tree.bytes.into());
    if let Some(digest) = &tree.digest {
        extra.insert("digest".into(), digest.clone().into());
    }
    if listing.truncated {
        extra.insert("files_truncated".into(), true.into());
    }
    if let Some(path) = &listing.list_path {
        extra.insert("files_list_path".into(), path.to_string().into());
    }
    Ok(TemplateReport {
        created_at: utc_now(),
        workspace: workspace.to_string(),
        template_path: template.to_string(),
        file_count: tree.file_count,
        files: listing.files,
        extra,
    })
}

/// How a room was made ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomState {
    /// Copied from the template (first use).
    Created,
    /// Restored from the template in place (later uses).
    Restored,
    /// An empty room for a bundle whose verdicts cannot depend on the task's files.
    BundleOnly,
}

impl RoomState {
    /// How the qualification report names what the room held (`room_contents`).
    pub fn contents(self) -> &'static str {
        match self {
            RoomState::Created | RoomState::Restored => "task files and bundle",
            RoomState::BundleOnly => "bundle only (no artifact runs in the room or lies outside the bundle)",
        }
    }
}

/// Beside a bundle-only room: `<room>.bundle-only` (outside the room, so no artifact sees it).
fn bundle_only_marker(room: &Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{room}.bundle-only"))
}

/// Whether qualifying the bundle of `workspace` (its `.harnessgym/`) needs the task's files in
/// the room: when its registry names an MCP server (smoke and self-tests run in the room) or an
/// artifact outside the bundle, and, to be safe, when the registry is missing, unreadable or
/// not understood (qualification then discovers or reads artifacts in the room). Reads the
/// registry without changing anything.
pub fn needs_task_files(workspace: &Utf8Path) -> bool {
    let path = harnessgym_artifacts::registry::registry_path(workspace);
    let registry = match harnessgym_types::json::read_value(&path) {
        Ok(Some(value)) => harnessgym_types::registry::Registry::from_value(value),
        Ok(None) | Err(_) => return true,
    };
    let Ok(registry) = registry else { return true };
    let prefix = format!("{BUNDLE_DIR}/");
    !registry.invalid.is_empty()
        || registry.artifacts.iter().any(|a| a.kind == "mcp" || !a.path.starts_with(&prefix) || a.path.contains(".."))
}

/// Whether `room` holds the task's files (made by [`prepare_room`], not [`prepare_bundle_only_room`]).
pub fn holds_task_files(room: &Utf8Path) -> bool {
    std::fs::symlink_metadata(room).is_ok_and(|m| m.is_dir()) && !bundle_only_marker(room).exists()
}

/// Makes `room` an empty directory for a bundle-only qualification. A room that holds the
/// task's files is made equal to the template instead (cheaper than deleting them, and as good).
pub fn prepare_bundle_only_room(
    template: &Utf8Path,
    room: &Utf8Path,
    policy: &CopyPolicy,
) -> Result<RoomState, QualifyError> {
    if holds_task_files(room) {
        return prepare_room(template, room, policy);
    }
    // Not read here, but a run whose template is gone is broken: say so, as a full room would.
    if !template.is_dir() {
        return Err(harnessgym_snapshot::SnapshotError::SnapshotMissing { path: template.to_owned() }.into());
    }
    let marker = bundle_only_marker(room);
    remove_any(room.as_std_path()).map_err(|source| QualifyError::Io { path: room.to_owned(), source })?;
    std::fs::create_dir_all(room).map_err(|source| QualifyError::Io { path: room.to_owned(), source })?;
    std::fs::write(&marker, b"this qualification room holds only the bundle\n")
        .map_err(|source| QualifyError::Io { path: marker, source })?;
    Ok(RoomState::BundleOnly)
}

/// Makes `room` equal to `template` with no bundle and no activation output in it.
pub fn prepare_room(template: &Utf8Path, room: &Utf8Path, policy: &CopyPolicy) -> Result<RoomState, QualifyError> {
    let exists = std::fs::symlink_metadata(room).is_ok_and(|m| m.is_dir());
    let marker = bundle_only_marker(room);
    if marker.exists() {
        // A bundle-only room: what activation left in it goes, the task's files come in.
        remove_any(room.as_std_path()).map_err(|source| QualifyError::Io { path: room.to_owned(), source })?;
    }
    let state = if exists && !marker.exists() {
        harnessgym_snapshot::restore(template, room, policy)?;
        RoomState::Restored
    } else {
        harnessgym_snapshot::copy_tree(template, room, policy)?;
        RoomState::Created
    };
    for name in ROOM_STATE {
        let path = room.join(name);
        remove_any(path.as_std_path()).map_err(|source| QualifyError::Io { path, source })?;
    }
    remove_any(marker.as_std_path()).map_err(|source| QualifyError::Io { path: marker, source })?;
    Ok(state)
}

/// Removes a room (nothing to do when it is gone already).
pub fn remove_room(room: &Utf8Path) -> Result<(), QualifyError> {
    remove_any(room.as_std_path()).map_err(|source| QualifyError::Io { path: room.to_owned(), source })?;
    let marker = bundle_only_marker(room);
    remove_any(marker.as_std_path()).map_err(|source| QualifyError::Io { path: marker, source })
}
