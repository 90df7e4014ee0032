/*
 * The inference edge pass in registers (edge_rows.h), written once over
 * the vector vocabulary (simd.h): AVX-512, AVX2 + FMA and GNU C vectors
 * (SSE2, NEON) run this source. A row is edge_row.h's gat__v_edge_row,
 * the one training's 8 x 8 kernel runs; its ends are here. It takes H <= 16 heads with C = 8
 * channels and H even, or C a multiple of 16, H * C <= 256: rows of whole
 * registers at 4, 8 and 16 lanes. The plain loops (edge_rows.c) serve
 * every other shape, and the scalar back end.
 *
 * Why not the compiler: on the (8, 8) row loop gcc 12 spread the running
 * sums over permutes and stack spills and ran the exp polynomial with
 * unfused multiply-adds, ~100 cycles an edge with every operand in cache.
 * Here an edge is one score vector (ceil(H / W) registers), one
 * polynomial over all heads, one broadcast of each head's weight over its
 * channels (one permute per register of two heads at C = 8, W = 16) and
 * one fused multiply-add per source-row register.
 *
 * The node scores: without score arrays (gat_layer_scores_in_edge_pass)
 * each is computed here from the projected row it belongs to (the source
 * rows are read anyway, and the destination row is one more), which saves
 * the [N, H] score arrays and the separate cache line per edge they cost.
 * The projection stores the same function's values when the arrays are
 * asked for (gat__edge_node_scores), so both ways give the same bits. A
 * score sums its products by halving (gat_v_fold_groups): products in
 * groups of 16 lanes (C = 8: 8), multiply-added over the channels' 16-lane
 * blocks, then each group's halves added until one lane is left. The sum
 * is the same at every register width.
 *
 * Same arithmetic in the same order for a row whichever thread runs it, so
 * results keep their bits at any thread count.
 */
#include "edge_row.h"
#include "edge_rows.h"
#include "internal.h"
#include "simd.h"

#include <math.h>

#if GAT_V_LANES >= 4

enum {
    W = GAT_V_LANES,
    SV = GAT__V_SV,        /* registers of a per-head vector of 16 heads */
    MAX_ACC = 256 / W,     /* registers of a row of H * C <= 256 */
};

/* Outputs smaller than this are stored normally: they fit in the L2
 * caches, where the caller (or the next layer) reads them back. */
#define STREAM_MIN_BYTES ((int64_t)4 << 20)

bool gat__edge_register_shape(int64_t heads, int64_t channels)
{
    if (heads < 1 || heads > 16 || channels < 1 || heads * channels > 256)
        return false;
    return (channels == 8 && heads % 2 == 0) || channels % 16 == 0;
}

/* Scores in the pass pay where a source row's score vector costs few
 * registers operations (AVX-512: 4 multiplies and a 3-level tree at 8 x 8)
 * against a cache line per edge for the stored one. At 8 lanes the tree
 * costs twice the operations, and the stored scores won: the R-MAT 100k
 * (8, 8) edge phase took 18% less CPU time with them (x86-64-v3, 2
 * threads, perf cpu-clock samples: 2546 in the pass, 2002 + 93 for the
 * projection's scores). -DGAT_EDGE_SCORES_IN_PASS=0/1 overrides. */
#ifndef GAT_EDGE_SCORES_IN_PASS
#define GAT_EDGE_SCORES_IN_PASS (GAT_V_LANES >= 16)
#endif

bool gat__edge_scores_in_pass(int64_t heads, int64_t channels)
{
    return GAT_EDGE_SCORES_IN_PASS && gat__edge_register_shape(heads, channels);
}

/* Rows [first, last) with heads and channels constant at the call site;
 * in_pass (constant too): no score arrays, the scores computed here. */
static GAT_ALWAYS_INLINE void rows(const gat__edge_pass *a, const gat__row_state *s, int64_t first,
                                   int64_t last, const int64_t heads, const int64_t channels,
                                   const bool in_pass)
{
    const int64_t registers = heads * channels / W;
    const int64_t vectors = (heads + W - 1) / W;
    const gat_graph *g = a->graph;
    const bool add_loops = a->config->add_self_loops;
    const int64_t *restrict row_ptr = g->row_ptr;
    const float *restrict projected = a->projected;
    const int64_t hc = heads * channels;
    const gat__row_pass r = {.col = g->col, .projected = projected, .score_src = a->score_src,
                             .att_src = a->att_src, .slope = a->config->negative_slope,
                             .prefetch_end = row_ptr[last],
                             .distance = GAT_EDGE_PREFETCH_DISTANCE};
    const unsigned mode = GAT__ROW_PREFETCH_FOLD | (in_pass ? GAT__ROW_SCORES_IN_PASS : 0u);
    /* Concatenated output rows finish in registers; they go out with
     * streaming stores when they can (aligned, nothing else per row to
     * write, an output beyond the caches): written once and not read in
     * this pass, they then skip the read-for-ownership of every line and
     * do not evict the source rows. Measured at R-MAT 100k, 2 threads,
     * AVX-512: edge phase 12.0 -> 9.6 ms; at 1M: 185 -> 165 ms. */
    const bool in_registers = a->config->concat && a->attention == NULL;
    const bool stream = in_registers && ((uintptr_t)a->out % 64) == 0 &&
                        g->num_nodes * hc * (int64_t)sizeof(float) >= STREAM_MIN_BYTES;
    gat_v cache[in_pass ? GAT_ROW_SCORE_CACHE * SV : 1];

    for (int64_t i = first; i < last; i++) {
        /* s_dst[i], s_src[i] (zeros: the compiler cannot see that a
         * run-time head count is at least 1) */
        gat_v dst[SV] = {{0}}, own[SV] = {{0}}, max[SV] = {{0}}, sum[SV] = {{0}}, acc[MAX_ACC];
        if (in_pass) {
            gat__v_row_scores(projected + i * hc, a->att_dst, heads, channels, dst);
            gat__v_row_scores(projected + i * hc, a->att_src, heads, channels, own);
        } else {
            gat__v_load_heads(a->score_dst + i * heads, heads, dst, false);
            gat__v_load_heads(a->score_src + i * heads, heads, own, false);
        }
        /* The row maximum of e from the sources' scores alone, as the
         * plain loops': gat_v_max keeps max when either is NaN, as their
         * comparison does. */
        if (add_loops)
            gat__v_edge_row(&r, i, row_ptr[i], row_ptr[i + 1], dst, own, cache, max, sum, acc,
                            heads, channels, mode | GAT__ROW_LOOPS);
        else
            gat__v_edge_row(&r, i, row_ptr[i], row_ptr[i + 1], dst, own, cache, max, sum, acc,
                            heads, channels, mode);
        if (in_registers) {
            /* gat__edge_finish_row's arithmetic (1/sum, 0 for an empty
             * row; times acc; plus bias, unfused), so the bits are the
             * same. */
            gat_v inv[SV] = {{0}};
            for (int64_t b = 0; b < vectors; b++)
                inv[b] = gat__v_row_normaliser(sum[b]);
            float *out_row = a->out + i * hc;
            for (int64_t v = 0; v < registers; v++) {
                gat_v o = acc[v] * gat__v_head_weights(inv, v, channels);
                if (a->bias != NULL)
                    o = o + gat_v_load(a->bias + W * v);
                if (stream)
                    gat_v_stream(out_row + W * v, o);
                else
                    gat_v_store(out_row + W * v, o);
            }
            continue;
        }
        gat__v_store_heads(s->max, max, heads, false);
        gat__v_store_heads(s->sum, sum, heads, false);
        for (int64_t v = 0; v < registers; v++)
            gat_v_store(s->acc + W * v, acc[v]);
        gat__edge_finish_row(a, s, i);
    }
    if (stream) /* streaming stores are weakly ordered: done before the barrier */
        gat_v_stream_fence();
}

/* The kernel instantiated for one shape: heads and channels constants, or
 * h and c read at run time. */
#define ROWS(NAME, H, C)                                                                      \
    static void NAME(const gat__edge_pass *a, const gat__row_state *s, int64_t first,        \
                     int64_t last)                                                            \
    {                                                                                         \
        const int64_t h = a->config->heads, c = a->config->channels;                          \
        (void)h;                                                                              \
        (void)c;                                                                              \
        if (a->score_src == NULL)                                                             \
            rows(a, s, first, last, (H), (C), true);                                          \
        else                                                                                  \
            rows(a, s, first, last, (H), (C), false);                                         \
    }

/* The shapes instantiated with constant heads and channels. */
#define FIXED_SHAPES(X)                                                                       \
    X(8, 8)                                                                                   \
    X(8, 16)                                                                                  \
    X(4, 16)                                                                                  \
    X(1, 16)                                                                                  \
    X(4, 32)                                                                                  \
    X(2, 32)                                                                                  \
    X(1, 32)                                                                                  \
    X(1, 64)
#define FIXED(H, C) ROWS(rows_##H##_##C, H, C)
FIXED_SHAPES(FIXED)
#undef FIXED
ROWS(rows_h_8, h, 8)
ROWS(rows_h_16, h, 16)
ROWS(rows_h_c, h, c)
#undef ROWS

void gat__edge_rows_registers(const gat__edge_pass *a, const gat__row_state *s, int64_t first,
                              int64_t last)
{
    const int64_t h = a->config->heads, c = a->config->channels;
#define SHAPE(H, C)                                                                           \
    if (h == (H) && c == (C)) {                                                               \
        rows_##H##_##C(a, s, first, last);                                                    \
        return;                                                                               \
    }
    FIXED_SHAPES(SHAPE)
#undef SHAPE
    switch (c) {
    case 8: rows_h_8(a, s, first, last); return;
    case 16: rows_h_16(a, s, first, last); return;
    default: rows_h_c(a, s, first, last); return;
    }
}

/* Scores of `rows` rows, heads and channels constant at the call site. */
static GAT_ALWAYS_INLINE void node_scores(const float *restrict projected, int64_t rows,
                                          const int64_t heads, const int64_t channels,
                                          const float *restrict att_src,
                                          const float *restrict att_dst, float *restrict score_src,
                                          float *restrict score_dst)
{
    for (int64_t n = 0; n < rows; n++) {
        const float *restrict row = projected + n * heads * channels;
        gat_v v[SV];
        gat__v_row_scores(row, att_src, heads, channels, v);
        gat__v_store_heads(score_src + n * heads, v, heads, false);
        gat__v_row_scores(row, att_dst, heads, channels, v);
        gat__v_store_heads(score_dst + n * heads, v, heads, false);
    }
}

void gat__edge_node_scores(const float *projected, int64_t rows, int64_t heads, int64_t channels,
                           const float *att_src, const float *att_dst, float *score_src,
                           float *score_dst)
{
#define SCORES(H, C) node_scores(projected, rows, (H), (C), att_src, att_dst, score_src, score_dst)
    if (heads == 8 && channels == 8)
        SCORES(8, 8);
    else if (channels == 8)
        SCORES(heads, 8);
    else if (channels == 16)
        SCORES(heads, 16);
    else
        SCORES(heads, channels);
#undef SCORES
}

#else /* one lane: the plain loops serve */

bool gat__edge_scores_in_pass(int64_t heads, int64_t channels)
{
    (void)heads;
    (void)channels;
    return false;
}

bool gat__edge_register_shape(int64_t heads, int64_t channels)
{
    (void)heads;
    (void)channels;
    return false;
}

void gat__edge_rows_registers(const gat__edge_pass *a, const gat__row_state *s, int64_t first,
                              int64_t last)
{
    gat__edge_rows_plain(a, s, first, last);
}

void gat__edge_node_scores(const float *projected, int64_t rows, int64_t heads, int64_t channels,
                           const float *att_src, const float *att_dst, float *score_src,
                           float *score_dst)
{
    (void)projected;
    (void)rows;
    (void)heads;
    (void)channels;
    (void)att_src;
    (void)att_dst;
    (void)score_src;
    (void)score_dst;
}

#endif
