"""Numerically careful helpers for a small scoring pipeline."""

import math


def logsumexp(values):
    """Return log(sum(exp(v) for v in values)) without overflowing for large v."""
    if not values:
        raise ValueError("logsumexp of an empty sequence")
    peak = max(values)
    total = sum(math.exp(v - peak) for v in values)
    return math.log(total)


def softmax(values):
    """Return the probabilities exp(v) / sum(exp(values)), stable for large v."""
    shift = logsumexp(values)
    return [math.exp(v - shift) for v in values]


def log_likelihood(logits, target):
    """Log-probability of class `target` under softmax(logits)."""
    return logits[target] - logsumexp(logits)
