/* Vertex orderings computed by reorder*.c; shared between its two files only. */
#ifndef GAT_REORDER_H
#define GAT_REORDER_H

#include "graph.h"

/* Reverse Cuthill-McKee on the symmetrised graph (edge directions and
 * duplicates ignored, self-loops dropped): fills new_id [num_nodes] with
 * new_id[old]. Serial, so the order depends on the graph alone. */
gat_status gat__order_rcm(gat_context *ctx, const gat_graph *g, int64_t *new_id);

/* Decreasing in-degree, ties by old id: new_id [num_nodes] = new_id[old]. */
gat_status gat__order_by_degree(gat_context *ctx, const gat_graph *g, int64_t *new_id);

/* The CSR of g with node v renamed new_id[v]: new row new_id[v] is old row
 * v, its sources renamed, in the same order. */
gat_status gat__relabel(gat_context *ctx, const gat_graph *g, const int64_t *new_id,
                        gat_graph **out);

#endif
