/*
 * The layer's compute kernels (llm.c style: shapes first in every comment).
 * Forward only for now; each has a plain twin in reference.c.
 */
#ifndef GAT_KERNELS_H
#define GAT_KERNELS_H

#include "graph.h"
#include "model.h"

/* Rows per projection block. Fixed, independent of the thread count, so
 * BLAS sees the same blocks, and produces the same bits, at any count. */
#define GAT_PROJECTION_BLOCK 1024

/* How many projection blocks N rows make, and the rows of block b. */
static inline int64_t gat__projection_blocks(int64_t num_nodes)
{
    return (num_nodes + GAT_PROJECTION_BLOCK - 1) / GAT_PROJECTION_BLOCK;
}

static inline int64_t gat__projection_block_rows(int64_t num_nodes, int64_t b)
{
    const int64_t left = num_nodes - b * GAT_PROJECTION_BLOCK;
    return left < GAT_PROJECTION_BLOCK ? left : GAT_PROJECTION_BLOCK;
}

/* projected [N, H*C] = x [N, F_in] . weight[H*C, F_in]^T
 * score_src [N, H]  = sum_c projected[n, h, c] * att_src[h, c]; score_dst likewise.
 * score_src and score_dst may both be NULL (not computed) when
 * gat_layer_scores_in_edge_pass says the edge pass computes them. */
gat_status gat__project_forward(gat_context *ctx, const gat__layer *layer, const float *x,
                                int64_t num_nodes, float *projected, float *score_src,
                                float *score_dst);

/* One fused pass per destination row i over its incoming edges j:
 *   e_ij = LeakyReLU(score_src[j] + score_dst[i])            [H]
 *   alpha_ij = softmax over the row (its max from the sources' scores, then one
 *              sweep that exponentiates and accumulates)
 *   out[i] = concat_h or mean_h (sum_j alpha_ij projected[j]) + bias
 * projected [N, H*C], scores [N, H], out [N, H*C or C].
 * attention, if not NULL: [E', H] in library order (loops_before as in
 * gat__attention_row_offset). */
/* gat_layer_scores_in_edge_pass (gat.h) says for which shapes
 * gat__attention_forward computes the node scores itself (and so may be
 * given NULL score arrays). */

gat_status gat__attention_forward(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const float *projected,
                                  const float *score_src, const float *score_dst, float *out,
                                  float *attention, const int64_t *loops_before);

/* gat__attention_forward over rows [first, last) only (the rows of a
 * distributed rank whose sources have arrived; src/dist). Each row's bits
 * are those of the whole pass. */
gat_status gat__attention_forward_rows(gat_context *ctx, const gat__layer *layer,
                                       const gat_graph *graph, int64_t first, int64_t last,
                                       const float *projected, const float *score_src,
                                       const float *score_dst, float *out, float *attention,
                                       const int64_t *loops_before);

/* In place over n values. */
void gat__activation_forward(gat_context *ctx, gat_activation activation, float *values,
                             int64_t n);

#endif
