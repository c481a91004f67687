#!/usr/bin/env python3
"""Writes each task's rehearsal model script (`xtask/rehearsal/<task>/script.json`).

A script plays a plausible agent through the real agent CLI and HarnessGym's scripted model
server (`harnessgym run --model-script`): the attempt makes a modest manual edit; the reflection
names a tool; the build writes a skill and a working MCP server with a self-test; an attempt that
finds that server active calls it through MCP, and the tool itself applies its best candidate to
the task's edit surface. MCP server names use `_`, not `-`: codex exposes a server's tools in
the namespace `mcp__<name>` with `-` turned into `_`, and the scripted model server matches the
name as written. The files the build writes and the result recorder live here, outside
the task directory (the template every trial copies), and travel inside the script as base64.

    python3 xtask/rehearsal/make_scripts.py [--check]

--check: exit 1 when a committed script.json differs from what this writes (the cargo suite runs it).
"""

import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def py(code):
    """A shell command running `code` (no quoting hazards: base64 only)."""
    return "python3 -c \"import base64; exec(base64.b64decode('" + base64.b64encode(code.encode()).decode() + "'))\""


def record(update, score_command=None, score_key=None):
    args = [json.dumps(update)] + ([score_command, score_key] if score_command else [])
    code = ("import base64, sys\nsys.argv = ['record.py'] + " + repr(args) + "\n"
            "exec(base64.b64decode('" + b64(os.path.join(HERE, "record.py")) + "'))\n")
    return py(code)


def edit_json(path, changes, note):
    code = ("import json\n"
            f"p = {path!r}\n"
            "plan = json.load(open(p))\n"
            f"plan.update({changes!r})\n"
            "json.dump(plan, open(p, 'w'), indent=2)\n"
            f"print({note!r})\n")
    return py(code)


def manifest(server_dir, name, tools):
    return json.dumps({
        "name": name, "command": "python3", "args": [f"{server_dir}/server.py"], "cwd": ".",
        "enabled_tools": tools, "startup_timeout_sec": 10, "tool_timeout_sec": 120,
        "self_test_timeout_sec": 60, "self_test": True}, indent=2) + "\n"


def install_text(files):
    """Writes {workspace path: text}, then lists them."""
    payload = {dest: base64.b64encode(text.encode()).decode() for dest, text in files.items()}
    code = ("import base64, os\n"
            "for dest, data in " + repr(payload) + ".items():\n"
            "    os.makedirs(os.path.dirname(dest) or '.', exist_ok=True)\n"
            "    open(dest, 'wb').write(base64.b64decode(data))\n"
            "    print('wrote', dest)\n")
    return py(code)


def read(path):
    with open(path) as f:
        return f.read()


def sweep_task(task, manual_changes, manual_note, missing):
    """A knob-file task: the build writes the shared sweep server with this task's config."""
    here = os.path.join(HERE, task)
    config = json.loads(read(os.path.join(here, "sweep_config.json")))
    name = config["name"]
    final = "python3 benchmark.py --json --mode final"
    server, skill = f".harnessgym/mcp/{name}", f".harnessgym/skills/{name.replace('_', '-')}"
    tools = ["evaluate", "sweep", "history"]
    return {
        "phases": [
            {"name": "harnessed-attempt", "match": f"MCP `{name}` active=true", "steps": [
                {"mcp": {"server": name, "tool": "evaluate", "arguments": {"mode": "final"}}},
                {"mcp": {"server": name, "tool": "sweep", "arguments": {"mode": "final", "apply": True}}},
                {"shell": record({
                    "status": "incomplete",
                    "summary": f"Ran the {name} MCP sweep over coupled knob groups; it applied its best "
                               "candidate, verified in final mode.",
                    "used_harness_tools": ["evaluate", "sweep"],
                    "used_harness_artifacts": [f"{server}/mcp.json", f"{skill}/SKILL.md"],
                }, final, "best_cycles")},
                {"text": f"ATTEMPT DONE: {name} applied its best candidate; final score recorded."},
            ]},
            {"name": "attempt", "match": "# HarnessGym attempt", "steps": [
                {"shell": "python3 benchmark.py --json --mode dev --trace .harnessgym/trace-dev.json"},
                {"shell": edit_json(config["edit_file"], manual_changes, "manual edit: " + manual_note)},
                {"shell": record({
                    "status": "incomplete",
                    "summary": f"Manual edit ({manual_note}); the knobs interact and one-at-a-time edits stall.",
                    "missing_tooling": [missing],
                }, final, "best_cycles")},
                {"text": "ATTEMPT DONE: manual edit verified in final mode."},
            ]},
            {"name": "reflection", "match": "# HarnessGym reflection", "steps": [
                {"shell": record({"reflection": {
                    "recommendations": [f"an MCP server ({name}) that sweeps coupled knob groups and applies the best"],
                    "selected_improvement": {
                        "kind": "mcp", "name": name,
                        "reason": "one-knob edits stall; a joint sweep with final-mode gating finds far better settings",
                        "target_path": server}}})},
                {"text": f"REFLECTED: build the {name} MCP server."},
            ]},
            {"name": "build", "match": "# HarnessGym build", "steps": [
                {"shell": install_text({
                    f"{server}/server.py": read(os.path.join(HERE, "common", "sweep_server.py")),
                    f"{server}/sweep_config.json": read(os.path.join(here, "sweep_config.json")),
                    f"{server}/mcp.json": manifest(server, name, tools),
                    f"{skill}/SKILL.md": read(os.path.join(here, "SKILL.md")),
                })},
                {"shell": f"python3 {server}/server.py --self-test"},
                {"shell": record({"verification": {"tooling_tests": [
                    {"name": f"{name} self-test", "status": "passed",
                     "command": f"python3 {server}/server.py --self-test"}]}})},
                {"text": f"BUILT: {name} MCP server (evaluate, sweep, history) and its skill."},
            ]},
        ],
        "usage": {"input_tokens": 2000, "cached_input_tokens": 500, "output_tokens": 200},
    }


def tensor_layout_pipeline():
    return sweep_task("tensor-layout-pipeline", {"softmax": "online", "tile_q": 64, "tile_kv": 64, "dma_burst": 128},
                      "online softmax, 64x64 tiles, 128-byte bursts",
                      "a joint sweep over coupled knobs (DMA ring + prefetch, tiles + scratchpad, layouts + burst) "
                      "that applies the best verified plan")


def cpu_attention_autotune():
    return sweep_task("cpu-attention-autotune", {"simd": "avx2", "block_q": 32, "block_k": 64},
                      "avx2, 32x64 blocks",
                      "a joint sweep over blocking, unrolls, SIMD and the exp/accumulator pair that applies "
                      "the best verified configuration")


def paged_attention_decode():
    here = os.path.join(HERE, "paged-attention-decode")
    name = "kernel_variants"
    final = "python3 benchmark.py --json --mode final"
    server, skill = f".harnessgym/mcp/{name}", ".harnessgym/skills/kernel-variants"
    files = {
        f"{server}/server.py": read(os.path.join(here, "server.py")),
        f"{server}/mcp.json": manifest(server, name, ["benchmark", "sweep_variants", "history"]),
        f"{skill}/SKILL.md": read(os.path.join(here, "SKILL.md")),
    }
    for variant in sorted(os.listdir(os.path.join(here, "variants"))):
        files[f"{server}/variants/{variant}"] = read(os.path.join(here, "variants", variant))
    return {
        "phases": [
            {"name": "harnessed-attempt", "match": f"MCP `{name}` active=true", "steps": [
                {"mcp": {"server": name, "tool": "benchmark", "arguments": {"mode": "final"}}},
                {"mcp": {"server": name, "tool": "sweep_variants", "arguments": {"mode": "dev", "apply": True}}},
                {"shell": record({
                    "status": "incomplete",
                    "summary": f"Ran the {name} MCP sweep; it applied the fastest verified kernel variant.",
                    "used_harness_tools": ["benchmark", "sweep_variants"],
                    "used_harness_artifacts": [f"{server}/mcp.json", f"{skill}/SKILL.md"],
                }, final, "best_ms")},
                {"text": f"ATTEMPT DONE: {name} applied the fastest verified variant; final score recorded."},
            ]},
            {"name": "attempt", "match": "# HarnessGym attempt", "steps": [
                {"shell": "python3 benchmark.py --json --mode dev"},
                {"shell": install_text({"kernel.py": read(os.path.join(here, "manual_edit.py"))})},
                {"shell": record({
                    "status": "incomplete",
                    "summary": "Gathered each sequence's pages once per head by hand (still Python loops).",
                    "missing_tooling": ["a variant sweep that times vectorised kernels on fresh inputs and "
                                        "applies the fastest verified one"],
                }, final, "best_ms")},
                {"text": "ATTEMPT DONE: manual edit verified in final mode."},
            ]},
            {"name": "reflection", "match": "# HarnessGym reflection", "steps": [
                {"shell": record({"reflection": {
                    "recommendations": [f"an MCP server ({name}) that times kernel variants and applies the fastest"],
                    "selected_improvement": {
                        "kind": "mcp", "name": name,
                        "reason": "timing variants by hand is slow and noisy; a sweep with final-mode gating is not",
                        "target_path": server}}})},
                {"text": f"REFLECTED: build the {name} MCP server."},
            ]},
            {"name": "build", "match": "# HarnessGym build", "steps": [
                {"shell": install_text(files)},
                {"shell": f"python3 {server}/server.py --self-test"},
                {"shell": record({"verification": {"tooling_tests": [
                    {"name": f"{name} self-test", "status": "passed",
                     "command": f"python3 {server}/server.py --self-test"}]}})},
                {"text": f"BUILT: {name} MCP server (benchmark, sweep_variants, history) and its skill."},
            ]},
        ],
        "usage": {"input_tokens": 2000, "cached_input_tokens": 500, "output_tokens": 200},
    }


SCRIPTS = {"tensor-layout-pipeline": tensor_layout_pipeline, "cpu-attention-autotune": cpu_attention_autotune,
           "paged-attention-decode": paged_attention_decode}


def main():
    check = "--check" in sys.argv
    stale = []
    for name, make in SCRIPTS.items():
        text = json.dumps(make(), indent=1) + "\n"
        path = os.path.join(HERE, name, "script.json")
        if check:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
            print("wrote", path)
    if stale:
        print("stale (run python3 xtask/rehearsal/make_scripts.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
