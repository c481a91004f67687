//! `.harnessgym/registry.json` on disk: load (tolerant), sync from files, save (atomic).

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::registry::{ARTIFACT_DIRS, Artifact, MCP_MANIFEST_NAMES, Registry};
use harnessgym_types::timefmt::utc_now;

use crate::prompts::ArtifactListing;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io { path: Utf8PathBuf, source: std::io::Error },
    #[error(transparent)]
    Types(#[from] harnessgym_types::TypesError),
}

/// Characters of an artifact file shown in the attempt prompt's preview (the prompt truncates
/// further); reading is capped so a huge artifact cannot bloat memory.
const PREVIEW_READ_BYTES: usize = 16 * 1024;

pub fn harness_dir(workspace: &Utf8Path) -> Utf8PathBuf {
    workspace.join(".harnessgym")
}

pub fn registry_path(workspace: &Utf8Path) -> Utf8PathBuf {
    harness_dir(workspace).join("registry.json")
}

/// Creates the eight artifact directories and `runs/`.
pub fn ensure_artifact_dirs(workspace: &Utf8Path) -> Result<(), RegistryError> {
    let root = harness_dir(workspace);
    for dir in ARTIFACT_DIRS.iter().map(|(_, d)| *d).chain(["runs"]) {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(|source| RegistryError::Io { path, source })?;
    }
    Ok(())
}

/// The registry plus the problems met while reading it (each names the file and what to do).
#[derive(Debug, Default)]
pub struct Loaded {
    pub registry: Registry,
    pub problems: Vec<String>,
}

/// The largest registry.json read (256 MiB, about 500,000 entries): an agent writes it, and a
/// bigger file (or one that never ends) is moved aside unread rather than read into memory.
pub const MAX_REGISTRY_BYTES: u64 = 256 * 1024 * 1024;

/// Loads the registry, never failing on its content: a missing file is an empty registry; a file
/// that is not a JSON object, or is larger than [`MAX_REGISTRY_BYTES`], is moved aside to
/// `registry.invalid-<n>.json` (nothing is lost) and an empty registry is used; entries without
/// `kind`/`path` are kept verbatim and reported.
pub fn load(workspace: &Utf8Path) -> Result<Loaded, RegistryError> {
    load_at_most(workspace, MAX_REGISTRY_BYTES)
}

fn load_at_most(workspace: &Utf8Path, limit: u64) -> Result<Loaded, RegistryError> {
    use std::io::Read;
    let path = registry_path(workspace);
    let mut loaded = Loaded::default();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes));
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(loaded),
        Err(source) => return Err(RegistryError::Io { path, source }),
    }
    if bytes.len() as u64 > limit {
        drop(bytes);
        let aside = move_aside(&path)?;
        loaded.problems.push(format!(
            "{path}: larger than {limit} bytes, the most a registry may be; moved it to {aside} unread and started an \
             empty registry (a registry lists artifacts: prune it and move it back to keep its entries)"
        ));
        return Ok(loaded);
    }
    let text = String::from_utf8_lossy(&bytes);
    // A well-formed registry is read entry by entry (no `Value` tree of the whole file); anything
    // else goes the general way, which reads Python's `NaN` and says what is wrong.
    let problem = match Registry::from_json_str(&text) {
        Some(registry) => {
            loaded.registry = registry;
            None
        }
        None => match harnessgym_types::json::parse_lenient(&text).map(Registry::from_value) {
            Ok(Ok(registry)) => {
                loaded.registry = registry;
                None
            }
            Ok(Err(problem)) => Some(problem.to_string()),
            Err(source) => Some(format!("not valid JSON ({source})")),
        },
    };
    drop(text);
    drop(bytes);
    if let Some(problem) = problem {
        let aside = move_aside(&path)?;
        loaded.problems.push(format!(
            "{path}: {problem}; moved it to {aside} and started an empty registry (fix the file and move it back to keep its entries)"
        ));
    }
    for entry in &loaded.registry.invalid {
        loaded.problems.push(format!(
            "{path}: {}; the entry is kept but ignored (give it \"kind\" and \"path\"): {}",
            entry.problem, entry.raw
        ));
    }
    Ok(loaded)
}

/// Renames `path` to the first free `<stem>.invalid-<n>.<ext>` beside it and returns the new path.
pub fn move_aside(path: &Utf8Path) -> Result<Utf8PathBuf, RegistryError> {
    let stem = path.file_stem().unwrap_or("file");
    let ext = path.extension().unwrap_or("json");
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    let mut n = 1;
    let target = loop {
        let candidate = dir.join(format!("{stem}.invalid-{n}.{ext}"));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    std::fs::rename(path, &target).map_err(|source| RegistryError::Io { path: path.to_owned(), source })?;
    Ok(target)
}

/// Saves atomically, refreshing `updated_at`.
pub fn save(workspace: &Utf8Path, registry: &mut Registry) -> Result<(), RegistryError> {
    registry.updated_at = utc_now();
    // The same bytes as `json::write_json(&registry.to_value())`, without the `Value` copies.
    let path = registry_path(workspace);
    harnessgym_types::atomic::write_atomic(&path, registry.to_pretty_json()?.as_bytes())?;
    Ok(())
}

/// Registers artifact files that appeared under `.harnessgym/<kind dir>/` and are not in the
/// registry yet (matched by id `<kind>:<path>`); existing entries are never changed or removed.
/// Skills register only `SKILL.md`, MCP servers only their manifests, other kinds every file.
/// Symlinks are not followed. Returns the ids added.
pub fn sync_from_files(
    workspace: &Utf8Path,
    registry: &mut Registry,
    iteration: Option<i64>,
) -> Result<Vec<String>, RegistryError> {
    ensure_artifact_dirs(workspace)?;
    // The ids already registered, looked up once per file (a scan per file was quadratic).
    let mut known: std::collections::HashSet<String> = registry.artifacts.iter().map(|a| a.id.clone()).collect();
    let mut added = Vec::new();
    for (kind, dir) in ARTIFACT_DIRS {
        let root = harness_dir(workspace).join(dir);
        let walker = walkdir::WalkDir::new(&root).follow_links(false).sort_by_file_name();
        for entry in walker.into_iter().filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(rel) = entry.path().strip_prefix(workspace).ok().and_then(|p| p.to_str()) else {
                continue;
            };
            let name = entry.file_name().to_string_lossy();
            let cached = rel.split('/').any(|c| c == "__pycache__") || name.ends_with(".pyc") || name.ends_with(".pyo");
            let wanted = match kind {
                "skill" => name == "SKILL.md",
                "mcp" => MCP_MANIFEST_NAMES.contains(&name.as_ref()),
                _ => true,
            };
            if cached || !wanted {
                continue;
            }
            let id = format!("{kind}:{rel}");
            if known.contains(&id) {
                continue;
            }
            let mut artifact = Artifact::new(kind, rel, &format!("Discovered {kind} artifact at {rel}"), iteration);
            artifact.metadata.insert("source".into(), "filesystem-sync".into());
            // A new id: what `upsert` does for it, without its scan.
            registry.artifacts.push(artifact);
            known.insert(id.clone());
            added.push(id);
        }
    }
    save(workspace, registry)?;
    Ok(added)
}

/// A workspace-relative path that stays inside the workspace (no `..`, not absolute).
pub fn contained_path(workspace: &Utf8Path, rel: &str) -> Option<Utf8PathBuf> {
    let rel = Utf8Path::new(rel);
    let safe = rel.components().all(|c| matches!(c, camino::Utf8Component::Normal(_) | camino::Utf8Component::CurDir));
    safe.then(|| workspace.join(rel))
}

/// The visible (non-quarantined) artifacts as the attempt prompt lists them, with a preview of
/// each known-kind artifact that is a regular file inside the workspace and that the prompt lists
/// ([`crate::prompts::listed_artifacts`]: the others are only counted, so their files are not read).
pub fn listings(workspace: &Utf8Path, registry: &Registry) -> Vec<ArtifactListing> {
    let known = |k: &str| ARTIFACT_DIRS.iter().any(|(kind, _)| *kind == k);
    let mut all: Vec<ArtifactListing> = registry
        .visible()
        .map(|a| ArtifactListing {
            kind: a.kind.clone(),
            path: a.path.clone(),
            description: a.description.clone(),
            preview: None,
            iteration: a.iteration,
        })
        .collect();
    let (listed, _) = crate::prompts::listed_artifacts(&all);
    for (a, keep) in all.iter_mut().zip(listed) {
        if keep {
            a.preview = known(&a.kind)
                .then(|| contained_path(workspace, &a.path))
                .flatten()
                .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
                .and_then(|p| read_prefix(&p));
        }
    }
    all
}

fn read_prefix(path: &Utf8Path) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut buf = Vec::with_capacity(PREVIEW_READ_BYTES);
    file.take(PREVIEW_READ_BYTES as u64).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_registry_over_the_limit_is_moved_aside_unread_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        std::fs::create_dir_all(ws.join(".harnessgym")).unwrap();
        let text = r#"{"version": 1, "artifacts": [{"kind": "skill", "path": ".harnessgym/skills/a"}]}"#;
        std::fs::write(registry_path(&ws), text).unwrap();
        let small = load_at_most(&ws, 1024).unwrap();
        assert_eq!(small.registry.artifacts.len(), 1);
        let loaded = load_at_most(&ws, 16).unwrap();
        assert!(loaded.registry.artifacts.is_empty());
        assert!(loaded.problems[0].contains("larger than 16 bytes"), "{:?}", loaded.problems);
        assert_eq!(std::fs::read_to_string(ws.join(".harnessgym/registry.invalid-1.json")).unwrap(), text);
        assert!(!registry_path(&ws).exists());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const KEYS: &[&str] = &[
        "version",
        "updated_at",
        "metadata",
        "artifacts",
        "id",
        "kind",
        "path",
        "description",
        "iteration",
        "created_at",
    ];

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
            proptest::sample::select(&["tool", "docs", ".harnessgym/tools/a.py", ""][..]).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(KEYS).prop_map(str::to_owned), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// registry.json bytes: arbitrary, a near-valid registry (cut short or with `NaN` spliced
    /// in), or a valid one with entries of any shape.
    fn arb_registry_bytes() -> impl Strategy<Value = Vec<u8>> {
        let doc = (arb_json(), proptest::collection::vec(arb_json(), 0..5))
            .prop_map(|(top, entries)| {
                let mut top = match top {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                top.insert("artifacts".into(), Value::Array(entries));
                Value::Object(top).to_string()
            })
            .boxed();
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            arb_json().prop_map(|v| v.to_string().into_bytes()),
            doc.clone().prop_map(String::into_bytes),
            (doc, any::<prop::sample::Index>(), any::<bool>()).prop_map(|(text, at, nan)| {
                let mut bytes = text.into_bytes();
                let at = at.index(bytes.len() + 1);
                if nan {
                    bytes.splice(at..at, b"NaN".iter().copied());
                } else {
                    bytes.truncate(at);
                }
                bytes
            }),
        ]
    }

    proptest! {
        /// Whatever registry.json holds, `load` never fails on its content and loses nothing:
        /// a registry (its unreadable entries reported with a message), or an empty one with
        /// the file moved aside byte for byte and a problem naming both files.
        #[test]
        fn load_accepts_any_file_and_loses_nothing(bytes in arb_registry_bytes()) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ws = Utf8Path::from_path(dir.path()).ok_or_else(|| TestCaseError::fail("non-utf8"))?;
            ensure_artifact_dirs(ws).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path = registry_path(ws);
            std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let loaded = load(ws).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(loaded.problems.iter().all(|p| p.starts_with(path.as_str()) && p.len() > path.as_str().len()));
            let aside = path.with_file_name("registry.invalid-1.json");
            if path.exists() {
                prop_assert!(!aside.exists());
                prop_assert_eq!(loaded.problems.len(), loaded.registry.invalid.len());
            } else {
                prop_assert_eq!(std::fs::read(&aside).ok(), Some(bytes));
                prop_assert!(loaded.registry.artifacts.is_empty() && loaded.problems.len() == 1);
            }
        }
    }

    fn ws() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        (dir, path)
    }

    fn write(path: &Utf8Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn sync_registers_the_right_files_and_persists() {
        let (_d, ws) = ws();
        let h = harness_dir(&ws);
        write(&h.join("tools/probe.py"), "print(1)");
        write(&h.join("docs/notes.md"), "n");
        write(&h.join("tests/test_probe.py"), "t");
        write(&h.join("skills/kern/SKILL.md"), "---\nname: kern\n---");
        write(&h.join("skills/kern/notes.md"), "not a skill");
        write(&h.join("mcp/srv/mcp.json"), "{}");
        write(&h.join("mcp/srv/server.py"), "");
        write(&h.join("tools/__pycache__/probe.cpython-311.pyc"), "");
        let mut registry = Registry::default();
        let added = sync_from_files(&ws, &mut registry, None).unwrap();
        let mut expected = vec![
            "skill:.harnessgym/skills/kern/SKILL.md",
            "mcp:.harnessgym/mcp/srv/mcp.json",
            "tool:.harnessgym/tools/probe.py",
            "test:.harnessgym/tests/test_probe.py",
            "docs:.harnessgym/docs/notes.md",
        ];
        let mut got = added;
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        let reloaded = load(&ws).unwrap();
        assert_eq!(reloaded.registry.artifacts.len(), 5);
        assert_eq!(reloaded.registry.artifacts[0].metadata["source"], "filesystem-sync");
        assert!(reloaded.problems.is_empty());
    }

    #[test]
    fn sync_never_overwrites_or_deletes() {
        let (_d, ws) = ws();
        let mut registry = Registry::default();
        registry.upsert(Artifact::new("tool", ".harnessgym/tools/a.py", "mine", Some(3)));
        registry.upsert(Artifact::new("tool", ".harnessgym/tools/gone.py", "deleted file", Some(1)));
        write(&harness_dir(&ws).join("tools/a.py"), "x");
        let added = sync_from_files(&ws, &mut registry, Some(9)).unwrap();
        assert!(added.is_empty());
        assert_eq!(registry.artifacts.len(), 2);
        assert_eq!(registry.artifacts[0].description, "mine");
        assert_eq!(registry.artifacts[0].iteration, Some(3));
    }

    #[test]
    fn unreadable_registry_is_moved_aside_not_fatal() {
        let (_d, ws) = ws();
        write(&registry_path(&ws), "{not json");
        let loaded = load(&ws).unwrap();
        assert!(loaded.registry.artifacts.is_empty());
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0].contains("registry.invalid-1.json"), "{}", loaded.problems[0]);
        assert_eq!(std::fs::read_to_string(harness_dir(&ws).join("registry.invalid-1.json")).unwrap(), "{not json");
    }

    #[test]
    fn registry_entry_without_kind_is_reported_with_the_file() {
        let (_d, ws) = ws();
        write(&registry_path(&ws), r#"{"artifacts": [{"path": "x"}]}"#);
        let loaded = load(&ws).unwrap();
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0].contains("registry.json") && loaded.problems[0].contains("kind"));
    }

    #[test]
    fn registry_entry_with_a_kind_that_is_not_a_string_names_its_type() {
        let (_d, ws) = ws();
        write(&registry_path(&ws), r#"{"artifacts": [{"kind": 1, "path": "x"}]}"#);
        let loaded = load(&ws).unwrap();
        assert_eq!(loaded.problems.len(), 1);
        assert!(
            loaded.problems[0].contains(r#"artifact entry "kind" is a number, not a string"#),
            "{}",
            loaded.problems[0]
        );
        assert!(!loaded.problems[0].contains("has no"), "{}", loaded.problems[0]);
    }

    #[test]
    fn listings_read_previews_only_for_the_artifacts_the_prompt_lists() {
        let (_d, ws) = ws();
        let mut registry = Registry::default();
        for i in 0..60 {
            let rel = format!(".harnessgym/tools/t{i:02}.py");
            write(&ws.join(&rel), "print(1)\n");
            registry.upsert(Artifact::new("tool", &rel, "", Some(i)));
        }
        let l = listings(&ws, &registry);
        assert_eq!(l.len(), 60, "every visible artifact is counted");
        assert!(l[..10].iter().all(|a| a.preview.is_none()), "the 10 oldest are not listed");
        assert!(l[10..].iter().all(|a| a.preview.as_deref() == Some("print(1)\n")));
        assert_eq!(l[59].iteration, Some(59));
    }

    #[test]
    fn listings_preview_files_but_never_outside_the_workspace() {
        let (_d, ws) = ws();
        write(&harness_dir(&ws).join("docs/recurrence.md"), "Exact recurrence notes.");
        let mut registry = Registry::default();
        registry.upsert(Artifact::new("docs", ".harnessgym/docs/recurrence.md", "Notes", None));
        registry.upsert(Artifact::new("docs", "../../etc/passwd", "hostile", None));
        let l = listings(&ws, &registry);
        assert_eq!(l[0].preview.as_deref(), Some("Exact recurrence notes."));
        assert_eq!(l[1].preview, None);
    }
}
