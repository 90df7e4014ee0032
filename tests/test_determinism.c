/*
 * Training's bits depend on nothing but the inputs: not on the context's
 * thread count, not on OpenMP's own thread-count setting (OMP_NUM_THREADS,
 * which a BLAS reads when called outside a parallel region), and not on
 * whether a call happens inside another parallel region (as gat_trainer_fit
 * runs a step beside an evaluation). Dense input and a plan of training
 * rows send the weight gradients through the BLAS path.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { N = 900, E = 5400, F = 40, CLASSES = 5, STEPS = 3 };

/* Trains STEPS steps and returns every parameter, concatenated (malloc'd). */
static float *train(int threads, int omp_threads, bool nested, int64_t *count)
{
#ifdef _OPENMP
    omp_set_num_threads(omp_threads);
#else
    (void)omp_threads;
#endif
    gat_context *ctx = test_context(threads, NULL);
    int64_t src[E], dst[E], labels[N], index[N / 3];
    cr_assert_eq(gat_generate_edges(ctx, GAT_GEN_RMAT, N, E, 3, src, dst), GAT_OK);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, N, E, src, dst), GAT_OK);
    float *x = malloc(sizeof *x * N * F);
    test_fill_uniform(x, N * F, -1.0f, 1.0f, 5);
    for (int64_t i = 0; i < N; i++)
        labels[i] = i % CLASSES;
    for (int64_t k = 0; k < N / 3; k++)
        index[k] = 3 * k;
    gat_layer_config layers[2];
    gat_layer_config_init(&layers[0], F, 4, 8);
    gat_layer_config_init(&layers[1], 32, 1, CLASSES);
    layers[1].concat = false;
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 2, layers, GAT_ACT_ELU), GAT_OK);
    cr_assert_eq(gat_model_init_glorot(ctx, m, 9), GAT_OK);
    gat_trainer_options o;
    gat_trainer_options_init(&o);
    o.dropout = 0.3;
    o.attention_dropout = 0.3;
    o.input_format = GAT_INPUT_DENSE;
    gat_trainer *t = NULL;
    cr_assert_eq(gat_trainer_create(ctx, &t, m, g, x, N, F, &o), GAT_OK, "%s",
                 gat_context_message(ctx));
    for (int s = 0; s < STEPS; s++) {
        gat_status status = GAT_OK;
        if (nested) {
#ifdef _OPENMP
#pragma omp parallel num_threads(2)
#pragma omp single
#endif
            status = gat_trainer_step(ctx, t, labels, index, N / 3, NULL);
        } else {
            status = gat_trainer_step(ctx, t, labels, index, N / 3, NULL);
        }
        cr_assert_eq(status, GAT_OK, "%s", gat_context_message(ctx));
    }
    *count = 0;
    for (int l = 0; l < 2; l++) {
        gat_layer_config c;
        gat_model_layer_config(m, l, &c);
        const int64_t hc = c.heads * c.channels;
        *count += hc * c.in_features + 2 * hc + (c.concat ? hc : c.channels);
    }
    float *params = malloc(sizeof *params * (size_t)*count), *p = params;
    for (int l = 0; l < 2; l++) {
        gat_layer_config c;
        gat_layer_params lp;
        gat_model_layer_config(m, l, &c);
        gat_model_layer_params(m, l, &lp);
        const int64_t hc = c.heads * c.channels, w = c.concat ? hc : c.channels;
        memcpy(p, lp.weight, sizeof *p * (size_t)(hc * c.in_features));
        p += hc * c.in_features;
        memcpy(p, lp.att_src, sizeof *p * (size_t)hc);
        p += hc;
        memcpy(p, lp.att_dst, sizeof *p * (size_t)hc);
        p += hc;
        memcpy(p, lp.bias, sizeof *p * (size_t)w);
        p += w;
    }
    gat_trainer_destroy(&t);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free(x);
    return params;
}

Test(determinism, training_bits_ignore_thread_settings_and_nesting)
{
    int64_t count = 0, other = 0;
    float *want = train(1, 1, false, &count);
    const struct {
        int threads, omp_threads;
        bool nested;
    } runs[] = {{2, 2, false}, {2, 1, false}, {1, 2, false}, {2, 2, true}, {1, 1, true}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        float *got = train(runs[r].threads, runs[r].omp_threads, runs[r].nested, &other);
        cr_assert_eq(other, count);
        cr_assert(memcmp(got, want, sizeof *got * (size_t)count) == 0,
                  "threads %d, OpenMP threads %d, %s: the parameters differ from 1 thread's",
                  runs[r].threads, runs[r].omp_threads, runs[r].nested ? "nested" : "not nested");
        free(got);
    }
    free(want);
}
