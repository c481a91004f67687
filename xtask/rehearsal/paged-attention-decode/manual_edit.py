"""The plain attempt's modest manual edit: gather each sequence's pages once per head instead
of page by page (still a Python loop over sequences and heads)."""

import math

import numpy as np


def paged_decode(query, key_pages, value_pages, block_table, context_lens, scale):
    num_seqs, num_q_heads, head_dim = query.shape
    page_size = key_pages.shape[1]
    group = num_q_heads // key_pages.shape[2]
    out = np.zeros((num_seqs, num_q_heads, head_dim), dtype=np.float32)
    for s in range(num_seqs):
        length = int(context_lens[s])
        pages = block_table[s, : math.ceil(length / page_size)]
        for h in range(num_q_heads):
            kv = h // group
            k = key_pages[pages, :, kv].reshape(-1, head_dim)[:length].astype(np.float64)
            v = value_pages[pages, :, kv].reshape(-1, head_dim)[:length].astype(np.float64)
            scores = k @ query[s, h].astype(np.float64) * scale
            weights = np.exp(scores - scores.max())
            out[s, h] = (weights / weights.sum() @ v).astype(np.float32)
    return out
