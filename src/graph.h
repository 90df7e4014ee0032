/* The graph object's layout, shared by the builders, readers and kernels. */
#ifndef GAT_GRAPH_H
#define GAT_GRAPH_H

#include "internal.h"

struct gat_graph {
    gat_allocator allocator;
    int64_t num_nodes;
    int64_t num_edges;       /* as given, self-loops included */
    int64_t num_self_loops;
    int64_t max_in_degree;
    int64_t *row_ptr;        /* [num_nodes + 1], row i = incoming edges of i */
    int32_t *col;            /* [num_edges], source of each edge */
};

/* Start of row `row` in library order under the self-loop policy: the
 * attention coefficients of row i live at [offset(i), offset(i+1)).
 * loops_before, when add_self_loops and the graph has self-loops, is the
 * prefix count of input self-loops per row ([num_nodes + 1]); else NULL. */
static inline int64_t gat__attention_row_offset(const struct gat_graph *g, bool add_self_loops,
                                                const int64_t *loops_before, int64_t row)
{
    if (!add_self_loops)
        return g->row_ptr[row];
    return g->row_ptr[row] + row - (loops_before != NULL ? loops_before[row] : 0);
}

/* Prefix counts of input self-loops per row, for gat__attention_row_offset;
 * NULL in *out (and GAT_OK) when the graph has none. Caller frees through
 * ctx's allocator. */
gat_status gat__graph_loop_prefix(gat_context *ctx, const struct gat_graph *g, int64_t **out);

/* Builds the CSR from COO arrays whose ids the caller has already checked
 * against num_nodes (as gat_graph_create does). */
gat_status gat__graph_from_coo(gat_context *ctx, gat_graph **graph, int64_t num_nodes,
                               int64_t num_edges, const int64_t *src, const int64_t *dst);

#endif
