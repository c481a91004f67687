"""A sweep MCP server (newline-delimited JSON-RPC 2.0 on stdio) for a task whose edit surface is
a JSON file of enumerated knobs scored by a deterministic `benchmark.py` (tensor-layout-pipeline,
cpu-attention-autotune), as the rehearsal's scripted agent builds it. `sweep_config.json` beside
this file names the server, the edit file and the coupled knob groups.

Tools:
  evaluate {mode, plan?}        score the edit file (or the given plan) with the frozen benchmark
  sweep    {mode, apply, max_evals}
                                joint search from the current plan: one-knob passes plus exhaustive
                                sweeps over coupled knob groups; with apply, writes the best plan
                                to the edit file when it passes dev and final and beats the
                                current final score (a backup of the old plan is kept)
  history  {}                   the plans sweep applied, with their scores

`python3 server.py --self-test` checks framing, every tool, an invalid input and the rollback
backup on a scratch copy of the task files. Logs go to stderr; stdout carries protocol only.
"""

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "sweep_config.json")) as _f:
    CONFIG = json.load(_f)
NAME, EDIT_FILE, GROUPS = CONFIG["name"], CONFIG["edit_file"], [tuple(g) for g in CONFIG["groups"]]


def workspace():
    return os.environ.get("PLAN_SWEEP_WORKSPACE") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def history_dir():
    return os.environ.get("PLAN_SWEEP_HISTORY") or os.path.join(HERE, "history")


def load_benchmark(ws):
    spec = importlib.util.spec_from_file_location("benchmark_for_sweep", os.path.join(ws, "benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_plan(ws):
    with open(os.path.join(ws, EDIT_FILE)) as f:
        return json.load(f)


def score(bench, plan, mode):
    result, _ = bench.run(dict(plan), mode)
    return result["best_cycles"] if result["status"] == "passed" else None


def tool_evaluate(args):
    mode = args.get("mode", "final")
    if mode not in ("dev", "final"):
        return {"ok": False, "error": f"mode must be dev or final, not {mode!r}"}
    ws = workspace()
    bench = load_benchmark(ws)
    plan = args.get("plan") or read_plan(ws)
    result, traces = bench.run(dict(plan), mode)
    cases = [{"name": c["name"], "cycles": c["cycles"], "status": c["status"]} for c in result["cases"]]
    worst = max(cases, key=lambda c: c["cycles"])["name"] if cases else None
    penalties = {name: t["penalties"] for name, t in traces.items() if t["penalties"]}
    return {"ok": True, "mode": mode, "status": result["status"], "score": result["best_cycles"],
            "errors": result["errors"], "worst_case": worst, "cases": cases, "penalties": penalties}


def search(bench, start, mode, max_evals):
    cache = {}

    def objective(plan):
        key = json.dumps(plan, sort_keys=True)
        if key not in cache:
            value = score(bench, plan, mode)
            cache[key] = float("inf") if value is None else value
        return cache[key]

    best, best_score = dict(start), objective(start)
    improved = True
    while improved and len(cache) < max_evals:
        improved = False
        for knob, domain in bench.DOMAINS.items():
            for value in domain:
                cand = dict(best, **{knob: value})
                if objective(cand) < best_score:
                    best, best_score, improved = cand, objective(cand), True
        for group in GROUPS:
            for values in itertools.product(*(bench.DOMAINS[k] for k in group)):
                if len(cache) >= max_evals:
                    break
                cand = dict(best, **dict(zip(group, values)))
                if objective(cand) < best_score:
                    best, best_score, improved = cand, objective(cand), True
    return best, best_score, len(cache)


def tool_sweep(args):
    mode = args.get("mode", "final")
    if mode not in ("dev", "final"):
        return {"ok": False, "error": f"mode must be dev or final, not {mode!r}"}
    max_evals = int(args.get("max_evals", 6000))
    apply = bool(args.get("apply", True))
    ws = workspace()
    bench = load_benchmark(ws)
    current = read_plan(ws)
    before = {m: score(bench, current, m) for m in ("dev", "final")}
    started = time.monotonic()
    best, _, evals = search(bench, current, mode, max_evals)
    after = {m: score(bench, best, m) for m in ("dev", "final")}
    changed = {k: [current.get(k), v] for k, v in best.items() if current.get(k) != v}
    applied, backup = False, None
    better = after["final"] is not None and after["dev"] is not None and (
        before["final"] is None or after["final"] < before["final"])
    if apply and better and changed:
        os.makedirs(history_dir(), exist_ok=True)
        backup = os.path.join(history_dir(), f"plan-{int(time.time() * 1000)}.json")
        shutil.copyfile(os.path.join(ws, EDIT_FILE), backup)
        tmp = os.path.join(ws, EDIT_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(best, f, indent=2)
            f.write("\n")
        os.replace(tmp, os.path.join(ws, EDIT_FILE))
        applied = True
        with open(os.path.join(history_dir(), "history.jsonl"), "a") as f:
            f.write(json.dumps({"backup": backup, "before": before, "after": after, "changed": changed}) + "\n")
    return {"ok": True, "mode": mode, "before": before, "after": after, "evaluations": evals,
            "seconds": round(time.monotonic() - started, 2), "changed_knobs": changed, "applied": applied,
            "backup": backup, "plan": best}


def tool_history(_args):
    path = os.path.join(history_dir(), "history.jsonl")
    entries = []
    if os.path.exists(path):
        with open(path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    return {"ok": True, "entries": entries}


TOOLS = {
    "evaluate": (tool_evaluate, f"Score {EDIT_FILE} (or a given plan) in dev or final mode; cases and named penalties.",
                 {"mode": {"type": "string", "enum": ["dev", "final"]}, "plan": {"type": "object"}}),
    "sweep": (tool_sweep, "Joint search over coupled knob groups from the current plan; apply writes the best plan "
                          "if it passes dev and final and beats the current final score.",
              {"mode": {"type": "string", "enum": ["dev", "final"]}, "apply": {"type": "boolean"},
               "max_evals": {"type": "integer"}}),
    "history": (tool_history, "Plans the sweep applied, with before/after scores and backups.", {}),
}


def handle(msg):
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        return None
    if method == "initialize":
        version = (msg.get("params") or {}).get("protocolVersion", "2024-11-05")
        result = {"protocolVersion": version, "capabilities": {"tools": {}},
                  "serverInfo": {"name": NAME, "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": n, "description": d, "inputSchema": {"type": "object", "properties": p}}
                            for n, (_, d, p) in TOOLS.items()]}
    elif method == "tools/call":
        params = msg.get("params") or {}
        entry = TOOLS.get(params.get("name"))
        if entry is None:
            payload, is_error = {"ok": False, "error": f"unknown tool {params.get('name')!r}"}, True
        else:
            try:
                payload = entry[0](params.get("arguments") or {})
                is_error = not payload.get("ok", False)
            except Exception as e:  # a tool failure is a result, not a protocol error
                payload, is_error = {"ok": False, "error": f"{type(e).__name__}: {e}"}, True
        result = {"content": [{"type": "text", "text": json.dumps(payload)}], "isError": is_error}
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": f"unknown method {method}"}}
    return {"jsonrpc": "2.0", "id": mid, "result": result}


def serve():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            print(json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}),
                  flush=True)
            continue
        reply = handle(msg)
        if reply is not None:
            print(json.dumps(reply), flush=True)


def self_test():
    ws = workspace()
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("benchmark.py", EDIT_FILE):
            shutil.copyfile(os.path.join(ws, name), os.path.join(tmp, name))
        env = dict(os.environ, PLAN_SWEEP_WORKSPACE=tmp, PLAN_SWEEP_HISTORY=os.path.join(tmp, "history"))
        requests = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "evaluate", "arguments": {"mode": "dev"}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "evaluate", "arguments": {"mode": "bogus"}}},
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
             "params": {"name": "sweep", "arguments": {"mode": "final", "apply": True, "max_evals": 400}}},
            {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "history", "arguments": {}}},
        ]
        original = open(os.path.join(tmp, EDIT_FILE)).read()
        proc = subprocess.run([sys.executable, os.path.abspath(__file__)], input="".join(json.dumps(r) + "\n" for r in requests),
                              capture_output=True, text=True, env=env, timeout=120)
        replies = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["id"] for r in replies] == [1, 2, 3, 4, 5, 6], proc.stdout + proc.stderr
        assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
        assert {t["name"] for t in replies[1]["result"]["tools"]} == set(TOOLS)
        evaluate = json.loads(replies[2]["result"]["content"][0]["text"])
        assert evaluate["ok"] and evaluate["status"] == "passed" and evaluate["score"] > 0, evaluate
        bad = replies[3]["result"]
        assert bad["isError"] and not json.loads(bad["content"][0]["text"])["ok"], bad
        sweep = json.loads(replies[4]["result"]["content"][0]["text"])
        assert sweep["ok"] and sweep["applied"], sweep
        assert sweep["after"]["final"] < sweep["before"]["final"], sweep
        with open(os.path.join(tmp, EDIT_FILE)) as f:
            assert json.load(f) == sweep["plan"]
        # Rollback: the backup holds the plan as it was before the sweep wrote its own.
        with open(sweep["backup"]) as f:
            assert f.read() == original
        history = json.loads(replies[5]["result"]["content"][0]["text"])
        assert history["entries"] and history["entries"][-1]["backup"] == sweep["backup"]
    print("self-test passed: framing, initialize, tools/list, evaluate, invalid mode, sweep + apply, backup, history")
    return 0


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.exit(self_test())
    serve()
