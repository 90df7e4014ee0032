/* The model object's layout, shared by its constructor, loaders and kernels. */
#ifndef GAT_MODEL_H
#define GAT_MODEL_H

#include "internal.h"

typedef struct gat__layer {
    gat_layer_config config;
    float *weight;      /* [H*C, F_in] lin.weight / lin_src.weight / lin_l.weight */
    float *att_src;     /* [H, C] GATConv, else NULL */
    float *att_dst;     /* [H, C] GATConv, else NULL */
    float *bias;        /* [out width] or NULL */
    float *att;         /* [H, C] GATv2Conv, else NULL */
    float *weight_dst;  /* [H*C, F_dst] lin_dst / lin_r, or NULL (shared) */
    float *bias_src;    /* [H*C] lin_l.bias or NULL */
    float *bias_dst;    /* [H*C] lin_r.bias or NULL */
    float *weight_edge; /* [H*C, D] lin_edge.weight or NULL */
    float *att_edge;    /* [H, C] GATConv's att_edge or NULL */
    float *weight_res;  /* [out width, F_dst] res.weight or NULL */
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

/* The tensors a layer may have, in the order of gat_layer_params and of
 * the saved file. One table (model.c) gives each its PyG name, shape and
 * initialisation, for the constructor, gat_model_init_glorot, the loader
 * and the writer alike. */
typedef enum gat__tensor_kind {
    GAT__T_WEIGHT,
    GAT__T_ATT_SRC,
    GAT__T_ATT_DST,
    GAT__T_BIAS,
    GAT__T_ATT,
    GAT__T_WEIGHT_DST,
    GAT__T_BIAS_SRC,
    GAT__T_BIAS_DST,
    GAT__T_WEIGHT_EDGE,
    GAT__T_ATT_EDGE,
    GAT__T_WEIGHT_RES,
    GAT__T_COUNT
} gat__tensor_kind;

/* How reset_parameters fills a tensor. */
typedef enum gat__tensor_init {
    GAT__INIT_GLOROT,  /* uniform in +-sqrt(6 / (rows + cols)) of its PyG shape */
    GAT__INIT_ZEROS,   /* the layer's bias */
    GAT__INIT_UNIFORM  /* a Linear's bias: uniform in +-1/sqrt(fan_in) (PyG's inits.uniform) */
} gat__tensor_init;

/* A tensor of a layer under its configuration. */
typedef struct gat__tensor_info {
    const char *name;  /* PyG's state_dict name under layers.{i}. */
    bool present;
    int ndim;          /* as stored: 1 [rows], 2 [rows, cols], 3 [1, rows = H, cols = C] */
    int64_t rows, cols; /* a vector has cols == 1 */
    gat__tensor_init init;
    int64_t fan_in;    /* for GAT__INIT_UNIFORM */
} gat__tensor_info;

gat__tensor_info gat__layer_tensor(const gat_layer_config *config, gat__tensor_kind kind);
/* The storage of a tensor kind in a layer (a pointer to the field). */
float **gat__layer_tensor_data(gat__layer *layer, gat__tensor_kind kind);
/* The same for reading (NULL when the layer has no such tensor). */
static inline const float *gat__layer_tensor_values(const gat__layer *layer,
                                                    gat__tensor_kind kind)
{
    /* The field is only read through the returned pointer. */
    return *gat__layer_tensor_data((gat__layer *)(uintptr_t)layer, kind);
}

/* Checks one layer's configuration; the message names the layer. */
gat_status gat__layer_config_check(gat_context *ctx, const gat_layer_config *config, int layer);

/* Whether a layer is the 0.1 kind (GATConv, no edge features, no residual,
 * one projection): what the edge kernels of src/infer/attention.c and the
 * trainer run. */
static inline bool gat__layer_is_plain(const gat_layer_config *c)
{
    return c->type == GAT_LAYER_GAT && c->edge_dim == 0 && !c->residual &&
           c->dst_features == 0;
}

/* Metadata spellings of the enums (NULL for an unknown value) and back
 * (false for an unknown name). */
const char *gat__layer_type_name(gat_layer_type type);
const char *gat__fill_name(gat_fill fill);
bool gat__fill_from_name(const char *name, gat_fill *fill);

#endif
