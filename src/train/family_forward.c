/*
 * The GAT family's training forward (see train_family.h): per layer the input
 * dropout, the projections (lin / lin_src / lin_dst, or lin_l / lin_r with
 * their biases), the residual term, then one
 * pass over the destination rows: each row's logits into a per-thread
 * row buffer, the max-shifted softmax (the shift and 1 / sum kept for the
 * backward), attention dropout, the aggregation, concat or mean, residual,
 * bias and the activation between layers.
 */
#include "edge_pass.h"
#include "family.h"
#include "train_family.h"
#include "parallel.h"
#include "trainer.h"

#include <string.h>

gat__trainfam_pass gat__trainfam_pass_make(const gat__layer *layer, const gat__trainfam_layer *st,
                                       const float *edge_attr)
{
    const gat_layer_config *c = &layer->config;
    gat__trainfam_pass a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.st = st;
    a.e = st->edges;
    a.att = layer->att;
    a.weight_edge = layer->weight_edge;
    a.weight_edge_t = c->type == GAT_LAYER_GATV2 ? st->edge_proj : NULL;
    a.edge_attr = edge_attr;
    a.heads = c->heads;
    a.channels = c->channels;
    a.hc = c->heads * c->channels;
    a.dim = c->edge_dim;
    a.slope = c->negative_slope;
    a.v2 = c->type == GAT_LAYER_GATV2;
    a.with_edges = c->edge_dim > 0;
    return a;
}

/* s [rows, H] = sum over each head's channels of x [rows, H*C] * att [H, C]. */
static void node_scores(gat_context *ctx, const float *x, int64_t rows, const float *att,
                        int64_t heads, int64_t channels, float *s)
{
    const int64_t hc = heads * channels;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, rows * hc)) schedule(static)
#endif
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < heads; h++) {
            float sum = 0.0f;
            for (int64_t c = 0; c < channels; c++)
                sum += x[r * hc + h * channels + c] * att[h * channels + c];
            s[r * heads + h] = sum;
        }
}

/* The layer's projections: xs, and xd when the destination side has rows
 * of its own (else xd aliases xs), and GATConv's node scores. */
static void project(gat_context *ctx, const gat__layer *layer, gat__trainfam_layer *st,
                    gat__linear_x in, gat__linear_x in_dst)
{
    const gat_layer_config *c = &layer->config;
    const gat__trainfam_edges *e = st->edges;
    const int64_t hc = c->heads * c->channels, f_dst = gat_layer_dst_features(c);
    const bool v2 = c->type == GAT_LAYER_GATV2;
    gat__linear_x_forward(ctx, in, e->num_src, c->in_features, layer->weight, hc,
                          v2 ? layer->bias_src : NULL, st->xs);
    if (layer->weight_dst != NULL)
        gat__linear_x_forward(ctx, in_dst, e->num_dst, f_dst, layer->weight_dst, hc,
                              v2 ? layer->bias_dst : NULL, st->xd);
    else if (st->input_dst != NULL)
        gat__linear_x_forward(ctx, in_dst, e->num_dst, f_dst, layer->weight, hc,
                              v2 ? layer->bias_src : NULL, st->xd);
    if (!v2) {
        node_scores(ctx, st->xs, e->num_src, layer->att_src, c->heads, c->channels, st->ss);
        node_scores(ctx, st->xd, e->num_dst, layer->att_dst, c->heads, c->channels, st->sd);
    }
}

typedef struct row_args {
    gat__trainfam_pass pass;
    const float *bias;
    float *out;
    const uint8_t *keep;
    float keep_scale;
    bool training, prefetch;
    bool residual; /* out holds the residual term (else nothing yet) */
    gat_activation act;
} row_args;

/* Output row i from agg [H*C] (the row's weighted sum; overwritten):
 * concat or head mean, plus the residual term out holds (if any), the
 * bias, then the activation as a vector loop with the activation constant
 * (inline per element it stays scalar, and a hidden layer's ELU, one expm1
 * per output value, was most of a small graph's forward). */
static GAT_ALWAYS_INLINE void out_row(const row_args *r, float *restrict agg, int64_t i,
                                      const int64_t heads, const int64_t ch)
{
    const bool concat = r->pass.c->concat;
    const int64_t width = concat ? heads * ch : ch;
    float *restrict o = r->out + i * width;
    /* In place: y[w] reads agg[h * ch + w] for h >= 0, none written yet. */
    for (int64_t w = 0; w < width; w++) {
        float y = gat__family_head_value(agg, heads, ch, concat, w);
        if (r->residual)
            y += o[w];
        if (r->bias != NULL)
            y += r->bias[w];
        agg[w] = y;
    }
    if (r->act == GAT_ACT_ELU)
        gat__activate_loop(o, agg, NULL, width, GAT_ACT_ELU, false);
    else if (r->act == GAT_ACT_RELU)
        gat__activate_loop(o, agg, NULL, width, GAT_ACT_RELU, false);
    else
        memcpy(o, agg, (size_t)width * sizeof *o);
}

/* Row i: logits into buf [degree, H] (zc, z scratch after it), softmax,
 * aggregation into out's row. */
static GAT_ALWAYS_INLINE void forward_row(const row_args *r, int64_t i, float *buf,
                                          const int64_t heads, const int64_t ch)
{
    const gat__trainfam_pass *a = &r->pass;
    const gat__trainfam_edges *e = a->e;
    const int64_t hc = heads * ch;
    const int64_t first = e->row_ptr[i], degree = e->row_ptr[i + 1] - first;
    float *logit = buf, *z = buf + e->max_degree * heads, *zc = z + heads, *agg = zc + 2 * hc;
    float *shift = a->st->stats + i * 3 * heads, *inv = shift + heads;
    for (int64_t h = 0; h < heads; h++)
        shift[h] = -INFINITY;
    for (int64_t k = 0; k < degree; k++) {
        float *lk = logit + k * heads;
        if (r->prefetch && first + k + GAT_TRAIN_PREFETCH < e->num_slots)
            gat__prefetch_slot_source(a, e->src[first + k + GAT_TRAIN_PREFETCH]);
        gat__trainfam_logits(a, first + k, i, e->src[first + k], lk, z, zc, heads, ch);
        for (int64_t h = 0; h < heads; h++)
            shift[h] = lk[h] > shift[h] ? lk[h] : shift[h];
    }
    for (int64_t h = 0; h < heads; h++)
        inv[h] = 0.0f;
    for (int64_t k = 0; k < degree; k++)
        for (int64_t h = 0; h < heads; h++)
            inv[h] += gat__exp_nonpositive_fma(logit[k * heads + h] - shift[h]);
    for (int64_t h = 0; h < heads; h++) {
        if (degree == 0)
            shift[h] = 0.0f;
        inv[h] = degree > 0 ? 1.0f / inv[h] : 0.0f;
    }
    for (int64_t o = 0; o < hc; o++)
        agg[o] = 0.0f;
    const int64_t bytes = gat__mask_bytes(heads);
    for (int64_t k = 0; k < degree; k++) {
        const float *restrict v = a->st->xv + (int64_t)e->src[first + k] * hc;
        for (int64_t h = 0; h < heads; h++) {
            float alpha = gat__trainfam_alpha(logit[k * heads + h], shift[h], inv[h]);
            if (r->keep != NULL)
                alpha *= (float)((r->keep[(first + k) * bytes + h / 8] >> (h % 8)) & 1) *
                         r->keep_scale;
            logit[k * heads + h] = alpha;
        }
        const float *restrict al = logit + k * heads;
        float *restrict ag = agg;
        for (int64_t h = 0; h < heads; h++) {
            const float w = al[h];
            for (int64_t c = 0; c < ch; c++)
                ag[h * ch + c] += w * v[h * ch + c];
        }
    }
    out_row(r, agg, i, heads, ch);
}

/* forward_row for 8 heads x 8 channels in registers (simd.h): the same
 * operations in the same order lane by lane (so the same bits), the
 * logits by gat__trainfam_logits8, a per-head vector an edge; buf holds
 * the row's logits, then their exps, 8 floats an edge, then agg [64]. */
static GAT_ALWAYS_INLINE void forward_row8(const row_args *r, int64_t i, float *buf)
{
    enum { W = GAT_V_LANES, HR = GAT_V_HEAD_REGS, ROW = GAT_V_ROW8 };
    const gat__trainfam_pass *a = &r->pass;
    const gat__trainfam_edges *e = a->e;
    const int64_t first = e->row_ptr[i], degree = e->row_ptr[i + 1] - first;
    float *restrict logit = buf, *restrict agg = buf + e->max_degree * 8;
    gat_v shift[HR], sum[HR], inv[HR], acc[ROW];
    for (int hr = 0; hr < HR; hr++) {
        shift[hr] = gat_v_splat(-INFINITY);
        sum[hr] = gat_v_zero();
    }
    for (int64_t k = 0; k < degree; k++) {
        if (r->prefetch && first + k + GAT_TRAIN_PREFETCH < e->num_slots)
            gat__prefetch_slot_source(a, e->src[first + k + GAT_TRAIN_PREFETCH]);
        gat_v lg[HR], z[ROW];
        gat__trainfam_logits8(a, first + k, i, e->src[first + k], lg, z);
        for (int hr = 0; hr < HR; hr++) {
            gat_v_store_heads8(logit + k * 8, lg[hr], hr);
            shift[hr] = gat_v_max(lg[hr], shift[hr]);
        }
    }
    for (int64_t k = 0; k < degree; k++)
        for (int hr = 0; hr < HR; hr++) {
            const gat_v ex =
                gat_v_exp_nonpositive(gat_v_load_heads8(logit + k * 8, hr) - shift[hr]);
            sum[hr] = sum[hr] + ex;
            gat_v_store_heads8(logit + k * 8, ex, hr);
        }
    float *stats = a->st->stats + i * 24;
    for (int hr = 0; hr < HR; hr++) {
        if (degree == 0)
            shift[hr] = gat_v_zero();
        inv[hr] = degree > 0 ? gat_v_splat(1.0f) / sum[hr] : gat_v_zero();
        gat_v_store_heads8(stats, shift[hr], hr);
        gat_v_store_heads8(stats + 8, inv[hr], hr);
    }
    for (int u = 0; u < ROW; u++)
        acc[u] = gat_v_zero();
    const gat_v scale = gat_v_splat(r->keep_scale);
    for (int64_t k = 0; k < degree; k++) {
        const float *restrict v = a->st->xv + (int64_t)e->src[first + k] * 64;
        gat_v alpha[HR];
        for (int hr = 0; hr < HR; hr++) {
            alpha[hr] = gat_v_load_heads8(logit + k * 8, hr) * inv[hr];
            if (r->keep != NULL) /* (float)bit * scale: scale or +0 */
                alpha[hr] = alpha[hr] * gat_v_select(gat_v_head_bits8(r->keep[first + k], hr),
                                                     scale, gat_v_zero());
        }
        for (int u = 0; u < ROW; u++)
            acc[u] = acc[u] + gat_v_spread_heads8(alpha, u) * gat_v_load(v + W * u);
    }
    for (int u = 0; u < ROW; u++)
        gat_v_store(agg + W * u, acc[u]);
    out_row(r, agg, i, 8, 8);
}

/* Rows [first, last), the shape constant where train_shapes.h lists it. */
static void forward_rows(const row_args *r, int64_t first, int64_t last, float *buf)
{
#define FIXED_(H, C)                                                                   \
    if (H == 8 && C == 8)                                                              \
        for (int64_t i = first; i < last; i++)                                         \
            forward_row8(r, i, buf);                                                   \
    else                                                                               \
        for (int64_t i = first; i < last; i++)                                         \
            forward_row(r, i, buf, H, C)
#define GENERIC_()                                                                     \
    for (int64_t i = first; i < last; i++)                                             \
        forward_row(r, i, buf, r->pass.heads, r->pass.channels)
    GAT__TRAIN_SHAPES(r->pass.heads, r->pass.channels, FIXED_, GENERIC_);
#undef FIXED_
#undef GENERIC_
}

/* Floats of a thread's row buffer for layer config c. */
static int64_t row_floats(const gat_layer_config *c, int64_t max_degree)
{
    const int64_t hc = c->heads * c->channels;
    return max_degree * c->heads + c->heads + 4 * hc + 2 * c->heads + 16;
}

static gat_status layer_forward(gat_context *ctx, gat_trainer *t, int l, bool training)
{
    gat__trainfam *fam = t->family;
    const gat_model *m = t->model;
    const gat__layer *layer = &m->layers[l];
    const gat_layer_config *c = &layer->config;
    gat__trainfam_layer *st = &fam->layers[l];
    const gat__trainfam_edges *e = st->edges;
    const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
    const bool hidden = l + 1 < m->num_layers;

    /* Input dropout (on x_src; a bipartite layer's x_dst is read as given),
     * on a sparse x's non-zeros only (the same mask). */
    const gat__dropout drop_in = gat__dropout_make(t->options.seed, t->steps, l, GAT__DROP_INPUT,
                                                   training ? (float)t->options.dropout : 0.0f);
    st->used_dropped = st->sparse == NULL && gat__dropout_active(&drop_in);
    if (st->sparse != NULL)
        gat__sparse_keep(ctx, st->sparse, &drop_in);
    else if (st->used_dropped)
        gat__dropout_forward_rows(ctx, &drop_in, NULL, st->input, st->dropped, st->input_keep,
                                  e->num_src, c->in_features);
    const gat__linear_x in_dst = gat__trainfam_x_dst(st);
    project(ctx, layer, st, gat__trainfam_x_src(st), in_dst);
    /* The projected-feature dropout (the GAT authors' in_drop; for GATv2 an
     * option outside PyG): the aggregation reads the dropped rows, the
     * scores the rows as they are. */
    const gat__dropout drop_proj =
        gat__dropout_make(t->options.seed, t->steps, l, GAT__DROP_PROJECTED,
                          training ? (float)t->options.projected_dropout : 0.0f);
    st->xv = st->xs;
    if (gat__dropout_active(&drop_proj)) {
        gat__dropout_forward(ctx, &drop_proj, st->xs, st->proj_dropped, st->proj_keep,
                             e->num_src * hc);
        st->xv = st->proj_dropped;
    }
    if (layer->weight_res != NULL)
        gat__linear_x_forward(ctx, in_dst, e->num_dst, gat_layer_dst_features(c),
                              layer->weight_res, width, NULL, st->output);
    if (c->edge_dim > 0)
        gat__family_edge_term_matrix(layer, st->edge_proj);
    const gat__dropout drop_att =
        gat__dropout_make(t->options.seed, t->steps, l, GAT__DROP_ATTENTION,
                          training ? (float)t->options.attention_dropout : 0.0f);
    st->used_attention_keep = gat__dropout_active(&drop_att);
    if (st->used_attention_keep)
        gat__dropout_mask_slots(&drop_att, 0, e->num_slots, c->heads, st->attention_keep);

    row_args r = {.pass = gat__trainfam_pass_make(layer, st, fam->edge_attr),
                  .bias = layer->bias,
                  .out = st->output,
                  .keep = st->used_attention_keep ? st->attention_keep : NULL,
                  .keep_scale = drop_att.scale,
                  .training = training,
                  .prefetch = gat__worth_prefetching(e->num_src, hc),
                  .residual = layer->weight_res != NULL,
                  .act = hidden ? m->activation : GAT_ACT_NONE};
    const int64_t per_thread = row_floats(c, e->max_degree);
    const int64_t work = (e->num_slots * (c->edge_dim + 4) + e->num_dst) * hc;
    const int threads = gat__team(ctx, work);
    gat_status status = gat__trainfam_row_buffers(ctx, fam, per_thread, threads);
    if (status != GAT_OK)
        return status;
    float *scratch = fam->row_scratch;
    const int64_t blocks = (e->num_dst + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t end = (b + 1) * GAT_REDUCE_BLOCK < e->num_dst ? (b + 1) * GAT_REDUCE_BLOCK
                                                                   : e->num_dst;
        forward_rows(&r, b * GAT_REDUCE_BLOCK, end, scratch + gat__thread_id() * per_thread);
    }
    return GAT_OK;
}

gat_status gat__trainfam_forward(gat_context *ctx, gat_trainer *t, bool training)
{
    t->have_forward = false;
    t->forward_spent = false;
    for (int l = 0; l < t->model->num_layers; l++) {
        gat_status status = layer_forward(ctx, t, l, training);
        if (status != GAT_OK)
            return status;
    }
    t->have_forward = training;
    return GAT_OK;
}
