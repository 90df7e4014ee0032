/*
 * The vector vocabulary: the one place where intrinsics are mapped to the
 * operations the edge kernels are written in (after ggml's
 * simd-mappings.h). gat_v is a register of GAT_V_LANES floats of the
 * build's width, gat_vm a lane mask, gat_vu a register's bits:
 *
 *   gat_v_load/store/splat/zero, + - * / as operators,
 *   gat_v_fma         a * b + c, fused exactly where GAT_FMA fuses
 *   gat_v_max         a > b ? a : b (b where either is NaN)
 *   gat_v_gt/ge/lt/ne, gat_vm_or, gat_vm_any, gat_v_select
 *   gat_v_bits/from_bits, gat_v_load_u8 (bytes to floats)
 *   gat_v_leaky_relu  z > 0 ? z : z * slope (NaN takes the product)
 *   gat_v_exp_nonpositive (fast_exp.h, the same polynomial as the scalar)
 *
 * and, for rows of 8 heads (the paper's hidden layer), per-head vectors
 * in GAT_V_HEAD_REGS registers and 8 x 8 rows in GAT_V_ROW8 registers:
 *   gat_v_load_heads8/store_heads8  head register hr of a vector p [8]
 *   gat_v_head_bits8     the lanes whose head's bit is set
 *   gat_v_channel_heads8 channel c of a channel-major row as head register
 *   gat_v_spread_heads8  register u of a head-major row from a head vector
 *   gat_v_transpose8     channel-major <-> head-major
 *   gat_v_load_rows8/store_rows8  an 8 x 8 block of rows `stride` floats
 *                        apart as a row's GAT_V_ROW8 registers
 * A head register lines up with the registers of a channel-major row (at
 * 16 lanes it holds the 8 heads twice), so it multiplies them directly.
 *
 * and, for rows of any head count (up to 16; the inference edge kernel),
 * per-head vectors holding head h in lane h % W of register h / W:
 *   gat_v_load_first/store_first  the first n lanes (zeros after)
 *   gat_v_lane           head h's value in every lane
 *   gat_v_fold_groups    sums of lane groups by halving: v[0..count) hold
 *                        groups of `width` lanes (width = W, or 8 at 16
 *                        lanes), each one head's terms t[0..width), heads
 *                        in order; every group becomes one lane holding
 *                        fold(t) (t[c] + t[c + width / 2] for each c,
 *                        until one is left), so a sum's bits do not depend
 *                        on W; returns the registers the heads now fill
 *   gat_v_stream, gat_v_stream_fence  stores past the caches (plain ones
 *                        where the back end has none)
 *
 * Every operation is lane by lane what the plain loops compute, so a
 * kernel written over the vocabulary gives their bits in any back end.
 * The back end follows the compiler's predefined macros:
 *   AVX-512 (__AVX512F__ and __FMA__)  simd_avx512.h, 16 lanes
 *   AVX2 + FMA                         simd_avx2.h, 8 lanes
 *   GNU C vectors (GCC, clang)         simd_gnu.h, 4 lanes (8 with AVX)
 *   otherwise                          simd_scalar.h, 1 lane
 * -DGAT_NO_AVX512_INTRINSICS skips AVX-512 (the next one that applies is
 * taken) and -DGAT_SIMD_SCALAR forces the scalar one, to measure and test
 * them on one machine.
 */
#ifndef GAT_SIMD_H
#define GAT_SIMD_H

#include "fma.h"

#include <stdint.h>

#if defined(GAT_SIMD_SCALAR)
#include "simd_scalar.h"
#elif defined(__AVX512F__) && defined(__FMA__) && !defined(GAT_NO_AVX512_INTRINSICS)
#include "simd_avx512.h"
#elif defined(__AVX2__) && defined(__FMA__)
#include "simd_avx2.h"
#elif defined(__GNUC__)
#include "simd_gnu.h"
#else
#include "simd_scalar.h"
#endif

/* Registers of a per-head vector of 8 heads, and of a row of 8 x 8. */
#define GAT_V_HEAD_REGS (GAT_V_LANES >= 8 ? 1 : 8 / GAT_V_LANES)
#define GAT_V_ROW8 (64 / GAT_V_LANES)

#define GAT_V_FUSED GAT_FMA_FUSED

/* Asks GCC to vectorize a loop over heads as a loop. At a fixed shape of a
 * few heads GCC otherwise unrolls it completely first and then fails to
 * vectorize the straight-line code (the LeakyReLU and max selects stay
 * scalar branches, taken at random). Clang vectorizes these loops on its
 * own, and warns where a request cannot be honoured (a loop of one head),
 * so it gets no request. */
#if defined(_OPENMP) && defined(__GNUC__) && !defined(__clang__)
#define GAT_SIMD _Pragma("omp simd")
#else
#define GAT_SIMD
#endif

#if GAT_V_LANES <= 8
/* See above: row r of the block is registers r * 8 / W .. of the row, as
 * a row stored at p [64] loads (the 16-lane back end has its own, two
 * rows a register). */
static inline void gat_v_load_rows8(const float *p, int64_t stride, gat_v *row)
{
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 8 / GAT_V_LANES; j++)
            row[r * (8 / GAT_V_LANES) + j] = gat_v_load(p + r * stride + j * GAT_V_LANES);
}

static inline void gat_v_store_rows8(float *p, int64_t stride, const gat_v *row)
{
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 8 / GAT_V_LANES; j++)
            gat_v_store(p + r * stride + j * GAT_V_LANES, row[r * (8 / GAT_V_LANES) + j]);
}
#endif

/* See above; each back end's gat__fold_level does one level over a pair
 * of registers (an odd one out pairs with zeros, whose sums no head
 * reads). */
static inline int gat_v_fold_groups(gat_v *v, int count, int width)
{
    for (; width > 1; width /= 2) {
        const int pairs = (count + 1) / 2;
        for (int p = 0; p < pairs; p++)
            v[p] = gat__fold_level(v[2 * p], 2 * p + 1 < count ? v[2 * p + 1] : gat_v_zero(),
                                   width);
        count = pairs;
    }
    return count;
}

static inline gat_v gat_v_leaky_relu(gat_v z, gat_v slope)
{
    return gat_v_select(gat_v_gt(z, gat_v_zero()), z, z * slope);
}

#endif
