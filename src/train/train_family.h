/*
 * Training of the GAT family (GATv2Conv, edge features, residual
 * connections, bipartite inputs; docs/training.md, "Backward of the GAT
 * family"). A model with any such layer trains through these files, every
 * layer of it (a plain GATConv layer there is the case without the
 * options); a model of plain GATConv layers keeps the kernels of
 * train_attention.c / backward.c.
 *
 * Shapes: N_src source rows (x), N_dst destination rows (the graph's
 * nodes, the output's rows; N_src == N_dst except for a bipartite layer
 * 0), E' attention edges in library order ("slots"), H heads, C channels,
 * D edge features, W the output width.
 *
 * Nothing of size E' x H x C is stored: the GATv2 terms of an edge are
 * recomputed from the node rows (and its attributes) whenever needed, and
 * nothing is kept per edge: pass B recomputes each coefficient and its
 * gradient from per-row statistics.
 * Determinism: every sum over nodes or edges runs in a fixed order (blocks
 * of GAT_REDUCE_BLOCK rows added in block order; sources gathered over the
 * by-source view in ascending slot order); no atomics.
 */
#ifndef GAT_TRAIN_FAMILY_H
#define GAT_TRAIN_FAMILY_H

#include "fast_exp.h"
#include "model.h"
#include "train_kernels.h"
#include "train_shapes.h"

/* The attention edges of one self-loop policy, built from the public
 * gat_graph_edges / gat_graph_edge_positions (bipartite graphs included). */
typedef struct gat__trainfam_edges {
    bool built;
    int64_t num_src, num_dst, num_slots;
    int64_t num_loops;  /* added self-loops: min(N_src, N_dst) or 0 */
    int64_t max_degree; /* most slots of a row */
    int64_t *row_ptr;   /* [N_dst + 1] slots of row i */
    int32_t *src;       /* [E'] source of each slot */
    int64_t *pos;       /* [E'] input position of each slot's edge, -1 for an added loop
                         * (only with edge features: NULL otherwise) */
    /* [E', D] each slot's attribute row in slot order (an added loop's
     * row unused), copied once from the input (only with edge features):
     * the passes then read the rows in turn, or one random row per edge
     * by source, instead of a random row through a random position (the
     * input must not change during training, so the copy stays right). */
    float *attr;
    int64_t *src_ptr;   /* [N_src + 1] by source: slots of source j at [src_ptr[j], src_ptr[j+1]) */
    int64_t *by_src;    /* [E'] the slots, ascending within a source */
    int32_t *by_src_dst; /* [E'] the destination row of each of those slots */
} gat__trainfam_edges;

/* What a training forward keeps of one layer. */
typedef struct gat__trainfam_layer {
    const float *input;     /* [N_src, F] x or the previous layer's activated output */
    const float *input_dst; /* [N_dst, F_dst] layer 0's x_dst, or NULL (input serves both) */
    float *dropped;         /* [N_src, F] input after dropout */
    uint8_t *input_keep;
    bool used_dropped;
    /* Layer 0 with a sparse x (the trainer's sparse_x): read through it,
     * its dropout drawn on the non-zeros (dropped, input_keep unused). */
    gat__sparse_input *sparse;
    const gat__trainfam_edges *edges;
    /* GATConv: xs = x . W^T (lin / lin_src), xd = x_dst . W_dst^T when the
     * destination side has its own rows (else xd == xs), ss / sd the node
     * scores. GATv2: xs = xl, xd = xr (== xs with shared weights on one
     * input); ss / sd unused. Row-major [rows, H*C], head-major. */
    float *xs, *xd;
    /* The rows the aggregation reads: xs, or xs after the projected-feature
     * dropout (proj_dropped [N_src, H*C], its mask proj_keep, one byte an
     * element, head-major) while the scores read xs. */
    const float *xv;
    float *proj_dropped;
    uint8_t *proj_keep;
    float *ss, *sd;         /* [N_src, H], [N_dst, H] */
    float *loop_attr;       /* [num_loops, D] the added loops' attributes (made once) */
    /* With edge features: gat__family_edge_term_matrix's, GATConv's M^T
     * [D, H] (docs/training.md), GATv2's W_edge^T [D, H*C]. */
    float *edge_proj;
    /* [N_dst, 3, H] per row: the softmax's shift (max) and 1 / sum (the
     * forward's), and the backward's sum_k alpha_k d alpha_k: what pass B
     * recomputes an edge's coefficient and its gradient from, in one
     * place (a source's edges reach rows all over). */
    float *stats;
    uint8_t *attention_keep; /* [E', mask bytes] */
    bool used_attention_keep;
    float *output;          /* [N_dst, W] activated for hidden layers */
} gat__trainfam_layer;

typedef struct gat__trainfam {
    const float *x_dst;     /* borrowed, [N_dst, F_dst] or NULL */
    const float *edge_attr; /* borrowed, [E, D] in input order, or NULL */
    int64_t edge_dim;       /* D of the input (0 without) */
    int64_t num_input_edges;
    gat__trainfam_edges edges[2]; /* by add_self_loops */
    gat__trainfam_layer *layers;  /* [L] */
    /* Backward scratch, sized for the largest layer. */
    float *d_xs;                /* [N, max H*C] (GATv2 with one input and weight only) */
    float *d_sd;                /* [N_dst, max H] */
    float *d_in, *d_in_dst, *tmp_in; /* [N, max F] */
    float *edge_u;              /* [max H, D] GATConv's edge-term sums */
    float *partials;            /* block partials of the sums over rows */
    int64_t partial_floats;
    float *row_scratch;         /* per thread: [threads][row_floats] */
    int64_t row_floats;
    int scratch_threads;
} gat__trainfam;

struct gat_trainer;

/* Whether a model needs the family path (any layer not plain). */
bool gat__trainfam_needed(const struct gat_model *model);
gat_status gat__trainfam_create(gat_context *ctx, struct gat_trainer *t, const gat_inputs *inputs);
void gat__trainfam_free(const gat_allocator *allocator, gat__trainfam **family, int layers);

/* Grows the per-thread row buffers to threads x per_thread floats. */
gat_status gat__trainfam_row_buffers(gat_context *ctx, gat__trainfam *fam, int64_t per_thread,
                                   int threads);

/* The training forward of every layer into t->logits (training: dropout
 * on, state kept). */
gat_status gat__trainfam_forward(gat_context *ctx, struct gat_trainer *t, bool training);
/* Backward of sum(logits * d_logits) into the parameters' gradients;
 * d_x, d_x_dst, d_edge_attr optional outputs (input order for the last). */
gat_status gat__trainfam_backward(gat_context *ctx, struct gat_trainer *t, const float *d_logits,
                                float *d_x, float *d_x_dst, float *d_edge_attr);

/* ---- edges (family_edges.c) ----------------------------------------------- */

/* edge_attr [E, D] in input order (NULL without edge features): fill pos
 * and attr. */
gat_status gat__trainfam_edges_build(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                                     const float *edge_attr, int64_t dim,
                                     gat__trainfam_edges *e);
void gat__trainfam_edges_free(const gat_allocator *allocator, gat__trainfam_edges *e);
/* The attribute row [D] of slot p: the input's, or the added loop's. */
/* With added self-loops no input edge joins a node to itself (they are
 * removed), so slot p of row i from source j is the added loop exactly
 * when j == i: known without reading pos[p], a random read by source. */
static inline const float *gat__slot_attr(const gat__trainfam_edges *e, const float *loop_attr,
                                          int64_t dim, int64_t p, int64_t row, int64_t src)
{
    return e->num_loops > 0 && src == row ? loop_attr + row * dim : e->attr + p * dim;
}
/* loop_attr [num_loops, D]: PyG's fill_value over each row's input edges
 * (made once, when the trainer is created). */
void gat__trainfam_fill_forward(gat_context *ctx, const gat__trainfam_edges *e, const gat_layer_config *c,
                       const float *edge_attr, float *loop_attr);
/* Row i's share of the fill's backward: d_loop [D] (the gradient of row
 * i's loop attribute) added to d_edge_attr (input order) of the row's
 * input edges. */
void gat__trainfam_fill_backward_row(const gat__trainfam_edges *e, const gat_layer_config *c,
                            const float *edge_attr, const float *loop_attr, int64_t i,
                            const float *d_loop, float *d_edge_attr);

/* ---- linear maps (family_linear.c) ---------------------------------------- */

/* The x of a map: dense rows, or a sparse input's kept entries (its
 * weight_t and d_weight_t, [F, max out], hold W^T and dW^T of the map). */
typedef struct gat__linear_x {
    const float *dense;
    gat__sparse_input *sparse;
} gat__linear_x;

/* What layer st's source side reads (x after the input dropout), and its
 * destination side (x_dst, or the same). */
gat__linear_x gat__trainfam_x_src(const gat__trainfam_layer *st);
gat__linear_x gat__trainfam_x_dst(const gat__trainfam_layer *st);
/* gat__linear_forward / gat__linear_backward of either kind of x. */
void gat__linear_x_forward(gat_context *ctx, gat__linear_x x, int64_t n, int64_t in,
                           const float *w, int64_t out, const float *bias, float *y);
void gat__linear_x_backward(gat_context *ctx, gat__linear_x x, const float *dy, int64_t n,
                            int64_t in, int64_t out, const float *w, float *dw, float *d_bias,
                            float *dx, bool accumulate, float *tmp, float *partials);


/* y [n, out] = x [n, in] . w [out, in]^T (+ bias [out]). */
void gat__linear_forward(gat_context *ctx, const float *x, int64_t n, int64_t in, const float *w,
                         int64_t out, const float *bias, float *y);
/* Floats of partials gat__linear_backward needs. */
int64_t gat__linear_backward_scratch(int64_t n, int64_t in, int64_t out);
/* Rows per chunk of gat__linear_backward's dw over n rows (its partials are
 * the chunks' sums, added in chunk order). */
int64_t gat__linear_chunk_rows(int64_t n);
/* For y = x w^T + b: dw [out, in] (+)= dy^T x, d_bias [out] (+)= column
 * sums of dy, dx [n, in] (+)= dy w; accumulate adds instead of writing
 * (dx then needs tmp [n, in]). Any output may be NULL. */
void gat__linear_backward(gat_context *ctx, const float *x, const float *dy, int64_t n,
                          int64_t in, int64_t out, const float *w, float *dw, float *d_bias,
                          float *dx, bool accumulate, float *tmp, float *partials);
/* sums [width] = column sums of v [n, width] in block order (partials:
 * gat__linear_backward_scratch's worth). */
void gat__column_sums(gat_context *ctx, const float *v, int64_t n, int64_t width, float *sums,
                      bool accumulate, float *partials);


/* ---- one layer's edge terms, shared by the forward and the backward ------- */

typedef struct gat__trainfam_pass {
    const gat_layer_config *c;
    const gat__trainfam_layer *st;
    const gat__trainfam_edges *e;
    const float *att;         /* GATv2's att [H, C] */
    const float *weight_edge;   /* [H*C, D] or NULL */
    const float *weight_edge_t; /* [D, H*C] its transpose (GATv2), or NULL */
    const float *edge_attr;   /* [E, D] input order, or NULL */
    int64_t heads, channels, hc, dim;
    float slope;
    bool v2, with_edges;
} gat__trainfam_pass;

gat__trainfam_pass gat__trainfam_pass_make(const gat__layer *layer, const gat__trainfam_layer *st,
                                       const float *edge_attr);

/* Asks for what a row pass reads of source j: the row the aggregation
 * reads (xv), and what the logits read, GATv2's xs row (when the
 * projected-feature dropout makes xv another array) or GATConv's score. */
static GAT_ALWAYS_INLINE void gat__prefetch_slot_source(const gat__trainfam_pass *a, int64_t j)
{
    gat__prefetch_floats(a->st->xv + j * a->hc, a->hc);
    if (!a->v2)
        gat__prefetch_floats(a->st->ss + j * a->heads, a->heads);
    else if (a->st->xv != a->st->xs)
        gat__prefetch_floats(a->st->xs + j * a->hc, a->hc);
}

/* LeakyReLU as z times a factor (1 or slope): the same value as the
 * branches, and a select the vector loops keep branch-free. */
static GAT_ALWAYS_INLINE float gat__leaky(float z, float slope)
{
    return z * (z > 0.0f ? 1.0f : slope);
}

/* GATv2's pre-activation of slot p (row i, source j): z [H*C] = xl_j +
 * xr_i (+ W_edge . attr). heads and channels are the layer's, passed as
 * constants by the fixed-shape instantiations (train_shapes.h). */
static GAT_ALWAYS_INLINE void gat__trainfam_v2_z(const gat__trainfam_pass *a, int64_t p,
                                                 int64_t i, int64_t j, float *restrict z,
                                                 const int64_t hc)
{
    const float *restrict xl = a->st->xs + j * hc, *restrict xr = a->st->xd + i * hc;
    for (int64_t o = 0; o < hc; o++)
        z[o] = xl[o] + xr[o];
    if (a->with_edges) {
        const float *restrict attr =
            gat__slot_attr(a->e, a->st->loop_attr, a->dim, p, i, j);
        const float *restrict w = a->weight_edge_t; /* [D, H*C] */
        for (int64_t d = 0; d < a->dim; d++) {
            const float v = attr[d];
            for (int64_t o = 0; o < hc; o++)
                z[o] += w[d * hc + o] * v;
        }
    }
}

/* gat__trainfam_logits for 8 heads x 8 channels in registers (simd.h's
 * 8-head vocabulary): the logits e as a per-head vector [GAT_V_HEAD_REGS];
 * z [GAT_V_ROW8] receives GATConv's LeakyReLU input (a per-head vector,
 * its first GAT_V_HEAD_REGS registers) or GATv2's (a head-major row). The
 * operations of the plain loops below, lane by lane in the same order
 * (multiplies and adds unfused, each head's channel sum in channel order
 * through a transpose), so the same bits. */
static GAT_ALWAYS_INLINE void gat__trainfam_logits8(const gat__trainfam_pass *a, int64_t p,
                                                    int64_t i, int64_t j, gat_v *restrict e,
                                                    gat_v *restrict z)
{
    enum { W = GAT_V_LANES, HR = GAT_V_HEAD_REGS, ROW = GAT_V_ROW8 };
    const gat_v slope = gat_v_splat(a->slope);
    const float *restrict attr =
        a->with_edges ? gat__slot_attr(a->e, a->st->loop_attr, a->dim, p, i, j) : NULL;
    if (a->v2) {
        const float *restrict xl = a->st->xs + j * 64, *restrict xr = a->st->xd + i * 64;
        for (int u = 0; u < ROW; u++)
            z[u] = gat_v_load(xl + W * u) + gat_v_load(xr + W * u);
        if (attr != NULL)
            for (int64_t d = 0; d < a->dim; d++) {
                const gat_v v = gat_v_splat(attr[d]);
                const float *restrict w = a->weight_edge_t + d * 64; /* [D, H*C] */
                for (int u = 0; u < ROW; u++)
                    z[u] = z[u] + gat_v_load(w + W * u) * v;
            }
        gat_v prod[ROW], t[ROW];
        for (int u = 0; u < ROW; u++)
            prod[u] = gat_v_load(a->att + W * u) * gat_v_leaky_relu(z[u], slope);
        gat_v_transpose8(prod, t); /* channel-major: channel c of every head */
        for (int hr = 0; hr < HR; hr++) {
            gat_v s = gat_v_zero();
            for (int c = 0; c < 8; c++)
                s = s + gat_v_channel_heads8(t, c, hr);
            e[hr] = s;
        }
        return;
    }
    const float *restrict ss = a->st->ss + j * 8, *restrict sd = a->st->sd + i * 8;
    const float *restrict m = a->st->edge_proj; /* M^T [D, H] */
    for (int hr = 0; hr < HR; hr++) {
        z[hr] = gat_v_load_heads8(ss, hr) + gat_v_load_heads8(sd, hr);
        if (attr != NULL) {
            gat_v t = gat_v_zero();
            for (int64_t d = 0; d < a->dim; d++)
                t = t + gat_v_load_heads8(m + d * 8, hr) * gat_v_splat(attr[d]);
            z[hr] = z[hr] + t;
        }
        e[hr] = gat_v_leaky_relu(z[hr], slope);
    }
}

/* The logits e [H] of slot p (row i, source j); z [H] receives GATConv's
 * LeakyReLU input, zc [H*C] GATv2's (zc has 2 H*C floats: the second half
 * is scratch). */
static GAT_ALWAYS_INLINE void gat__trainfam_logits(const gat__trainfam_pass *a, int64_t p,
                                                   int64_t i, int64_t j, float *restrict e,
                                                   float *restrict z, float *restrict zc,
                                                   const int64_t heads, const int64_t ch)
{
    if (heads == 8 && ch == 8) {
        const bool v2 = a->v2; /* read before the stores below, which may alias a */
        gat_v ev[GAT_V_HEAD_REGS], zv[GAT_V_ROW8];
        gat__trainfam_logits8(a, p, i, j, ev, zv);
        for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++)
            gat_v_store_heads8(e, ev[hr], hr);
        if (v2)
            for (int u = 0; u < GAT_V_ROW8; u++)
                gat_v_store(zc + GAT_V_LANES * u, zv[u]);
        else
            for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++)
                gat_v_store_heads8(z, zv[hr], hr);
        return;
    }
    if (a->v2) {
        const int64_t hc = heads * ch;
        gat__trainfam_v2_z(a, p, i, j, zc, hc);
        /* att . LeakyReLU(z) per head: the products in one vector loop
         * (into zc + hc, scratch), then each head's sum in channel order. */
        const float *restrict att = a->att;
        float *restrict prod = zc + hc;
        const float slope = a->slope;
        for (int64_t o = 0; o < hc; o++)
            prod[o] = att[o] * gat__leaky(zc[o], slope);
        for (int64_t h = 0; h < heads; h++) {
            float s = 0.0f;
            for (int64_t c = 0; c < ch; c++)
                s += prod[h * ch + c];
            e[h] = s;
        }
        return;
    }
    const float *restrict ss = a->st->ss + j * heads, *restrict sd = a->st->sd + i * heads;
    for (int64_t h = 0; h < heads; h++)
        z[h] = ss[h] + sd[h];
    if (a->with_edges) {
        const float *restrict attr =
            gat__slot_attr(a->e, a->st->loop_attr, a->dim, p, i, j);
        /* attr . M^T feature by feature over the heads into e (scratch
         * until the end; M^T [D, H] is contiguous in h: one vector
         * multiply-add per feature instead of gathering a column per
         * head), each head's sum in feature order. */
        const float *restrict m = a->st->edge_proj;
        for (int64_t h = 0; h < heads; h++)
            e[h] = 0.0f;
        for (int64_t d = 0; d < a->dim; d++)
            for (int64_t h = 0; h < heads; h++)
                e[h] += m[d * heads + h] * attr[d];
        for (int64_t h = 0; h < heads; h++)
            z[h] += e[h];
    }
    for (int64_t h = 0; h < heads; h++)
        e[h] = gat__leaky(z[h], a->slope);
}

/* The coefficient of a logit with its row's shift and 1 / sum. */
static GAT_ALWAYS_INLINE float gat__trainfam_alpha(float e, float shift, float inv_sum)
{
    return gat__exp_nonpositive_fma(e - shift) * inv_sum;
}

#endif
