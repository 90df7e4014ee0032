/*
 * The trainer object: option checks, the buffers a training run needs
 * (allocated once, at creation), and the public step / evaluate / forward /
 * backward / update entry points.
 */
#include "trainer.h"

#include <math.h>
#include <string.h>

/* Below this fraction of non-zero entries a sparse input is cheaper (Cora's
 * 1.3% runs about 10x faster than the dense GEMM; the two cross near 15%). */
#define GAT_SPARSE_INPUT_DENSITY 0.10

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

static gat_status check_options(gat_context *ctx, const gat_trainer_options *o)
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
    if (t->layers != NULL) {
        for (int l = 0; l < t->model->num_layers; l++) {
            gat__layer_state *st = &t->layers[l];
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
            if (l + 1 < t->model->num_layers)
                GAT_FREE(a, st->output);
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

#define ALLOC(ptr, count, what)                                                         \
    do {                                                                                \
        if (((ptr) = gat__alloc_array(ctx, (count), sizeof *(ptr), (what), &status)) == \
            NULL)                                                                       \
            goto fail;                                                                  \
    } while (0)

gat_status gat_trainer_create(gat_context *ctx, gat_trainer **trainer, gat_model *model,
                              const gat_graph *graph, const float *x, int64_t num_nodes,
                              int64_t in_features, const gat_trainer_options *options)
{
    if (ctx == NULL || trainer == NULL)
        return GAT_ERR_INVALID;
    *trainer = NULL;
    gat__clear_message(ctx);
    if (model == NULL || graph == NULL || (x == NULL && num_nodes > 0))
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer: model, graph and x are required");
    if (num_nodes != graph->num_nodes)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: x has %lld rows but the graph has %lld nodes",
                         (long long)num_nodes, (long long)graph->num_nodes);
    if (in_features != gat_model_in_features(model))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer: x has %lld columns but layer 0 expects %lld",
                         (long long)in_features, (long long)gat_model_in_features(model));
    if (graph->num_src_nodes != graph->num_nodes)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED, "trainer: bipartite graphs are not trained");
    for (int l = 0; l < model->num_layers; l++)
        if (!gat__layer_is_plain(&model->layers[l].config))
            return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                             "trainer: layer %d: GATv2, edge features, residual connections and "
                             "separate destination weights are not trained (inference only)",
                             l);
    gat_trainer_options defaults;
    gat_trainer_options_init(&defaults);
    const gat_trainer_options *o = options != NULL ? options : &defaults;
    gat_status status = check_options(ctx, o);
    if (status != GAT_OK)
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
    t->num_nodes = num_nodes;
    t->in_features = in_features;
    t->options = *o;
    const int layers = model->num_layers;
    const int64_t n = num_nodes;
    if ((t->layers = gat__calloc_array(ctx, layers, sizeof *t->layers, "trainer layers",
                                       &status)) == NULL)
        goto fail;

    /* Layer 0's input: sparse or dense (borrowed). */
    t->sparse = o->input_format == GAT_INPUT_SPARSE ||
                (o->input_format == GAT_INPUT_AUTO &&
                 (double)nnz <= GAT_SPARSE_INPUT_DENSITY * (double)n * (double)in_features);
    if (t->sparse) {
        const gat_layer_config *c0 = &model->layers[0].config;
        status = gat__sparse_input_build(ctx, x, n, in_features, c0->heads * c0->channels,
                                         &t->sparse_x);
        if (status != GAT_OK)
            goto fail;
    }

    int64_t max_hc = 0, max_heads = 0, max_hidden = 0, max_partials = 0;
    int num_params = 0;
    for (int l = 0; l < layers; l++) {
        const gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__layer_state *st = &t->layers[l];
        const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
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
        if (o->dropout > 0.0 && !(l == 0 && t->sparse)) {
            ALLOC(st->dropped, n * c->in_features, "dropped-out layer input");
            ALLOC(st->input_keep, n * c->in_features, "input dropout mask");
        }
        if (o->attention_dropout > 0.0)
            ALLOC(st->attention_keep, edges * gat__mask_bytes(c->heads),
                  "attention dropout mask");
        ALLOC(st->projected, n * hc, "projected features");
        if (o->projected_dropout > 0.0) {
            ALLOC(st->proj_dropped, n * hc, "dropped-out projected features");
            ALLOC(st->proj_keep, n * hc, "projected-feature dropout mask");
        }
        ALLOC(st->score_src, n * c->heads, "source scores");
        ALLOC(st->score_dst, n * c->heads, "destination scores");
        ALLOC(st->shift, n * c->heads, "softmax shifts");
        ALLOC(st->inv_sum, n * c->heads, "softmax sums");
        if (l + 1 < layers) {
            ALLOC(st->output, n * width, "hidden features");
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
        num_params += layer->bias != NULL ? 4 : 3;
    }
    {
        /* The logits share their buffer with the backward's dyc. */
        const gat_layer_config *last = &model->layers[layers - 1].config;
        const int64_t width = gat__layer_out_width(last);
        ALLOC(t->logits, n * (width > max_hc ? width : max_hc), "model output");
        t->layers[layers - 1].output = t->logits;
    }
    ALLOC(t->dot, n * max_heads, "score gradient");
    ALLOC(t->d_score_dst, n * max_heads, "score gradient");
    ALLOC(t->active, n, "active rows");
    ALLOC(t->partials, max_partials, "gradient partial sums");
    for (int b = 0; b < 2 && b + 1 < layers; b++)
        ALLOC(t->d_hidden[b], n * max_hidden, "hidden-feature gradient");

    /* Parameters: the model's tensors, and grad / m / v / best for each in
     * one zeroed slab (Adam's moments start at zero). */
    if ((t->params = gat__calloc_array(ctx, num_params, sizeof *t->params, "trainer parameters",
                                       &status)) == NULL)
        goto fail;
    int64_t total = 0;
    for (int l = 0, k = 0; l < layers; l++) {
        gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        const int64_t hc = c->heads * c->channels;
        t->params[k++] = (gat__param){.value = layer->weight, .count = hc * c->in_features};
        t->params[k++] = (gat__param){.value = layer->att_src, .count = hc};
        t->params[k++] = (gat__param){.value = layer->att_dst, .count = hc};
        if (layer->bias != NULL)
            t->params[k++] = (gat__param){.value = layer->bias, .count = gat__layer_out_width(c)};
    }
    for (int k = 0; k < num_params; k++)
        total += t->params[k].count;
    if ((t->slab = gat__calloc_array(ctx, 4 * total, sizeof *t->slab, "optimizer state",
                                     &status)) == NULL)
        goto fail;
    for (int64_t k = 0, at = 0; k < num_params; k++) {
        gat__param *p = &t->params[k];
        p->grad = t->slab + at;
        p->m = t->slab + total + at;
        p->v = t->slab + 2 * total + at;
        p->best = t->slab + 3 * total + at;
        at += p->count;
    }
    t->num_params = num_params;
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
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || d_out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "trainer backward: trainer and d_out are required");
    if (!t->have_forward)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "trainer backward: no training forward since the last update or "
                         "evaluation");
    return gat__trainer_backward(ctx, t, d_out, d_x);
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
    memset(g, 0, sizeof *g);
    g->weight = p[0].grad;
    g->att_src = p[1].grad;
    g->att_dst = p[2].grad;
    g->bias = t->model->layers[layer].bias != NULL ? p[3].grad : NULL;
    return GAT_OK;
}

/* Weight decay and the optimizer step over every parameter. */
static void optimizer_update(gat_context *ctx, gat_trainer *t)
{
    const gat__update_rule rule = gat__update_rule_make(&t->options, t->steps + 1);
    int first = 0;
    if (t->sparse) {
        /* Its gradient is still dW^T, and W^T is wanted next. */
        const gat__param *p = &t->params[0];
        gat__sparse_update_weight(&t->model->layers[0], &t->sparse_x, rule, p->value, p->m,
                                  p->v, t->steps + 1,
                                  gat__update_team(ctx, t->update_team, p->count));
        first = 1;
    }
    gat__params_update(ctx, rule, t->params + first, t->num_params - first, t->update_team);
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
    const gat__plan *plan;
    gat_metrics metrics;
    if ((status = gat__plan_for(ctx, t, index, count, &plan)) != GAT_OK ||
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
    const gat__plan *plan;
    if ((status = gat__plan_for(ctx, t, index, count, &plan)) != GAT_OK)
        return status;
    t->plan = plan;
    if ((status = gat__trainer_forward(ctx, t, false)) != GAT_OK)
        return status;
    gat__nll_forward_backward(t->logits, classes_of(t), labels, index, count, metrics, NULL,
                              t->num_nodes);
    return GAT_OK;
}
