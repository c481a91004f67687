"""Paged decode, all sequences at once: gather every table entry, mask past each length."""

import numpy as np


def paged_decode(query, key_pages, value_pages, block_table, context_lens, scale):
    num_seqs, num_q_heads, head_dim = query.shape
    page_size, num_kv_heads = key_pages.shape[1], key_pages.shape[2]
    group = num_q_heads // num_kv_heads
    slots = block_table.shape[1] * page_size
    table = np.where(block_table < 0, 0, block_table)
    keys = key_pages[table].reshape(num_seqs, slots, num_kv_heads, head_dim).transpose(0, 2, 3, 1)
    vals = value_pages[table].reshape(num_seqs, slots, num_kv_heads, head_dim).transpose(0, 2, 1, 3)
    q = query.reshape(num_seqs, num_kv_heads, group, head_dim)
    scores = np.matmul(q, keys) * scale
    valid = np.arange(slots)[None, :] < context_lens[:, None]
    scores = np.where(valid[:, None, None, :], scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return np.matmul(weights, vals).reshape(num_seqs, num_q_heads, head_dim).astype(np.float32)
