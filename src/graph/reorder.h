/* Vertex orderings computed by reorder*.c; shared between its two files only. */
#ifndef GAT_REORDER_H
#define GAT_REORDER_H

#include "graph.h"

/* Reverse Cuthill-McKee on the symmetrised graph (edge directions and
 * duplicates ignored, self-loops dropped): fills new_id [num_nodes] with
 * new_id[old]. Serial, so the order depends on the graph alone. */
gat_status gat__order_rcm(gat_context *ctx, const gat_graph *g, int64_t *new_id);

#endif
