/*
 * The dense projection in training: gat__project_forward's GEMM blocks,
 * with the output columns in the trainer's channel-major order (element
 * (h, c) of a row at c * H + h; see gat__layer_state.projected). The
 * weight rows are permuted once per call (H*C x F floats), so the GEMM
 * itself writes the order the edge kernels read; one head keeps the
 * inference path unchanged.
 */
#include "fma.h"
#include "gemm.h"
#include "parallel.h"
#include "sgemm.h"
#include "train_kernels.h"

#include <string.h>

/* score [rows, H] = sum_c projected[n, c, h] * att[h, c] (channel-major rows). */
static void node_scores(const float *restrict projected, int64_t rows, int64_t heads,
                        int64_t channels, const float *restrict att, float *restrict score)
{
    for (int64_t n = 0; n < rows; n++) {
        const float *restrict row = projected + n * heads * channels;
        float *restrict s = score + n * heads;
        for (int64_t h = 0; h < heads; h++)
            s[h] = 0.0f;
        for (int64_t c = 0; c < channels; c++)
            for (int64_t h = 0; h < heads; h++)
                s[h] = GAT_FMA(row[c * heads + h], att[h * channels + c], s[h]);
    }
}

static gat_status project_all(gat_context *ctx, const gat__layer *layer, const float *x,
                              int64_t num_nodes, float *projected, float *score_src,
                              float *score_dst)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels,
                  f = c->in_features;
    if (heads == 1) /* channel-major is head-major */
        return gat__project_forward(ctx, layer, x, num_nodes, projected, score_src, score_dst);
    const int64_t ldw = (hc + GAT_GEMM_PACK_COLS - 1) / GAT_GEMM_PACK_COLS * GAT_GEMM_PACK_COLS;
    const bool builtin = ctx->gemm == GAT_GEMM_BUILTIN;
    gat_status status;
    float *permuted = gat__alloc_array(ctx, hc * f + (builtin ? ldw * f : 0), sizeof(float),
                                       "permuted weights", &status);
    if (permuted == NULL)
        return status;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t ch = 0; ch < channels; ch++)
            memcpy(permuted + (ch * heads + h) * f, layer->weight + (h * channels + ch) * f,
                   (size_t)f * sizeof(float));
    float *packed = builtin ? permuted + hc * f : NULL;
    if (builtin)
        gat__gemm_pack_wt(permuted, hc, f, packed, ldw);
    const int64_t blocks = gat__projection_blocks(num_nodes);
#ifdef _OPENMP
#pragma omp parallel num_threads(gat__team(ctx, num_nodes * hc * f))
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t row0 = b * GAT_PROJECTION_BLOCK;
            const int64_t rows = gat__projection_block_rows(num_nodes, b);
            float *block = projected + row0 * hc;
            if (builtin)
                gat__gemm_builtin(x + row0 * f, rows, f, packed, hc, ldw, block, false);
            else
                gat__sgemm(false, true, rows, hc, f, x + row0 * f, f, permuted, f, block, hc);
            node_scores(block, rows, heads, channels, layer->att_src, score_src + row0 * heads);
            node_scores(block, rows, heads, channels, layer->att_dst, score_dst + row0 * heads);
        }
    }
    gat__free_raw(&ctx->allocator, permuted);
    return GAT_OK;
}

gat_status gat__project_train_forward(gat_context *ctx, const gat__layer *layer,
                                      const gat__rows *rows, const float *x, int64_t num_nodes,
                                      float *compact, float *projected, float *score_src,
                                      float *score_dst)
{
    if (rows == NULL)
        return project_all(ctx, layer, x, num_nodes, projected, score_src, score_dst);
    /* The listed rows gathered, projected as one compact block, scattered. */
    const gat_layer_config *c = &layer->config;
    const int64_t f = c->in_features, hc = c->heads * c->channels, heads = c->heads,
                  count = rows->count;
    float *xs = compact, *ps = xs + count * f, *ss = ps + count * hc, *sd = ss + count * heads;
    for (int64_t r = 0; r < count; r++)
        memcpy(xs + r * f, x + (int64_t)rows->ids[r] * f, (size_t)f * sizeof *xs);
    gat_status status = project_all(ctx, layer, xs, count, ps, ss, sd);
    if (status != GAT_OK)
        return status;
    for (int64_t r = 0; r < count; r++) {
        const int64_t i = rows->ids[r];
        memcpy(projected + i * hc, ps + r * hc, (size_t)hc * sizeof *ps);
        memcpy(score_src + i * heads, ss + r * heads, (size_t)heads * sizeof *ss);
        memcpy(score_dst + i * heads, sd + r * heads, (size_t)heads * sizeof *sd);
    }
    return GAT_OK;
}
