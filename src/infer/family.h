/*
 * What the forward passes share for every layer kind (GATConv with edge
 * features, residual or two projections, GATv2Conv): the inputs' checks
 * and the self-loop attributes of PyG's add_self_loops.
 */
#ifndef GAT_FAMILY_H
#define GAT_FAMILY_H

#include "graph.h"
#include "model.h"

/* Checks a forward's inputs against the model and graph (the messages of
 * gat_model_forward for the 0.1 arguments). */
gat_status gat__forward_check_inputs(gat_context *ctx, const gat_model *model,
                                     const gat_graph *graph, const gat_inputs *inputs,
                                     const float *out);

/* Whether every layer is of 0.1's kind and layer 0 reads x alone: the
 * forward of src/infer/forward.c's layer loop. */
bool gat__model_is_plain(const gat_model *model, const gat_inputs *inputs);

/* The self-loop attribute of node i [D] (i < gat__graph_added_loops) under
 * a fill rule, over the attributes edge_attr [E, D] (input order) of the
 * edges into i that are not self-loops, accumulated in double in CSR
 * order (PyG's scatter reduces over the same edges; its order does not
 * change max/min, and mean/add/mul only in the last bits). */
void gat__loop_attribute(const gat_graph *graph, const float *edge_attr, int64_t edge_dim,
                         gat_fill fill, float fill_constant, int64_t node, double *out);

#endif
