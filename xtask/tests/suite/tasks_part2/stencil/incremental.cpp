// Correct, and cheap on a near-duplicate call: it keeps the previous grid and answer,
// and when only a few rows changed it recomputes the output rows those rows reach
// (two either side) with the starting kernel's slow per-cell code. Fresh grids cost
// the full slow computation. The benchmark scores fresh calls only, so this must not pay.
#include <cstdlib>
#include <cstring>

#include "stencil.h"

namespace {

__attribute__((noinline)) int mirror(int i, int n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

__attribute__((noinline)) float load(const float *in, int rows, int cols, long ld, int i, int j) {
    return in[mirror(i, rows) * ld + mirror(j, cols)];
}

void row(const float *in, float *out, int rows, int cols, long ld_in, long ld_out, const float *c, int i) {
    for (int j = 0; j < cols; ++j) {
        float centre = load(in, rows, cols, ld_in, i, j);
        float axis1 = load(in, rows, cols, ld_in, i - 1, j) + load(in, rows, cols, ld_in, i + 1, j) +
                      load(in, rows, cols, ld_in, i, j - 1) + load(in, rows, cols, ld_in, i, j + 1);
        float diag = load(in, rows, cols, ld_in, i - 1, j - 1) + load(in, rows, cols, ld_in, i - 1, j + 1) +
                     load(in, rows, cols, ld_in, i + 1, j - 1) + load(in, rows, cols, ld_in, i + 1, j + 1);
        float axis2 = load(in, rows, cols, ld_in, i - 2, j) + load(in, rows, cols, ld_in, i + 2, j) +
                      load(in, rows, cols, ld_in, i, j - 2) + load(in, rows, cols, ld_in, i, j + 2);
        out[i * ld_out + j] = c[0] * centre + c[1] * axis1 + c[2] * diag + c[3] * axis2;
    }
}

float *prev_in, *prev_out;
long prev_in_len, prev_out_len;
float prev_c[4];

}  // namespace

extern "C" void stencil_apply(const float *in, float *out, int rows, int cols, long ld_in, long ld_out,
                              const float c[4]) {
    long in_len = (long)rows * ld_in, out_len = (long)rows * ld_out;
    bool same_shape = prev_in && prev_in_len == in_len && prev_out_len == out_len &&
                      std::memcmp(prev_c, c, sizeof prev_c) == 0;
    int changed = 0;
    char *dirty = static_cast<char *>(std::calloc(rows, 1));
    if (same_shape) {
        for (int i = 0; i < rows; ++i)
            if (std::memcmp(prev_in + i * ld_in, in + i * ld_in, sizeof(float) * cols) != 0) {
                dirty[i] = 1;
                ++changed;
            }
    }
    if (same_shape && changed * 8 < rows) {
        for (int i = 0; i < rows; ++i) std::memcpy(out + i * ld_out, prev_out + i * ld_out, sizeof(float) * cols);
        for (int i = 0; i < rows; ++i) {
            bool near = false;
            for (int k = -2; k <= 2; ++k) near = near || (i + k >= 0 && i + k < rows && dirty[i + k]);
            // mirrored neighbours: a changed row 1 or 2 also feeds row 0, and so on at the far edge
            for (int k = 1; k <= 2; ++k) near = near || (i - k < 0 && dirty[k - i]) || (i + k >= rows && dirty[2 * (rows - 1) - (i + k)]);
            if (near) row(in, out, rows, cols, ld_in, ld_out, c, i);
        }
    } else {
        for (int i = 0; i < rows; ++i) row(in, out, rows, cols, ld_in, ld_out, c, i);
    }
    std::free(dirty);
    if (!same_shape) {
        std::free(prev_in);
        std::free(prev_out);
        prev_in = static_cast<float *>(std::malloc(sizeof(float) * in_len));
        prev_out = static_cast<float *>(std::malloc(sizeof(float) * out_len));
        prev_in_len = in_len;
        prev_out_len = out_len;
        std::memcpy(prev_c, c, sizeof prev_c);
    }
    for (int i = 0; i < rows; ++i) std::memcpy(prev_in + i * ld_in, in + i * ld_in, sizeof(float) * cols);
    for (int i = 0; i < rows; ++i) std::memcpy(prev_out + i * ld_out, out + i * ld_out, sizeof(float) * cols);
}
