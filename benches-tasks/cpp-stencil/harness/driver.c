/* Frozen: the timing driver, linked against libkernel.so (built from kernel.cpp).
 *
 * usage: driver IN OUT ROWS COLS LD_IN LD_OUT C0 C1 C2 C3 WARMUP CALLS PAD
 * (the coefficients as hex bit patterns of float32)
 *
 * Per call it reads that call's grid from IN (later calls' grids are not in memory
 * yet), fills the output grid with the sentinel and its row gaps and PAD floats on
 * either side with the canary, times stencil_apply with the tick counter, copies the
 * whole output region at once (work finished later in the background is seen
 * unfinished) and appends the copy to OUT.  It prints "begin" before the first timed
 * call, "t TICKS" after each timed call (at once, before the kernel runs again),
 * "end" after the last, then "loop T": the ticks from just after "begin" to just before "end". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../stencil.h"
#include "ticks.h"

#define SENTINEL 0x7FA11E57u
#define CANARY 0x5CA1AB1Eu

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fprintf(stderr, "driver: out of memory\n");
        exit(3);
    }
    return p;
}

static void fill_bits(float *dst, size_t count, uint32_t bits) {
    for (size_t i = 0; i < count; ++i) memcpy(&dst[i], &bits, sizeof bits);
}

static float from_hex(const char *s) {
    uint32_t bits = (uint32_t)strtoul(s, NULL, 16);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int main(int argc, char **argv) {
    if (argc != 14) {
        fprintf(stderr, "driver: expected 13 arguments\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "driver: cannot open the exchange files\n");
        return 2;
    }
    int rows = atoi(argv[3]), cols = atoi(argv[4]);
    long ld_in = atol(argv[5]), ld_out = atol(argv[6]);
    float c[4] = {from_hex(argv[7]), from_hex(argv[8]), from_hex(argv[9]), from_hex(argv[10])};
    float coeffs[4];
    int warmup = atoi(argv[11]), calls = atoi(argv[12]);
    size_t pad = (size_t)atol(argv[13]);

    size_t n_in = (size_t)rows * ld_in, n_out = (size_t)rows * ld_out, region_len = n_out + 2 * pad;
    float *grid = xalloc(n_in * sizeof(float));
    float *region = xalloc(region_len * sizeof(float));
    float *copy = xalloc(region_len * sizeof(float));
    uint64_t loop_begin = 0;

    for (int k = 0; k < warmup + calls; ++k) {
        if (fread(grid, sizeof(float), n_in, in) != n_in) {
            fprintf(stderr, "driver: short input file\n");
            return 2;
        }
        fill_bits(region, region_len, CANARY);
        for (long i = 0; i < rows; ++i) fill_bits(region + pad + i * ld_out, (size_t)cols, SENTINEL);
        memcpy(coeffs, c, sizeof coeffs);
        if (k == warmup) {
            fputs("begin\n", stdout);
            fflush(stdout);
            loop_begin = hg_ticks_now();
        }
        uint64_t t0 = hg_ticks_now();
        stencil_apply(grid, region + pad, rows, cols, ld_in, ld_out, coeffs);
        uint64_t t1 = hg_ticks_now();
        memcpy(copy, region, region_len * sizeof(float));
        if (k >= warmup) {
            /* out of the process before the kernel runs again: nothing it does later can alter it */
            printf("t %llu\n", (unsigned long long)(t1 - t0));
            fflush(stdout);
        }
        if (fwrite(copy, sizeof(float), region_len, out) != region_len) {
            fprintf(stderr, "driver: cannot write the output file\n");
            return 2;
        }
    }
    uint64_t loop_end = hg_ticks_now();
    fputs("end\n", stdout);
    fflush(stdout);
    printf("loop %llu\n", (unsigned long long)(loop_end - loop_begin));
    if (fclose(out) != 0) return 2;
    fclose(in);
    return 0;
}
