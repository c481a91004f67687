/* Frozen: the judge's native helpers, loaded by benchmark.py (ctypes) in the judge
 * process only -- never linked into the timing process.  Input generation, the
 * double-precision reference, the comparisons and the tick counter for the timing
 * cross-check. */
#include <math.h>
#include <stdint.h>

#include "ticks.h"

uint64_t hg_ticks(void) { return hg_ticks_now(); }

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void hg_fill(uint64_t seed, float *dst, int64_t count, float lo, float hi) {
    uint64_t state = seed;
    for (int64_t i = 0; i < count; ++i) {
        double u = (double)(splitmix(&state) >> 11) * (1.0 / 9007199254740992.0);
        dst[i] = (float)(lo + (hi - lo) * u);
    }
}

/* Re-randomises `rows` rows (the last one always) of a grid with leading dimension ld. */
void hg_perturb_rows(uint64_t seed, float *m, int64_t n, int64_t ld, int64_t rows, float lo, float hi) {
    uint64_t state = seed;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t row = r == 0 ? n - 1 : (int64_t)(splitmix(&state) % (uint64_t)n);
        hg_fill(splitmix(&state), m + row * ld, ld, lo, hi);
    }
}

static int64_t mirror(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

void hg_stencil_ref(const float *in, double *out, int rows, int cols, int64_t ld, const float *c) {
#define X(a, b) ((double)in[mirror((a), rows) * ld + mirror((b), cols)])
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
            double a1 = X(i - 1, j) + X(i + 1, j) + X(i, j - 1) + X(i, j + 1);
            double dg = X(i - 1, j - 1) + X(i - 1, j + 1) + X(i + 1, j - 1) + X(i + 1, j + 1);
            double a2 = X(i - 2, j) + X(i + 2, j) + X(i, j - 2) + X(i, j + 2);
            out[i * cols + j] = (double)c[0] * X(i, j) + (double)c[1] * a1 + (double)c[2] * dg + (double)c[3] * a2;
        }
    }
#undef X
}

/* Largest |got - want| over the grid (got strided by ld); NaN/inf count as infinite. */
double hg_max_abs(const float *got, int64_t ld, const double *want, int rows, int cols, int64_t *worst) {
    double best = 0.0;
    *worst = -1;
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
            double g = (double)got[i * ld + j];
            double e = isfinite(g) ? fabs(g - want[i * cols + j]) : INFINITY;
            if (e > best || (*worst < 0 && !isfinite(e))) {
                best = e;
                *worst = i * cols + j;
            }
        }
    }
    return best;
}

/* How many grid cells (i < rows, j < cols, stride ld) hold exactly `bits`. */
int64_t hg_count_cells(const uint32_t *data, int rows, int cols, int64_t ld, uint32_t bits) {
    int64_t n = 0;
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) n += data[i * ld + j] == bits;
    return n;
}

/* First row whose gap (cols <= j < ld) no longer holds `bits` everywhere, or -1. */
int64_t hg_first_bad_gap(const uint32_t *data, int rows, int cols, int64_t ld, uint32_t bits) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = cols; j < ld; ++j)
            if (data[i * ld + j] != bits) return i;
    return -1;
}

int64_t hg_count_bits(const uint32_t *data, int64_t count, uint32_t bits) {
    int64_t n = 0;
    for (int64_t i = 0; i < count; ++i) n += data[i] == bits;
    return n;
}
