/* The starting kernel: correct, deliberately simple.  Three passes per query row,
 * each recomputing every dot product: one for the row maximum, one for the
 * normaliser, one for the weighted sum of values. */
#include <math.h>

#include "attention.h"

static float dot(const float *a, const float *b, int d) {
    float acc = 0.0f;
    for (int t = 0; t < d; ++t) {
        acc += a[t] * b[t];
    }
    return acc;
}

void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal) {
    for (int h = 0; h < heads; ++h) {
        const float *qh = q + (long)h * n_q * d;
        const float *kh = k + (long)h * n_kv * d;
        const float *vh = v + (long)h * n_kv * d;
        float *oh = out + (long)h * n_q * d;
        for (int i = 0; i < n_q; ++i) {
            int visible = causal ? i + (n_kv - n_q) + 1 : n_kv;
            const float *qi = qh + (long)i * d;
            float *oi = oh + (long)i * d;

            float row_max = -INFINITY;
            for (int j = 0; j < visible; ++j) {
                float s = scale * dot(qi, kh + (long)j * d, d);
                if (s > row_max) row_max = s;
            }

            float denom = 0.0f;
            for (int j = 0; j < visible; ++j) {
                denom += expf(scale * dot(qi, kh + (long)j * d, d) - row_max);
            }

            for (int t = 0; t < d; ++t) oi[t] = 0.0f;
            for (int j = 0; j < visible; ++j) {
                float p = expf(scale * dot(qi, kh + (long)j * d, d) - row_max) / denom;
                const float *vj = vh + (long)j * d;
                for (int t = 0; t < d; ++t) oi[t] += p * vj[t];
            }
        }
    }
}
