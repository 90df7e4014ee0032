/*
 * Training with libgat on a graph it generates: an R-MAT graph whose
 * nodes carry a planted class (features are a noisy one-hot of it, and
 * most edges join nodes of the same class, so attention has something to
 * find), a two-layer GAT built in code, Adam with early stopping on a
 * validation split, and the accuracy on held-out nodes.
 *
 *   cc train.c $(pkg-config --cflags --libs gat) -o train
 *   ./train [NODES]
 */
#include <gat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                           \
    do {                                                                                      \
        status = (call);                                                                      \
        if (status != GAT_OK)                                                                 \
            goto done;                                                                        \
    } while (0)

enum { CLASSES = 4, FEATURES = 16 };

/* A small counter-based hash, so the data set is the same everywhere. */
static double unit(uint64_t key)
{
    key += 0x9E3779B97F4A7C15ull;
    key = (key ^ (key >> 30)) * 0xBF58476D1CE4E5B9ull;
    key = (key ^ (key >> 27)) * 0x94D049BB133111EBull;
    return (double)((key ^ (key >> 31)) >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    const int64_t n = argc > 1 ? atoll(argv[1]) : 2000, e = 8 * n;
    if (n < 100 || n > 10000000) {
        fprintf(stderr, "usage: %s [NODES in 100..10000000]\n", argv[0]);
        return 2;
    }
    gat_status status = GAT_OK;
    gat_context *ctx = NULL;
    gat_graph *graph = NULL;
    gat_model *model = NULL;
    gat_trainer *trainer = NULL;
    int64_t *src = malloc(sizeof *src * (size_t)e), *dst = malloc(sizeof *dst * (size_t)e);
    int64_t *labels = malloc(sizeof *labels * (size_t)n);
    int64_t *index = malloc(sizeof *index * (size_t)n);
    float *x = malloc(sizeof *x * (size_t)(n * FEATURES));
    if (!src || !dst || !labels || !index || !x) {
        fprintf(stderr, "out of memory\n");
        status = GAT_ERR_NOMEM;
        goto done;
    }
    CHECK(gat_context_create(&ctx, NULL));

    for (int64_t i = 0; i < n; i++) {
        labels[i] = i % CLASSES; /* R-MAT scrambles ids: no pattern in the graph */
        for (int f = 0; f < FEATURES; f++) /* weak signal, strong noise */
            x[i * FEATURES + f] = (float)(unit((uint64_t)(i * FEATURES + f) + 77) +
                                          (f % CLASSES == labels[i] ? 0.35 : 0.0));
    }
    /* Homophily: 80% of the edges move their source to a nearby node of the
     * destination's class. */
    CHECK(gat_generate_edges(ctx, GAT_GEN_RMAT, n, e, 7, src, dst));
    for (int64_t k = 0; k < e; k++)
        if (unit((uint64_t)k + 999) < 0.8) {
            int64_t j = src[k] - src[k] % CLASSES + labels[dst[k]];
            src[k] = j < n ? j : j - CLASSES;
        }
    CHECK(gat_graph_create(ctx, &graph, n, e, src, dst));

    gat_layer_config layers[2];
    gat_layer_config_init(&layers[0], FEATURES, 8, 8);
    gat_layer_config_init(&layers[1], 64, 1, CLASSES);
    layers[1].concat = false;
    CHECK(gat_model_create(ctx, &model, 2, layers, GAT_ACT_ELU));
    CHECK(gat_model_init_glorot(ctx, model, 1));

    gat_trainer_options options;
    gat_trainer_options_init(&options);
    options.learning_rate = 0.005;
    options.weight_decay = 5e-4;
    options.dropout = 0.2;
    options.attention_dropout = 0.2;
    options.seed = 1;
    CHECK(gat_trainer_create(ctx, &trainer, model, graph, x, n, FEATURES, &options));

    /* Splits: 20% train, 20% validation, the rest test. */
    for (int64_t i = 0; i < n; i++)
        index[i] = i;
    const int64_t train = n / 5, val = n / 5, test = n - train - val;
    gat_fit_options fit;
    gat_fit_options_init(&fit);
    fit.max_epochs = 200;
    fit.patience = 20;
    gat_fit_result result;
    CHECK(gat_trainer_fit(ctx, trainer, labels, index, train, index + train, val, &fit,
                          &result));
    gat_metrics metrics;
    CHECK(gat_model_evaluate(ctx, model, graph, x, n, FEATURES, labels, index + train + val, test,
                             &metrics));
    printf("%lld nodes, %lld edges: %lld epochs (kept %lld), validation accuracy %.3f, test "
           "accuracy %.3f\n",
           (long long)n, (long long)e, (long long)result.epochs, (long long)result.best_epoch,
           result.best_val.accuracy, metrics.accuracy);
    if (metrics.accuracy < 0.5) {
        fprintf(stderr, "test accuracy %.3f: the planted classes were not learnt\n",
                metrics.accuracy);
        status = GAT_ERR_INVALID;
    }
done:
    if (status != GAT_OK && ctx != NULL && gat_context_message(ctx)[0] != '\0')
        fprintf(stderr, "%s\n", gat_context_message(ctx));
    gat_trainer_destroy(&trainer);
    gat_model_destroy(&model);
    gat_graph_destroy(&graph);
    gat_context_destroy(&ctx);
    free(src);
    free(dst);
    free(labels);
    free(index);
    free(x);
    return status == GAT_OK ? 0 : 1;
}
