"""kernel_variants: an MCP server (newline-delimited JSON-RPC 2.0 on stdio) for the
paged-attention-decode task, as the rehearsal's scripted agent builds it.

Tools:
  benchmark      {mode}            run the frozen benchmark on kernel.py; status, best_ms, cases
  sweep_variants {mode, apply}     time every kernel variant in variants/ with the benchmark (dev by
                                   default), verify the fastest in final mode, and with apply write
                                   it to kernel.py when it passes and beats the current final
                                   best_ms (a backup of the old kernel is kept)
  history        {}                the kernels sweep_variants applied, with their scores

`python3 server.py --self-test` checks framing, every tool, an invalid input and the rollback
backup on a scratch copy of the task files. Logs go to stderr; stdout carries protocol only.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def workspace():
    return os.environ.get("KERNEL_VARIANTS_WORKSPACE") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def history_dir():
    return os.environ.get("KERNEL_VARIANTS_HISTORY") or os.path.join(HERE, "history")


def bench(ws, mode, kernel=None):
    cmd = [sys.executable, "benchmark.py", "--json", "--mode", mode]
    if kernel:
        cmd += ["--kernel", kernel]
    out = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=300)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return {"status": "failed", "errors": [f"benchmark printed no JSON: {out.stderr[-400:]}"], "best_ms": None}


def summary(report):
    return {"status": report.get("status"), "best_ms": report.get("best_ms"), "errors": report.get("errors", []),
            "cases": [{k: c.get(k) for k in ("name", "best_ms", "status")} for c in report.get("cases", [])]}


def tool_benchmark(args):
    mode = args.get("mode", "final")
    if mode not in ("dev", "final"):
        return {"ok": False, "error": f"mode must be dev or final, not {mode!r}"}
    return dict(ok=True, mode=mode, **summary(bench(workspace(), mode)))


def tool_sweep_variants(args):
    mode = args.get("mode", "dev")
    if mode not in ("dev", "final"):
        return {"ok": False, "error": f"mode must be dev or final, not {mode!r}"}
    ws = workspace()
    variants_dir = os.path.join(HERE, "variants")
    ranked = []
    for name in sorted(os.listdir(variants_dir)):
        if name.endswith(".py"):
            report = bench(ws, mode, os.path.join(variants_dir, name))
            ranked.append({"variant": name, **summary(report)})
    passing = sorted((r for r in ranked if r["status"] == "passed"), key=lambda r: r["best_ms"])
    result = {"ok": True, "mode": mode, "ranked": ranked, "applied": False, "backup": None}
    if not passing:
        return result
    best = passing[0]
    candidate = summary(bench(ws, "final", os.path.join(variants_dir, best["variant"])))
    current = summary(bench(ws, "final"))
    result.update(best_variant=best["variant"], candidate_final=candidate, current_final=current)
    better = candidate["status"] == "passed" and (
        current["status"] != "passed" or candidate["best_ms"] < current["best_ms"])
    if args.get("apply", True) and better:
        os.makedirs(history_dir(), exist_ok=True)
        backup = os.path.join(history_dir(), f"kernel-{int(time.time() * 1000)}.py")
        shutil.copyfile(os.path.join(ws, "kernel.py"), backup)
        tmp = os.path.join(ws, "kernel.py.tmp")
        shutil.copyfile(os.path.join(variants_dir, best["variant"]), tmp)
        os.replace(tmp, os.path.join(ws, "kernel.py"))
        result.update(applied=True, backup=backup)
        with open(os.path.join(history_dir(), "history.jsonl"), "a") as f:
            f.write(json.dumps({"backup": backup, "variant": best["variant"], "before": current["best_ms"],
                                "after": candidate["best_ms"]}) + "\n")
    return result


def tool_history(_args):
    path = os.path.join(history_dir(), "history.jsonl")
    entries = []
    if os.path.exists(path):
        with open(path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    return {"ok": True, "entries": entries}


TOOLS = {
    "benchmark": (tool_benchmark, "Run the frozen benchmark on kernel.py in dev or final mode.",
                  {"mode": {"type": "string", "enum": ["dev", "final"]}}),
    "sweep_variants": (tool_sweep_variants, "Time every kernel variant, verify the fastest in final mode and "
                                            "(apply) write it to kernel.py if it beats the current kernel.",
                       {"mode": {"type": "string", "enum": ["dev", "final"]}, "apply": {"type": "boolean"}}),
    "history": (tool_history, "Kernels sweep_variants applied, with before/after best_ms and backups.", {}),
}


def handle(msg):
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        return None
    if method == "initialize":
        version = (msg.get("params") or {}).get("protocolVersion", "2024-11-05")
        result = {"protocolVersion": version, "capabilities": {"tools": {}},
                  "serverInfo": {"name": "kernel_variants", "version": "1"}}
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
        for name in ("benchmark.py", "kernel.py"):
            shutil.copyfile(os.path.join(ws, name), os.path.join(tmp, name))
        env = dict(os.environ, KERNEL_VARIANTS_WORKSPACE=tmp, KERNEL_VARIANTS_HISTORY=os.path.join(tmp, "history"))
        requests = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "benchmark", "arguments": {"mode": "dev"}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "benchmark", "arguments": {"mode": "bogus"}}},
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
             "params": {"name": "sweep_variants", "arguments": {"mode": "dev", "apply": True}}},
            {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "history", "arguments": {}}},
        ]
        original = open(os.path.join(tmp, "kernel.py")).read()
        proc = subprocess.run([sys.executable, os.path.abspath(__file__)],
                              input="".join(json.dumps(r) + "\n" for r in requests),
                              capture_output=True, text=True, env=env, timeout=240)
        replies = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["id"] for r in replies] == [1, 2, 3, 4, 5, 6], proc.stdout + proc.stderr
        assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
        assert {t["name"] for t in replies[1]["result"]["tools"]} == set(TOOLS)
        first = json.loads(replies[2]["result"]["content"][0]["text"])
        assert first["ok"] and first["status"] == "passed" and first["best_ms"] > 0, first
        bad = replies[3]["result"]
        assert bad["isError"] and not json.loads(bad["content"][0]["text"])["ok"], bad
        sweep = json.loads(replies[4]["result"]["content"][0]["text"])
        assert sweep["ok"] and {r["variant"] for r in sweep["ranked"]}, sweep
        assert all(set(r) >= {"variant", "status", "best_ms"} for r in sweep["ranked"]), sweep
        if sweep["applied"]:
            with open(os.path.join(tmp, "kernel.py")) as f:
                assert f.read() == open(os.path.join(HERE, "variants", sweep["best_variant"])).read()
            with open(sweep["backup"]) as f:
                assert f.read() == original  # rollback: the old kernel is kept
            history = json.loads(replies[5]["result"]["content"][0]["text"])
            assert history["entries"][-1]["backup"] == sweep["backup"]
    print("self-test passed: framing, initialize, tools/list, benchmark, invalid mode, sweep_variants, backup, history")
    return 0


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.exit(self_test())
    serve()
