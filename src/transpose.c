/*
 * The source-indexed view of the attention edges: a counting sort of the
 * library-order edge positions by source node. The backward pass walks it
 * to gather, for each source, the gradient flowing back along its outgoing
 * edges in a fixed order: no atomics, the same bits at any thread count.
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

gat_status gat__transpose_build(gat_context *ctx, const gat_graph *g, bool add_self_loops,
                                gat__transpose *t)
{
    memset(t, 0, sizeof *t);
    const int64_t n = g->num_nodes;
    const int64_t slots = gat_graph_num_attention_edges(g, add_self_loops);
    gat_status status;
    t->ptr = gat__calloc_array(ctx, n + 1, sizeof *t->ptr, "transposed edge offsets", &status);
    if (t->ptr == NULL)
        goto fail;
    t->slot = gat__alloc_array(ctx, slots, sizeof *t->slot, "transposed edge slots", &status);
    if (t->slot == NULL)
        goto fail;
    t->dst = gat__alloc_array(ctx, slots, sizeof *t->dst, "transposed edge targets", &status);
    if (t->dst == NULL)
        goto fail;
    FOR_LIBRARY_EDGES(g, add_self_loops, { (void)p; t->ptr[j + 1]++; });
    for (int64_t j = 0; j < n; j++)
        t->ptr[j + 1] += t->ptr[j];
    /* Scatter with the offsets as cursors (shifted back afterwards): each
     * source's list comes out in ascending library order. */
    FOR_LIBRARY_EDGES(g, add_self_loops, {
        int64_t at = t->ptr[j]++;
        t->slot[at] = p;
        t->dst[at] = (int32_t)i;
    });
    for (int64_t j = n; j > 0; j--)
        t->ptr[j] = t->ptr[j - 1];
    t->ptr[0] = 0;
    t->num_slots = slots;
    t->built = true;
    return GAT_OK;
fail:
    gat__transpose_free(&ctx->allocator, t);
    return status;
}

void gat__transpose_free(const gat_allocator *allocator, gat__transpose *t)
{
    GAT_FREE(allocator, t->ptr);
    GAT_FREE(allocator, t->slot);
    GAT_FREE(allocator, t->dst);
    t->built = false;
    t->num_slots = 0;
}
