/*
 * The machine's fused multiply-add peak at 256 and (where the build has
 * AVX-512) 512 bits: 12 independent register accumulators a thread, no
 * memory traffic, so the FMA pipes alone bound it. docs/performance.md
 * ("Portable speed") compares the projection GEMM against it. Times are
 * each thread's CPU time, so other jobs on the machine do not count.
 *
 *   cc -std=c11 -O2 -march=native benchmarks/fma_peak.c -o fma_peak && ./fma_peak
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define STEPS 20000000L /* of 12 FMAs */

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* NAME(): GFLOP/s of one thread with registers of type T (LANES floats). */
#define PEAK(NAME, T, SET1, FMADD, LANES)                                                     \
    static double NAME(void)                                                                  \
    {                                                                                         \
        T a[12];                                                                              \
        const T m = SET1(0.999999f), c = SET1(1e-7f);                                         \
        for (int i = 0; i < 12; i++)                                                          \
            a[i] = SET1((float)i);                                                            \
        const double t0 = cpu_seconds();                                                      \
        for (long k = 0; k < STEPS; k++)                                                      \
            UNROLL12 /* else gcc 12 keeps a[] on the stack */                                 \
            for (int i = 0; i < 12; i++)                                                      \
                a[i] = FMADD(a[i], m, c);                                                     \
        const double t = cpu_seconds() - t0;                                                  \
        float sum = 0.0f; /* the results are used, so the loop stays */                       \
        for (int i = 0; i < 12; i++)                                                          \
            sum += a[i][0];                                                                   \
        if (sum == 1e30f)                                                                     \
            printf("!");                                                                      \
        return 2.0 * (LANES) * 12 * STEPS / t * 1e-9;                                         \
    }
#define UNROLL12 _Pragma("GCC unroll 12")

PEAK(peak256, __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
#ifdef __AVX512F__
PEAK(peak512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
#endif

int main(void)
{
    for (int round = 0; round < 3; round++) {
        printf("256-bit FMA: %6.1f GFLOP/s a thread", peak256());
#ifdef __AVX512F__
        printf("   512-bit FMA: %6.1f GFLOP/s a thread", peak512());
#endif
        printf("\n");
    }
    return 0;
}
