//! Skills: each active skill's directory linked into `.agents/skills/<name>` (Codex) and
//! `.claude/skills/<name>` (Claude Code); links of skills that are no longer active removed.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};
use harnessgym_types::activation::SkillActivation;
use harnessgym_types::confine;

/// Where the two agents look for skills, relative to the workspace.
pub const LINK_DIRS: [&str; 2] = [".agents/skills", ".claude/skills"];

#[derive(Debug, Default)]
pub struct SkillsOutcome {
    pub skills: Vec<SkillActivation>,
    /// Gate-failing problems (a skill artifact without SKILL.md, a link that cannot be made).
    pub warnings: Vec<String>,
    /// Advice that does not fail the gate (frontmatter that breaks the Agent Skills rules).
    pub advisories: Vec<String>,
}

/// Resolves a skill artifact path to its SKILL.md: the file itself, `<dir>/SKILL.md`, or a
/// sibling SKILL.md of another file.
pub fn resolve_skill_md(workspace: &Utf8Path, artifact_path: &str) -> Option<Utf8PathBuf> {
    let path = workspace.join(artifact_path);
    if path.file_name() == Some("SKILL.md") && path.is_file() {
        return Some(path);
    }
    if path.is_dir() {
        let inside = path.join("SKILL.md");
        return inside.is_file().then_some(inside);
    }
    let sibling = path.parent()?.join("SKILL.md");
    (path.is_file() && sibling.is_file()).then_some(sibling)
}

/// Advisory checks of the SKILL.md frontmatter against the Agent Skills rules: `name` of 1–64
/// characters from `a-z 0-9 -` equal to the directory name, `description` of 1–1024 characters.
pub fn frontmatter_advisories(skill_md: &Utf8Path, text: &str, dir_name: &str) -> Vec<String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("---") {
        return vec![format!(
            "{skill_md}: no YAML frontmatter; start the file with `---`, `name:` and `description:` lines"
        )];
    }
    let mut name = None;
    let mut description = None;
    for line in lines.by_ref() {
        if line.trim() == "---" {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
            match key.trim() {
                "name" => name = Some(value),
                "description" => description = Some(value),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    match name {
        None => out.push(format!("{skill_md}: frontmatter has no `name`; add `name: {dir_name}`")),
        Some(n) => {
            let valid = (1..=64).contains(&n.chars().count())
                && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid || n != dir_name {
                out.push(format!(
                    "{skill_md}: frontmatter name {n:?} should be 1-64 characters of a-z, 0-9 and '-' and equal the directory name {dir_name:?}"
                ));
            }
        }
    }
    match description {
        None => out
            .push(format!("{skill_md}: frontmatter has no `description`; say what the skill does and when to use it")),
        Some(d) if d.is_empty() || d.chars().count() > 1024 => {
            out.push(format!("{skill_md}: frontmatter description should be 1-1024 characters"))
        }
        Some(_) => {}
    }
    out
}

enum LinkOutcome {
    Linked,
    KeptRealDirectory,
}

/// Points `link` at `target`: an identical link is kept, another link or a regular file is
/// replaced atomically, a real directory is left untouched.
fn place_link(link: &Utf8Path, target: &Utf8Path) -> std::io::Result<LinkOutcome> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(link)? == target.as_std_path() {
                return Ok(LinkOutcome::Linked);
            }
        }
        Ok(m) if m.is_dir() => return Ok(LinkOutcome::KeptRealDirectory),
        Ok(_) | Err(_) => {}
    }
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = link.with_file_name(format!(".{}.harnessgym-link", link.file_name().unwrap_or("skill")));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)?;
    Ok(LinkOutcome::Linked)
}

/// The two link directories, each resolved inside the workspace, or why it is refused (it or
/// its parent is a symlink: nothing is created, replaced or deleted through it).
fn link_dirs(workspace: &Utf8Path) -> [Result<Utf8PathBuf, String>; 2] {
    LINK_DIRS.map(|dir| {
        confine::resolve_inside(workspace, Utf8Path::new(dir)).map_err(|e| {
            format!(
                "skills are not linked into {}: {e}; make it a real directory inside the workspace",
                workspace.join(dir)
            )
        })
    })
}

/// The skill's SKILL.md, resolved inside the workspace, or why the artifact is refused: a
/// registry path that is absolute or has `..`, or a path through a symlink (a skill folder or
/// SKILL.md that is a symlink could lead anywhere; it is never followed).
fn confined_skill_md(workspace: &Utf8Path, artifact_path: &str) -> Result<Utf8PathBuf, String> {
    let refused = |reason: String| format!("skill artifact refused ({reason}): {artifact_path}");
    if let Some(reason) = confine::registry_path_refusal(artifact_path) {
        return Err(refused(reason));
    }
    confine::resolve_inside(workspace, Utf8Path::new(artifact_path)).map_err(|e| refused(e.to_string()))?;
    let skill_md = resolve_skill_md(workspace, artifact_path)
        .ok_or_else(|| format!("skill artifact has no SKILL.md: {artifact_path}"))?;
    confine::resolve_inside(workspace, &skill_md).map_err(|e| refused(e.to_string()))
}

/// Links every resolvable skill (in order, each SKILL.md once) and removes links in the two link
/// directories that point into `.harnessgym/skills/` but belong to no active skill (bug B10).
/// Everything stays inside the workspace: refused skills and link directories are warnings.
pub fn activate_skills(workspace: &Utf8Path, skill_artifact_paths: &[&str]) -> SkillsOutcome {
    let mut outcome = SkillsOutcome::default();
    let dirs = link_dirs(workspace);
    if !skill_artifact_paths.is_empty() {
        outcome.warnings.extend(dirs.iter().filter_map(|d| d.as_ref().err().cloned()));
    }
    let mut seen = BTreeSet::new();
    let mut active_names = BTreeSet::new();
    for artifact_path in skill_artifact_paths {
        let skill_md = match confined_skill_md(workspace, artifact_path) {
            Ok(skill_md) => skill_md,
            Err(warning) => {
                outcome.warnings.push(warning);
                continue;
            }
        };
        if !seen.insert(skill_md.clone()) {
            continue;
        }
        let Some(skill_dir) = skill_md.parent().map(Utf8Path::to_owned) else { continue };
        let name = skill_dir.file_name().unwrap_or("skill").to_owned();
        if let Ok(text) = std::fs::read_to_string(&skill_md) {
            outcome.advisories.extend(frontmatter_advisories(&skill_md, &text, &name));
        }
        // A refused link directory gives no link (and an empty path in the report).
        let links: Vec<Option<Utf8PathBuf>> = dirs.iter().map(|d| d.as_ref().ok().map(|d| d.join(&name))).collect();
        if links.iter().all(Option::is_none) {
            continue;
        }
        for link in links.iter().flatten() {
            match place_link(link, &skill_dir) {
                Ok(LinkOutcome::Linked) => {}
                Ok(LinkOutcome::KeptRealDirectory) => outcome
                    .advisories
                    .push(format!("{link} is a real directory; left it alone and did not link skill {name}")),
                Err(e) => outcome.warnings.push(format!("could not link skill {name} at {link}: {e}")),
            }
        }
        active_names.insert(name.clone());
        let shown = |i: usize| links[i].as_ref().map(ToString::to_string).unwrap_or_default();
        outcome.skills.push(SkillActivation {
            artifact_path: (*artifact_path).to_owned(),
            skill_path: skill_md.to_string(),
            activated_path: shown(0),
            codex_activated_path: shown(0),
            claude_activated_path: shown(1),
            extra: Default::default(),
        });
    }
    remove_stale_links(workspace, &dirs, &active_names, &mut outcome);
    outcome
}

/// Removes our stale links, only in link directories that are confined (never through a
/// symlinked one).
fn remove_stale_links(
    workspace: &Utf8Path,
    dirs: &[Result<Utf8PathBuf, String>],
    active: &BTreeSet<String>,
    outcome: &mut SkillsOutcome,
) {
    let skills_root = workspace.join(".harnessgym/skills");
    for dir in dirs.iter().flatten() {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.file_type().is_symlink() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = std::fs::read_link(&path).is_ok_and(|t| t.starts_with(skills_root.as_std_path()));
            if ours
                && !active.contains(&name)
                && let Err(e) = std::fs::remove_file(&path)
            {
                outcome.warnings.push(format!("could not remove stale skill link {}: {e}", path.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Utf8PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = Utf8PathBuf::from_path_buf(d.path().to_path_buf()).unwrap();
        (d, p)
    }

    fn skill(ws: &Utf8Path, name: &str) {
        let dir = ws.join(".harnessgym/skills").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("SKILL.md"), format!("---\nname: {name}\ndescription: Helps.\n---\nBody\n")).unwrap();
    }

    #[test]
    fn file_and_dir_entries_give_one_skill_linked_for_both_agents() {
        let (_d, ws) = ws();
        skill(&ws, "kernel-skill");
        let out =
            activate_skills(&ws, &[".harnessgym/skills/kernel-skill/SKILL.md", ".harnessgym/skills/kernel-skill"]);
        assert_eq!(out.skills.len(), 1, "{out:?}");
        assert!(out.warnings.is_empty() && out.advisories.is_empty(), "{out:?}");
        for d in LINK_DIRS {
            let link = ws.join(d).join("kernel-skill");
            assert_eq!(std::fs::read_link(&link).unwrap(), ws.join(".harnessgym/skills/kernel-skill").as_std_path());
        }
        assert_eq!(out.skills[0].claude_activated_path, ws.join(".claude/skills/kernel-skill").as_str());
    }

    #[test]
    fn real_directory_at_the_link_path_is_left_alone() {
        let (_d, ws) = ws();
        skill(&ws, "k");
        let real = ws.join(".agents/skills/k");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("mine.txt"), "user data").unwrap();
        activate_skills(&ws, &[".harnessgym/skills/k"]);
        assert!(!std::fs::symlink_metadata(&real).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(real.join("mine.txt")).unwrap(), "user data");
    }

    #[test]
    fn regular_file_at_the_link_path_is_replaced_by_the_link() {
        let (_d, ws) = ws();
        skill(&ws, "k");
        std::fs::create_dir_all(ws.join(".claude/skills")).unwrap();
        std::fs::write(ws.join(".claude/skills/k"), "stale").unwrap();
        activate_skills(&ws, &[".harnessgym/skills/k"]);
        assert!(std::fs::symlink_metadata(ws.join(".claude/skills/k")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn links_of_skills_no_longer_active_are_removed_but_user_links_stay() {
        let (_d, ws) = ws();
        skill(&ws, "a");
        skill(&ws, "b");
        activate_skills(&ws, &[".harnessgym/skills/a", ".harnessgym/skills/b"]);
        std::os::unix::fs::symlink("/usr", ws.join(".agents/skills/users-own")).unwrap();
        activate_skills(&ws, &[".harnessgym/skills/b"]);
        assert!(std::fs::symlink_metadata(ws.join(".agents/skills/a")).is_err());
        assert!(std::fs::symlink_metadata(ws.join(".claude/skills/a")).is_err());
        assert!(std::fs::symlink_metadata(ws.join(".agents/skills/b")).is_ok());
        assert!(std::fs::symlink_metadata(ws.join(".agents/skills/users-own")).is_ok());
    }

    #[test]
    fn missing_skill_md_is_a_warning() {
        let (_d, ws) = ws();
        let out = activate_skills(&ws, &[".harnessgym/skills/nope"]);
        assert_eq!(out.warnings, ["skill artifact has no SKILL.md: .harnessgym/skills/nope"]);
    }

    #[test]
    fn frontmatter_problems_are_advisories() {
        let p = Utf8Path::new("s/SKILL.md");
        assert!(frontmatter_advisories(p, "---\nname: k\ndescription: d\n---\n", "k").is_empty());
        assert_eq!(frontmatter_advisories(p, "no frontmatter", "k").len(), 1);
        assert_eq!(frontmatter_advisories(p, "---\nname: Kernel Skill\n---\n", "k").len(), 2);
        let long = "x".repeat(1025);
        assert_eq!(frontmatter_advisories(p, &format!("---\nname: k\ndescription: {long}\n---\n"), "k").len(), 1);
    }
}
