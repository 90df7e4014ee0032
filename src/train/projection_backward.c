/*
 * Backward of the dense projection: the linear map's backward
 * (family_linear.c: dW = dP^T X in chunks fixed by N alone, added in chunk
 * order; dX = dP W block by block) for the layer's weight.
 */
#include "train_family.h"
#include "train_kernels.h"

int64_t gat__project_backward_scratch(const gat_layer_config *c, int64_t num_nodes)
{
    return gat__linear_backward_scratch(num_nodes, c->in_features, c->heads * c->channels);
}

void gat__project_backward(gat_context *ctx, const gat__layer *layer, const float *x,
                           const float *d_projected, int64_t num_nodes, float *d_weight,
                           float *d_x, float *partials)
{
    const gat_layer_config *c = &layer->config;
    gat__linear_backward(ctx, x, d_projected, num_nodes, c->in_features,
                         c->heads * c->channels, layer->weight, d_weight, NULL, d_x, false,
                         NULL, partials);
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
