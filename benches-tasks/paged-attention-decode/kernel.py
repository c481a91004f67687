"""Paged-attention decode: one new query token per sequence attends to its cached keys/values.

The cache is paged: a sequence's tokens live in fixed-size pages scattered through a shared
pool, and `block_table[s]` lists the physical pages of sequence `s` in order (unused entries are
-1). Query heads are grouped over the key/value heads: query head `h` reads kv head
`h // (num_q_heads // num_kv_heads)`.

This version is correct but slow (Python loops over sequences, heads and pages). Make it fast.
Keep the signature and the semantics; the only allowed imports are numpy and math.
"""

import math

import numpy as np


def paged_decode(query, key_pages, value_pages, block_table, context_lens, scale):
    """Attention output for each sequence's query token.

    query:        float32 [num_seqs, num_q_heads, head_dim]
    key_pages:    float32 [num_pages, page_size, num_kv_heads, head_dim]
    value_pages:  float32 [num_pages, page_size, num_kv_heads, head_dim]
    block_table:  int32   [num_seqs, max_pages_per_seq], -1 past a sequence's last page
    context_lens: int32   [num_seqs], tokens cached per sequence (at least 1)
    scale:        float, multiplies q.k before the softmax
    returns:      float32 [num_seqs, num_q_heads, head_dim]
    """
    num_seqs, num_q_heads, head_dim = query.shape
    page_size = key_pages.shape[1]
    group = num_q_heads // key_pages.shape[2]
    out = np.zeros((num_seqs, num_q_heads, head_dim), dtype=np.float32)
    for s in range(num_seqs):
        length = int(context_lens[s])
        pages = math.ceil(length / page_size)
        for h in range(num_q_heads):
            kv = h // group
            q = query[s, h].astype(np.float64)
            scores = []
            values = []
            for p in range(pages):
                page = int(block_table[s, p])
                used = min(page_size, length - p * page_size)
                k = key_pages[page, :used, kv].astype(np.float64)
                v = value_pages[page, :used, kv].astype(np.float64)
                scores.append(k @ q * scale)
                values.append(v)
            scores = np.concatenate(scores)
            values = np.concatenate(values)
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            out[s, h] = (weights @ values).astype(np.float32)
    return out
