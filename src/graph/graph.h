/* The graph object's layout, shared by the builders, readers and kernels. */
#ifndef GAT_GRAPH_H
#define GAT_GRAPH_H

#include "internal.h"

struct gat_graph {
    gat_allocator allocator;
    int64_t num_nodes;       /* rows: destination nodes */
    int64_t num_src_nodes;   /* sources lie in [0, num_src_nodes); == num_nodes unless bipartite */
    /* The input position of edge k of the CSR (gat_graph_edge_positions):
     * uint32_t when position_bytes is 4, int64_t when 8; NULL (0 bytes)
     * when the CSR is in input order. Owned unless mapped. */
    void *position;
    int position_bytes;
    int64_t num_edges;       /* as given, self-loops included */
    int64_t num_self_loops;
    int64_t max_in_degree;
    int64_t *row_ptr;        /* [num_nodes + 1], row i = incoming edges of i */
    int32_t *col;            /* [num_edges], source of each edge */
    void *mapping;           /* a .gcsr file mapped read-only (GAT_LOAD_MMAP) that */
    size_t mapping_size;     /* row_ptr and col point into, or NULL: unmapped, not freed */
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
    const int64_t loops = g->num_src_nodes < g->num_nodes ? g->num_src_nodes : g->num_nodes;
    return g->row_ptr[row] + (row < loops ? row : loops) -
           (loops_before != NULL ? loops_before[row] : 0);
}

/* Row partition of a CSR [rows + 1 offsets, `entries` entries] into
 * `chunks` contiguous row ranges with about the same work each (entries
 * plus one per row, so empty rows count), found by binary search on the
 * row offsets. Chunk c is [start(c), start(c + 1)). The edge phase's
 * (gat__graph_chunk_start) is used both to run the pass and to first-touch
 * its output rows on the thread (and so the NUMA node) that writes them;
 * the training edge views partition the same way. */
static inline int64_t gat__balanced_range_start(const int64_t *row_ptr, int64_t first,
                                                int64_t last, int64_t chunk, int64_t chunks)
{
    const int64_t base = row_ptr[first];
    const double total = (double)(row_ptr[last] - base) + (double)(last - first);
    const double target = total * (double)chunk / (double)chunks;
    int64_t lo = first, hi = last;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((double)(row_ptr[mid] - base + (mid - first)) < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int64_t gat__balanced_row_start(const int64_t *row_ptr, int64_t rows,
                                              int64_t entries, int64_t chunk, int64_t chunks)
{
    (void)entries; /* row_ptr[rows] */
    return gat__balanced_range_start(row_ptr, 0, rows, chunk, chunks);
}

static inline int64_t gat__graph_chunk_start(const struct gat_graph *g, int64_t chunk,
                                             int64_t chunks)
{
    return gat__balanced_row_start(g->row_ptr, g->num_nodes, g->num_edges, chunk, chunks);
}

/* Chunks per thread in the edge phase: a few each, statically assigned so
 * a thread always gets the same rows (first touch places them). */
#define GAT_CHUNKS_PER_THREAD 8

/* Prefix counts of input self-loops per row, for gat__attention_row_offset;
 * NULL in *out (and GAT_OK) when the graph has none. Caller frees through
 * ctx's allocator. */
gat_status gat__graph_loop_prefix(gat_context *ctx, const struct gat_graph *g, int64_t **out);

/* Self-loops a policy adds: one per node with a source of the same id. */
static inline int64_t gat__graph_added_loops(const struct gat_graph *g)
{
    return g->num_src_nodes < g->num_nodes ? g->num_src_nodes : g->num_nodes;
}

/* Input position of CSR edge k. */
static inline int64_t gat__graph_edge_position(const struct gat_graph *g, int64_t k)
{
    if (g->position_bytes == 4)
        return (int64_t)((const uint32_t *)g->position)[k];
    if (g->position_bytes == 8)
        return ((const int64_t *)g->position)[k];
    return k;
}

/* Builds the CSR from COO arrays whose ids the caller has already checked
 * against num_nodes (as gat_graph_create does). */
gat_status gat__graph_from_coo(gat_context *ctx, gat_graph **graph, int64_t num_nodes,
                               int64_t num_edges, const int64_t *src, const int64_t *dst);
/* The same with num_src_nodes sources (a bipartite graph). */
gat_status gat__graph_from_coo_bipartite(gat_context *ctx, gat_graph **graph,
                                         int64_t num_src_nodes, int64_t num_nodes,
                                         int64_t num_edges, const int64_t *src,
                                         const int64_t *dst);

#endif
