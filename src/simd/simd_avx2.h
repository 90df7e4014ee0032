/*
 * The AVX2 + FMA back end of the vector vocabulary (simd.h): 8 lanes,
 * masks as all-ones lanes of a float register. Included by simd.h only,
 * which selects it for builds with __AVX2__ and __FMA__ (x86-64-v3: most
 * deployed x86 servers, AMD Zen 2/3) that do not take the AVX-512 one.
 *
 * At 8 heads a per-head vector is one register, which multiplies a
 * channel-major row register (one channel of 8 heads) directly.
 */
#ifndef GAT_SIMD_AVX2_H
#define GAT_SIMD_AVX2_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define GAT_V_LANES 8
#define GAT_V_BACKEND "avx2"

typedef float gat_v __attribute__((vector_size(32))); /* __m256, as operators type it */
typedef gat_v gat_vm;
typedef uint32_t gat_vu __attribute__((vector_size(32)));

static inline gat_v gat_v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void gat_v_store(float *p, gat_v v) { _mm256_storeu_ps(p, v); }
static inline gat_v gat_v_splat(float x) { return _mm256_set1_ps(x); }
static inline gat_v gat_v_zero(void) { return _mm256_setzero_ps(); }
static inline gat_v gat_v_fma(gat_v a, gat_v b, gat_v c) { return _mm256_fmadd_ps(a, b, c); }
/* a > b ? a : b (b where either is NaN): maxps. */
static inline gat_v gat_v_max(gat_v a, gat_v b) { return _mm256_max_ps(a, b); }
static inline gat_vm gat_v_gt(gat_v a, gat_v b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline gat_vm gat_v_ge(gat_v a, gat_v b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline gat_vm gat_v_lt(gat_v a, gat_v b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
/* a != b, true for NaN */
static inline gat_vm gat_v_ne(gat_v a, gat_v b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
static inline gat_vm gat_vm_or(gat_vm a, gat_vm b) { return _mm256_or_ps(a, b); }
static inline bool gat_vm_any(gat_vm m) { return _mm256_movemask_ps(m) != 0; }
static inline gat_v gat_v_select(gat_vm where, gat_v a, gat_v b)
{
    return _mm256_blendv_ps(b, a, where);
}
static inline gat_vu gat_v_bits(gat_v v) { return (gat_vu)v; }
static inline gat_v gat_v_from_bits(gat_vu u) { return (gat_v)u; }

/* p [8] bytes as floats. */
static inline gat_v gat_v_load_u8(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* ---- 8 heads (see simd.h) ---- */

static inline gat_v gat_v_load_heads8(const float *p, int hr)
{
    (void)hr;
    return _mm256_loadu_ps(p);
}

static inline void gat_v_store_heads8(float *p, gat_v v, int hr)
{
    (void)hr;
    _mm256_storeu_ps(p, v);
}

/* Lanes whose head's bit of bits is set. */
static inline gat_vm gat_v_head_bits8(unsigned bits, int hr)
{
    (void)hr;
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_and_si256(_mm256_set1_epi32((int)bits), lane_bit);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bit));
}

/* Register u of a head-major row (head u): head u's lane everywhere. */
static inline gat_v gat_v_spread_heads8(const gat_v *h, int u)
{
    return _mm256_permutevar8x32_ps(h[u / 8], _mm256_set1_epi32(u % 8));
}

/* Channel c of a channel-major row: its register c. */
static inline gat_v gat_v_channel_heads8(const gat_v *row, int c, int hr)
{
    (void)hr;
    return row[c];
}

/* An 8 x 8 transpose of eight registers: pairs interleaved, then 64-bit
 * pairs, then 128-bit halves. */
static inline void gat_v_transpose8(const gat_v *in, gat_v *out)
{
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(in[k], in[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(in[k], in[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xee);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xee);
    }
    for (int k = 0; k < 4; k++) {
        out[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        out[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}

/* ---- rows of any head count (see simd.h): head h in lane h % 8 of
 * register h / 8 ---- */

static inline __m256i gat__first_lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* p [n] in lanes 0 .. n - 1 (1 <= n <= 8), zeros after; reads nothing
 * past p + n (a masked load does not fault on the lanes it leaves). */
static inline gat_v gat_v_load_first(const float *p, int n)
{
    if (n >= 8)
        return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, gat__first_lanes(n));
}

static inline void gat_v_store_first(float *p, gat_v v, int n)
{
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, gat__first_lanes(n), v);
}

/* Head h's value of the per-head vector p in every lane. */
static inline gat_v gat_v_lane(const gat_v *p, int h)
{
    return _mm256_permutevar8x32_ps(p[h / 8], _mm256_set1_epi32(h % 8));
}

/* A store past the caches (p 32-byte aligned), and the fence that orders
 * such stores before what follows. */
static inline void gat_v_stream(float *p, gat_v v) { _mm256_stream_ps(p, v); }
static inline void gat_v_stream_fence(void) { _mm_sfence(); }

/* One level of gat_v_fold_groups (simd.h), which starts at width 8 (a
 * group a register): the levels add 128-bit halves (vperm2f128), then
 * pairs of floats, then floats (shufps within 128-bit blocks). That
 * leaves the even heads of eight in the low block and the odd ones in the
 * high block, which the last level puts in order with one permute. */
static inline gat_v gat__fold_level(gat_v a, gat_v b, int width)
{
    switch (width) {
    case 8:
        return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    case 4:
        return _mm256_add_ps(_mm256_shuffle_ps(a, b, 0x44), _mm256_shuffle_ps(a, b, 0xee));
    default:
        return _mm256_permutevar8x32_ps(
            _mm256_add_ps(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xdd)),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    }
}

#endif
