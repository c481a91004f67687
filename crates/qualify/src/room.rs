//! The clean workspace template and the room made from it.
//!
//! The template is captured once, at run start, with the workspace's copy policy, so
//! qualification always tests against the original task files. A run has one room: made with
//! `copy_tree` the first time, brought back to the template with `restore` before every later
//! use (rooms hold real files, so a self-test that scribbled on the task files is undone), kept
//! until the run ends so a repair can inspect the failure, then removed.

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
}

/// Makes `room` equal to `template` with no bundle and no activation output in it.
pub fn prepare_room(template: &Utf8Path, room: &Utf8Path, policy: &CopyPolicy) -> Result<RoomState, QualifyError> {
    let exists = std::fs::symlink_metadata(room).is_ok_and(|m| m.is_dir());
    let state = if exists {
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
    Ok(state)
}

/// Removes a room (nothing to do when it is gone already).
pub fn remove_room(room: &Utf8Path) -> Result<(), QualifyError> {
    remove_any(room.as_std_path()).map_err(|source| QualifyError::Io { path: room.to_owned(), source })
}
