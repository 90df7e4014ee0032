/*
 * A 16-float vector through the GNU vector extension (GCC and clang), for
 * the loops where the auto-vectorizer goes wrong: a multiply-add over a
 * row of 64 floats, inside a loop over rows picked by index (the sparse
 * projection's weight rows, dW^T's rows). GCC 12 vectorizes the outer
 * loop there, fetching the second row of each pair with gathers and
 * keeping the accumulator on the stack: half the speed of four plain
 * vector multiply-adds. Elsewhere plain loops are used.
 *
 * gat_f16_fma fuses where the hardware has FMA (the lane loop compiles to
 * one vector instruction with both compilers), as GAT_FMA does.
 */
#ifndef GAT_VEC_H
#define GAT_VEC_H

#include "fma.h"

#include <stdint.h>
#include <string.h>

/* Asks GCC to vectorize a loop over heads as a loop. At a fixed shape of a
 * few heads GCC otherwise unrolls it completely first and then fails to
 * vectorize the straight-line code (the LeakyReLU and max selects stay
 * scalar branches, taken at random). Clang vectorizes these loops on its
 * own, and warns where a request cannot be honoured (a loop of one head),
 * so it gets no request. */
#if defined(_OPENMP) && defined(__GNUC__) && !defined(__clang__)
#define GAT_SIMD _Pragma("omp simd")
#else
#define GAT_SIMD
#endif

#if defined(__GNUC__)
#define GAT_HAVE_F16 1

typedef float gat_f16 __attribute__((vector_size(64)));
/* Eight lanes: a head vector at 8 heads, half a gat_f16. */
typedef float gat_f8 __attribute__((vector_size(32)));
typedef int32_t gat_i8 __attribute__((vector_size(32)));

static inline gat_f16 gat_f16_load(const float *p)
{
    gat_f16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void gat_f16_store(float *p, gat_f16 v) { memcpy(p, &v, sizeof v); }

static inline gat_f16 gat_f16_splat(float x)
{
    const gat_f16 zero = {0};
    return zero + x;
}

/* out [8] = scale * bit h of byte, h = 0 .. 7: the attention-dropout mask
 * of one edge's 8 heads (see gat__mask_bytes). As a plain loop, GCC 12
 * builds such short masks two lanes at a time through the stack, and the
 * 32-byte load that reads them stalls on the narrower stores. */
static inline void gat_bits8_to_float(unsigned char byte, float scale, float *out)
{
    const gat_i8 lane_bit = {1, 2, 4, 8, 16, 32, 64, 128};
    const gat_i8 kept = (((gat_i8){0} + (int)byte) & lane_bit) != 0; /* -1 or 0 per lane */
    const gat_f8 v = __builtin_convertvector(kept, gat_f8) * -scale;
    memcpy(out, &v, sizeof v);
}

/* a * b + c lane by lane, rounded once where GAT_FMA is fused. */
static inline gat_f16 gat_f16_fma(gat_f16 a, gat_f16 b, gat_f16 c)
{
    gat_f16 r;
    for (int l = 0; l < 16; l++)
        r[l] = GAT_FMA(a[l], b[l], c[l]);
    return r;
}

/* The same on eight lanes (GCC unrolls these first, then leaves them
 * scalar unless asked). */
static inline gat_f8 gat_f8_fma(gat_f8 a, gat_f8 b, gat_f8 c)
{
    gat_f8 r;
    GAT_SIMD
    for (int l = 0; l < 8; l++)
        r[l] = GAT_FMA(a[l], b[l], c[l]);
    return r;
}
#endif

#endif
