//! docs/cli.md is the clap definitions rendered (`Cli` in crates/cli/src/cli.rs, the `run` flags
//! from `harnessgym_types::options`): every command's long help, current.
//!
//! `UPDATE_CLI_DOCS=1 cargo test -p harnessgym-cli cli_reference` (or `cargo xtask cli-docs`)
//! rewrites it.

use std::path::Path;

use clap::CommandFactory;
use harnessgym_cli::cli::Cli;

/// The help's width whatever the terminal. clap is built without `wrap_help`, so it reads no
/// terminal and wraps nothing today; with that feature on, this keeps the file stable.
const WIDTH: usize = 100;

const REGENERATE: &str = "UPDATE_CLI_DOCS=1 cargo test -p harnessgym-cli cli_reference";

/// Every visible command, depth first, with its long help (usage included) in a fenced block.
fn render() -> String {
    let mut root = Cli::command().term_width(WIDTH);
    root.build();
    let mut commands = Vec::new();
    collect(&root, &mut commands);
    let mut out = String::from("# Command-line reference\n\n");
    out.push_str(&format!(
        "<!-- Generated from the clap definitions (crates/cli/src/cli.rs, crates/types/src/options.rs); do not edit. Regenerate: {REGENERATE} (or cargo xtask cli-docs). -->\n\n"
    ));
    out.push_str("Every command of `harnessgym`, as `harnessgym <command> --help` prints it.\n\n");
    for cmd in &commands {
        let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
        out.push_str(&format!("- [`{name}`](#{})\n", name.replace(' ', "-")));
    }
    for cmd in &commands {
        let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
        // `to_string` renders a `StyledStr` without ANSI escapes.
        let help = cmd.clone().term_width(WIDTH).render_long_help().to_string();
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        out.push_str(&format!("\n## {name}\n\n```text\n{}\n```\n", help.join("\n").trim_end()));
    }
    out
}

fn collect(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
    out.push(cmd.clone());
    for sub in cmd.get_subcommands() {
        if !sub.is_hide_set() && sub.get_name() != "help" {
            collect(sub, out);
        }
    }
}

#[test]
fn cli_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let expected = render();
    assert!(!expected.contains('\u{1b}'), "the rendered help has ANSI escapes");
    if std::env::var_os("UPDATE_CLI_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("writing docs/cli.md");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(|| actual.lines().count().min(expected.lines().count()) + 1, |i| i + 1);
        panic!(
            "docs/cli.md is not the current clap help (crates/cli/src/cli.rs, crates/types/src/options.rs); first difference at line {line}:\n  \
             docs/cli.md: {:?}\n  rendered:    {:?}\nRegenerate it with `{REGENERATE}` (or `cargo xtask cli-docs`) and commit it.",
            actual.lines().nth(line - 1).unwrap_or("<end of file>"),
            expected.lines().nth(line - 1).unwrap_or("<end of file>"),
        );
    }
}
