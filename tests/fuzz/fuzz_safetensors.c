/*
 * libFuzzer target: the safetensors model loader, end to end. A model that
 * loads is run on a 5-node graph (duplicate edges, a self-loop, an isolated
 * node) with the in_features the file declares, so the shapes it accepted
 * are the shapes the kernels get; then saved and loaded again, which must
 * give the same configuration and the same parameter bits.
 */
#include "fuzz_common.h"

#include <stdbool.h>

static bool same_model(gat_model *a, gat_model *b)
{
    if (gat_model_num_layers(a) != gat_model_num_layers(b) ||
        gat_model_activation(a) != gat_model_activation(b))
        return false;
    for (int l = 0; l < gat_model_num_layers(a); l++) {
        gat_layer_config ca, cb;
        gat_layer_params pa, pb;
        gat_model_layer_config(a, l, &ca);
        gat_model_layer_config(b, l, &cb);
        gat_model_layer_params(a, l, &pa);
        gat_model_layer_params(b, l, &pb);
        if (ca.in_features != cb.in_features || ca.heads != cb.heads ||
            ca.channels != cb.channels || ca.concat != cb.concat || ca.bias != cb.bias ||
            ca.add_self_loops != cb.add_self_loops ||
            memcmp(&ca.negative_slope, &cb.negative_slope, sizeof(float)) != 0)
            return false;
        const size_t hc = (size_t)(ca.heads * ca.channels);
        const size_t width = ca.concat ? hc : (size_t)ca.channels;
        if (memcmp(pa.weight, pb.weight, hc * (size_t)ca.in_features * sizeof(float)) != 0 ||
            memcmp(pa.att_src, pb.att_src, hc * sizeof(float)) != 0 ||
            memcmp(pa.att_dst, pb.att_dst, hc * sizeof(float)) != 0 ||
            (ca.bias && memcmp(pa.bias, pb.bias, width * sizeof(float)) != 0))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gat_context *ctx = fuzz_context();
    static gat_graph *graph;
    static char saved[64];
    if (graph == NULL) {
        const int64_t src[] = {0, 1, 1, 2, 3, 3, 0}, dst[] = {1, 2, 2, 0, 3, 0, 2};
        if (gat_graph_create(ctx, &graph, 5, 7, src, dst) != GAT_OK)
            abort();
        snprintf(saved, sizeof saved, "/dev/shm/gat-fuzz-%d.safetensors", (int)getpid());
    }
    const char *path = fuzz_file(data, size);
    gat_model *model = NULL;
    gat_status status = gat_model_load(ctx, &model, path);
    fuzz_check_failure(ctx, status);
    if ((status == GAT_OK) != (model != NULL))
        abort();
    if (model == NULL)
        return 0;

    const int64_t n = 5, f = gat_model_in_features(model), width = gat_model_out_features(model);
    gat_layer_config last;
    gat_model_layer_config(model, gat_model_num_layers(model) - 1, &last);
    const int64_t e = gat_graph_num_attention_edges(graph, last.add_self_loops);
    float *x = malloc((size_t)(n * f) * sizeof *x);
    float *out = malloc((size_t)(n * width) * sizeof *out);
    float *att = malloc((size_t)(e * last.heads) * sizeof *att);
    if (!x || !out || !att)
        abort();
    for (int64_t k = 0; k < n * f; k++)
        x[k] = (float)(k % 7) * 0.25f - 0.75f;
    status = gat_model_forward(ctx, model, graph, x, n, f, out, att);
    fuzz_check_failure(ctx, status);
    /* Values are not checked: finite float32 parameters may still overflow
     * to inf in a sum. What matters here is what the sanitizers see. */
    free(x);
    free(out);
    free(att);

    status = gat_model_save(ctx, model, saved);
    fuzz_check_failure(ctx, status);
    if (status == GAT_OK) {
        gat_model *again = NULL;
        if (gat_model_load(ctx, &again, saved) != GAT_OK)
            abort(); /* what we write we must read */
        if (!same_model(model, again))
            abort();
        gat_model_destroy(&again);
        unlink(saved);
    }
    gat_model_destroy(&model);
    return 0;
}
