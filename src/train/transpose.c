/*
 * The two views of the attention edges (E', library order) the training
 * kernels walk:
 *  - by destination: row i's edges are the slots [row_ptr[i], row_ptr[i+1])
 *    with their sources, self-loops already resolved (input loops dropped,
 *    the added loop last), so the row loops carry no self-loop branches;
 *  - by source: a counting sort of the slots by source node, so the
 *    backward can gather, for each source, the gradient flowing back along
 *    its outgoing edges in a fixed order: no atomics, the same bits at any
 *    thread count.
 */
#include "train_kernels.h"

#include <string.h>

/* Runs the body (the last arguments) for every edge j -> i with its library-order position p. */
#define FOR_LIBRARY_EDGES(g, add_loops, ...)                                   \
    do {                                                                       \
        int64_t p_ = 0;                                                        \
        for (int64_t i = 0; i < (g)->num_nodes; i++)                           \
            GAT__FOR_ROW_SOURCES(g, add_loops, i, j, {                         \
                const int64_t p = p_++;                                        \
                __VA_ARGS__                                                    \
            });                                                                \
    } while (0)

gat_status gat__edge_views_build(gat_context *ctx, const gat_graph *g, bool add_self_loops,
                                 gat__edge_views *v)
{
    memset(v, 0, sizeof *v);
    const int64_t n = g->num_nodes;
    const int64_t slots = gat_graph_num_attention_edges(g, add_self_loops);
    gat_status status;
    GAT__ALLOC_OR_FAIL(ctx, v->row_ptr, n + 1, false, "attention edge offsets", status);
    GAT__ALLOC_OR_FAIL(ctx, v->src, slots, false, "attention edge sources", status);
    GAT__ALLOC_OR_FAIL(ctx, v->src_ptr, n + 1, true, "transposed edge offsets", status);
    GAT__ALLOC_OR_FAIL(ctx, v->offset, slots, false, "transposed edge slots", status);
    GAT__ALLOC_OR_FAIL(ctx, v->dst, slots, false, "transposed edge targets", status);
    v->row_ptr[0] = 0;
    {
        int64_t p_ = 0;
        for (int64_t i = 0; i < n; i++) {
            GAT__FOR_ROW_SOURCES(g, add_self_loops, i, j, { v->src[p_++] = (int32_t)j; });
            v->row_ptr[i + 1] = p_;
        }
    }
    FOR_LIBRARY_EDGES(g, add_self_loops, { (void)p; v->src_ptr[j + 1]++; });
    for (int64_t j = 0; j < n; j++)
        v->src_ptr[j + 1] += v->src_ptr[j];
    /* Scatter with the offsets as cursors (shifted back afterwards): each
     * source's list comes out in ascending library order. */
    FOR_LIBRARY_EDGES(g, add_self_loops, {
        int64_t at = v->src_ptr[j]++;
        v->offset[at] = (int32_t)(p - v->row_ptr[i]);
        v->dst[at] = (int32_t)i;
    });
    for (int64_t j = n; j > 0; j--)
        v->src_ptr[j] = v->src_ptr[j - 1];
    v->src_ptr[0] = 0;
    v->num_nodes = n;
    v->num_slots = slots;
    v->built = true;
    return GAT_OK;
fail:
    gat__edge_views_free(&ctx->allocator, v);
    return status;
}

void gat__edge_views_free(const gat_allocator *allocator, gat__edge_views *v)
{
    GAT_FREE(allocator, v->row_ptr);
    GAT_FREE(allocator, v->src);
    GAT_FREE(allocator, v->src_ptr);
    GAT_FREE(allocator, v->offset);
    GAT_FREE(allocator, v->dst);
    v->built = false;
    v->num_slots = 0;
}

int64_t gat__edge_views_chunk_start(const gat__edge_views *v, int64_t chunk, int64_t chunks)
{
    return gat__balanced_row_start(v->row_ptr, v->num_nodes, v->num_slots, chunk, chunks);
}
