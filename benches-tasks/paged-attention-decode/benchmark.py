#!/usr/bin/env python3
"""Frozen benchmark of the paged-attention-decode task. Do not edit.

Times `kernel.paged_decode` on paged KV caches of varied shapes. Every timed call gets freshly
generated inputs (new values, new page placement, new sequence lengths); its output is checked
against a float64 reference computed after the call, outside the timed region, from a private
copy of the inputs. Before anything runs, the kernel's source is scanned: it may import only
numpy and math, and may not keep state between calls or reach outside its arguments.

    python3 benchmark.py --json --mode dev|final [--kernel FILE]

Objective: `best_ms` (mirrored to `score`), the sum over the mode's cases of the fastest
verified call (lower is better); BLAS runs single-threaded. Any wrong output or a failed scan
fails the run (`status: "failed"`, exit 1).
"""

import time

_clock = time.perf_counter  # bound before the kernel is imported

import argparse  # noqa: E402
import ast  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

# One BLAS thread: the kernel is timed single-threaded, so a shared machine's load does not turn
# BLAS's own threads against each other (set before NumPy loads its BLAS).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

ATOL, RTOL = 2.0e-4, 1.0e-3

# num_pages is the pool size; lengths are drawn per run in [min_len, max_len].
CASES = {
    "dev": [
        {"name": "gqa4_d64_page16", "seqs": 8, "q_heads": 8, "kv_heads": 2, "head_dim": 64, "page_size": 16,
         "min_len": 1, "max_len": 600, "seed": 11, "runs": 3},
        {"name": "mha_d128_page32", "seqs": 4, "q_heads": 4, "kv_heads": 4, "head_dim": 128, "page_size": 32,
         "min_len": 200, "max_len": 1200, "seed": 23, "runs": 3},
    ],
    "final": [
        {"name": "gqa8_d128_page16_long", "seqs": 6, "q_heads": 16, "kv_heads": 2, "head_dim": 128,
         "page_size": 16, "min_len": 900, "max_len": 2600, "seed": 101, "runs": 5},
        {"name": "many_short_seqs_page8", "seqs": 48, "q_heads": 8, "kv_heads": 8, "head_dim": 64, "page_size": 8,
         "min_len": 1, "max_len": 96, "seed": 202, "runs": 5},
        {"name": "mqa_d96_page64", "seqs": 10, "q_heads": 12, "kv_heads": 1, "head_dim": 96, "page_size": 64,
         "min_len": 64, "max_len": 1800, "seed": 303, "runs": 5},
    ],
}

ALLOWED_IMPORTS = {"numpy", "math"}
FORBIDDEN_NAMES = {
    "open", "exec", "eval", "compile", "globals", "locals", "vars", "__import__", "getattr", "setattr",
    "delattr", "input", "breakpoint", "memoryview", "id", "hash", "type", "object", "super", "__builtins__",
    "exit", "quit", "SystemExit", "KeyboardInterrupt", "BaseException",
}
FORBIDDEN_ATTRS = {
    "load", "save", "savez", "savez_compressed", "fromfile", "tofile", "memmap", "ctypeslib", "lib", "loadtxt",
    "genfromtxt", "DataSource", "frombuffer", "ctypes", "setflags", "base",
}


def scan_source(source):
    """Reasons the kernel source is refused (empty when it passes)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [f"kernel.py does not parse: {e}"]
    errors = []
    for node in tree.body:
        ok = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = node.value
            ok = value is not None and all(isinstance(n, (ast.Constant, ast.Tuple, ast.UnaryOp, ast.BinOp,
                                                          ast.operator, ast.unaryop, ast.Load))
                                           for n in ast.walk(value))
        if not ok:
            errors.append(f"line {node.lineno}: module level may hold only imports, functions and constants "
                          f"(no state kept between calls)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]] if node.level == 0 else ["."]
        else:
            names = []
        for name in names:
            if name not in ALLOWED_IMPORTS:
                errors.append(f"line {node.lineno}: import of {name!r} (only numpy and math)")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            errors.append(f"line {node.lineno}: global/nonlocal state")
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            errors.append(f"line {node.lineno}: use of {node.id!r}")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("__") or node.attr in FORBIDDEN_ATTRS:
                errors.append(f"line {node.lineno}: attribute {node.attr!r}")
            if isinstance(node.ctx, ast.Store):
                errors.append(f"line {node.lineno}: assignment to an attribute ({node.attr!r})")
        if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef)):
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                if not isinstance(default, ast.Constant):
                    errors.append(f"line {default.lineno}: non-constant default argument")
        if isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Yield, ast.YieldFrom)):
            errors.append(f"line {node.lineno}: classes, async functions and generators are not allowed")
    if not any(isinstance(n, ast.FunctionDef) and n.name == "paged_decode" for n in tree.body):
        errors.append("kernel.py must define paged_decode")
    return sorted(set(errors))


def make_inputs(case, run):
    rng = np.random.default_rng(case["seed"] * 1000 + run)
    s, hq, hkv, d, ps = case["seqs"], case["q_heads"], case["kv_heads"], case["head_dim"], case["page_size"]
    lens = rng.integers(case["min_len"], case["max_len"] + 1, size=s).astype(np.int32)
    pages_per_seq = -(-lens // ps)
    max_pages = int(pages_per_seq.max())
    pool = int(pages_per_seq.sum()) + int(rng.integers(2, 9))
    perm = rng.permutation(pool)
    table = np.full((s, max_pages), -1, dtype=np.int32)
    used = 0
    for i in range(s):
        table[i, :pages_per_seq[i]] = perm[used:used + pages_per_seq[i]]
        used += pages_per_seq[i]
    # Slots a sequence does not own hold large values: reading them spoils the result.
    k = np.full((pool, ps, hkv, d), 40.0, dtype=np.float32)
    v = np.full((pool, ps, hkv, d), -40.0, dtype=np.float32)
    for i in range(s):
        for p in range(pages_per_seq[i]):
            n = min(ps, int(lens[i]) - p * ps)
            page = table[i, p]
            k[page, :n] = rng.standard_normal((n, hkv, d), dtype=np.float32)
            v[page, :n] = rng.standard_normal((n, hkv, d), dtype=np.float32)
    q = rng.standard_normal((s, hq, d), dtype=np.float32)
    scale = float(rng.uniform(0.5, 1.5) / np.sqrt(d))
    return q, k, v, table, lens, scale


def reference(q, k, v, table, lens, scale):
    s, hq, d = q.shape
    ps, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    out = np.empty((s, hq, d))
    for i in range(s):
        n = int(lens[i])
        pages = table[i, :-(-n // ps)]
        keys = k[pages].reshape(-1, hkv, d)[:n].astype(np.float64)
        vals = v[pages].reshape(-1, hkv, d)[:n].astype(np.float64)
        for h in range(hq):
            sc = keys[:, h // group] @ q[i, h].astype(np.float64) * scale
            w = np.exp(sc - sc.max())
            out[i, h] = (w / w.sum()) @ vals[:, h // group]
    return out


def load_kernel(path):
    spec = importlib.util.spec_from_file_location("paged_kernel_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.paged_decode


def run_case(fn, case):
    times, worst = [], 0.0
    for run in range(case["runs"]):
        q, k, v, table, lens, scale = make_inputs(case, run)
        args = [a.copy() for a in (q, k, v, table, lens)]
        for a in args:
            a.setflags(write=False)
        start = _clock()
        out = fn(*args, scale)
        elapsed = _clock() - start
        ref = reference(q, k, v, table, lens, scale)
        if not isinstance(out, np.ndarray) or out.shape != ref.shape:
            shape = getattr(out, "shape", type(out).__name__)
            return None, None, f"run {run}: output shape {shape}, expected {ref.shape}"
        if not np.all(np.isfinite(out)):
            return None, None, f"run {run}: output has non-finite values"
        err = float(np.max(np.abs(out.astype(np.float64) - ref)))
        worst = max(worst, err)
        if not np.all(np.abs(out.astype(np.float64) - ref) <= ATOL + RTOL * np.abs(ref)):
            return None, worst, f"run {run}: wrong output (max_abs_err {err:.3g}, atol {ATOL:g}, rtol {RTOL:g})"
        times.append(elapsed * 1000.0)
    return times, worst, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default output too)")
    parser.add_argument("--mode", choices=["dev", "final"], default="dev")
    parser.add_argument("--kernel", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel.py"))
    args = parser.parse_args(argv)
    result = {"mode": args.mode, "status": "failed", "errors": [], "best_ms": None, "score": None,
              "objective": "sum over cases of the fastest verified call, ms", "tolerance": {"atol": ATOL, "rtol": RTOL},
              "source_scan": "not_run", "cases": []}
    try:
        with open(args.kernel) as f:
            source = f.read()
        scan = scan_source(source)
        result["source_scan"] = "failed" if scan else "passed"
        result["errors"].extend(f"source scan: {e}" for e in scan)
        if not scan:
            # Whatever the kernel prints goes to stderr: stdout carries the one JSON object.
            with contextlib.redirect_stdout(sys.stderr):
                fn = load_kernel(args.kernel)
            total = 0.0
            for case in CASES[args.mode]:
                with contextlib.redirect_stdout(sys.stderr):
                    times, worst, error = run_case(fn, case)
                entry = {k: case[k] for k in ("name", "seqs", "q_heads", "kv_heads", "head_dim", "page_size",
                                               "max_len", "runs")}
                entry["max_abs_err"] = worst
                if error:
                    entry.update(status="failed", best_ms=None, median_ms=None)
                    result["errors"].append(f"{case['name']}: {error}")
                else:
                    best = min(times)
                    entry.update(status="passed", best_ms=round(best, 4),
                                 median_ms=round(sorted(times)[len(times) // 2], 4))
                    total += best
                result["cases"].append(entry)
            if not result["errors"]:
                result.update(status="passed", best_ms=round(total, 4), score=round(total, 4))
    except BaseException as e:  # the kernel may raise anything: report it, never a traceback
        result["errors"].append(f"{type(e).__name__}: {e}")
    print(json.dumps(result, allow_nan=False))
    return 0 if result["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
