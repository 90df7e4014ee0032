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

int64_t gat_layer_dst_features(const gat_layer_config *config)
{
    if (config == NULL)
        return 0;
    return config->dst_features > 0 ? config->dst_features : config->in_features;
}

int64_t gat_layer_num_parameters(const gat_layer_config *config)
{
    int64_t count = 0;
    for (int k = 0; config != NULL && k < GAT__T_COUNT; k++) {
        gat__tensor_info t = gat__layer_tensor(config, (gat__tensor_kind)k);
        count += t.present ? t.rows * t.cols : 0;
    }
    return count;
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
    if (c->type != GAT_LAYER_GAT && c->type != GAT_LAYER_GATV2)
        return gat__fail(ctx, GAT_ERR_INVALID, "layer %d: unknown layer type %d", layer,
                         (int)c->type);
    if (c->edge_dim < 0 || c->edge_dim > GAT_MAX_DIM || c->dst_features < 0 ||
        c->dst_features > GAT_MAX_DIM)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "layer %d: edge_dim %lld, dst_features %lld: each must be in [0, 2^24]",
                         layer, (long long)c->edge_dim, (long long)c->dst_features);
    if (c->fill_value < GAT_FILL_MEAN || c->fill_value > GAT_FILL_CONSTANT)
        return gat__fail(ctx, GAT_ERR_INVALID, "layer %d: unknown fill_value %d", layer,
                         (int)c->fill_value);
    if (!isfinite(c->fill_constant))
        return gat__fail(ctx, GAT_ERR_INVALID, "layer %d: fill_constant is not finite", layer);
    if (c->share_weights && c->type != GAT_LAYER_GATV2)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "layer %d: share_weights is an option of GATv2 layers", layer);
    /* lin_r is lin_l: both sides must have lin_l's width. */
    if (c->share_weights && gat_layer_dst_features(c) != c->in_features)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "layer %d: share_weights with dst_features %lld != in_features %lld",
                         layer, (long long)c->dst_features, (long long)c->in_features);
    return GAT_OK;
}

const char *gat__layer_type_name(gat_layer_type type)
{
    switch (type) {
    case GAT_LAYER_GAT: return "gat";
    case GAT_LAYER_GATV2: return "gatv2";
    }
    return NULL;
}

static const char *const fill_names[] = {"mean", "add", "max", "min", "mul", NULL};

const char *gat__fill_name(gat_fill fill)
{
    return fill >= GAT_FILL_MEAN && fill < GAT_FILL_CONSTANT ? fill_names[fill] : NULL;
}

bool gat__fill_from_name(const char *name, gat_fill *fill)
{
    for (int k = 0; fill_names[k] != NULL; k++)
        if (strcmp(name, fill_names[k]) == 0) {
            *fill = (gat_fill)k;
            return true;
        }
    return false;
}

gat__tensor_info gat__layer_tensor(const gat_layer_config *c, gat__tensor_kind kind)
{
    const bool v2 = c->type == GAT_LAYER_GATV2;
    const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c),
                  f_dst = gat_layer_dst_features(c);
    gat__tensor_info t = {.name = NULL, .present = false, .ndim = 2, .rows = hc,
                          .cols = 1, .init = GAT__INIT_GLOROT, .fan_in = 0};
    switch (kind) {
    case GAT__T_WEIGHT:
        t.name = v2 ? "lin_l.weight" : c->dst_features > 0 ? "lin_src.weight" : "lin.weight";
        t.present = true;
        t.cols = c->in_features;
        break;
    case GAT__T_ATT_SRC:
    case GAT__T_ATT_DST:
    case GAT__T_ATT:
    case GAT__T_ATT_EDGE:
        t.name = kind == GAT__T_ATT_SRC   ? "att_src"
                 : kind == GAT__T_ATT_DST ? "att_dst"
                 : kind == GAT__T_ATT     ? "att"
                                          : "att_edge";
        t.present = kind == GAT__T_ATT ? v2 : !v2 && (kind != GAT__T_ATT_EDGE || c->edge_dim > 0);
        t.ndim = 3;
        t.rows = c->heads;
        t.cols = c->channels;
        break;
    case GAT__T_BIAS:
        t.name = "bias";
        t.present = c->bias;
        t.ndim = 1;
        t.rows = width;
        t.init = GAT__INIT_ZEROS;
        break;
    case GAT__T_WEIGHT_DST:
        t.name = v2 ? "lin_r.weight" : "lin_dst.weight";
        t.present = v2 ? !c->share_weights : c->dst_features > 0;
        t.cols = f_dst;
        break;
    case GAT__T_BIAS_SRC:
    case GAT__T_BIAS_DST:
        t.name = kind == GAT__T_BIAS_SRC ? "lin_l.bias" : "lin_r.bias";
        t.present = v2 && c->bias && (kind == GAT__T_BIAS_SRC || !c->share_weights);
        t.ndim = 1;
        t.init = GAT__INIT_UNIFORM;
        t.fan_in = kind == GAT__T_BIAS_SRC ? c->in_features : f_dst;
        break;
    case GAT__T_WEIGHT_EDGE:
        t.name = "lin_edge.weight";
        t.present = c->edge_dim > 0;
        t.cols = c->edge_dim;
        break;
    case GAT__T_WEIGHT_RES:
        t.name = "res.weight";
        t.present = c->residual;
        t.rows = width;
        t.cols = f_dst;
        break;
    case GAT__T_COUNT:
        break;
    }
    return t;
}

float **gat__layer_tensor_data(gat__layer *layer, gat__tensor_kind kind)
{
    switch (kind) {
    case GAT__T_WEIGHT: return &layer->weight;
    case GAT__T_ATT_SRC: return &layer->att_src;
    case GAT__T_ATT_DST: return &layer->att_dst;
    case GAT__T_BIAS: return &layer->bias;
    case GAT__T_ATT: return &layer->att;
    case GAT__T_WEIGHT_DST: return &layer->weight_dst;
    case GAT__T_BIAS_SRC: return &layer->bias_src;
    case GAT__T_BIAS_DST: return &layer->bias_dst;
    case GAT__T_WEIGHT_EDGE: return &layer->weight_edge;
    case GAT__T_ATT_EDGE: return &layer->att_edge;
    case GAT__T_WEIGHT_RES: return &layer->weight_res;
    case GAT__T_COUNT: break;
    }
    return NULL;
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
        /* Every later layer reads one x for both sides: its dst width is its input's. */
        if (l > 0 && gat_layer_dst_features(&configs[l]) != configs[l].in_features)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "layer %d: dst_features %lld: only layer 0 may read a separate "
                             "x_dst (a later layer's input is the previous output, %lld wide)",
                             l, (long long)configs[l].dst_features,
                             (long long)configs[l].in_features);
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
        layer->config = configs[l];
        for (int k = 0; k < GAT__T_COUNT; k++) {
            gat__tensor_info t = gat__layer_tensor(&configs[l], (gat__tensor_kind)k);
            if (!t.present)
                continue;
            float **data = gat__layer_tensor_data(layer, (gat__tensor_kind)k);
            *data = gat__calloc_array(ctx, t.rows * t.cols, sizeof(float), t.name, &status);
            if (*data == NULL)
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
        for (int l = 0; l < m->num_layers; l++)
            for (int k = 0; k < GAT__T_COUNT; k++)
                gat__free_raw(&m->allocator,
                              *gat__layer_tensor_data(&m->layers[l], (gat__tensor_kind)k));
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
    params->att = l->att;
    params->weight_dst = l->weight_dst;
    params->bias_src = l->bias_src;
    params->bias_dst = l->bias_dst;
    params->weight_edge = l->weight_edge;
    params->att_edge = l->att_edge;
    params->weight_res = l->weight_res;
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
