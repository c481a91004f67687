/* Frozen: the judge's native helpers, loaded by benchmark.py (ctypes) in the judge
 * process only -- never linked into the timing process.  Input generation, the
 * double-precision reference, the comparison and the tick counter for the
 * timing cross-check. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticks.h"

uint64_t hg_ticks(void) { return hg_ticks_now(); }

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform floats in [lo, hi). */
void hg_fill(uint64_t seed, float *dst, int64_t count, float lo, float hi) {
    uint64_t state = seed;
    for (int64_t i = 0; i < count; ++i) {
        double u = (double)(splitmix(&state) >> 11) * (1.0 / 9007199254740992.0);
        dst[i] = (float)(lo + (hi - lo) * u);
    }
}

/* Re-randomises `rows` whole rows of a [n][d] matrix, chosen from `seed`; the last
 * row is always among them (near-duplicate inputs defeat sampled-hash caches). */
void hg_perturb_rows(uint64_t seed, float *m, int64_t n, int64_t d, int64_t rows, float lo, float hi) {
    uint64_t state = seed;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t row = r == 0 ? n - 1 : (int64_t)(splitmix(&state) % (uint64_t)n);
        hg_fill(splitmix(&state), m + row * d, d, lo, hi);
    }
}

void hg_attention_ref(const float *q, const float *k, const float *v, double *out,
                      int heads, int n_q, int n_kv, int d, float scale, int causal) {
    double *s = malloc(sizeof(double) * (size_t)n_kv);
    if (!s) return;
    for (int h = 0; h < heads; ++h) {
        const float *qh = q + (int64_t)h * n_q * d;
        const float *kh = k + (int64_t)h * n_kv * d;
        const float *vh = v + (int64_t)h * n_kv * d;
        double *oh = out + (int64_t)h * n_q * d;
        for (int i = 0; i < n_q; ++i) {
            int visible = causal ? i + (n_kv - n_q) + 1 : n_kv;
            double m = -INFINITY;
            for (int j = 0; j < visible; ++j) {
                double acc = 0.0;
                for (int t = 0; t < d; ++t) acc += (double)qh[(int64_t)i * d + t] * (double)kh[(int64_t)j * d + t];
                s[j] = (double)scale * acc;
                if (s[j] > m) m = s[j];
            }
            double z = 0.0;
            for (int j = 0; j < visible; ++j) {
                s[j] = exp(s[j] - m);
                z += s[j];
            }
            double *o = oh + (int64_t)i * d;
            for (int t = 0; t < d; ++t) o[t] = 0.0;
            for (int j = 0; j < visible; ++j) {
                double p = s[j] / z;
                for (int t = 0; t < d; ++t) o[t] += p * (double)vh[(int64_t)j * d + t];
            }
        }
    }
    free(s);
}

/* Largest |got - want| (a NaN or infinity in `got` counts as infinite); its index
 * goes to *worst. */
double hg_max_abs(const float *got, const double *want, int64_t count, int64_t *worst) {
    double best = 0.0;
    *worst = -1;
    for (int64_t i = 0; i < count; ++i) {
        double g = (double)got[i];
        double e = isfinite(g) ? fabs(g - want[i]) : INFINITY;
        if (e > best || (*worst < 0 && e == best && !isfinite(e))) {
            best = e;
            *worst = i;
        }
    }
    return best;
}

/* How many elements hold exactly the 32-bit pattern `bits`. */
int64_t hg_count_bits(const uint32_t *data, int64_t count, uint32_t bits) {
    int64_t n = 0;
    for (int64_t i = 0; i < count; ++i) n += data[i] == bits;
    return n;
}
