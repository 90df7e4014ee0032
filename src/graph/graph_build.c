/*
 * COO -> CSR by destination: count, prefix sum, stable scatter (GAPBS's
 * builder, serial so that a row's order is the input order).
 */
#include "graph.h"
#include "parallel.h"

#include <string.h>
#include <sys/mman.h>

gat_status gat_graph_create_bipartite(gat_context *ctx, gat_graph **graph,
                                      int64_t num_src_nodes, int64_t num_dst_nodes,
                                      int64_t num_edges, const int64_t *src, const int64_t *dst)
{
    if (ctx == NULL || graph == NULL)
        return GAT_ERR_INVALID;
    *graph = NULL;
    gat__clear_message(ctx);
    if (num_src_nodes == num_dst_nodes && (num_dst_nodes < 0 || num_edges < 0))
        return gat__fail(ctx, GAT_ERR_INVALID, "graph: negative size (nodes %lld, edges %lld)",
                         (long long)num_dst_nodes, (long long)num_edges);
    if (num_src_nodes < 0 || num_dst_nodes < 0 || num_edges < 0)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "graph: negative size (source nodes %lld, nodes %lld, edges %lld)",
                         (long long)num_src_nodes, (long long)num_dst_nodes,
                         (long long)num_edges);
    if (num_src_nodes > INT32_MAX || num_dst_nodes > INT32_MAX)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "graph: %lld nodes; node ids must fit in 31 bits",
                         (long long)(num_src_nodes > num_dst_nodes ? num_src_nodes
                                                                   : num_dst_nodes));
    if (num_edges > 0 && (src == NULL || dst == NULL))
        return gat__fail(ctx, GAT_ERR_INVALID, "graph: src or dst is NULL");
    for (int64_t k = 0; k < num_edges; k++) {
        if (src[k] < 0 || src[k] >= num_src_nodes || dst[k] < 0 || dst[k] >= num_dst_nodes) {
            if (num_src_nodes == num_dst_nodes)
                return gat__fail(ctx, GAT_ERR_RANGE,
                                 "graph: edge %lld (%lld -> %lld) has a node id outside [0, %lld)",
                                 (long long)k, (long long)src[k], (long long)dst[k],
                                 (long long)num_dst_nodes);
            return gat__fail(ctx, GAT_ERR_RANGE,
                             "graph: edge %lld (%lld -> %lld): sources must be in [0, %lld), "
                             "destinations in [0, %lld)",
                             (long long)k, (long long)src[k], (long long)dst[k],
                             (long long)num_src_nodes, (long long)num_dst_nodes);
        }
    }
    return gat__graph_from_coo_bipartite(ctx, graph, num_src_nodes, num_dst_nodes, num_edges,
                                         src, dst);
}

gat_status gat_graph_create(gat_context *ctx, gat_graph **graph, int64_t num_nodes,
                            int64_t num_edges, const int64_t *src, const int64_t *dst)
{
    return gat_graph_create_bipartite(ctx, graph, num_nodes, num_nodes, num_edges, src, dst);
}

gat_status gat__graph_from_coo(gat_context *ctx, gat_graph **graph, int64_t num_nodes,
                               int64_t num_edges, const int64_t *src, const int64_t *dst)
{
    return gat__graph_from_coo_bipartite(ctx, graph, num_nodes, num_nodes, num_edges, src, dst);
}

/* Input positions in CSR order, kept only when they are not the identity
 * (an input already sorted by destination needs none), 4 bytes each below
 * 2^32 edges. */
static gat_status build_positions(gat_context *ctx, gat_graph *g, const int64_t *dst)
{
    const int64_t e = g->num_edges;
    bool identity = true;
    for (int64_t k = 1; k < e && identity; k++)
        identity = dst[k - 1] <= dst[k];
    if (identity)
        return GAT_OK;
    gat_status status;
    const bool narrow = (uint64_t)e <= UINT32_MAX;
    g->position_bytes = narrow ? 4 : 8;
    g->position = gat__alloc_array(ctx, e, (size_t)g->position_bytes, "graph edge positions",
                                   &status);
    if (g->position == NULL)
        return status;
    /* The scatter of gat__graph_from_coo_bipartite again, with a cursor
     * per row taken from row_ptr, restored afterwards. */
    int64_t *cursor = g->row_ptr;
    for (int64_t k = 0; k < e; k++) {
        int64_t at = cursor[dst[k]]++;
        if (narrow)
            ((uint32_t *)g->position)[at] = (uint32_t)k;
        else
            ((int64_t *)g->position)[at] = k;
    }
    for (int64_t i = g->num_nodes; i > 0; i--)
        cursor[i] = cursor[i - 1];
    cursor[0] = 0;
    return GAT_OK;
}

gat_status gat__graph_from_coo_bipartite(gat_context *ctx, gat_graph **graph,
                                         int64_t num_src_nodes, int64_t num_nodes,
                                         int64_t num_edges, const int64_t *src,
                                         const int64_t *dst)
{
    gat_status status = GAT_OK;
    gat_graph *g = gat__alloc_array(ctx, 1, sizeof *g, "graph", &status);
    if (g == NULL)
        return status;
    memset(g, 0, sizeof *g);
    g->allocator = ctx->allocator;
    g->num_nodes = num_nodes;
    g->num_src_nodes = num_src_nodes;
    g->num_edges = num_edges;
    g->row_ptr = gat__calloc_array(ctx, num_nodes + 1, sizeof *g->row_ptr, "graph row offsets",
                                   &status);
    if (g->row_ptr == NULL)
        goto fail;
    g->col = gat__alloc_array(ctx, num_edges, sizeof *g->col, "graph edge sources", &status);
    if (g->col == NULL)
        goto fail;

    for (int64_t k = 0; k < num_edges; k++) {
        g->row_ptr[dst[k] + 1]++;
        g->num_self_loops += src[k] == dst[k];
    }
    for (int64_t i = 0; i < num_nodes; i++) {
        int64_t degree = g->row_ptr[i + 1];
        if (degree > g->max_in_degree)
            g->max_in_degree = degree;
        g->row_ptr[i + 1] += g->row_ptr[i];
    }
    /* Scatter with a moving cursor per row; the cursor array is the row
     * starts shifted, reconstructed afterwards instead of copied. */
    for (int64_t k = 0; k < num_edges; k++)
        g->col[g->row_ptr[dst[k]]++] = (int32_t)src[k];
    for (int64_t i = num_nodes; i > 0; i--)
        g->row_ptr[i] = g->row_ptr[i - 1];
    g->row_ptr[0] = 0;
    if ((status = build_positions(ctx, g, dst)) != GAT_OK)
        goto fail;
    *graph = g;
    return GAT_OK;
fail:
    gat_graph_destroy(&g);
    return status;
}

void gat_graph_destroy(gat_graph **graph)
{
    if (graph == NULL || *graph == NULL)
        return;
    gat_graph *g = *graph;
    gat_allocator allocator = g->allocator;
    if (g->mapping != NULL) {
        munmap(g->mapping, g->mapping_size);
    } else {
        gat__free_raw(&allocator, g->row_ptr);
        gat__free_raw(&allocator, g->col);
        gat__free_raw(&allocator, g->position);
    }
    gat__free_raw(&allocator, g);
    *graph = NULL;
}

int64_t gat_graph_num_nodes(const gat_graph *graph) { return graph ? graph->num_nodes : 0; }
int64_t gat_graph_num_src_nodes(const gat_graph *graph)
{
    return graph ? graph->num_src_nodes : 0;
}
int64_t gat_graph_num_edges(const gat_graph *graph) { return graph ? graph->num_edges : 0; }
int64_t gat_graph_num_self_loops(const gat_graph *graph)
{
    return graph ? graph->num_self_loops : 0;
}
int64_t gat_graph_max_in_degree(const gat_graph *graph)
{
    return graph ? graph->max_in_degree : 0;
}

int64_t gat_graph_num_attention_edges(const gat_graph *graph, bool add_self_loops)
{
    if (graph == NULL)
        return 0;
    if (!add_self_loops)
        return graph->num_edges;
    return graph->num_edges - graph->num_self_loops + gat__graph_added_loops(graph);
}

void gat_graph_csr(const gat_graph *graph, const int64_t **row_ptr, const int32_t **col)
{
    if (row_ptr != NULL)
        *row_ptr = graph ? graph->row_ptr : NULL;
    if (col != NULL)
        *col = graph ? graph->col : NULL;
}

gat_status gat__graph_loop_prefix(gat_context *ctx, const gat_graph *g, int64_t **out)
{
    *out = NULL;
    if (g->num_self_loops == 0)
        return GAT_OK;
    gat_status status;
    int64_t *prefix = gat__alloc_array(ctx, g->num_nodes + 1, sizeof *prefix,
                                       "self-loop offsets", &status);
    if (prefix == NULL)
        return status;
    prefix[0] = 0;
    for (int64_t i = 0; i < g->num_nodes; i++) {
        int64_t loops = 0;
        for (int64_t k = g->row_ptr[i]; k < g->row_ptr[i + 1]; k++)
            loops += g->col[k] == i;
        prefix[i + 1] = prefix[i] + loops;
    }
    *out = prefix;
    return GAT_OK;
}

gat_status gat_graph_edges(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                           int64_t *src, int64_t *dst)
{
    if (ctx == NULL || graph == NULL || src == NULL || dst == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_edges: NULL argument");
    gat__clear_message(ctx);
    const int64_t loops = gat__graph_added_loops(graph);
    int64_t out = 0;
    for (int64_t i = 0; i < graph->num_nodes; i++) {
        for (int64_t k = graph->row_ptr[i]; k < graph->row_ptr[i + 1]; k++) {
            if (add_self_loops && graph->col[k] == i)
                continue;
            src[out] = graph->col[k];
            dst[out++] = i;
        }
        if (add_self_loops && i < loops) {
            src[out] = i;
            dst[out++] = i;
        }
    }
    return GAT_OK;
}

gat_status gat_graph_edge_positions(gat_context *ctx, const gat_graph *graph,
                                    bool add_self_loops, int64_t *positions)
{
    if (ctx == NULL || graph == NULL || positions == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_edge_positions: NULL argument");
    gat__clear_message(ctx);
    const int64_t loops = gat__graph_added_loops(graph);
    int64_t out = 0;
    for (int64_t i = 0; i < graph->num_nodes; i++) {
        for (int64_t k = graph->row_ptr[i]; k < graph->row_ptr[i + 1]; k++)
            if (!add_self_loops || graph->col[k] != i)
                positions[out++] = gat__graph_edge_position(graph, k);
        if (add_self_loops && i < loops)
            positions[out++] = -1;
    }
    return GAT_OK;
}
