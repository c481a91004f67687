"""Paged decode, per sequence: one gather of its pages and two batched matmuls over the kv heads."""

import numpy as np


def paged_decode(query, key_pages, value_pages, block_table, context_lens, scale):
    num_seqs, num_q_heads, head_dim = query.shape
    page_size, num_kv_heads = key_pages.shape[1], key_pages.shape[2]
    group = num_q_heads // num_kv_heads
    out = np.empty((num_seqs, num_q_heads, head_dim), dtype=np.float32)
    for s in range(num_seqs):
        n = int(context_lens[s])
        pages = block_table[s, : (n + page_size - 1) // page_size]
        keys = key_pages[pages].reshape(-1, num_kv_heads, head_dim)[:n]
        vals = value_pages[pages].reshape(-1, num_kv_heads, head_dim)[:n]
        q = query[s].reshape(num_kv_heads, group, head_dim)
        scores = np.matmul(q, keys.transpose(1, 2, 0)) * scale
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        out[s] = np.matmul(weights, vals.transpose(1, 0, 2)).reshape(num_q_heads, head_dim)
    return out
