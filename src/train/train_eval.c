/*
 * An evaluation that leaves the training state alone: the forward without
 * dropout into buffers of its own, so that a fit can evaluate epoch e on
 * one thread while another runs the forward and backward of step e + 1
 * (both read the same parameters; the update waits for both). The same
 * kernels on the same inputs as gat_trainer_evaluate, so the same bits.
 */
#include "trainer.h"

#include <string.h>

void gat__eval_buffers_free(const gat_allocator *allocator, gat__eval_buffers *b)
{
    GAT_FREE(allocator, b->storage);
    GAT_FREE(allocator, b->layers);
    GAT_FREE(allocator, b->compact);
    b->compact_floats = 0;
}

gat_status gat__eval_buffers_make(gat_context *ctx, gat_trainer *t)
{
    gat__eval_buffers *b = &t->eval;
    if (b->layers != NULL)
        return GAT_OK;
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    int64_t total = 0, max_compact = 0;
    for (int l = 0; l < m->num_layers; l++) {
        const gat_layer_config *c = &m->layers[l].config;
        total += n * (c->heads * c->channels + 2 * c->heads + gat__layer_out_width(c));
        const int64_t compact = n * (2 * c->in_features + c->heads * c->channels + 2 * c->heads);
        if (!(l == 0 && t->sparse) && compact > max_compact)
            max_compact = compact;
    }
    gat_status status;
    if ((b->layers = gat__calloc_array(ctx, m->num_layers, sizeof *b->layers, "evaluation",
                                       &status)) == NULL ||
        (b->storage = gat__alloc_array(ctx, total, sizeof(float), "evaluation", &status)) ==
            NULL ||
        (max_compact > 0 &&
         (b->compact = gat__alloc_array(ctx, max_compact, sizeof(float), "evaluation",
                                        &status)) == NULL)) {
        gat__eval_buffers_free(&t->allocator, b);
        return status;
    }
    b->compact_floats = max_compact;
    float *at = b->storage;
    for (int l = 0; l < m->num_layers; l++) {
        const gat_layer_config *c = &m->layers[l].config;
        gat__layer_buffers *lb = &b->layers[l];
        lb->projected = at, at += n * c->heads * c->channels;
        lb->score_src = at, at += n * c->heads;
        lb->score_dst = at, at += n * c->heads;
        lb->output = at, at += n * gat__layer_out_width(c);
    }
    return GAT_OK;
}

gat_status gat__evaluate_apart(gat_context *ctx, gat_trainer *t, const gat__plan *plan,
                               const int64_t *labels, const int64_t *index, int64_t count,
                               gat_metrics *metrics)
{
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    const gat__dropout none = gat__dropout_make(0, 0, 0, GAT__DROP_INPUT, 0.0f);
    const gat__eval_buffers *b = &t->eval;
    for (int l = 0; l < m->num_layers; l++) {
        const gat__layer *layer = &m->layers[l];
        const gat__layer_buffers *lb = &b->layers[l];
        const gat__rows *proj = plan != NULL ? plan->layers[l].proj : NULL;
        gat_status status;
        if (l == 0 && t->sparse) {
            gat__sparse_project_forward(ctx, layer, &t->sparse_x, proj, &none, t->steps, false,
                                        lb->projected, lb->score_src, lb->score_dst);
        } else {
            const float *in = l == 0 ? t->x : b->layers[l - 1].output;
            if ((status = gat__project_train_forward(ctx, layer, proj, in, n, b->compact,
                                                     lb->projected, lb->score_src,
                                                     lb->score_dst)) != GAT_OK)
                return status;
        }
        status = gat__attention_train_forward(
            ctx, layer, t->layers[l].views, plan != NULL ? plan->layers[l].edge : NULL,
            lb->projected, lb->score_src, lb->score_dst, &none, NULL,
            l + 1 < m->num_layers ? m->activation : GAT_ACT_NONE, NULL, NULL, lb->output);
        if (status != GAT_OK)
            return status;
    }
    gat__nll_forward_backward(b->layers[m->num_layers - 1].output, gat_model_out_features(t->model),
                              labels, index, count, metrics, NULL, n);
    return GAT_OK;
}
