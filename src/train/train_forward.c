/*
 * The model's forward and backward in training: the layer loop of
 * forward.c, with dropout and with each layer's activations kept for the
 * backward (projected rows, node scores, attention coefficients, the
 * layer's output), and the backward walking the layers in reverse.
 *
 * Dropout placement follows the paper and PyG's GAT example: dropout on
 * the input of every layer, the activation (ELU) between layers, dropout
 * on the attention coefficients inside every layer; optionally (the
 * authors' TensorFlow code) on the projected features the aggregation
 * reads, after the scores were taken from them.
 */
#include "trainer.h"

/* Layer `layer`'s input dropout in the step after `step` updates. */
static gat__dropout input_dropout_at(const gat_trainer *t, int64_t step, int layer, bool training)
{
    return gat__dropout_make(t->options.seed, step, layer, GAT__DROP_INPUT,
                             training ? (float)t->options.dropout : 0.0f);
}

static gat__dropout input_dropout(const gat_trainer *t, int layer, bool training)
{
    return input_dropout_at(t, t->steps, layer, training);
}

void gat__trainer_draw_ahead(gat_trainer *t, const gat__plan *plan)
{
    if (!t->sparse)
        return;
    const gat__dropout next = input_dropout_at(t, t->steps + 1, 0, true);
    gat__sparse_draw_ahead(&t->sparse_x, &next, plan != NULL ? plan->layers[0].proj : NULL);
}

static gat__dropout attention_dropout(const gat_trainer *t, int layer, bool training)
{
    return gat__dropout_make(t->options.seed, t->steps, layer, GAT__DROP_ATTENTION,
                             training ? (float)t->options.attention_dropout : 0.0f);
}

static gat__dropout projected_dropout(const gat_trainer *t, int layer, bool training)
{
    return gat__dropout_make(t->options.seed, t->steps, layer, GAT__DROP_PROJECTED,
                             training ? (float)t->options.projected_dropout : 0.0f);
}

/* The rows of layer l the current plan computes (NULL: all). */
static const gat__rows *edge_rows(const gat_trainer *t, int l)
{
    return t->plan != NULL ? t->plan->layers[l].edge : NULL;
}

static const gat__rows *proj_rows(const gat_trainer *t, int l)
{
    return t->plan != NULL ? t->plan->layers[l].proj : NULL;
}

/* Scratch for gathering a list's rows of a dense layer (grown on demand,
 * kept: the same lists come back every epoch). */
static gat_status compact_scratch(gat_context *ctx, gat_trainer *t, const gat__rows *rows,
                                  const gat_layer_config *c, float **out)
{
    *out = NULL;
    if (rows == NULL)
        return GAT_OK;
    const int64_t f = c->in_features, hc = c->heads * c->channels;
    const int64_t need = rows->count * (2 * f + hc + 2 * c->heads);
    if (need > t->compact_floats) {
        gat_status status;
        float *grown = gat__alloc_array(ctx, need, sizeof *grown, "gathered rows", &status);
        if (grown == NULL)
            return status;
        gat__free_raw(&t->allocator, t->compact);
        t->compact = grown;
        t->compact_floats = need;
    }
    *out = t->compact;
    return GAT_OK;
}

gat_status gat__trainer_forward(gat_context *ctx, gat_trainer *t, bool training)
{
    if (t->family != NULL)
        return gat__trainfam_forward(ctx, t, training);
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    gat_status status = GAT_OK;
    t->have_forward = false;
    t->forward_spent = false;
    for (int l = 0; l < m->num_layers; l++) {
        const gat__layer *layer = &m->layers[l];
        gat__layer_state *st = &t->layers[l];
        const gat_layer_config *c = &layer->config;
        const gat__dropout drop_in = input_dropout(t, l, training);
        const gat__rows *proj = proj_rows(t, l);
        st->used_dropped = false;
        if (l == 0 && t->sparse) {
            gat__sparse_project_forward(ctx, layer, &t->sparse_x, proj, &drop_in, t->steps, true,
                                        st->projected, st->score_src, st->score_dst);
        } else {
            const float *in = st->input;
            if (gat__dropout_active(&drop_in)) {
                gat__dropout_forward_rows(ctx, &drop_in, proj, in, st->dropped, st->input_keep,
                                          n, c->in_features);
                in = st->dropped;
                st->used_dropped = true;
            }
            float *compact;
            if ((status = compact_scratch(ctx, t, proj, c, &compact)) != GAT_OK ||
                (status = gat__project_train_forward(ctx, layer, proj, in, n, compact,
                                                     st->projected, st->score_src,
                                                     st->score_dst)) != GAT_OK)
                return status;
        }
        /* The authors' dropout of the projected features: the scores above
         * came from them as they are, the aggregation reads them dropped. */
        const gat__dropout drop_proj = projected_dropout(t, l, training);
        const float *features = st->projected;
        st->used_proj_dropped = gat__dropout_active(&drop_proj);
        if (st->used_proj_dropped) {
            gat__dropout_projected_rows(ctx, &drop_proj, proj, st->projected, st->proj_dropped,
                                        st->proj_keep, n, c->heads, c->channels);
            features = st->proj_dropped;
        }
        /* The fused kernel: softmax, attention dropout, aggregation, bias and
         * the activation between layers; and the coefficients the backward
         * starts from (an evaluation just overwrites them). */
        const gat__dropout drop_att = attention_dropout(t, l, training);
        st->used_attention_keep = gat__dropout_active(&drop_att);
        status = gat__attention_train_forward(
            ctx, layer, st->views, edge_rows(t, l), features, st->score_src,
            st->score_dst, &drop_att, st->attention_keep,
            l + 1 < m->num_layers ? m->activation : GAT_ACT_NONE, training ? st->shift : NULL,
            training ? st->inv_sum : NULL, st->output);
        if (status != GAT_OK)
            return status;
    }
    t->have_forward = training;
    return GAT_OK;
}

gat_status gat__trainer_backward(gat_context *ctx, gat_trainer *t, const float *d_logits,
                                 float *d_x)
{
    if (t->family != NULL)
        return gat__trainfam_backward(ctx, t, d_logits, d_x, NULL, NULL);
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    const float *d_out = d_logits;
    if (t->forward_spent) {
        /* A second backward of the same forward: the first overwrote the
         * projected features with their gradients. The forward is redone
         * (the same step, so the same masks and bits). */
        gat_status status = gat__trainer_forward(ctx, t, true);
        if (status != GAT_OK)
            return status;
    }
    for (int l = m->num_layers - 1; l >= 0; l--) {
        const gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__layer_state *st = &t->layers[l];
        const gat__param *p = &t->params[gat__first_param(t, l)];
        const int64_t hc = c->heads * c->channels, f = c->in_features;
        const gat__dropout drop_att = attention_dropout(t, l, true);
        const gat__dropout drop_proj = projected_dropout(t, l, true);
        const gat__rows *proj = proj_rows(t, l);
        const bool proj_dropped = st->used_proj_dropped;
        const gat__attention_backward_args args = {
            .views = st->views, .edge_rows = edge_rows(t, l), .proj_rows = proj,
            .sources = t->plan != NULL ? t->plan->layers[l].sources : NULL,
            .projected = st->projected, .dropped = proj_dropped ? st->proj_dropped : NULL,
            .proj_keep = proj_dropped ? st->proj_keep : NULL, .proj_scale = drop_proj.scale,
            .score_src = st->score_src, .score_dst = st->score_dst, .shift = st->shift,
            .inv_sum = st->inv_sum,
            .keep = st->used_attention_keep ? st->attention_keep : NULL,
            .keep_scale = drop_att.scale, .d_out = d_out, .d_att_src = p[1].grad,
            .d_att_dst = p[2].grad, .d_bias = layer->bias != NULL ? p[3].grad : NULL,
            .dyc = t->logits, .dot = t->dot, .d_score_dst = t->d_score_dst,
            .active = t->active, .partials = t->partials};
        gat_status status = gat__attention_backward(ctx, layer, &args);
        if (status != GAT_OK)
            return status;
        t->forward_spent = true;
        const float *d_projected = st->projected; /* written over the features */

        /* The gradient for this layer's input: a hidden buffer (the one
         * d_out is not in) or the caller's d_x for layer 0. */
        float *d_in = l > 0 ? t->d_hidden[(m->num_layers - 1 - l) % 2] : d_x;
        float *compact = NULL; /* the sparse layer gathers only for d_x */
        if ((!(l == 0 && t->sparse) || d_in != NULL) &&
            (status = compact_scratch(ctx, t, proj, c, &compact)) != GAT_OK)
            return status;
        if (l == 0 && t->sparse) {
            gat__sparse_project_backward(ctx, &t->sparse_x, proj, d_projected, hc, false);
            if (d_in != NULL)
                gat__project_backward_rows(ctx, layer, proj, NULL, d_projected, n, NULL, d_in,
                                           compact, NULL);
        } else {
            gat__project_backward_rows(ctx, layer, proj,
                                       st->used_dropped ? st->dropped : st->input, d_projected,
                                       n, p[0].grad, d_in, compact, t->partials);
        }
        if (d_in == NULL)
            break;
        const gat__dropout drop_in = input_dropout(t, l, true);
        if (l == 0) {
            /* The sparse forward kept no dense mask: hashed again (only
             * when the caller asks for d_x). */
            if (gat__dropout_active(&drop_in) && t->sparse &&
                (status = gat__dropout_backward_hashed(ctx, &drop_in, d_in, n * f)) != GAT_OK)
                return status;
            if (gat__dropout_active(&drop_in) && !t->sparse)
                gat__dropout_backward(ctx, &drop_in, st->input_keep, d_in, n * f);
        } else {
            /* This layer's input is the previous layer's activated output. */
            gat__dropout_activation_backward(ctx, &drop_in, st->input_keep, m->activation, proj,
                                             st->input, d_in, n, f);
        }
        d_out = d_in;
    }
    t->have_gradients = true;
    return GAT_OK;
}
