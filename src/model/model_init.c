/* Parameter initialisation as PyG's GATConv.reset_parameters does it. */
#include "model.h"
#include "random.h"

#include <math.h>
#include <string.h>

static void glorot(float *values, int64_t count, int64_t fan_in, int64_t fan_out, uint64_t seed,
                   uint64_t stream)
{
    const float bound = sqrtf(6.0f / (float)(fan_in + fan_out));
    gat__rng r = gat__rng_stream(seed, stream);
    for (int64_t k = 0; k < count; k++)
        values[k] = (2.0f * gat__rng_float(&r) - 1.0f) * bound;
}

gat_status gat_model_init_glorot(gat_context *ctx, gat_model *model, uint64_t seed)
{
    if (ctx == NULL || model == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "init: NULL model");
    gat__clear_message(ctx);
    for (int l = 0; l < model->num_layers; l++) {
        gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        const int64_t hc = c->heads * c->channels;
        uint64_t stream = 4 * (uint64_t)l;
        glorot(layer->weight, hc * c->in_features, c->in_features, hc, seed, stream);
        /* att_* are [1, H, C]; PyG's glorot bounds by the last two sizes,
         * sqrt(6 / (H + C)) (not torch.nn.init.xavier's fans). */
        glorot(layer->att_src, hc, c->heads, c->channels, seed, stream + 1);
        glorot(layer->att_dst, hc, c->heads, c->channels, seed, stream + 2);
        if (layer->bias != NULL)
            memset(layer->bias, 0, (size_t)gat__layer_out_width(c) * sizeof(float));
    }
    return GAT_OK;
}
