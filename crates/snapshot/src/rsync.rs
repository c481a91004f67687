//! A copy policy rendered as rsync filter rules, for copies made on another host (the remote
//! post command's and the remote agent's mirrors). One definition of what a copy leaves out —
//! [`Purpose`]'s built-in exclusions plus `.harnessgymignore` — serves local copies
//! ([`CopyPolicy::is_excluded`]) and rsync alike.

use crate::policy::{
    AGENT_MIRROR_EXCLUDED_NAMES, COPY_EXCLUDED_NAMES, COPY_EXCLUDED_SUFFIXES, CopyPolicy, Purpose,
    TASK_STATE_EXCLUDED_TOP_LEVEL,
};

impl CopyPolicy {
    /// This policy as rsync filter rules (see [`rsync_rules`]).
    pub fn rsync_rules(&self) -> Vec<String> {
        rsync_rules(self.purpose(), self.ignore_text())
    }
}

/// The rsync filter rules of `purpose` with a workspace's `.harnessgymignore` text: the built-in
/// names (at any depth, or at the top for [`Purpose::TaskState`]), the ignore file's patterns
/// (gitignore's last match wins, `!` re-includes), then files — never directories — ending in
/// one of the excluded suffixes. rsync protects excluded paths from `--delete` on the receiving
/// side, as a local restore never touches a path its policy excludes.
pub fn rsync_rules(purpose: Purpose, ignore_text: Option<&str>) -> Vec<String> {
    let (names, anchored, suffixes): (&[&str], bool, &[&str]) = match purpose {
        Purpose::Copy => (COPY_EXCLUDED_NAMES, false, COPY_EXCLUDED_SUFFIXES),
        Purpose::AgentMirror => (AGENT_MIRROR_EXCLUDED_NAMES, false, COPY_EXCLUDED_SUFFIXES),
        Purpose::TaskState => (TASK_STATE_EXCLUDED_TOP_LEVEL, true, &[]),
    };
    let mut rules: Vec<String> =
        names.iter().map(|name| if anchored { format!("- /{name}") } else { format!("- {name}") }).collect();
    if let Some(text) = ignore_text {
        rules.extend(gitignore_rules(text));
    }
    rules.extend(suffixes.iter().map(|suffix| format!("+ *{suffix}/")));
    rules.extend(suffixes.iter().map(|suffix| format!("- *{suffix}")));
    rules
}

/// gitignore lines as rsync filter rules. rsync's first match wins where gitignore's last match
/// wins, so the order is reversed; a pattern with a slash before its end is anchored to the root,
/// as in gitignore.
pub fn gitignore_rules(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rules = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches(['\r']);
        let line = trim_unescaped_trailing_spaces(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (include, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let pattern = pattern.strip_prefix('\\').filter(|p| p.starts_with(['#', '!'])).unwrap_or(pattern);
        let body = pattern.trim_end_matches('/');
        if body.is_empty() {
            continue;
        }
        let anchored = if !pattern.starts_with('/') && body.contains('/') && !pattern.starts_with("**/") {
            format!("/{pattern}")
        } else {
            pattern.to_owned()
        };
        rules.push(format!("{} {anchored}", if include { '+' } else { '-' }));
    }
    rules.reverse();
    rules
}

fn trim_unescaped_trailing_spaces(line: &str) -> &str {
    let mut end = line.len();
    while end > 0 && line.as_bytes()[end - 1] == b' ' {
        if end >= 2 && line.as_bytes()[end - 2] == b'\\' {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary and near-valid ignore text: never a panic, one rule per pattern line at
        /// most, every rule `+ ` or `- ` and a non-empty pattern, for every purpose.
        #[test]
        fn rules_from_any_text(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            near in crate::policy::tests::near_ignore_text(),
        ) {
            for text in [String::from_utf8_lossy(&bytes).into_owned(), near] {
                let rules = gitignore_rules(&text);
                prop_assert!(rules.len() <= text.lines().count());
                for rule in &rules {
                    prop_assert!(rule.len() > 2 && (rule.starts_with("+ ") || rule.starts_with("- ")));
                }
                for purpose in [Purpose::Copy, Purpose::AgentMirror, Purpose::TaskState] {
                    let all = rsync_rules(purpose, Some(&text));
                    prop_assert!(all.len() >= rules.len());
                }
            }
        }
    }

    #[test]
    fn copy_rules_exclude_names_ignore_patterns_and_file_suffixes() {
        let rules = rsync_rules(Purpose::Copy, Some("# c\nbig/\nlogs/*.txt\n!keep.txt\n\\#x\n"));
        let names = COPY_EXCLUDED_NAMES.iter().map(|n| format!("- {n}"));
        let expected: Vec<String> = names
            .chain(["- #x", "+ keep.txt", "- /logs/*.txt", "- big/"].map(String::from))
            .chain(["+ *.o/", "+ *.pyc/", "+ *.pyo/", "- *.o", "- *.pyc", "- *.pyo"].map(String::from))
            .collect();
        assert_eq!(rules, expected);
    }

    #[test]
    fn the_agent_mirror_keeps_the_harness_and_agent_directories() {
        let rules = rsync_rules(Purpose::AgentMirror, None);
        for kept in [".harnessgym", ".agents", ".claude", ".codex"] {
            assert!(!rules.contains(&format!("- {kept}")), "{kept}");
        }
        assert!(rules.contains(&"- .git".to_owned()) && rules.contains(&"- *.pyc".to_owned()));
    }

    #[test]
    fn task_state_rules_are_anchored_to_the_top() {
        assert_eq!(rsync_rules(Purpose::TaskState, None), ["- /.harnessgym", "- /.agents", "- /.claude", "- /.codex"]);
    }
}
