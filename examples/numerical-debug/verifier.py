"""Checks numerics.py against exact values and a fixed-seed reference; prints one JSON object."""

import json
import math
import random
import sys

from numerics import log_likelihood, logsumexp, softmax


def naive_logsumexp(values):
    return math.log(sum(math.exp(v) for v in values))


def main():
    failures = []

    def check(name, got, want, tol=1e-9):
        if not math.isclose(got, want, rel_tol=tol, abs_tol=tol):
            failures.append({"case": name, "got": got, "want": want})

    check("two zeros", logsumexp([0.0, 0.0]), math.log(2.0))
    check("large equal", logsumexp([1000.0, 1000.0]), 1000.0 + math.log(2.0))
    check("single", logsumexp([-3.5]), -3.5)
    check("softmax sums to one", sum(softmax([5.0, 6.0, 7.0])), 1.0)
    check("log likelihood", log_likelihood([2.0, 2.0], 0), math.log(0.5))

    rng = random.Random(20261123)
    for i in range(50):
        values = [rng.uniform(-20.0, 20.0) for _ in range(rng.randint(1, 8))]
        check(f"random case {i}", logsumexp(values), naive_logsumexp(values), tol=1e-7)

    passed = not failures
    print(json.dumps({"status": "passed" if passed else "failed", "failed_cases": len(failures),
                      "score": len(failures), "failures": failures[:5]}, sort_keys=True))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
