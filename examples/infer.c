/*
 * Inference with libgat: read a graph, features and a model, run the
 * model, write the output. Every status is checked; on an error the
 * context's message names the file and place.
 *
 *   cc infer.c $(pkg-config --cflags --libs gat) -o infer
 *   ./infer EDGES FEATURES.npy MODEL.safetensors OUT.npy
 */
#include <gat.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s EDGES FEATURES.npy MODEL.safetensors OUT.npy\n", argv[0]);
        return 2;
    }
    gat_context *ctx = NULL;
    gat_array *x = NULL;
    gat_graph *g = NULL;
    gat_model *m = NULL;
    float *y = NULL;
    gat_status s = gat_context_create(&ctx, NULL);
    if (s != GAT_OK) {
        fprintf(stderr, "cannot create a context: %s\n", gat_status_str(s));
        return 1;
    }
    /* x: [N, F] float32 (a float64 file is converted). */
    s = gat_npy_read(ctx, argv[2], GAT_FLOAT32, &x);
    if (s == GAT_OK && x->ndim != 2) {
        fprintf(stderr, "%s: expected a 2-D array\n", argv[2]);
        s = GAT_ERR_INVALID;
        goto done;
    }
    /* The graph has one node per feature row; an id >= N is an error. */
    if (s == GAT_OK)
        s = gat_graph_read(ctx, &g, argv[1], x->shape[0]);
    if (s == GAT_OK)
        s = gat_model_load(ctx, &m, argv[3]);
    if (s != GAT_OK)
        goto done;
    const int64_t n = x->shape[0], width = gat_model_out_features(m);
    y = malloc(sizeof *y * (size_t)(n * width > 0 ? n * width : 1));
    if (y == NULL) {
        fprintf(stderr, "out of memory\n");
        s = GAT_ERR_NOMEM;
        goto done;
    }
    s = gat_model_forward(ctx, m, g, x->data, n, x->shape[1], y, NULL);
    if (s == GAT_OK)
        s = gat_npy_write_f32(ctx, argv[4], y, 2, (int64_t[]){n, width});
    if (s == GAT_OK)
        printf("%s: %lld nodes x %lld outputs\n", argv[4], (long long)n, (long long)width);
done:
    if (s != GAT_OK && gat_context_message(ctx)[0] != '\0')
        fprintf(stderr, "%s\n", gat_context_message(ctx));
    free(y);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_array_destroy(&x);
    gat_context_destroy(&ctx);
    return s == GAT_OK ? 0 : 1;
}
