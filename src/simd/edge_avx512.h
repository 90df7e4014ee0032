/*
 * The spreading of per-head values over the lanes of a head's channels
 * for the AVX-512 inference edge kernel (attention_avx512.h), at any
 * channel count (the vocabulary's gat_v_spread_heads8 covers 8). Only for
 * AVX-512 builds; the includer checks.
 */
#ifndef GAT_EDGE_AVX512_H
#define GAT_EDGE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

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
