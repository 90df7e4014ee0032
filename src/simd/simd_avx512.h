/*
 * The AVX-512 back end of the vector vocabulary (simd.h): 16 lanes, masks
 * in mask registers. Included by simd.h only, which selects it for builds
 * with __AVX512F__ and __FMA__ (every AVX-512 CPU has FMA).
 *
 * At 8 heads a per-head vector is held twice, in both halves of a
 * register: multiplied straight into a channel-major row register (two
 * channels of 8 heads), and one exp covers all heads (the upper half's are
 * the same values computed again, for free).
 */
#ifndef GAT_SIMD_AVX512_H
#define GAT_SIMD_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define GAT_V_LANES 16
#define GAT_V_BACKEND "avx512"

typedef float gat_v __attribute__((vector_size(64))); /* __m512, as operators type it */
typedef __mmask16 gat_vm;
typedef uint32_t gat_vu __attribute__((vector_size(64)));

static inline gat_v gat_v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void gat_v_store(float *p, gat_v v) { _mm512_storeu_ps(p, v); }
static inline gat_v gat_v_splat(float x) { return _mm512_set1_ps(x); }
static inline gat_v gat_v_zero(void) { return _mm512_setzero_ps(); }
static inline gat_v gat_v_fma(gat_v a, gat_v b, gat_v c) { return _mm512_fmadd_ps(a, b, c); }
/* a > b ? a : b (b where either is NaN): maxps. */
static inline gat_v gat_v_max(gat_v a, gat_v b) { return _mm512_max_ps(a, b); }
static inline gat_vm gat_v_gt(gat_v a, gat_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline gat_vm gat_v_ge(gat_v a, gat_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline gat_vm gat_v_lt(gat_v a, gat_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
/* a != b, true for NaN */
static inline gat_vm gat_v_ne(gat_v a, gat_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
static inline gat_vm gat_vm_or(gat_vm a, gat_vm b) { return (gat_vm)(a | b); }
static inline bool gat_vm_any(gat_vm m) { return m != 0; }
static inline gat_v gat_v_select(gat_vm where, gat_v a, gat_v b)
{
    return _mm512_mask_blend_ps(where, b, a);
}
static inline gat_vu gat_v_bits(gat_v v) { return (gat_vu)v; }
static inline gat_v gat_v_from_bits(gat_vu u) { return (gat_v)u; }

/* p [16] bytes as floats. */
static inline gat_v gat_v_load_u8(const uint8_t *p)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* ---- 8 heads (see simd.h) ---- */

/* p [8] in both halves (a load-port broadcast; the f32x8 form needs
 * AVX512DQ). */
static inline gat_v gat_v_load_heads8(const float *p, int hr)
{
    (void)hr;
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)p)));
}

static inline void gat_v_store_heads8(float *p, gat_v v, int hr)
{
    (void)hr;
    _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
}

/* Lanes whose head's bit of bits is set. */
static inline gat_vm gat_v_head_bits8(unsigned bits, int hr)
{
    (void)hr;
    return (gat_vm)(bits * 0x0101u);
}

/* Register u of a head-major row (heads 2u, 2u + 1): each lane takes its
 * head's value of h. */
static inline gat_v gat_v_spread_heads8(const gat_v *h, int u)
{
    const __m512i lanes = _mm512_set_epi32(2 * u + 1, 2 * u + 1, 2 * u + 1, 2 * u + 1, 2 * u + 1,
                                           2 * u + 1, 2 * u + 1, 2 * u + 1, 2 * u, 2 * u, 2 * u,
                                           2 * u, 2 * u, 2 * u, 2 * u, 2 * u);
    return _mm512_permutexvar_ps(lanes, h[0]);
}

/* Channel c of a channel-major row (two channels a register) in both
 * halves. */
static inline gat_v gat_v_channel_heads8(const gat_v *row, int c, int hr)
{
    (void)hr;
    return c % 2 ? _mm512_shuffle_f32x4(row[c / 2], row[c / 2], 0xee)
                 : _mm512_shuffle_f32x4(row[c / 2], row[c / 2], 0x44);
}

/* An 8 x 8 transpose of four registers of two rows each, in two levels of
 * permutex2var: columns 0-3 and 4-7 of rows 0-3 and of rows 4-7, then
 * pairs of columns. Rows to columns and back are the same permutation. */
static inline void gat_v_transpose8(const gat_v *in, gat_v *out)
{
    const __m512i q0 = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i q1 = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    const __m512i h0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i h1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __m512 a0 = _mm512_permutex2var_ps(in[0], q0, in[1]);
    const __m512 a1 = _mm512_permutex2var_ps(in[0], q1, in[1]);
    const __m512 b0 = _mm512_permutex2var_ps(in[2], q0, in[3]);
    const __m512 b1 = _mm512_permutex2var_ps(in[2], q1, in[3]);
    out[0] = _mm512_permutex2var_ps(a0, h0, b0);
    out[1] = _mm512_permutex2var_ps(a0, h1, b0);
    out[2] = _mm512_permutex2var_ps(a1, h0, b1);
    out[3] = _mm512_permutex2var_ps(a1, h1, b1);
}

/* An 8 x 8 block of rows `stride` floats apart, two rows a register (the
 * upper half inserted: insertf64x4 is AVX512F). */
static inline void gat_v_load_rows8(const float *p, int64_t stride, gat_v *row)
{
    for (int q = 0; q < 4; q++)
        row[q] = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_loadu_pd((const double *)(p + 2 * q * stride))),
            _mm256_loadu_pd((const double *)(p + (2 * q + 1) * stride)), 1));
}

static inline void gat_v_store_rows8(float *p, int64_t stride, const gat_v *row)
{
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_ps(p + 2 * q * stride, _mm512_castps512_ps256(row[q]));
        _mm256_storeu_pd((double *)(p + (2 * q + 1) * stride),
                         _mm512_extractf64x4_pd(_mm512_castps_pd(row[q]), 1));
    }
}

/* ---- rows of any head count (see simd.h): head h in lane h % 16 ---- */

/* p [n] in lanes 0 .. n - 1 (1 <= n <= 16), zeros after; reads nothing
 * past p + n. */
static inline gat_v gat_v_load_first(const float *p, int n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
}

static inline void gat_v_store_first(float *p, gat_v v, int n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v);
}

/* Head h's value of the per-head vector p in every lane. */
static inline gat_v gat_v_lane(const gat_v *p, int h)
{
    return _mm512_permutexvar_ps(_mm512_set1_epi32(h), p[0]);
}

/* A store past the caches (p 64-byte aligned), and the fence that orders
 * such stores before what follows. */
static inline void gat_v_stream(float *p, gat_v v) { _mm512_stream_ps(p, v); }
static inline void gat_v_stream_fence(void) { _mm_sfence(); }

/* One level of gat_v_fold_groups (simd.h): lanes of groups of `width`
 * (16, 8, 4 or 2) of a, then of b, as halves x and y (permutex2var), so
 * x + y sums each group's halves, a's groups first. */
static inline gat_v gat__fold_level(gat_v a, gat_v b, int width)
{
    __m512i x, y;
    switch (width) {
    case 16:
        x = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        y = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        break;
    case 8:
        x = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        y = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        break;
    case 4:
        x = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
        y = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
        break;
    default:
        x = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        y = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        break;
    }
    return _mm512_add_ps(_mm512_permutex2var_ps(a, x, b), _mm512_permutex2var_ps(a, y, b));
}

#endif
