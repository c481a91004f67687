/* Frozen interface of the c-flash-attention task. Do not edit. */
#ifndef HG_ATTENTION_H
#define HG_ATTENTION_H

/*
 * Scaled dot-product attention, forward pass, for `heads` independent heads.
 *
 *   q   : [heads][n_q][d]   row-major float32
 *   k, v: [heads][n_kv][d]  row-major float32
 *   out : [heads][n_q][d]   row-major float32, written by the kernel
 *
 * For head h and query row i:
 *   s_j   = scale * dot(q[h][i], k[h][j])          for every visible key j
 *   p_j   = exp(s_j - max_j s_j) / sum_j exp(s_j - max_j s_j)
 *   out[h][i] = sum_j p_j * v[h][j]
 *
 * Key j is visible to query i when causal == 0, or when causal != 0 and
 * j <= i + (n_kv - n_q)  (queries are the last n_q positions; n_kv >= n_q then).
 *
 * The buffers do not overlap; q, k, v are read-only.  1 <= d <= 256.
 */
void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal);

#endif
