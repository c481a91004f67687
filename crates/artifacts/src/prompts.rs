//! The prompts HarnessGym sends to the agent (attempt, reflection, build, repair) and the
//! helpers they need (artifact context, harness-depth guidance, result shape, selected
//! improvement extraction).
//!
//! Everything here is pure: callers read files and pass their text in. Prompts are delivered
//! on stdin, so there is no argv limit, but the artifact context is still capped (3000
//! characters of preview per file, 48 000 characters of previews in total).
//!
//! Deliberate difference from the Python reference: generated MCP servers are asked to speak
//! newline-delimited JSON-RPC over stdio (as the MCP specification says); legacy
//! `Content-Length` framing is still accepted but must not be used for new servers.

use std::fmt;

use camino::Utf8Path;
use harnessgym_types::json::is_truthy;
use serde_json::Value;

/// Maximum number of characters of one artifact's content shown in the attempt prompt.
pub const PREVIEW_CHAR_LIMIT: usize = 3000;

/// Maximum number of preview characters (over all artifacts) in one artifact context.
pub const PREVIEW_TOTAL_BUDGET: usize = 48_000;

/// Maximum number of artifacts of one kind listed in the attempt prompt: the most recent ones
/// (see [`listed_artifacts`]); the others are counted, so a huge registry cannot blow up the prompt.
pub const LISTED_PER_KIND: usize = 50;

/// Which agent CLI the prompt is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentFlavor {
    Codex,
    ClaudeCode,
}

impl AgentFlavor {
    /// The claude runner drives Claude Code; every other runner is prompted as Codex.
    pub fn from_runner(runner: harnessgym_types::options::RunnerKind) -> Self {
        use harnessgym_types::options::RunnerKind;
        if runner == RunnerKind::Claude { Self::ClaudeCode } else { Self::Codex }
    }

    /// The agent's name as used in prompts: "Codex" or "Claude Code".
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Codex => "Codex",
            Self::ClaudeCode => "Claude Code",
        }
    }
}

impl fmt::Display for AgentFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// How ambitious the generated harness should be (`--harness-depth`; defined with the other run
/// options).
pub use harnessgym_types::options::HarnessDepth;

/// One visible (non-quarantined) registry artifact as shown in the attempt prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactListing {
    pub kind: String,
    /// Workspace-relative path.
    pub path: String,
    pub description: String,
    /// File content as read by the caller (untruncated); `None` when there is nothing to
    /// preview (directory, missing file, unknown kind).
    pub preview: Option<String>,
    /// The iteration that built it (`None` when unknown): decides which are the most recent.
    pub iteration: Option<i64>,
}

/// Which of `artifacts` the attempt prompt lists: per kind, the [`LISTED_PER_KIND`] most recent
/// (by iteration — unknown counts as oldest — then by order in the registry), in registry order.
/// Returns one flag per artifact (listed or not) and, per kind in order of first appearance, how
/// many are left out (kinds with none left out are absent).
pub fn listed_artifacts(artifacts: &[ArtifactListing]) -> (Vec<bool>, Vec<(&str, usize)>) {
    let mut by_kind: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, a) in artifacts.iter().enumerate() {
        let k = *slot.entry(a.kind.as_str()).or_insert_with(|| {
            by_kind.push((a.kind.as_str(), Vec::new()));
            by_kind.len() - 1
        });
        by_kind[k].1.push(i);
    }
    let mut listed = vec![true; artifacts.len()];
    let mut left_out = Vec::new();
    for (kind, mut indices) in by_kind {
        if indices.len() <= LISTED_PER_KIND {
            continue;
        }
        // Most recent first: the highest iteration, then the latest in the registry.
        indices.sort_unstable_by_key(|&i| std::cmp::Reverse((artifacts[i].iteration, i)));
        for &i in &indices[LISTED_PER_KIND..] {
            listed[i] = false;
        }
        left_out.push((kind, indices.len() - LISTED_PER_KIND));
    }
    (listed, left_out)
}

/// The state of the workspace's `.harnessgym/activation.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum ActivationView {
    Missing,
    Unreadable,
    Report(Value),
}

/// The optimisation stop target (`--stop-score`).
#[derive(Clone, Debug, PartialEq)]
pub struct StopTarget {
    pub score_key: String,
    pub higher_is_better: bool,
    pub value: f64,
}

pub struct AttemptPromptInput<'a> {
    pub agent: AgentFlavor,
    pub iteration: u32,
    pub workspace: &'a Utf8Path,
    /// Workspace-relative task path; `None` when the task was given as inline text.
    pub task_origin: Option<&'a str>,
    pub task_text: &'a str,
    /// Visible (non-quarantined) artifacts only.
    pub artifacts: &'a [ArtifactListing],
    pub quarantined_count: usize,
    pub activation: &'a ActivationView,
    pub stop_target: Option<&'a StopTarget>,
    pub result_path: &'a Utf8Path,
}

pub struct ReflectionPromptInput<'a> {
    pub agent: AgentFlavor,
    pub iteration: u32,
    pub result_json: &'a Value,
    pub result_path: &'a Utf8Path,
    pub depth: HarnessDepth,
}

pub struct BuildPromptInput<'a> {
    pub agent: AgentFlavor,
    pub iteration: u32,
    pub selected_improvement: &'a str,
    pub result_path: &'a Utf8Path,
    pub depth: HarnessDepth,
}

pub struct RepairPromptInput<'a> {
    pub agent: AgentFlavor,
    pub iteration: u32,
    pub repair_attempt: u32,
    pub qualification_report: &'a Value,
    pub result_path: &'a Utf8Path,
    pub depth: HarnessDepth,
}

// ---------------------------------------------------------------------------------------------
// Shared text
// ---------------------------------------------------------------------------------------------

const MCP_CALL_HELPER_USAGE: &str =
    "python3 .harnessgym/runtime/mcp_call.py --server <server> --tool <tool> --arguments '<json-object>'";

/// The transport rule, repeated in every prompt that can lead to a new MCP server.
const MCP_TRANSPORT_RULE: &str = "\
- Transport: stdio with **newline-delimited JSON-RPC 2.0**, as the MCP specification requires: \
each message is one JSON object on a single line terminated by `\\n`, with no embedded newlines \
and no header lines. Write only protocol messages to stdout; send logs and debug output to stderr.
- Legacy servers that use `Content-Length` header framing are still accepted, but new servers \
must use newline-delimited JSON, and servers you touch should be migrated to it.";

const MCP_GATE_RULE: &str = "\
- HarnessGym activates an MCP server only when all three checks pass: the smoke test \
(`initialize`, then `notifications/initialized` and `tools/list`, each answered in time), the \
manifest's `self_test` command (exit code 0), and a non-empty tool inventory. A server without \
a passing self-test is never activated.";

const SMOKE_EXAMPLE: &str = r#"printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"smoke","version":"0"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' \
  | python3 .harnessgym/mcp/<server-name>/server.py"#;

const NUMERICAL_TEST_RULE: &str = "\
- Numerical tooling needs small toy inputs with known answers, explicit tolerances, \
fixed-seed randomized/property cases, and separate dev and final (held-out) modes.";

const ARTIFACT_DESTINATIONS: &str = "\
- `.harnessgym/skills/<skill-name>/SKILL.md`: skills
- `.harnessgym/mcp/<server-name>/`: MCP servers and their manifests
- `.harnessgym/tools/`: standalone command-line tools
- `.harnessgym/verifiers/`: objective correctness and score checkers
- `.harnessgym/fixtures/`: inputs and expected outputs used by tools and tests
- `.harnessgym/tests/`: tests of the tooling itself
- `.harnessgym/docs/`: short reference notes that accompany executable tools
- `.harnessgym/scripts/`: helper scripts";

const DEPTH_STANDARD: &str = "\
## Harness depth: standard

Keep the artifact focused and small enough to build and validate well within this phase's \
time limit.";

const DEPTH_DEEP: &str = "\
## Harness depth: deep

Build instrumentation that creates new capability, not notes, aliases or a bare wrapper around \
the benchmark. Every tool should expose hidden state or automate a search step that an agent \
without the harness would otherwise do by hand.

- Shape: prefer one multi-tool MCP server plus a short skill that says when to use which tool.
- Kernel, compiler and hardware tasks: think of assembly or IR dumps, vectorization \
diagnostics, data-layout and memory-traffic analysis, benchmark history, repeated final-mode \
evaluation, source-variant generation and sweeps, and regression comparison.
- TPU, GPU and custom-kernel tasks: think of IR analyzers, DMA/descriptor inspectors, \
tensor-layout tools, trace summarizers and verifier dashboards.
- Breadth: aim for at least five genuinely useful executable tools spanning observation, \
verification, search, rollback-safe mutation, history and ranking. Each tool must save the next \
session real work; drop any that would not.
- Safety: tools that modify sources must be rollback-safe: restore the original on any failure \
and keep a variant only after it passes objective verification.
- Tests: ship comprehensive self-tests, including toy cases checked against tolerances, \
fixed-seed random cases, and anti-overfitting checks (results must hold on shapes and seeds \
that were not used for tuning).
- Harness maturity: across iterations, update the existing skills and MCP servers instead of \
starting parallel ones, add a regression test for every failure you find, keep a benchmark \
history, and write down what to try next.
- Avoid documentation-only artifacts unless they are paired with executable automation.";

const NO_SELECTION_FALLBACK: &str = "No structured selection was found in result.json \
(`reflection.selected_improvement` is missing) and the reflection produced no output. Build the \
top recommendation from your reflection earlier in this session.";

// ---------------------------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------------------------

/// §6.7: the harness-depth guidance block embedded in the reflection, build and repair prompts.
pub fn depth_guidance(depth: HarnessDepth) -> &'static str {
    match depth {
        HarnessDepth::Standard => DEPTH_STANDARD,
        HarnessDepth::Deep => DEPTH_DEEP,
    }
}

/// §3.3: the result.json fields the agent is asked to write, with placeholder values.
pub fn result_shape() -> Value {
    serde_json::json!({
        "status": "solved | blocked | incomplete | failed",
        "verified": false,
        "summary": "what you did and what the outcome was, in a few sentences",
        "blockers": ["anything that stopped or slowed you down"],
        "missing_tooling": ["tooling that would have made the task faster or possible"],
        "reflection": {
            "recommendations": ["harness additions that would help a fresh session"],
            "selected_improvement": {
                "kind": "skill | mcp | tool | verifier | fixture | test | docs | script",
                "name": "short identifier",
                "reason": "why this helps the next fresh session most",
                "target_path": ".harnessgym/<dir>/<name>"
            }
        },
        "verification": {
            "status": "passed | failed | not_run",
            "command": "the exact verification command you ran",
            "tooling_tests": [
                {"name": "test name", "status": "passed | failed", "command": "the exact test command"}
            ]
        },
        "metrics": {"score": null},
        "used_harness_tools": ["names of MCP tools you actually called"],
        "used_harness_artifacts": ["workspace-relative paths of harness artifacts you actually used"]
    })
}

/// §6.4: the text handed to the build prompt as "the selected improvement".
///
/// `result` is result.json as read after the reflection; `reflection_stdout` is the text of
/// the reflection phase's stdout file, if any.
pub fn selected_improvement_text(result: &Value, reflection_stdout: Option<&str>) -> String {
    let nested = result.get("reflection").and_then(|reflection| reflection.get("selected_improvement"));
    if let Some(selected) = nested.filter(|value| is_truthy(value)) {
        return pretty_json(selected);
    }
    if let Some(selected) = result.get("selected_improvement").filter(|value| is_truthy(value)) {
        return pretty_json(selected);
    }
    if let Some(stdout) = reflection_stdout.map(str::trim).filter(|text| !text.is_empty()) {
        return stdout.to_owned();
    }
    NO_SELECTION_FALLBACK.to_owned()
}

/// §6.1: the artifact context block embedded in the attempt prompt.
pub fn artifact_context(
    artifacts: &[ArtifactListing],
    quarantined_count: usize,
    activation: &ActivationView,
) -> String {
    let mut out = String::new();
    let (listed, left_out) = listed_artifacts(artifacts);
    if artifacts.is_empty() {
        out.push_str("No generated harness artifacts are registered yet.\n");
    } else if left_out.is_empty() {
        out.push_str(&format!(
            "{} registered harness artifact(s) are available to this fresh attempt; they are \
             listed below.\n",
            artifacts.len()
        ));
    } else {
        out.push_str(&format!(
            "{} registered harness artifact(s) are available to this fresh attempt; the \
             {LISTED_PER_KIND} most recent of each kind are listed below, the others are counted \
             (all of them are in `.harnessgym/registry.json`).\n",
            artifacts.len()
        ));
    }
    if quarantined_count > 0 {
        out.push_str(&format!(
            "{quarantined_count} quarantined artifact(s) are hidden because they failed \
             fresh-workspace qualification; see `.harnessgym/registry.json` (`metadata.quarantine`) \
             and the qualification reports under `.harnessgym/runs/` for the reasons.\n"
        ));
    }

    match activation {
        ActivationView::Missing => {}
        ActivationView::Unreadable => {
            out.push_str(
                "\nThe activation report `.harnessgym/activation.json` is unreadable (invalid \
                 JSON), so which skills and MCP servers are active is unknown.\n",
            );
        }
        ActivationView::Report(report) => {
            out.push_str("\n### Activation status (`.harnessgym/activation.json`)\n\n");
            push_activation(&mut out, report);
        }
    }

    if !artifacts.is_empty() {
        out.push_str("\n### Registered artifacts\n\n");
        let shown: Vec<&ArtifactListing> =
            artifacts.iter().zip(&listed).filter_map(|(a, &keep)| keep.then_some(a)).collect();
        push_artifact_list(&mut out, &shown);
        for (kind, count) in left_out {
            out.push_str(&format!(
                "- … and {count} older {kind} artifact(s), not listed (see `.harnessgym/registry.json`)\n"
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

/// §6.2: the prompt for a fresh attempt session.
pub fn attempt_prompt(input: &AttemptPromptInput) -> String {
    let agent = input.agent;
    let iteration = input.iteration;
    let workspace = input.workspace;
    let origin = input
        .task_origin
        .map_or_else(|| "inline task text".to_owned(), |path| format!("`{path}` (relative to the workspace)"));
    let task = input.task_text.trim();
    let context = artifact_context(input.artifacts, input.quarantined_count, input.activation);
    let context = context.trim_end();

    let mut out = format!(
        "# HarnessGym attempt, iteration {iteration}

You are {agent}, starting a fresh session on the task below. Nothing from earlier sessions is in \
your context; what carries over is the workspace and the harness artifacts that earlier \
iterations built under `.harnessgym/`.

- Workspace (absolute path): `{workspace}`
- Task source: {origin}

## Task

{task}
"
    );

    if let Some(target) = input.stop_target {
        let key = &target.score_key;
        let value = target.value;
        let (op, direction) =
            if target.higher_is_better { ("≥", "higher is better") } else { ("≤", "lower is better") };
        out.push_str(&format!(
            "
## Optimization stop target

This is an optimization task with a stop target: `{key}` {op} {value} ({direction}). Keep \
improving until a verified result reaches the target, then stop. Mirror the best verified value \
of `{key}` into `metrics.score` in result.json.
"
        ));
    }

    out.push_str(&format!(
        "
## Harness artifacts

{context}

## Harness activation for {agent}

"
    ));
    out.push_str(&harness_activation_notes(agent));

    out.push_str(
        "
## How to work

- Work autonomously until the task is solved, you are blocked, or time runs out. Do not stop to \
ask questions; nobody will answer them.
- Use the existing artifacts listed above whenever they are relevant to the task.
- Inspect the active harness first: the activation status above, the relevant skills, and the \
MCP tools on offer. If a benchmark, verifier, diagnostic, search, ranking or rollback tool is \
relevant, use those tools early, not only as a final check.
- Make concrete tool calls. Activation alone is not usage: an artifact or tool counts as used \
only when you actually call it or run it.
- Call MCP tools natively or through the helper. Do not hand-roll JSON-RPC clients or launch \
MCP server files directly unless both the native path and the helper have failed: bypasses skip \
the telemetry proxy, so HarnessGym cannot see the use.
- If an MCP tool fails, record the tool, the arguments and the error in `blockers`, then fall \
back to working without it.
- Prefer harness tools for repetitive measurement, inspecting hidden state, search, regression \
checks and final verification.
- Do not build new harness tooling during this attempt unless the task cannot be done without \
it. A separate build phase follows this attempt; spend this session on the task itself.
- When you believe the task is solved, run an objective verifier (the task's tests, checker or \
benchmark). Only after it passes write `\"status\": \"solved\"` and `\"verified\": true`, with the \
command and its outcome under `verification`.
- Optimization tasks: record the best verified numeric score in `metrics.score` and keep \
improving. Checkpoint every verified improvement as soon as you have it, and keep enough time \
for a final verification.
- Use a fast dev mode for iterating, but run the final (held-out) mode before claiming that a \
result is robust.
- Keep a last-known-good state. Never leave the workspace failing or half-edited: if time runs \
short, revert to the last verified version.
- Record what you actually used: harness artifact paths under `used_harness_artifacts` and MCP \
tool names under `used_harness_tools`.
- Keep notes for the reflection that follows this attempt: blockers, missing tooling, slow or \
repetitive steps, and how you verified the result.
",
    );

    let result_path = input.result_path;
    let shape = pretty_json(&result_shape());
    out.push_str(&format!(
        "
## Result file

Write and keep updating the JSON object at this exact path: `{result_path}`

HarnessGym has already written some keys there: read the file, merge your fields in, and keep \
the keys you did not write. Fill in these fields:

```json
{shape}
```

`verified` must be a JSON boolean and `metrics.score` a JSON number (leave it `null` when the \
task has no numeric score).
"
    ));
    out
}

/// §6.3: the reflection prompt, sent to the same session right after the attempt.
pub fn reflection_prompt(input: &ReflectionPromptInput) -> String {
    let agent = input.agent;
    let iteration = input.iteration;
    let result = pretty_json(input.result_json);
    let result_path = input.result_path;
    let depth = depth_guidance(input.depth);
    format!(
        "# HarnessGym reflection, iteration {iteration}

Continue in the same {agent} session: the attempt you just made was iteration {iteration}. Do \
not resume work on the task now.

## Goal

Reflect on that attempt and decide which reusable artifact (a skill, an MCP server, a verifier, \
a fixture, a script, docs or a tool) would most reduce the time to solve this task, or make it \
solvable at all, for the next fresh session. That session starts without your memory: only the \
task files and `.harnessgym/` carry over.

## Current result.json

```json
{result}
```

## How to choose

- Recommend one or two additions, then select the single best one.
- Prefer repo-local artifacts under `.harnessgym/`.
- The single best thing may be a cohesive harness suite: a skill, an MCP server, fixtures, \
tests, scripts and docs that are built to work together count as one selection.
- For kernel, numerical, compiler, search or verifier-heavy tasks, strongly prefer an \
agent-native harness package: a short skill plus a stdio MCP server that exposes the verifier, \
debugging and search commands as tools.
- On later iterations, extend and harden the existing suite (add tools, fix its failure modes, \
add tests) rather than adding disconnected notes.
- Optimization tasks: name the benchmark modes, the metric names, the shape and seed \
assumptions and the overfitting risks, and make the held-out evaluator easy to run.

## If the selection includes an MCP server

- Manifest: a file named `mcp.json`, `server.json` or `harnessgym-mcp.json` with `name`, \
`command`, `args`, `cwd` and `enabled_tools`.
{MCP_TRANSPORT_RULE}

## Tests the selection must include

- Deterministic repo-local tests of the tooling itself: message framing, `initialize`, \
`tools/list` and `tools/call`, at least one success path and one error path.
{NUMERICAL_TEST_RULE}

{depth}

## Record your choice

Update result.json at this exact path: `{result_path}`. Keep the keys that are already there. \
Write your recommendations to `reflection.recommendations` and put the single choice under \
`reflection.selected_improvement` with this shape:

```json
{{
  \"kind\": \"skill | mcp | tool | verifier | fixture | test | docs | script\",
  \"name\": \"short identifier\",
  \"reason\": \"why this helps the next fresh session most\",
  \"target_path\": \".harnessgym/<dir>/<name>\"
}}
```

End your reply with a short summary of the selected improvement. Do not build it yet: the build \
phase comes next, in this same session.
"
    )
}

/// §6.5: the build prompt, sent to the same session after the reflection.
pub fn build_prompt(input: &BuildPromptInput) -> String {
    let agent = input.agent;
    let iteration = input.iteration;
    let selected = fenced(input.selected_improvement.trim());
    let result_path = input.result_path;
    let depth = depth_guidance(input.depth);
    format!(
        "# HarnessGym build, iteration {iteration}

Continue in the same {agent} session. Build the single improvement you selected while \
reflecting on iteration {iteration}.

## Selected improvement

{selected}

## Scope

- Build only this one improvement. A cohesive suite (skill, MCP server, tests, fixtures) built \
around it is fine; unrelated extra artifacts are not.
- Do not keep solving the task. Run task code only to validate the tooling.
- Make it directly useful to a fresh agent session that has none of your memory: concise usage \
instructions, the exact commands to run, and the invariants you discovered.
- When the task has dev and final (held-out) modes, support both and make clear which is which.
- Optimization tasks: record the patterns that worked, the traps, the metric names and the \
shape and seed assumptions, and avoid overfitting to a single case.

## Where artifacts go

{ARTIFACT_DESTINATIONS}

## Skills

A skill lives in `.harnessgym/skills/<skill-name>/SKILL.md`: a valid `SKILL.md` with YAML \
frontmatter holding `name` (the same as the directory name) and `description` (what it does \
and when to use it), followed by a short body with usage and invariants.

## MCP servers

- Put the server under `.harnessgym/mcp/<server-name>/` next to a manifest named `mcp.json`, \
`server.json` or `harnessgym-mcp.json` with `name`, `command`, `args`, `cwd`, `enabled_tools`, \
timeouts and `self_test`.
{MCP_TRANSPORT_RULE}
- Implement `initialize`, `notifications/initialized`, `tools/list` and `tools/call`.
- Tools return structured JSON results, not prose. Report a failed candidate or a bad input \
value as a structured result (for example `\"ok\": false` with the error); keep JSON-RPC errors \
for malformed requests.
- Smoke-test the server yourself before registering it: send `initialize`, \
`notifications/initialized`, `tools/list` and one `tools/call`, one JSON object per line, and \
check every reply. For example:

```sh
{SMOKE_EXAMPLE}
```

{MCP_GATE_RULE}

Example manifest (paths relative to the workspace):

```json
{{
  \"name\": \"kernel-tools\",
  \"command\": \"python3\",
  \"args\": [\".harnessgym/mcp/kernel-tools/server.py\"],
  \"cwd\": \".\",
  \"enabled_tools\": [\"run_verifier\", \"dump_ir\"],
  \"startup_timeout_sec\": 10,
  \"tool_timeout_sec\": 120,
  \"self_test_timeout_sec\": 60,
  \"self_test\": true
}}
```

## Capabilities worth covering

When practical, and as far as the harness depth below allows, cover: an objective verifier runner, an independent \
correctness checker, a source/IR/assembly/trace analyzer, a rollback-safe variant evaluator, a \
sweep or autotune driver, a history/regression comparator, and an experiment ranker.

## Tests and self-test

- Write comprehensive, deterministic, network-free tests of the tooling, preferably under \
`.harnessgym/tests/`.
- Give every MCP manifest a `self_test` entry: `true` runs `<command> <args...> --self-test`; \
otherwise give an explicit command list, or an object with `command`, `args`, `cwd` and \
`timeout_sec`.
- The self-test covers message framing, `initialize`, `tools/list`, `tools/call`, a success \
path, an invalid-input path, and rollback whenever a tool modifies sources.
- Self-tests must be portable: HarnessGym replays them in a copied fresh workspace that holds \
only the task files and `.harnessgym/`. No hard-coded absolute paths (resolve paths relative to \
the script or the workspace), no dependence on timing noise, no network.
- Do not assert exact winning variants, or exact pass/fail sets, unless fixtures control them. \
Assert schemas, rollback, candidate names and structured failure handling instead.
{NUMERICAL_TEST_RULE}
- Run every tooling test and record each one under `verification.tooling_tests` as \
`{{\"name\", \"status\", \"command\"}}`.

{depth}

## Register and report

- Add every new artifact to the `artifacts` list in `.harnessgym/registry.json` with `path` \
(workspace-relative), `kind` (one of `skill`, `mcp`, `tool`, `verifier`, `fixture`, `test`, \
`docs`, `script`), `description` and `iteration` ({iteration}).
- Update result.json at this exact path: `{result_path}`. Keep the keys that are already there.
- Where automatic MCP registration or evaluation would need more work, leave a short TODO note \
in the artifact's docs.
"
    )
}

/// §6.6: the repair prompt, sent to the same session after fresh-workspace qualification failed.
pub fn repair_prompt(input: &RepairPromptInput) -> String {
    let agent = input.agent;
    let iteration = input.iteration;
    let repair_attempt = input.repair_attempt;
    let report = pretty_json(input.qualification_report);
    let result_path = input.result_path;
    let depth = depth_guidance(input.depth);
    format!(
        "# HarnessGym repair, iteration {iteration}, repair attempt {repair_attempt}

Continue in the same {agent} session. After your build, HarnessGym copied the task files and \
`.harnessgym/` into a fresh workspace, activated the harness there, and qualification failed. \
Repair the generated harness only. This is repair attempt {repair_attempt}; artifacts that still \
fail after the last attempt are quarantined and hidden from future sessions.

## Qualification report

```json
{report}
```

## What to do

- Do not keep solving the task. Change only files under `.harnessgym/` so that the harness \
activates and passes in a fresh copy.
- Fix the reported failure first. Read `failed_artifacts` and `verdicts` (one per artifact, \
with the reason it failed), `quality_gate`, the activation warnings and each MCP server's \
`smoke`, `self_test` and `quality_gate` entries. `refused`, when present, lists bundle entries \
that were not copied into the fresh workspace at all (symlinks or registry paths that leave \
`.harnessgym/`): replace them with real files inside it. Typical causes: a failing self-test, \
broken framing, non-portable paths, missing fixtures, brittle benchmark assertions, JSON-RPC \
errors.
- Reproduce before you fix: the fresh copy named by `fresh_workspace` in the report is still on \
disk, so rerun the failing command there. Make the fixes here, under this workspace's \
`.harnessgym/`; the fresh copy is rebuilt for the next qualification.
- Keep the tests comprehensive but portable: the clean replay contains only the task files and \
`.harnessgym/`; build products, caches and anything else you created outside `.harnessgym/` are \
absent.
- Candidate-specific failures (one variant fails to build or verify) must come back as \
structured results in a successful `tools/call` response, not as a JSON-RPC error that fails \
the whole sweep.
- Rerun all tooling tests, including each manifest's self-test command. Update result.json at \
this exact path: `{result_path}` (keep the keys that are already there) and record each test's \
name, status and command under `verification.tooling_tests`.

## How qualification judges an MCP server

{MCP_GATE_RULE}
{MCP_TRANSPORT_RULE}

{depth}
"
    )
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

fn harness_activation_notes(agent: AgentFlavor) -> String {
    let mut out = String::new();
    match agent {
        AgentFlavor::Codex => {
            out.push_str(
                "- Skills are linked under `.agents/skills/` in the workspace (the same skills \
                 are also linked under `.claude/skills/`). Read the `SKILL.md` of every skill \
                 that looks relevant before you start.\n",
            );
            out.push_str(
                "- Active MCP servers are wired into this session through `.codex/config.toml`, \
                 behind a HarnessGym proxy that logs every tool call.\n",
            );
            out.push_str(&format!(
                "- In `codex exec`, if the MCP tools do not show up as native callable tools, \
                 call them through the helper instead: `{MCP_CALL_HELPER_USAGE}`. Helper calls \
                 go through the same proxy and count as real tool use.\n"
            ));
        }
        AgentFlavor::ClaudeCode => {
            out.push_str(
                "- Skills are linked under `.claude/skills/` in the workspace (the same skills \
                 are also linked under `.agents/skills/`). Read the `SKILL.md` of every skill \
                 that looks relevant before you start.\n",
            );
            out.push_str(
                "- Active MCP servers are loaded into this session from a generated Claude MCP \
                 config (`.harnessgym/claude_mcp_config.json`), behind a HarnessGym proxy that \
                 logs every tool call; their tools appear as `mcp__<server>__<tool>`.\n",
            );
            out.push_str(&format!(
                "- If the MCP tools are not available as native tools, call them through the \
                 helper instead: `{MCP_CALL_HELPER_USAGE}`. Helper calls go through the same \
                 proxy and count as real tool use.\n"
            ));
        }
    }
    out.push_str(
        "- The helper exists only when at least one MCP server is active.\n\
         - Prefer relevant skills and MCP tools early, before redoing their work by hand.\n",
    );
    out
}

fn push_activation(out: &mut String, report: &Value) {
    let warnings = array_of(report, "warnings");
    if !warnings.is_empty() {
        out.push_str("Activation warnings:\n");
        for warning in warnings {
            out.push_str(&format!("- {}\n", display_scalar(warning)));
        }
        out.push('\n');
    }

    let gate = report.get("quality_gate");
    let gate_status = gate.and_then(|g| g.get("status")).map_or_else(|| "unknown".to_owned(), display_scalar);
    let active_mcp = gate.and_then(|g| g.get("active_mcp_count")).map_or_else(|| "unknown".to_owned(), display_scalar);
    let active_tools =
        gate.and_then(|g| g.get("active_tool_count")).map_or_else(|| "unknown".to_owned(), display_scalar);
    out.push_str(&format!(
        "Quality gate: {gate_status} (active MCP servers: {active_mcp}, active MCP tools: \
         {active_tools})\n"
    ));

    for server in array_of(report, "mcp_servers") {
        let name = server.get("name").and_then(Value::as_str).unwrap_or("unnamed");
        let active = server.get("active").and_then(Value::as_bool).unwrap_or(false);
        let smoke = status_of(server.get("smoke"));
        let self_test = status_of(server.get("self_test"));
        let mut tools = string_list(server.get("enabled_tools"));
        if tools.is_empty() {
            tools = string_list(server.get("smoke").and_then(|smoke| smoke.get("tools")));
        }
        let tools = if tools.is_empty() { "none".to_owned() } else { tools.join(", ") };
        out.push_str(&format!(
            "- MCP `{name}` active={active}; smoke: {smoke}; self-test: {self_test}; tools: \
             {tools}\n"
        ));
    }

    if let Some(helper) = report.get("mcp_call_helper").filter(|h| h.is_object()) {
        let usage = helper
            .get("usage")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|usage| !usage.is_empty())
            .unwrap_or(MCP_CALL_HELPER_USAGE);
        out.push_str(&format!("- MCP call helper: `{usage}`\n"));
    }

    for skill in array_of(report, "skills") {
        let mut links: Vec<&str> = Vec::new();
        for key in ["activated_path", "claude_activated_path"] {
            if let Some(path) = skill.get(key).and_then(Value::as_str)
                && !path.is_empty()
                && !links.contains(&path)
            {
                links.push(path);
            }
        }
        let artifact = skill.get("artifact_path").and_then(Value::as_str).filter(|path| !path.is_empty());
        let linked = links.iter().map(|path| format!("`{path}`")).collect::<Vec<_>>().join(" and ");
        match (linked.is_empty(), artifact) {
            (true, None) => {}
            (true, Some(artifact)) => {
                out.push_str(&format!("- Skill `{artifact}` (not linked)\n"));
            }
            (false, None) => out.push_str(&format!("- Skill linked at {linked}\n")),
            (false, Some(artifact)) => {
                out.push_str(&format!("- Skill linked at {linked} (artifact `{artifact}`)\n"));
            }
        }
    }
}

fn push_artifact_list(out: &mut String, artifacts: &[&ArtifactListing]) {
    let mut used = 0usize;
    let mut budget_exhausted = false;
    let mut omitted = 0usize;
    for artifact in artifacts {
        let description = artifact.description.trim();
        if description.is_empty() {
            out.push_str(&format!("- {}: {}\n", artifact.kind, artifact.path));
        } else {
            out.push_str(&format!("- {}: {} - {description}\n", artifact.kind, artifact.path));
        }
        let Some(content) = artifact.preview.as_deref() else {
            continue;
        };
        let total_chars = content.chars().count();
        let shown_chars = total_chars.min(PREVIEW_CHAR_LIMIT);
        if budget_exhausted || used + shown_chars > PREVIEW_TOTAL_BUDGET {
            budget_exhausted = true;
            omitted += 1;
            continue;
        }
        used += shown_chars;
        push_preview(out, content, total_chars);
    }
    if omitted > 0 {
        out.push_str(&format!(
            "\nPreviews omitted for {omitted} artifact(s): the artifact previews above already \
             use the {PREVIEW_TOTAL_BUDGET}-character budget. Read those files directly when \
             they are relevant.\n"
        ));
    }
}

fn push_preview(out: &mut String, content: &str, total_chars: usize) {
    if content.trim().is_empty() {
        out.push_str("  Preview: (empty file)\n");
        return;
    }
    let shown: String = content.chars().take(PREVIEW_CHAR_LIMIT).collect();
    out.push_str("  Preview:\n");
    for line in shown.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if total_chars > PREVIEW_CHAR_LIMIT {
        out.push_str(&format!(
            "    [... preview truncated: first {PREVIEW_CHAR_LIMIT} of {total_chars} characters \
             shown; read the file for the rest]\n"
        ));
    }
}

/// A Markdown code fence around `text` that survives backtick runs inside it.
fn fenced(text: &str) -> String {
    let mut longest = 0usize;
    let mut run = 0usize;
    for ch in text.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let language = if serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) { "json" } else { "text" };
    format!("{fence}{language}\n{text}\n{fence}")
}

fn status_of(section: Option<&Value>) -> String {
    section.and_then(|s| s.get("status")).map_or_else(|| "unknown".to_owned(), display_scalar)
}

fn array_of<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().map(display_scalar).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// Strings without quotes; everything else as compact JSON.
fn display_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON embedded in a prompt: [`harnessgym_types::json::to_pretty`] (sorted keys, 2-space
/// indent) without the file's trailing newline.
fn pretty_json(value: &Value) -> String {
    match harnessgym_types::json::to_pretty(value) {
        Ok(mut text) => {
            text.pop();
            text
        }
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn ws() -> &'static Utf8Path {
        Utf8Path::new("/ws")
    }

    fn result_path() -> &'static Utf8Path {
        Utf8Path::new("/ws/.harnessgym/runs/run-1/iterations/2/result.json")
    }

    fn listing(kind: &str, path: &str, description: &str, preview: Option<&str>) -> ArtifactListing {
        ArtifactListing {
            kind: kind.to_owned(),
            path: path.to_owned(),
            description: description.to_owned(),
            preview: preview.map(str::to_owned),
            iteration: None,
        }
    }

    fn sample_artifacts() -> Vec<ArtifactListing> {
        vec![
            listing(
                "skill",
                ".harnessgym/skills/kernel-suite/SKILL.md",
                "How to drive the kernel-suite MCP tools",
                Some(
                    "---\nname: kernel-suite\ndescription: Verify and tune the kernel with the kernel-suite MCP tools.\n---\n\nCall `run_verifier` after every edit.\n",
                ),
            ),
            listing(
                "mcp",
                ".harnessgym/mcp/kernel-suite/mcp.json",
                "",
                Some(
                    "{\n  \"name\": \"kernel-suite\",\n  \"command\": \"python3\",\n  \"args\": [\".harnessgym/mcp/kernel-suite/server.py\"],\n  \"self_test\": true\n}\n",
                ),
            ),
            listing(
                "docs",
                ".harnessgym/docs/recurrence.md",
                "Notes on the recurrence",
                Some("# Recurrence\n\nExact recurrence notes.\n"),
            ),
            listing(
                "test",
                ".harnessgym/tests/test_probe.py",
                "Probe regression tests",
                Some("def test_probe_matches_reference():\n    assert probe(3) == 27\n"),
            ),
            listing("fixture", ".harnessgym/fixtures/cases", "Directory of toy cases", None),
        ]
    }

    fn sample_activation() -> ActivationView {
        ActivationView::Report(json!({
            "warnings": ["mcp server `old-tools` failed smoke test: no initialize response"],
            "quality_gate": {
                "status": "failed",
                "active_mcp_count": 1,
                "inactive_mcp_count": 1,
                "active_tool_count": 2,
                "warnings": []
            },
            "mcp_servers": [
                {
                    "name": "kernel-suite",
                    "active": true,
                    "enabled_tools": ["run_verifier", "dump_ir"],
                    "smoke": {"status": "passed", "tools": ["run_verifier", "dump_ir", "extra"]},
                    "self_test": {"status": "passed", "message": "self-test passed"}
                },
                {
                    "name": "old-tools",
                    "active": false,
                    "enabled_tools": [],
                    "smoke": {"status": "failed", "message": "no initialize response"},
                    "self_test": {"status": "not_configured"}
                }
            ],
            "mcp_call_helper": {
                "path": "/ws/.harnessgym/runtime/mcp_call.py",
                "relative_path": ".harnessgym/runtime/mcp_call.py",
                "usage": "python3 .harnessgym/runtime/mcp_call.py --server <server> --tool <tool> --arguments '<json-object>'"
            },
            "skills": [
                {
                    "artifact_path": ".harnessgym/skills/kernel-suite/SKILL.md",
                    "skill_path": "/ws/.harnessgym/skills/kernel-suite/SKILL.md",
                    "activated_path": "/ws/.agents/skills/kernel-suite",
                    "codex_activated_path": "/ws/.agents/skills/kernel-suite",
                    "claude_activated_path": "/ws/.claude/skills/kernel-suite"
                }
            ],
            "quarantined_artifacts": []
        }))
    }

    fn stop_target() -> StopTarget {
        StopTarget { score_key: "best_cycles".to_owned(), higher_is_better: false, value: 1200.0 }
    }

    const TASK: &str = "\n\n  Make `kernel_ops.py` produce the reference output and minimise `best_cycles`.\nRun `python3 bench.py --json --mode final` to score.\n\n";

    fn attempt_input<'a>(
        agent: AgentFlavor,
        artifacts: &'a [ArtifactListing],
        activation: &'a ActivationView,
        stop: Option<&'a StopTarget>,
    ) -> AttemptPromptInput<'a> {
        AttemptPromptInput {
            agent,
            iteration: 2,
            workspace: ws(),
            task_origin: Some("task.md"),
            task_text: TASK,
            artifacts,
            quarantined_count: 1,
            activation,
            stop_target: stop,
            result_path: result_path(),
        }
    }

    fn sample_result() -> Value {
        json!({
            "run_id": "run-1",
            "iteration": 2,
            "status": "blocked",
            "verified": false,
            "summary": "Fixed the sqrt recurrence but could not get below 1800 cycles.",
            "blockers": ["no way to see the generated assembly"],
            "missing_tooling": ["IR/assembly dump", "variant sweep driver"],
            "metrics": {"best_cycles": 1834.0, "score": 1834.0},
            "phases": {"attempt": {"phase": "attempt", "status": "completed", "session_id": "sess-1"}},
            "task_path": "/ws/task.md",
            "created_at": "2026-01-02T03:04:05+00:00",
            "updated_at": "2026-01-02T03:34:05+00:00"
        })
    }

    fn reflection_input(agent: AgentFlavor, result: &Value, depth: HarnessDepth) -> ReflectionPromptInput<'_> {
        ReflectionPromptInput { agent, iteration: 2, result_json: result, result_path: result_path(), depth }
    }

    const SELECTED: &str = "{\n  \"kind\": \"mcp\",\n  \"name\": \"kernel-suite\",\n  \"reason\": \"Expose assembly dumps and a variant sweep\",\n  \"target_path\": \".harnessgym/mcp/kernel-suite\"\n}";

    fn build_input(agent: AgentFlavor, depth: HarnessDepth) -> BuildPromptInput<'static> {
        BuildPromptInput { agent, iteration: 2, selected_improvement: SELECTED, result_path: result_path(), depth }
    }

    fn sample_report() -> Value {
        json!({
            "created_at": "2026-01-02T04:00:00+00:00",
            "status": "failed",
            "iteration": 2,
            "source_workspace": "/ws",
            "fresh_workspace": "/ws/.harnessgym/runs/run-1/iterations/2/qualification/attempt_1/workspace",
            "copied_artifacts": [".harnessgym/mcp/kernel-suite/mcp.json", ".harnessgym/registry.json"],
            "failed_artifacts": [".harnessgym/mcp/kernel-suite/mcp.json"],
            "quality_gate": {
                "status": "failed",
                "active_mcp_count": 0,
                "inactive_mcp_count": 1,
                "active_tool_count": 0,
                "warnings": ["mcp server `kernel-suite` self-test failed: self-test exited 1"]
            },
            "activation": {
                "mcp_servers": [{
                    "name": "kernel-suite",
                    "active": false,
                    "smoke": {"status": "passed", "tools": ["run_verifier"]},
                    "self_test": {"status": "failed", "message": "self-test exited 1", "return_code": 1,
                                  "stderr": "FileNotFoundError: /home/dev/ws/fixtures/case1.json"}
                }]
            },
            "registry_artifact_count": 3
        })
    }

    fn repair_input(agent: AgentFlavor, report: &Value) -> RepairPromptInput<'_> {
        RepairPromptInput {
            agent,
            iteration: 2,
            repair_attempt: 1,
            qualification_report: report,
            result_path: result_path(),
            depth: HarnessDepth::Deep,
        }
    }

    #[track_caller]
    fn assert_contains(haystack: &str, needles: &[&str]) {
        for needle in needles {
            assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
        }
    }

    // ---- §8 statements -------------------------------------------------------------------

    /// Statement 39.
    #[test]
    fn stmt39_attempt_prompt_conveys_autonomy_artifacts_and_tool_use() {
        let artifacts = sample_artifacts();
        let activation = sample_activation();
        let prompt = attempt_prompt(&attempt_input(AgentFlavor::Codex, &artifacts, &activation, None));
        assert_contains(
            &prompt,
            &[
                "Work autonomously until the task is solved",
                "Do not build new harness tooling during this attempt",
                "use those tools early",
                "Make concrete tool calls",
                "Activation alone is not usage",
                "`used_harness_tools`",
                "`used_harness_artifacts`",
                "/ws/.harnessgym/runs/run-1/iterations/2/result.json",
                "MCP `kernel-suite` active=true",
                "tools: run_verifier, dump_ir",
                "Exact recurrence notes.",
                "def test_probe_matches_reference():",
                "Workspace (absolute path): `/ws`",
                "`task.md`",
            ],
        );
        for artifact in &artifacts {
            assert_contains(&prompt, &[&format!("- {}: {}", artifact.kind, artifact.path)]);
        }
        assert!(!prompt.contains("Optimization stop target"));
        // The task text is trimmed.
        assert_contains(&prompt, &["## Task\n\nMake `kernel_ops.py`"]);
        // The result shape is embedded.
        assert_contains(&prompt, &["\"selected_improvement\": {", "\"tooling_tests\": ["]);
    }

    /// Statement 40.
    #[test]
    fn stmt40_attempt_prompt_names_stop_target() {
        let target = stop_target();
        let prompt = attempt_prompt(&attempt_input(AgentFlavor::Codex, &[], &ActivationView::Missing, Some(&target)));
        assert_contains(&prompt, &["## Optimization stop target", "`best_cycles` ≤ 1200", "`metrics.score`"]);

        let higher = StopTarget { score_key: "throughput".to_owned(), higher_is_better: true, value: 2.5 };
        let prompt = attempt_prompt(&attempt_input(AgentFlavor::Codex, &[], &ActivationView::Missing, Some(&higher)));
        assert_contains(&prompt, &["`throughput` ≥ 2.5 (higher is better)"]);
    }

    /// Statement 41 (with newline-delimited JSON instead of Content-Length framing).
    #[test]
    fn stmt41_reflection_prompt_conveys_selection_rules() {
        let result = sample_result();
        let prompt = reflection_prompt(&reflection_input(AgentFlavor::Codex, &result, HarnessDepth::Deep));
        assert_contains(
            &prompt,
            &[
                "same Codex session",
                "`reflection.selected_improvement`",
                "agent-native harness package",
                "newline-delimited JSON-RPC 2.0",
                "new servers must use newline-delimited JSON",
                "Legacy servers that use `Content-Length` header framing are still accepted",
                "Deterministic repo-local tests",
                "fixed-seed randomized",
                "cohesive harness suite",
                "extend and harden the existing suite",
                "`mcp.json`, `server.json` or `harnessgym-mcp.json`",
                "/ws/.harnessgym/runs/run-1/iterations/2/result.json",
                // result.json is embedded with sorted keys.
                "\"blockers\": [",
            ],
        );
        let blockers = prompt.find("\"blockers\"");
        let verified = prompt.find("\"verified\"");
        assert!(blockers < verified, "keys must be sorted");
        assert!(!prompt.contains("Content-Length framed JSON-RPC"));
    }

    /// Statement 42 (with newline-delimited JSON instead of Content-Length framing).
    #[test]
    fn stmt42_build_prompt_conveys_build_rules() {
        let prompt = build_prompt(&build_input(AgentFlavor::Codex, HarnessDepth::Deep));
        assert_contains(
            &prompt,
            &[
                "same Codex session",
                "Build only this one improvement",
                "directly useful to a fresh agent session",
                "`.harnessgym/registry.json`",
                "newline-delimited JSON-RPC 2.0",
                "new servers must use newline-delimited JSON",
                "`Content-Length` header framing are still accepted",
                "`initialize`, `notifications/initialized`, `tools/list` and `tools/call`",
                "`.harnessgym/tests/`",
                "`self_test`",
                "`verification.tooling_tests`",
                "rollback-safe variant evaluator",
                "history/regression comparator",
                "copied fresh workspace",
                "Do not assert exact winning variants",
                "SKILL.md",
                "`name`",
                "`description`",
                "```json\n{\n  \"kind\": \"mcp\"",
            ],
        );
    }

    /// Statement 43.
    #[test]
    fn stmt43_deep_mode_adds_deep_block() {
        let deep = build_prompt(&build_input(AgentFlavor::Codex, HarnessDepth::Deep));
        let deep_markers = [
            "## Harness depth: deep",
            "assembly or IR dumps",
            "sweeps",
            "rollback-safe",
            "comprehensive self-tests",
            "at least five",
            "Harness maturity",
        ];
        assert_contains(&deep, &deep_markers);
        assert_contains(depth_guidance(HarnessDepth::Deep), &deep_markers);

        let standard = build_prompt(&build_input(AgentFlavor::Codex, HarnessDepth::Standard));
        assert_contains(&standard, &["## Harness depth: standard", "small enough"]);
        assert!(!standard.contains("at least five"));
        assert!(!standard.contains("Harness maturity"));
        assert_eq!(HarnessDepth::default(), HarnessDepth::Deep);

        let result = sample_result();
        for prompt in [
            reflection_prompt(&reflection_input(AgentFlavor::Codex, &result, HarnessDepth::Deep)),
            repair_prompt(&repair_input(AgentFlavor::Codex, &sample_report())),
        ] {
            assert_contains(&prompt, &["## Harness depth: deep", "at least five"]);
        }
    }

    /// Statement 44.
    #[test]
    fn stmt44_claude_flavour() {
        use harnessgym_types::options::RunnerKind;
        assert_eq!(AgentFlavor::from_runner(RunnerKind::Claude), AgentFlavor::ClaudeCode);
        assert_eq!(AgentFlavor::from_runner(RunnerKind::Exec), AgentFlavor::Codex);
        assert_eq!(AgentFlavor::from_runner(RunnerKind::Fake), AgentFlavor::Codex);
        assert_eq!(AgentFlavor::ClaudeCode.to_string(), "Claude Code");
        assert_eq!(AgentFlavor::Codex.to_string(), "Codex");

        let artifacts = sample_artifacts();
        let activation = sample_activation();
        let attempt = attempt_prompt(&attempt_input(AgentFlavor::ClaudeCode, &artifacts, &activation, None));
        assert_contains(
            &attempt,
            &[
                "You are Claude Code",
                "## Harness activation for Claude Code",
                "`.claude/skills/`",
                "generated Claude MCP config",
                ".harnessgym/runtime/mcp_call.py",
            ],
        );
        assert!(!attempt.contains("Codex"));

        let codex = attempt_prompt(&attempt_input(AgentFlavor::Codex, &artifacts, &activation, None));
        assert_contains(
            &codex,
            &["## Harness activation for Codex", "`.agents/skills/`", "`.codex/config.toml`", "`codex exec`"],
        );

        let result = sample_result();
        let report = sample_report();
        for prompt in [
            reflection_prompt(&reflection_input(AgentFlavor::ClaudeCode, &result, HarnessDepth::Deep)),
            build_prompt(&build_input(AgentFlavor::ClaudeCode, HarnessDepth::Deep)),
            repair_prompt(&repair_input(AgentFlavor::ClaudeCode, &report)),
        ] {
            assert_contains(&prompt, &["same Claude Code session"]);
            assert!(!prompt.contains("Codex"));
        }
    }

    /// Statement 45.
    #[test]
    fn stmt45_quarantined_artifacts_hidden_with_count() {
        // The caller passes only the visible artifacts; the quarantined MCP is not listed.
        let visible = vec![listing("tool", ".harnessgym/tools/probe.py", "Probe", Some("print(1)\n"))];
        let context = artifact_context(&visible, 2, &ActivationView::Missing);
        assert_contains(
            &context,
            &["2 quarantined artifact(s) are hidden", "`.harnessgym/registry.json`", "qualification reports"],
        );
        assert!(!context.contains(".harnessgym/mcp/"));

        let none_hidden = artifact_context(&visible, 0, &ActivationView::Missing);
        assert!(!none_hidden.contains("quarantined"));

        let only_hidden = artifact_context(&[], 1, &ActivationView::Missing);
        assert_contains(
            &only_hidden,
            &["No generated harness artifacts are registered yet.", "1 quarantined artifact(s) are hidden"],
        );
    }

    /// §6.6 (no numbered statement): the repair prompt's required content.
    #[test]
    fn repair_prompt_conveys_repair_rules() {
        let report = sample_report();
        let prompt = repair_prompt(&repair_input(AgentFlavor::Codex, &report));
        assert_contains(
            &prompt,
            &[
                "same Codex session",
                "repair attempt 1",
                "qualification failed",
                "Repair the generated harness only",
                "Do not keep solving the task",
                "\"failed_artifacts\": [",
                "FileNotFoundError: /home/dev/ws/fixtures/case1.json",
                "non-portable paths",
                "only the task files and `.harnessgym/`",
                "structured results",
                "newline-delimited JSON-RPC 2.0",
                "`Content-Length` header framing are still accepted",
                "`verification.tooling_tests`",
                "/ws/.harnessgym/runs/run-1/iterations/2/result.json",
                "## Harness depth: deep",
            ],
        );
    }

    // ---- artifact context --------------------------------------------------------------

    #[test]
    fn preview_is_truncated_at_3000_chars_with_marker() {
        // Multi-byte characters: truncation counts characters, not bytes.
        let long: String = "é".repeat(2999) + "XYZ" + &"tail".repeat(100);
        let artifacts = vec![listing("docs", ".harnessgym/docs/long.md", "", Some(&long))];
        let context = artifact_context(&artifacts, 0, &ActivationView::Missing);
        assert_contains(
            &context,
            &["X\n", "[... preview truncated: first 3000 of 3402 characters shown; read the file for the rest]"],
        );
        assert!(!context.contains("XY"));
        assert!(!context.contains("tail"));

        let exact: String = "a".repeat(3000);
        let artifacts = vec![listing("docs", ".harnessgym/docs/exact.md", "", Some(&exact))];
        let context = artifact_context(&artifacts, 0, &ActivationView::Missing);
        assert!(!context.contains("truncated"));
        assert!(context.contains(&exact));
    }

    #[test]
    fn at_most_fifty_most_recent_artifacts_of_a_kind_are_listed_and_the_rest_counted() {
        // 120 tools: iterations 0..=11 in registry order (ten each), except that the first entry
        // is the newest (iteration 99) and two have no iteration (oldest); one docs artifact.
        let mut artifacts: Vec<ArtifactListing> = (0..120)
            .map(|i| {
                let mut a = listing("tool", &format!(".harnessgym/tools/t{i:03}.py"), "", Some("print(1)\n"));
                a.iteration = Some(i64::from(i / 10));
                a
            })
            .collect();
        artifacts[0].iteration = Some(99);
        artifacts[119].iteration = None;
        artifacts[118].iteration = None;
        artifacts.push(listing("docs", ".harnessgym/docs/notes.md", "Notes", None));
        let context = artifact_context(&artifacts, 0, &ActivationView::Missing);
        let listed: Vec<usize> = (0..120).filter(|i| context.contains(&format!("t{i:03}.py"))).collect();
        // t000 (iteration 99), then iterations 11 (t110..t117: t118/t119 are unknown), 10, 9,
        // 8, 7 (t070..t079) — 49 so far — and the latest in the registry of iteration 6: t069.
        let mut expected = vec![0, 69];
        expected.extend(70..118);
        assert_eq!(listed.len(), LISTED_PER_KIND);
        assert_eq!(listed, expected);
        assert_contains(
            &context,
            &[
                "121 registered harness artifact(s) are available",
                "the 50 most recent of each kind are listed below",
                "- docs: .harnessgym/docs/notes.md - Notes\n",
                "- … and 70 older tool artifact(s), not listed (see `.harnessgym/registry.json`)\n",
            ],
        );
        assert!(!context.contains("older docs"), "{context}");
        // Listed in registry order.
        let first = context.find("t000.py").unwrap_or(usize::MAX);
        assert!(first < context.find("t069.py").unwrap_or(0));
    }

    #[test]
    fn total_preview_budget_omits_later_previews() {
        let big = "x".repeat(5000); // 3000 shown each → 16 fit in 48 000
        let artifacts: Vec<ArtifactListing> =
            (0..20).map(|i| listing("tool", &format!(".harnessgym/tools/t{i:02}.py"), "", Some(&big))).collect();
        let context = artifact_context(&artifacts, 0, &ActivationView::Missing);
        assert_eq!(context.matches("  Preview:").count(), 16);
        assert_eq!(context.matches("preview truncated").count(), 16);
        for artifact in &artifacts {
            assert_contains(&context, &[&format!("- tool: {}\n", artifact.path)]);
        }
        // The 17th artifact is listed but has no preview.
        assert_contains(
            &context,
            &[
                "- tool: .harnessgym/tools/t16.py\n- tool: .harnessgym/tools/t17.py\n",
                "Previews omitted for 4 artifact(s)",
                "48000-character budget",
            ],
        );
        assert!(context.chars().count() < PREVIEW_TOTAL_BUDGET + 5000);

        let small = vec![listing("tool", ".harnessgym/tools/a.py", "", Some("print(1)"))];
        assert!(!artifact_context(&small, 0, &ActivationView::Missing).contains("Previews omitted"));
    }

    #[test]
    fn artifact_lines_and_empty_previews() {
        let artifacts = vec![
            listing("tool", ".harnessgym/tools/a.py", "  Adds numbers  ", Some("")),
            listing("docs", ".harnessgym/docs/b.md", "   ", None),
        ];
        let context = artifact_context(&artifacts, 0, &ActivationView::Missing);
        assert_eq!(
            context,
            "2 registered harness artifact(s) are available to this fresh attempt; they are listed below.\n\
             \n\
             ### Registered artifacts\n\
             \n\
             - tool: .harnessgym/tools/a.py - Adds numbers\n  Preview: (empty file)\n\
             - docs: .harnessgym/docs/b.md\n"
        );
    }

    #[test]
    fn unreadable_activation_is_one_line() {
        let context = artifact_context(&[], 0, &ActivationView::Unreadable);
        assert_eq!(
            context,
            "No generated harness artifacts are registered yet.\n\
             \n\
             The activation report `.harnessgym/activation.json` is unreadable (invalid JSON), so which skills and MCP servers are active is unknown.\n"
        );
        let missing = artifact_context(&[], 0, &ActivationView::Missing);
        assert_eq!(missing, "No generated harness artifacts are registered yet.\n");
    }

    #[test]
    fn activation_section_tolerates_missing_and_mistyped_fields() {
        for report in [
            json!(null),
            json!([1, 2]),
            json!("text"),
            json!({}),
            json!({"warnings": "not a list", "quality_gate": 3, "mcp_servers": {"a": 1}, "skills": [1, null]}),
            json!({"mcp_servers": [null, 5, {"name": 7, "active": "yes", "smoke": "passed", "self_test": []}]}),
            json!({"mcp_call_helper": {"usage": 42}, "skills": [{"activated_path": 1}, {"artifact_path": ".harnessgym/skills/x/SKILL.md"}]}),
        ] {
            let context = artifact_context(&[], 0, &ActivationView::Report(report));
            assert_contains(&context, &["### Activation status", "Quality gate: unknown"]);
        }

        let context = artifact_context(
            &[],
            0,
            &ActivationView::Report(json!({
                "mcp_servers": [{"name": "s", "active": false, "enabled_tools": [], "smoke": {"status": "passed", "tools": ["a", "b"]}}],
                "mcp_call_helper": {"relative_path": ".harnessgym/runtime/mcp_call.py"},
                "skills": [{"artifact_path": ".harnessgym/skills/x/SKILL.md"}]
            })),
        );
        assert_contains(
            &context,
            &[
                "- MCP `s` active=false; smoke: passed; self-test: unknown; tools: a, b\n",
                "- MCP call helper: `python3 .harnessgym/runtime/mcp_call.py --server <server> --tool <tool> --arguments '<json-object>'`",
                "- Skill `.harnessgym/skills/x/SKILL.md` (not linked)",
            ],
        );
    }

    #[test]
    fn activation_section_lists_gate_servers_helper_and_skills() {
        let context = artifact_context(&[], 0, &sample_activation());
        assert_contains(
            &context,
            &[
                "Activation warnings:\n- mcp server `old-tools` failed smoke test: no initialize response\n\nQuality gate",
                "Quality gate: failed (active MCP servers: 1, active MCP tools: 2)\n",
                "- MCP `kernel-suite` active=true; smoke: passed; self-test: passed; tools: run_verifier, dump_ir\n",
                "- MCP `old-tools` active=false; smoke: failed; self-test: not_configured; tools: none\n",
                "- Skill linked at `/ws/.agents/skills/kernel-suite` and `/ws/.claude/skills/kernel-suite` (artifact `.harnessgym/skills/kernel-suite/SKILL.md`)\n",
            ],
        );
    }

    // ---- selected improvement ------------------------------------------------------------

    #[test]
    fn selected_improvement_prefers_nested_reflection_selection() {
        let result = json!({
            "reflection": {"selected_improvement": {"name": "probe", "kind": "tool"}},
            "selected_improvement": {"name": "other"}
        });
        assert_eq!(
            selected_improvement_text(&result, Some("stdout text")),
            "{\n  \"kind\": \"tool\",\n  \"name\": \"probe\"\n}"
        );
    }

    #[test]
    fn selected_improvement_falls_back_to_top_level_selection() {
        for reflection in [json!(null), json!({}), json!({"selected_improvement": {}}), json!("text")] {
            let result = json!({
                "reflection": reflection,
                "selected_improvement": {"target_path": ".harnessgym/tools/p.py", "kind": "tool"}
            });
            assert_eq!(
                selected_improvement_text(&result, Some("stdout text")),
                "{\n  \"kind\": \"tool\",\n  \"target_path\": \".harnessgym/tools/p.py\"\n}"
            );
        }
    }

    #[test]
    fn selected_improvement_falls_back_to_reflection_stdout() {
        let result = json!({"reflection": {"selected_improvement": ""}, "selected_improvement": []});
        assert_eq!(
            selected_improvement_text(&result, Some("\n  Build an IR dump tool.  \n")),
            "Build an IR dump tool."
        );
    }

    #[test]
    fn selected_improvement_falls_back_to_fixed_sentence() {
        let expected = NO_SELECTION_FALLBACK;
        assert_eq!(selected_improvement_text(&json!({}), None), expected);
        assert_eq!(selected_improvement_text(&json!({}), Some(" \n\t ")), expected);
        assert_eq!(selected_improvement_text(&json!([]), None), expected);
        assert_contains(expected, &["No structured selection was found", "top recommendation"]);
    }

    #[test]
    fn build_prompt_fences_prose_selection_safely() {
        let prose = "Build this:\n```python\nprint(1)\n```";
        let input =
            BuildPromptInput { selected_improvement: prose, ..build_input(AgentFlavor::Codex, HarnessDepth::Standard) };
        let prompt = build_prompt(&input);
        assert_contains(&prompt, &["````text\nBuild this:\n```python\nprint(1)\n```\n````"]);
    }

    // ---- helpers ---------------------------------------------------------------------------

    #[test]
    fn result_shape_has_every_requested_field() {
        let shape = result_shape();
        for key in [
            "status",
            "verified",
            "summary",
            "blockers",
            "missing_tooling",
            "reflection",
            "verification",
            "metrics",
            "used_harness_tools",
            "used_harness_artifacts",
        ] {
            assert!(shape.get(key).is_some(), "missing {key}");
        }
        let selected = &shape["reflection"]["selected_improvement"];
        for key in ["kind", "name", "reason", "target_path"] {
            assert!(selected.get(key).is_some(), "missing selected_improvement.{key}");
        }
        assert!(shape["reflection"]["recommendations"].is_array());
        assert!(shape["verification"]["tooling_tests"][0].get("command").is_some());
        assert!(shape["metrics"].get("score").is_some());
        assert_eq!(shape["verified"], json!(false));
    }

    #[test]
    fn pretty_json_sorts_keys_with_two_space_indent() {
        let value = json!({"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": null});
        assert_eq!(
            pretty_json(&value),
            "{\n  \"a\": null,\n  \"b\": {\n    \"a\": [\n      {\n        \"x\": 3,\n        \"y\": 2\n      }\n    ],\n    \"z\": 1\n  }\n}"
        );
    }

    // ---- snapshots -------------------------------------------------------------------------

    #[test]
    fn snapshot_attempt_full() {
        let artifacts = sample_artifacts();
        let activation = sample_activation();
        let target = stop_target();
        insta::assert_snapshot!(attempt_prompt(&attempt_input(
            AgentFlavor::Codex,
            &artifacts,
            &activation,
            Some(&target),
        )));
    }

    #[test]
    fn snapshot_attempt_empty() {
        let input = AttemptPromptInput {
            task_origin: None,
            quarantined_count: 0,
            ..attempt_input(AgentFlavor::Codex, &[], &ActivationView::Missing, None)
        };
        insta::assert_snapshot!(attempt_prompt(&input));
    }

    #[test]
    fn snapshot_reflection() {
        let result = sample_result();
        insta::assert_snapshot!(reflection_prompt(&reflection_input(AgentFlavor::Codex, &result, HarnessDepth::Deep,)));
    }

    #[test]
    fn snapshot_build_deep() {
        insta::assert_snapshot!(build_prompt(&build_input(AgentFlavor::Codex, HarnessDepth::Deep)));
    }

    #[test]
    fn snapshot_build_standard() {
        insta::assert_snapshot!(build_prompt(&build_input(AgentFlavor::ClaudeCode, HarnessDepth::Standard,)));
    }

    #[test]
    fn snapshot_repair() {
        let report = sample_report();
        insta::assert_snapshot!(repair_prompt(&repair_input(AgentFlavor::Codex, &report)));
    }
}
