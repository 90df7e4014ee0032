/*
 * a * b + c in one rounding where the hardware has fused multiply-add.
 * ISO C mode (-std=c11) forbids the compiler from fusing on its own, which
 * halves the throughput of the GEMM and aggregation loops; writing fmaf
 * explicitly keeps the result defined (and the same at any thread count)
 * while using the FMA units. Without FMA hardware fmaf would be a slow
 * libm call, so the unfused form is used there. GAT_FMA_FUSED says which:
 * every vector back end's gat_v_fma (simd.h) follows it, so a register
 * kernel gives the plain loops' bits.
 */
#ifndef GAT_FMA_H
#define GAT_FMA_H

#include <math.h>

#if defined(__FMA__) || defined(FP_FAST_FMAF)
#define GAT_FMA(a, b, c) fmaf((a), (b), (c))
#define GAT_FMA_FUSED 1
#else
#define GAT_FMA(a, b, c) ((a) * (b) + (c))
#define GAT_FMA_FUSED 0
#endif

#endif
