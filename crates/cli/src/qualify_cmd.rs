//! `harnessgym qualify`: a thin wrapper over harnessgym-qualify for bundles built by hand.

use harnessgym_core::lock::{LockMode, WorkspaceLock};
use std::process::ExitCode;

use anyhow::Context;
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use harnessgym_qualify::{NoRepair, QualifyOptions, Scope};
use harnessgym_snapshot::{CopyPolicy, Purpose};

use crate::cli::QualifyArgs;

fn canonical(raw: &str, what: &str, cwd: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    let p = Utf8PathBuf::from(raw);
    let p = if p.is_absolute() { p } else { cwd.join(p) };
    let c =
        std::fs::canonicalize(&p).with_context(|| format!("{what} {p} does not exist; pass an existing directory"))?;
    Utf8PathBuf::from_path_buf(c).map_err(|c| anyhow::anyhow!("{what} {} is not UTF-8", c.display()))
}

/// `path` made absolute and canonical without creating anything: the nearest existing ancestor
/// is canonicalised, the rest appended (`.` dropped, `..` taken lexically — those components do
/// not exist, so none is a symlink).
fn resolve_uncreated(path: &Utf8Path) -> anyhow::Result<Utf8PathBuf> {
    for ancestor in path.ancestors() {
        let Ok(canonical) = std::fs::canonicalize(ancestor) else { continue };
        let mut resolved = Utf8PathBuf::from_path_buf(canonical)
            .map_err(|c| anyhow::anyhow!("output directory {} is not UTF-8", c.display()))?;
        let rest = path.strip_prefix(ancestor).with_context(|| format!("resolving {path}"))?;
        for component in rest.components() {
            match component {
                Utf8Component::ParentDir => {
                    resolved.pop();
                }
                Utf8Component::Normal(name) => resolved.push(name),
                _ => {}
            }
        }
        return Ok(resolved);
    }
    anyhow::bail!("output directory {path} cannot be resolved; pass a path under an existing directory")
}

/// `true` when nothing is at `path`, or an empty directory.
fn is_absent_or_empty_dir(path: &Utf8Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none()),
        Ok(_) => false,
    }
}

/// Exit 0 when the report passed, 1 when it failed (or could not be made).
pub async fn qualify(args: QualifyArgs) -> anyhow::Result<ExitCode> {
    let cwd = crate::current_dir()?;
    let bundle = harnessgym_qualify::bundle::locate(&canonical(&args.bundle, "bundle", &cwd)?)?;
    let template = canonical(&args.template, "template", &cwd)?;
    if !template.is_dir() {
        anyhow::bail!("template {template} is not a directory; pass the clean task directory to --template");
    }
    let out = match &args.out {
        Some(d) => {
            let p = Utf8PathBuf::from(d);
            if p.is_absolute() { p } else { cwd.join(p) }
        }
        None => {
            let tmp = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|p| anyhow::anyhow!("temp dir {} is not UTF-8", p.display()))?;
            tmp.join(format!("harnessgym-qualify-{}", harnessgym_core::generate_run_id()))
        }
    };
    // Every refusal comes before anything is created.
    let out = resolve_uncreated(&out)?;
    if out.starts_with(&template) {
        anyhow::bail!(
            "--out {out} is inside --template {template}; the room would be copied into itself: choose a directory outside the task directory"
        );
    }
    if out.starts_with(&bundle) {
        anyhow::bail!(
            "--out {out} is inside the bundle {bundle}, which is never modified; pick a directory outside it"
        );
    }
    let report_dir = harnessgym_qualify::report_path(&out, 1).parent().map(Utf8Path::to_owned);
    for taken in [Some(out.join("room")), report_dir].into_iter().flatten() {
        if !is_absent_or_empty_dir(&taken) {
            anyhow::bail!("--out {out}: {taken} already exists and is not empty; pick a new or empty directory");
        }
    }
    let sandbox = match crate::bundle_sandbox(args.sandbox, true).await {
        Ok(sandbox) => sandbox,
        Err(code) => return Ok(code),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {out}"))?;
    let policy = CopyPolicy::load_from_snapshot(&template, Purpose::Copy)?;
    let source_workspace = match bundle.file_name() {
        Some(".harnessgym") => bundle.parent().map(Utf8Path::to_owned).unwrap_or_else(|| bundle.clone()),
        _ => bundle.clone(),
    };
    // Read only: other readers may share the bundle's workspace, a run or an activation may not.
    let _lock = WorkspaceLock::acquire(&source_workspace, LockMode::Shared)?;
    let room = out.join("room");
    eprintln!("Qualification room: {room}");
    let options = QualifyOptions {
        bundle,
        source_workspace,
        template,
        room,
        policy,
        reports_dir: out.clone(),
        // Not part of a run: every artifact counts, nothing is repaired, the bundle is not modified.
        iteration: 0,
        scope: Scope::All,
        repair_attempts: 0,
        harnessgym_bin: crate::mcp_cmds::harnessgym_bin()?,
        sandbox,
        mark_registry: false,
        room_prepared: false,
    };
    let reports = harnessgym_qualify::qualify(&options, &mut NoRepair).await;
    let Some(report) = reports.last() else {
        anyhow::bail!("qualification produced no report");
    };
    print!("{}", harnessgym_types::json::to_pretty(report)?);
    if let Some(refused) = report.extra.get("refused").and_then(serde_json::Value::as_array) {
        for r in refused {
            let path = r.get("path").and_then(serde_json::Value::as_str).unwrap_or("?");
            let reason = r.get("reason").and_then(serde_json::Value::as_str).unwrap_or("");
            eprintln!("harnessgym: refused {path}: {reason}");
        }
    }
    let path = report.report_path.as_deref().unwrap_or("-");
    eprintln!("Qualification report: {path} (status: {})", report.status);
    Ok(if report.status == "passed" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
