/* Cheat: defines the clock the timing process might use, so every timed call
 * would look free (symbol interposition). */
#include <string.h>

#include "attention.h"

struct timespec_like { long tv_sec; long tv_nsec; };

int clock_gettime(int clock, struct timespec_like *ts) {
    (void)clock;
    ts->tv_sec = 0;
    ts->tv_nsec = 0;
    return 0;
}

void attention_forward(const float *q, const float *k, const float *v, float *out,
                       int heads, int n_q, int n_kv, int d, float scale, int causal) {
    (void)q; (void)k; (void)v; (void)scale; (void)causal; (void)n_kv;
    memset(out, 0, sizeof(float) * (size_t)heads * n_q * d);
}
