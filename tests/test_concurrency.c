/*
 * The thread-safety contract of gat.h: a model and a graph are read-only
 * during forward and evaluation, so threads with contexts of their own may
 * run them at once and get the bits of a serial call; the scratch memory
 * lives in each context and is reused between its calls.
 *
 * These tests need no OpenMP (the threads are pthreads), so a build without
 * it runs them under ThreadSanitizer (the suite's filter: concurrency).
 */
#include "support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define CALLS 24 /* per thread: forwards and evaluations in turn */

/* Three layers so both ping-pong buffers are used; layer 0's shape (3 heads
 * of 5 channels) is one whose scores are stored, not taken in the edge pass,
 * so the score buffers are shared scratch too. */
typedef struct problem {
    gat_gemm gemm; /* the projection's GEMM, serial and concurrent calls alike */
    int64_t n, f, width, attended, heads_last;
    gat_model *model;
    gat_graph *graph;
    float *x;
    int64_t *labels, *index;
    float *want_out, *want_attention; /* the serial call's results */
    gat_metrics want_metrics;
} problem;

/* A context of `threads` threads computing projections with `gemm`. */
static gat_context *gemm_context(int threads, gat_gemm gemm)
{
    gat_context_options o;
    gat_context_options_init(&o);
    o.num_threads = threads;
    o.gemm = gemm;
    gat_context *ctx = NULL;
    return gat_context_create(&ctx, &o) == GAT_OK ? ctx : NULL;
}

static problem make_gemm_problem(int64_t n, int64_t e, uint64_t seed, gat_gemm gemm)
{
    problem p = {.gemm = gemm, .n = n, .f = 24};
    gat_context *ctx = gemm_context(1, gemm);
    cr_assert_not_null(ctx);
    int64_t *src = malloc((size_t)e * sizeof *src), *dst = malloc((size_t)e * sizeof *dst);
    cr_assert(src != NULL && dst != NULL);
    cr_assert_eq(gat_generate_edges(ctx, GAT_GEN_RMAT, n, e, seed, src, dst), GAT_OK);
    cr_assert_eq(gat_graph_create(ctx, &p.graph, n, e, src, dst), GAT_OK);
    free(src);
    free(dst);

    gat_layer_config c[3];
    gat_layer_config_init(&c[0], p.f, 3, 5);
    gat_layer_config_init(&c[1], 15, 2, 8);
    c[1].concat = false;
    gat_layer_config_init(&c[2], 8, 2, 4);
    c[2].add_self_loops = false;
    cr_assert_eq(gat_model_create(ctx, &p.model, 3, c, GAT_ACT_ELU), GAT_OK);
    test_randomize_model(p.model, 0.5f, seed + 1);
    p.width = gat_model_out_features(p.model);
    p.heads_last = c[2].heads;
    p.attended = gat_graph_num_attention_edges(p.graph, c[2].add_self_loops);

    p.x = malloc((size_t)(n * p.f) * sizeof(float));
    p.labels = malloc((size_t)n * sizeof(int64_t));
    p.index = malloc((size_t)n * sizeof(int64_t));
    cr_assert(p.x != NULL && p.labels != NULL && p.index != NULL);
    test_fill_uniform(p.x, n * p.f, -1.0f, 1.0f, seed + 2);
    for (int64_t i = 0; i < n; i++) {
        p.labels[i] = (i * 7 + 3) % p.width;
        p.index[i] = (i * 13) % n;
    }

    p.want_out = malloc((size_t)(n * p.width) * sizeof(float));
    p.want_attention = malloc((size_t)(p.attended * p.heads_last) * sizeof(float));
    cr_assert(p.want_out != NULL && p.want_attention != NULL);
    cr_assert_eq(gat_model_forward(ctx, p.model, p.graph, p.x, n, p.f, p.want_out,
                                   p.want_attention),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_model_evaluate(ctx, p.model, p.graph, p.x, n, p.f, p.labels, p.index, n,
                                    &p.want_metrics),
                 GAT_OK, "%s", gat_context_message(ctx));
    gat_context_destroy(&ctx);
    return p;
}

static problem make_problem(int64_t n, int64_t e, uint64_t seed)
{
    return make_gemm_problem(n, e, seed, GAT_GEMM_AUTO);
}

static void free_problem(problem *p)
{
    gat_model_destroy(&p->model);
    gat_graph_destroy(&p->graph);
    free(p->x);
    free(p->labels);
    free(p->index);
    free(p->want_out);
    free(p->want_attention);
}

typedef struct worker {
    const problem *p;
    pthread_barrier_t *start;
    int id;
    int mismatches; /* calls whose results differ from the serial call's */
    int failures;   /* calls that returned an error */
    char message[256];
} worker;

/* CALLS calls on the shared model and graph through this thread's own
 * context (2 threads: in an OpenMP build each call runs its own team):
 * forwards with and without attention, and evaluations. */
static void *run_worker(void *arg)
{
    worker *w = arg;
    const problem *p = w->p;
    gat_context *ctx = gemm_context(2, p->gemm);
    float *out = malloc((size_t)(p->n * p->width) * sizeof(float));
    float *attention = malloc((size_t)(p->attended * p->heads_last) * sizeof(float));
    if (ctx == NULL || out == NULL || attention == NULL) {
        w->failures = CALLS;
        snprintf(w->message, sizeof w->message, "thread %d: setup failed", w->id);
        pthread_barrier_wait(w->start);
        goto done;
    }
    test_parallel_always(ctx);
    pthread_barrier_wait(w->start);
    for (int call = 0; call < CALLS; call++) {
        gat_status status;
        bool same;
        if ((call + w->id) % 3 == 2) {
            gat_metrics m;
            status = gat_model_evaluate(ctx, p->model, p->graph, p->x, p->n, p->f, p->labels,
                                        p->index, p->n, &m);
            same = memcmp(&m.loss, &p->want_metrics.loss, sizeof m.loss) == 0 &&
                   memcmp(&m.accuracy, &p->want_metrics.accuracy, sizeof m.accuracy) == 0;
        } else {
            const bool with_attention = (call + w->id) % 3 == 1;
            memset(out, 0xff, (size_t)(p->n * p->width) * sizeof(float));
            status = gat_model_forward(ctx, p->model, p->graph, p->x, p->n, p->f, out,
                                       with_attention ? attention : NULL);
            same = memcmp(out, p->want_out, (size_t)(p->n * p->width) * sizeof(float)) == 0 &&
                   (!with_attention ||
                    memcmp(attention, p->want_attention,
                           (size_t)(p->attended * p->heads_last) * sizeof(float)) == 0);
        }
        if (status != GAT_OK) {
            if (w->failures++ == 0)
                snprintf(w->message, sizeof w->message, "thread %d call %d: %s", w->id, call,
                         gat_context_message(ctx));
        } else if (!same) {
            w->mismatches++;
        }
    }
done:
    gat_context_destroy(&ctx);
    free(out);
    free(attention);
    return NULL;
}

static void run_concurrently(const problem *p)
{
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){.p = p, .start = &start, .id = t};
        cr_assert_eq(pthread_create(&threads[t], NULL, run_worker, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < THREADS; t++) {
        cr_expect_eq(workers[t].failures, 0, "%s", workers[t].message);
        cr_expect_eq(workers[t].mismatches, 0,
                     "thread %d: %d of %d calls differ from the serial call", t,
                     workers[t].mismatches, CALLS);
    }
}

/* Bits compared exactly: the contract is the serial call's bits, and the
 * library's results do not depend on the thread count. */
Test(concurrency, shared_model_and_graph_same_bits_as_serial)
{
    problem p = make_problem(3000, 30000, 11);
    run_concurrently(&p);
    free_problem(&p);
}

/* Both GEMMs: OpenBLAS called from several threads' teams at once, and the
 * built-in kernel (GAT_GEMM_AUTO picks one of them). */
Test(concurrency, shared_model_with_each_gemm)
{
    const gat_gemm gemms[] = {GAT_GEMM_BUILTIN, GAT_GEMM_BLAS};
    for (size_t g = 0; g < sizeof gemms / sizeof gemms[0]; g++) {
        if (gemms[g] == GAT_GEMM_BLAS && !gat_have_blas())
            continue;
        problem p = make_gemm_problem(1500, 12000, 21 + g, gemms[g]);
        run_concurrently(&p);
        free_problem(&p);
    }
}

/* Small graph: the calls are short, so they overlap in many more phases. */
Test(concurrency, shared_small_graph_same_bits_as_serial)
{
    problem p = make_problem(97, 600, 5);
    run_concurrently(&p);
    free_problem(&p);
}

/* One context reused across graphs of different sizes (its scratch grown,
 * then reused larger than needed) and across models: the bits of a fresh
 * context each time. */
Test(concurrency, context_scratch_reused_across_graphs_and_models)
{
    problem big = make_problem(2000, 16000, 3), small = make_problem(150, 900, 4);
    gat_context *ctx = test_context(2, NULL);
    test_parallel_always(ctx);
    const problem *order[] = {&small, &big, &small, &big, &big, &small};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const problem *p = order[k];
        float *out = malloc((size_t)(p->n * p->width) * sizeof(float));
        float *attention = malloc((size_t)(p->attended * p->heads_last) * sizeof(float));
        cr_assert(out != NULL && attention != NULL);
        cr_assert_eq(gat_model_forward(ctx, p->model, p->graph, p->x, p->n, p->f, out,
                                       k % 2 ? attention : NULL),
                     GAT_OK, "%s", gat_context_message(ctx));
        cr_expect_eq(memcmp(out, p->want_out, (size_t)(p->n * p->width) * sizeof(float)), 0,
                     "call %zu (%lld nodes): output differs from a fresh context's", k,
                     (long long)p->n);
        if (k % 2)
            cr_expect_eq(memcmp(attention, p->want_attention,
                                (size_t)(p->attended * p->heads_last) * sizeof(float)),
                         0, "call %zu: attention differs from a fresh context's", k);
        free(out);
        free(attention);
        if (k == 3)
            gat_context_trim(ctx); /* the next call allocates again */
    }
    gat_context_destroy(&ctx);
    free_problem(&big);
    free_problem(&small);
}

/* The scratch is reused: a repeated forward on one context allocates no
 * buffer sized by the graph (what it still allocates per call, packed
 * weights and per-thread rows of a few floats, is sized by the model). */
Test(concurrency, repeated_forward_allocates_nothing)
{
    problem p = make_problem(5000, 20000, 9);
    test_counting counting;
    gat_context *ctx = test_counting_context(&counting, 2);
    float *out = malloc((size_t)(p.n * p.width) * sizeof(float));
    cr_assert(out != NULL);
    cr_assert_eq(gat_model_forward(ctx, p.model, p.graph, p.x, p.n, p.f, out, NULL), GAT_OK);
    const int64_t live = counting.live;
    test_counting_arm(&counting, 0);
    counting.largest = 0;
    cr_assert_eq(gat_model_forward(ctx, p.model, p.graph, p.x, p.n, p.f, out, NULL), GAT_OK);
    cr_expect_lt(counting.largest, (size_t)p.n * sizeof(float),
                 "the second forward asked for %zu bytes", (size_t)counting.largest);
    cr_expect_eq(memcmp(out, p.want_out, (size_t)(p.n * p.width) * sizeof(float)), 0);
    cr_expect_eq(counting.live, live);
    gat_context_trim(ctx);
    cr_expect_eq(counting.live, 1, "after trim only the context's own block is live");
    free(out);
    gat_context_destroy(&ctx);
    free_problem(&p);
}
