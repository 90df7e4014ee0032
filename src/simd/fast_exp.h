/*
 * exp(x) for the softmax, written so the compiler can vectorize it (libm's
 * expf is an opaque call that keeps the edge loop scalar). Cephes' expf
 * scheme: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r, 2^n
 * built in the exponent bits. Relative error about 2e-7 (2 ulp), far below
 * the 1e-4 the layer is held to. Inputs below -87.3 give exactly 0 (as
 * expf's underflow does for the softmax's purposes); NaN gives NaN, as
 * expf does; inputs are never above 0 here (scores minus their running
 * max).
 */
#ifndef GAT_FAST_EXP_H
#define GAT_FAST_EXP_H

#include "simd.h"
#include "simd_scalar_ops.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The constants of the exp:
 * x = n ln2 + r with ln2 split in a part exact in float and the rest
 * (LN2_HI - LN2_LO_NEG), e^r = 1 + r + r^2 (P5 + r (P4 + ... r P0)). */
#define GAT_EXP_LOWEST (-87.33654f)        /* ln(2^-126): the smallest normal result */
#define GAT_EXP_ROUND_MAGIC 12582912.0f    /* 1.5 * 2^23: adding it rounds to integer */
#define GAT_EXP_LOG2E 1.44269504088896341f
#define GAT_EXP_LN2_HI 0.693359375f
#define GAT_EXP_LN2_LO_NEG 2.12194440e-4f  /* ln2 = LN2_HI - LN2_LO_NEG */
#define GAT_EXP_P0 1.9875691500e-4f
#define GAT_EXP_P1 1.3981999507e-3f
#define GAT_EXP_P2 8.3334519073e-3f
#define GAT_EXP_P3 4.1665795894e-2f
#define GAT_EXP_P4 1.6666665459e-1f
#define GAT_EXP_P5 5.0000001201e-1f

/* The exp above, written once over an operation set P of simd.h's
 * vocabulary (gat_v_, or simd_scalar_ops.h's gat_sf_ and gat_sp_), so the
 * scalar and vector versions are the same operations and give the same
 * bits lane by lane. FUSED: the set's multiply-add is fused, and the
 * polynomial's last step is one more of them (p r^2 + (r + 1)); unfused,
 * ((p r) r + r) + 1, as the plain loops always computed it.
 *
 * Written so that NaN (from parameters whose float32 scores overflow to
 * inf - inf) takes the clamp, and is handed back unchanged at the end.
 * 2^n is built from t = round(x log2 e) + 1.5 * 2^23, which lies in
 * [2^23, 2^24) where floats are the integers one apart, so t's bits are
 * the magic's plus n: no float-to-integer conversion (undefined behaviour
 * out of range), and the integer arithmetic is unsigned. n = round(x log2
 * e) may differ by one between fused and unfused forms near
 * half-integers, which only moves r within its range. */
#define GAT__DEFINE_EXP_NONPOSITIVE(NAME, T, MASK, P, FUSED)                                   \
    static inline T NAME(T x)                                                                  \
    {                                                                                          \
        const T lowest = P##_splat(GAT_EXP_LOWEST), magic = P##_splat(GAT_EXP_ROUND_MAGIC);    \
        const MASK in_range = P##_ge(x, lowest), below = P##_lt(x, lowest); /* NaN: neither */ \
        const T clamped = P##_select(in_range, x, lowest);                                    \
        const T t = P##_fma(clamped, P##_splat(GAT_EXP_LOG2E), magic);                         \
        const T n = t - magic;                                                                 \
        T r = P##_fma(n, P##_splat(-GAT_EXP_LN2_HI), clamped);                                 \
        r = P##_fma(n, P##_splat(GAT_EXP_LN2_LO_NEG), r);                                      \
        T p = P##_splat(GAT_EXP_P0);                                                           \
        p = P##_fma(p, r, P##_splat(GAT_EXP_P1));                                              \
        p = P##_fma(p, r, P##_splat(GAT_EXP_P2));                                              \
        p = P##_fma(p, r, P##_splat(GAT_EXP_P3));                                              \
        p = P##_fma(p, r, P##_splat(GAT_EXP_P4));                                              \
        p = P##_fma(p, r, P##_splat(GAT_EXP_P5));                                              \
        const T one = P##_splat(1.0f);                                                         \
        if (FUSED)                                                                             \
            p = P##_fma(p, r * r, r + one);                                                    \
        else                                                                                   \
            p = p * r * r + r + one;                                                           \
        const T scale = P##_from_bits((P##_bits(t) - P##_bits(magic) + 127u) << 23);           \
        /* in range: the polynomial; below: 0; NaN: itself */                                 \
        return P##_select(in_range, p * scale, P##_select(below, P##_splat(0.0f), x));         \
    }

/* Unfused everywhere: the inference plain loops' exp (attention.c). */
GAT__DEFINE_EXP_NONPOSITIVE(gat__exp_nonpositive, float, bool, gat_sp, GAT_SP_FUSED)

/* With the polynomial and the range reduction in fused multiply-adds where
 * the hardware has them (GAT_FMA): half the dependent operations, so it
 * runs about 1.5x faster where exps are the critical path (the training
 * edge pass), with at most the same error. Without FMA it is the unfused
 * version above. */
GAT__DEFINE_EXP_NONPOSITIVE(gat__exp_nonpositive_fma, float, bool, gat_sf, GAT_SF_FUSED)

/* gat__exp_nonpositive_fma on a register of the build's width. */
GAT__DEFINE_EXP_NONPOSITIVE(gat_v_exp_nonpositive, gat_v, gat_vm, gat_v, GAT_V_FUSED)

/* expm1(x) for x <= 0 without libm's scalar call, so ELU loops vectorize:
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), then
 *   expm1(x) = 2^n expm1(r) + (2^n - 1),
 * expm1(r) by its Taylor series to r^8 (truncation 0.35^9 / 9! < 1e-9
 * relative). Both terms are exact or one rounding each, so the result is
 * within a few ulp of expm1 everywhere, including near 0 where exp(x) - 1
 * would cancel. x below -88 gives -1 (2^n underflows to 0). The rounding
 * to n uses the 1.5 * 2^23 trick, which needs the default rounding mode
 * and no -ffast-math (the build uses neither). Fused multiply-adds where
 * the hardware has them: half the dependent operations. Written once over
 * an operation set, as the exp, for the plain loops and the registers. */
#define GAT__DEFINE_EXPM1_NONPOSITIVE(NAME, T, P)                                               \
    static inline T NAME(T x)                                                                  \
    {                                                                                          \
        const T floor = P##_splat(-88.0f), magic = P##_splat(GAT_EXP_ROUND_MAGIC);             \
        x = P##_select(P##_lt(x, floor), floor, x);                                            \
        const T t = P##_fma(x, P##_splat(GAT_EXP_LOG2E), magic);                               \
        const T n = t - magic;                                                                 \
        T r = P##_fma(n, P##_splat(-GAT_EXP_LN2_HI), x);                                       \
        r = P##_fma(n, P##_splat(GAT_EXP_LN2_LO_NEG), r);                                      \
        T p = P##_splat(1.0f / 40320.0f);                                                      \
        p = P##_fma(p, r, P##_splat(1.0f / 5040.0f));                                          \
        p = P##_fma(p, r, P##_splat(1.0f / 720.0f));                                           \
        p = P##_fma(p, r, P##_splat(1.0f / 120.0f));                                           \
        p = P##_fma(p, r, P##_splat(1.0f / 24.0f));                                            \
        p = P##_fma(p, r, P##_splat(1.0f / 6.0f));                                             \
        p = P##_fma(p, r, P##_splat(0.5f));                                                    \
        p = P##_fma(p, r, P##_splat(1.0f));                                                    \
        const T em = p * r;                                                                    \
        /* 2^n from t's bits, as in the exp; 0 for n = -127 */                                 \
        const T scale = P##_from_bits((P##_bits(t) - P##_bits(magic) + 127u) << 23);           \
        return P##_fma(scale, em, scale - P##_splat(1.0f));                                    \
    }

GAT__DEFINE_EXPM1_NONPOSITIVE(gat__expm1_nonpositive, float, gat_sf)

/* The same on a register, for the ELU the register kernels apply. */
GAT__DEFINE_EXPM1_NONPOSITIVE(gat_v_expm1_nonpositive, gat_v, gat_v)

#endif
