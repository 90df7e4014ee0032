/*
 * The GAT family's training backward (the formulas: docs/training.md,
 * "Backward of the GAT family"). Per layer, walking the layers in reverse:
 *  1. bias and residual: column sums of the output gradient g, and
 *     dW_res = g^T x_dst, d x_dst += g W_res;
 *  2. pass A by destination row (blocks of GAT_REDUCE_BLOCK rows, each
 *     with its own partial sums): the coefficients recomputed from the
 *     forward's shift and 1 / sum, d alpha, the softmax backward within the
 *     row, then the score backward: GATConv's dz [H], GATv2's dz [H*C]
 *     summed into d xr of the row, d att, and the edge-feature terms
 *     (d W_edge, d edge_attr, the loop attribute's gradient handed to the
 *     row's edges by the fill's backward); a row's per-slot values live in
 *     the thread's row buffer only, and the row's sum of alpha d alpha goes
 *     to the statistics for pass B;
 *  3. pass B by source (the by-source view, ascending slots): what every
 *     source row receives: the aggregation's alpha * g, GATConv's source
 *     score gradient, GATv2's dz, each edge's terms recomputed from its
 *     row's statistics (nothing is kept per edge);
 *  4. the projections' backward (family_linear.c) into d W, d bias of
 *     lin_l / lin_r, d x and d x_dst.
 * Each pass writes only rows it owns and sums over rows in block order:
 * the same bits at any thread count. At 8 heads x 8 channels both passes
 * run in vector registers (backward_row8, gather_row8) with the plain
 * loops' operations in their order, so the same bits.
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
    /* The projected-feature dropout's mask [N_src, H*C] and scale, or NULL:
     * d xs's share from the aggregation passes it, the scores' does not. */
    const uint8_t *value_keep;
    float value_scale;
    float *d_xs, *d_xd;       /* [N_src, H*C], [N_dst, H*C] */
    float *d_sd;              /* [N_dst, H] */
    float *d_edge_attr;       /* [E, D] or NULL */
    float *partials;          /* [blocks, part] */
    int64_t part;             /* floats per block partial */
    bool prefetch;            /* see gat__worth_prefetching */
    const gat_layer_config *c;
} back_args;

/* Offsets in a block's partial: d att (GATv2) or d att_dst (GATConv)
 * [H*C], then the edge term: U [H, D] (GATConv) or d W_edge [H*C, D]. */
static int64_t partial_floats(const gat_layer_config *c)
{
    const int64_t hc = c->heads * c->channels;
    return hc + (c->type == GAT_LAYER_GATV2 ? hc : c->heads) * c->edge_dim;
}

/* Row i's aggregation gradient per head [H*C]: g's row itself when the
 * heads are concatenated, else g / H per head, written into buf. */
static GAT_ALWAYS_INLINE const float *row_gradient(const back_args *b, int64_t i, float *buf,
                                                   const int64_t heads, const int64_t ch)
{
    if (b->c->concat)
        return b->g + i * heads * ch;
    const float *g = b->g + i * ch;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t k = 0; k < ch; k++)
            buf[h * ch + k] = g[k] / (float)heads;
    return buf;
}

static GAT_ALWAYS_INLINE float keep_factor(const back_args *b, int64_t p, int64_t h, int64_t bytes)
{
    if (b->keep == NULL)
        return 1.0f;
    return (float)((b->keep[p * bytes + h / 8] >> (h % 8)) & 1) * b->keep_scale;
}

/* What both passes compute for slot p (row i, source j) with the row's
 * aggregation gradient gy: the logits (z [H] GATConv's LeakyReLU input, zc
 * [2 H*C] GATv2's, second half scratch), alpha [H], the attention
 * dropout's factors kf [H] and d alpha [H] (through them); prod [H*C] and
 * logit [H] are scratch. The same operations in both passes, so the same
 * bits. */
static GAT_ALWAYS_INLINE void edge_terms(const back_args *b, int64_t p, int64_t i, int64_t j,
                                         const float *restrict gy, const float *restrict stats,
                                         float *restrict z, float *restrict zc,
                                         float *restrict alpha, float *restrict kf,
                                         float *restrict d_alpha, float *restrict prod,
                                         float *restrict logit, const int64_t heads,
                                         const int64_t ch)
{
    const gat__trainfam_pass *a = &b->pass;
    const int64_t hc = heads * ch, bytes = gat__mask_bytes(heads);
    const float *restrict v = a->st->xv + j * hc;
    gat__trainfam_logits(a, p, i, j, logit, z, zc, heads, ch);
    for (int64_t o = 0; o < hc; o++)
        prod[o] = gy[o] * v[o];
    for (int64_t h = 0; h < heads; h++) {
        alpha[h] = gat__trainfam_alpha(logit[h], stats[h], stats[heads + h]);
        kf[h] = keep_factor(b, p, h, bytes);
        float sum = 0.0f;
        for (int64_t c = 0; c < ch; c++)
            sum += prod[h * ch + c];
        d_alpha[h] = sum * kf[h];
    }
}

/* out [rows, dim] += g (x) x: the edge terms' d W_edge (GATv2) or U
 * (GATConv) partial, by rows contiguous in d. */
static GAT_ALWAYS_INLINE void outer_add(const float *restrict g, const int64_t rows,
                                        const float *restrict x, const int64_t dim,
                                        float *restrict out)
{
    for (int64_t r = 0; r < rows; r++) {
        const float w = g[r];
        float *restrict u = out + r * dim;
        for (int64_t d = 0; d < dim; d++)
            u[d] += w * x[d];
    }
}

/* GATConv's attribute gradient of one slot, given dz [H]: d_attr [D] +=
 * M dz (M^T [D, H], contiguous in h). Each d_attr[d] sums its heads in
 * head order in a register, the order the scalar loop had (the same bits),
 * read and written once instead of once per head. */
static GAT_ALWAYS_INLINE void attr_grad_by_heads(const float *restrict dz,
                                                 const float *restrict m,
                                                 float *restrict d_attr, const int64_t dim,
                                                 const int64_t heads)
{
    for (int64_t d = 0; d < dim; d++) {
        float s = d_attr[d];
        for (int64_t h = 0; h < heads; h++)
            s += dz[h] * m[d * heads + h];
        d_attr[d] = s;
    }
}

/* GATv2's attribute gradient of one slot, given dz [H*C]: d_attr [D] +=
 * W_edge^T dz, each feature's sum over o in o order from zero as before
 * (the same bits), taken for up to 16 features at once along W_edge's
 * rows instead of down its columns. */
static GAT_ALWAYS_INLINE void attr_grad_by_rows(const float *restrict dz,
                                                const float *restrict w,
                                                float *restrict d_attr, const int64_t dim,
                                                const int64_t hc)
{
    enum { TILE = 16 };
    for (int64_t d0 = 0; d0 < dim; d0 += TILE) {
        const int64_t n = dim - d0 < TILE ? dim - d0 : TILE;
        float s[TILE] = {0.0f};
        for (int64_t o = 0; o < hc; o++) {
            const float g = dz[o];
            const float *restrict row = w + o * dim + d0;
            for (int64_t d = 0; d < n; d++)
                s[d] += row[d] * g;
        }
        for (int64_t d = 0; d < n; d++)
            d_attr[d0 + d] += s[d];
    }
}

/* Pass A over row i; part the block's partial; buf the thread's row
 * buffer (per edge of the row: z [H], alpha [H], d alpha [H] and GATv2's
 * z [H*C]; then the row's vectors). */
static GAT_ALWAYS_INLINE void backward_row(const back_args *b, int64_t i, float *part,
                                           float *buf, const int64_t heads, const int64_t ch)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    const int64_t hc = heads * ch, dim = a->dim, md = e->max_degree;
    const int64_t first = e->row_ptr[i], degree = e->row_ptr[i + 1] - first;
    float *z_row = buf, *alpha_row = z_row + md * heads, *d_alpha = alpha_row + md * heads;
    float *zc_row = d_alpha + md * heads; /* [degree, H*C] GATv2 only, + H*C scratch */
    float *gy_buf = zc_row + (a->v2 ? (md + 1) * hc : 0), *dzc = gy_buf + hc, *logit = dzc + hc;
    float *de_h = logit + heads, *d_loop = de_h + heads; /* d_loop [D] */
    float *restrict d_xd = b->d_xd + i * hc, *restrict d_sd = b->d_sd + i * heads;
    float *stats = st->stats + i * 3 * heads, *dot = stats + 2 * heads;
    float *restrict p_att = part, *restrict p_edge = part + hc;
    const float *restrict gy = row_gradient(b, i, gy_buf, heads, ch);
    for (int64_t h = 0; h < heads; h++)
        dot[h] = 0.0f;
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k, j = e->src[p];
        if (b->prefetch && p + GAT_TRAIN_PREFETCH < e->num_slots)
            gat__prefetch_slot_source(a, e->src[p + GAT_TRAIN_PREFETCH]);
        float *alpha = alpha_row + k * heads, *da = d_alpha + k * heads;
        edge_terms(b, p, i, j, gy, stats, z_row + k * heads, zc_row + k * hc, alpha, logit, da,
                   dzc, de_h, heads, ch);
        for (int64_t h = 0; h < heads; h++)
            dot[h] += alpha[h] * da[h];
    }
    for (int64_t o = 0; o < hc; o++)
        d_xd[o] = 0.0f;
    for (int64_t h = 0; h < heads; h++)
        d_sd[h] = 0.0f;
    if (b->d_edge_attr != NULL)
        for (int64_t d = 0; d < dim; d++)
            d_loop[d] = 0.0f;
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k;
        const float *attr = a->with_edges
                                ? gat__slot_attr(e, st->loop_attr, dim, p, i, e->src[p])
                                : NULL;
        float *d_attr = NULL;
        if (b->d_edge_attr != NULL && a->with_edges)
            d_attr = e->pos[p] >= 0 ? b->d_edge_attr + e->pos[p] * dim : d_loop;
        if (!a->v2) {
            float *restrict dz = de_h;
            for (int64_t h = 0; h < heads; h++) {
                const float de = alpha_row[k * heads + h] * (d_alpha[k * heads + h] - dot[h]);
                dz[h] = z_row[k * heads + h] > 0.0f ? de : de * a->slope;
                d_sd[h] += dz[h];
            }
            if (a->with_edges) {
                outer_add(dz, heads, attr, dim, p_edge);
                if (d_attr != NULL)
                    attr_grad_by_heads(dz, st->edge_proj, d_attr, dim, heads);
            }
            continue;
        }
        const float *restrict zc = zc_row + k * hc;
        for (int64_t h = 0; h < heads; h++)
            de_h[h] = alpha_row[k * heads + h] * (d_alpha[k * heads + h] - dot[h]);
        {
            const float *restrict att = a->att, *restrict dh = de_h;
            float *restrict dz = dzc;
            const float slope = a->slope;
            /* LeakyReLU and its slope as a factor (1 or slope: the same
             * products as the branches), so the loop has no branch on the
             * random signs and vectorizes. */
            for (int64_t h = 0; h < heads; h++) {
                const float de = dh[h];
                for (int64_t c = 0; c < ch; c++) {
                    const int64_t o = h * ch + c;
                    const float zv = zc[o];
                    const float lr = zv > 0.0f ? 1.0f : slope;
                    p_att[o] += de * (zv * lr);
                    dz[o] = (de * att[o]) * lr;
                    d_xd[o] += dz[o];
                }
            }
        }
        if (a->with_edges) {
            outer_add(dzc, hc, attr, dim, p_edge);
            if (d_attr != NULL)
                attr_grad_by_rows(dzc, a->weight_edge, d_attr, dim, hc);
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
        gat__trainfam_fill_backward_row(e, b->c, a->edge_attr, st->loop_attr, i, d_loop,
                                        b->d_edge_attr);
}

/* d [hc] *= source j's projected-feature dropout factors (0 or the scale). */
static GAT_ALWAYS_INLINE void value_mask(const back_args *b, int64_t j, float *restrict d,
                                         const int64_t hc)
{
    const uint8_t *restrict keep = b->value_keep + j * hc;
    for (int64_t o = 0; o < hc; o++)
        d[o] *= (float)keep[o] * b->value_scale;
}

/* A coming slot's attention-dropout byte (slots come by source in pass B:
 * a random read each). */
static GAT_ALWAYS_INLINE void prefetch_byte(const uint8_t *p)
{
#if defined(__GNUC__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

/* Asks for what pass B reads for by-source position q (slots come by
 * source, so each is a random read): the destination's gradient row,
 * statistics and score (GATv2: its xr row), the slot's attribute row and
 * attention-dropout byte. */
static GAT_ALWAYS_INLINE void prefetch_by_source(const back_args *b, int64_t q,
                                                 const int64_t heads, const int64_t ch)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    if (q >= e->num_slots)
        return;
    const int64_t ip = e->by_src_dst[q], pp = e->by_src[q], hc = heads * ch;
    if (b->prefetch) {
        const int64_t g_width = b->c->concat ? hc : ch;
        gat__prefetch_floats(b->g + ip * g_width, g_width);
        gat__prefetch_floats(st->stats + ip * 3 * heads, 3 * heads);
        if (a->v2)
            gat__prefetch_floats(st->xd + ip * hc, hc);
        else
            gat__prefetch_floats(st->sd + ip * heads, heads);
    }
    if (a->with_edges)
        gat__prefetch_floats(e->attr + pp * a->dim, a->dim);
    if (b->keep != NULL)
        prefetch_byte(b->keep + pp);
}

/* Pass B over source j: d xs of row j; part the block's d att_src
 * partial. Each edge's coefficient and gradient again, from the row's
 * statistics (nothing was kept per edge). */
static GAT_ALWAYS_INLINE void gather_row(const back_args *b, int64_t j, float *part, float *buf,
                                         const int64_t heads, const int64_t ch)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    const int64_t hc = heads * ch;
    float *gy_buf = buf, *zc = gy_buf + hc, *prod = zc + 2 * hc, *ds = prod + hc;
    float *z = ds + heads, *alpha = z + heads, *kf = alpha + heads, *da = kf + heads;
    float *de = da + heads, *logit = de + heads;
    /* Summed here, stored at the end: the target may be xs_j itself. */
    float *restrict d_xs = logit + heads;
    /* GATv2's score terms, apart from the aggregation's when the mask is to
     * pass only the latter (into d_xs itself otherwise: the same sums). */
    float *restrict d_score = d_xs + hc;
    for (int64_t o = 0; o < hc; o++)
        d_xs[o] = d_score[o] = 0.0f;
    for (int64_t h = 0; h < heads; h++)
        ds[h] = 0.0f;
    for (int64_t q = e->src_ptr[j]; q < e->src_ptr[j + 1]; q++) {
        const int64_t p = e->by_src[q], i = e->by_src_dst[q];
        prefetch_by_source(b, q + GAT_TRAIN_PREFETCH, heads, ch);
        const float *restrict gy = row_gradient(b, i, gy_buf, heads, ch);
        const float *stats = st->stats + i * 3 * heads;
        edge_terms(b, p, i, j, gy, stats, z, zc, alpha, kf, da, prod, logit, heads, ch);
        for (int64_t h = 0; h < heads; h++) {
            de[h] = alpha[h] * (da[h] - stats[2 * heads + h]);
            kf[h] *= alpha[h];
        }
        for (int64_t h = 0; h < heads; h++) {
            const float w = kf[h];
            for (int64_t c = 0; c < ch; c++)
                d_xs[h * ch + c] += w * gy[h * ch + c];
        }
        if (!a->v2) {
            for (int64_t h = 0; h < heads; h++)
                ds[h] += z[h] > 0.0f ? de[h] : de[h] * a->slope;
            continue;
        }
        {
            const float *restrict dh = de, *restrict att = a->att;
            float *restrict d_to = b->value_keep != NULL ? d_score : d_xs;
            const float slope = a->slope;
            for (int64_t h = 0; h < heads; h++) {
                const float de = dh[h];
                for (int64_t c = 0; c < ch; c++) {
                    const int64_t o = h * ch + c;
                    const float lr = zc[o] > 0.0f ? 1.0f : slope;
                    d_to[o] += (de * att[o]) * lr;
                }
            }
        }
    }
    if (b->value_keep != NULL) {
        /* So far the aggregation's share (GATv2's score terms apart): the
         * mask. */
        value_mask(b, j, d_xs, hc);
        if (a->v2)
            for (int64_t o = 0; o < hc; o++)
                d_xs[o] += d_score[o];
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
    memcpy(b->d_xs + j * hc, d_xs, (size_t)hc * sizeof *d_xs);
}

/* ---- 8 heads x 8 channels in registers (simd.h) -------------------------- */

/* backward_row and gather_row at 8 x 8 (the paper's hidden layer, the
 * benchmarks'), both layer types, per-head vectors in head registers
 * (gat_v_load_heads8) and rows in GAT_V_ROW8 registers instead of scalar
 * loops: the same operations per lane in the same order (each head's
 * d alpha summed over its channels from zero in channel order, through an
 * 8 x 8 transpose of the products; separate multiplies and adds where the
 * loops have them), so the same bits. The logits stay the shared
 * gat__trainfam_logits. */
enum { H8 = 8, HC8 = 64, HR8 = GAT_V_HEAD_REGS, R8 = GAT_V_ROW8 };

/* The attention dropout's factors of slot p, as keep_factor: scale or +0. */
static GAT_ALWAYS_INLINE gat_v keep8(const back_args *b, int64_t p, int hr)
{
    if (b->keep == NULL)
        return gat_v_splat(1.0f);
    return gat_v_select(gat_v_head_bits8(b->keep[p], hr), gat_v_splat(b->keep_scale),
                        gat_v_zero());
}

/* LeakyReLU's slope factor of z: 1 or slope. */
static GAT_ALWAYS_INLINE gat_v slope_factor8(gat_v z, gat_v slope)
{
    return gat_v_select(gat_v_gt(z, gat_v_zero()), gat_v_splat(1.0f), slope);
}

/* edge_terms at 8 x 8: the LeakyReLU input of slot p (row i, source j)
 * into z (gat__trainfam_logits8's: GATConv's per head register, GATv2's a
 * head-major row), alpha, the dropout factors and d alpha per head
 * register; gy the row's aggregation gradient. */
static GAT_ALWAYS_INLINE void edge_terms8(const back_args *b, int64_t p, int64_t i, int64_t j,
                                          const float *restrict gy,
                                          const float *restrict stats, gat_v *z,
                                          gat_v *alpha, gat_v *kf, gat_v *d_alpha)
{
    const gat__trainfam_pass *a = &b->pass;
    const float *restrict v = a->st->xv + j * HC8;
    gat_v logit[HR8];
    gat__trainfam_logits8(a, p, i, j, logit, z);
    gat_v prod[R8], t[R8];
    for (int r = 0; r < R8; r++)
        prod[r] = gat_v_load(gy + r * GAT_V_LANES) * gat_v_load(v + r * GAT_V_LANES);
    gat_v_transpose8(prod, t);
    for (int h = 0; h < HR8; h++) {
        alpha[h] = gat_v_exp_nonpositive(logit[h] -
                                         gat_v_load_heads8(stats, h)) *
                   gat_v_load_heads8(stats + H8, h);
        kf[h] = keep8(b, p, h);
        gat_v sum = gat_v_zero();
        for (int c = 0; c < 8; c++)
            sum = sum + gat_v_channel_heads8(t, c, h);
        d_alpha[h] = sum * kf[h];
    }
}

/* outer_add of row i's slots at once: p_edge [rows, D] += dz_k (x) attr_k
 * for each slot k of the row in slot order (dz [degree, rows]), so the
 * same sums as slot by slot; taken 8 slots and a register of features at
 * a time, the slots' attributes held in registers and each element of
 * p_edge read and written once per 8 slots instead of once per slot. */
static GAT_ALWAYS_INLINE void outer_add_rows(const float *restrict dz, const int64_t rows,
                                             const back_args *b, int64_t i, int64_t degree,
                                             float *restrict p_edge)
{
    enum { GROUP = 8, W = GAT_V_LANES };
    const gat__trainfam_edges *e = b->pass.e;
    const int64_t dim = b->pass.dim, first = e->row_ptr[i];
    for (int64_t k0 = 0; k0 < degree; k0 += GROUP) {
        const int n = degree - k0 < GROUP ? (int)(degree - k0) : GROUP;
        const float *attr[GROUP];
        for (int s = 0; s < n; s++) {
            const int64_t p = first + k0 + s;
            attr[s] = gat__slot_attr(e, b->pass.st->loop_attr, dim, p, i, e->src[p]);
        }
        for (int64_t d0 = 0; d0 < dim; d0 += W) {
            const int lanes = dim - d0 < W ? (int)(dim - d0) : W;
            gat_v x[GROUP];
            for (int s = 0; s < n; s++)
                x[s] = lanes == W ? gat_v_load(attr[s] + d0) : gat_v_load_first(attr[s] + d0, lanes);
            for (int64_t r = 0; r < rows; r++) {
                float *restrict out = p_edge + r * dim + d0;
                const float *restrict g = dz + k0 * rows + r;
                gat_v acc = lanes == W ? gat_v_load(out) : gat_v_load_first(out, lanes);
                for (int s = 0; s < n; s++)
                    acc = acc + gat_v_splat(g[s * rows]) * x[s];
                if (lanes == W)
                    gat_v_store(out, acc);
                else
                    gat_v_store_first(out, acc, lanes);
            }
        }
    }
}

/* backward_row at 8 x 8. */
static GAT_ALWAYS_INLINE void backward_row8(const back_args *b, int64_t i, float *part,
                                            float *buf, const bool v2)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    const int64_t dim = a->dim, md = e->max_degree;
    const int64_t first = e->row_ptr[i], degree = e->row_ptr[i + 1] - first;
    float *z_row = buf, *alpha_row = z_row + md * H8, *d_alpha = alpha_row + md * H8;
    /* GATv2's LeakyReLU input per edge [degree, H*C] */
    float *zc_row = d_alpha + md * H8;
    float *gy_buf = zc_row + (v2 ? md : 0) * HC8, *d_loop = gy_buf + HC8; /* d_loop [D] */
    float *stats = st->stats + i * 3 * H8;
    float *restrict p_att = part, *restrict p_edge = part + HC8;
    const float *restrict gy = row_gradient(b, i, gy_buf, H8, 8);
    const gat_v zero = gat_v_zero(), slope = gat_v_splat(a->slope);
    gat_v dot[HR8], d_sd[HR8], d_xd[R8], att_sum[R8];
    for (int h = 0; h < HR8; h++)
        dot[h] = d_sd[h] = zero;
    for (int r = 0; r < R8; r++) {
        d_xd[r] = zero;
        att_sum[r] = gat_v_load(p_att + r * GAT_V_LANES);
    }
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k, j = e->src[p];
        if (b->prefetch && p + GAT_TRAIN_PREFETCH < e->num_slots)
            gat__prefetch_slot_source(a, e->src[p + GAT_TRAIN_PREFETCH]);
        gat_v alpha[HR8], kf[HR8], da[HR8];
        gat_v zv[R8]; /* GATConv sets HR8 of them: all set for the compiler */
        for (int r = 0; r < R8; r++)
            zv[r] = gat_v_zero();
        edge_terms8(b, p, i, j, gy, stats, zv, alpha, kf, da);
        if (v2)
            for (int r = 0; r < R8; r++)
                gat_v_store(zc_row + k * HC8 + r * GAT_V_LANES, zv[r]);
        else
            for (int h = 0; h < HR8; h++)
                gat_v_store_heads8(z_row + k * H8, zv[h], h);
        for (int h = 0; h < HR8; h++) {
            gat_v_store_heads8(alpha_row + k * H8, alpha[h], h);
            gat_v_store_heads8(d_alpha + k * H8, da[h], h);
            dot[h] = dot[h] + alpha[h] * da[h];
        }
    }
    for (int h = 0; h < HR8; h++)
        gat_v_store_heads8(stats + 2 * H8, dot[h], h);
    if (b->d_edge_attr != NULL)
        for (int64_t d = 0; d < dim; d++)
            d_loop[d] = 0.0f;
    for (int64_t k = 0; k < degree; k++) {
        const int64_t p = first + k;
        gat_v de[HR8];
        for (int h = 0; h < HR8; h++)
            de[h] = gat_v_load_heads8(alpha_row + k * H8, h) *
                    (gat_v_load_heads8(d_alpha + k * H8, h) - dot[h]);
        /* dz of the slot takes the place of its z (read just before): the
         * row's edge term adds them all at the end. */
        float *restrict dz = v2 ? zc_row + k * HC8 : z_row + k * H8;
        if (!v2) {
            for (int h = 0; h < HR8; h++) {
                const gat_v dzv = de[h] * slope_factor8(gat_v_load_heads8(dz, h), slope);
                d_sd[h] = d_sd[h] + dzv;
                gat_v_store_heads8(dz, dzv, h);
            }
        } else {
            /* GATv2's score per channel: d att += de LReLU(z), dz = de att
             * LReLU'(z), summed into d xr of the row. */
            for (int r = 0; r < R8; r++) {
                const gat_v der = gat_v_spread_heads8(de, r), zv = gat_v_load(dz + r * GAT_V_LANES);
                const gat_v lr = slope_factor8(zv, slope);
                att_sum[r] = att_sum[r] + der * (zv * lr);
                const gat_v dzr = (der * gat_v_load(a->att + r * GAT_V_LANES)) * lr;
                d_xd[r] = d_xd[r] + dzr;
                gat_v_store(dz + r * GAT_V_LANES, dzr);
            }
        }
        if (a->with_edges && b->d_edge_attr != NULL) {
            float *d_attr = e->pos[p] >= 0 ? b->d_edge_attr + e->pos[p] * dim : d_loop;
            if (v2)
                attr_grad_by_rows(dz, a->weight_edge, d_attr, dim, HC8);
            else
                attr_grad_by_heads(dz, st->edge_proj, d_attr, dim, H8);
        }
    }
    if (a->with_edges)
        outer_add_rows(v2 ? zc_row : z_row, v2 ? HC8 : H8, b, i, degree, p_edge);
    if (!v2) {
        /* The destination score: d xd = att_dst (x) d sd; d att_dst += d sd xd. */
        const float *restrict xd = st->xd + i * HC8, *restrict att_dst = b->layer->att_dst;
        for (int r = 0; r < R8; r++) {
            const gat_v ds = gat_v_spread_heads8(d_sd, r);
            d_xd[r] = gat_v_load(att_dst + r * GAT_V_LANES) * ds;
            att_sum[r] = att_sum[r] + ds * gat_v_load(xd + r * GAT_V_LANES);
        }
    }
    for (int r = 0; r < R8; r++) {
        gat_v_store(b->d_xd + i * HC8 + r * GAT_V_LANES, d_xd[r]);
        gat_v_store(p_att + r * GAT_V_LANES, att_sum[r]);
    }
    if (b->d_edge_attr != NULL && a->with_edges)
        gat__trainfam_fill_backward_row(e, b->c, a->edge_attr, st->loop_attr, i, d_loop,
                                        b->d_edge_attr);
}

/* gather_row at 8 x 8. */
static GAT_ALWAYS_INLINE void gather_row8(const back_args *b, int64_t j, float *part, float *buf,
                                          const bool v2)
{
    const gat__trainfam_pass *a = &b->pass;
    const gat__trainfam_edges *e = a->e;
    const gat__trainfam_layer *st = a->st;
    float *gy_buf = buf;
    const gat_v zero = gat_v_zero(), slope = gat_v_splat(a->slope);
    /* d_score: GATv2's score terms, apart from the aggregation's when the
     * projected-feature mask is to pass only the latter (else into d_xs
     * itself: the same sums as gather_row). */
    const bool masked = b->value_keep != NULL;
    gat_v d_xs[R8], d_score[R8], ds[HR8];
    for (int r = 0; r < R8; r++)
        d_xs[r] = d_score[r] = zero;
    for (int h = 0; h < HR8; h++)
        ds[h] = zero;
    for (int64_t q = e->src_ptr[j]; q < e->src_ptr[j + 1]; q++) {
        const int64_t p = e->by_src[q], i = e->by_src_dst[q];
        prefetch_by_source(b, q + GAT_TRAIN_PREFETCH, H8, 8);
        const float *restrict gy = row_gradient(b, i, gy_buf, H8, 8);
        const float *stats = st->stats + i * 3 * H8;
        gat_v alpha[HR8], kf[HR8], da[HR8], w[HR8], de[HR8];
        gat_v zv[R8]; /* GATConv sets HR8 of them: all set for the compiler */
        for (int r = 0; r < R8; r++)
            zv[r] = gat_v_zero();
        edge_terms8(b, p, i, j, gy, stats, zv, alpha, kf, da);
        for (int h = 0; h < HR8; h++) {
            de[h] = alpha[h] * (da[h] - gat_v_load_heads8(stats + 2 * H8, h));
            w[h] = kf[h] * alpha[h];
        }
        for (int r = 0; r < R8; r++)
            d_xs[r] = d_xs[r] + gat_v_spread_heads8(w, r) * gat_v_load(gy + r * GAT_V_LANES);
        if (!v2) {
            for (int h = 0; h < HR8; h++)
                ds[h] = ds[h] + de[h] * slope_factor8(zv[h], slope);
            continue;
        }
        for (int r = 0; r < R8; r++) {
            const gat_v lr = slope_factor8(zv[r], slope);
            const gat_v term =
                (gat_v_spread_heads8(de, r) * gat_v_load(a->att + r * GAT_V_LANES)) * lr;
            if (masked)
                d_score[r] = d_score[r] + term;
            else
                d_xs[r] = d_xs[r] + term;
        }
    }
    if (masked) {
        /* The aggregation's share passes the mask, the scores' not. */
        float f[HC8];
        for (int r = 0; r < R8; r++)
            gat_v_store(f + r * GAT_V_LANES, d_xs[r]);
        value_mask(b, j, f, HC8);
        for (int r = 0; r < R8; r++) {
            d_xs[r] = gat_v_load(f + r * GAT_V_LANES);
            if (v2)
                d_xs[r] = d_xs[r] + d_score[r];
        }
    }
    if (!v2) {
        const float *restrict xs = st->xs + j * HC8, *restrict att_src = b->layer->att_src;
        for (int r = 0; r < R8; r++) {
            const gat_v s = gat_v_spread_heads8(ds, r);
            const int64_t o = r * GAT_V_LANES;
            d_xs[r] = d_xs[r] + gat_v_load(att_src + o) * s;
            gat_v_store(part + o, gat_v_load(part + o) + s * gat_v_load(xs + o));
        }
    }
    /* Stored at the end: the target may be xs_j itself. */
    for (int r = 0; r < R8; r++)
        gat_v_store(b->d_xs + j * HC8 + r * GAT_V_LANES, d_xs[r]);
}

/* Pass A over rows [first, last) or pass B over sources [first, last),
 * the shape constant where train_shapes.h lists it (8 x 8 in
 * registers). */
static void backward_rows(const back_args *b, int64_t first, int64_t last, float *part,
                          float *buf, bool gather)
{
#define ROWS8_(V2)                                                                     \
    for (int64_t i = first; i < last; i++) {                                           \
        if (gather)                                                                    \
            gather_row8(b, i, part, buf, V2);                                          \
        else                                                                           \
            backward_row8(b, i, part, buf, V2);                                        \
    }
    if (b->pass.heads == H8 && b->pass.channels == 8) {
        if (b->pass.v2)
            ROWS8_(true)
        else
            ROWS8_(false)
        return;
    }
#undef ROWS8_
#define FIXED_(H, C)                                                                   \
    for (int64_t i = first; i < last; i++) {                                           \
        if (gather)                                                                    \
            gather_row(b, i, part, buf, H, C);                                         \
        else                                                                           \
            backward_row(b, i, part, buf, H, C);                                       \
    }
#define GENERIC_() FIXED_(b->pass.heads, b->pass.channels)
    GAT__TRAIN_SHAPES(b->pass.heads, b->pass.channels, FIXED_, GENERIC_);
#undef FIXED_
#undef GENERIC_
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
    return 3 * max_degree * c->heads + (c->type == GAT_LAYER_GATV2 ? (max_degree + 1) * hc : 0) +
           6 * hc + 8 * c->heads + c->edge_dim + 16;
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
    const gat__linear_x in = gat__trainfam_x_src(st), in_dst = gat__trainfam_x_dst(st);
    /* d_in and d_in_dst may be the same buffer (one input). */
    if (d_in != NULL)
        memset(d_in, 0, (size_t)(e->num_src * f) * sizeof *d_in);
    if (d_in_dst != NULL && d_in_dst != d_in)
        memset(d_in_dst, 0, (size_t)(e->num_dst * f_dst) * sizeof *d_in_dst);

    if (gr.bias != NULL)
        gat__column_sums(ctx, g, e->num_dst, width, gr.bias, false, fam->partials);
    if (layer->weight_res != NULL)
        gat__linear_x_backward(ctx, in_dst, g, e->num_dst, f_dst, width, layer->weight_res,
                               gr.weight_res, NULL, d_in_dst, true, fam->tmp_in, fam->partials);

    const gat__dropout drop_att = gat__dropout_make(t->options.seed, t->steps, l,
                                                    GAT__DROP_ATTENTION,
                                                    (float)t->options.attention_dropout);
    const gat__dropout drop_proj = gat__dropout_make(t->options.seed, t->steps, l,
                                                     GAT__DROP_PROJECTED,
                                                     (float)t->options.projected_dropout);
    /* Pass B reads only its own source row of xs (and other rows of xd),
     * so d xs can take xs's place, unless GATv2 reads xs as xd (one input,
     * shared weights): no [N, H*C] buffer more. The forward is then spent. */
    float *d_xs = v2 && st->xd == st->xs ? fam->d_xs : st->xs;
    /* d xd goes where the model's output was (at least [N_dst, H*C], see
     * gat_trainer_create): the loss has read it, its gradient is apart. */
    float *d_xd = t->logits;
    t->forward_spent = true;
    back_args b = {.pass = gat__trainfam_pass_make(layer, st, fam->edge_attr),
                   .layer = layer,
                   .g = g,
                   .keep = st->used_attention_keep ? st->attention_keep : NULL,
                   .keep_scale = drop_att.scale,
                   .value_keep = st->xv != st->xs ? st->proj_keep : NULL,
                   .value_scale = drop_proj.scale,
                   .d_xs = d_xs,
                   .d_xd = d_xd,
                   .d_sd = fam->d_sd,
                   .d_edge_attr = c->edge_dim > 0 ? d_edge_attr : NULL,
                   .partials = fam->partials,
                   .part = partial_floats(c),
                   .prefetch = gat__worth_prefetching(e->num_src, hc),
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
        backward_rows(&b, blk * GAT_REDUCE_BLOCK, end, fam->partials + blk * b.part,
                      scratch + gat__thread_id() * per_thread, false);
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
        backward_rows(&b, blk * GAT_REDUCE_BLOCK, end, fam->partials + blk * hc,
                      scratch + gat__thread_id() * per_thread, true);
    }
    if (!v2)
        add_partials(fam->partials, src_blocks, hc, 0, hc, gr.att_src);

    /* The projections. xd aliases xs for one input and one weight: its
     * gradient joins the source side's. */
    const bool alias = st->xd == st->xs;
    if (alias)
        for (int64_t k = 0; k < e->num_src * hc; k++)
            d_xs[k] += d_xd[k];
    gat__linear_x_backward(ctx, in, d_xs, e->num_src, f, hc, layer->weight, gr.weight,
                           v2 ? gr.bias_src : NULL, d_in, true, fam->tmp_in, fam->partials);
    if (!alias) {
        const bool own = layer->weight_dst != NULL;
        gat__linear_x_backward(ctx, in_dst, d_xd, e->num_dst, f_dst, hc,
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
    if (t->forward_spent) {
        /* A second backward of the same forward: the first wrote gradients
         * over the projected rows. The forward is redone (the same step,
         * so the same masks and bits). */
        gat_status status = gat__trainfam_forward(ctx, t, true);
        if (status != GAT_OK)
            return status;
    }
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
            const int64_t count = st->edges->num_src * c->in_features;
            if (d_in != NULL && st->used_dropped)
                gat__dropout_backward(ctx, &drop_in, st->input_keep, d_in, count);
            if (d_in != NULL && st->sparse != NULL && gat__dropout_active(&drop_in) &&
                (status = gat__dropout_backward_hashed(ctx, &drop_in, d_in, count)) != GAT_OK)
                return status;
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
