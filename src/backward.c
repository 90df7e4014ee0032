/*
 * The edge phase in training: aggregation with attention dropout (forward)
 * and the backward of scores -> LeakyReLU -> softmax -> dropout ->
 * aggregation, plus the activation's backward.
 *
 * The backward runs in two passes over the edges:
 *  A. by destination row (CSR, library order): the gradient of each
 *     coefficient, the softmax backward within the row, the LeakyReLU; it
 *     leaves the logit gradient of every edge in edge_grad [E', H] and the
 *     destination-score gradient of every row;
 *  B. by source (the transposed view): what each source row receives
 *     through the aggregation, and its source-score gradient, each summed
 *     over the source's edges in ascending library order.
 * Nothing is stored per edge and channel (E' x H x C); each pass writes
 * only rows it owns, so there are no atomics and the bits do not depend on
 * the thread count. Sums over nodes (d_bias, d_att_*) are taken per block
 * of GAT_REDUCE_BLOCK rows and the blocks added in order.
 *
 * As in attention.c, the row loops are instantiated for common (heads,
 * channels) shapes so the compiler sees constant trip counts.
 */
#include "parallel.h"
#include "train_kernels.h"

#include <string.h>

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* How many edges ahead rows are prefetched (as attention.c does): the
 * passes gather rows of random nodes, whose misses dominate on large
 * graphs. */
#define PREFETCH_DISTANCE 8

static ALWAYS_INLINE void prefetch_floats(const float *row, int64_t count)
{
#if defined(__GNUC__)
    for (int64_t off = 0; off < count; off += 16)
        __builtin_prefetch(row + off, 0, 3);
#else
    (void)row;
    (void)count;
#endif
}

/* Dispatches CALL(H, C) to an instantiation with constant shape when one
 * exists, else to the generic one with the runtime heads and channels. */
#define DISPATCH_SHAPE(heads, channels, CALL)                                  \
    do {                                                                       \
        const int64_t h_ = (heads), c_ = (channels);                           \
        if (h_ == 8 && c_ == 8)                                                \
            CALL(8, 8);                                                        \
        else if (h_ == 8 && c_ == 16)                                          \
            CALL(8, 16);                                                       \
        else if (h_ == 4 && c_ == 16)                                          \
            CALL(4, 16);                                                       \
        else if (h_ == 1 && c_ == 8)                                           \
            CALL(1, 8);                                                        \
        else if (h_ == 1 && c_ == 16)                                          \
            CALL(1, 16);                                                       \
        else if (h_ == 1)                                                      \
            CALL(1, c_);                                                       \
        else if (h_ == 8)                                                      \
            CALL(8, c_);                                                       \
        else                                                                   \
            CALL(h_, c_);                                                      \
    } while (0)

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

/* ---------------------------------------------------------------------- */
/* Forward: aggregation with attention dropout                            */
/* ---------------------------------------------------------------------- */

typedef struct aggregate_pass {
    const gat_graph *g;
    const int64_t *loops_before;
    const float *projected, *alpha, *bias;
    const uint8_t *keep;
    float keep_scale;
    float *out;
    int64_t width;
    bool concat, add_loops;
} aggregate_pass;

static ALWAYS_INLINE void aggregate_rows(const aggregate_pass *a, int64_t first, int64_t last,
                                         const int64_t heads, const int64_t channels)
{
    const int64_t hc = heads * channels, width = a->width;
    const float scale = a->keep_scale;
    /* Prefetches run across row ends (rows average a handful of edges). */
    const int64_t prefetch_end = a->g->row_ptr[last];
    for (int64_t i = first; i < last; i++) {
        float *restrict o = a->out + i * width;
        for (int64_t k = 0; k < width; k++)
            o[k] = 0.0f;
        int64_t p = gat__attention_row_offset(a->g, a->add_loops, a->loops_before, i);
        /* concat: out[i,h,c] = sum_j a_ij,h x_j,h,c; mean: also summed over
         * heads, divided by H below. */
        GAT__FOR_ROW_SOURCES(a->g, a->add_loops, i, j, {
            if (k_ + PREFETCH_DISTANCE < prefetch_end)
                prefetch_floats(a->projected + (int64_t)a->g->col[k_ + PREFETCH_DISTANCE] * hc, hc);
            const float *restrict x = a->projected + j * hc;
            const float *restrict al = a->alpha + p * heads;
            const uint8_t *restrict kp = a->keep + p * heads;
            for (int64_t h = 0; h < heads; h++) {
                /* keep is 0 or 1: a product, not a branch (masks are random). */
                const float w = al[h] * ((float)kp[h] * scale);
                float *restrict dst = a->concat ? o + h * channels : o;
                for (int64_t ch = 0; ch < channels; ch++)
                    dst[ch] += w * x[h * channels + ch];
            }
            p++;
        });
        if (!a->concat)
            for (int64_t ch = 0; ch < channels; ch++)
                o[ch] /= (float)heads;
        if (a->bias != NULL)
            for (int64_t k = 0; k < width; k++)
                o[k] += a->bias[k];
    }
}

gat_status gat__attention_dropout_aggregate(gat_context *ctx, const gat__layer *layer,
                                            const gat_graph *g, const int64_t *loops_before,
                                            const float *projected, const float *alpha,
                                            const gat__dropout *d, uint8_t *keep, float *out)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels;
    const int64_t values = gat_graph_num_attention_edges(g, c->add_self_loops) * heads;
    const aggregate_pass a = {g, loops_before, projected, alpha, layer->bias, keep, d->scale,
                              out, gat__layer_out_width(c), c->concat, c->add_self_loops};
    const int64_t blocks = num_blocks(g->num_nodes);
    const int64_t mask_chunks = (values + 65535) / 65536; /* multiples of 4 elements */
#ifdef _OPENMP
#pragma omp parallel num_threads(ctx->num_threads)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t k = 0; k < mask_chunks; k++) {
            const int64_t first = k * 65536;
            gat__dropout_mask(d, (uint64_t)first, values - first < 65536 ? values - first : 65536,
                              keep + first);
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t first = b * GAT_REDUCE_BLOCK;
            const int64_t last = first + GAT_REDUCE_BLOCK < g->num_nodes ? first + GAT_REDUCE_BLOCK
                                                                         : g->num_nodes;
#define AGGREGATE(H, C) aggregate_rows(&a, first, last, (H), (C))
            DISPATCH_SHAPE(heads, channels, AGGREGATE);
#undef AGGREGATE
        }
    }
    return GAT_OK;
}

/* ---------------------------------------------------------------------- */
/* Backward                                                               */
/* ---------------------------------------------------------------------- */

typedef struct backward_pass {
    const gat_graph *g;
    const int64_t *loops_before;
    const gat__transpose *t;
    const float *projected, *score_src, *score_dst, *alpha, *d_out, *att_src, *att_dst;
    const uint8_t *keep; /* NULL: no attention dropout */
    float keep_scale, slope;
    float *d_projected, *edge_grad, *d_score_src, *d_score_dst;
    int64_t width;
    bool add_loops;
} backward_pass;

/* Pass A over rows [first, last): edge_grad, d_score_dst, and the block's
 * d_bias partial. concat and drop are constants at the instantiations. */
static ALWAYS_INLINE void backward_rows(const backward_pass *a, int64_t first, int64_t last,
                                        float *restrict part_bias, float *restrict dot,
                                        const int64_t heads, const int64_t channels,
                                        const bool concat, const bool drop)
{
    const int64_t hc = heads * channels, width = a->width, hs = concat ? channels : 0;
    const float head_scale = concat ? 1.0f : 1.0f / (float)heads;
    const float keep_scale = a->keep_scale, slope = a->slope;
    const float *restrict alpha = a->alpha;
    const float *restrict projected = a->projected;
    const float *restrict score_src = a->score_src;
    const uint8_t *restrict keep = a->keep;
    float *restrict edge_grad = a->edge_grad;
    const gat_graph *g = a->g;
    const bool add_loops = a->add_loops;
    const int64_t prefetch_end = g->row_ptr[last];
    for (int64_t i = first; i < last; i++) {
        const float *restrict dy = a->d_out + i * width;
        for (int64_t k = 0; k < width; k++) /* out = agg + bias */
            part_bias[k] += dy[k];
        const int64_t first_slot = gat__attention_row_offset(g, add_loops, a->loops_before, i);
        for (int64_t h = 0; h < heads; h++)
            dot[h] = 0.0f;
        /* agg[i] = sum_j a_ij x_j with a = alpha * drop:
         *   d a_ij,h = <d agg[i,h,:], x_j,h,:>, d alpha = d a * drop;
         * d agg[i,h,c] = d_out[i, h*C + c] (concat) or d_out[i, c] / H (mean). */
        int64_t p = first_slot;
        GAT__FOR_ROW_SOURCES(g, add_loops, i, j, {
            if (k_ + PREFETCH_DISTANCE < prefetch_end) {
                const int64_t ahead = g->col[k_ + PREFETCH_DISTANCE];
                prefetch_floats(projected + ahead * hc, hc);
                prefetch_floats(score_src + ahead * heads, heads);
            }
            const float *restrict x = projected + j * hc;
            float *restrict eg = edge_grad + p * heads;
            const float *restrict al = alpha + p * heads;
            for (int64_t h = 0; h < heads; h++) {
                float s = 0.0f;
                for (int64_t ch = 0; ch < channels; ch++)
                    s += dy[h * hs + ch] * x[h * channels + ch];
                s *= head_scale;
                if (drop)
                    s *= (float)keep[p * heads + h] * keep_scale;
                eg[h] = s;
                dot[h] += al[h] * s;
            }
            p++;
        });
        /* alpha = softmax(e) over the row:
         *   d e_ij = alpha_ij (d alpha_ij - sum_k alpha_ik d alpha_ik);
         * e = LeakyReLU(z), z = s_src[j] + s_dst[i]: d z = d e * (z > 0 ? 1 : slope). */
        float *restrict dsd = a->d_score_dst + i * heads;
        const float *restrict sd = a->score_dst + i * heads;
        for (int64_t h = 0; h < heads; h++)
            dsd[h] = 0.0f;
        p = first_slot;
        GAT__FOR_ROW_SOURCES(g, add_loops, i, j, {
            const float *restrict ss = score_src + j * heads;
            float *restrict eg = edge_grad + p * heads;
            const float *restrict al = alpha + p * heads;
            for (int64_t h = 0; h < heads; h++) {
                float de = al[h] * (eg[h] - dot[h]);
                float dz = ss[h] + sd[h] > 0.0f ? de : de * slope;
                eg[h] = dz;
                dsd[h] += dz;
            }
            p++;
        });
    }
}

/* Pass B over source rows [first, last): d_projected, d_score_src, and the
 * block's d_att_src / d_att_dst partials. */
static ALWAYS_INLINE void gather_rows(const backward_pass *a, int64_t first, int64_t last,
                                      float *restrict part_src, float *restrict part_dst,
                                      float *restrict w, const int64_t heads,
                                      const int64_t channels, const bool concat,
                                      const bool drop)
{
    const int64_t hc = heads * channels, width = a->width, hs = concat ? channels : 0;
    const float head_scale = concat ? 1.0f : 1.0f / (float)heads;
    const float keep_scale = a->keep_scale;
    const gat__transpose *t = a->t;
    const int64_t *restrict slots = t->slot;
    const int32_t *restrict dsts = t->dst;
    const float *restrict alpha = a->alpha;
    const float *restrict edge_grad = a->edge_grad;
    const float *restrict d_out = a->d_out;
    const uint8_t *restrict keep = a->keep;
    const float *restrict att_src = a->att_src, *restrict att_dst = a->att_dst;
    /* Prefetches run across source ends (most sources have few edges). */
    const int64_t prefetch_end = t->ptr[last];
    for (int64_t j = first; j < last; j++) {
        float *restrict dx = a->d_projected + j * hc;
        float *restrict dss = a->d_score_src + j * heads;
        for (int64_t k = 0; k < hc; k++)
            dx[k] = 0.0f;
        for (int64_t h = 0; h < heads; h++)
            dss[h] = 0.0f;
        /* agg[i] = sum_j a_ij x_j:  d x_j += a_ij d agg[i];
         * z_ij = s_src[j] + s_dst[i]:  d s_src[j] += d z_ij. */
        const int64_t end = t->ptr[j + 1];
        for (int64_t q = t->ptr[j]; q < end; q++) {
            if (q + PREFETCH_DISTANCE < prefetch_end) {
                const int64_t ahead = slots[q + PREFETCH_DISTANCE];
                prefetch_floats(d_out + (int64_t)dsts[q + PREFETCH_DISTANCE] * width, width);
                prefetch_floats(alpha + ahead * heads, heads);
                prefetch_floats(edge_grad + ahead * heads, heads);
            }
            const int64_t p = slots[q];
            const float *restrict dy = d_out + (int64_t)dsts[q] * width;
            const float *restrict al = alpha + p * heads;
            const float *restrict eg = edge_grad + p * heads;
            for (int64_t h = 0; h < heads; h++) {
                w[h] = al[h] * head_scale;
                if (drop)
                    w[h] *= (float)keep[p * heads + h] * keep_scale;
                dss[h] += eg[h];
            }
            for (int64_t h = 0; h < heads; h++)
                for (int64_t ch = 0; ch < channels; ch++)
                    dx[h * channels + ch] += w[h] * dy[h * hs + ch];
        }
        /* s_src[j,h] = <x_j,h,:, att_src[h,:]>, s_dst likewise:
         *   d x_j,h,: += d s_src[j,h] att_src[h,:] + d s_dst[j,h] att_dst[h,:]
         *   d att_src[h,:] += d s_src[j,h] x_j,h,:, d att_dst likewise. */
        const float *restrict x = a->projected + j * hc;
        const float *restrict dsd = a->d_score_dst + j * heads;
        for (int64_t h = 0; h < heads; h++)
            for (int64_t ch = 0; ch < channels; ch++) {
                const int64_t o = h * channels + ch;
                dx[o] += dss[h] * att_src[o] + dsd[h] * att_dst[o];
                part_src[o] += dss[h] * x[o];
                part_dst[o] += dsd[h] * x[o];
            }
    }
}

/* Instantiations: the paper's shapes (8 x 8 concatenated, one averaged
 * output head), each with and without dropout; anything else generic. */
#define DISPATCH_BACKWARD(heads, channels, concat, drop, CALL)                  \
    do {                                                                        \
        if ((heads) == 8 && (channels) == 8 && (concat)) {                      \
            if (drop)                                                           \
                CALL(8, 8, true, true);                                         \
            else                                                                \
                CALL(8, 8, true, false);                                        \
        } else if ((heads) == 1) {                                              \
            if (drop)                                                           \
                CALL(1, (channels), (concat), true);                            \
            else                                                                \
                CALL(1, (channels), (concat), false);                           \
        } else {                                                                \
            CALL((heads), (channels), (concat), (drop));                        \
        }                                                                       \
    } while (0)

int64_t gat__attention_backward_scratch(const gat_layer_config *c, int64_t num_nodes)
{
    return num_blocks(num_nodes) * (gat__layer_out_width(c) + 2 * c->heads * c->channels);
}

gat_status gat__attention_backward(gat_context *ctx, const gat__layer *layer,
                                   const gat_graph *g, const int64_t *loops_before,
                                   const gat__transpose *t, const float *projected,
                                   const float *score_src, const float *score_dst,
                                   const float *alpha, const uint8_t *keep, float keep_scale,
                                   const float *d_out, float *d_projected, float *d_att_src,
                                   float *d_att_dst, float *d_bias, float *edge_grad,
                                   float *d_score_src, float *d_score_dst, float *partials)
{
    const gat_layer_config *c = &layer->config;
    const int64_t n = g->num_nodes, heads = c->heads, channels = c->channels,
                  hc = heads * channels, width = gat__layer_out_width(c);
    const backward_pass a = {
        .g = g, .loops_before = loops_before, .t = t, .projected = projected,
        .score_src = score_src, .score_dst = score_dst, .alpha = alpha, .d_out = d_out,
        .att_src = layer->att_src, .att_dst = layer->att_dst, .keep = keep,
        .keep_scale = keep_scale, .slope = c->negative_slope, .d_projected = d_projected,
        .edge_grad = edge_grad, .d_score_src = d_score_src, .d_score_dst = d_score_dst,
        .width = width, .add_loops = c->add_self_loops};
    const bool concat = c->concat, drop = keep != NULL;
    const int64_t blocks = num_blocks(n);
    const int threads = ctx->num_threads;
    /* partials, per block: d_bias [W], d_att_src [H*C], d_att_dst [H*C]. */
    const int64_t pw = width + 2 * hc;
    /* Per-thread [H] scratch (row dot products, edge weights), whole cache
     * lines each; allocated per call since the thread count may change. */
    const int64_t stride = (heads + 15) / 16 * 16;
    gat_status status;
    float *scratch = gat__alloc_array(ctx, (int64_t)threads * stride, sizeof *scratch,
                                      "attention backward scratch", &status);
    if (scratch == NULL)
        return status;

#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float *mine = scratch + gat__thread_id() * stride;
        /* Pass A: destination rows. */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            float *part_bias = partials + b * pw;
            memset(part_bias, 0, (size_t)width * sizeof *part_bias);
            const int64_t first = b * GAT_REDUCE_BLOCK;
            const int64_t last = first + GAT_REDUCE_BLOCK < n ? first + GAT_REDUCE_BLOCK : n;
#define ROWS(H, C, CONCAT, DROP)                                                           \
    backward_rows(&a, first, last, part_bias, mine, H, C, CONCAT, DROP)
            DISPATCH_BACKWARD(heads, channels, concat, drop, ROWS);
#undef ROWS
        }
        /* Pass B: source rows, over the transposed view (after every row's
         * edge_grad and d_score_dst: the barrier of the loop above). */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            float *part_src = partials + b * pw + width;
            memset(part_src, 0, (size_t)(2 * hc) * sizeof *part_src);
            const int64_t first = b * GAT_REDUCE_BLOCK;
            const int64_t last = first + GAT_REDUCE_BLOCK < n ? first + GAT_REDUCE_BLOCK : n;
#define GATHER(H, C, CONCAT, DROP)                                                         \
    gather_rows(&a, first, last, part_src, part_src + hc, mine, H, C, CONCAT, DROP)
            DISPATCH_BACKWARD(heads, channels, concat, drop, GATHER);
#undef GATHER
        }
    }
    /* Small (W + 2*H*C values, one row per block): serial. */
    if (d_bias != NULL && layer->bias != NULL)
        reduce_blocks(partials, blocks, pw, width, d_bias);
    reduce_blocks(partials + width, blocks, pw, hc, d_att_src);
    reduce_blocks(partials + width + hc, blocks, pw, hc, d_att_dst);
    gat__free_raw(&ctx->allocator, scratch);
    return GAT_OK;
}

/* expm1(x) for x <= 0 without libm's scalar call, so the loop vectorizes:
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), then
 *   expm1(x) = 2^n expm1(r) + (2^n - 1),
 * expm1(r) by its Taylor series to r^8 (truncation 0.35^9 / 9! < 1e-9
 * relative). Both terms are exact or one rounding each, so the result is
 * within a few ulp of expm1 everywhere, including near 0 where exp(x) - 1
 * would cancel. x below -88 gives -1 (2^n underflows to 0). The rounding
 * to n uses the 1.5 * 2^23 trick, which needs the default rounding mode
 * and no -ffast-math (the build uses neither). */
static inline float expm1_nonpositive(float x)
{
    const float round_magic = 12582912.0f;
    x = x < -88.0f ? -88.0f : x;
    const float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    const float em = p * r;
    const int32_t bits = ((int32_t)n + 127) << 23; /* 2^n; 0 for n = -127 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return scale * em + (scale - 1.0f);
}

void gat__activation_train_forward(gat_context *ctx, gat_activation activation, float *values,
                                   int64_t n)
{
    if (activation == GAT_ACT_NONE)
        return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static) if (n > 65536)
#endif
    for (int64_t k = 0; k < n; k++) {
        float v = values[k];
        if (activation == GAT_ACT_ELU)
            values[k] = v > 0.0f ? v : expm1_nonpositive(v);
        else
            values[k] = v > 0.0f ? v : 0.0f;
    }
}

void gat__activation_backward(gat_context *ctx, gat_activation activation, const float *post,
                              float *grad, int64_t n)
{
    if (activation == GAT_ACT_NONE)
        return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static) if (n > 65536)
#endif
    for (int64_t k = 0; k < n; k++) {
        /* ELU: post = pre for pre > 0, else expm1(pre), so d post / d pre = post + 1. */
        float v = post[k];
        if (activation == GAT_ACT_ELU)
            grad[k] = v > 0.0f ? grad[k] : grad[k] * (v + 1.0f);
        else
            grad[k] = v > 0.0f ? grad[k] : 0.0f;
    }
}
