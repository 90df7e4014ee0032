/*
 * What the training edge kernels in AVX-512 registers share, for the
 * paper's hidden shape of 8 heads x 8 channels (train_attention_avx512.h,
 * backward_avx512.h). A channel-major row (element (h, c) at c * 8 + h) is
 * four registers of two channels each, so a per-head vector [8] is held
 * twice, in both halves of a register: multiplied straight into a row
 * register, and one exp covers all heads (the upper half's are the same
 * values computed again, for free).
 *
 * The kernels must give the portable loops' bits: the same operations per
 * lane in the same order, so fused multiply-adds only where GAT_FMA fuses,
 * which needs __FMA__ (every AVX-512 CPU has it; without it the portable
 * loops run).
 */
#ifndef GAT_TRAIN_AVX512_H
#define GAT_TRAIN_AVX512_H

/* GAT_NO_AVX512_INTRINSICS (a -Dc_args define, as in attention.c) leaves
 * them out, so the portable loops can be measured on the same machine. */
#if defined(__AVX512F__) && defined(__FMA__) && !defined(GAT_NO_AVX512_INTRINSICS)
#define GAT_HAVE_AVX512_TRAIN 1
#include "edge_avx512.h"

#include <immintrin.h>
#include <stdint.h>

/* p [8] in both halves (a load-port broadcast; the f32x8 form needs
 * AVX512DQ). */
static inline __m512 gat__load_heads8(const float *p)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)p)));
}

static inline void gat__store_heads8(float *p, __m512 v)
{
    _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
}

/* z > 0 ? z : z * slope, NaN taking the product as in the portable loops. */
static inline __m512 gat__leaky_relu_avx512(__m512 z, __m512 slope)
{
    return _mm512_mask_mul_ps(z, _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_NGT_UQ), z,
                              slope);
}

/* An edge's attention-dropout factors from its mask byte: the two values
 * gat__mask_to_float gives (scale, and a zero whose sign it leaves), per
 * head in both halves. */
typedef struct gat__keep_factors {
    __m512 kept, dropped;
} gat__keep_factors;

static inline gat__keep_factors gat__keep_factors_init(float scale)
{
    float kf[8];
    gat__keep_factors f;
    gat__mask_to_float(&(const uint8_t){0xff}, scale, kf, 8);
    f.kept = _mm512_set1_ps(kf[0]);
    gat__mask_to_float(&(const uint8_t){0}, scale, kf, 8);
    f.dropped = _mm512_set1_ps(kf[0]);
    return f;
}

static inline __m512 gat__keep_avx512(const gat__keep_factors *f, uint8_t bits)
{
    return _mm512_mask_blend_ps((__mmask16)(bits * 0x0101u), f->dropped, f->kept);
}

/* permutex2var indexes of an 8 x 8 transpose in two levels: four
 * registers of two rows each -> four of two columns each. Rows to columns
 * and back are the same permutation (channel-major <-> head-major). */
typedef struct gat__transpose8 {
    __m512i quarter[2], half[2];
} gat__transpose8;

static inline void gat__transpose8_init(gat__transpose8 *t)
{
    int32_t q[2][16], h[2][16];
    for (int part = 0; part < 2; part++)
        for (int lane = 0; lane < 16; lane++) {
            /* quarter: columns 4 part .. 4 part + 3 of rows 0..3 from two
             * registers (rows 0, 1 | rows 2, 3), lane = column' * 4 + row */
            const int col = 4 * part + lane / 4, row = lane % 4;
            q[part][lane] = (row / 2) * 16 + (row % 2) * 8 + col;
            /* half: columns 2 part', 2 part' + 1 of all 8 rows, rows 0..3
             * from the first quarter register, 4..7 from the second */
            const int c2 = lane / 8, r2 = lane % 8, col2 = (2 * part + c2) % 4;
            h[part][lane] = (r2 / 4) * 16 + col2 * 4 + r2 % 4;
        }
    for (int part = 0; part < 2; part++) {
        t->quarter[part] = _mm512_loadu_si512(q[part]);
        t->half[part] = _mm512_loadu_si512(h[part]);
    }
}

static GAT_ALWAYS_INLINE void gat__transpose8_avx512(const gat__transpose8 *t,
                                                     const __m512 in[4], __m512 out[4])
{
    const __m512 a0 = _mm512_permutex2var_ps(in[0], t->quarter[0], in[1]); /* cols 0-3, rows 0-3 */
    const __m512 a1 = _mm512_permutex2var_ps(in[0], t->quarter[1], in[1]); /* cols 4-7, rows 0-3 */
    const __m512 b0 = _mm512_permutex2var_ps(in[2], t->quarter[0], in[3]); /* cols 0-3, rows 4-7 */
    const __m512 b1 = _mm512_permutex2var_ps(in[2], t->quarter[1], in[3]); /* cols 4-7, rows 4-7 */
    out[0] = _mm512_permutex2var_ps(a0, t->half[0], b0);
    out[1] = _mm512_permutex2var_ps(a0, t->half[1], b0);
    out[2] = _mm512_permutex2var_ps(a1, t->half[0], b1);
    out[3] = _mm512_permutex2var_ps(a1, t->half[1], b1);
}

#else
#define GAT_HAVE_AVX512_TRAIN 0
#endif

#endif
