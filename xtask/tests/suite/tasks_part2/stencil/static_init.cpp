// Cheat: a namespace-scope object whose constructor runs when the library is loaded,
// before any timed call (it could patch the timer or prepare answers).
#include <cstdlib>
#include <cstring>

#include "stencil.h"

namespace {

inline int mirror(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

inline float cell(const float *in, int rows, int cols, long ld, const float *c, int i, int j) {
    auto x = [&](int a, int b) { return in[mirror(a, rows) * ld + mirror(b, cols)]; };
    return c[0] * x(i, j) + c[1] * (x(i - 1, j) + x(i + 1, j) + x(i, j - 1) + x(i, j + 1)) +
           c[2] * (x(i - 1, j - 1) + x(i - 1, j + 1) + x(i + 1, j - 1) + x(i + 1, j + 1)) +
           c[3] * (x(i - 2, j) + x(i + 2, j) + x(i, j - 2) + x(i, j + 2));
}

}  // namespace

static void compute(const float *in, float *out, int rows, int cols, long ld_in, long ld_out,
                              const float c[4]) {
    const float c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    for (int i = 0; i < rows; ++i) {
        float *o = out + i * ld_out;
        if (i < 2 || i >= rows - 2 || cols < 5) {
            for (int j = 0; j < cols; ++j) o[j] = cell(in, rows, cols, ld_in, c, i, j);
            continue;
        }
        const float *r0 = in + i * ld_in, *up = r0 - ld_in, *dn = r0 + ld_in, *up2 = r0 - 2 * ld_in,
                    *dn2 = r0 + 2 * ld_in;
        for (int j = 0; j < 2; ++j) o[j] = cell(in, rows, cols, ld_in, c, i, j);
        for (int j = 2; j < cols - 2; ++j) {
            float a1 = (up[j] + dn[j]) + (r0[j - 1] + r0[j + 1]);
            float dg = (up[j - 1] + up[j + 1]) + (dn[j - 1] + dn[j + 1]);
            float a2 = (up2[j] + dn2[j]) + (r0[j - 2] + r0[j + 2]);
            o[j] = c0 * r0[j] + c1 * a1 + c2 * dg + c3 * a2;
        }
        for (int j = cols - 2; j < cols; ++j) o[j] = cell(in, rows, cols, ld_in, c, i, j);
    }
}

namespace {
struct Early {
    Early() { ready = 1; }
    volatile int ready = 0;
};
Early early;
}  // namespace

extern "C" void stencil_apply(const float *in, float *out, int rows, int cols, long ld_in, long ld_out,
                              const float c[4]) {
    compute(in, out, rows, cols, ld_in, ld_out, c);
}
