/*
 * The per-node attention scores (score[n, h] = sum_c projected[n, h, c] *
 * att[h, c]) in GNU C vector registers, for machines without AVX-512 (or
 * builds that leave its intrinsics out): C = 8 with H even or C a
 * multiple of 16, H <= 16 and H * C <= 256, the shapes the vector edge
 * kernel (attention_vec.h) takes. Included by projection.c, which stores
 * the scores, and by attention.c, whose edge pass computes them from the
 * projected rows it reads; both go through gat__row_scores_vec, so a
 * score has the same bits whichever computed it.
 *
 * Why: as a plain loop this is a reduction over 8 or 16 channels per
 * head, which gcc 12 leaves scalar. Here the vector width W is the
 * vocabulary's (simd.h: 16 floats with AVX-512, 8 with AVX2, else 4, as
 * SSE2 and NEON have), and a row's products sit in H registers (C >= W; C / W
 * registers per head are first added by multiply-adds) or H / 2 (C = 8,
 * W = 16: two heads a register). A pairwise tree sums them: each level
 * adds the even and odd elements of a pair of registers, first floats
 * within 128-bit blocks (one shufps per operand on x86), then whole
 * 128-bit blocks (one vperm2f128 / vshuff32x4), so no level shuffles
 * across a whole register lane by lane. Each head's sum is the same
 * additions in the same order whichever register it shares, so the bits
 * depend on neither threads nor the caller.
 *
 * GCC >= 12 and clang both have __builtin_shufflevector; older compilers
 * keep the plain loops.
 */
#ifndef GAT_NODE_SCORES_VEC_H
#define GAT_NODE_SCORES_VEC_H

#include "internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"

#if GAT_V_LANES > 1 && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define GAT_HAVE_VEC_KERNELS 1
#endif
#endif
#ifndef GAT_HAVE_VEC_KERNELS
#define GAT_HAVE_VEC_KERNELS 0
#endif

#if GAT_HAVE_VEC_KERNELS

/* The vocabulary's register (simd.h): the machine's width, since wider
 * vectors than the hardware has would be split by the compiler, and their
 * shuffles done through the stack (gcc 12 on AVX2 with 64-byte vectors).
 * Operators and __builtin_shufflevector work on it in every vector back
 * end; lane masks from comparison operators are gat_vi. */
#define GAT_VLANES GAT_V_LANES
typedef gat_v gat_vf;
typedef int gat_vi __attribute__((vector_size(GAT_VLANES * sizeof(int))));

/* Score vectors a row takes: heads h in lane h % W of vector h / W. */
#define GAT_VEC_SCORE_VECTORS ((16 + GAT_VLANES - 1) / GAT_VLANES)

/* The shapes the vector kernels take; others keep the plain loops. */
static inline bool gat__vec_shape(int64_t heads, int64_t channels)
{
    if (heads < 1 || heads > 16 || channels < 1 || heads * channels > 256)
        return false;
    return (channels == 8 && heads % 2 == 0) || channels % 16 == 0;
}

/* A lane index repeated, for shuffle masks. */
#define GAT_R4(x) x, x, x, x
#define GAT_R8(x) GAT_R4(x), GAT_R4(x)

/* One tree level over registers a and b (their lanes in 128-bit blocks
 * of 4): within each block, the even floats of a's block, then b's, plus
 * the odd ones; the block's four lanes are a's two pair sums, then b's. */
static inline gat_vf gat__vf_add_pairs(gat_vf a, gat_vf b)
{
#if GAT_VLANES == 16
    return __builtin_shufflevector(a, b, 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28,
                                   30) +
           __builtin_shufflevector(a, b, 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15, 29, 31);
#elif GAT_VLANES == 8
    return __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) +
           __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
#else
    return __builtin_shufflevector(a, b, 0, 2, 4, 6) + __builtin_shufflevector(a, b, 1, 3, 5, 7);
#endif
}

#if GAT_VLANES > 4
/* The same level over whole 128-bit blocks: a's even blocks, then b's,
 * plus the odd ones. */
static inline gat_vf gat__vf_add_block_pairs(gat_vf a, gat_vf b)
{
#if GAT_VLANES == 16
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30,
                                   31);
#else
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
#endif
}
#endif

/* Sums v[0..count) in lane groups of `group` lanes (4, 8 or 16, at most
 * W) down to one lane a group, in place, pairing registers at each level
 * (an odd one out with zeros). Returns the number of registers left,
 * count * group / W rounded up. Register k's groups end in consecutive
 * lanes, in order, except for group 8 of W 16 (gat__row_scores_vec
 * permutes those). */
static GAT_ALWAYS_INLINE int gat__vec_tree(gat_vf *v, int count, int group)
{
    const gat_vf zero = {0};
    for (int width = 1; width < group; width *= 2) {
        const int pairs = (count + 1) / 2;
        for (int p = 0; p < pairs; p++) {
            const gat_vf a = v[2 * p], b = 2 * p + 1 < count ? v[2 * p + 1] : zero;
#if GAT_VLANES > 4
            v[p] = width < 4 ? gat__vf_add_pairs(a, b) : gat__vf_add_block_pairs(a, b);
#else
            v[p] = gat__vf_add_pairs(a, b);
#endif
        }
        count = pairs;
    }
    return count;
}

/* The score vectors of one row: out[b] lane l is the score of head
 * b * W + l; lanes past the last head are 0. heads and channels are
 * constants at the call sites that matter. */
static GAT_ALWAYS_INLINE void gat__row_scores_vec(const float *restrict row,
                                                  const float *restrict att, const int64_t heads,
                                                  const int64_t channels, gat_vf *out)
{
    gat_vf v[16];
    v[0] = (gat_vf){0};          /* heads >= 1 is the caller's, unseen by the compiler */
    if (channels < GAT_VLANES) { /* C = 8, W = 16: two heads a register */
        for (int64_t r = 0; r < heads / 2; r++)
            v[r] = gat_v_load(row + GAT_VLANES * r) * gat_v_load(att + GAT_VLANES * r);
        gat__vec_tree(v, (int)(heads / 2), (int)channels);
#if GAT_VLANES == 16
        /* The tree leaves even heads in blocks 0 and 2, odd in 1 and 3. */
        v[0] = __builtin_shufflevector(v[0], v[0], 0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11,
                                       15);
#endif
    } else {
        const int64_t per_head = channels / GAT_VLANES;
        for (int64_t h = 0; h < heads; h++) {
            const float *restrict r = row + h * channels, *restrict a = att + h * channels;
            gat_vf s = gat_v_load(r) * gat_v_load(a);
            for (int64_t k = 1; k < per_head; k++)
                s = gat_v_fma(gat_v_load(r + GAT_VLANES * k), gat_v_load(a + GAT_VLANES * k),
                                s);
            v[h] = s;
        }
        gat__vec_tree(v, (int)heads, GAT_VLANES);
    }
    for (int64_t b = 0; b < (heads + GAT_VLANES - 1) / GAT_VLANES; b++)
        out[b] = v[b];
}

/* Stores the first `heads` lanes of score vectors v to score [heads]. */
static GAT_ALWAYS_INLINE void gat__store_scores_vec(float *restrict score, const gat_vf *v,
                                                    const int64_t heads)
{
    for (int64_t b = 0; b * GAT_VLANES < heads; b++) {
        const int64_t left = heads - b * GAT_VLANES;
        memcpy(score + b * GAT_VLANES, &v[b],
               (size_t)(left < GAT_VLANES ? left : GAT_VLANES) * sizeof(float));
    }
}

/* Scores of `rows` rows of projected [rows, H*C], heads and channels
 * constant at the call site. */
static GAT_ALWAYS_INLINE void node_scores_vec(const float *restrict projected, int64_t rows,
                                              const int64_t heads, const int64_t channels,
                                              const float *restrict att_src,
                                              const float *restrict att_dst,
                                              float *restrict score_src, float *restrict score_dst)
{
    for (int64_t n = 0; n < rows; n++) {
        const float *restrict row = projected + n * heads * channels;
        gat_vf v[GAT_VEC_SCORE_VECTORS] = {{0}};
        gat__row_scores_vec(row, att_src, heads, channels, v);
        gat__store_scores_vec(score_src + n * heads, v, heads);
        gat__row_scores_vec(row, att_dst, heads, channels, v);
        gat__store_scores_vec(score_dst + n * heads, v, heads);
    }
}

#endif

#endif
