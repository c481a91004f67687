#!/usr/bin/env python3
"""Runs a task's benchmark N times and summarises it (the figures in docs/tasks.md).

    python3 xtask/tasks-measure/task_stats.py benches-tasks/cpp-stencil --mode dev --runs 5

Prints the median score, its min/max and spread ((max - min) / median), the benchmark's own
overhead (wall time outside the timed kernel calls, as the report's overhead_seconds says) and
the CPU time of the whole run (the benchmark and its children: compiles, the timing process),
plus the load average, which the wall-clock figures depend on.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task_dir")
    ap.add_argument("--mode", default="dev")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    scores, overheads, walls, cpus, statuses = [], [], [], [], []
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "benchmark.py", "--json", "--mode", args.mode],
                             cwd=args.task_dir, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = json.loads(out.stdout)
        statuses.append(report["status"])
        if report["status"] == "passed":
            scores.append(report["score"])
        overheads.append(report.get("overhead_seconds"))
        walls.append(report.get("elapsed_seconds"))
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    med = statistics.median(scores) if scores else None
    summary = {
        "task": os.path.basename(os.path.abspath(args.task_dir)), "mode": args.mode, "runs": args.runs,
        "statuses": statuses, "score_median": med, "score_min": min(scores, default=None),
        "score_max": max(scores, default=None),
        "spread": round((max(scores) - min(scores)) / med, 3) if scores else None,
        "overhead_seconds_median": statistics.median([o for o in overheads if o is not None]),
        "overhead_seconds_max": max(o for o in overheads if o is not None),
        "elapsed_seconds_median": round(statistics.median(walls), 3),
        "cpu_seconds_median": round(statistics.median(cpus), 3),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(summary, sort_keys=True))
    return 0 if all(s == "passed" for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
