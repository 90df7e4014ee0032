/*
 * gat_graph_partition: the partition and halo volumes a distributed run
 * would have at P ranks, computed in one process (for sizing a cluster
 * run: docs/distributed.md).
 */
#include "partition.h"

#include <string.h>

static gat_status row_ptr_in_memory(gat_context *ctx, const void *source, int64_t i,
                                    int64_t *value)
{
    (void)ctx;
    *value = ((const gat_graph *)source)->row_ptr[i];
    return GAT_OK;
}

gat_status gat_graph_partition(gat_context *ctx, const gat_graph *graph, int parts,
                               gat_partition_part *out)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (graph == NULL || out == NULL || parts < 1)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "gat_graph_partition: a graph, an output and at least 1 part are "
                         "required (%d parts)", parts);
    gat_status status;
    int64_t *bounds = gat__alloc_array(ctx, (int64_t)parts + 1, sizeof *bounds,
                                       "partition bounds", &status);
    if (bounds == NULL)
        return status;
    status = gat__partition_bounds(ctx, row_ptr_in_memory, graph, graph->num_nodes,
                                   graph->num_edges, parts, bounds);
    memset(out, 0, (size_t)parts * sizeof *out);
    for (int r = 0; r < parts && status == GAT_OK; r++) {
        gat__halo h;
        const int64_t *row_ptr = graph->row_ptr + bounds[r];
        status = gat__halo_build(ctx, &h, bounds, parts, r, graph->num_nodes, row_ptr,
                                 graph->col + row_ptr[0], false);
        if (status != GAT_OK)
            break;
        out[r].first_row = h.first;
        out[r].rows = h.rows;
        out[r].edges = h.edges;
        out[r].interior_rows = h.interior;
        out[r].halo_rows = h.halo;
        for (int q = 0; q < parts; q++) {
            const int64_t count = h.recv_start[q + 1] - h.recv_start[q];
            if (count > 0) {
                out[r].recv_neighbours++;
                out[q].send_rows += count;
                out[q].send_neighbours++;
            }
        }
        gat__halo_free(ctx, &h);
    }
    gat__free_raw(&ctx->allocator, bounds);
    return status;
}
