/*
 * Backward of the edge phase: scores -> LeakyReLU -> softmax -> dropout ->
 * aggregation, and of the node scores, in two passes over the edges:
 *  A. by destination row (slots in library order): the gradient reaching
 *     each coefficient and the softmax backward within the row; it leaves,
 *     per row, the destination-score gradient and dot = sum_k alpha_k
 *     d alpha_k, and the row's output gradient channel-major (dyc);
 *  B. by source (the transposed view): what each source row receives
 *     through the aggregation, and its source-score gradient, each summed
 *     over the source's edges in ascending slot order.
 * Nothing is stored per edge: alpha is recomputed from the scores and the
 * forward's per-row shift and 1 / sum (the same operations, so the same
 * bits as the forward's), the coefficient gradients from dyc and the
 * features. Each pass writes only rows it owns, so there are no atomics
 * and the bits do not depend on the thread count. Sums over nodes (d_bias,
 * d_att_*) are taken per block of GAT_REDUCE_BLOCK rows and the blocks
 * added in order.
 *
 * Rows whose output gradient is all zero are skipped: the loss reads only
 * the training nodes, so in the last layer all other rows are zero, and in
 * the layer before only their neighbourhood is not. A skipped row
 * contributes only signed zeros, and adding a zero to a sum that started
 * at +0 never changes its bits, so skipping is exact (for finite values; a
 * non-finite activation makes the loss non-finite first). With a plan
 * (train_plan.c) pass B walks only the edges into the rows the forward
 * computed.
 *
 * The loops here are the plain twin; at 8 heads x 8 channels the register
 * kernels of backward_8x8.c run instead (pass A for a concatenated layer
 * only), with the same bits (tests/test_kernels.c holds them to that).
 */
#include "edge_pass.h"
#include "edge_row.h"
#include "fast_exp.h"
#include "fma.h"
#include "parallel.h"
#include "train_kernels.h"
#include "train_shapes.h"

#include <string.h>

static inline int64_t num_blocks(int64_t n)
{
    return (n + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
}

/* out [width] = sum over blocks b of partials[b * stride + k], in block order. */
static void reduce_blocks(const float *partials, int64_t blocks, int64_t stride, int64_t width,
                          float *out)
{
    for (int64_t k = 0; k < width; k++) {
        float sum = 0.0f;
        for (int64_t b = 0; b < blocks; b++)
            sum += partials[b * stride + k];
        out[k] = sum;
    }
}

/* The coefficient of slot (j -> i), head by head, as the forward had it:
 * alpha = exp(LeakyReLU(s_src[j] + s_dst[i]) - shift[i]) / sum[i]; lr the
 * LeakyReLU's slope at the logit. */
static GAT_ALWAYS_INLINE void coefficients(const float *restrict ss, const float *restrict sd,
                                           const float *restrict shift,
                                           const float *restrict inv, float slope,
                                           float *restrict alpha, float *restrict lr,
                                           const int64_t heads)
{
    GAT_SIMD
    for (int64_t h = 0; h < heads; h++) {
        const float z = ss[h] + sd[h];
        alpha[h] = gat__edge_exp(gat__leaky_relu(z, slope), shift[h], true) * inv[h];
        lr[h] = z > 0.0f ? 1.0f : slope;
    }
}

/* g [H] = <dyc_h, x_h> over the channels: lane-wise multiply-adds, both
 * rows channel-major. */
static GAT_ALWAYS_INLINE void head_dots(const float *restrict dyc, const float *restrict x,
                                        float *restrict g, const int64_t heads,
                                        const int64_t channels)
{
    GAT_SIMD
    for (int64_t h = 0; h < heads; h++)
        g[h] = dyc[h] * x[h];
    for (int64_t c = 1; c < channels; c++)
        GAT_SIMD
        for (int64_t h = 0; h < heads; h++)
            g[h] = GAT_FMA(dyc[c * heads + h], x[c * heads + h], g[h]);
}

/* Row state of the passes: [H] vectors, and [H*C] for pass B's gradient
 * and copy of the source's features. */
typedef struct row_state {
    float *alpha, *lr, *g, *kf, *dot, *sa, *sb; /* [H] each */
    float *dx, *x;                             /* [H*C] each */
} row_state;

/* Pass A over rows [first, last): dyc, dot, d_score_dst, active, and the
 * block's d_bias partial. concat and drop are constants at the
 * instantiations. */
static GAT_ALWAYS_INLINE void backward_rows(const gat__backward_pass *a, const gat__rows *rows,
                                            int64_t first, int64_t last,
                                            float *restrict part_bias, const row_state *r,
                                            const int64_t heads, const int64_t channels,
                                            const bool concat, const bool drop)
{
    const int64_t hc = heads * channels, width = a->width, hs = concat ? channels : 0;
    const float head_scale = concat ? 1.0f : 1.0f / (float)heads;
    const int64_t *restrict row_ptr = a->v->row_ptr;
    const int32_t *restrict src = a->v->src;
    const float *restrict features = a->features;
    const float *restrict score_src = a->score_src;
    float *restrict alpha = r->alpha, *restrict lr = r->lr, *restrict g = r->g,
                    *restrict kf = r->kf, *restrict dot = r->dot, *restrict sa = r->sa,
                    *restrict sb = r->sb;
    for (int64_t ri = first; ri < last; ri++) {
        const int64_t i = gat__row_at(rows, ri);
        const float *restrict dy = a->d_out + i * width;
        float *restrict dsd = a->d_score_dst + i * heads;
        const bool any = gat__any_nonzero(dy, width);
        a->active[i] = any;
        if (!any) {
            /* Pass B reads this row's dyc and dot along every edge into it:
             * zeros make those edges add exactly nothing (signed zeros into
             * sums that start at +0), with no branch per edge. With one
             * head dyc is d_out, zero already. */
            for (int64_t h = 0; h < heads; h++)
                dsd[h] = a->dot[i * heads + h] = 0.0f;
            if (heads > 1)
                memset(a->dyc + i * hc, 0, (size_t)hc * sizeof(float));
            continue;
        }
        for (int64_t k = 0; k < width; k++) /* out = agg + bias */
            part_bias[k] += dy[k];
        /* d agg[i,h,c] = d_out[i, h*C + c] (concat) or d_out[i, c] / H (mean),
         * channel-major like projected; with one head that is d_out itself. */
        const float *restrict dyc = dy;
        if (heads > 1) {
            float *restrict out = a->dyc + i * hc;
            for (int64_t c = 0; c < channels; c++)
                for (int64_t h = 0; h < heads; h++)
                    out[c * heads + h] = dy[h * hs + c] * head_scale;
            dyc = out;
        }
        const float *restrict sd = a->score_dst + i * heads;
        const float *restrict shift = a->shift + i * heads;
        const float *restrict inv = a->inv_sum + i * heads;
        for (int64_t h = 0; h < heads; h++)
            dot[h] = sa[h] = sb[h] = 0.0f;
        /* agg[i] = sum_j a_ij x_j with a = alpha * drop (x_j: the features
         * as aggregated, after any projected-feature dropout):
         *   s_ij = d a_ij * drop = <d agg[i,h,:], x_j,h,:> * drop = d alpha_ij;
         * alpha = softmax(e) over the row:
         *   d e_ij = alpha_ij (s_ij - dot_i),  dot_i = sum_k alpha_ik s_ik;
         * e = LeakyReLU(z), z = s_src[j] + s_dst[i]:  d z = lr_ij d e_ij, so
         *   d s_dst[i] = sum_j lr_ij alpha_ij s_ij - dot_i sum_j lr_ij alpha_ij,
         * both sums taken in the same loop as dot. */
        const int64_t k1 = row_ptr[i + 1];
        for (int64_t k = row_ptr[i]; k < k1; k++) {
            const int64_t j = src[k];
            if (a->prefetch && k + GAT_TRAIN_PREFETCH < a->v->num_slots) { /* across row ends */
                const int64_t ahead = src[k + GAT_TRAIN_PREFETCH];
                gat__prefetch_floats(features + ahead * hc, hc);
                gat__prefetch_floats(score_src + ahead * heads, heads);
            }
            coefficients(score_src + j * heads, sd, shift, inv, a->slope, alpha, lr, heads);
            head_dots(dyc, features + j * hc, g, heads, channels);
            if (drop)
                gat__mask_to_float(a->keep + k * gat__mask_bytes(heads), a->keep_scale, kf,
                                   heads);
            GAT_SIMD
            for (int64_t h = 0; h < heads; h++) {
                const float as = alpha[h] * (drop ? g[h] * kf[h] : g[h]);
                dot[h] += as;
                sa[h] = GAT_FMA(lr[h], as, sa[h]);
                sb[h] = GAT_FMA(lr[h], alpha[h], sb[h]);
            }
        }
        float *restrict dot_out = a->dot + i * heads;
        for (int64_t h = 0; h < heads; h++) {
            dot_out[h] = dot[h];
            dsd[h] = GAT_FMA(-dot[h], sb[h], sa[h]);
        }
    }
}

/* Pass B over source rows [first, last): d_projected (head-major, over the
 * source's own features once they are read), and the block's d_att_src /
 * d_att_dst partials. */
static GAT_ALWAYS_INLINE void gather_rows(const gat__backward_pass *a, const gat__rows *rows,
                                          int64_t first, int64_t last,
                                          float *restrict part_src, float *restrict part_dst,
                                          const row_state *r, const int64_t heads,
                                          const int64_t channels, const bool drop)
{
    const int64_t hc = heads * channels;
    const gat__edge_views *v = a->v;
    const gat__source_lists lists = gat__sources_of(a);
    const int64_t *restrict src_ptr = lists.ptr;
    const int32_t *restrict dsts = lists.dst;
    const int32_t *restrict offsets = lists.offset;
    const uint8_t *restrict active = a->active;
    const float *restrict dyc_rows = heads == 1 ? a->d_out : a->dyc;
    const float *restrict att_src = a->att_src, *restrict att_dst = a->att_dst;
    float *restrict alpha = r->alpha, *restrict lr = r->lr, *restrict g = r->g,
                    *restrict kf = r->kf, *restrict dss = r->dot, *restrict w = r->sa,
                    *restrict dsd = r->sb;
    float *restrict dx = r->dx, *restrict x = r->x;
    const int64_t prefetch_end = gat__sources_end(&lists, rows, first, last);
    for (int64_t rj = first; rj < last; rj++) {
        const int64_t j = gat__row_at(rows, rj);
        float *restrict row = a->projected + j * hc;
        const float *restrict ss = a->score_src + j * heads;
        for (int64_t k = 0; k < hc; k++) {
            x[k] = row[k];
            dx[k] = 0.0f;
        }
        /* The features the aggregation read (x feeds the scores). */
        const float *restrict xa = a->dropped != NULL ? a->dropped + j * hc : x;
        for (int64_t h = 0; h < heads; h++)
            dss[h] = 0.0f;
        /* agg[i] = sum_j a_ij x_j:  d x_j += a_ij d agg[i];
         * z_ij = s_src[j] + s_dst[i]:  d s_src[j] += lr_ij alpha_ij (s_ij - dot_i). */
        const int64_t at = lists.restricted ? rj : j; /* a restricted view is by list position */
        const int64_t end = src_ptr[at + 1];
        for (int64_t q = src_ptr[at]; q < end; q++) {
            if (a->prefetch && q + GAT_TRAIN_PREFETCH < prefetch_end) { /* across source ends */
                const int64_t ahead = dsts[q + GAT_TRAIN_PREFETCH];
                gat__prefetch_floats(dyc_rows + ahead * hc, hc);
                gat__prefetch_floats(a->score_dst + ahead * heads, heads);
                gat__prefetch_floats(a->shift + ahead * heads, heads);
                gat__prefetch_floats(a->inv_sum + ahead * heads, heads);
                gat__prefetch_floats(a->dot + ahead * heads, heads);
            }
            const int64_t i = dsts[q];
            const float *restrict dyc = dyc_rows + i * hc;
            const float *restrict dot = a->dot + i * heads;
            coefficients(ss, a->score_dst + i * heads, a->shift + i * heads,
                         a->inv_sum + i * heads, a->slope, alpha, lr, heads);
            head_dots(dyc, xa, g, heads, channels);
            if (drop)
                gat__mask_to_float(a->keep + (v->row_ptr[i] + offsets[q]) * gat__mask_bytes(heads),
                                   a->keep_scale, kf, heads);
            GAT_SIMD
            for (int64_t h = 0; h < heads; h++) {
                const float s = drop ? g[h] * kf[h] : g[h];
                dss[h] = GAT_FMA(lr[h] * alpha[h], s - dot[h], dss[h]);
                w[h] = drop ? alpha[h] * kf[h] : alpha[h];
            }
            for (int64_t c = 0; c < channels; c++)
                GAT_SIMD
                for (int64_t h = 0; h < heads; h++)
                    dx[c * heads + h] = GAT_FMA(w[h], dyc[c * heads + h], dx[c * heads + h]);
        }
        /* The aggregation read x_j dropped out: its gradient goes back
         * through the mask (the scores' below read x_j as it is), as a
         * factor 0 or scale (no branch on the random mask). */
        if (a->proj_keep != NULL) {
            const uint8_t *restrict keep = a->proj_keep + j * hc;
            const float scale = a->proj_scale;
            for (int64_t h = 0; h < heads; h++)
                for (int64_t c = 0; c < channels; c++)
                    dx[c * heads + h] *= (float)keep[h * channels + c] * scale;
        }
        /* s_src[j,h] = <x_j,h,:, att_src[h,:]>, s_dst likewise:
         *   d x_j,h,: += d s_src[j,h] att_src[h,:] + d s_dst[j,h] att_dst[h,:]
         *   d att_src[h,:] += d s_src[j,h] x_j,h,:, d att_dst likewise. */
        /* A source the forward computed no output for has none to send back
         * (its d_out row is zero in a pass over all rows). */
        for (int64_t h = 0; h < heads; h++)
            dsd[h] = active[j] ? a->d_score_dst[j * heads + h] : 0.0f;
        /* Three loops, not one: fused, GCC 12's SLP vectorizer loses the
         * first d_att_dst term at 1 head x 3 channels. */
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++) {
                const int64_t o = h * channels + c, xo = c * heads + h;
                row[o] = GAT_FMA(dsd[h], att_dst[o], GAT_FMA(dss[h], att_src[o], dx[xo]));
            }
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++)
                part_src[h * channels + c] =
                    GAT_FMA(dss[h], x[c * heads + h], part_src[h * channels + c]);
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++)
                part_dst[h * channels + c] =
                    GAT_FMA(dsd[h], x[c * heads + h], part_dst[h * channels + c]);
    }
}

/* One function per fixed shape and pass (see train_attention.c). */
#define DEFINE_FIXED(H, C)                                                                   \
    static void backward_rows_##H##x##C(const gat__backward_pass *a, const gat__rows *rows,      \
                                        int64_t first, int64_t last, float *part_bias,      \
                                        bool concat, bool drop)                              \
    {                                                                                        \
        float h_[7][H];                                                                      \
        const row_state r = {h_[0], h_[1], h_[2], h_[3], h_[4], h_[5], h_[6], NULL, NULL};   \
        if (concat && drop)                                                                  \
            backward_rows(a, rows, first, last, part_bias, &r, (H), (C), true, true);        \
        else if (concat)                                                                     \
            backward_rows(a, rows, first, last, part_bias, &r, (H), (C), true, false);       \
        else if (drop)                                                                       \
            backward_rows(a, rows, first, last, part_bias, &r, (H), (C), false, true);       \
        else                                                                                 \
            backward_rows(a, rows, first, last, part_bias, &r, (H), (C), false, false);      \
    }                                                                                        \
    static void gather_rows_##H##x##C(const gat__backward_pass *a, const gat__rows *rows,        \
                                      int64_t first, int64_t last, float *part_src,          \
                                      bool drop)                                             \
    {                                                                                        \
        float h_[7][H], dx[(H) * (C)], x[(H) * (C)];                                         \
        const row_state r = {h_[0], h_[1], h_[2], h_[3], h_[4], h_[5], h_[6], dx, x};        \
        if (drop)                                                                            \
            gather_rows(a, rows, first, last, part_src, part_src + (H) * (C), &r, (H), (C),  \
                        true);                                                               \
        else                                                                                 \
            gather_rows(a, rows, first, last, part_src, part_src + (H) * (C), &r, (H), (C),  \
                        false);                                                              \
    }
GAT__TRAIN_SHAPE_LIST(DEFINE_FIXED)
#undef DEFINE_FIXED

/* Row state of a generic shape in scratch [7 H + 2 H*C]. */
static row_state generic_state(float *scratch, int64_t heads, int64_t hc)
{
    const row_state r = {scratch,
                         scratch + heads,
                         scratch + 2 * heads,
                         scratch + 3 * heads,
                         scratch + 4 * heads,
                         scratch + 5 * heads,
                         scratch + 6 * heads,
                         scratch + 7 * heads,
                         scratch + 7 * heads + hc};
    return r;
}

int64_t gat__attention_backward_scratch(const gat_layer_config *c, int64_t num_nodes)
{
    return num_blocks(num_nodes) * (gat__layer_out_width(c) + 2 * c->heads * c->channels);
}

/* The first position of a row list whose id is >= id (id itself without
 * a list): where a block of node ids starts in the list. */
static int64_t lower_bound(const gat__rows *rows, int64_t id)
{
    if (rows == NULL)
        return id;
    int64_t lo = 0, hi = rows->count;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (rows->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

gat_status gat__attention_backward(gat_context *ctx, const gat__layer *layer,
                                   const gat__attention_backward_args *args)
{
    const gat_layer_config *c = &layer->config;
    const gat__edge_views *v = args->views;
    const gat__rows *edge_rows = args->edge_rows, *proj_rows = args->proj_rows;
    const int64_t n = v->num_nodes, heads = c->heads, channels = c->channels,
                  hc = heads * channels, width = gat__layer_out_width(c);
    const float *dropped = args->dropped;
    const gat__backward_pass a = {
        .v = v, .sources = args->sources, .projected = args->projected,
        .features = dropped != NULL ? dropped : args->projected, .dropped = dropped,
        .proj_keep = dropped != NULL ? args->proj_keep : NULL, .proj_scale = args->proj_scale,
        .score_src = args->score_src, .score_dst = args->score_dst, .shift = args->shift,
        .inv_sum = args->inv_sum, .d_out = args->d_out, .att_src = layer->att_src,
        .att_dst = layer->att_dst, .keep = args->keep, .keep_scale = args->keep_scale,
        .slope = c->negative_slope, .dyc = args->dyc, .dot = args->dot,
        .d_score_dst = args->d_score_dst, .active = args->active, .width = width,
        .prefetch = gat__worth_prefetching(n, hc), .registers = !ctx->plain_kernels};
    float *partials = args->partials;
    const bool concat = c->concat, drop = args->keep != NULL;
    const int64_t blocks = num_blocks(n);
    const int64_t count = gat__row_count(proj_rows, n);
    const int64_t slots = proj_rows == NULL ? v->num_slots : v->num_slots / n * count;
    const int team = gat__team(ctx, (slots + count) * (2 * hc + 48 * heads));
    /* partials, per block: d_bias [W], d_att_src [H*C], d_att_dst [H*C]. */
    const int64_t pw = width + 2 * hc;
    const int64_t stride = (7 * heads + 2 * hc + 15) / 16 * 16;
    float *scratch = NULL;
    if (!gat__train_shape_fixed(heads, channels)) {
        gat_status status;
        scratch = gat__alloc_array(ctx, (int64_t)team * stride, sizeof *scratch,
                                   "attention backward scratch", &status);
        if (scratch == NULL)
            return status;
    }
    /* Rows pass A does not visit have no gradient (pass B reads active). */
    if (edge_rows != NULL)
        memset(args->active, 0, (size_t)n);

#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
    {
        const row_state mine =
            scratch != NULL ? generic_state(scratch + gat__thread_id() * stride, heads, hc)
                            : (row_state){0};
        /* Pass A: destination rows, by blocks of node ids (a list's rows
         * fall in the blocks they fall in over all rows, so the bias sums
         * take the same values in the same order). */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            float *part_bias = partials + b * pw;
            memset(part_bias, 0, (size_t)width * sizeof *part_bias);
            const int64_t first = lower_bound(edge_rows, b * GAT_REDUCE_BLOCK);
            const int64_t last = lower_bound(edge_rows, b * GAT_REDUCE_BLOCK + GAT_REDUCE_BLOCK < n
                                                            ? b * GAT_REDUCE_BLOCK + GAT_REDUCE_BLOCK
                                                            : n);
#define FIXED(H, C) backward_rows_##H##x##C(&a, edge_rows, first, last, part_bias, concat, drop)
#define GENERIC()                                                                            \
    backward_rows(&a, edge_rows, first, last, part_bias, &mine, heads, channels, concat, drop)
            if (heads == 8 && channels == 8 && concat && a.registers) /* the register kernel */
                gat__backward_rows_8x8(&a, edge_rows, first, last, part_bias, drop);
            else
                GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC);
#undef FIXED
#undef GENERIC
        }
        /* Pass B: source rows, over the transposed view (after every row's
         * dyc, dot and d_score_dst: the barrier of the loop above). */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            float *part_src = partials + b * pw + width;
            memset(part_src, 0, (size_t)(2 * hc) * sizeof *part_src);
            const int64_t first = lower_bound(proj_rows, b * GAT_REDUCE_BLOCK);
            const int64_t last = lower_bound(proj_rows, b * GAT_REDUCE_BLOCK + GAT_REDUCE_BLOCK < n
                                                            ? b * GAT_REDUCE_BLOCK + GAT_REDUCE_BLOCK
                                                            : n);
#define FIXED(H, C) gather_rows_##H##x##C(&a, proj_rows, first, last, part_src, drop)
#define GENERIC()                                                                            \
    gather_rows(&a, proj_rows, first, last, part_src, part_src + hc, &mine, heads, channels, \
                drop)
            if (heads == 8 && channels == 8 && a.registers) /* the register kernel */
                gat__gather_rows_8x8(&a, proj_rows, first, last, part_src, drop);
            else
                GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC);
#undef FIXED
#undef GENERIC
        }
    }
    /* Small (W + 2*H*C values, one row per block): serial. */
    if (args->d_bias != NULL && layer->bias != NULL)
        reduce_blocks(partials, blocks, pw, width, args->d_bias);
    reduce_blocks(partials + width, blocks, pw, hc, args->d_att_src);
    reduce_blocks(partials + width + hc, blocks, pw, hc, args->d_att_dst);
    gat__free_raw(&ctx->allocator, scratch);
    return GAT_OK;
}
