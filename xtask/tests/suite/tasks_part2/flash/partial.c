/* Cheat: does only the first half of the heads' rows and returns early
 * (work skipped, or left to finish later). */
#include <math.h>
#include <stdlib.h>

#include "attention.h"

static void compute(const float *q, const float *k, const float *v, float *out,
                    int heads, int n_q, int n_kv, int d, float scale, int causal) {
    float *s = malloc(sizeof(float) * (size_t)n_kv);
    for (int h = 0; h < heads; ++h)
        for (int i = 0; i < n_q; ++i) {
            const float *qi = q + ((long)h * n_q + i) * d;
            float *oi = out + ((long)h * n_q + i) * d;
            int visible = causal ? i + (n_kv - n_q) + 1 : n_kv;
            float m = -INFINITY, z = 0.f;
            for (int j = 0; j < visible; ++j) {
                float acc = 0.f;
                for (int t = 0; t < d; ++t) acc += qi[t] * k[((long)h * n_kv + j) * d + t];
                s[j] = scale * acc;
                if (s[j] > m) m = s[j];
            }
            for (int j = 0; j < visible; ++j) { s[j] = expf(s[j] - m); z += s[j]; }
            for (int t = 0; t < d; ++t) oi[t] = 0.f;
            for (int j = 0; j < visible; ++j)
                for (int t = 0; t < d; ++t) oi[t] += s[j] / z * v[((long)h * n_kv + j) * d + t];
        }
    free(s);
}

void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal) {
    compute(q, k, v, out, heads, n_q / 2 > 0 ? n_q / 2 : 1, n_kv, d, scale, causal);
}
