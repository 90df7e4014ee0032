/* Parameter initialisation as PyG's reset_parameters does it, for every
 * tensor of GATConv and GATv2Conv (the table of model.c says which). */
#include "model.h"
#include "random.h"

#include <math.h>
#include <string.h>

static void uniform(float *values, int64_t count, float bound, uint64_t seed, uint64_t stream)
{
    gat__rng r = gat__rng_stream(seed, stream);
    for (int64_t k = 0; k < count; k++)
        values[k] = (2.0f * gat__rng_float(&r) - 1.0f) * bound;
}

/* The stream of a tensor: 0.1's streams (4 per layer: weight, att_src,
 * att_dst) for the tensors 0.1 had, so its models initialise to the same
 * bits; the tensors added later draw from streams above 2^32. */
static uint64_t tensor_stream(int layer, gat__tensor_kind kind)
{
    const uint64_t l = (uint64_t)layer;
    switch (kind) {
    case GAT__T_WEIGHT: return 4 * l;
    case GAT__T_ATT_SRC:
    case GAT__T_ATT: return 4 * l + 1;
    case GAT__T_ATT_DST: return 4 * l + 2;
    default: return ((uint64_t)1 << 32) + 16 * l + (uint64_t)kind;
    }
}

gat_status gat_model_init_glorot(gat_context *ctx, gat_model *model, uint64_t seed)
{
    if (ctx == NULL || model == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "init: NULL model");
    gat__clear_message(ctx);
    for (int l = 0; l < model->num_layers; l++) {
        gat__layer *layer = &model->layers[l];
        for (int k = 0; k < GAT__T_COUNT; k++) {
            gat__tensor_info t = gat__layer_tensor(&layer->config, (gat__tensor_kind)k);
            if (!t.present)
                continue;
            float *data = *gat__layer_tensor_data(layer, (gat__tensor_kind)k);
            const int64_t count = t.rows * t.cols;
            const uint64_t stream = tensor_stream(l, (gat__tensor_kind)k);
            switch (t.init) {
            case GAT__INIT_GLOROT:
                /* PyG's glorot bounds by the last two sizes: sqrt(6 / (in
                 * + out)) for a Linear's [out, in], sqrt(6 / (H + C)) for
                 * an attention vector [1, H, C]. */
                uniform(data, count, sqrtf(6.0f / (float)(t.rows + t.cols)), seed, stream);
                break;
            case GAT__INIT_UNIFORM:
                uniform(data, count, 1.0f / sqrtf((float)t.fan_in), seed, stream);
                break;
            case GAT__INIT_ZEROS:
                memset(data, 0, (size_t)count * sizeof(float));
                break;
            }
        }
    }
    return GAT_OK;
}
