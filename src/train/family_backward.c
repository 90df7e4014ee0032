/*
 * The GAT family's training backward (the formulas: docs/training.md,
 * "Backward of the GAT family"). Per layer, walking the layers in reverse:
 *  1. bias and residual: column sums of the output gradient g, and
 *     dW_res = g^T x_dst, d x_dst += g W_res;
 *  2. pass A by destination row (blocks of GAT_REDUCE_BLOCK rows, each
 *     with its own partial sums): the coefficients recomputed from the
 *     forward's shift and 1 / sum, d alpha, the softmax backward within the
 *     row, then the score backward: GATConv's dz (kept per slot), GATv2's
 *     dz [H*C] recomputed per edge and summed into d xr of the row, d att,
 *     and the edge-feature terms (d W_edge, d edge_attr, the loop
 *     attribute's gradient handed to the row's edges by the fill's
 *     backward). Per slot it keeps alpha * keep and dz (GATConv) or de
 *     (GATv2), [E', H] each;
 *  3. pass B by source (the by-source view, ascending slots): what every
 *     source row receives: the aggregation's alpha * g, GATConv's source
 *     score gradient, GATv2's dz recomputed once more;
 *  4. the projections' backward (family_linear.c) into d W, d bias of
 *     lin_l / lin_r, d x and d x_dst.
 * Each pass writes only rows it owns and sums over rows in block order:
 * the same bits at any thread count.
 */
#include "train_family.h"
#include "parallel.h"
#include "trainer.h"

#include <string.h>

/* The layer's parameter gradients, in the order of its tensors. */
typedef struct layer_grads {
    float *weight, *att_src, *att_dst, *bias, *att, *weight_dst, *bias_src, *bias_dst,
        *weight_edge, *att_edge, *weight_res;
} layer_grads;

static layer_grads grads_of(gat_trainer *t, int l)
{
    gat_layer_params g;
    gat_trainer_gradients(t, l, &g);
    return (layer_grads){g.weight, g.att_src, g.att_dst, g.bias, g.att, g.weight_dst,
                         g.bias_src, g.bias_dst, g.weight_edge, g.att_edge, g.weight_res};
}

typedef struct back_args {
    gat__trainfam_pass pass;
    const gat__layer *layer;
    const float *g;           /* [N_dst, W] */
    const uint8_t *keep;
    float keep_scale;
    float *alpha_keep, *de;   /* [E', H] */
    float *d_xs, *d_xd;       /* [N_src, H*C], [N_dst, H*C] */
    float *d_sd;              /* [N_dst, H] */
    float *d_edge_attr;       /* [E, D] or NULL */
    float *partials;          /* [blocks, part] */
    int64_t part;             /* floats per block partial */
    const gat_layer_config *c;
} back_args;

/* Offsets in a block's partial: d att (GATv2) or d att_dst (GATConv)
 * [H*C], then the edge term: U [H, D] (GATConv) or d W_edge [H*C, D]. */
static int64_t partial_floats(const gat_layer_config *c)
{
    const int64_t hc = c->heads * c->channels;
    return hc + (c->type == GAT_LAYER_GATV2 ? hc : c->heads) * c->edge_dim;
}

/* gy [H*C]: the gradient of row i's aggregation per head. */
static GAT_ALWAYS_INLINE void row_gradient(const back_args *b, int64_t i, float *gy)
{
    const gat_layer_config *c = b->c;
    const int64_t hc = c->heads * c->channels;
    if (c->concat) {
        memcpy(gy, b->g + i * hc, (size_t)hc * sizeof *gy);
        return;
    }
    const float *g = b->g + i * c->channels;
    for (int64_t h = 0; h < c->heads; h++)
        for (int64_t k = 0; k < c->channels; k++)
            gy[h * c->channels + k] = g[k] / (float)c->heads;
}

static GAT_ALWAYS_INLINE float keep_factor(const back_args *b, int64_t p, int64_t h, int64_t bytes)
{
    if (b->keep == NULL)
        return 1.0f;
    return (float)((b->keep[p * bytes + h / 8] >> (h % 8)) & 1) * b->keep_scale;
}

/* Pass A over row i; part the block's partial; buf the thread's row buffer. */
static void backward_row(const back_args *b, int64_t i, float *part, float *buf)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    const int64_t heads = a->heads, ch = a->channels, hc = a->hc, dim = a->dim;
    const int64_t first = e->row_ptr[i], degree = e->row_ptr[i + 1] - first;
    const int64_t bytes = gat__mask_bytes(heads);
    float *z_row = buf;                          /* [degree, H] GATConv's z */
    float *d_alpha = z_row + e->max_degree * heads; /* [degree, H] */
    float *gy = d_alpha + e->max_degree * heads, *zc = gy + hc, *dzc = zc + hc;
    float *logit = dzc + hc, *dot = logit + heads, *de = dot + heads;
    float *d_loop = de + heads; /* [D] the gradient of the row's loop attribute */
    float *d_xd = b->d_xd + i * hc, *d_sd = b->d_sd + i * heads;
    const float *shift = st->shift + i * heads, *inv = st->inv_sum + i * heads;
    float *p_att = part, *p_edge = part + hc;
    row_gradient(b, i, gy);
    memset(dot, 0, (size_t)heads * sizeof *dot);
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k, j = e->src[p];
        const float *v = st->xs + j * hc;
        gat__trainfam_logits(a, p, i, j, logit, z_row + k * heads, zc);
        for (int64_t h = 0; h < heads; h++) {
            const float alpha = gat__trainfam_alpha(logit[h], shift[h], inv[h]);
            const float kf = keep_factor(b, p, h, bytes);
            float s = 0.0f;
            for (int64_t c = 0; c < ch; c++)
                s += gy[h * ch + c] * v[h * ch + c];
            const float da = s * kf;
            b->alpha_keep[p * heads + h] = alpha * kf;
            d_alpha[k * heads + h] = da;
            dot[h] += alpha * da;
        }
    }
    memset(d_xd, 0, (size_t)hc * sizeof *d_xd);
    memset(d_sd, 0, (size_t)heads * sizeof *d_sd);
    if (b->d_edge_attr != NULL)
        memset(d_loop, 0, (size_t)dim * sizeof *d_loop);
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k, j = e->src[p];
        const float *attr = a->with_edges
                                ? gat__slot_attr(e, a->edge_attr, st->loop_attr, dim, p, i)
                                : NULL;
        float *d_attr = NULL;
        if (b->d_edge_attr != NULL && a->with_edges)
            d_attr = e->pos[p] >= 0 ? b->d_edge_attr + e->pos[p] * dim : d_loop;
        for (int64_t h = 0; h < heads; h++) {
            /* alpha again (not alpha * keep): the softmax's own backward */
            float alpha;
            if (a->v2) {
                alpha = 0.0f; /* set below from the logits */
            } else {
                const float z = z_row[k * heads + h];
                alpha = gat__trainfam_alpha(gat__leaky(z, a->slope), shift[h], inv[h]);
            }
            de[h] = alpha;
        }
        if (a->v2) {
            gat__trainfam_logits(a, p, i, j, logit, NULL, zc);
            for (int64_t h = 0; h < heads; h++)
                de[h] = gat__trainfam_alpha(logit[h], shift[h], inv[h]);
        }
        for (int64_t h = 0; h < heads; h++)
            de[h] = de[h] * (d_alpha[k * heads + h] - dot[h]);
        if (!a->v2) {
            for (int64_t h = 0; h < heads; h++) {
                const float dz = z_row[k * heads + h] > 0.0f ? de[h] : de[h] * a->slope;
                b->de[p * heads + h] = dz;
                d_sd[h] += dz;
                if (a->with_edges) {
                    for (int64_t d = 0; d < dim; d++)
                        p_edge[h * dim + d] += dz * attr[d];
                    if (d_attr != NULL)
                        for (int64_t d = 0; d < dim; d++)
                            d_attr[d] += dz * st->edge_proj[h * dim + d];
                }
            }
            continue;
        }
        for (int64_t h = 0; h < heads; h++) {
            b->de[p * heads + h] = de[h];
            for (int64_t c = 0; c < ch; c++) {
                const int64_t o = h * ch + c;
                const float zv = zc[o];
                p_att[o] += de[h] * gat__leaky(zv, a->slope);
                const float d = de[h] * a->att[o];
                dzc[o] = zv > 0.0f ? d : d * a->slope;
                d_xd[o] += dzc[o];
            }
        }
        if (a->with_edges) {
            const float *w = a->weight_edge;
            for (int64_t o = 0; o < hc; o++)
                for (int64_t d = 0; d < dim; d++)
                    p_edge[o * dim + d] += dzc[o] * attr[d];
            if (d_attr != NULL)
                for (int64_t d = 0; d < dim; d++) {
                    float s = 0.0f;
                    for (int64_t o = 0; o < hc; o++)
                        s += w[o * dim + d] * dzc[o];
                    d_attr[d] += s;
                }
        }
    }
    if (!a->v2) {
        /* The destination score: d xd = att_dst (x) d sd; d att_dst += d sd xd. */
        const float *xd = st->xd + i * hc;
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < ch; c++) {
                const int64_t o = h * ch + c;
                d_xd[o] = b->layer->att_dst[o] * d_sd[h];
                p_att[o] += d_sd[h] * xd[o];
            }
    }
    if (b->d_edge_attr != NULL && a->with_edges)
        gat__trainfam_fill_backward_row(e, b->c, a->edge_attr, st->loop_attr, i, d_loop, b->d_edge_attr);
}

/* Pass B over source j: d xs of row j; part the block's d att_src partial. */
static void gather_row(const back_args *b, int64_t j, float *part, float *buf)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    const int64_t heads = a->heads, ch = a->channels, hc = a->hc;
    float *gy = buf, *zc = gy + hc, *ds = zc + hc;
    float *d_xs = b->d_xs + j * hc;
    memset(d_xs, 0, (size_t)hc * sizeof *d_xs);
    memset(ds, 0, (size_t)heads * sizeof *ds);
    for (int64_t q = e->src_ptr[j]; q < e->src_ptr[j + 1]; q++) {
        const int64_t p = e->by_src[q], i = e->by_src_dst[q];
        row_gradient(b, i, gy);
        for (int64_t h = 0; h < heads; h++) {
            const float ak = b->alpha_keep[p * heads + h];
            for (int64_t c = 0; c < ch; c++)
                d_xs[h * ch + c] += ak * gy[h * ch + c];
        }
        if (!a->v2) {
            for (int64_t h = 0; h < heads; h++)
                ds[h] += b->de[p * heads + h];
            continue;
        }
        gat__trainfam_v2_z(a, p, i, j, zc);
        for (int64_t h = 0; h < heads; h++) {
            const float de = b->de[p * heads + h];
            for (int64_t c = 0; c < ch; c++) {
                const int64_t o = h * ch + c;
                const float d = de * a->att[o];
                d_xs[o] += zc[o] > 0.0f ? d : d * a->slope;
            }
        }
    }
    if (!a->v2) {
        const float *xs = st->xs + j * hc;
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < ch; c++) {
                const int64_t o = h * ch + c;
                d_xs[o] += b->layer->att_src[o] * ds[h];
                part[o] += ds[h] * xs[o];
            }
    }
}

/* out [width] += the blocks' partials [blocks, stride] in block order. */
static void add_partials(const float *partials, int64_t blocks, int64_t stride, int64_t offset,
                         int64_t width, float *out)
{
    for (int64_t k = 0; k < width; k++) {
        float sum = 0.0f;
        for (int64_t blk = 0; blk < blocks; blk++)
            sum += partials[blk * stride + offset + k];
        out[k] += sum;
    }
}

/* Per-thread row buffer floats of a layer's backward. */
static int64_t back_row_floats(const gat_layer_config *c, int64_t max_degree)
{
    const int64_t hc = c->heads * c->channels;
    return 2 * max_degree * c->heads + 3 * hc + 3 * c->heads + c->edge_dim + 16;
}

static gat_status layer_backward(gat_context *ctx, gat_trainer *t, int l, const float *g,
                                 float *d_in, float *d_in_dst, float *d_edge_attr)
{
    gat__trainfam *fam = t->family;
    const gat__layer *layer = &t->model->layers[l];
    const gat_layer_config *c = &layer->config;
    gat__trainfam_layer *st = &fam->layers[l];
    const gat__trainfam_edges *e = st->edges;
    const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
    const int64_t f = c->in_features, f_dst = gat_layer_dst_features(c);
    const bool v2 = c->type == GAT_LAYER_GATV2;
    layer_grads gr = grads_of(t, l);
    for (int k = gat__first_param(t, l); k < gat__first_param(t, l + 1); k++)
        memset(t->params[k].grad, 0, (size_t)t->params[k].count * sizeof(float));
    const float *in = st->used_dropped ? st->dropped : st->input;
    const float *in_dst = st->input_dst != NULL ? st->input_dst : in;
    /* d_in and d_in_dst may be the same buffer (one input). */
    if (d_in != NULL)
        memset(d_in, 0, (size_t)(e->num_src * f) * sizeof *d_in);
    if (d_in_dst != NULL && d_in_dst != d_in)
        memset(d_in_dst, 0, (size_t)(e->num_dst * f_dst) * sizeof *d_in_dst);

    if (gr.bias != NULL)
        gat__column_sums(ctx, g, e->num_dst, width, gr.bias, false, fam->partials);
    if (layer->weight_res != NULL)
        gat__linear_backward(ctx, in_dst, g, e->num_dst, f_dst, width, layer->weight_res,
                             gr.weight_res, NULL, d_in_dst, true, fam->tmp_in, fam->partials);

    const gat__dropout drop_att = gat__dropout_make(t->options.seed, t->steps, l,
                                                    GAT__DROP_ATTENTION,
                                                    (float)t->options.attention_dropout);
    back_args b = {.pass = gat__trainfam_pass_make(layer, st, fam->edge_attr),
                   .layer = layer,
                   .g = g,
                   .keep = st->used_attention_keep ? st->attention_keep : NULL,
                   .keep_scale = drop_att.scale,
                   .alpha_keep = fam->edge_a,
                   .de = fam->edge_b,
                   .d_xs = fam->d_xs,
                   .d_xd = fam->d_xd,
                   .d_sd = fam->d_sd,
                   .d_edge_attr = c->edge_dim > 0 ? d_edge_attr : NULL,
                   .partials = fam->partials,
                   .part = partial_floats(c),
                   .c = c};
    const int64_t per_thread = back_row_floats(c, e->max_degree);
    const int64_t work = (e->num_slots * (c->edge_dim + 6) + e->num_dst) * hc;
    const int threads = gat__team(ctx, work);
    gat_status status = gat__trainfam_row_buffers(ctx, fam, per_thread, threads);
    if (status != GAT_OK)
        return status;
    float *scratch = fam->row_scratch;
    const int64_t row_blocks = (e->num_dst + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
    const int64_t src_blocks = (e->num_src + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
    memset(fam->partials, 0, (size_t)(row_blocks * b.part) * sizeof(float));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (int64_t blk = 0; blk < row_blocks; blk++) {
        const int64_t end = (blk + 1) * GAT_REDUCE_BLOCK < e->num_dst
                                ? (blk + 1) * GAT_REDUCE_BLOCK
                                : e->num_dst;
        for (int64_t i = blk * GAT_REDUCE_BLOCK; i < end; i++)
            backward_row(&b, i, fam->partials + blk * b.part,
                         scratch + gat__thread_id() * per_thread);
    }
    float *d_att = v2 ? gr.att : gr.att_dst;
    add_partials(fam->partials, row_blocks, b.part, 0, hc, d_att);
    if (c->edge_dim > 0) {
        const int64_t dim = c->edge_dim;
        if (v2) {
            add_partials(fam->partials, row_blocks, b.part, hc, hc * dim, gr.weight_edge);
        } else {
            /* U [H, D]: d W_edge[h*C + c, d] = att_edge[h, c] U[h, d],
             * d att_edge[h, c] = sum_d W_edge[h*C + c, d] U[h, d]. */
            float *u = fam->edge_u;
            memset(u, 0, (size_t)(c->heads * dim) * sizeof *u);
            add_partials(fam->partials, row_blocks, b.part, hc, c->heads * dim, u);
            for (int64_t h = 0; h < c->heads; h++)
                for (int64_t k = 0; k < c->channels; k++) {
                    const int64_t o = h * c->channels + k;
                    float s = 0.0f;
                    for (int64_t d = 0; d < dim; d++) {
                        gr.weight_edge[o * dim + d] = layer->att_edge[o] * u[h * dim + d];
                        s += layer->weight_edge[o * dim + d] * u[h * dim + d];
                    }
                    gr.att_edge[o] = s;
                }
        }
    }
    memset(fam->partials, 0, (size_t)(src_blocks * hc) * sizeof(float));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (int64_t blk = 0; blk < src_blocks; blk++) {
        const int64_t end = (blk + 1) * GAT_REDUCE_BLOCK < e->num_src
                                ? (blk + 1) * GAT_REDUCE_BLOCK
                                : e->num_src;
        for (int64_t j = blk * GAT_REDUCE_BLOCK; j < end; j++)
            gather_row(&b, j, fam->partials + blk * hc, scratch + gat__thread_id() * per_thread);
    }
    if (!v2)
        add_partials(fam->partials, src_blocks, hc, 0, hc, gr.att_src);

    /* The projections. xd aliases xs for one input and one weight: its
     * gradient joins the source side's. */
    const bool alias = st->xd == st->xs;
    if (alias)
        for (int64_t k = 0; k < e->num_src * hc; k++)
            fam->d_xs[k] += fam->d_xd[k];
    gat__linear_backward(ctx, in, fam->d_xs, e->num_src, f, hc, layer->weight, gr.weight,
                         v2 ? gr.bias_src : NULL, d_in, true, fam->tmp_in, fam->partials);
    if (!alias) {
        const bool own = layer->weight_dst != NULL;
        gat__linear_backward(ctx, in_dst, fam->d_xd, e->num_dst, f_dst, hc,
                             own ? layer->weight_dst : layer->weight,
                             own ? gr.weight_dst : gr.weight,
                             v2 ? (own ? gr.bias_dst : gr.bias_src) : NULL, d_in_dst, true,
                             fam->tmp_in, fam->partials);
    }
    return GAT_OK;
}

gat_status gat__trainfam_backward(gat_context *ctx, gat_trainer *t, const float *d_logits,
                                float *d_x, float *d_x_dst, float *d_edge_attr)
{
    gat__trainfam *fam = t->family;
    const gat_model *m = t->model;
    if (d_edge_attr != NULL)
        memset(d_edge_attr, 0,
               (size_t)(fam->num_input_edges * fam->edge_dim) * sizeof *d_edge_attr);
    const float *g = d_logits;
    for (int l = m->num_layers - 1; l >= 0; l--) {
        const gat_layer_config *c = &m->layers[l].config;
        gat__trainfam_layer *st = &fam->layers[l];
        float *d_in, *d_in_dst;
        if (l > 0) {
            d_in = t->d_hidden[(m->num_layers - 1 - l) % 2];
            d_in_dst = d_in;
        } else {
            d_in = d_x;
            d_in_dst = st->input_dst != NULL ? d_x_dst : d_x;
        }
        gat_status status = layer_backward(ctx, t, l, g, d_in, d_in_dst,
                                           c->edge_dim > 0 ? d_edge_attr : NULL);
        if (status != GAT_OK)
            return status;
        const gat__dropout drop_in = gat__dropout_make(t->options.seed, t->steps, l,
                                                       GAT__DROP_INPUT, (float)t->options.dropout);
        if (l == 0) {
            if (d_in != NULL && st->used_dropped)
                gat__dropout_backward(ctx, &drop_in, st->input_keep, d_in,
                                      st->edges->num_src * c->in_features);
        } else {
            gat__dropout_activation_backward(ctx, &drop_in, st->used_dropped ? st->input_keep : NULL,
                                             m->activation, NULL, st->input, d_in,
                                             st->edges->num_src, c->in_features);
        }
        g = d_in;
    }
    t->have_gradients = true;
    return GAT_OK;
}
