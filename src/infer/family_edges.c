/*
 * The edge pass of the GAT family's layers (family.h): per destination row,
 * the row's logits into a per-thread buffer of (degree + 1) x H floats, the
 * softmax, and the weighted sum of the sources' rows, then the head mean,
 * residual and bias. GATv2's score needs the H x C LeakyReLU of every edge:
 * it is made and consumed edge by edge in a buffer of H*C floats, never
 * stored for the graph.
 */
#include "family.h"
#include "fast_exp.h"
#include "internal.h"
#include "parallel.h"
#include "simd.h"

#include <math.h>
#include <string.h>

/* Per-thread scratch: logits [(max degree + 1) * H, or whole registers],
 * acc [H*C], z [H*C], the row's sources and attribute rows [max degree +
 * 1], its self-loop's attribute [D] (loop) and its sums in double. */
typedef struct row_scratch {
    float *logit, *acc, *z, *loop;
    int64_t *j;
    const float **attr;
    double *loop_sums;
} row_scratch;

static inline float leaky(float v, float slope) { return v > 0.0f ? v : v * slope; }

/* The logits of edge j -> i with attributes attr (NULL: none) into e [H]. */
static void edge_logits(const gat__family_edges_args *a, int64_t j, int64_t i,
                        const float *attr, float *z, float *e)
{
    const gat__layer *layer = a->layer;
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels,
                  d = c->edge_dim;
    const float slope = c->negative_slope;
    if (c->type == GAT_LAYER_GAT) {
        /* The source's score from its row, which the aggregation reads
         * next anyway (one random row per edge, not a row and a score). */
        const float *restrict xj = a->h_src + j * hc;
        for (int64_t h = 0; h < heads; h++) {
            float v = 0.0f;
            for (int64_t ch = 0; ch < channels; ch++)
                v += xj[h * channels + ch] * layer->att_src[h * channels + ch];
            e[h] = v + a->s_dst[i * heads + h];
        }
        /* The edge term attr . M^T, feature by feature over the heads
         * (edge_t is M^T [D, H]: contiguous in h, so the loop vectorizes). */
        if (attr != NULL) {
            float *restrict t = z;
            for (int64_t h = 0; h < heads; h++)
                t[h] = 0.0f;
            for (int64_t f = 0; f < d; f++)
                for (int64_t h = 0; h < heads; h++)
                    t[h] += attr[f] * a->edge_t[f * heads + h];
            for (int64_t h = 0; h < heads; h++)
                e[h] += t[h];
        }
        for (int64_t h = 0; h < heads; h++)
            e[h] = leaky(e[h], slope);
        return;
    }
    const float *restrict xl = a->h_src + j * hc, *restrict xr = a->h_dst + i * hc;
    float *restrict zz = z;
    for (int64_t o = 0; o < hc; o++)
        zz[o] = xl[o] + xr[o];
    /* attr . W_edge^T in registers: edge_t is W_edge^T [D, H*C], so each
     * feature adds one contiguous row. */
    if (attr != NULL)
        for (int64_t f = 0; f < d; f++) {
            const float *restrict w = a->edge_t + f * hc;
            const float v = attr[f];
            for (int64_t o = 0; o < hc; o++)
                zz[o] += v * w[o];
        }
    for (int64_t h = 0; h < heads; h++) {
        float v = 0.0f;
        for (int64_t ch = 0; ch < channels; ch++)
            v += layer->att[h * channels + ch] * leaky(z[h * channels + ch], slope);
        e[h] = v;
    }
}

/* CSR edges ahead whose source rows and attribute rows are prefetched
 * when a row's edges are collected, across row ends (rows average a
 * handful of edges): the pass is bound by the latency of gathering one
 * random source row (H*C floats) and attribute row (D floats) per edge. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 16
#endif

static inline void prefetch_row(const float *row, int64_t floats)
{
    for (int64_t o = 0; o < floats; o += 16)
        __builtin_prefetch(row + o);
}

/* The row's edges in library order: sources into j, attributes (NULL
 * without edge features) into attr, each edge's row of the input-order
 * attributes; returns their count. The added self-loop's attribute is made
 * here from the row's other attribute rows (gat__loop_attribute's
 * arithmetic, in the same order), which the logits then find in cache: the
 * pass reads each attribute row once. */
static int64_t row_edges(const gat__family_edges_args *a, int64_t i, const row_scratch *s)
{
    const gat_graph *g = a->graph;
    const gat_layer_config *c = &a->layer->config;
    const bool add = c->add_self_loops;
    const int64_t d = c->edge_dim;
    const int64_t hc = c->heads * c->channels, end = g->row_ptr[i + 1];
    int64_t count = 0;
    for (int64_t k = g->row_ptr[i]; k < end; k++) {
        if (k + PREFETCH_AHEAD < g->num_edges) {
            const int64_t ahead = k + PREFETCH_AHEAD;
            prefetch_row(a->h_src + (int64_t)g->col[ahead] * hc, hc);
            if (a->edge_attr != NULL)
                prefetch_row(a->edge_attr + gat__graph_edge_position(g, ahead) * d, d);
        }
        if (add && g->col[k] == i)
            continue;
        s->j[count] = g->col[k];
        s->attr[count++] = a->edge_attr != NULL
                               ? a->edge_attr + gat__graph_edge_position(g, k) * d
                               : NULL;
    }
    if (add && i < gat__graph_added_loops(g)) {
        if (a->edge_attr != NULL) {
            gat__loop_fill_start(c->fill_value, c->fill_constant, d, s->loop_sums);
            if (c->fill_value != GAT_FILL_CONSTANT) {
                for (int64_t k = 0; k < count; k++)
                    gat__loop_fill_add(c->fill_value, k, s->attr[k], d, s->loop_sums);
                gat__loop_fill_end(c->fill_value, count, d, s->loop_sums);
            }
            for (int64_t f = 0; f < d; f++)
                s->loop[f] = (float)s->loop_sums[f];
        }
        s->j[count] = i;
        s->attr[count++] = a->edge_attr != NULL ? s->loop : NULL;
    }
    return count;
}

/* Output row i from acc [H*C] (the row's alpha-weighted sum): concatenated
 * or averaged over the heads, plus the residual and the bias. */
static void out_row(const gat__family_edges_args *a, const float *acc, int64_t i)
{
    const gat_layer_config *c = &a->layer->config;
    const int64_t heads = c->heads, channels = c->channels, width = gat__layer_out_width(c);
    float *out = a->out + i * width;
    for (int64_t o = 0; o < width; o++) {
        float v = gat__family_head_value(acc, heads, channels, c->concat, o);
        if (a->res != NULL)
            v += a->res[i * width + o];
        if (a->layer->bias != NULL)
            v += a->layer->bias[o];
        out[o] = v;
    }
}

static void edge_row(const gat__family_edges_args *a, int64_t i, const row_scratch *s)
{
    const gat_layer_config *c = &a->layer->config;
    const gat_graph *g = a->graph;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels;
    const int64_t count = row_edges(a, i, s);
    /* The logits read the source rows (the aggregation then finds them
     * cached). */
    for (int64_t k = 0; k < count; k++)
        edge_logits(a, s->j[k], i, s->attr[k], s->z, s->logit + k * heads);
    memset(s->acc, 0, (size_t)hc * sizeof(float));
    if (count > 0) {
        /* max, exp and sum per head; the logits become alpha in place. */
        for (int64_t h = 0; h < heads; h++) {
            float top = -INFINITY, sum = 0.0f;
            for (int64_t k = 0; k < count; k++)
                top = s->logit[k * heads + h] > top ? s->logit[k * heads + h] : top;
            for (int64_t k = 0; k < count; k++) {
                const float p = expf(s->logit[k * heads + h] - top);
                s->logit[k * heads + h] = p;
                sum += p;
            }
            for (int64_t k = 0; k < count; k++)
                s->logit[k * heads + h] /= sum;
        }
        for (int64_t k = 0; k < count; k++) {
            const float *alpha = s->logit + k * heads, *xj = a->h_src + s->j[k] * hc;
            for (int64_t h = 0; h < heads; h++)
                for (int64_t ch = 0; ch < channels; ch++)
                    s->acc[h * channels + ch] += alpha[h] * xj[h * channels + ch];
        }
        if (a->attention != NULL) {
            const int64_t at = gat__attention_row_offset(g, c->add_self_loops, a->loops_before, i);
            memcpy(a->attention + at * heads, s->logit, (size_t)(count * heads) * sizeof(float));
        }
    }
    out_row(a, s->acc, i);
}

/* ---- The register path: the shapes of whole registers -------------------
 *
 * Rows of H <= 16 heads of C = 8 channels (H * 8 a multiple of the
 * register) or C a power-of-two multiple of the register, H * C <= 256,
 * written over the vector vocabulary (simd.h) as the plain GATConv kernel
 * is: an edge's logits are one per-head vector (head h in lane h % W of
 * register h / W), its softmax weight one polynomial over all heads, its
 * aggregation one fused multiply-add per source-row register. The edge
 * terms are made here from the attribute row, read through the edge's input
 * position (no CSR-order copy of the attributes, nothing per edge stored):
 * GATConv's attr . edge_t [D, H] is D multiply-adds of a per-head vector,
 * GATv2's attr . W_edge^T [D, H*C] D of each row register. Same arithmetic
 * in the same order for a row whichever thread runs it. */
enum {
    W = GAT_V_LANES,
    HV = (16 + W - 1) / W, /* registers of a per-head vector of <= 16 heads */
    MAX_ROW = 256 / W,     /* registers of a row of H * C <= 256 */
};

static bool register_shape(int64_t heads, int64_t channels)
{
    if (heads < 1 || heads > 16 || channels < 1 || heads * channels > 256)
        return false;
    if (channels == 8)
        return heads * 8 % W == 0;
    const int64_t q = channels / W;
    return channels % W == 0 && (q & (q - 1)) == 0;
}

/* Each head's sum of the head-major products v [H*C / W registers] into
 * the per-head vector out (v is overwritten): a head's registers added by
 * halves, then its lanes folded (gat_v_fold_groups). */
static GAT_ALWAYS_INLINE void head_sums(gat_v *v, const int64_t heads, const int64_t channels,
                                        gat_v *out)
{
    int count = (int)heads, width = W;
    if (channels == 8 && W >= 8) {
        count = (int)(heads * 8 / W);
        width = 8;
    } else {
        const int64_t q = channels / W;
        for (int64_t h = 0; h < heads; h++) {
            for (int64_t n = q / 2; n >= 1; n /= 2)
                for (int64_t r = 0; r < n; r++)
                    v[h * q + r] = v[h * q + r] + v[h * q + r + n];
            v[h] = v[h * q];
        }
    }
    gat_v_fold_groups(v, count, width);
    for (int64_t b = 0; b * W < heads; b++)
        out[b] = v[b];
}

/* acc += each head's weight in p times the head-major row x. */
static GAT_ALWAYS_INLINE void accumulate(gat_v *acc, const gat_v *p, const float *restrict x,
                                         const int64_t heads, const int64_t channels)
{
    if (channels == 8) {
        for (int64_t u = 0; u < heads * 8 / W; u++)
            acc[u] = gat_v_fma(gat_v_spread_heads8(p, (int)u), gat_v_load(x + W * u), acc[u]);
        return;
    }
    const int64_t q = channels / W;
    for (int64_t h = 0; h < heads; h++) {
        const gat_v w = gat_v_lane(p, (int)h);
        for (int64_t r = 0; r < q; r++)
            acc[h * q + r] = gat_v_fma(w, gat_v_load(x + W * (h * q + r)), acc[h * q + r]);
    }
}

/* Head h's value of the per-head vector p over the lanes of row register u. */
static GAT_ALWAYS_INLINE gat_v head_weights(const gat_v *p, int64_t u, const int64_t channels)
{
    if (channels == 8)
        return gat_v_spread_heads8(p, (int)u);
    return gat_v_lane(p, (int)(u * W / channels));
}

static GAT_ALWAYS_INLINE int lanes_of(int64_t heads, int64_t b)
{
    return heads - b * W < W ? (int)(heads - b * W) : W;
}

/* The logits e (per-head vector) of edge j -> i with attribute row attr
 * (NULL: none). dst: GATConv's s_dst[i] per-head vector, or GATv2's
 * h_dst[i] row registers. */
static GAT_ALWAYS_INLINE void edge_logits_v(const gat__family_edges_args *a, int64_t j,
                                            const float *restrict attr, const gat_v *dst,
                                            gat_v *e, const int64_t heads, const int64_t channels,
                                            const bool v2)
{
    const gat_layer_config *c = &a->layer->config;
    const int64_t d = c->edge_dim, hc = heads * channels;
    const gat_v slope = gat_v_splat(c->negative_slope);
    const float *restrict xj = a->h_src + j * hc;
    gat_v z[MAX_ROW];
    if (!v2) {
        /* The source's score from its row, which the aggregation reads
         * next anyway. */
        for (int64_t r = 0; r < hc / W; r++)
            z[r] = gat_v_load(xj + W * r) * gat_v_load(a->layer->att_src + W * r);
        head_sums(z, heads, channels, e);
        for (int64_t b = 0; b * W < heads; b++) {
            e[b] = e[b] + dst[b];
            if (attr != NULL) {
                gat_v t = gat_v_zero();
                for (int64_t f = 0; f < d; f++)
                    t = gat_v_fma(gat_v_splat(attr[f]),
                                  gat_v_load_first(a->edge_t + f * heads + b * W,
                                                   lanes_of(heads, b)),
                                  t);
                e[b] = e[b] + t;
            }
            e[b] = gat_v_leaky_relu(e[b], slope);
        }
        return;
    }
    for (int64_t r = 0; r < hc / W; r++)
        z[r] = gat_v_load(xj + W * r) + dst[r];
    if (attr != NULL)
        for (int64_t f = 0; f < d; f++) {
            const gat_v v = gat_v_splat(attr[f]);
            const float *restrict w = a->edge_t + f * hc;
            for (int64_t r = 0; r < hc / W; r++)
                z[r] = gat_v_fma(v, gat_v_load(w + W * r), z[r]);
        }
    for (int64_t r = 0; r < hc / W; r++)
        z[r] = gat_v_load(a->layer->att + W * r) * gat_v_leaky_relu(z[r], slope);
    head_sums(z, heads, channels, e);
}

/* Row i by the register path, heads and channels constant at the call
 * site. s->logit holds the row's logits, then their exp, S floats an edge. */
static GAT_ALWAYS_INLINE void vector_row(const gat__family_edges_args *a, int64_t i,
                                         const row_scratch *s, const int64_t heads,
                                         const int64_t channels, const bool v2)
{
    const gat__layer *layer = a->layer;
    const gat_layer_config *c = &layer->config;
    const gat_graph *g = a->graph;
    const int64_t hc = heads * channels, regs = hc / W, S = HV * W,
                  width = gat__layer_out_width(c);
    const int64_t count = row_edges(a, i, s);
    gat_v dst[MAX_ROW > HV ? MAX_ROW : HV];
    if (v2) {
        for (int64_t r = 0; r < regs; r++)
            dst[r] = gat_v_load(a->h_dst + i * hc + W * r);
    } else {
        for (int64_t b = 0; b * W < heads; b++)
            dst[b] = gat_v_load_first(a->s_dst + i * heads + b * W, lanes_of(heads, b));
    }
    gat_v max[HV];
    for (int64_t b = 0; b * W < heads; b++)
        max[b] = gat_v_splat(-INFINITY);
    for (int64_t k = 0; k < count; k++) {
        gat_v e[HV];
        edge_logits_v(a, s->j[k], s->attr[k], dst, e, heads, channels, v2);
        for (int64_t b = 0; b * W < heads; b++) {
            gat_v_store(s->logit + k * S + b * W, e[b]);
            max[b] = gat_v_max(e[b], max[b]);
        }
    }
    gat_v acc[MAX_ROW], sum[HV];
    for (int64_t r = 0; r < regs; r++)
        acc[r] = gat_v_zero();
    for (int64_t b = 0; b * W < heads; b++)
        sum[b] = gat_v_zero();
    for (int64_t k = 0; k < count; k++) {
        gat_v p[HV];
        for (int64_t b = 0; b * W < heads; b++) {
            p[b] = gat_v_exp_nonpositive(gat_v_load(s->logit + k * S + b * W) - max[b]);
            sum[b] = sum[b] + p[b];
            gat_v_store(s->logit + k * S + b * W, p[b]);
        }
        accumulate(acc, p, a->h_src + s->j[k] * hc, heads, channels);
    }
    /* 1 / sum, 0 for an empty row. */
    gat_v inv[HV];
    for (int64_t b = 0; b * W < heads; b++)
        inv[b] = gat_v_select(gat_v_gt(sum[b], gat_v_zero()), gat_v_splat(1.0f) / sum[b],
                              gat_v_zero());
    if (a->attention != NULL && count > 0) {
        const int64_t at = gat__attention_row_offset(g, c->add_self_loops, a->loops_before, i);
        for (int64_t k = 0; k < count; k++)
            for (int64_t b = 0; b * W < heads; b++)
                gat_v_store_first(a->attention + (at + k) * heads + b * W,
                                  gat_v_load(s->logit + k * S + b * W) * inv[b],
                                  lanes_of(heads, b));
    }
    float *out = a->out + i * width;
    if (c->concat) {
        for (int64_t r = 0; r < regs; r++) {
            gat_v o = acc[r] * head_weights(inv, r, channels);
            if (a->res != NULL)
                o = o + gat_v_load(a->res + i * width + W * r);
            if (layer->bias != NULL)
                o = o + gat_v_load(layer->bias + W * r);
            gat_v_store(out + W * r, o);
        }
        return;
    }
    for (int64_t r = 0; r < regs; r++)
        gat_v_store(s->acc + W * r, acc[r] * head_weights(inv, r, channels));
    out_row(a, s->acc, i);
}

/* Rows [first, last): the register path for its shapes (8 x 8 with
 * constants), the plain loops for the rest. */
static void edge_rows(const gat__family_edges_args *a, int64_t first, int64_t last,
                      const row_scratch *s)
{
    const gat_layer_config *c = &a->layer->config;
    const int64_t h = c->heads, ch = c->channels;
    const bool v2 = c->type == GAT_LAYER_GATV2;
    if (!register_shape(h, ch)) {
        for (int64_t i = first; i < last; i++)
            edge_row(a, i, s);
    } else if (h == 8 && ch == 8) {
        if (v2)
            for (int64_t i = first; i < last; i++)
                vector_row(a, i, s, 8, 8, true);
        else
            for (int64_t i = first; i < last; i++)
                vector_row(a, i, s, 8, 8, false);
    } else if (v2) {
        for (int64_t i = first; i < last; i++)
            vector_row(a, i, s, h, ch, true);
    } else {
        for (int64_t i = first; i < last; i++)
            vector_row(a, i, s, h, ch, false);
    }
}

gat_status gat__family_edges(gat_context *ctx, const gat__family_edges_args *a)
{
    return gat__family_edges_rows(ctx, a, 0, a->graph->num_nodes);
}

gat_status gat__family_edges_rows(gat_context *ctx, const gat__family_edges_args *a,
                                  int64_t first_row, int64_t last_row)
{
    const gat_layer_config *c = &a->layer->config;
    const gat_graph *g = a->graph;
    const int64_t heads = c->heads, hc = heads * c->channels;
    /* A row's logits: H floats an edge, or HV whole registers. */
    const int64_t per_edge = heads > HV * W ? heads : HV * W;
    const int64_t d = c->edge_dim, rows = g->max_in_degree + 1,
                  per_thread = rows * per_edge + 2 * hc + d;
    const int64_t edges = g->row_ptr[last_row] - g->row_ptr[first_row];
    const int team = gat__team(ctx, edges * hc + (last_row - first_row));
    gat_status status = GAT_OK;
    float *scratch = gat__alloc_array(ctx, (int64_t)team * per_thread, sizeof(float),
                                      "edge pass rows", &status);
    int64_t *sources = scratch != NULL ? gat__alloc_array(ctx, (int64_t)team * rows,
                                                          sizeof(int64_t), "edge pass rows",
                                                          &status)
                                       : NULL;
    const float **attrs = sources != NULL ? gat__alloc_array(ctx, (int64_t)team * rows,
                                                             sizeof(float *), "edge pass rows",
                                                             &status)
                                          : NULL;
    double *sums = attrs != NULL ? gat__alloc_array(ctx, (int64_t)team * d, sizeof(double),
                                                    "edge pass rows", &status)
                                 : NULL;
    if (sums == NULL)
        goto done;
    const int64_t chunks = (int64_t)team * GAT_CHUNKS_PER_THREAD;
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
    {
        const int64_t t = gat__thread_id();
        float *mine = scratch + t * per_thread;
        float *after = mine + rows * per_edge;
        const row_scratch s = {mine,          after,        after + hc, after + 2 * hc,
                               sources + t * rows, attrs + t * rows, sums + t * d};
#ifdef _OPENMP
#pragma omp for schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            const int64_t first =
                gat__balanced_range_start(g->row_ptr, first_row, last_row, chunk, chunks);
            const int64_t last =
                gat__balanced_range_start(g->row_ptr, first_row, last_row, chunk + 1, chunks);
            edge_rows(a, first, last, &s);
        }
    }
done:
    gat__free_raw(&ctx->allocator, sums);
    gat__free_raw(&ctx->allocator, attrs);
    gat__free_raw(&ctx->allocator, sources);
    gat__free_raw(&ctx->allocator, scratch);
    return status;
}
