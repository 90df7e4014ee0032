/*
 * A forward's inputs: their checks against model and graph, and the
 * self-loop attributes that edge features need (PyG's add_self_loops with
 * a fill_value).
 */
#include "family.h"

#include <math.h>
#include <string.h>

void gat_inputs_init(gat_inputs *inputs, const float *x, int64_t num_nodes, int64_t in_features)
{
    if (inputs == NULL)
        return;
    memset(inputs, 0, sizeof *inputs);
    inputs->x = x;
    inputs->num_nodes = num_nodes;
    inputs->in_features = in_features;
}

bool gat__model_is_plain(const gat_model *model, const gat_inputs *inputs)
{
    if (inputs->x_dst != NULL)
        return false;
    for (int l = 0; l < model->num_layers; l++)
        if (!gat__layer_is_plain(&model->layers[l].config))
            return false;
    return true;
}

/* The edge attributes: required by a layer with edge_dim, one width for all. */
static gat_status check_edge_inputs(gat_context *ctx, const gat_model *model,
                                    const gat_graph *graph, const gat_inputs *in)
{
    for (int l = 0; l < model->num_layers; l++) {
        const int64_t d = model->layers[l].config.edge_dim;
        if (d == 0)
            continue;
        if (in->edge_attr == NULL)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "forward: layer %d has edge features (edge_dim %lld) but no "
                             "edge_attr was given",
                             l, (long long)d);
        if (in->edge_dim != d)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "forward: edge_attr has %lld columns but layer %d has edge_dim %lld",
                             (long long)in->edge_dim, l, (long long)d);
        if (in->num_edges != graph->num_edges)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "forward: edge_attr has %lld rows but the graph has %lld edges "
                             "(one row per edge as given, self-loops included)",
                             (long long)in->num_edges, (long long)graph->num_edges);
    }
    return GAT_OK;
}

gat_status gat__forward_check_inputs(gat_context *ctx, const gat_model *model,
                                     const gat_graph *graph, const gat_inputs *in,
                                     const float *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (model == NULL || graph == NULL || in == NULL || in->x == NULL || out == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "forward: model, graph, x and out are required");
    const bool bipartite = graph->num_src_nodes != graph->num_nodes;
    if (in->num_nodes != graph->num_src_nodes)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         bipartite ? "forward: x has %lld rows but the graph has %lld source nodes"
                                   : "forward: x has %lld rows but the graph has %lld nodes",
                         (long long)in->num_nodes, (long long)graph->num_src_nodes);
    const gat_layer_config *first = &model->layers[0].config;
    if (in->in_features != first->in_features)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "forward: x has %lld columns but layer 0 expects %lld",
                         (long long)in->in_features, (long long)first->in_features);
    if (bipartite && model->num_layers > 1)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "forward: a bipartite graph (%lld sources, %lld destinations) runs "
                         "one layer, not %d",
                         (long long)graph->num_src_nodes, (long long)graph->num_nodes,
                         model->num_layers);
    const int64_t f_dst = gat_layer_dst_features(first);
    if (in->x_dst != NULL) {
        if (in->num_dst_nodes != graph->num_nodes)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "forward: x_dst has %lld rows but the graph has %lld destination "
                             "nodes",
                             (long long)in->num_dst_nodes, (long long)graph->num_nodes);
        if (in->dst_features != f_dst)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "forward: x_dst has %lld columns but layer 0 expects %lld",
                             (long long)in->dst_features, (long long)f_dst);
    } else if (bipartite) {
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "forward: a bipartite graph needs x_dst (features of its %lld "
                         "destination nodes)",
                         (long long)graph->num_nodes);
    } else if (f_dst != first->in_features) {
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "forward: layer 0 reads destination features of width %lld: x_dst "
                         "is required",
                         (long long)f_dst);
    }
    return check_edge_inputs(ctx, model, graph, in);
}

void gat__loop_attribute(const gat_graph *g, const float *edge_attr, bool csr_order, int64_t d,
                         gat_fill fill, float fill_constant, int64_t i, double *out)
{
    gat__loop_fill_start(fill, fill_constant, d, out);
    if (fill == GAT_FILL_CONSTANT)
        return;
    int64_t count = 0;
    for (int64_t k = g->row_ptr[i]; k < g->row_ptr[i + 1]; k++) {
        if (g->col[k] == i)
            continue;
        gat__loop_fill_add(fill, count++,
                           edge_attr + (csr_order ? k : gat__graph_edge_position(g, k)) * d, d,
                           out);
    }
    gat__loop_fill_end(fill, count, d, out);
}
