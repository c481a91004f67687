/* Frozen: the timing driver, linked with kernel.o into the timing process.
 *
 * usage: driver IN OUT HEADS N_Q N_KV D CAUSAL SCALE_BITS WARMUP CALLS PAD
 *
 * Per call it reads that call's q, k, v from IN (inputs of later calls are not in
 * memory yet), fills the output with the sentinel and its PAD floats on either side
 * with the canary, times attention_forward with the tick counter, copies the padded
 * output region at once (a kernel that finishes later in the background is seen
 * unfinished), and appends the copy to OUT.  It prints "begin" before the first
 * timed call, "t TICKS" after each timed call (at once, before the kernel runs again),
 * "end" after the last, then "loop T": the ticks from just after "begin" to just before "end". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../attention.h"
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

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "driver: expected 11 arguments\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "driver: cannot open the exchange files\n");
        return 2;
    }
    int heads = atoi(argv[3]), n_q = atoi(argv[4]), n_kv = atoi(argv[5]), d = atoi(argv[6]);
    int causal = atoi(argv[7]);
    uint32_t scale_bits = (uint32_t)strtoul(argv[8], NULL, 16);
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    int warmup = atoi(argv[9]), calls = atoi(argv[10]);
    size_t pad = (size_t)atol(argv[11]);

    size_t nq = (size_t)heads * n_q * d, nkv = (size_t)heads * n_kv * d;
    float *q = xalloc(nq * sizeof(float));
    float *k = xalloc(nkv * sizeof(float));
    float *v = xalloc(nkv * sizeof(float));
    float *region = xalloc((nq + 2 * pad) * sizeof(float));
    float *copy = xalloc((nq + 2 * pad) * sizeof(float));
    uint64_t loop_begin = 0;

    for (int c = 0; c < warmup + calls; ++c) {
        if (fread(q, sizeof(float), nq, in) != nq || fread(k, sizeof(float), nkv, in) != nkv ||
            fread(v, sizeof(float), nkv, in) != nkv) {
            fprintf(stderr, "driver: short input file\n");
            return 2;
        }
        fill_bits(region, pad, CANARY);
        fill_bits(region + pad, nq, SENTINEL);
        fill_bits(region + pad + nq, pad, CANARY);
        if (c == warmup) {
            fputs("begin\n", stdout);
            fflush(stdout);
            loop_begin = hg_ticks_now();
        }
        uint64_t t0 = hg_ticks_now();
        attention_forward(q, k, v, region + pad, heads, n_q, n_kv, d, scale, causal);
        uint64_t t1 = hg_ticks_now();
        memcpy(copy, region, (nq + 2 * pad) * sizeof(float));
        if (c >= warmup) {
            /* out of the process before the kernel runs again: nothing it does later can alter it */
            printf("t %llu\n", (unsigned long long)(t1 - t0));
            fflush(stdout);
        }
        if (fwrite(copy, sizeof(float), nq + 2 * pad, out) != nq + 2 * pad) {
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
