#!/usr/bin/env python3
"""Frozen benchmark of the tensor-layout-pipeline task. Do not edit.

Scores `kernel_plan.json` with a deterministic analytic cost model of a fused attention
pipeline on a small accelerator (8 cores, a scratchpad per core, a DMA engine per core, a
shared DRAM link). Nothing is computed on real tensors: every figure comes from closed-form
terms, each of which is named in the trace (`--trace FILE`).

    python3 benchmark.py --json --mode dev|final [--plan FILE] [--trace FILE]
    python3 benchmark.py --list-valid

Objective: `best_cycles` (mirrored to `score`), the largest modelled cycle count over the
mode's cases (lower is better). A plan whose modelled numerical error exceeds the tolerance
on any case, or that breaks a structural rule, fails (`status: "failed"`, exit 1).
"""

import argparse
import hashlib
import json
import math
import os
import sys

TOLERANCE = 2.0e-4

DOMAINS = {
    "tile_q": [16, 32, 64, 128, 256],
    "tile_kv": [16, 32, 64, 128, 256],
    "q_layout": ["bshd", "bhsd", "bhds"],
    "k_layout": ["bshd", "bhsd", "bhds"],
    "v_layout": ["bshd", "bhsd", "bhds"],
    "o_layout": ["bshd", "bhsd", "bhds"],
    "vector_width": [1, 2, 4, 8, 16],
    "unroll": [1, 2, 4, 8],
    "softmax": ["two_pass", "online", "online_lazy"],
    "accumulate": ["fp16", "bf16", "fp32", "fp32_kahan"],
    "dma_stages": [1, 2, 3, 4],
    "prefetch_distance": [0, 1, 2, 3],
    "dma_burst": [64, 128, 256, 512, 1024],
    "split_k": [1, 2, 4, 8],
    "scratchpad_kib": [32, 48, 64, 96, 128, 192, 256],
    "schedule": ["static", "dynamic", "persistent", "stream_k"],
    "swizzle": ["none", "xor4", "xor8", "diagonal"],
    "epilogue": ["separate", "fused_scale", "fused_scale_cast"],
    "mask_skip": ["none", "tile", "block"],
}

# Shapes: bh = batch x heads, sq / skv = query / key length, d = head dim.
CASES = {
    "dev": [
        {"name": "prefill_causal_1k", "bh": 16, "sq": 1024, "skv": 1024, "d": 64, "mask": "causal"},
        {"name": "dense_short_batch", "bh": 96, "sq": 256, "skv": 256, "d": 64, "mask": "dense"},
        {"name": "window_2k", "bh": 8, "sq": 2048, "skv": 2048, "d": 64, "mask": "window", "window": 256},
        {"name": "few_queries_32k", "bh": 2, "sq": 64, "skv": 32768, "d": 64, "mask": "dense"},
    ],
    "final": [
        {"name": "prefill_causal_1536_d96", "bh": 12, "sq": 1536, "skv": 1536, "d": 96, "mask": "causal"},
        {"name": "long_context_few_queries", "bh": 4, "sq": 64, "skv": 8192, "d": 128, "mask": "dense"},
        {"name": "window_4k", "bh": 8, "sq": 4096, "skv": 4096, "d": 64, "mask": "window", "window": 512},
        {"name": "wide_head_d256", "bh": 24, "sq": 512, "skv": 512, "d": 256, "mask": "dense"},
        {"name": "block_sparse_2k", "bh": 16, "sq": 2048, "skv": 2048, "d": 64, "mask": "block_sparse",
         "density": 0.3, "mask_seed": 7},
    ],
}

CORES = 8
SRAM_KIB = 384
MACS_PER_CYCLE = 128
BYTES_PER_CYCLE = 6.0  # DRAM bandwidth per core (48 bytes/cycle shared by 8 cores)
DESCRIPTOR_CYCLES = 6
DMA_LATENCY = 1500
DESCRIPTOR_ROUND_TRIP = 90  # a blocking descriptor waits for its completion
VECTOR_REGISTERS = 96
SPARSE_BLOCK = 128
PROGRAM_SWITCH_CYCLES = 900

VEC_EFF = {1: 0.09, 2: 0.2, 4: 0.42, 8: 0.76, 16: 1.0}
UNROLL_EFF = {1: 0.7, 2: 0.85, 4: 0.95, 8: 1.0}
ACC_SPEED = {"fp16": 1.45, "bf16": 1.5, "fp32": 1.0, "fp32_kahan": 0.72}
ACC_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "fp32_kahan": 8}
ACC_ERROR = {"fp16": 6.6e-5, "bf16": 3.5e-4, "fp32": 1.5e-6, "fp32_kahan": 4.0e-7}
SOFTMAX_ERROR = {"two_pass": 0.8, "online": 1.0, "online_lazy": 2.2}
OCCUPANCY = {1: 0.6, 2: 0.82, 3: 0.93, 4: 1.0}


class PlanError(Exception):
    pass


def validate(plan):
    """Structural checks; returns the list of reasons the plan is rejected."""
    errors = []
    if not isinstance(plan, dict):
        return ["the plan must be a JSON object"]
    for key in sorted(plan):
        if key not in DOMAINS:
            errors.append(f"unknown key {key!r} (valid keys: see --list-valid)")
    for key, domain in DOMAINS.items():
        if key not in plan:
            errors.append(f"missing key {key!r}")
        elif type(plan[key]) is not type(domain[0]) or plan[key] not in domain:
            errors.append(f"{key}={plan[key]!r} is not one of {domain}")
    if errors:
        return errors
    tq, tkv = plan["tile_q"], plan["tile_kv"]
    if max(tq, tkv) > 8 * min(tq, tkv):
        errors.append(f"tile_aspect: tile_q={tq} and tile_kv={tkv} differ by more than 8x")
    if plan["prefetch_distance"] >= plan["dma_stages"] and plan["prefetch_distance"] > 0:
        errors.append(
            f"prefetch_ring: prefetch_distance={plan['prefetch_distance']} needs more than "
            f"{plan['dma_stages']} dma_stages (a prefetch may not overwrite the tile in use)")
    if plan["split_k"] > 1 and plan["accumulate"] in ("fp16", "bf16"):
        errors.append("split_k_accumulator: split_k > 1 merges partial sums and needs fp32 or fp32_kahan")
    if plan["schedule"] == "stream_k" and plan["accumulate"] in ("fp16", "bf16"):
        errors.append("stream_k_accumulator: stream_k merges partial tiles and needs fp32 or fp32_kahan")
    if plan["schedule"] == "stream_k" and plan["split_k"] > 1:
        errors.append("stream_k_split: the stream_k schedule splits the kv range itself; use split_k=1")
    if plan["epilogue"] == "fused_scale_cast" and plan["o_layout"] == "bhds":
        errors.append("epilogue_layout: fused_scale_cast writes rows and cannot emit the transposed bhds output")
    if plan["softmax"] == "two_pass" and plan["split_k"] > 1:
        errors.append("two_pass_split: two_pass softmax needs the whole kv range in one work item")
    return errors


def sparse_mask(case):
    n = math.ceil(case["sq"] / SPARSE_BLOCK)
    m = math.ceil(case["skv"] / SPARSE_BLOCK)
    state = case["mask_seed"] * 2654435761 % (2 ** 32)
    mask = []
    for i in range(n):
        row = []
        for j in range(m):
            state = (state * 1103515245 + 12345) % (2 ** 31)
            row.append(i == j or (state / 2 ** 31) < case["density"])
        mask.append(row)
    return mask


_VISITS = {}


def visits(case, tq, tkv, mask_skip):
    """Per q tile: (kv tiles visited, useful score elements in them)."""
    key = (case["name"], tq, tkv, mask_skip)
    if key in _VISITS:
        return _VISITS[key]
    sq, skv = case["sq"], case["skv"]
    nq, nkv = math.ceil(sq / tq), math.ceil(skv / tkv)
    out = []
    if case["mask"] == "block_sparse":
        mask = sparse_mask(case)
    for i in range(nq):
        q0, q1 = i * tq, min(sq, (i + 1) * tq) - 1
        if case["mask"] == "dense":
            lo, hi = 0, nkv - 1
            useful = (q1 - q0 + 1) * skv
            tiles = nkv
        elif case["mask"] in ("causal", "window"):
            w = case.get("window", skv)
            lo_pos = max(0, q0 - w + 1)
            lo, hi = lo_pos // tkv, q1 // tkv
            useful = sum(min(q, skv - 1) - max(0, q - w + 1) + 1 for q in range(q0, q1 + 1))
            tiles = hi - lo + 1
        else:
            tiles = 0
            useful = 0
            qb = range(q0 // SPARSE_BLOCK, q1 // SPARSE_BLOCK + 1)
            for j in range(nkv):
                k0, k1 = j * tkv, min(skv, (j + 1) * tkv) - 1
                kb = range(k0 // SPARSE_BLOCK, k1 // SPARSE_BLOCK + 1)
                hit = [(a, b) for a in qb for b in kb if mask[a][b]]
                if hit:
                    tiles += 1
                    frac = len(hit) / (len(qb) * len(kb))
                    useful += frac * (q1 - q0 + 1) * (k1 - k0 + 1)
            if mask_skip == "none":
                tiles = nkv
        if mask_skip == "none" and case["mask"] != "dense":
            tiles = nkv
        out.append((tiles, useful))
    _VISITS[key] = out
    return out


def transfer(layout, rows, d, burst):
    """(fetched bytes, descriptors) to move a rows x d fp16 tile stored in `layout`."""
    if layout == "bshd":
        runs, run = rows, d * 2
    elif layout == "bhsd":
        runs, run = 1, rows * d * 2
    else:
        runs, run = d, rows * 2
    desc = math.ceil(run / burst)
    return runs * desc * burst, runs * desc, run


def conflict_ways(vector_width, row_bytes, swizzle):
    """Bank conflicts of a column read from rows `row_bytes` apart (32 banks of 4 bytes)."""
    if vector_width == 1:
        return 1.0
    distinct = 32 // math.gcd(row_bytes // 4, 32)
    ways = math.ceil(vector_width / min(vector_width, distinct))
    if swizzle == "xor4":
        ways = max(1, ways // 4)
    elif swizzle == "xor8":
        ways = max(1, ways // 8)
    elif swizzle == "diagonal":
        ways = 1
    return float(ways)


def jitter(plan, case_name):
    blob = json.dumps(plan, sort_keys=True) + "|" + case_name
    h = int(hashlib.sha256(blob.encode()).hexdigest()[:8], 16)
    return 1.0 + ((h / 0xFFFFFFFF) - 0.5) * 0.004


def evaluate_case(plan, case):
    tq, tkv = plan["tile_q"], plan["tile_kv"]
    d, bh, sq, skv = case["d"], case["bh"], case["sq"], case["skv"]
    w, unroll = plan["vector_width"], plan["unroll"]
    acc, softmax = plan["accumulate"], plan["softmax"]
    stages, prefetch, burst = plan["dma_stages"], plan["prefetch_distance"], plan["dma_burst"]
    split, sched, swz = plan["split_k"], plan["schedule"], plan["swizzle"]
    penalties, synergies, notes = {}, {}, []

    per_q = visits(case, tq, tkv, plan["mask_skip"])
    max_tiles = max(t for t, _ in per_q)
    nkv = math.ceil(skv / tkv)
    if plan["mask_skip"] == "tile":
        skip_item, skip_tile = 60.0 * nkv, 0.0
    elif plan["mask_skip"] == "block":
        skip_item, skip_tile = 400.0, 8.0
    else:
        skip_item, skip_tile = 0.0, 0.0

    # Scratchpad footprint and residency.
    score_cols = max_tiles * tkv if softmax == "two_pass" else tkv
    footprint = (stages * 2 * tkv * d * 2 + tq * d * 2 + tq * d * ACC_BYTES[acc] + tq * score_cols * 4
                 + (tq * d * 2 if plan["epilogue"] != "separate" else 0)) / 1024.0
    scratch = plan["scratchpad_kib"]
    resident = max(1, min(4, SRAM_KIB // scratch))
    overflow = max(0.0, footprint - scratch)
    overflow_factor = 1.0 + 3.0 * min(1.0, overflow / scratch) ** 2 if overflow else 1.0

    # Compute rate of one core.
    lanes = d / (math.ceil(d / w) * w)
    tile_eff = (tq * tkv) / (tq * tkv + 10.0 * (tq + tkv))
    regs = unroll * math.ceil(d / w) * max(1, ACC_BYTES[acc] // 2) + unroll * 4
    spill = 1.0 + 2.5 * min(1.0, (regs - VECTOR_REGISTERS) / VECTOR_REGISTERS) ** 2 if regs > VECTOR_REGISTERS else 1.0
    rate = (MACS_PER_CYCLE * VEC_EFF[w] * lanes * ACC_SPEED[acc] * UNROLL_EFF[unroll] * tile_eff
            * OCCUPANCY[resident] / spill)
    if swz == "diagonal":
        rate /= 1.06
    if plan["k_layout"] == "bhds" and w >= 8:
        rate *= 1.12
        synergies["transposed_k_vector_dot"] = 0.12
    macs = 2 * tq * tkv * d + (tq * tkv * d if softmax == "two_pass" else 0)
    compute_pair = macs / rate
    exp_cycles = tq * tkv * 3.0 / max(1.0, w / 2.0)
    compute_pair += exp_cycles
    if softmax != "two_pass":
        rescale = tq * d * 2.0 / w
        if softmax == "online_lazy":
            rescale *= 0.5 if tkv >= 128 else 0.8
            if tkv >= 128:
                synergies["lazy_rescale_long_tiles"] = 0.5
        compute_pair += rescale
    transpose = 0.0
    for name, layout in (("k", plan["k_layout"]), ("v", plan["v_layout"])):
        wants_t = name == "k"
        is_t = layout == "bhds"
        if wants_t != is_t:
            row_bytes = d * 2 if layout != "bhds" else tkv * 2
            ways = conflict_ways(w, row_bytes, swz)
            cost = tkv * d / max(1, w) * 1.5 * ways
            transpose += cost
            if ways > 1:
                penalties[f"bank_conflicts_{name}_transpose"] = penalties.get(
                    f"bank_conflicts_{name}_transpose", 0.0) + ways
    compute_pair += transpose
    compute_pair *= overflow_factor
    compute_pair *= 1.0 + 0.02 * (stages - 1) * (1 if prefetch == 0 else 0)

    # DMA per tile pair and per item.
    kb, kdesc, krun = transfer(plan["k_layout"], tkv, d, burst)
    vb, vdesc, vrun = transfer(plan["v_layout"], tkv, d, burst)
    if softmax == "two_pass":
        kb, kdesc = 2 * kb, 2 * kdesc
    pair_bytes = kb + vb + min(overflow, 2 * scratch) * 1024 * 2
    pair_desc = kdesc + vdesc
    if krun == burst and vrun == burst:
        pair_desc *= 0.5
        synergies["burst_matches_rows"] = 0.5
    programs = len({plan["q_layout"], plan["k_layout"], plan["v_layout"], plan["o_layout"]})
    mem_pair = pair_bytes / BYTES_PER_CYCLE + pair_desc * DESCRIPTOR_CYCLES
    if programs > 1:
        switch = PROGRAM_SWITCH_CYCLES * (programs - 1) * (2 if plan["k_layout"] != plan["v_layout"] else 1)
        mem_pair += switch
        penalties["dma_program_switches"] = switch
    qb, qdesc, _ = transfer(plan["q_layout"], tq, d, burst)
    ob, odesc, _ = transfer(plan["o_layout"], tq, d, burst)
    epi_bytes = {"separate": tq * d * 10, "fused_scale": tq * d * 4, "fused_scale_cast": 0}[plan["epilogue"]]
    epi_compute = tq * d / max(1, w) * {"separate": 3.0, "fused_scale": 1.5, "fused_scale_cast": 1.0}[plan["epilogue"]]
    if plan["q_layout"] == "bhds":
        epi_compute += tq * d / max(1, w) * 1.5
    if plan["o_layout"] == "bhds":
        epi_compute += tq * d / max(1, w) * 1.5
    item_mem = (qb + ob + epi_bytes) / BYTES_PER_CYCLE + (qdesc + odesc) * DESCRIPTOR_CYCLES
    if split > 1:
        merge_bytes = tq * d * 4 * (split + 1)
        item_mem += merge_bytes / BYTES_PER_CYCLE / split
        epi_compute += tq * d * split / max(1, w) / split
        penalties["split_k_merge_bytes"] = merge_bytes

    # Latency hiding.
    if stages == 1 or prefetch == 0:
        def item_time(tiles):
            c, m = tiles * (compute_pair + skip_tile) + epi_compute + skip_item, tiles * mem_pair + item_mem
            return c + m + tiles * (DMA_LATENCY + pair_desc * DESCRIPTOR_ROUND_TRIP) / resident
        overlap = "none"
    else:
        exposed = (DMA_LATENCY + pair_desc * DESCRIPTOR_ROUND_TRIP / (8 * prefetch)) / (1 + 2 * prefetch) / resident

        def item_time(tiles):
            c, m = tiles * (compute_pair + skip_tile) + epi_compute + skip_item, tiles * mem_pair + item_mem
            return max(c, m) + 0.1 * min(c, m) + tiles * exposed + DMA_LATENCY
        overlap = f"prefetch {prefetch} of {stages} stages"

    # Work items and schedule.
    works = []
    for tiles, _ in per_q:
        part = math.ceil(tiles / split)
        works.extend([item_time(part)] * split)
    per_bh = len(works)
    n_items = bh * per_bh
    total = sum(works) * bh
    longest = max(works)
    if sched == "static":
        base = [0.0] * CORES
        for j, t in enumerate(works):
            base[j % CORES] += t
        loads = [0.0] * CORES
        for b in range(bh):
            shift = (b * per_bh) % CORES
            for c in range(CORES):
                loads[(c + shift) % CORES] += base[c]
        makespan = max(loads)
    elif sched == "dynamic":
        makespan = max(total / CORES + 0.5 * longest, longest) + 350.0 * n_items / CORES
    elif sched == "persistent":
        makespan = max(total / CORES + 0.1 * longest, longest) + 2500.0
        if resident < 2:
            makespan *= 1.25
            penalties["persistent_low_residency"] = 0.25
        elif prefetch >= 2:
            makespan -= 0.04 * total / CORES
            synergies["persistent_cross_item_prefetch"] = 0.04
    else:
        fixup = tq * d * 4 * 2 / BYTES_PER_CYCLE + 600.0
        makespan = total / CORES + fixup * min(n_items, CORES * 4) / CORES + 1500.0
    imbalance = makespan / (total / CORES)

    useful = sum(u for _, u in per_q) * bh
    visited = sum(t for t, _ in per_q) * tq * tkv * bh
    # Modelled numerical error.
    skv_eff = max(256.0, max(t for t, _ in per_q) * tkv)
    err = ACC_ERROR[acc] * math.sqrt(d / 64.0) * (1.0 + 0.25 * math.log2(skv_eff / 256.0))
    err *= SOFTMAX_ERROR[softmax]
    if split > 1:
        err *= 1.0 + 0.3 * math.log2(split)
    if plan["epilogue"] == "fused_scale_cast":
        err += 2.0e-6

    cycles = makespan * jitter(plan, case["name"])
    if overflow:
        penalties["scratchpad_overflow_kib"] = round(overflow, 2)
    if spill > 1.0:
        penalties["register_spill_factor"] = round(spill, 3)
    if imbalance > 1.05:
        penalties["load_imbalance"] = round(imbalance, 3)
    waste = 1.0 - useful / visited if visited else 0.0
    if waste > 0.05:
        penalties["masked_work_fraction"] = round(waste, 3)
    status = "passed" if err <= TOLERANCE else "failed"
    trace = {
        "footprint_kib": round(footprint, 2), "scratchpad_kib": scratch, "resident_items_per_core": resident,
        "registers": regs, "compute_cycles_per_tile_pair": round(compute_pair, 1),
        "dma_cycles_per_tile_pair": round(mem_pair, 1), "descriptors_per_tile_pair": pair_desc,
        "k_run_bytes": krun, "v_run_bytes": vrun, "overlap": overlap, "work_items": n_items,
        "longest_item_cycles": round(longest, 1), "imbalance": round(imbalance, 4),
        "tile_pairs_visited": sum(t for t, _ in per_q) * bh, "masked_work_fraction": round(waste, 4),
        "penalties": penalties, "synergies": synergies, "modelled_error": err,
    }
    return {
        "name": case["name"], "bh": bh, "sq": sq, "skv": skv, "d": d, "mask": case["mask"],
        "cycles": int(round(cycles)), "max_abs": float(f"{err:.4g}"), "status": status,
    }, trace


def run(plan, mode):
    errors = validate(plan)
    result = {"mode": mode, "status": "failed", "errors": errors, "best_cycles": None, "score": None,
              "max_abs": None, "tolerance": TOLERANCE, "plan": plan, "cases": []}
    traces = {}
    if errors:
        return result, traces
    worst = 0
    worst_err = 0.0
    for case in CASES[mode]:
        summary, trace = evaluate_case(plan, case)
        result["cases"].append(summary)
        traces[case["name"]] = trace
        worst = max(worst, summary["cycles"])
        worst_err = max(worst_err, summary["max_abs"])
        if summary["status"] != "passed":
            errors.append(f"{case['name']}: modelled error {summary['max_abs']:.3g} exceeds tolerance {TOLERANCE:g}")
    result["max_abs"] = worst_err
    if not errors:
        result["status"] = "passed"
        result["best_cycles"] = worst
        result["score"] = worst
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
    parser.add_argument("--plan", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_plan.json"))
    parser.add_argument("--trace", help="write the per-case breakdown (penalties, synergies) to this file")
    parser.add_argument("--list-valid", action="store_true", help="print the knob domains and the cases")
    args = parser.parse_args(argv)
    if args.list_valid:
        print(json.dumps({"domains": DOMAINS, "cases": CASES, "tolerance": TOLERANCE}, indent=2))
        return 0
    try:
        with open(args.plan) as f:
            plan = json.load(f, parse_constant=_no_constants, parse_float=_finite_float)
        result, traces = run(plan, args.mode)
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
