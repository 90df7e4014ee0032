/* The model object's layout, shared by its constructor, loaders and kernels. */
#ifndef GAT_MODEL_H
#define GAT_MODEL_H

#include "internal.h"

typedef struct gat__layer {
    gat_layer_config config;
    float *weight;  /* [H*C, F_in] */
    float *att_src; /* [H, C] */
    float *att_dst; /* [H, C] */
    float *bias;    /* [out width] or NULL */
} gat__layer;

struct gat_model {
    gat_allocator allocator;
    int num_layers;
    gat_activation activation;
    unsigned preprocess; /* gat_preprocess bits the features get before layer 0 */
    gat__layer *layers;
};

static inline int64_t gat__layer_out_width(const gat_layer_config *c)
{
    return c->concat ? c->heads * c->channels : c->channels;
}

/* Checks one layer's configuration; the message names the layer. */
gat_status gat__layer_config_check(gat_context *ctx, const gat_layer_config *config, int layer);

#endif
