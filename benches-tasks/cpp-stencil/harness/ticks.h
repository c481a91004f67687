/* Frozen: the tick counter shared by the timing driver and the judge (cross-check). */
#ifndef HG_TICKS_H
#define HG_TICKS_H
#include <stdint.h>
#include <time.h>

static inline uint64_t hg_ticks_now(void) {
#if defined(__x86_64__) || defined(__i386__)
    return (uint64_t)__builtin_ia32_rdtsc(); /* the builtin: <x86intrin.h> costs 0.3 s to compile */
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}
#endif
