/*
 * The edge pass of the GAT family's layers (family.h): per destination row,
 * the row's logits into a per-thread buffer of (degree + 1) x H floats, the
 * softmax, and the weighted sum of the sources' rows, then the head mean,
 * residual and bias. GATv2's score needs the H x C LeakyReLU of every edge:
 * it is made and consumed edge by edge in a buffer of H*C floats, never
 * stored for the graph.
 */
#include "family.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

/* Per-thread scratch: logits [(max degree + 1) * H], acc [H*C], z [H*C],
 * the row's sources and attribute rows [max degree + 1]. */
typedef struct row_scratch {
    float *logit, *acc, *z;
    int64_t *j;
    const float **attr;
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

/* The row's edges in library order: sources into j, attributes (NULL
 * without edge features) into attr; returns their count. */
static int64_t row_edges(const gat__family_edges_args *a, int64_t i, int64_t *j,
                         const float **attr)
{
    const gat_graph *g = a->graph;
    const bool add = a->layer->config.add_self_loops;
    const int64_t d = a->layer->config.edge_dim;
    int64_t count = 0;
    for (int64_t k = g->row_ptr[i]; k < g->row_ptr[i + 1]; k++) {
        if (add && g->col[k] == i)
            continue;
        j[count] = g->col[k];
        attr[count++] =
            a->edge_attr != NULL ? a->edge_attr + k * d : NULL;
    }
    if (add && i < gat__graph_added_loops(g)) {
        j[count] = i;
        attr[count++] = a->edge_attr != NULL ? a->loop_attr + i * d : NULL;
    }
    return count;
}

/* Edges ahead whose source rows are prefetched: the pass is bound by the
 * latency of gathering one random source row (H*C floats) per edge. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 4
#endif

static inline void prefetch_row(const float *row, int64_t floats)
{
    for (int64_t o = 0; o < floats; o += 16)
        __builtin_prefetch(row + o);
}

static void edge_row(const gat__family_edges_args *a, int64_t i, const row_scratch *s)
{
    const gat__layer *layer = a->layer;
    const gat_layer_config *c = &layer->config;
    const gat_graph *g = a->graph;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels,
                  width = gat__layer_out_width(c);
    const int64_t count = row_edges(a, i, s->j, s->attr);
    /* The attributes are in CSR order (family_forward.c), read in turn. */
    /* The logits read the source rows (the aggregation then finds them
     * cached), fetched a few edges ahead. */
    for (int64_t k = 0; k < count && k < PREFETCH_AHEAD; k++)
        prefetch_row(a->h_src + s->j[k] * hc, hc);
    for (int64_t k = 0; k < count; k++) {
        if (k + PREFETCH_AHEAD < count)
            prefetch_row(a->h_src + s->j[k + PREFETCH_AHEAD] * hc, hc);
        edge_logits(a, s->j[k], i, s->attr[k], s->z, s->logit + k * heads);
    }
    /* The next row's first sources, while this one finishes. */
    if (i + 1 < g->num_nodes)
        for (int64_t k = g->row_ptr[i + 1]; k < g->row_ptr[i + 2] &&
                                             k < g->row_ptr[i + 1] + PREFETCH_AHEAD; k++) {
            prefetch_row(a->h_src + (int64_t)g->col[k] * hc, hc);
        }
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
    float *out = a->out + i * width;
    for (int64_t o = 0; o < width; o++) {
        float v;
        if (c->concat) {
            v = s->acc[o];
        } else {
            v = 0.0f;
            for (int64_t h = 0; h < heads; h++)
                v += s->acc[h * channels + o];
            v /= (float)heads;
        }
        if (a->res != NULL)
            v += a->res[i * width + o];
        if (layer->bias != NULL)
            v += layer->bias[o];
        out[o] = v;
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
    const int64_t rows = g->max_in_degree + 1, per_thread = rows * heads + 2 * hc;
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
    if (attrs == NULL)
        goto done;
    const int64_t chunks = (int64_t)team * GAT_CHUNKS_PER_THREAD;
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
    {
        const int64_t t = gat__thread_id();
        float *mine = scratch + t * per_thread;
        const row_scratch s = {mine, mine + rows * heads, mine + rows * heads + hc,
                               sources + t * rows, attrs + t * rows};
#ifdef _OPENMP
#pragma omp for schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            const int64_t first =
                gat__balanced_range_start(g->row_ptr, first_row, last_row, chunk, chunks);
            const int64_t last =
                gat__balanced_range_start(g->row_ptr, first_row, last_row, chunk + 1, chunks);
            for (int64_t i = first; i < last; i++)
                edge_row(a, i, &s);
        }
    }
done:
    gat__free_raw(&ctx->allocator, attrs);
    gat__free_raw(&ctx->allocator, sources);
    gat__free_raw(&ctx->allocator, scratch);
    return status;
}
