/*
 * One training step's loss and gradients, from one process (gat_trainer)
 * or from every rank of an MPI job (gat_dist_trainer), written to a file
 * for tests/mpi_train.sh to compare with cmp (issue 17: the same bits).
 *
 *   train_check GRAPH.gcsr X.npy MODEL.safetensors OUT.bin [dropout]
 *
 * Labels and targets are functions of the node id: label (7 i + 3) % K;
 * targets every 13th node, one listed twice.
 */
#include "gat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(gat_context *ctx, const char *what)
{
    fprintf(stderr, "train_check: %s: %s\n", what, ctx ? gat_context_message(ctx) : "");
    return 1;
}

static void dump(FILE *f, const float *v, int64_t n)
{
    if (v != NULL)
        fwrite(v, sizeof *v, (size_t)n, f);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: train_check GRAPH X MODEL OUT [dropout]\n");
        return 2;
    }
    const double rate = argc > 5 ? atof(argv[5]) : 0.0;
    const bool dist = gat_dist_launched();
    gat_context *ctx = NULL;
    if (gat_context_create(&ctx, NULL) != GAT_OK)
        return fail(NULL, "context");
    int rank = 0, ranks = 1;
    if (dist && gat_dist_init(ctx, &rank, &ranks) != GAT_OK)
        return fail(ctx, "init");
    gat_model *model = NULL;
    gat_array *x = NULL;
    if (gat_model_load(ctx, &model, argv[3]) != GAT_OK)
        return fail(ctx, "model");
    if (gat_npy_read(ctx, argv[2], GAT_FLOAT32, &x) != GAT_OK) /* N only */
        return fail(ctx, "features");
    const int64_t n = x->shape[0], f = x->shape[1], k = gat_model_out_features(model);
    int64_t *labels = malloc((size_t)n * sizeof *labels), *index = malloc((size_t)n * sizeof *index);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        labels[i] = (7 * i + 3) % k;
        if (i % 13 == 0)
            index[count++] = i;
    }
    const int64_t repeat = index[count / 2];
    index[count++] = repeat; /* a repeat counts twice */
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = rate;
    o.attention_dropout = rate;
    o.seed = 1;
    gat_metrics m;
    gat_layer_params g[16];
    gat_trainer *t = NULL;
    gat_dist_trainer *dt = NULL;
    gat_graph *graph = NULL;
    if (dist) {
        gat_dist_train_options d;
        gat_dist_train_options_init(&d);
        d.graph = argv[1];
        d.features = argv[2];
        if (gat_dist_trainer_create(ctx, &dt, model, &d, &o) != GAT_OK ||
            gat_dist_trainer_gradients_step(ctx, dt, labels, index, count, &m) != GAT_OK)
            return fail(ctx, "distributed step");
        for (int l = 0; l < gat_model_num_layers(model); l++)
            gat_dist_trainer_gradients(dt, l, &g[l]);
    } else {
        if (gat_graph_read(ctx, &graph, argv[1], n) != GAT_OK)
            return fail(ctx, "graph");
        if (gat_model_preprocess(ctx, model, x->data, n, f) != GAT_OK)
            return fail(ctx, "preprocess");
        if (gat_trainer_create(ctx, &t, model, graph, x->data, n, f, &o) != GAT_OK ||
            gat_trainer_step(ctx, t, labels, index, count, &m) != GAT_OK)
            return fail(ctx, "step");
        for (int l = 0; l < gat_model_num_layers(model); l++)
            gat_trainer_gradients(t, l, &g[l]);
    }
    if (rank == 0) {
        FILE *out = fopen(argv[4], "wb");
        if (out == NULL)
            return fail(NULL, argv[4]);
        fwrite(&m, sizeof m, 1, out);
        for (int l = 0; l < gat_model_num_layers(model); l++) {
            gat_layer_config c;
            gat_model_layer_config(model, l, &c);
            const int64_t hc = c.heads * c.channels, w = c.concat ? hc : c.channels;
            dump(out, g[l].weight, hc * c.in_features);
            dump(out, g[l].att_src, hc);
            dump(out, g[l].att_dst, hc);
            dump(out, g[l].bias, w);
        }
        fclose(out);
        printf("loss %.17g accuracy %.17g\n", m.loss, m.accuracy);
    }
    gat_dist_trainer_destroy(&dt);
    gat_trainer_destroy(&t);
    gat_graph_destroy(&graph);
    gat_array_destroy(&x);
    gat_model_destroy(&model);
    free(labels);
    free(index);
    if (dist)
        gat_dist_finalize();
    gat_context_destroy(&ctx);
    return 0;
}
