/*
 * The per-node attention scores (score[n, h] = sum_c projected[n, h, c] *
 * att[h, c], for att_src and att_dst at once) in AVX-512 registers, for
 * C = 8 with H even or C a multiple of 16, H <= 16. Included by
 * projection.c only; its portable loop serves every other shape.
 *
 * Why: the portable loop is a reduction over 8 or 16 channels per head,
 * which gcc 12 leaves scalar; it took a quarter of the projection time
 * next to the GEMM. Here a row's products sit in 2H registers and one
 * pairwise tree of permute + add sums every head of both vectors: each
 * level halves the width of the lane groups still to be summed and
 * doubles their number per register, until one lane is one head's score.
 * The tree is the same for every row, so bits do not depend on threads.
 */
#ifndef GAT_NODE_SCORES_AVX512_H
#define GAT_NODE_SCORES_AVX512_H

#if defined(__AVX512F__)
#define GAT_HAVE_AVX512_NODE_SCORES 1
#include <immintrin.h>

static inline bool gat__avx512_scores_shape(int64_t heads, int64_t channels)
{
    if (heads < 1 || heads > 16)
        return false;
    return (channels == 8 && heads % 2 == 0) || (channels > 0 && channels % 16 == 0);
}

/* permutex2var indexes for one tree level whose inputs hold lane groups
 * of width `width`: the first (x) and second (y) halves of every group,
 * the first input's groups before the second's. */
static inline void gat__tree_level_indexes(int width, __m512i *x, __m512i *y)
{
    int32_t xi[16], yi[16];
    const int half = width / 2, groups = 16 / width;
    for (int lane = 0; lane < 16; lane++) {
        const int out_group = lane / half, pos = lane % half;
        const int from_second = out_group >= groups ? 16 : 0;
        xi[lane] = from_second + (out_group % groups) * width + pos;
        yi[lane] = xi[lane] + half;
    }
    *x = _mm512_loadu_si512(xi);
    *y = _mm512_loadu_si512(yi);
}

typedef struct gat__score_tree {
    __m512i x[4], y[4]; /* levels for widths 16, 8, 4, 2 */
} gat__score_tree;

static inline void gat__score_tree_init(gat__score_tree *t)
{
    for (int level = 0, width = 16; width > 1; level++, width /= 2)
        gat__tree_level_indexes(width, &t->x[level], &t->y[level]);
}

/* Sums lane groups of width `width` in v[0..count) down to single lanes,
 * in place: on return v[0..) holds count * 16 / width sums, 16 a register,
 * in input order. count <= 32. Returns the number of registers left. */
static GAT_ALWAYS_INLINE int gat__score_tree_reduce(const gat__score_tree *t, __m512 *v, int count,
                                                int width)
{
    for (int level = width == 16 ? 0 : 1; width > 1; level++, width /= 2) {
        const int pairs = (count + 1) / 2;
        for (int p = 0; p < pairs; p++) {
            const __m512 a = v[2 * p];
            const __m512 b = 2 * p + 1 < count ? v[2 * p + 1] : _mm512_setzero_ps();
            v[p] = _mm512_add_ps(_mm512_permutex2var_ps(a, t->x[level], b),
                                 _mm512_permutex2var_ps(a, t->y[level], b));
        }
        count = pairs;
    }
    return count;
}

/* The products row[h, c] * att[h, c] in registers, ready for the tree:
 * H/2 registers of two 8-lane heads when C = 8, else one register per
 * head (its C/16 registers summed first). Returns how many. */
static GAT_ALWAYS_INLINE int gat__head_products(const float *restrict row,
                                                const float *restrict att, const int64_t heads,
                                                const int64_t channels, __m512 *out)
{
    if (channels == 8) {
        for (int64_t r = 0; r < heads / 2; r++)
            out[r] = _mm512_mul_ps(_mm512_loadu_ps(row + 16 * r), _mm512_loadu_ps(att + 16 * r));
        return (int)(heads / 2);
    }
    for (int64_t h = 0; h < heads; h++) {
        __m512 s =
            _mm512_mul_ps(_mm512_loadu_ps(row + h * channels), _mm512_loadu_ps(att + h * channels));
        for (int64_t r = 1; r < channels / 16; r++)
            s = _mm512_fmadd_ps(_mm512_loadu_ps(row + h * channels + 16 * r),
                                _mm512_loadu_ps(att + h * channels + 16 * r), s);
        out[h] = s;
    }
    return (int)heads;
}

/* One score vector of one row: lanes 0..H-1 hold sum_c row[h, c] *
 * att[h, c], the same bits node_scores_avx512 stores (each head's sum is
 * the same pairwise additions whichever lanes the tree puts it in). */
static GAT_ALWAYS_INLINE __m512 gat__row_scores_avx512(const gat__score_tree *tree,
                                                       const float *restrict row,
                                                       const float *restrict att,
                                                       const int64_t heads,
                                                       const int64_t channels)
{
    __m512 v[16];
    v[0] = _mm512_setzero_ps(); /* heads >= 1 is the caller's, unseen by the compiler */
    const int count = gat__head_products(row, att, heads, channels, v);
    gat__score_tree_reduce(tree, v, count, channels == 8 ? 8 : 16);
    return v[0];
}

/* Scores of `rows` rows of projected [rows, H*C], heads and channels
 * constant at the call site. */
static GAT_ALWAYS_INLINE void node_scores_avx512(const float *restrict projected, int64_t rows,
                                             const int64_t heads, const int64_t channels,
                                             const float *restrict att_src,
                                             const float *restrict att_dst,
                                             float *restrict score_src,
                                             float *restrict score_dst)
{
    gat__score_tree tree;
    gat__score_tree_init(&tree);
    const int64_t hc = heads * channels;
    const int width = channels == 8 ? 8 : 16;
    const int64_t per_vector = channels == 8 ? heads / 2 : heads; /* as gat__head_products */
    /* Both vectors share one tree when their groups fit one register. */
    const bool shared = 2 * heads <= 16;
    for (int64_t n = 0; n < rows; n++) {
        const float *restrict row = projected + n * hc;
        __m512 v[32];
        gat__head_products(row, att_src, heads, channels, v);
        gat__head_products(row, att_dst, heads, channels, v + per_vector);
        const __mmask16 head_mask = (__mmask16)((1u << heads) - 1u);
        if (shared) {
            gat__score_tree_reduce(&tree, v, (int)(2 * per_vector), width);
            _mm512_mask_storeu_ps(score_src + n * heads, head_mask, v[0]);
            _mm512_mask_storeu_ps(score_dst + n * heads, head_mask,
                                  _mm512_maskz_compress_ps((__mmask16)(head_mask << heads), v[0]));
        } else {
            gat__score_tree_reduce(&tree, v, (int)per_vector, width);
            _mm512_mask_storeu_ps(score_src + n * heads, head_mask, v[0]);
            gat__score_tree_reduce(&tree, v + per_vector, (int)per_vector, width);
            _mm512_mask_storeu_ps(score_dst + n * heads, head_mask, v[per_vector]);
        }
    }
}

#else
#define GAT_HAVE_AVX512_NODE_SCORES 0
#endif

#endif
