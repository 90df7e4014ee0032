/*
 * The fast forward of the layer kinds beyond 0.1's GATConv: GATv2Conv,
 * edge features, residual connections, separate destination features and
 * bipartite graphs. Per layer:
 *   projections   h_src = x_src W^T (+ b_l), h_dst = x_dst W_dst^T (+ b_r)
 *                 when it differs from h_src, res = x_dst W_res^T: the
 *                 blocked GEMM of projection.c (a linear map is the
 *                 projection of a one-head layer);
 *   node terms    GATConv's destination scores s_dst [N, H] (a source's
 *                 score is made in the edge pass from the row it reads);
 *                 with edge features
 *                 its lin_edge and att_edge folded into one [D, H] matrix,
 *                 so an edge's term costs D x H multiply-adds (GATv2Conv's
 *                 needs W_edge, D x H*C per edge, transposed for contiguous
 *                 rows);
 *   edge pass     per destination row (family_edges.c), parallel over row
 *                 chunks, no atomics, a fixed order inside a row: the same
 *                 bits at any thread count. Nothing of size E x H x C.
 *                 The edge attributes stay in input order: the pass reads
 *                 each edge's row through its input position, and makes
 *                 the self-loops' attributes from the rows of their row.
 */
#include "family.h"
#include "kernels.h"
#include "parallel.h"

#include <string.h>
#include <time.h>

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* out [rows, out_cols] = x [rows, cols] . w [out_cols, cols]^T (+ bias). */
static gat_status linear(gat_context *ctx, const float *x, int64_t rows, int64_t cols,
                         const float *w, int64_t out_cols, const float *bias, float *out)
{
    gat__layer map;
    memset(&map, 0, sizeof map);
    gat_layer_config_init(&map.config, cols, 1, out_cols);
    map.weight = (float *)(uintptr_t)w; /* read only */
    gat_status status = gat__project_forward(ctx, &map, x, rows, out, NULL, NULL);
    if (status != GAT_OK || bias == NULL)
        return status;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, rows * out_cols)) schedule(static)
#endif
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < out_cols; o++)
            out[i * out_cols + o] += bias[o];
    return GAT_OK;
}

/* s [rows, H] = sum_c h [rows, H, C] * att [H, C]. */
static void head_scores(gat_context *ctx, const float *h, int64_t rows, int64_t heads,
                        int64_t channels, const float *att, float *s)
{
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, rows * heads * channels)) schedule(static)
#endif
    for (int64_t i = 0; i < rows; i++)
        for (int64_t hh = 0; hh < heads; hh++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < channels; c++)
                acc += h[(i * heads + hh) * channels + c] * att[hh * channels + c];
            s[i * heads + hh] = acc;
        }
}

void gat__family_edge_term_matrix(const gat__layer *layer, float *edge_t)
{
    const gat_layer_config *c = &layer->config;
    const int64_t d = c->edge_dim, hc = c->heads * c->channels;
    if (c->type == GAT_LAYER_GATV2) {
        for (int64_t o = 0; o < hc; o++)
            for (int64_t f = 0; f < d; f++)
                edge_t[f * hc + o] = layer->weight_edge[o * d + f];
        return;
    }
    for (int64_t hh = 0; hh < c->heads; hh++)
        for (int64_t f = 0; f < d; f++) {
            float acc = 0.0f;
            for (int64_t ch = 0; ch < c->channels; ch++) {
                const int64_t o = hh * c->channels + ch;
                acc += layer->att_edge[o] * layer->weight_edge[o * d + f];
            }
            edge_t[f * c->heads + hh] = acc;
        }
}

void gat__family_buffers_free(gat_context *ctx, gat__family_buffers *b)
{
    float **all[] = {&b->h_src,  &b->h_dst,      &b->s_dst,     &b->res,
                     &b->edge_t, &b->between[0], &b->between[1]};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        GAT_FREE(&ctx->allocator, *all[k]);
}

gat_status gat__family_buffers_alloc(gat_context *ctx, const gat_model *m, int64_t src_rows,
                                     int64_t rows, bool x_dst, gat__family_buffers *b)
{
    int64_t hc = 0, heads = 0, hidden = 0, d = 0, dst_hc = 0, res_width = 0;
    for (int l = 0; l < m->num_layers; l++) {
        const gat_layer_config *c = &m->layers[l].config;
        if (m->layers[l].weight_dst != NULL || (l == 0 && x_dst))
            dst_hc = c->heads * c->channels > dst_hc ? c->heads * c->channels : dst_hc;
        if (m->layers[l].weight_res != NULL && gat__layer_out_width(c) > res_width)
            res_width = gat__layer_out_width(c);
        hc = c->heads * c->channels > hc ? c->heads * c->channels : hc;
        heads = c->heads > heads ? c->heads : heads;
        if (l + 1 < m->num_layers && gat__layer_out_width(c) > hidden)
            hidden = gat__layer_out_width(c);
        d = c->edge_dim > d ? c->edge_dim : d;
    }
    const int64_t n_src = src_rows, n = rows;
    gat_status status = GAT_OK;
    memset(b, 0, sizeof *b);
    if ((b->h_src = gat__alloc_array(ctx, n_src * hc, sizeof(float), "source features",
                                     &status)) == NULL ||
        (b->h_dst = gat__alloc_array(ctx, n * dst_hc, sizeof(float), "destination features",
                                     &status)) == NULL ||
        (b->s_dst = gat__alloc_array(ctx, n * heads, sizeof(float), "destination scores",
                                     &status)) == NULL ||
        (b->res = gat__alloc_array(ctx, n * res_width, sizeof(float), "residual",
                                   &status)) == NULL ||
        (b->edge_t = gat__alloc_array(ctx, hc * d, sizeof(float), "edge term",
                                      &status)) == NULL)
        goto fail;
    for (int k = 0; k < 2 && k + 1 < m->num_layers; k++)
        if ((b->between[k] = gat__alloc_array(ctx, n * hidden, sizeof(float), "hidden features",
                                              &status)) == NULL)
            goto fail;
    return GAT_OK;
fail:
    gat__family_buffers_free(ctx, b);
    return status;
}

gat_status gat__family_layer_terms(gat_context *ctx, const gat__layer *layer,
                                   const float *x_src, int64_t n_src, const float *x_dst,
                                   int64_t n, gat__family_buffers *b)
{
    const gat_layer_config *c = &layer->config;
    const bool v2 = c->type == GAT_LAYER_GATV2;
    const int64_t hc = c->heads * c->channels, f_dst = gat_layer_dst_features(c);
    gat_status status = linear(ctx, x_src, n_src, c->in_features, layer->weight, hc,
                               layer->bias_src, b->h_src);
    /* The destination side differs from the source side with its own
     * weights or its own features; else h_dst is h_src. */
    const bool own_dst = layer->weight_dst != NULL || x_dst != x_src;
    if (status == GAT_OK && own_dst)
        status = layer->weight_dst != NULL
                     ? linear(ctx, x_dst, n, f_dst, layer->weight_dst, hc, layer->bias_dst,
                              b->h_dst)
                     : linear(ctx, x_dst, n, f_dst, layer->weight, hc, layer->bias_src, b->h_dst);
    if (status == GAT_OK && layer->weight_res != NULL)
        status = linear(ctx, x_dst, n, f_dst, layer->weight_res, gat__layer_out_width(c), NULL,
                        b->res);
    if (status != GAT_OK)
        return status;
    b->layer_h_dst = own_dst ? b->h_dst : b->h_src;
    if (!v2) {
        head_scores(ctx, b->layer_h_dst, n, c->heads, c->channels, layer->att_dst, b->s_dst);
    }
    if (c->edge_dim > 0)
        gat__family_edge_term_matrix(layer, b->edge_t);
    return GAT_OK;
}

gat__family_edges_args gat__family_layer_edges(const gat__layer *layer, const gat_graph *g,
                                               const gat__family_buffers *b,
                                               const float *edge_attr, float *out,
                                               float *attention, const int64_t *loops_before)
{
    const gat_layer_config *c = &layer->config;
    gat__family_edges_args a = {
        .layer = layer, .graph = g, .h_src = b->h_src, .h_dst = b->layer_h_dst,
        .s_dst = b->s_dst, .res = layer->weight_res != NULL ? b->res : NULL,
        .edge_attr = c->edge_dim > 0 ? edge_attr : NULL,
        .edge_t = b->edge_t, .out = out, .attention = attention, .loops_before = loops_before};
    return a;
}

/* One layer: projections and node terms, then the edge pass. */
static gat_status family_layer(gat_context *ctx, const gat__layer *layer, const gat_graph *g,
                               const float *x_src, const float *x_dst, const float *edge_attr,
                               gat__family_buffers *b, float *out, float *attention,
                               const int64_t *loops_before, gat_forward_times *times)
{
    const double t0 = times != NULL ? seconds_now() : 0.0;
    gat_status status =
        gat__family_layer_terms(ctx, layer, x_src, g->num_src_nodes, x_dst, g->num_nodes, b);
    if (status != GAT_OK)
        return status;
    const double t1 = times != NULL ? seconds_now() : 0.0;
    const gat__family_edges_args a =
        gat__family_layer_edges(layer, g, b, edge_attr, out, attention, loops_before);
    status = gat__family_edges(ctx, &a);
    if (times != NULL) {
        times->projection += t1 - t0;
        times->edges += seconds_now() - t1;
    }
    return status;
}

gat_status gat__family_forward(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                               const gat_inputs *inputs, float *out, float *attention,
                               gat_forward_times *times)
{
    gat__family_buffers b;
    gat_status status =
        gat__family_buffers_alloc(ctx, model, graph->num_src_nodes, graph->num_nodes,
                                  inputs->x_dst != NULL && inputs->x_dst != inputs->x, &b);
    if (status != GAT_OK)
        return status;
    const gat__layer *last = &model->layers[model->num_layers - 1];
    int64_t *loops_before = NULL;
    if (attention != NULL && last->config.add_self_loops &&
        (status = gat__graph_loop_prefix(ctx, graph, &loops_before)) != GAT_OK)
        goto done;
    /* The attributes stay in input order: each edge's row is read through
     * its input position where the edge pass needs it. */
    const float *edge_attr = inputs->edge_attr;
    const float *x = inputs->x;
    const float *x_dst = inputs->x_dst != NULL ? inputs->x_dst : inputs->x;
    for (int l = 0; l < model->num_layers; l++) {
        const gat__layer *layer = &model->layers[l];
        const bool is_last = l + 1 == model->num_layers;
        float *output = is_last ? out : b.between[l % 2];
        status = family_layer(ctx, layer, graph, x, x_dst, edge_attr, &b, output,
                              is_last ? attention : NULL, loops_before, times);
        if (status != GAT_OK)
            break;
        if (!is_last) {
            const double t = times != NULL ? seconds_now() : 0.0;
            gat__activation_forward(ctx, model->activation, output,
                                    graph->num_nodes * gat__layer_out_width(&layer->config));
            if (times != NULL)
                times->activation += seconds_now() - t;
        }
        x = x_dst = output;
    }
done:
    gat__free_raw(&ctx->allocator, loops_before);
    gat__family_buffers_free(ctx, &b);
    return status;
}
