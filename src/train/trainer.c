/*
 * The trainer object: option checks, the buffers a training run needs
 * (allocated once, at creation), and the public step / evaluate / forward /
 * backward / update entry points.
 */
#include "trainer.h"

#include <math.h>
#include <string.h>

void gat_trainer_options_init(gat_trainer_options *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->optimizer = GAT_OPT_ADAM;
    o->learning_rate = 0.005;
    o->weight_decay = 0.0;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->dropout = 0.0;
    o->attention_dropout = 0.0;
    o->projected_dropout = 0.0;
    o->seed = 0;
    o->input_format = GAT_INPUT_AUTO;
}

gat_status gat__trainer_check_options(gat_context *ctx, const gat_trainer_options *o)
{
    if (o->optimizer != GAT_OPT_ADAM && o->optimizer != GAT_OPT_SGD)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: unknown optimizer %d", (int)o->optimizer);
    if (!(o->learning_rate > 0.0) || !isfinite(o->learning_rate))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: learning rate %g must be > 0",
                         o->learning_rate);
    if (!(o->weight_decay >= 0.0) || !isfinite(o->weight_decay))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: weight decay %g must be >= 0",
                         o->weight_decay);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: betas (%g, %g) must be in [0, 1)",
                         o->beta1, o->beta2);
    if (!(o->eps > 0.0) || !isfinite(o->eps))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: eps %g must be > 0", o->eps);
    if (!(o->dropout >= 0.0 && o->dropout < 1.0))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: dropout %g must be in [0, 1)",
                         o->dropout);
    if (!(o->attention_dropout >= 0.0 && o->attention_dropout < 1.0))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: attention dropout %g must be in [0, 1)",
                         o->attention_dropout);
    if (!(o->projected_dropout >= 0.0 && o->projected_dropout < 1.0))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: projected-feature dropout %g must be in [0, 1)",
                         o->projected_dropout);
    if (o->input_format != GAT_INPUT_AUTO && o->input_format != GAT_INPUT_DENSE &&
        o->input_format != GAT_INPUT_SPARSE)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: unknown input format %d",
                         (int)o->input_format);
    return GAT_OK;
}

void gat_trainer_destroy(gat_trainer **trainer)
{
    if (trainer == NULL || *trainer == NULL)
        return;
    gat_trainer *t = *trainer;
    const gat_allocator *a = &t->allocator;
    gat__sparse_input_free(a, &t->sparse_x);
    gat__edge_views_free(a, &t->views[0]);
    gat__edge_views_free(a, &t->views[1]);
    gat__trainfam_free(a, &t->family, t->model != NULL ? t->model->num_layers : 0);
    if (t->layers != NULL) {
        for (int l = 0; l < t->model->num_layers; l++) {
            gat__layer_state_free(a, &t->layers[l], l + 1 < t->model->num_layers);
        }
        GAT_FREE(a, t->layers);
    }
    GAT_FREE(a, t->params);
    GAT_FREE(a, t->slab);
    GAT_FREE(a, t->logits);
    GAT_FREE(a, t->d_logits);
    GAT_FREE(a, t->d_hidden[0]);
    GAT_FREE(a, t->d_hidden[1]);
    GAT_FREE(a, t->dot);
    GAT_FREE(a, t->d_score_dst);
    GAT_FREE(a, t->active);
    gat__plan_free(a, &t->plans[0]);
    gat__plan_free(a, &t->plans[1]);
    GAT_FREE(a, t->compact);
    gat__eval_buffers_free(a, &t->eval);
    GAT_FREE(a, t->partials);
    gat_allocator allocator = t->allocator;
    gat__free_raw(&allocator, t);
    *trainer = NULL;
}

/* Checks x: finite everywhere; returns its non-zero count in *nnz. */
static gat_status scan_input(gat_context *ctx, const float *x, int64_t n, int64_t f,
                             int64_t *nnz)
{
    int64_t count = 0;
    for (int64_t k = 0; k < n * f; k++) {
        if (!isfinite(x[k]))
            return gat__fail(ctx, GAT_ERR_NONFINITE, "trainer: x[%lld, %lld] is not finite",
                             (long long)(k / f), (long long)(k % f));
        count += x[k] != 0.0f;
    }
    *nnz = count;
    return GAT_OK;
}

#define ALLOC(ptr, count, what) GAT__ALLOC_OR_FAIL(ctx, ptr, count, false, what, status)

gat_status gat__layer_state_alloc(gat_context *ctx, gat__layer_state *st,
                                  const gat_layer_config *c, const gat_trainer_options *o,
                                  int64_t n, int64_t slots, bool dense_input, bool hidden)
{
    gat_status status = GAT_OK;
    const int64_t hc = c->heads * c->channels;
    if (o->dropout > 0.0 && dense_input) {
        ALLOC(st->dropped, n * c->in_features, "dropped-out layer input");
        ALLOC(st->input_keep, n * c->in_features, "input dropout mask");
    }
    if (o->attention_dropout > 0.0)
        ALLOC(st->attention_keep, slots * gat__mask_bytes(c->heads), "attention dropout mask");
    ALLOC(st->projected, n * hc, "projected features");
    if (o->projected_dropout > 0.0) {
        ALLOC(st->proj_dropped, n * hc, "dropped-out projected features");
        ALLOC(st->proj_keep, n * hc, "projected-feature dropout mask");
    }
    ALLOC(st->score_src, n * c->heads, "source scores");
    ALLOC(st->score_dst, n * c->heads, "destination scores");
    ALLOC(st->shift, n * c->heads, "softmax shifts");
    ALLOC(st->inv_sum, n * c->heads, "softmax sums");
    if (hidden)
        ALLOC(st->output, n * gat__layer_out_width(c), "hidden features");
fail:
    return status;
}

void gat__layer_state_free(const gat_allocator *a, gat__layer_state *st, bool hidden)
{
    GAT_FREE(a, st->dropped);
    GAT_FREE(a, st->input_keep);
    GAT_FREE(a, st->attention_keep);
    GAT_FREE(a, st->projected);
    GAT_FREE(a, st->proj_dropped);
    GAT_FREE(a, st->proj_keep);
    GAT_FREE(a, st->score_src);
    GAT_FREE(a, st->score_dst);
    GAT_FREE(a, st->shift);
    GAT_FREE(a, st->inv_sum);
    if (hidden)
        GAT_FREE(a, st->output);
}

gat_status gat__params_create(gat_context *ctx, gat_model *model, gat__param **params,
                              int *num_params, float **slab)
{
    gat_status status = GAT_OK;
    int count = 0;
    for (int l = 0; l < model->num_layers; l++)
        count += gat__layer_param_count(&model->layers[l]);
    if ((*params = gat__calloc_array(ctx, count, sizeof **params, "trainer parameters",
                                     &status)) == NULL)
        return status;
    int64_t total = 0;
    for (int l = 0, k = 0; l < model->num_layers; l++) {
        gat__layer *layer = &model->layers[l];
        for (int kind = 0; kind < GAT__T_COUNT; kind++) {
            float *value = *gat__layer_tensor_data(layer, (gat__tensor_kind)kind);
            if (value == NULL)
                continue;
            const gat__tensor_info info = gat__layer_tensor(&layer->config, (gat__tensor_kind)kind);
            (*params)[k++] = (gat__param){.value = value, .count = info.rows * info.cols};
        }
    }
    for (int k = 0; k < count; k++)
        total += (*params)[k].count;
    if ((*slab = gat__calloc_array(ctx, 4 * total, sizeof **slab, "optimizer state", &status)) ==
        NULL)
        return status;
    for (int64_t k = 0, at = 0; k < count; k++) {
        gat__param *p = &(*params)[k];
        p->grad = *slab + at;
        p->m = *slab + total + at;
        p->v = *slab + 2 * total + at;
        p->best = *slab + 3 * total + at;
        at += p->count;
    }
    *num_params = count;
    return GAT_OK;
}

/* Checks a float input: finite everywhere. */
static gat_status check_finite(gat_context *ctx, const float *v, int64_t rows, int64_t cols,
                               const char *name)
{
    for (int64_t k = 0; k < rows * cols; k++)
        if (!isfinite(v[k]))
            return gat__fail(ctx, GAT_ERR_NONFINITE, "trainer: %s[%lld, %lld] is not finite",
                             name, (long long)(k / cols), (long long)(k % cols));
    return GAT_OK;
}

/* The inputs against the model and graph; the message names the input. */
static gat_status check_inputs(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                               const gat_inputs *in)
{
    const gat_layer_config *c0 = &model->layers[0].config;
    const int64_t n_src = gat_graph_num_src_nodes(graph), n_dst = gat_graph_num_nodes(graph);
    if (in->x == NULL && in->num_nodes > 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: model, graph and x are required");
    if (in->num_nodes != n_src)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: x has %lld rows but the graph has %lld %snodes",
                         (long long)in->num_nodes, (long long)n_src,
                         n_src != n_dst ? "source " : "");
    if (in->in_features != c0->in_features)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: x has %lld columns but layer 0 expects %lld",
                         (long long)in->in_features, (long long)c0->in_features);
    if (in->x_dst != NULL) {
        if (in->num_dst_nodes != n_dst)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "trainer: x_dst has %lld rows but the graph has %lld destination "
                             "nodes",
                             (long long)in->num_dst_nodes, (long long)n_dst);
        if (in->dst_features != gat_layer_dst_features(c0))
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "trainer: x_dst has %lld columns but layer 0 expects %lld",
                             (long long)in->dst_features,
                             (long long)gat_layer_dst_features(c0));
    } else if (n_src != n_dst) {
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: the graph is bipartite (%lld sources, %lld destinations): "
                         "x_dst is required",
                         (long long)n_src, (long long)n_dst);
    } else if (gat_layer_dst_features(c0) != c0->in_features) {
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: layer 0 reads %lld destination features: x_dst is required",
                         (long long)gat_layer_dst_features(c0));
    }
    if (n_src != n_dst && model->num_layers > 1)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: a bipartite graph takes a one-layer model (this one has %d)",
                         model->num_layers);
    for (int l = 0; l < model->num_layers; l++) {
        const gat_layer_config *c = &model->layers[l].config;
        if (c->edge_dim == 0)
            continue;
        if (in->edge_attr == NULL)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "trainer: layer %d has edge_dim %lld: edge_attr is required", l,
                             (long long)c->edge_dim);
        if (in->edge_dim != c->edge_dim)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "trainer: edge_attr has %lld columns but layer %d has edge_dim %lld",
                             (long long)in->edge_dim, l, (long long)c->edge_dim);
    }
    if (in->edge_attr != NULL && in->num_edges != gat_graph_num_edges(graph))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: edge_attr has %lld rows but the graph has %lld edges",
                         (long long)in->num_edges, (long long)gat_graph_num_edges(graph));
    gat_status status = GAT_OK;
    if (in->x_dst != NULL)
        status = check_finite(ctx, in->x_dst, in->num_dst_nodes, in->dst_features, "x_dst");
    if (status == GAT_OK && in->edge_attr != NULL)
        status = check_finite(ctx, in->edge_attr, in->num_edges, in->edge_dim, "edge_attr");
    return status;
}

gat_status gat_trainer_create(gat_context *ctx, gat_trainer **trainer, gat_model *model,
                              const gat_graph *graph, const float *x, int64_t num_nodes,
                              int64_t in_features, const gat_trainer_options *options)
{
    gat_inputs inputs;
    gat_inputs_init(&inputs, x, num_nodes, in_features);
    return gat_trainer_create_inputs(ctx, trainer, model, graph, &inputs, options);
}

gat_status gat_trainer_create_inputs(gat_context *ctx, gat_trainer **trainer, gat_model *model,
                                     const gat_graph *graph, const gat_inputs *inputs,
                                     const gat_trainer_options *options)
{
    if (ctx == NULL || trainer == NULL)
        return GAT_ERR_INVALID;
    *trainer = NULL;
    gat__clear_message(ctx);
    if (model == NULL || graph == NULL || inputs == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: model, graph and x are required");
    gat_status status = check_inputs(ctx, model, graph, inputs);
    if (status != GAT_OK)
        return status;
    const float *x = inputs->x;
    const int64_t num_nodes = inputs->num_nodes, in_features = inputs->in_features;
    const bool family = gat__trainfam_needed(model) || inputs->x_dst != NULL;
    gat_trainer_options defaults;
    gat_trainer_options_init(&defaults);
    const gat_trainer_options *o = options != NULL ? options : &defaults;
    if ((status = gat__trainer_check_options(ctx, o)) != GAT_OK)
        return status;
    int64_t nnz = 0;
    if ((status = scan_input(ctx, x, num_nodes, in_features, &nnz)) != GAT_OK)
        return status;

    gat_trainer *t = gat__calloc_array(ctx, 1, sizeof *t, "trainer", &status);
    if (t == NULL)
        return status;
    t->allocator = ctx->allocator;
    t->model = model;
    t->graph = graph;
    t->x = x;
    /* The output's rows: the graph's destinations (x's rows but for a
     * bipartite graph). */
    t->num_nodes = gat_graph_num_nodes(graph);
    t->in_features = in_features;
    t->options = *o;
    const int layers = model->num_layers;
    const int64_t n = t->num_nodes;
    if (!family && (t->layers = gat__calloc_array(ctx, layers, sizeof *t->layers,
                                                  "trainer layers", &status)) == NULL)
        goto fail;

    /* Layer 0's input: sparse or dense (borrowed). x has num_nodes rows
     * (N_src of a bipartite graph, whose x_dst stays dense). */
    t->sparse = o->input_format == GAT_INPUT_SPARSE ||
                (o->input_format == GAT_INPUT_AUTO &&
                 (double)nnz <= GAT_SPARSE_INPUT_DENSITY * (double)num_nodes * (double)in_features);
    if (t->sparse) {
        /* W^T / dW^T of H*C columns: every map of x (the family's lin,
         * lin_r and res, at most H*C wide) takes its turn in them. */
        const gat_layer_config *c0 = &model->layers[0].config;
        status = gat__sparse_input_build(ctx, x, num_nodes, in_features,
                                         c0->heads * c0->channels, &t->sparse_x);
        if (status != GAT_OK)
            goto fail;
    }

    int64_t max_hc = 0, max_heads = 0, max_hidden = 0, max_partials = 0;
    int num_params = 0;
    for (int l = 0; l < layers; l++) {
        const gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
        num_params += gat__layer_param_count(layer);
        if (family) { /* the rest is in gat__trainfam_create */
            if (l + 1 < layers)
                max_hidden = width > max_hidden ? width : max_hidden;
            else
                ALLOC(t->d_logits, n * width, "output gradient");
            max_hc = hc > max_hc ? hc : max_hc;
            continue;
        }
        gat__layer_state *st = &t->layers[l];
        const int64_t edges = gat_graph_num_attention_edges(graph, c->add_self_loops);
        /* N * H*C and N * F_in fit (H*C, F_in <= 2^24, N < 2^31); E' * H need not. */
        if (edges > INT64_MAX / c->heads) {
            status = gat__fail(ctx, GAT_ERR_OVERFLOW,
                               "trainer: layer %d: %lld edges x %lld heads overflow", l,
                               (long long)edges, (long long)c->heads);
            goto fail;
        }
        gat__edge_views *views = &t->views[c->add_self_loops ? 1 : 0];
        if (!views->built &&
            (status = gat__edge_views_build(ctx, graph, c->add_self_loops, views)) != GAT_OK)
            goto fail;
        st->views = views;
        st->input = l == 0 ? x : t->layers[l - 1].output;
        if ((status = gat__layer_state_alloc(ctx, st, c, o, n, edges, !(l == 0 && t->sparse),
                                             l + 1 < layers)) != GAT_OK)
            goto fail;
        if (l + 1 < layers) {
            if (width > max_hidden)
                max_hidden = width;
        } else {
            ALLOC(t->d_logits, n * width, "output gradient");
        }
        if (hc > max_hc)
            max_hc = hc;
        if (c->heads > max_heads)
            max_heads = c->heads;
        const int64_t att = gat__attention_backward_scratch(c, n);
        const int64_t proj = gat__project_backward_scratch(c, n);
        max_partials = att > max_partials ? att : max_partials;
        max_partials = proj > max_partials ? proj : max_partials;
    }
    {
        /* The logits share their buffer with the backward's dyc. */
        const gat_layer_config *last = &model->layers[layers - 1].config;
        const int64_t width = gat__layer_out_width(last);
        ALLOC(t->logits, n * (width > max_hc ? width : max_hc), "model output");
        if (!family)
            t->layers[layers - 1].output = t->logits;
    }
    if (!family) {
        ALLOC(t->dot, n * max_heads, "score gradient");
        ALLOC(t->d_score_dst, n * max_heads, "score gradient");
        ALLOC(t->active, n, "active rows");
        ALLOC(t->partials, max_partials, "gradient partial sums");
    }
    for (int b = 0; b < 2 && b + 1 < layers; b++)
        ALLOC(t->d_hidden[b], n * max_hidden, "hidden-feature gradient");

    if ((status = gat__params_create(ctx, model, &t->params, &num_params, &t->slab)) !=
        GAT_OK)
        goto fail;
    t->num_params = num_params;
    if (family && (status = gat__trainfam_create(ctx, t, inputs)) != GAT_OK)
        goto fail;
    *trainer = t;
    return GAT_OK;
fail:
    gat_trainer_destroy(&t);
    return status;
}

int64_t gat_trainer_steps(const gat_trainer *t) { return t != NULL ? t->steps : 0; }

bool gat_trainer_sparse_input(const gat_trainer *t) { return t != NULL && t->sparse; }

static int64_t classes_of(const gat_trainer *t) { return gat_model_out_features(t->model); }

gat_status gat_trainer_forward(gat_context *ctx, gat_trainer *t, bool training, float *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer forward: trainer and out are required");
    t->plan = NULL; /* every row */
    gat_status status = gat__trainer_forward(ctx, t, training);
    if (status == GAT_OK)
        memcpy(out, t->logits, (size_t)(t->num_nodes * classes_of(t)) * sizeof *out);
    return status;
}

gat_status gat_trainer_backward(gat_context *ctx, gat_trainer *t, const float *d_out, float *d_x)
{
    const gat_input_gradients grads = {.d_x = d_x};
    return gat_trainer_backward_inputs(ctx, t, d_out, &grads);
}

gat_status gat_trainer_backward_inputs(gat_context *ctx, gat_trainer *t, const float *d_out,
                                       const gat_input_gradients *grads)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || d_out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer backward: trainer and d_out are required");
    if (!t->have_forward)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer backward: no training forward since the last update or "
                         "evaluation");
    const gat_input_gradients none = {0};
    const gat_input_gradients *g = grads != NULL ? grads : &none;
    const bool has_dst = t->family != NULL && t->family->x_dst != NULL;
    const bool has_attr = t->family != NULL && t->family->edge_attr != NULL;
    if (g->d_x_dst != NULL && !has_dst)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer backward: d_x_dst asked for, but the trainer was made without "
                         "x_dst");
    if (g->d_edge_attr != NULL && !has_attr)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer backward: d_edge_attr asked for, but the trainer was made "
                         "without edge_attr");
    if (t->family != NULL)
        return gat__trainfam_backward(ctx, t, d_out, g->d_x, g->d_x_dst, g->d_edge_attr);
    return gat__trainer_backward(ctx, t, d_out, g->d_x);
}

gat_status gat_trainer_gradients(gat_trainer *t, int layer, gat_layer_params *g)
{
    if (t == NULL || g == NULL || layer < 0 || layer >= t->model->num_layers)
        return GAT_ERR_INVALID;
    const gat__param *p = &t->params[gat__first_param(t, layer)];
    if (layer == 0 && t->sparse) /* kept as dW^T until asked for */
        gat__sparse_weight_gradient(&t->sparse_x,
                                    t->model->layers[0].config.heads * t->model->layers[0].config.channels,
                                    p[0].grad);
    /* The tensors in kind order, each gradient where the layer has it. */
    gat__layer grads;
    memset(&grads, 0, sizeof grads);
    for (int kind = 0, k = 0; kind < GAT__T_COUNT; kind++)
        if (*gat__layer_tensor_data(&t->model->layers[layer], (gat__tensor_kind)kind) != NULL)
            *gat__layer_tensor_data(&grads, (gat__tensor_kind)kind) = p[k++].grad;
    *g = (gat_layer_params){grads.weight, grads.att_src, grads.att_dst, grads.bias, grads.att,
                            grads.weight_dst, grads.bias_src, grads.bias_dst, grads.weight_edge,
                            grads.att_edge, grads.weight_res};
    return GAT_OK;
}

void gat__optimizer_step(gat_context *ctx, const gat_trainer_options *o, int64_t step,
                         const gat__layer *layer0, gat__sparse_input *sparse,
                         const gat__param *params, int num_params, int update_team)
{
    const gat__update_rule rule = gat__update_rule_make(o, step);
    int first = 0;
    if (sparse != NULL) {
        /* Its gradient is still dW^T, and W^T is wanted next. */
        const gat__param *p = &params[0];
        gat__sparse_update_weight(layer0, sparse, rule, p->value, p->m, p->v, step,
                                  gat__update_team(ctx, update_team, p->count));
        first = 1;
    }
    gat__params_update(ctx, rule, params + first, num_params - first, update_team);
}

/* Weight decay and the optimizer step over every parameter. */
static void optimizer_update(gat_context *ctx, gat_trainer *t)
{
    /* The plain layer's weight is kept as dW^T (the family's maps write dW). */
    gat__optimizer_step(ctx, &t->options, t->steps + 1, &t->model->layers[0],
                        t->sparse && t->family == NULL ? &t->sparse_x : NULL, t->params,
                        t->num_params, t->update_team);
}

gat_status gat_trainer_update(gat_context *ctx, gat_trainer *t)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer update: NULL trainer");
    if (!t->have_gradients)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer update: no backward since the last update");
    optimizer_update(ctx, t);
    t->steps++;
    t->have_forward = false;
    t->have_gradients = false;
    return GAT_OK;
}

gat_status gat__step_gradients(gat_context *ctx, gat_trainer *t, const gat__plan *plan,
                               const int64_t *labels, const int64_t *index, int64_t count,
                               gat_metrics *train)
{
    t->plan = plan;
    gat_status status = gat__trainer_forward(ctx, t, true);
    if (status != GAT_OK)
        return status;
    gat__nll_forward_backward(t->logits, classes_of(t), labels, index, count, train,
                              t->d_logits, t->num_nodes);
    if (!isfinite(train->loss))
        return gat__fail(ctx, GAT_ERR_NONFINITE,
                         "trainer step %lld: the loss is not finite (%g); parameters unchanged",
                         (long long)t->steps + 1, train->loss);
    return gat__trainer_backward(ctx, t, t->d_logits, NULL);
}

gat_status gat_trainer_step(gat_context *ctx, gat_trainer *t, const int64_t *labels,
                            const int64_t *index, int64_t count, gat_metrics *train)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer step: NULL trainer");
    gat_status status =
        gat__check_targets(ctx, labels, index, count, t->num_nodes, classes_of(t));
    if (status != GAT_OK)
        return status;
    const gat__plan *plan = NULL; /* the family's passes run over every row */
    gat_metrics metrics;
    if ((t->family == NULL && (status = gat__plan_for(ctx, t, index, count, &plan)) != GAT_OK) ||
        (status = gat__step_gradients(ctx, t, plan, labels, index, count, &metrics)) !=
            GAT_OK ||
        (status = gat_trainer_update(ctx, t)) != GAT_OK)
        return status;
    if (train != NULL)
        *train = metrics;
    return GAT_OK;
}

gat_status gat_trainer_evaluate(gat_context *ctx, gat_trainer *t, const int64_t *labels,
                                const int64_t *index, int64_t count, gat_metrics *metrics)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || metrics == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer evaluate: trainer and metrics are required");
    gat_status status =
        gat__check_targets(ctx, labels, index, count, t->num_nodes, classes_of(t));
    if (status != GAT_OK)
        return status;
    const gat__plan *plan = NULL;
    if (t->family == NULL && (status = gat__plan_for(ctx, t, index, count, &plan)) != GAT_OK)
        return status;
    t->plan = plan;
    if ((status = gat__trainer_forward(ctx, t, false)) != GAT_OK)
        return status;
    gat__nll_forward_backward(t->logits, classes_of(t), labels, index, count, metrics, NULL,
                              t->num_nodes);
    return GAT_OK;
}
