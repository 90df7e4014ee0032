/*
 * The edge phase: per destination row, scores -> softmax -> weighted sum of
 * source rows, fused so no E x H (or E x H x C) buffer exists. This file
 * splits the rows over threads and hands them to a row kernel
 * (edge_rows.h): the register kernel where it takes the shape, else the
 * plain loops. Rows are independent and each is summed in a fixed order,
 * so the result does not depend on how rows are spread over threads.
 */
#include "edge_rows.h"
#include "kernels.h"
#include "parallel.h"

#include <math.h>

bool gat_layer_scores_in_edge_pass(const gat_layer_config *config)
{
    return gat__edge_scores_in_pass(config->heads, config->channels);
}

gat_status gat__attention_forward(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const float *projected,
                                  const float *score_src, const float *score_dst, float *out,
                                  float *attention, const int64_t *loops_before)
{
    return gat__attention_forward_rows(ctx, layer, graph, 0, graph->num_nodes, projected,
                                       score_src, score_dst, out, attention, loops_before);
}

gat_status gat__attention_forward_rows(gat_context *ctx, const gat__layer *layer,
                                       const gat_graph *graph, int64_t first, int64_t last,
                                       const float *projected, const float *score_src,
                                       const float *score_dst, float *out, float *attention,
                                       const int64_t *loops_before)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, hc = heads * c->channels;
    const int threads = ctx->num_threads;
    if ((score_src == NULL || score_dst == NULL) &&
        (attention != NULL || !gat_layer_scores_in_edge_pass(c)))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "attention: node scores are required for this layer shape");
    /* Per-thread row state, each thread's slice padded to whole cache lines. */
    const int64_t stride = ((hc + 3 * heads) + 15) / 16 * 16;
    gat_status status;
    float *scratch = gat__alloc_array(ctx, stride * threads, sizeof(float),
                                      "attention scratch", &status);
    if (scratch == NULL)
        return status;
    const gat__edge_pass pass = {.graph = graph,
                                 .projected = projected,
                                 .score_src = score_src,
                                 .score_dst = score_dst,
                                 .bias = layer->bias,
                                 .att_src = layer->att_src,
                                 .att_dst = layer->att_dst,
                                 .out = out,
                                 .attention = attention,
                                 .loops_before = loops_before,
                                 .config = c};
    const int64_t chunks = (int64_t)threads * GAT_CHUNKS_PER_THREAD;
    const bool registers = gat__edge_register_shape(c->heads, c->channels);

#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float *mine = scratch + stride * gat__thread_id();
        gat__row_state s = {mine, mine + hc, mine + hc + heads, mine + hc + 2 * heads, NULL};
#ifdef _OPENMP
#pragma omp for schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            const int64_t begin =
                gat__balanced_range_start(graph->row_ptr, first, last, chunk, chunks);
            const int64_t end =
                gat__balanced_range_start(graph->row_ptr, first, last, chunk + 1, chunks);
            if (registers)
                gat__edge_rows_registers(&pass, &s, begin, end);
            else
                gat__edge_rows_plain(&pass, &s, begin, end);
        }
    }
    gat__free_raw(&ctx->allocator, scratch);
    return GAT_OK;
}

void gat__activation_forward(gat_context *ctx, gat_activation activation, float *values,
                             int64_t n)
{
    if (activation == GAT_ACT_NONE)
        return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static)
#endif
    for (int64_t k = 0; k < n; k++) {
        float v = values[k];
        if (activation == GAT_ACT_ELU)
            values[k] = v > 0.0f ? v : expm1f(v);
        else
            values[k] = v > 0.0f ? v : 0.0f;
    }
}
