/*
 * The edge phase's per-edge work in AVX-512 registers, for the shapes that
 * fill them: H <= 16 heads, and C = 8 channels with H even (two heads per
 * register) or C a multiple of 16, H * C <= 256. Included by attention.c
 * only; the portable loops there serve every other shape and machine.
 *
 * Why not the compiler: on the (8, 8) row loop gcc 12 spread the running
 * sums over permutes and stack spills and ran the exp polynomial with
 * unfused multiply-adds, ~100 cycles an edge with every operand in cache.
 * Here an edge is one masked score load, one polynomial over all heads,
 * one permute per accumulator register to spread each head's weight over
 * its channels, and one fused multiply-add per source-row register.
 *
 * Same arithmetic in the same order for a row whichever thread runs it, so
 * results keep their bits at any thread count.
 */
#ifndef GAT_ATTENTION_AVX512_H
#define GAT_ATTENTION_AVX512_H

#if defined(__AVX512F__)
#define GAT_HAVE_AVX512_ATTENTION 1
#include "edge_avx512.h"
#include "fast_exp.h"
#include "node_scores_avx512.h"

#include <immintrin.h>

/* The shapes this kernel takes; others go to the portable loops. */
static inline bool gat__avx512_attention_shape(int64_t heads, int64_t channels)
{
    if (heads < 1 || heads > 16 || heads * channels > 256)
        return false;
    return (channels == 8 && heads % 2 == 0) || (channels > 0 && channels % 16 == 0);
}

/* Outputs smaller than this are stored normally: they fit in the L2
 * caches, where the caller (or the next layer) reads them back. */
#define GAT_STREAM_MIN_BYTES ((int64_t)4 << 20)

/* Edges whose source scores a row keeps between its two sweeps when
 * computing them in the pass (16 KiB of stack); longer rows compute the
 * rest twice, with the same bits. */
#define GAT_ROW_SCORE_CACHE 256

/* Rows [first, last) of the edge pass with heads and channels constant at
 * the call site. Leaves each row's max, sum and acc in s (as the portable
 * loop does) for finish_row and write_row_attention.
 *
 * in_pass (constant at the call site): the node scores are not stored;
 * each is computed here from the projected row it belongs to (the source
 * rows are read anyway, and the destination row is one more), which saves
 * the [N, H] score arrays and the separate cache line per edge they cost,
 * for about 20 register operations per edge. */
static GAT_ALWAYS_INLINE void attend_rows_avx512(const edge_pass *a, const row_state *s,
                                             int64_t first, int64_t last, const int64_t heads,
                                             const int64_t channels, const bool in_pass)
{
    enum { MAX_REGISTERS = 16 };
    const int64_t registers = heads * channels / 16;
    const gat_graph *g = a->graph;
    const bool add_loops = a->config->add_self_loops;
    const __m512 slope = _mm512_set1_ps(a->config->negative_slope);
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 head_mask = (__mmask16)((1u << heads) - 1u);
    const int64_t *restrict row_ptr = g->row_ptr;
    const int32_t *restrict col = g->col;
    const float *restrict score_src = a->score_src;
    const float *restrict projected = a->projected;
    const int64_t hc = heads * channels;
    const int64_t prefetch_end = row_ptr[last];
    /* Concatenated output rows go out with streaming stores when they can
     * (64-byte aligned, nothing else per row to write, an output beyond
     * the caches): written once and not read in this pass, they then skip
     * the read-for-ownership of every line and do not evict the source
     * rows. Measured at R-MAT 100k, 2 threads: edge phase 12.0 -> 9.6 ms;
     * at 1M: 185 -> 165 ms. */
    const bool stream = a->config->concat && a->attention == NULL &&
                        ((uintptr_t)a->out % 64) == 0 &&
                        g->num_nodes * hc * (int64_t)sizeof(float) >= GAT_STREAM_MIN_BYTES;
    __m512i lanes[MAX_REGISTERS];
    for (int64_t v = 0; v < registers; v++)
        lanes[v] = gat__head_lanes(v, channels);
    gat__score_tree tree;
    gat__score_tree_init(&tree);
    float cache[in_pass ? GAT_ROW_SCORE_CACHE * 16 : 1];

    for (int64_t i = first; i < last; i++) {
        const int64_t begin = row_ptr[i], end = row_ptr[i + 1];
        __m512 dst, own; /* s_dst[i], s_src[i] */
        if (in_pass) {
            dst = gat__row_scores_avx512(&tree, projected + i * hc, a->att_dst, heads, channels);
            own = gat__row_scores_avx512(&tree, projected + i * hc, a->att_src, heads, channels);
        } else {
            dst = _mm512_maskz_loadu_ps(head_mask, a->score_dst + i * heads);
            own = _mm512_maskz_loadu_ps(head_mask, score_src + i * heads);
        }
        /* The row maximum as row_max computes it: max_ps returns its second
         * operand when either is NaN, as row_max's comparison keeps max. */
        __m512 max = add_loops ? own : _mm512_set1_ps(-INFINITY);
        for (int64_t k = begin; k < end; k++) {
            const int64_t j = col[k];
            __m512 src;
            if (in_pass) {
                if (k + PREFETCH_DISTANCE < prefetch_end)
                    prefetch_source(projected + (int64_t)col[k + PREFETCH_DISTANCE] * hc, hc,
                                    NULL);
                src = gat__row_scores_avx512(&tree, projected + j * hc, a->att_src, heads,
                                             channels);
                if (k - begin < GAT_ROW_SCORE_CACHE)
                    _mm512_storeu_ps(cache + 16 * (k - begin), src);
            } else {
                src = _mm512_maskz_loadu_ps(head_mask, score_src + j * heads);
            }
            max = _mm512_max_ps(src, max);
        }
        max = _mm512_add_ps(max, dst);
        max = _mm512_mask_mul_ps(max, _mm512_cmp_ps_mask(max, zero, _CMP_LT_OQ), max, slope);

        __m512 sum = zero, acc[MAX_REGISTERS];
        for (int64_t v = 0; v < registers; v++)
            acc[v] = zero;
        for (int64_t k = begin; k <= end; k++) {
            int64_t j;
            __m512 src;
            if (k == end) { /* the re-added self-loop comes last */
                if (!add_loops)
                    break;
                j = i;
                src = own;
            } else {
                j = col[k];
                if (add_loops && j == i)
                    continue;
                if (!in_pass) {
                    if (k + PREFETCH_DISTANCE < prefetch_end) {
                        int64_t ahead = col[k + PREFETCH_DISTANCE];
                        prefetch_source(projected + ahead * hc, hc, score_src + ahead * heads);
                    }
                    src = _mm512_maskz_loadu_ps(head_mask, score_src + j * heads);
                } else if (k - begin < GAT_ROW_SCORE_CACHE) {
                    src = _mm512_loadu_ps(cache + 16 * (k - begin));
                } else {
                    src = gat__row_scores_avx512(&tree, projected + j * hc, a->att_src, heads,
                                                 channels);
                }
            }
            __m512 e = _mm512_add_ps(src, dst);
            e = _mm512_mask_mul_ps(e, _mm512_cmp_ps_mask(e, zero, _CMP_LT_OQ), e, slope);
            const __m512 p =
                _mm512_maskz_mov_ps(head_mask, gat_v_exp_nonpositive(_mm512_sub_ps(e, max)));
            sum = _mm512_add_ps(sum, p);
            const float *restrict src_row = projected + j * hc;
            for (int64_t v = 0; v < registers; v++)
                acc[v] = _mm512_fmadd_ps(_mm512_permutexvar_ps(lanes[v], p),
                                         _mm512_loadu_ps(src_row + 16 * v), acc[v]);
        }
        if (stream) {
            /* finish_row's arithmetic (1/sum, 0 for an empty row; times
             * acc; plus bias, unfused), so the bits are the same. */
            const __m512 inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(sum, zero, _CMP_GT_OQ),
                                                   _mm512_set1_ps(1.0f), sum);
            float *out_row = a->out + i * hc;
            for (int64_t v = 0; v < registers; v++) {
                __m512 o = _mm512_mul_ps(acc[v], _mm512_permutexvar_ps(lanes[v], inv));
                if (a->bias != NULL)
                    o = _mm512_add_ps(o, _mm512_loadu_ps(a->bias + 16 * v));
                _mm512_stream_ps(out_row + 16 * v, o);
            }
            continue;
        }
        _mm512_mask_storeu_ps(s->max, head_mask, max);
        _mm512_mask_storeu_ps(s->sum, head_mask, sum);
        for (int64_t v = 0; v < registers; v++)
            _mm512_storeu_ps(s->acc + 16 * v, acc[v]);
        if (a->attention != NULL)
            write_row_attention(a, i, s);
        finish_row(a, s, i, heads, channels);
    }
    if (stream) /* streaming stores are weakly ordered: done before the barrier */
        _mm_sfence();
}

#else
#define GAT_HAVE_AVX512_ATTENTION 0
#endif

#endif
