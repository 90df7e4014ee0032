/*
 * A model built in code: two GATConv layers configured as PyG would be,
 * parameters set through gat_model_layer_params (PyG's layout and names),
 * saved in the safetensors format gat-infer reads, loaded back and run on
 * a small graph given as COO arrays. Checks that the reloaded model gives
 * the same bits as the one in memory.
 *
 *   cc build_model.c $(pkg-config --cflags --libs gat) -o build_model
 *   ./build_model OUT.safetensors
 */
#include <gat.h>

#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                                           \
    do {                                                                                      \
        gat_status status_ = (call);                                                          \
        if (status_ != GAT_OK) {                                                              \
            fprintf(stderr, "%s: %s\n", gat_status_str(status_),                              \
                    ctx != NULL ? gat_context_message(ctx) : "");                             \
            return 1;                                                                         \
        }                                                                                     \
    } while (0)

enum { NODES = 5, FEATURES = 3, EDGES = 6 };

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.safetensors\n", argv[0]);
        return 2;
    }
    gat_context *ctx = NULL;
    CHECK(gat_context_create(&ctx, NULL));

    /* GATConv(3, 4, heads=2) then GATConv(8, 2, heads=1, concat=False). */
    gat_layer_config layers[2];
    gat_layer_config_init(&layers[0], FEATURES, 2, 4);
    gat_layer_config_init(&layers[1], 8, 1, 2);
    layers[1].concat = false;
    gat_model *model = NULL;
    CHECK(gat_model_create(ctx, &model, 2, layers, GAT_ACT_ELU));
    CHECK(gat_model_init_glorot(ctx, model, 42));
    /* Parameters are writable in place: give layer 0 a non-zero bias. */
    gat_layer_params p;
    CHECK(gat_model_layer_params(model, 0, &p));
    for (int k = 0; k < 8; k++)
        p.bias[k] = 0.01f * (float)k;
    CHECK(gat_model_save(ctx, model, argv[1]));

    /* Edge src[k] -> dst[k], as a column of PyG's edge_index. */
    const int64_t src[EDGES] = {0, 1, 2, 3, 4, 0}, dst[EDGES] = {1, 2, 3, 4, 0, 2};
    gat_graph *graph = NULL;
    CHECK(gat_graph_create(ctx, &graph, NODES, EDGES, src, dst));
    float x[NODES * FEATURES];
    for (int k = 0; k < NODES * FEATURES; k++)
        x[k] = (float)(k % 7) - 3.0f;

    float y[NODES * 2], y_loaded[NODES * 2];
    CHECK(gat_model_forward(ctx, model, graph, x, NODES, FEATURES, y, NULL));
    gat_model *loaded = NULL;
    CHECK(gat_model_load(ctx, &loaded, argv[1]));
    CHECK(gat_model_forward(ctx, loaded, graph, x, NODES, FEATURES, y_loaded, NULL));
    const int same = memcmp(y, y_loaded, sizeof y) == 0;
    for (int i = 0; i < NODES; i++)
        printf("node %d: % .6f % .6f\n", i, y[2 * i], y[2 * i + 1]);
    printf("saved %s; reloaded model gives %s\n", argv[1],
           same ? "the same bits" : "DIFFERENT values");

    gat_model_destroy(&loaded);
    gat_model_destroy(&model);
    gat_graph_destroy(&graph);
    gat_context_destroy(&ctx);
    return same ? 0 : 1;
}
