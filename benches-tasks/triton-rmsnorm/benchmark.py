#!/usr/bin/env python3
"""Frozen judge of the triton-rmsnorm task. Do not edit.

    python3 benchmark.py --json --mode dev|final [--warmup N] [--repeats N]

Prints one strict JSON object (no NaN/Infinity) and exits 0 iff status is "passed".
Needs a CUDA GPU with PyTorch and Triton (and NumPy for the reference). Without them it
fails at once with status "failed" and an error that starts with "no GPU:". Through
HarnessGym on a GPU host: `harnessgym run ... --post-attempt-remote HOST
--post-attempt-command "python3 benchmark.py --json --mode final"`.

Order of work: the launch config is validated and kernel.py is scanned (both need only the
standard library), then the GPU is probed, then the cases run. The reference is computed
here with NumPy in float64, never by kernel.py. Every call (warm-up and timed) gets a
fresh input -- one row of x and gate re-randomised, and its reference row recomputed,
before the call -- and a sentinel-filled output, and is verified after its timing.
"""

import argparse
import json
import math
import os
import re
import sys
import time

_perf_ns = time.perf_counter_ns  # bound before kernel.py is imported

TASK_DIR = os.path.dirname(os.path.abspath(__file__))
KERNEL = os.path.join(TASK_DIR, "kernel.py")
CONFIG = os.path.join(TASK_DIR, "kernel_config.json")

ATOL = 1e-2
RTOL = 1e-2
SENTINEL_BITS = 0x7E57  # a float16 NaN pattern the kernel must overwrite
GELU_C = math.sqrt(2.0 / math.pi)


def case(name, rows, dim, seed, eps=1e-6, x_scale=1.0, guard=False):
    return {"name": name, "rows": rows, "dim": dim, "seed": seed, "eps": eps, "x_scale": x_scale, "guard": guard}


CASES = {
    "dev": [
        case("dev-2048x1024", 2048, 1024, 401),
        case("dev-512x4096", 512, 4096, 402),
        case("dev-guard-4096x768", 4096, 768, 403, eps=1e-5, x_scale=0.05, guard=True),
    ],
    "final": [
        case("final-8192x1024", 8192, 1024, 901),
        case("final-1024x8192", 1024, 8192, 902),
        case("final-guard-3000x5120", 3000, 5120, 903, eps=1e-5, x_scale=3.0, guard=True),
        case("final-guard-64x12288", 64, 12288, 904, eps=1e-3, x_scale=0.02, guard=True),
    ],
}

CONFIG_KEYS = {"block_size", "num_stages", "num_warps", "rows_per_program"}
# kernel.py may not reach the judge, the reference, the timer or the process around it.
FORBIDDEN = [
    (r"\bbenchmark\b", "the judge module"),
    (r"\breference\b", "the reference"),
    (r"\bnumpy\b", "NumPy (the reference's library)"),
    (r"\belapsed_time\b|\bEvent\b|\bsynchronize\b|\bperf_counter|\btime\b", "timers"),
    (r"\b[Ss]tream\b|\bgraphs?\b|CUDAGraph", "side streams and graphs (work the events would not time)"),
    (r"\bsetattr\b|\bgetattr\b|\bdelattr\b|\bvars\b|__dict__|__class__|\bglobals\b|\bsys\b|\bbuiltins\b|\bimportlib\b|\binspect\b|\bgc\b",
     "monkey-patching"),
    (r"\bopen\b|\bos\b|\bsubprocess\b|\bctypes\b|\bpickle\b|\bthreading\b|\bmultiprocessing\b", "files, processes, threads"),
    (r"\bexec\b|\beval\b|\bcompile\b|__import__", "dynamic code"),
]
ALLOWED_IMPORTS = {"torch", "triton", "triton.language", "math", "functools"}


TIMERS = []


class Refused(Exception):
    """A check refused the run; the message starts with the check's name."""


# --------------------------------------------------------------------------- no-GPU checks


def load_config(path=CONFIG):
    try:
        with open(path) as f:
            cfg = json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except (OSError, ValueError) as e:
        raise Refused(f"config check: cannot read kernel_config.json: {e}")
    if not isinstance(cfg, dict):
        raise Refused("config check: kernel_config.json must hold a JSON object")
    unknown = sorted(set(cfg) - CONFIG_KEYS)
    missing = sorted(CONFIG_KEYS - set(cfg))
    if unknown:
        raise Refused(f"config check: unknown key(s) {unknown}; allowed: {sorted(CONFIG_KEYS)}")
    if missing:
        raise Refused(f"config check: missing key(s) {missing}")
    for key in CONFIG_KEYS:
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool):
            raise Refused(f"config check: {key} must be an integer, got {cfg[key]!r}")
    if cfg["num_warps"] not in (1, 2, 4, 8, 16, 32):
        raise Refused(f"config check: num_warps must be one of 1, 2, 4, 8, 16, 32, got {cfg['num_warps']}")
    if not 1 <= cfg["num_stages"] <= 8:
        raise Refused(f"config check: num_stages must be within 1..8, got {cfg['num_stages']}")
    b = cfg["block_size"]
    if b != 0 and not (16 <= b <= 65536 and b & (b - 1) == 0):
        raise Refused(f"config check: block_size must be 0 (next power of two >= dim) or a power of two in 16..65536, got {b}")
    if not 1 <= cfg["rows_per_program"] <= 64:
        raise Refused(f"config check: rows_per_program must be within 1..64, got {cfg['rows_per_program']}")
    return cfg


def source_scan(path=KERNEL):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise Refused(f"source scan: cannot read kernel.py: {e}")
    code = re.sub(r"#[^\n]*", "", text)
    code = re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'', "", code)  # docstrings
    for m in re.finditer(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+(?:\s*,\s*[\w.]+)*))", code, re.M):
        names = [m.group(1)] if m.group(1) else [n.strip() for n in m.group(2).split(",")]
        for name in names:
            if name not in ALLOWED_IMPORTS:
                raise Refused(f"source scan: import of {name} is not allowed (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
    for pattern, what in FORBIDDEN:
        m = re.search(pattern, code)
        if m:
            raise Refused(f"source scan: '{m.group(0)}' is not allowed in kernel.py ({what})")
    if "def launch(" not in code:
        raise Refused("source scan: kernel.py must define launch(x, gate, weight, out, eps, config)")


def probe_gpu():
    """Fails fast, with what is missing, when this machine cannot run the kernel."""
    hint = ("run it on a machine with an NVIDIA GPU, PyTorch and Triton -- locally, or from HarnessGym with "
            "--post-attempt-remote HOST (see docs/tasks.md)")
    try:
        import torch  # noqa: F401
    except Exception as e:  # ImportError, or a broken CUDA install
        raise Refused(f"no GPU: PyTorch is not importable here ({type(e).__name__}: {e}); {hint}")
    if not torch.cuda.is_available():
        raise Refused(f"no GPU: torch.cuda.is_available() is False (torch {torch.__version__}); {hint}")
    try:
        import triton  # noqa: F401
    except Exception as e:
        raise Refused(f"no GPU: Triton is not importable here ({type(e).__name__}: {e}); {hint}")
    try:
        import numpy  # noqa: F401
    except Exception as e:
        raise Refused(f"run: NumPy (the reference) is not importable here ({type(e).__name__}: {e})")
    return torch


# --------------------------------------------------------------------------- reference


def reference(x, gate, weight, eps):
    """The judge's reference in float64: x, gate [rows, dim], weight [dim] (any float dtype)."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(gate, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    inv = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    gelu = 0.5 * g * (1.0 + np.tanh(GELU_C * (g + 0.044715 * g**3)))
    return x * inv * (1.0 + w) * gelu


def make_inputs(np, c):
    rng = np.random.default_rng(c["seed"])
    x = (rng.standard_normal((c["rows"], c["dim"])) * c["x_scale"]).astype(np.float16)
    gate = (rng.standard_normal((c["rows"], c["dim"])) * 1.5).astype(np.float16)
    weight = rng.uniform(-0.5, 0.5, c["dim"]).astype(np.float32)
    return rng, x, gate, weight


# --------------------------------------------------------------------------- GPU run


def load_kernel():
    import importlib.util

    sys.dont_write_bytecode = True  # no __pycache__ in the task directory
    spec = importlib.util.spec_from_file_location("hg_triton_kernel", KERNEL)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise Refused(f"build: kernel.py does not import: {type(e).__name__}: {e}")
    if not callable(getattr(module, "launch", None)):
        raise Refused("build: kernel.py has no launch function")
    return module


def run_case(torch, kernel, cfg, c, warmup, repeats):
    import numpy as np

    Event, record, sync, elapsed = TIMERS
    rng, x, gate, weight = make_inputs(np, c)
    ref = reference(x, gate, weight, c["eps"])
    dev = torch.device("cuda")
    xd, gd = torch.from_numpy(x).to(dev), torch.from_numpy(gate).to(dev)
    wd = torch.from_numpy(weight).to(dev)
    refd = torch.from_numpy(ref).to(dev)
    out = torch.empty((c["rows"], c["dim"]), dtype=torch.float16, device=dev)
    times, worst_abs, worst_excess = [], 0.0, 0.0
    for i in range(warmup + repeats):
        r = int(rng.integers(c["rows"]))  # a fresh input for every call
        x[r] = (rng.standard_normal(c["dim"]) * c["x_scale"]).astype(np.float16)
        gate[r] = (rng.standard_normal(c["dim"]) * 1.5).astype(np.float16)
        xd[r] = torch.from_numpy(x[r]).to(dev)
        gd[r] = torch.from_numpy(gate[r]).to(dev)
        refd[r] = torch.from_numpy(reference(x[r : r + 1], gate[r : r + 1], weight, c["eps"])[0]).to(dev)
        out.view(torch.int16).fill_(SENTINEL_BITS)
        start, end = Event(enable_timing=True), Event(enable_timing=True)
        sync()
        wall0 = _perf_ns()
        record(start)
        kernel.launch(xd, gd, wd, out, c["eps"], dict(cfg))
        record(end)
        sync()
        wall_us = (_perf_ns() - wall0) / 1e3
        us = elapsed(start, end) * 1e3
        if not (0.0 < us <= wall_us * 1.05 + 5.0):
            raise Refused(f"timing cross-check: {c['name']} call {i}: CUDA events say {us:.1f} us, the wall clock {wall_us:.1f} us")
        unwritten = int((out.view(torch.int16) == SENTINEL_BITS).sum().item())
        if unwritten:
            raise Refused(f"sentinel check: {c['name']} call {i}: {unwritten} outputs were never written")
        diff = (out.double() - refd).abs()
        if not bool(torch.isfinite(diff).all().item()):
            raise Refused(f"verify: {c['name']} call {i}: non-finite output")
        excess = (diff - (ATOL + RTOL * refd.abs())).max().item()
        if excess > 0:
            raise Refused(f"verify: {c['name']} call {i}: |y - ref| exceeds {ATOL} + {RTOL}*|ref| by {excess:.3e}")
        worst_abs = max(worst_abs, diff.max().item())
        worst_excess = max(worst_excess, excess)
        if i >= warmup:
            times.append(us)
    times.sort()
    return {
        "name": c["name"], "rows": c["rows"], "dim": c["dim"], "eps": c["eps"], "guard": c["guard"],
        "status": "passed", "best_us": round(times[0], 3), "median_us": round(times[len(times) // 2], 3),
        "max_abs": float(f"{worst_abs:.3e}"), "atol": ATOL, "rtol": RTOL, "calls_verified": warmup + repeats,
        "gbps_effective": round((3 * c["rows"] * c["dim"] * 2 + c["dim"] * 4) / (times[0] * 1e-6) / 1e9, 2),
    }


# --------------------------------------------------------------------------- main


class Parser(argparse.ArgumentParser):
    """Usage errors are strict JSON too (status failed, exit 2)."""

    def error(self, message):
        print(json.dumps({"status": "failed", "score": None, "best_us": None, "cases": [],
                          "errors": [f"usage: {message}"]}, sort_keys=True))
        sys.exit(2)


def main(argv=None):
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the JSON report (always printed; kept for the post command)")
    ap.add_argument("--mode", choices=["dev", "final"], default="dev")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    started = _perf_ns()
    report = {
        "task": "triton-rmsnorm", "mode": args.mode, "status": "failed", "objective": "best_us",
        "best_us": None, "score": None, "errors": [], "cases": [], "config": None, "device": None,
        "torch": None, "triton": None, "atol": ATOL, "rtol": RTOL,
        "checks": {k: "not run" for k in ("config check", "source scan", "gpu", "build", "run",
                                           "sentinel check", "verify", "timing cross-check")},
    }
    checks = report["checks"]
    try:
        if not (1 <= args.repeats <= 1000 and 0 <= args.warmup <= 1000):
            raise Refused("config check: --repeats must be within 1..1000 and --warmup within 0..1000")
        cfg = load_config()
        report["config"] = cfg
        checks["config check"] = "passed"
        source_scan()
        checks["source scan"] = "passed"
        torch = probe_gpu()
        import triton

        checks["gpu"] = "passed"
        report.update(device=torch.cuda.get_device_name(0), torch=torch.__version__, triton=triton.__version__)
        # the timer's functions, bound before kernel.py runs any code in this process
        TIMERS[:] = [torch.cuda.Event, torch.cuda.Event.record, torch.cuda.synchronize, torch.cuda.Event.elapsed_time]
        kernel = load_kernel()
        checks["build"] = "passed"
        for c in CASES[args.mode]:
            report["cases"].append(run_case(torch, kernel, cfg, c, args.warmup, args.repeats))
        for k in ("run", "sentinel check", "verify", "timing cross-check"):
            checks[k] = "passed"
        total = round(sum(r["best_us"] for r in report["cases"]), 3)
        report.update(status="passed", best_us=total, score=total)
    except Refused as e:
        msg = str(e)
        report["errors"].append(msg)
        check = "gpu" if msg.startswith("no GPU") else msg.split(":", 1)[0]
        if check in checks:
            checks[check] = "failed"
    except Exception as e:  # the report must still be strict JSON
        report["errors"].append(f"run: {type(e).__name__}: {e}")
        checks["run"] = "failed"
    report["elapsed_seconds"] = round((_perf_ns() - started) / 1e9, 3)
    print(json.dumps(report, allow_nan=False, sort_keys=True))
    return 0 if report["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
