/*
 * libFuzzer target: the text edge-list reader (and, through zlib's
 * transparent reading, .gz input when the bytes start with the gzip magic).
 * Each input is read three ways: with N taken from the ids, through the
 * raw COO reader, and against a small N, so that range errors are reached
 * too. A graph that loads goes through a forward pass.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gat_context *ctx = fuzz_context();
    const char *path = fuzz_file(data, size);

    gat_graph *graph = NULL;
    gat_status status = gat_graph_read_edgelist(ctx, &graph, path, -1);
    fuzz_check_failure(ctx, status);
    if ((status == GAT_OK) != (graph != NULL))
        abort();
    if (graph != NULL) {
        fuzz_forward_graph(ctx, graph);
        gat_graph_destroy(&graph);
    }

    int64_t *src = NULL, *dst = NULL, count = -1, max_id = -2;
    status = gat_edgelist_read(ctx, path, -1, &src, &dst, &count, &max_id);
    fuzz_check_failure(ctx, status);
    if (status == GAT_OK) {
        if (src == NULL || dst == NULL || count < 0 || max_id < -1)
            abort();
        for (int64_t k = 0; k < count; k++)
            if (src[k] < 0 || dst[k] < 0 || src[k] > max_id || dst[k] > max_id)
                abort();
    } else if (src != NULL || dst != NULL) {
        abort();
    }
    gat_free(ctx, src);
    gat_free(ctx, dst);

    status = gat_graph_read_edgelist(ctx, &graph, path, 37);
    fuzz_check_failure(ctx, status);
    if (graph != NULL) {
        if (gat_graph_num_nodes(graph) != 37)
            abort();
        fuzz_forward_graph(ctx, graph);
        gat_graph_destroy(&graph);
    }
    return 0;
}
