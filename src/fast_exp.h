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

#include <stdint.h>
#include <string.h>

static inline float gat__exp_nonpositive(float x)
{
    const float lowest = -87.33654f; /* ln(2^-126): the smallest normal result */
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to integer */
    /* Written so that NaN (from parameters whose float32 scores overflow
     * to inf - inf) takes the clamp: converting NaN to int32 below would be
     * undefined behaviour. NaN is handed back unchanged at the end. */
    float clamped = x >= lowest ? x : lowest;
    float n = (clamped * 1.44269504088896341f + round_magic) - round_magic;
    float r = clamped - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x >= lowest ? p * scale : (x < lowest ? 0.0f : x);
}

#endif
