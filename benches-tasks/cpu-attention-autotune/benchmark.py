#!/usr/bin/env python3
"""Frozen benchmark of the cpu-attention-autotune task. Do not edit.

Scores `kernel_config.json`, the launch configuration of a blocked attention-forward kernel on
a 4-core / 8-thread CPU (48 KiB L1 and 1 MiB L2 per core, 16 MiB shared L3), with a
deterministic analytic model: compute, cache residency, register pressure, prefetch, threading
and the numerical error of the exp approximation and the accumulator. The benchmark only scores
the configuration it is given; it contains no search.

    python3 benchmark.py --json --mode dev|final [--config FILE] [--trace FILE]
    python3 benchmark.py --list-valid

Objective: `best_cycles` (mirrored to `score`), the largest modelled cycle count over the
mode's cases (lower is better). A configuration whose modelled error exceeds the tolerance on
any case, or that breaks a rule, fails (`status: "failed"`, exit 1).
"""

import argparse
import hashlib
import json
import math
import os
import sys

TOLERANCE = 2.0e-4

DOMAINS = {
    "block_q": [8, 16, 32, 64, 128],
    "block_k": [16, 32, 64, 128, 256],
    "simd": ["scalar", "sse4", "avx2", "avx512"],
    "unroll_q": [1, 2, 4],
    "unroll_k": [1, 2, 4, 8],
    "prefetch_lines": [0, 2, 4, 8, 16],
    "threads": [1, 2, 4, 8],
    "kv_layout": ["separate", "interleaved", "packed_panels"],
    "accumulator": ["f32", "f64", "f32_compensated"],
    "exp": ["libm", "poly5", "poly3", "bitshift"],
    "store": ["temporal", "streaming"],
    "pack_q": [False, True],
    "split_kv": [1, 2, 4],
}

CASES = {
    "dev": [
        {"name": "heads8_n1024_d64", "heads": 8, "n": 1024, "d": 64},
        {"name": "heads2_n4096_d64", "heads": 2, "n": 4096, "d": 64},
    ],
    "final": [
        {"name": "heads16_n512_d128", "heads": 16, "n": 512, "d": 128},
        {"name": "heads4_n8192_d64", "heads": 4, "n": 8192, "d": 64},
        {"name": "heads12_n2048_d72", "heads": 12, "n": 2048, "d": 72},
        {"name": "heads1_n16384_d64", "heads": 1, "n": 16384, "d": 64},
    ],
}

CORES, THREADS_PER_CORE = 4, 2
L1, L2, L3 = 48 * 1024, 1024 * 1024, 16 * 1024 * 1024
LANES = {"scalar": 1, "sse4": 4, "avx2": 8, "avx512": 16}
REGISTERS = {"scalar": 16, "sse4": 16, "avx2": 16, "avx512": 32}
CLOCK = {"scalar": 1.0, "sse4": 1.0, "avx2": 1.0, "avx512": 0.85}
EXP_CYCLES = {"libm": 22.0, "poly5": 5.0, "poly3": 2.6, "bitshift": 1.2}
EXP_ERROR = {"libm": 2.0e-8, "poly5": 1.5e-6, "poly3": 9.0e-5, "bitshift": 9.0e-4}
ACC_SPEED = {"f32": 1.0, "f64": 0.5, "f32_compensated": 0.7}
ACC_BYTES = {"f32": 4, "f64": 8, "f32_compensated": 8}
ACC_ERROR = {"f32": 2.0e-6, "f64": 1.0e-9, "f32_compensated": 4.0e-8}


def validate(config):
    errors = []
    if not isinstance(config, dict):
        return ["the configuration must be a JSON object"]
    for key in sorted(config):
        if key not in DOMAINS:
            errors.append(f"unknown key {key!r} (valid keys: see --list-valid)")
    for key, domain in DOMAINS.items():
        if key not in config:
            errors.append(f"missing key {key!r}")
        elif type(config[key]) is not type(domain[0]) or config[key] not in domain:
            errors.append(f"{key}={config[key]!r} is not one of {domain}")
    if errors:
        return errors
    if config["block_q"] % config["unroll_q"] or config["block_k"] % (config["unroll_k"] * 4):
        errors.append("unroll_divides_block: block_q must be a multiple of unroll_q and block_k of 4*unroll_k")
    if config["kv_layout"] == "packed_panels" and config["simd"] == "scalar":
        errors.append("packed_panels_need_simd: packed panels are laid out for vector loads")
    if config["split_kv"] > 1 and config["accumulator"] == "f32" and config["exp"] in ("poly3", "bitshift"):
        errors.append("split_kv_rescale: merging split partial softmaxes needs exp of poly5 or better, "
                      "or a wider accumulator")
    return errors


def jitter(config, name):
    h = int(hashlib.sha256((json.dumps(config, sort_keys=True) + "#" + name).encode()).hexdigest()[:8], 16)
    return 1.0 + ((h / 0xFFFFFFFF) - 0.5) * 0.003


def evaluate_case(cfg, case):
    heads, n, d = case["heads"], case["n"], case["d"]
    bq, bk, simd = cfg["block_q"], cfg["block_k"], cfg["simd"]
    lanes = LANES[simd]
    penalties, synergies = {}, {}

    # Work split into (head, q block, kv split) items over the threads.
    split = cfg["split_kv"]
    items = heads * math.ceil(n / bq) * split
    threads = cfg["threads"]
    per_thread = math.ceil(items / threads)
    imbalance = per_thread / (items / threads)
    cores_used = min(CORES, threads)
    smt = threads > CORES

    # Working set of one thread's inner loop.
    kv_bytes = 2 * bk * d * 4
    ws = bq * d * 4 + kv_bytes + bq * bk * 4 + bq * d * ACC_BYTES[cfg["accumulator"]]
    ws += cfg["prefetch_lines"] * 64 * 2
    ws_core = ws * (2 if smt else 1)
    if ws_core <= L1:
        level, stall = "L1", 1.0
    elif ws_core <= L2:
        level, stall = "L2", 1.3
    else:
        level, stall = "L3", 2.4
        penalties["l2_overflow"] = ws_core
    if cfg["kv_layout"] == "interleaved":
        stall = 1.0 + (stall - 1.0) * 0.8
    # Prefetch: hides the K/V stream, best near the stream's lines per inner step.
    want = max(2, min(16, kv_bytes // 64 // 16))
    pf = cfg["prefetch_lines"]
    if pf == 0:
        stream = 1.35
    else:
        stream = 1.0 + 0.35 * abs(math.log2(pf / want)) / 3.0
        if cfg["kv_layout"] == "interleaved" and pf >= want:
            stream *= 0.93
            synergies["interleaved_stream_prefetch"] = 0.07
    # Register pressure of the unroll_q x unroll_k micro-kernel.
    regs = cfg["unroll_q"] * cfg["unroll_k"] + cfg["unroll_q"] * max(1, math.ceil(min(d, 32) / lanes)) // 2 + 2
    spill = 1.0 + 0.25 * max(0, regs - REGISTERS[simd]) if regs > REGISTERS[simd] else 1.0
    if spill > 1.0:
        penalties["register_spill"] = spill
    micro = {1: 0.55, 2: 0.75, 4: 0.9, 8: 1.0}[cfg["unroll_k"]] * {1: 0.7, 2: 0.88, 4: 1.0}[cfg["unroll_q"]]
    pad = d / (math.ceil(d / lanes) * lanes)
    flops_per_cycle = 2 * lanes * 2 * CLOCK[simd] * micro * pad * ACC_SPEED[cfg["accumulator"]] / spill
    q_access = 1.0 if cfg["pack_q"] else 1.12
    if cfg["pack_q"] and bq >= 32:
        synergies["packed_q_reuse"] = 0.05
        q_access = 0.95
    if cfg["kv_layout"] == "packed_panels":
        q_access *= 0.9 if lanes >= 8 else 1.0
        synergies["packed_panels_vector_loads"] = 0.1
        pack_cost = heads * n * d * 2 * 1.5 / cores_used
    else:
        pack_cost = 0.0
    pack_q_cost = heads * n * d * 1.0 / cores_used if cfg["pack_q"] else 0.0

    # Cycles of one item.
    kv_len = math.ceil(n / split)
    matmul = 2 * 2 * bq * kv_len * d / flops_per_cycle
    exps = bq * kv_len * EXP_CYCLES[cfg["exp"]] / max(1, lanes // 2)
    rescale = bq * d * math.ceil(kv_len / bk) * 2.0 / lanes
    overhead = math.ceil(kv_len / bk) * 60.0 + 200.0
    item = (matmul * q_access + exps + rescale) * stall * stream + overhead
    if split > 1:
        item += bq * d * 4 * 3 / 8.0
        penalties["split_merge_cycles"] = bq * d * 12 / 8.0
    out_bytes = heads * n * d * 4
    if cfg["store"] == "streaming":
        store = 0.9 if out_bytes > L2 else 1.15
    else:
        store = 1.0 if out_bytes <= L2 else 1.08
    smt_gain = (1.0 + 0.3 * (stall - 1.0)) if smt else 1.0
    threads_per_core = 2 if smt else 1
    makespan = per_thread * item * threads_per_core / smt_gain * store
    makespan += (pack_cost + pack_q_cost)
    if imbalance > 1.05:
        penalties["thread_imbalance"] = imbalance

    err = (EXP_ERROR[cfg["exp"]] + ACC_ERROR[cfg["accumulator"]]) * math.sqrt(n / 2048.0) * math.sqrt(d / 64.0)
    if split > 1:
        err *= 1.0 + 0.4 * math.log2(split)
    cycles = makespan * jitter(cfg, case["name"])
    trace = {
        "items": items, "items_per_thread": per_thread, "imbalance": round(imbalance, 4),
        "working_set_bytes_per_core": ws_core, "cache_level": level, "memory_stall": round(stall, 3),
        "stream_factor": round(stream, 3), "wanted_prefetch_lines": want, "registers": regs,
        "flops_per_cycle": round(flops_per_cycle, 2), "item_cycles": round(item, 1),
        "matmul_cycles_per_item": round(matmul, 1), "exp_cycles_per_item": round(exps, 1),
        "penalties": penalties, "synergies": synergies, "modelled_error": err,
    }
    summary = {"name": case["name"], "heads": heads, "n": n, "d": d, "cycles": int(round(cycles)),
               "max_abs": float(f"{err:.4g}"), "status": "passed" if err <= TOLERANCE else "failed"}
    return summary, trace


def run(config, mode):
    errors = validate(config)
    result = {"mode": mode, "status": "failed", "errors": errors, "best_cycles": None, "score": None,
              "max_abs": None, "tolerance": TOLERANCE, "config": config, "cases": []}
    traces = {}
    if errors:
        return result, traces
    worst, worst_err = 0, 0.0
    for case in CASES[mode]:
        summary, trace = evaluate_case(config, case)
        result["cases"].append(summary)
        traces[case["name"]] = trace
        worst, worst_err = max(worst, summary["cycles"]), max(worst_err, summary["max_abs"])
        if summary["status"] != "passed":
            errors.append(f"{case['name']}: modelled error {summary['max_abs']:.3g} exceeds tolerance {TOLERANCE:g}")
    result["max_abs"] = worst_err
    if not errors:
        result.update(status="passed", best_cycles=worst, score=worst)
    return result, traces


def _no_constants(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range for a float")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default output too)")
    parser.add_argument("--mode", choices=["dev", "final"], default="dev")
    parser.add_argument("--config", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_config.json"))
    parser.add_argument("--trace", help="write the per-case breakdown to this file")
    parser.add_argument("--list-valid", action="store_true", help="print the knob domains and the cases")
    args = parser.parse_args(argv)
    if args.list_valid:
        print(json.dumps({"domains": DOMAINS, "cases": CASES, "tolerance": TOLERANCE}, indent=2))
        return 0
    try:
        with open(args.config) as f:
            config = json.load(f, parse_constant=_no_constants, parse_float=_finite_float)
        result, traces = run(config, args.mode)
    except (OSError, ValueError) as e:
        result, traces = {"mode": args.mode, "status": "failed", "errors": [f"{type(e).__name__}: {e}"],
                          "best_cycles": None, "score": None, "cases": []}, {}
    if args.trace:
        with open(args.trace, "w") as f:
            json.dump({"mode": args.mode, "status": result["status"], "cases": traces}, f, indent=2, allow_nan=False)
    print(json.dumps(result, allow_nan=False))
    return 0 if result["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
