/*
 * The GAT family trainer's state (train_family.h): the edge views of each
 * self-loop policy, each layer's saved activations, and the backward's
 * scratch, all allocated once when the trainer is made.
 */
#include "train_family.h"
#include "trainer.h"

#include <string.h>

bool gat__trainfam_needed(const gat_model *model)
{
    for (int l = 0; l < model->num_layers; l++)
        if (!gat__layer_is_plain(&model->layers[l].config))
            return true;
    return false;
}

void gat__trainfam_free(const gat_allocator *a, gat__trainfam **family, int layers)
{
    gat__trainfam *f = *family;
    if (f == NULL)
        return;
    gat__trainfam_edges_free(a, &f->edges[0]);
    gat__trainfam_edges_free(a, &f->edges[1]);
    if (f->layers != NULL) {
        for (int l = 0; l < layers; l++) {
            gat__trainfam_layer *st = &f->layers[l];
            GAT_FREE(a, st->dropped);
            GAT_FREE(a, st->input_keep);
            if (st->xd != st->xs)
                GAT_FREE(a, st->xd);
            GAT_FREE(a, st->xs);
            GAT_FREE(a, st->proj_dropped);
            GAT_FREE(a, st->proj_keep);
            GAT_FREE(a, st->ss);
            GAT_FREE(a, st->sd);
            GAT_FREE(a, st->loop_attr);
            GAT_FREE(a, st->edge_proj);
            GAT_FREE(a, st->stats);
            GAT_FREE(a, st->attention_keep);
            if (l + 1 < layers)
                GAT_FREE(a, st->output);
        }
        GAT_FREE(a, f->layers);
    }
    GAT_FREE(a, f->d_xs);
    GAT_FREE(a, f->d_sd);
    GAT_FREE(a, f->tmp_in);
    GAT_FREE(a, f->edge_u);
    GAT_FREE(a, f->partials);
    GAT_FREE(a, f->row_scratch);
    gat__free_raw(a, f);
    *family = NULL;
}

gat_status gat__trainfam_row_buffers(gat_context *ctx, gat__trainfam *fam, int64_t per_thread,
                              int threads)
{
    if (per_thread * threads <= fam->row_floats * fam->scratch_threads)
        return GAT_OK;
    gat_status status;
    float *grown = gat__alloc_array(ctx, per_thread * threads, sizeof *grown, "row buffers",
                                    &status);
    if (grown == NULL)
        return status;
    gat__free_raw(&ctx->allocator, fam->row_scratch);
    fam->row_scratch = grown;
    fam->row_floats = per_thread;
    fam->scratch_threads = threads;
    return GAT_OK;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

#define ALLOC(ptr, count, what) GAT__ALLOC_OR_FAIL(ctx, ptr, count, false, what, status)

gat_status gat__trainfam_create(gat_context *ctx, gat_trainer *t, const gat_inputs *inputs)
{
    const gat_model *m = t->model;
    const int layers = m->num_layers;
    gat_status status;
    gat__trainfam *f = gat__calloc_array(ctx, 1, sizeof *f, "trainer state", &status);
    if (f == NULL)
        return status;
    t->family = f;
    f->x_dst = inputs->x_dst;
    f->edge_attr = inputs->edge_attr;
    f->edge_dim = inputs->edge_attr != NULL ? inputs->edge_dim : 0;
    f->num_input_edges = gat_graph_num_edges(t->graph);
    if ((f->layers = gat__calloc_array(ctx, layers, sizeof *f->layers, "trainer layers",
                                       &status)) == NULL)
        goto fail;
    int64_t max_src_hc = 0, max_dst_h = 0, max_in = 0;
    int64_t max_partials = 0, max_u = 0;
    for (int l = 0; l < layers; l++) {
        const gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__trainfam_layer *st = &f->layers[l];
        gat__trainfam_edges *e = &f->edges[c->add_self_loops ? 1 : 0];
        if (!e->built &&
            (status = gat__trainfam_edges_build(ctx, t->graph, c->add_self_loops,
                                                f->edge_attr, f->edge_dim, e)) != GAT_OK)
            goto fail;
        st->edges = e;
        const int64_t n_src = e->num_src, n_dst = e->num_dst, slots = e->num_slots;
        const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
        const int64_t f_in = c->in_features, f_dst = gat_layer_dst_features(c);
        if (slots > INT64_MAX / c->heads) {
            status = gat__fail(ctx, GAT_ERR_OVERFLOW,
                               "trainer: layer %d: %lld edges x %lld heads overflow", l,
                               (long long)slots, (long long)c->heads);
            goto fail;
        }
        st->input = l == 0 ? t->x : f->layers[l - 1].output;
        st->input_dst = l == 0 ? inputs->x_dst : NULL;
        st->sparse = l == 0 && t->sparse ? &t->sparse_x : NULL;
        if (t->options.dropout > 0.0 && st->sparse == NULL) {
            ALLOC(st->dropped, n_src * f_in, "dropped-out layer input");
            ALLOC(st->input_keep, n_src * f_in, "input dropout mask");
        }
        ALLOC(st->xs, n_src * hc, "projected features");
        if (t->options.projected_dropout > 0.0) {
            ALLOC(st->proj_dropped, n_src * hc, "dropped-out projected features");
            ALLOC(st->proj_keep, n_src * hc, "projected-feature dropout mask");
        }
        if (layer->weight_dst != NULL || st->input_dst != NULL)
            ALLOC(st->xd, n_dst * hc, "projected destination features");
        else
            st->xd = st->xs;
        if (c->type == GAT_LAYER_GAT) {
            ALLOC(st->ss, n_src * c->heads, "source scores");
            ALLOC(st->sd, n_dst * c->heads, "destination scores");
        }
        if (c->edge_dim > 0) {
            ALLOC(st->loop_attr, max64(e->num_loops, 1) * c->edge_dim, "self-loop attributes");
            /* Once: the attributes do not change during training. */
            if (c->add_self_loops)
                gat__trainfam_fill_forward(ctx, e, c, f->edge_attr, st->loop_attr);
            ALLOC(st->edge_proj, (c->type == GAT_LAYER_GAT ? c->heads : hc) * c->edge_dim,
                  "edge projection");
        }
        ALLOC(st->stats, n_dst * 3 * c->heads, "softmax statistics");
        if (t->options.attention_dropout > 0.0)
            ALLOC(st->attention_keep, max64(slots, 1) * gat__mask_bytes(c->heads),
                  "attention dropout mask");
        if (l + 1 < layers)
            ALLOC(st->output, n_dst * width, "hidden features");
        else
            st->output = t->logits;
        max_src_hc = max64(max_src_hc, n_src * hc);
        max_dst_h = max64(max_dst_h, n_dst * c->heads);
        max_in = max64(max_in, max64(n_src * f_in, n_dst * f_dst));
        max_u = max64(max_u, c->heads * c->edge_dim);
        const int64_t row_blocks = (n_dst + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
        const int64_t src_blocks = (n_src + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
        const int64_t part = hc + (c->type == GAT_LAYER_GATV2 ? hc : c->heads) * c->edge_dim;
        max_partials = max64(max_partials, row_blocks * part);
        max_partials = max64(max_partials, src_blocks * hc);
        max_partials = max64(max_partials, gat__linear_backward_scratch(n_src, f_in, hc));
        max_partials = max64(max_partials, gat__linear_backward_scratch(n_dst, f_dst, hc));
        max_partials = max64(max_partials, gat__linear_backward_scratch(n_dst, f_dst, width));
    }
    ALLOC(f->d_xs, max64(max_src_hc, 1), "projected-feature gradient");
    ALLOC(f->d_sd, max64(max_dst_h, 1), "score gradient");
    ALLOC(f->tmp_in, max64(max_in, 1), "input gradient");
    ALLOC(f->edge_u, max64(max_u, 1), "edge-term sums");
    ALLOC(f->partials, max64(max_partials, 1), "gradient partial sums");
    return GAT_OK;
fail:
    gat__trainfam_free(&ctx->allocator, &t->family, layers);
    return status;
}
