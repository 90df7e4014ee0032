/*
 * Vertex reordering for locality: relabel a graph's nodes so the source
 * rows the edge pass gathers lie close together, and move feature and
 * output rows between the two numberings. The relabelled graph is the same
 * graph, and each row keeps its edges in their original order, so a forward
 * pass on it sums exactly the same terms in the same order as on the
 * original: un-permuted, its output is bitwise the same.
 */
#include "parallel.h"
#include "reorder.h"

#include <string.h>

/* Decreasing in-degree, ties by old id: a counting sort over degrees
 * (stable in old id), O(N + max degree), no comparisons. */
static gat_status order_by_degree(gat_context *ctx, const gat_graph *g, int64_t *new_id)
{
    const int64_t n = g->num_nodes;
    gat_status status;
    /* next[d]: the next new id for a node of in-degree d. */
    int64_t *next = gat__calloc_array(ctx, g->max_in_degree + 1, sizeof *next,
                                      "reorder: degree buckets", &status);
    if (next == NULL)
        return status;
    for (int64_t v = 0; v < n; v++)
        next[g->row_ptr[v + 1] - g->row_ptr[v]]++;
    int64_t start = 0; /* highest degree first */
    for (int64_t d = g->max_in_degree; d >= 0; d--) {
        int64_t count = next[d];
        next[d] = start;
        start += count;
    }
    for (int64_t v = 0; v < n; v++)
        new_id[v] = next[g->row_ptr[v + 1] - g->row_ptr[v]]++;
    gat__free_raw(&ctx->allocator, next);
    return GAT_OK;
}

/* The CSR of g with node v renamed new_id[v]: new row new_id[v] is old row
 * v, its sources renamed, in the same order. */
static gat_status relabel(gat_context *ctx, const gat_graph *g, const int64_t *new_id,
                          gat_graph **out)
{
    const int64_t n = g->num_nodes;
    gat_status status;
    int32_t *old_of = NULL;
    gat_graph *r = gat__alloc_array(ctx, 1, sizeof *r, "reorder: graph", &status);
    if (r == NULL)
        return status;
    memset(r, 0, sizeof *r);
    r->allocator = ctx->allocator;
    r->num_nodes = n;
    r->num_edges = g->num_edges;
    /* Relabelling changes neither loops nor degrees. */
    r->num_self_loops = g->num_self_loops;
    r->max_in_degree = g->max_in_degree;
    r->num_src_nodes = n;
    r->row_ptr = gat__alloc_array(ctx, n + 1, sizeof *r->row_ptr, "reorder: row offsets",
                                  &status);
    if (r->row_ptr == NULL)
        goto fail;
    /* Edges keep their input positions (edge attributes follow them);
     * rows move, so the CSR is no longer in input order. */
    r->position_bytes = (uint64_t)g->num_edges <= UINT32_MAX ? 4 : 8;
    r->position = gat__alloc_array(ctx, g->num_edges, (size_t)r->position_bytes,
                                   "reorder: edge positions", &status);
    if (r->position == NULL)
        goto fail;
    r->col = gat__alloc_array(ctx, g->num_edges, sizeof *r->col, "reorder: edge sources",
                              &status);
    if (r->col == NULL)
        goto fail;
    old_of = gat__alloc_array(ctx, n, sizeof *old_of, "reorder: inverse permutation",
                              &status);
    if (old_of == NULL)
        goto fail;
    for (int64_t v = 0; v < n; v++)
        old_of[new_id[v]] = (int32_t)v;
    r->row_ptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = old_of[i];
        r->row_ptr[i + 1] = r->row_ptr[i] + (g->row_ptr[v + 1] - g->row_ptr[v]);
    }
    /* Each new row is written by one iteration from data nothing writes:
     * the same bytes at any thread count. */
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 4096)
#endif
    for (int64_t i = 0; i < n; i++) {
        const int64_t v = old_of[i];
        const int64_t first = g->row_ptr[v], len = g->row_ptr[v + 1] - first;
        int32_t *dst = r->col + r->row_ptr[i];
        for (int64_t k = 0; k < len; k++)
            dst[k] = (int32_t)new_id[g->col[first + k]];
        for (int64_t k = 0; k < len; k++) {
            const int64_t at = r->row_ptr[i] + k, from = gat__graph_edge_position(g, first + k);
            if (r->position_bytes == 4)
                ((uint32_t *)r->position)[at] = (uint32_t)from;
            else
                ((int64_t *)r->position)[at] = from;
        }
    }
    gat__free_raw(&ctx->allocator, old_of);
    *out = r;
    return GAT_OK;
fail:
    gat__free_raw(&ctx->allocator, old_of);
    gat_graph_destroy(&r);
    return status;
}

gat_status gat_graph_reorder(gat_context *ctx, const gat_graph *graph, gat_ordering ordering,
                             gat_graph **reordered, int64_t *new_id)
{
    if (reordered != NULL)
        *reordered = NULL;
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (reordered == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_reorder: reordered is NULL");
    if (graph == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_reorder: graph is NULL");
    if (new_id == NULL && graph->num_nodes > 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_reorder: new_id is NULL");
    if (graph->num_src_nodes != graph->num_nodes)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "gat_graph_reorder: a bipartite graph (%lld sources, %lld "
                         "destinations) has no single numbering to reorder",
                         (long long)graph->num_src_nodes, (long long)graph->num_nodes);
    gat_status status = GAT_OK;
    switch (ordering) {
    case GAT_ORDER_NONE:
        for (int64_t v = 0; v < graph->num_nodes; v++)
            new_id[v] = v;
        break;
    case GAT_ORDER_DEGREE: status = order_by_degree(ctx, graph, new_id); break;
    case GAT_ORDER_RCM: status = gat__order_rcm(ctx, graph, new_id); break;
    default:
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_reorder: unknown ordering %d",
                         (int)ordering);
    }
    if (status != GAT_OK)
        return status;
    return relabel(ctx, graph, new_id, reordered);
}

gat_status gat_permute_rows(gat_context *ctx, const float *in, int64_t rows, int64_t cols,
                            const int64_t *new_id, bool inverse, float *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (rows < 0 || cols < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_permute_rows: negative shape [%lld, %lld]",
                         (long long)rows, (long long)cols);
    size_t count, bytes;
    if (!gat__mul_size((size_t)rows, (size_t)cols, &count) ||
        !gat__mul_size(count, sizeof(float), &bytes))
        return gat__fail(ctx, GAT_ERR_OVERFLOW,
                         "gat_permute_rows: [%lld, %lld] floats do not fit in memory",
                         (long long)rows, (long long)cols);
    if (rows > 0 && new_id == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_permute_rows: new_id is NULL");
    if (count > 0 && (in == NULL || out == NULL))
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_permute_rows: in or out is NULL");
    /* Out of place: rows are moved in an arbitrary order, so an overlap
     * would overwrite rows not yet read. */
    if (count > 0 && (const char *)in < (const char *)out + bytes &&
        (const char *)out < (const char *)in + bytes)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_permute_rows: in and out overlap");
    if (rows == 0)
        return GAT_OK;

    /* A map that is not a permutation would leave rows of out unwritten:
     * check it before touching out. */
    gat_status status;
    unsigned char *seen = gat__calloc_array(ctx, rows, 1, "gat_permute_rows: check", &status);
    if (seen == NULL)
        return status;
    for (int64_t v = 0; v < rows; v++) {
        int64_t id = new_id[v];
        if (id < 0 || id >= rows || seen[id]) {
            gat__free_raw(&ctx->allocator, seen);
            return gat__fail(ctx, GAT_ERR_RANGE,
                             "gat_permute_rows: new_id[%lld] = %lld is %s, so new_id is not "
                             "a permutation of [0, %lld)",
                             (long long)v, (long long)id,
                             id < 0 || id >= rows ? "out of range" : "a repeat", (long long)rows);
        }
        seen[id] = 1;
    }
    gat__free_raw(&ctx->allocator, seen);
    if (count == 0) /* zero columns: nothing to move (and in/out may be NULL) */
        return GAT_OK;

    const size_t row_bytes = (size_t)cols * sizeof(float);
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static)
#endif
    for (int64_t v = 0; v < rows; v++) {
        const int64_t to = inverse ? v : new_id[v], from = inverse ? new_id[v] : v;
        memcpy(out + to * cols, in + from * cols, row_bytes);
    }
    return GAT_OK;
}
