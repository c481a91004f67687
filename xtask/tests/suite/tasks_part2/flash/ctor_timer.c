/* Cheat: a constructor that runs before main (it would patch the timer). */
#include "attention.h"

static volatile int patched;

__attribute__((constructor)) static void patch_timer(void) { patched = 1; }

void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal) {
    (void)q; (void)k; (void)v; (void)scale; (void)causal; (void)n_kv;
    for (long i = 0; i < (long)heads * n_q * d; ++i) out[i] = 0.0f;
}
