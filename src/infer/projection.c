/*
 * Projection: the dense GEMM x . W^T through OpenBLAS, block by block, and
 * the per-node attention scores while each block is still in cache.
 */
#include "edge_rows.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"
#include "sgemm.h"

static void node_scores(const float *restrict projected, int64_t rows, int64_t heads,
                        int64_t channels, const float *restrict att, float *restrict score)
{
    for (int64_t n = 0; n < rows; n++) {
        const float *row = projected + n * heads * channels;
        for (int64_t h = 0; h < heads; h++) {
            float s = 0.0f;
            for (int64_t c = 0; c < channels; c++)
                s += row[h * channels + c] * att[h * channels + c];
            score[n * heads + h] = s;
        }
    }
}

/* score_src and score_dst of a block: in registers for the shapes the
 * register edge kernel takes, whose in-pass scores must have these bits. */
static void block_scores(const float *projected, int64_t rows, const gat_layer_config *c,
                         const float *att_src, const float *att_dst, float *score_src,
                         float *score_dst)
{
    if (gat__edge_register_shape(c->heads, c->channels)) {
        gat__edge_node_scores(projected, rows, c->heads, c->channels, att_src, att_dst, score_src,
                              score_dst);
        return;
    }
    node_scores(projected, rows, c->heads, c->channels, att_src, score_src);
    node_scores(projected, rows, c->heads, c->channels, att_dst, score_dst);
}

gat_status gat__project_forward(gat_context *ctx, const gat__layer *layer, const float *x,
                                int64_t num_nodes, float *projected, float *score_src,
                                float *score_dst)
{
    const gat_layer_config *c = &layer->config;
    const int64_t hc = c->heads * c->channels, f = c->in_features;
    const int64_t blocks = gat__projection_blocks(num_nodes);
    float *packed = NULL;
    /* Not when the scores are taken from the block right after. */
    const bool stream = score_src == NULL &&
                        num_nodes * hc * (int64_t)sizeof(float) >= ctx->projection_stream_min_bytes;
    const int64_t ldw = (hc + GAT_GEMM_PACK_COLS - 1) / GAT_GEMM_PACK_COLS * GAT_GEMM_PACK_COLS;
    if (ctx->gemm == GAT_GEMM_BUILTIN) {
        gat_status status;
        packed = gat__alloc_array(ctx, ldw * f, sizeof(float), "packed weights", &status);
        if (packed == NULL)
            return status;
        gat__gemm_pack_wt(layer->weight, hc, f, packed, ldw);
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(gat__team(ctx, num_nodes * hc * f))
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            int64_t row0 = b * GAT_PROJECTION_BLOCK;
            int64_t rows = gat__projection_block_rows(num_nodes, b);
            float *block = projected + row0 * hc;
            if (packed != NULL)
                gat__gemm_builtin(x + row0 * f, rows, f, packed, hc, ldw, block, stream);
            else
                gat__sgemm(false, true, rows, hc, f, x + row0 * f, f, layer->weight, f, block, hc);
            if (score_src != NULL)
                block_scores(block, rows, c, layer->att_src, layer->att_dst,
                             score_src + row0 * c->heads, score_dst + row0 * c->heads);
        }
    }
    gat__free_raw(&ctx->allocator, packed);
    return GAT_OK;
}
