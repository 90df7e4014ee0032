/*
 * The generic back end of the vector vocabulary (simd.h): GNU C vector
 * extensions (GCC, clang) of 16 bytes (SSE2, NEON; 32 with AVX but no
 * FMA), compiled to whatever the target has: aarch64 builds get NEON.
 * Included by simd.h only. Multiply-add is a lane loop of fmaf where
 * GAT_FMA fuses (clang makes it NEON's fmla), else a * b + c, as GAT_FMA.
 * Shuffles the extensions do not spell portably (the 8 x 8 transpose)
 * go through a small buffer; the compiler keeps it in registers where it
 * can.
 */
#ifndef GAT_SIMD_GNU_H
#define GAT_SIMD_GNU_H

#include "fma.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX__)
#define GAT_V_LANES 8
#else
#define GAT_V_LANES 4
#endif
#define GAT_V_BACKEND "vector"

typedef float gat_v __attribute__((vector_size(GAT_V_LANES * sizeof(float))));
typedef int32_t gat_vm __attribute__((vector_size(GAT_V_LANES * sizeof(int32_t))));
typedef uint32_t gat_vu __attribute__((vector_size(GAT_V_LANES * sizeof(uint32_t))));

static inline gat_v gat_v_load(const float *p)
{
    gat_v v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void gat_v_store(float *p, gat_v v) { memcpy(p, &v, sizeof v); }
/* A compound literal, not a lane loop: both compilers make it one
 * broadcast. */
static inline gat_v gat_v_splat(float x)
{
#if GAT_V_LANES == 8
    return (gat_v){x, x, x, x, x, x, x, x};
#else
    return (gat_v){x, x, x, x};
#endif
}
static inline gat_v gat_v_zero(void) { return gat_v_splat(0.0f); }
static inline gat_v gat_v_fma(gat_v a, gat_v b, gat_v c)
{
#if GAT_FMA_FUSED
    gat_v r;
    for (int l = 0; l < GAT_V_LANES; l++)
        r[l] = fmaf(a[l], b[l], c[l]);
    return r;
#else
    return a * b + c;
#endif
}
static inline gat_vm gat_v_gt(gat_v a, gat_v b) { return a > b; }
static inline gat_vm gat_v_ge(gat_v a, gat_v b) { return a >= b; }
static inline gat_vm gat_v_lt(gat_v a, gat_v b) { return a < b; }
/* a != b, true for NaN */
static inline gat_vm gat_v_ne(gat_v a, gat_v b) { return a != b; }
static inline gat_vm gat_vm_or(gat_vm a, gat_vm b) { return a | b; }
static inline bool gat_vm_any(gat_vm m)
{
    int32_t any = 0;
    for (int l = 0; l < GAT_V_LANES; l++)
        any |= m[l];
    return any != 0;
}
/* C has no vector ?: (GNU C++ only). */
static inline gat_v gat_v_select(gat_vm where, gat_v a, gat_v b)
{
    return (gat_v)((where & (gat_vm)a) | (~where & (gat_vm)b));
}
/* a > b ? a : b (b where either is NaN), as the plain loops' maximum. */
static inline gat_v gat_v_max(gat_v a, gat_v b) { return gat_v_select(a > b, a, b); }
static inline gat_vu gat_v_bits(gat_v v) { return (gat_vu)v; }
static inline gat_v gat_v_from_bits(gat_vu u) { return (gat_v)u; }

/* p [W] bytes as floats. */
static inline gat_v gat_v_load_u8(const uint8_t *p)
{
    gat_v v;
    for (int l = 0; l < GAT_V_LANES; l++)
        v[l] = (float)p[l];
    return v;
}

/* ---- 8 heads (see simd.h): register hr of a head vector holds heads
 * hr * W .. hr * W + W - 1 ---- */

static inline gat_v gat_v_load_heads8(const float *p, int hr)
{
    return gat_v_load(p + hr * GAT_V_LANES);
}

static inline void gat_v_store_heads8(float *p, gat_v v, int hr)
{
    gat_v_store(p + hr * GAT_V_LANES, v);
}

/* Lanes whose head's bit of bits is set. */
static inline gat_vm gat_v_head_bits8(unsigned bits, int hr)
{
#if GAT_V_LANES == 8
    const gat_vm lane_bit = {1, 2, 4, 8, 16, 32, 64, 128};
#else
    const gat_vm lane_bit = {1, 2, 4, 8};
#endif
    const int32_t mine = (int32_t)(bits >> (hr * GAT_V_LANES));
    return ((lane_bit & mine) != 0);
}

/* Register u of a head-major row (head u * W / 8): that head's value. */
static inline gat_v gat_v_spread_heads8(const gat_v *h, int u)
{
    const int head = u * GAT_V_LANES / 8;
    return gat_v_splat(h[head / GAT_V_LANES][head % GAT_V_LANES]);
}

/* Channel c of a channel-major row, head register hr. */
static inline gat_v gat_v_channel_heads8(const gat_v *row, int c, int hr)
{
    return row[c * (8 / GAT_V_LANES) + hr];
}

static inline void gat_v_transpose8(const gat_v *in, gat_v *out)
{
    float a[64], b[64];
    memcpy(a, in, sizeof a);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            b[c * 8 + r] = a[r * 8 + c];
    memcpy(out, b, sizeof b);
}

/* ---- rows of any head count (see simd.h): head h in lane h % W of
 * register h / W ---- */

/* p [n] in lanes 0 .. n - 1 (1 <= n <= W), zeros after; reads nothing
 * past p + n. */
static inline gat_v gat_v_load_first(const float *p, int n)
{
    if (n >= GAT_V_LANES)
        return gat_v_load(p);
    gat_v v = gat_v_zero();
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

static inline void gat_v_store_first(float *p, gat_v v, int n)
{
    memcpy(p, &v, (size_t)(n < GAT_V_LANES ? n : GAT_V_LANES) * sizeof(float));
}

/* Head h's value of the per-head vector p in every lane. */
static inline gat_v gat_v_lane(const gat_v *p, int h)
{
    return gat_v_splat(p[h / GAT_V_LANES][h % GAT_V_LANES]);
}

/* Plain stores: the extensions have no portable streaming store. */
static inline void gat_v_stream(float *p, gat_v v) { gat_v_store(p, v); }
static inline void gat_v_stream_fence(void) {}

/* One level of gat_v_fold_groups (simd.h); width is W at the first (a
 * group a register). Adds the halves of every group of a pair of
 * registers, a's groups first, so the heads stay in order. */
static inline gat_v gat__fold_level(gat_v a, gat_v b, int width)
{
    const int half = width / 2, groups = GAT_V_LANES / width;
    gat_v r;
    for (int l = 0; l < GAT_V_LANES; l++) {
        const int group = l / half, from = (group % groups) * width + l % half;
        r[l] = group >= groups ? b[from] + b[from + half] : a[from] + a[from + half];
    }
    return r;
}

#endif
