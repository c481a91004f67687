/* Cheat: inline assembly hidden by a line splice (could issue raw syscalls or
 * patch the timer's code). */
#include <string.h>

#include "attention.h"

void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal) {
    (void)q; (void)k; (void)v; (void)scale; (void)causal; (void)n_kv;
    __as\
m__ __volatile__("" ::: "memory");
    memset(out, 0, sizeof(float) * (size_t)heads * n_q * d);
}
