/*
 * The model's forward and backward in training: the layer loop of
 * forward.c, with dropout and with each layer's activations kept for the
 * backward (projected rows, node scores, attention coefficients, the
 * layer's output), and the backward walking the layers in reverse.
 *
 * Dropout placement follows the paper and PyG's GAT example: dropout on
 * the input of every layer, the activation (ELU) between layers, dropout
 * on the attention coefficients inside every layer.
 */
#include "trainer.h"

static gat__dropout input_dropout(const gat_trainer *t, int layer, bool training)
{
    return gat__dropout_make(t->options.seed, t->steps, layer, GAT__DROP_INPUT,
                             training ? (float)t->options.dropout : 0.0f);
}

static gat__dropout attention_dropout(const gat_trainer *t, int layer, bool training)
{
    return gat__dropout_make(t->options.seed, t->steps, layer, GAT__DROP_ATTENTION,
                             training ? (float)t->options.attention_dropout : 0.0f);
}

gat_status gat__trainer_forward(gat_context *ctx, gat_trainer *t, bool training)
{
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    gat_status status = GAT_OK;
    t->have_forward = false;
    for (int l = 0; l < m->num_layers; l++) {
        const gat__layer *layer = &m->layers[l];
        gat__layer_state *st = &t->layers[l];
        const gat_layer_config *c = &layer->config;
        const gat__dropout drop_in = input_dropout(t, l, training);
        st->used_dropped = false;
        if (l == 0 && t->sparse) {
            gat__sparse_project_forward(ctx, layer, &t->sparse_x, &drop_in, t->steps,
                                        st->projected, st->score_src, st->score_dst);
        } else {
            const float *in = st->input;
            if (gat__dropout_active(&drop_in)) {
                gat__dropout_forward(ctx, &drop_in, in, st->dropped, st->input_keep,
                                     n * c->in_features);
                in = st->dropped;
                st->used_dropped = true;
            }
            status = gat__project_forward(ctx, layer, in, n, st->projected, st->score_src,
                                          st->score_dst);
            if (status != GAT_OK)
                return status;
        }
        /* The fused kernel: softmax, aggregation, bias; and, in training,
         * the coefficients the backward starts from. */
        status = gat__attention_forward(ctx, layer, t->graph, st->projected, st->score_src,
                                        st->score_dst, st->output, training ? st->alpha : NULL,
                                        t->loops_before);
        if (status != GAT_OK)
            return status;
        const gat__dropout drop_att = attention_dropout(t, l, training);
        st->used_attention_keep = gat__dropout_active(&drop_att);
        if (st->used_attention_keep) {
            status = gat__attention_dropout_aggregate(ctx, layer, t->graph, t->loops_before,
                                                      st->projected, st->alpha, &drop_att,
                                                      st->attention_keep, st->output);
            if (status != GAT_OK)
                return status;
        }
        if (l + 1 < m->num_layers)
            gat__activation_train_forward(ctx, m->activation, st->output,
                                          n * gat__layer_out_width(c));
    }
    t->have_forward = training;
    return GAT_OK;
}

gat_status gat__trainer_backward(gat_context *ctx, gat_trainer *t, const float *d_logits,
                                 float *d_x)
{
    const gat_model *m = t->model;
    const int64_t n = t->num_nodes;
    const float *d_out = d_logits;
    for (int l = m->num_layers - 1; l >= 0; l--) {
        const gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__layer_state *st = &t->layers[l];
        const gat__param *p = &t->params[gat__first_param(t, l)];
        const int64_t hc = c->heads * c->channels, f = c->in_features;
        const gat__dropout drop_att = attention_dropout(t, l, true);
        gat_status status = gat__attention_backward(
            ctx, layer, t->graph, t->loops_before, st->transpose, st->projected, st->score_src,
            st->score_dst, st->alpha, st->used_attention_keep ? st->attention_keep : NULL,
            drop_att.scale, d_out, t->d_projected, p[1].grad, p[2].grad,
            layer->bias != NULL ? p[3].grad : NULL, t->edge_grad, t->d_score_src, t->d_score_dst,
            t->partials);
        if (status != GAT_OK)
            return status;

        /* The gradient for this layer's input: a hidden buffer (the one
         * d_out is not in) or the caller's d_x for layer 0. */
        float *d_in = l > 0 ? t->d_hidden[(m->num_layers - 1 - l) % 2] : d_x;
        if (l == 0 && t->sparse) {
            gat__sparse_project_backward(ctx, &t->sparse_x, t->d_projected, hc, p[0].grad);
            if (d_in != NULL)
                gat__project_backward(ctx, layer, NULL, t->d_projected, n, NULL, d_in, NULL);
        } else {
            gat__project_backward(ctx, layer, st->used_dropped ? st->dropped : st->input,
                                  t->d_projected, n, p[0].grad, d_in, t->partials);
        }
        if (d_in == NULL)
            break;
        const gat__dropout drop_in = input_dropout(t, l, true);
        if (gat__dropout_active(&drop_in)) {
            if (l == 0 && t->sparse) {
                /* The sparse forward kept no dense mask: hash it again (only
                 * when the caller asks for d_x). */
                uint8_t *keep = gat__alloc_array(ctx, n * f, 1, "input dropout mask", &status);
                if (keep == NULL)
                    return status;
                gat__dropout_mask(&drop_in, 0, n * f, keep);
                gat__dropout_backward(ctx, &drop_in, keep, d_in, n * f);
                gat__free_raw(&ctx->allocator, keep);
            } else {
                gat__dropout_backward(ctx, &drop_in, st->input_keep, d_in, n * f);
            }
        }
        if (l > 0)
            /* This layer's input is the previous layer's activated output. */
            gat__activation_backward(ctx, m->activation, st->input, d_in, n * f);
        d_out = d_in;
    }
    t->have_gradients = true;
    return GAT_OK;
}
