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

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The constants of every version here and of the register kernels
 * (attention_avx512.h, attention_vec.h), which must agree with them:
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

static inline float gat__exp_nonpositive(float x)
{
    const float lowest = GAT_EXP_LOWEST, round_magic = GAT_EXP_ROUND_MAGIC;
    /* Written so that NaN (from parameters whose float32 scores overflow
     * to inf - inf) takes the clamp: converting NaN to int32 below would be
     * undefined behaviour. NaN is handed back unchanged at the end. */
    float clamped = x >= lowest ? x : lowest;
    float n = (clamped * GAT_EXP_LOG2E + round_magic) - round_magic;
    float r = clamped - n * GAT_EXP_LN2_HI;
    r = r + n * GAT_EXP_LN2_LO_NEG;
    float p = GAT_EXP_P0;
    p = p * r + GAT_EXP_P1;
    p = p * r + GAT_EXP_P2;
    p = p * r + GAT_EXP_P3;
    p = p * r + GAT_EXP_P4;
    p = p * r + GAT_EXP_P5;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x >= lowest ? p * scale : (x < lowest ? 0.0f : x);
}

/* gat__exp_nonpositive with the polynomial and the range reduction in
 * fused multiply-adds: half the dependent operations, so it runs about
 * 1.5x faster where exps are the critical path (the training edge pass),
 * with at most the same error. n = round(x log2 e) may differ by one from
 * the unfused form near half-integers, which only moves r within its
 * range. Without FMA hardware fmaf would be a libm call; the plain
 * version is used there. */
static inline float gat__exp_nonpositive_fma(float x)
{
#if defined(__FMA__) || defined(FP_FAST_FMAF)
    const float lowest = GAT_EXP_LOWEST, round_magic = GAT_EXP_ROUND_MAGIC;
    const float clamped = x >= lowest ? x : lowest;
    const float n = fmaf(clamped, GAT_EXP_LOG2E, round_magic) - round_magic;
    float r = fmaf(n, -GAT_EXP_LN2_HI, clamped);
    r = fmaf(n, GAT_EXP_LN2_LO_NEG, r);
    float p = GAT_EXP_P0;
    p = fmaf(p, r, GAT_EXP_P1);
    p = fmaf(p, r, GAT_EXP_P2);
    p = fmaf(p, r, GAT_EXP_P3);
    p = fmaf(p, r, GAT_EXP_P4);
    p = fmaf(p, r, GAT_EXP_P5);
    p = fmaf(p, r * r, r + 1.0f);
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x >= lowest ? p * scale : (x < lowest ? 0.0f : x);
#else
    return gat__exp_nonpositive(x);
#endif
}

/* expm1(x) for x <= 0 without libm's scalar call, so ELU loops vectorize:
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), then
 *   expm1(x) = 2^n expm1(r) + (2^n - 1),
 * expm1(r) by its Taylor series to r^8 (truncation 0.35^9 / 9! < 1e-9
 * relative). Both terms are exact or one rounding each, so the result is
 * within a few ulp of expm1 everywhere, including near 0 where exp(x) - 1
 * would cancel. x below -88 gives -1 (2^n underflows to 0). The rounding
 * to n uses the 1.5 * 2^23 trick, which needs the default rounding mode
 * and no -ffast-math (the build uses neither). Fused multiply-adds where
 * the hardware has them: half the dependent operations. */
static inline float gat__expm1_nonpositive(float x)
{
    const float round_magic = GAT_EXP_ROUND_MAGIC;
    x = x < -88.0f ? -88.0f : x;
#if defined(__FMA__) || defined(FP_FAST_FMAF)
#define GAT_EXPM1_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define GAT_EXPM1_FMA(a, b, c) ((a) * (b) + (c))
#endif
    const float n = GAT_EXPM1_FMA(x, GAT_EXP_LOG2E, round_magic) - round_magic;
    float r = GAT_EXPM1_FMA(n, -GAT_EXP_LN2_HI, x);
    r = GAT_EXPM1_FMA(n, GAT_EXP_LN2_LO_NEG, r);
    float p = 1.0f / 40320.0f;
    p = GAT_EXPM1_FMA(p, r, 1.0f / 5040.0f);
    p = GAT_EXPM1_FMA(p, r, 1.0f / 720.0f);
    p = GAT_EXPM1_FMA(p, r, 1.0f / 120.0f);
    p = GAT_EXPM1_FMA(p, r, 1.0f / 24.0f);
    p = GAT_EXPM1_FMA(p, r, 1.0f / 6.0f);
    p = GAT_EXPM1_FMA(p, r, 0.5f);
    p = GAT_EXPM1_FMA(p, r, 1.0f);
    const float em = p * r;
    const int32_t bits = ((int32_t)n + 127) << 23; /* 2^n; 0 for n = -127 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return GAT_EXPM1_FMA(scale, em, scale - 1.0f);
#undef GAT_EXPM1_FMA
}

#endif
