/*
 * libFuzzer target: the binary CSR loader (.gcsr), copied and mapped, with
 * and without the checksum (a fuzzed file almost never has the right
 * checksum, so GAT_LOAD_NO_VERIFY is what reaches the structure checks),
 * and gat_graph_read's sniffing. A graph that loads has its input positions
 * checked (a permutation of [0, E)) and goes through a forward pass: the structure checks must let nothing through that the kernels
 * cannot run on.
 */
#include "fuzz_common.h"

/* The input positions a loaded graph reports index edge attributes: each
 * in [0, E), none twice. */
static void fuzz_check_positions(gat_context *ctx, const gat_graph *graph)
{
    const int64_t e = gat_graph_num_edges(graph);
    int64_t *pos = malloc((size_t)(e + 1) * sizeof *pos);
    unsigned char *seen = calloc((size_t)(e + 1), 1);
    if (pos == NULL || seen == NULL || gat_graph_edge_positions(ctx, graph, false, pos) != GAT_OK)
        abort();
    for (int64_t k = 0; k < e; k++) {
        if (pos[k] < 0 || pos[k] >= e || seen[pos[k]])
            abort();
        seen[pos[k]] = 1;
    }
    free(pos);
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gat_context *ctx = fuzz_context();
    const char *path = fuzz_file(data, size);
    static const unsigned flags[] = {0, GAT_LOAD_NO_VERIFY, GAT_LOAD_MMAP | GAT_LOAD_NO_VERIFY};
    int64_t edges = -1;
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        gat_graph *graph = NULL;
        gat_status status = gat_graph_load(ctx, &graph, path, flags[k]);
        fuzz_check_failure(ctx, status);
        if ((status == GAT_OK) != (graph != NULL))
            abort();
        if (graph == NULL)
            continue;
        /* Copied and mapped loads of one file agree. */
        if (edges >= 0 && gat_graph_num_edges(graph) != edges)
            abort();
        edges = gat_graph_num_edges(graph);
        fuzz_check_positions(ctx, graph);
        fuzz_forward_graph(ctx, graph);
        gat_graph_destroy(&graph);
    }
    gat_graph *graph = NULL;
    gat_status status = gat_graph_read(ctx, &graph, path, 40);
    fuzz_check_failure(ctx, status);
    if (graph != NULL) {
        fuzz_forward_graph(ctx, graph);
        gat_graph_destroy(&graph);
    }
    return 0;
}
