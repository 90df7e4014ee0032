/*
 * Backward of the dense projection through OpenBLAS, in blocks fixed by N
 * alone: dW sums over every node, so each chunk of rows produces its own
 * partial dW and the partials are added in chunk order (no atomics, no
 * dependence on how chunks were spread over threads); dX needs no
 * reduction and is computed block by block as the forward is.
 */
#include "parallel.h"
#include "sgemm.h"
#include "train_kernels.h"

#include <string.h>

/* Rows per chunk of the dW reduction: whole projection blocks, at most
 * GAT_MAX_WEIGHT_PARTIALS chunks. A function of N alone. */
static int64_t chunk_rows_for(int64_t num_nodes)
{
    const int64_t blocks = gat__projection_blocks(num_nodes);
    const int64_t per_chunk = blocks <= GAT_MAX_WEIGHT_PARTIALS
                                  ? 1
                                  : (blocks + GAT_MAX_WEIGHT_PARTIALS - 1) /
                                        GAT_MAX_WEIGHT_PARTIALS;
    return per_chunk * GAT_PROJECTION_BLOCK;
}

int64_t gat__project_backward_scratch(const gat_layer_config *c, int64_t num_nodes)
{
    const int64_t rows = chunk_rows_for(num_nodes);
    const int64_t chunks = (num_nodes + rows - 1) / rows;
    return chunks > 1 ? chunks * c->heads * c->channels * c->in_features : 0;
}

void gat__project_backward(gat_context *ctx, const gat__layer *layer, const float *x,
                           const float *d_projected, int64_t num_nodes, float *d_weight,
                           float *d_x, float *partials)
{
    const gat_layer_config *c = &layer->config;
    const int64_t hc = c->heads * c->channels, f = c->in_features;
    const int threads = gat__team(ctx, num_nodes * hc * f);

    if (d_weight != NULL) {
        const int64_t chunk_rows = chunk_rows_for(num_nodes);
        const int64_t chunks = (num_nodes + chunk_rows - 1) / chunk_rows;
        if (chunks <= 1) {
            if (num_nodes == 0)
                memset(d_weight, 0, (size_t)(hc * f) * sizeof *d_weight);
            else
                gat__sgemm(true, false, hc, f, num_nodes, d_projected, hc, x, f, d_weight, f);
        } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
            {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
                for (int64_t k = 0; k < chunks; k++) {
                    int64_t row0 = k * chunk_rows;
                    int64_t rows = num_nodes - row0 < chunk_rows ? num_nodes - row0 : chunk_rows;
                    gat__sgemm(true, false, hc, f, rows, d_projected + row0 * hc, hc, x + row0 * f,
                               f, partials + k * hc * f, f);
                }
                /* Every element sums its partials in chunk order. */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (int64_t e = 0; e < hc * f; e++) {
                    float sum = partials[e];
                    for (int64_t k = 1; k < chunks; k++)
                        sum += partials[k * hc * f + e];
                    d_weight[e] = sum;
                }
            }
        }
    }

    if (d_x != NULL) {
        const int64_t blocks = gat__projection_blocks(num_nodes);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
        {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t b = 0; b < blocks; b++) {
                int64_t row0 = b * GAT_PROJECTION_BLOCK;
                int64_t rows = gat__projection_block_rows(num_nodes, b);
                gat__sgemm(false, false, rows, f, hc, d_projected + row0 * hc, hc, layer->weight, f,
                           d_x + row0 * f, f);
            }
        }
    }
}

void gat__project_backward_rows(gat_context *ctx, const gat__layer *layer, const gat__rows *rows,
                                const float *x, const float *d_projected, int64_t num_nodes,
                                float *d_weight, float *d_x, float *compact, float *partials)
{
    if (rows == NULL) {
        gat__project_backward(ctx, layer, x, d_projected, num_nodes, d_weight, d_x, partials);
        return;
    }
    /* The listed rows gathered: rows outside the list have a zero gradient,
     * which adds nothing to dW. */
    const gat_layer_config *c = &layer->config;
    const int64_t f = c->in_features, hc = c->heads * c->channels, count = rows->count;
    float *xs = compact, *gs = xs + count * f, *dxs = gs + count * hc;
    for (int64_t r = 0; r < count; r++) {
        const int64_t i = rows->ids[r];
        if (x != NULL)
            memcpy(xs + r * f, x + i * f, (size_t)f * sizeof *xs);
        memcpy(gs + r * hc, d_projected + i * hc, (size_t)hc * sizeof *gs);
    }
    gat__project_backward(ctx, layer, x != NULL ? xs : NULL, gs, count, d_weight,
                          d_x != NULL ? dxs : NULL, partials);
    if (d_x != NULL)
        for (int64_t r = 0; r < count; r++)
            memcpy(d_x + (int64_t)rows->ids[r] * f, dxs + r * f, (size_t)f * sizeof *dxs);
}
