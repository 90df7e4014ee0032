/* Model construction, parameters and accessors. */
#include "model.h"

#include <math.h>
#include <string.h>

/* Product limits keep H*C*F_in and every per-layer buffer far from
 * overflowing 64-bit byte counts. */
#define GAT_MAX_DIM ((int64_t)1 << 24)

void gat_layer_config_init(gat_layer_config *config, int64_t in_features, int64_t heads,
                           int64_t channels)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof *config);
    config->in_features = in_features;
    config->heads = heads;
    config->channels = channels;
    config->concat = true;
    config->negative_slope = 0.2f;
    config->add_self_loops = true;
    config->bias = true;
}

gat_status gat__layer_config_check(gat_context *ctx, const gat_layer_config *c, int layer)
{
    if (c->in_features < 1 || c->in_features > GAT_MAX_DIM || c->heads < 1 ||
        c->heads > GAT_MAX_DIM || c->channels < 1 || c->channels > GAT_MAX_DIM ||
        c->heads * c->channels > GAT_MAX_DIM)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "layer %d: in_features %lld, heads %lld, channels %lld: each must be "
                         "in [1, 2^24] and heads*channels at most 2^24",
                         layer, (long long)c->in_features, (long long)c->heads,
                         (long long)c->channels);
    if (!isfinite(c->negative_slope))
        return gat__fail(ctx, GAT_ERR_INVALID, "layer %d: negative_slope is not finite", layer);
    return GAT_OK;
}

gat_status gat_model_create(gat_context *ctx, gat_model **model, int num_layers,
                            const gat_layer_config *configs, gat_activation activation)
{
    if (ctx == NULL || model == NULL)
        return GAT_ERR_INVALID;
    *model = NULL;
    gat__clear_message(ctx);
    if (num_layers < 1 || configs == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "model: needs at least one layer");
    if (activation != GAT_ACT_ELU && activation != GAT_ACT_RELU && activation != GAT_ACT_NONE)
        return gat__fail(ctx, GAT_ERR_INVALID, "model: unknown activation %d", (int)activation);
    for (int l = 0; l < num_layers; l++) {
        gat_status status = gat__layer_config_check(ctx, &configs[l], l);
        if (status != GAT_OK)
            return status;
        if (l > 0 && configs[l].in_features != gat__layer_out_width(&configs[l - 1]))
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "layer %d: in_features %lld but layer %d outputs %lld", l,
                             (long long)configs[l].in_features, l - 1,
                             (long long)gat__layer_out_width(&configs[l - 1]));
    }

    gat_status status;
    gat_model *m = gat__calloc_array(ctx, 1, sizeof *m, "model", &status);
    if (m == NULL)
        return status;
    m->allocator = ctx->allocator;
    m->activation = activation;
    m->layers = gat__calloc_array(ctx, num_layers, sizeof *m->layers, "model layers", &status);
    if (m->layers == NULL)
        goto fail;
    m->num_layers = num_layers;
    for (int l = 0; l < num_layers; l++) {
        gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &configs[l];
        layer->config = *c;
        int64_t hc = c->heads * c->channels;
        layer->weight = gat__calloc_array(ctx, hc * c->in_features, sizeof(float),
                                          "lin.weight", &status);
        layer->att_src = gat__calloc_array(ctx, hc, sizeof(float), "att_src", &status);
        layer->att_dst = gat__calloc_array(ctx, hc, sizeof(float), "att_dst", &status);
        if (layer->weight == NULL || layer->att_src == NULL || layer->att_dst == NULL)
            goto fail;
        if (c->bias) {
            layer->bias = gat__calloc_array(ctx, gat__layer_out_width(c), sizeof(float), "bias",
                                            &status);
            if (layer->bias == NULL)
                goto fail;
        }
    }
    *model = m;
    return GAT_OK;
fail:
    if (status == GAT_OK)
        status = GAT_ERR_NOMEM;
    gat_model_destroy(&m);
    return status;
}

/* The model holds no scratch since forward buffers moved to the context
 * (gat_context_trim); kept so that callers of 0.1 still link. */
void gat_model_trim(gat_model *model)
{
    (void)model;
}

void gat_model_destroy(gat_model **model)
{
    if (model == NULL || *model == NULL)
        return;
    gat_model *m = *model;
    if (m->layers != NULL) {
        for (int l = 0; l < m->num_layers; l++) {
            gat__free_raw(&m->allocator, m->layers[l].weight);
            gat__free_raw(&m->allocator, m->layers[l].att_src);
            gat__free_raw(&m->allocator, m->layers[l].att_dst);
            gat__free_raw(&m->allocator, m->layers[l].bias);
        }
        gat__free_raw(&m->allocator, m->layers);
    }
    gat_allocator allocator = m->allocator;
    gat__free_raw(&allocator, m);
    *model = NULL;
}

int gat_model_num_layers(const gat_model *model) { return model ? model->num_layers : 0; }

gat_activation gat_model_activation(const gat_model *model)
{
    return model ? model->activation : GAT_ACT_NONE;
}

gat_status gat_model_layer_config(const gat_model *model, int layer, gat_layer_config *config)
{
    if (model == NULL || config == NULL || layer < 0 || layer >= model->num_layers)
        return GAT_ERR_INVALID;
    *config = model->layers[layer].config;
    return GAT_OK;
}

gat_status gat_model_layer_params(gat_model *model, int layer, gat_layer_params *params)
{
    if (model == NULL || params == NULL || layer < 0 || layer >= model->num_layers)
        return GAT_ERR_INVALID;
    gat__layer *l = &model->layers[layer];
    params->weight = l->weight;
    params->att_src = l->att_src;
    params->att_dst = l->att_dst;
    params->bias = l->bias;
    return GAT_OK;
}

int64_t gat_model_in_features(const gat_model *model)
{
    return model ? model->layers[0].config.in_features : 0;
}

int64_t gat_model_out_features(const gat_model *model)
{
    return model ? gat__layer_out_width(&model->layers[model->num_layers - 1].config) : 0;
}
