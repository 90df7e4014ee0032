/*
 * What the AVX-512 edge kernels of inference (attention_avx512.h) and
 * training (train_attention_avx512.h, backward_avx512.h) share: the
 * softmax's exp on 16 lanes and the spreading of per-head values over the
 * lanes of a head's channels. Only for AVX-512 builds; the includers
 * check.
 */
#ifndef GAT_EDGE_AVX512_H
#define GAT_EDGE_AVX512_H

#include "fast_exp.h"

#include <immintrin.h>
#include <stdint.h>

/* gat__exp_nonpositive_fma on 16 lanes, including its handling of inputs
 * below the normal range (0) and NaN (passed through). */
static inline __m512 gat__exp_nonpositive_avx512(__m512 x)
{
    const __m512 lowest = _mm512_set1_ps(GAT_EXP_LOWEST);
    const __m512 magic = _mm512_set1_ps(GAT_EXP_ROUND_MAGIC);
    const __mmask16 in_range = _mm512_cmp_ps_mask(x, lowest, _CMP_GE_OQ);
    const __mmask16 below = _mm512_cmp_ps_mask(x, lowest, _CMP_LT_OQ);
    const __m512 clamped = _mm512_mask_blend_ps(in_range, lowest, x);
    const __m512 n = _mm512_sub_ps(
        _mm512_fmadd_ps(clamped, _mm512_set1_ps(GAT_EXP_LOG2E), magic), magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-GAT_EXP_LN2_HI), clamped);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(GAT_EXP_LN2_LO_NEG), r);
    __m512 p = _mm512_set1_ps(GAT_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(GAT_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(GAT_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(GAT_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(GAT_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(GAT_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 result = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
    /* in range: the polynomial; below: 0; NaN: itself */
    return _mm512_mask_blend_ps(in_range, _mm512_maskz_mov_ps((__mmask16)~below, x), result);
}

/* Which head's value each lane of register v of a head-major row takes. */
static inline __m512i gat__head_lanes(int64_t v, int64_t channels)
{
    if (channels == 8)
        return _mm512_set_epi32((int)(2 * v + 1), (int)(2 * v + 1), (int)(2 * v + 1),
                                (int)(2 * v + 1), (int)(2 * v + 1), (int)(2 * v + 1),
                                (int)(2 * v + 1), (int)(2 * v + 1), (int)(2 * v), (int)(2 * v),
                                (int)(2 * v), (int)(2 * v), (int)(2 * v), (int)(2 * v),
                                (int)(2 * v), (int)(2 * v));
    return _mm512_set1_epi32((int)(v / (channels / 16)));
}

#endif
