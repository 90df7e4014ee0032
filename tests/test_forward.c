/*
 * Forward pass against independent twins: the dense masked formulation
 * (tests/support.c) and the library's sparse double-precision reference.
 *
 * Tolerance: |got - want| <= 1e-4 * |want| + 1e-5 * max|want|. The fast path
 * sums F_in products and up to a row's degree of terms in float32 (about
 * 1e-6 relative error each, growing with the sum's length and the softmax's
 * exp); the reference is float64. 1e-4 relative is the acceptance bar for
 * matching PyG; the absolute term, scaled to the output, covers values that
 * cancel to near zero.
 */
#include "kernels.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-4
#define ATOL_SCALE 1e-5

/* The 6-node example graph of the original walk-through, as an adjacency
 * matrix whose row i lists the nodes i receives from (diagonal included,
 * given as input self-loops). */
static const int seed_adjacency[6][6] = {
    {1, 1, 1, 0, 0, 0}, {1, 1, 1, 0, 0, 0}, {1, 1, 1, 0, 1, 1},
    {0, 0, 0, 1, 0, 1}, {0, 0, 1, 0, 1, 1}, {0, 0, 1, 1, 1, 1},
};

typedef struct edges {
    int64_t n, count;
    int64_t *src, *dst;
} edges;

static edges seed_graph(void)
{
    edges e = {6, 0, malloc(36 * sizeof(int64_t)), malloc(36 * sizeof(int64_t))};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if (seed_adjacency[i][j]) {
                e.src[e.count] = j;
                e.dst[e.count++] = i;
            }
    return e;
}

/* A multigraph with duplicate edges, self-loops, and isolated nodes (the
 * last `isolated` ids never appear). */
static edges random_graph(int64_t n, int64_t m, int64_t isolated, uint64_t seed)
{
    edges e = {n, m, malloc((size_t)m * sizeof(int64_t)), malloc((size_t)m * sizeof(int64_t))};
    uint64_t s = seed;
    int64_t live = n - isolated;
    for (int64_t k = 0; k < m; k++) {
        e.src[k] = (int64_t)(test_next(&s) % (uint64_t)live);
        e.dst[k] = (int64_t)(test_next(&s) % (uint64_t)live);
        if (k % 7 == 3 && k > 0) { /* a duplicate of the previous edge */
            e.src[k] = e.src[k - 1];
            e.dst[k] = e.dst[k - 1];
        }
        if (k % 11 == 5)
            e.dst[k] = e.src[k];
    }
    return e;
}

static void free_edges(edges *e)
{
    free(e->src);
    free(e->dst);
}

static gat_context *make_ctx(int threads)
{
    gat_context_options o;
    gat_context_options_init(&o);
    o.num_threads = threads;
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, &o), GAT_OK);
    test_parallel_always(ctx);
    return ctx;
}

/* Runs the model on the graph, compares output (and last-layer attention)
 * with the dense twin and the sparse reference. */
static void check_against_twins(const char *what, gat_model *model, const edges *e,
                                const float *x)
{
    gat_context *ctx = make_ctx(2);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, e->n, e->count, e->src, e->dst), GAT_OK, "%s: %s",
                 what, gat_context_message(ctx));
    gat_layer_config last;
    gat_model_layer_config(model, gat_model_num_layers(model) - 1, &last);
    int64_t width = gat_model_out_features(model);
    int64_t ep = gat_graph_num_attention_edges(g, last.add_self_loops);
    float *out = malloc((size_t)(e->n * width) * sizeof(float));
    float *alpha = malloc((size_t)(ep * last.heads + 1) * sizeof(float));
    float *ref_out = malloc((size_t)(e->n * width) * sizeof(float));
    float *ref_alpha = malloc((size_t)(ep * last.heads + 1) * sizeof(float));
    double *want = malloc((size_t)(e->n * width) * sizeof(double));
    double *dense_alpha = malloc((size_t)(last.heads * e->n * e->n) * sizeof(double));
    cr_assert_eq(gat_model_forward(ctx, model, g, x, e->n, gat_model_in_features(model), out,
                                   alpha),
                 GAT_OK, "%s: %s", what, gat_context_message(ctx));
    test_dense_forward(model, e->n, e->count, e->src, e->dst, x, want, dense_alpha);

    double atol = ATOL_SCALE * test_max_abs(want, e->n * width);
    int64_t bad = test_first_mismatch(out, want, e->n * width, RTOL, atol);
    cr_assert_eq(bad, -1, "%s: output[%lld] = %.9g, dense twin %.9g", what, (long long)bad,
                 bad >= 0 ? out[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);

    /* Attention in library order against the dense matrix: an edge's
     * coefficient is its pair's mass divided by the pair's multiplicity. */
    int64_t *es = malloc((size_t)(ep + 1) * sizeof(int64_t));
    int64_t *ed = malloc((size_t)(ep + 1) * sizeof(int64_t));
    cr_assert_eq(gat_graph_edges(ctx, g, last.add_self_loops, es, ed), GAT_OK);
    for (int64_t k = 0; k < ep; k++) {
        int64_t mult = 0;
        for (int64_t q = 0; q < ep; q++)
            mult += es[q] == es[k] && ed[q] == ed[k];
        for (int64_t h = 0; h < last.heads; h++) {
            double w = dense_alpha[(h * e->n + ed[k]) * e->n + es[k]] / (double)mult;
            cr_assert(fabs(alpha[k * last.heads + h] - w) <= 1e-5 + RTOL * w,
                      "%s: alpha[%lld, %lld] (%lld -> %lld) = %.9g, dense twin %.9g", what,
                      (long long)k, (long long)h, (long long)es[k], (long long)ed[k],
                      alpha[k * last.heads + h], w);
        }
    }

    cr_assert_eq(gat_model_forward_reference(ctx, model, g, x, e->n, gat_model_in_features(model),
                                             ref_out, ref_alpha), GAT_OK);
    for (int64_t k = 0; k < e->n * width; k++)
        cr_assert(fabs(ref_out[k] - want[k]) <= atol + RTOL * fabs(want[k]),
                  "%s: sparse reference[%lld] = %.9g, dense %.9g", what, (long long)k,
                  ref_out[k], want[k]);
    for (int64_t k = 0; k < ep * last.heads; k++)
        cr_assert(fabs(ref_alpha[k] - alpha[k]) <= 1e-5 + RTOL * fabs(ref_alpha[k]));

    free(es);
    free(ed);
    free(out);
    free(alpha);
    free(ref_out);
    free(ref_alpha);
    free(want);
    free(dense_alpha);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

static gat_model *make_model(int layers, const gat_layer_config *configs, gat_activation act,
                             float scale, uint64_t seed)
{
    gat_context *ctx = make_ctx(1);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, layers, configs, act), GAT_OK, "%s",
                 gat_context_message(ctx));
    gat_context_destroy(&ctx);
    test_randomize_model(m, scale, seed);
    return m;
}

Test(forward, seed_graph_concat_and_mean)
{
    edges e = seed_graph();
    float x[6 * 5];
    test_fill_uniform(x, 30, -1, 1, 7);
    for (int concat = 0; concat < 2; concat++) {
        gat_layer_config c;
        gat_layer_config_init(&c, 5, 2, 3);
        c.concat = concat;
        gat_model *m = make_model(1, &c, GAT_ACT_ELU, 0.8f, 11);
        check_against_twins(concat ? "seed graph concat" : "seed graph mean", m, &e, x);
        gat_model_destroy(&m);
    }
    free_edges(&e);
}

Test(forward, seed_graph_without_self_loop_policy)
{
    edges e = seed_graph();
    float x[6 * 4];
    test_fill_uniform(x, 24, -1, 1, 8);
    gat_layer_config c;
    gat_layer_config_init(&c, 4, 3, 2);
    c.add_self_loops = false;
    gat_model *m = make_model(1, &c, GAT_ACT_ELU, 0.8f, 12);
    check_against_twins("seed graph, loops as given", m, &e, x);
    gat_model_destroy(&m);
    free_edges(&e);
}

Test(forward, random_multigraphs_one_to_three_layers)
{
    for (int layers = 1; layers <= 3; layers++) {
        edges e = random_graph(40, 160, 5, 100 + (uint64_t)layers);
        gat_layer_config c[3];
        gat_layer_config_init(&c[0], 9, 3, 4);
        gat_layer_config_init(&c[1], layers == 1 ? 9 : 12, 2, 5);
        c[1].concat = false;
        gat_layer_config_init(&c[2], 5, 4, 3);
        c[2].bias = false;
        c[layers - 1].concat = layers != 2; /* mix concat and mean at the end */
        if (layers == 1)
            c[0] = (gat_layer_config){.in_features = 9, .heads = 3, .channels = 4,
                                      .negative_slope = 0.1f, .add_self_loops = true,
                                      .bias = true};
        float *x = malloc(40 * 9 * sizeof(float));
        test_fill_uniform(x, 40 * 9, -1, 1, 200 + (uint64_t)layers);
        gat_model *m = make_model(layers, c, layers == 3 ? GAT_ACT_RELU : GAT_ACT_ELU, 0.6f,
                                  300 + (uint64_t)layers);
        char what[64];
        snprintf(what, sizeof what, "random multigraph, %d layer(s)", layers);
        check_against_twins(what, m, &e, x);
        gat_model_destroy(&m);
        free(x);
        free_edges(&e);
    }
}

Test(forward, every_vectorized_shape_matches_the_twins)
{
    /* The register edge and score kernels (AVX-512 intrinsics, or GNU
     * vector extensions of the machine's width elsewhere) take C = 8 with
     * H even and C a multiple of 16, with separate code for H <= 8 (both
     * score vectors in one AVX-512 reduction tree) and H > 8 (two score
     * vectors at 8 lanes), one function per constant shape and per channel
     * count with H read at run time; each of those, both head modes and
     * both loop policies, against the float64 twin and the dense masked
     * one. Duplicate edges and input self-loops are in the graph. */
    static const int64_t shapes[][2] = {{8, 8},  {2, 8},  {6, 8},   {16, 8},  {1, 16},
                                        {3, 16}, {4, 16}, {8, 16},  {10, 16}, {16, 16},
                                        {1, 32}, {2, 32}, {4, 32},  {2, 48},  {1, 64},
                                        {5, 8}};
    edges e = random_graph(60, 400, 4, 31);
    float x[60 * 7];
    test_fill_uniform(x, 60 * 7, -1, 1, 32);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int variant = 0; variant < 4; variant++) {
            gat_layer_config c;
            gat_layer_config_init(&c, 7, shapes[k][0], shapes[k][1]);
            c.concat = variant % 2 == 0;
            c.add_self_loops = variant < 2;
            gat_model *m = make_model(1, &c, GAT_ACT_ELU, 0.8f, 40 + k);
            char what[96];
            snprintf(what, sizeof what, "heads %lld channels %lld, %s, %s",
                     (long long)shapes[k][0], (long long)shapes[k][1],
                     c.concat ? "concat" : "mean", c.add_self_loops ? "loops added" : "loops as given");
            check_against_twins(what, m, &e, x);
            gat_model_destroy(&m);
        }
    free_edges(&e);
}

Test(forward, output_bits_do_not_depend_on_returning_attention)
{
    /* Returning attention makes the layer store its node scores; without
     * it the register kernels compute them from the projected rows. Both
     * must give the same output bits, for every kind of shape they take
     * (see every_vectorized_shape_matches_the_twins), both head modes and
     * both loop policies. Node 7 receives 400 edges, more than the
     * kernels keep scores for between a row's two sweeps. */
    edges e = random_graph(500, 6000, 10, 61);
    for (int64_t k = 0; k < 400; k++)
        e.dst[k] = 7;
    float *x = malloc(500 * 16 * sizeof(float));
    test_fill_uniform(x, 500 * 16, -1, 1, 62);
    static const int64_t shapes[][2] = {{8, 8},  {4, 16}, {16, 8}, {2, 8},  {1, 16},
                                        {3, 16}, {8, 16}, {10, 16}, {16, 16}, {1, 32},
                                        {2, 32}, {4, 32}, {2, 48}, {1, 64}};
    gat_context *ctx = make_ctx(2);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, e.n, e.count, e.src, e.dst), GAT_OK);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int variant = 0; variant < 4; variant++) {
            gat_layer_config c;
            gat_layer_config_init(&c, 16, shapes[k][0], shapes[k][1]);
            c.concat = variant % 2 == 0;
            c.add_self_loops = variant < 2;
            const int64_t ep = gat_graph_num_attention_edges(g, c.add_self_loops);
            gat_model *m = make_model(1, &c, GAT_ACT_ELU, 0.7f, 63 + k);
            const size_t width = (size_t)(c.concat ? shapes[k][0] * shapes[k][1] : shapes[k][1]);
            float *plain = malloc(500 * width * sizeof(float));
            float *with = malloc(500 * width * sizeof(float));
            float *alpha = malloc((size_t)ep * (size_t)shapes[k][0] * sizeof(float));
            cr_assert_eq(gat_model_forward(ctx, m, g, x, 500, 16, plain, NULL), GAT_OK);
            cr_assert_eq(gat_model_forward(ctx, m, g, x, 500, 16, with, alpha), GAT_OK);
            cr_assert_eq(memcmp(plain, with, 500 * width * sizeof(float)), 0,
                         "heads %lld channels %lld concat %d loops %d: outputs differ",
                         (long long)shapes[k][0], (long long)shapes[k][1], c.concat,
                         c.add_self_loops);
            free(plain);
            free(with);
            free(alpha);
            gat_model_destroy(&m);
        }
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free(x);
    free_edges(&e);
}

Test(forward, streamed_output_has_the_same_bits)
{
    /* An output beyond 4 MiB in a 64-byte aligned buffer is written with
     * streaming stores (AVX-512 builds); one float off that alignment, with
     * normal stores. Both, and both thread counts, must agree bit for bit. */
    const int64_t n = 20000, width = 64;
    edges e = random_graph(n, 120000, 50, 71);
    float *x = malloc((size_t)n * 8 * sizeof(float));
    test_fill_uniform(x, n * 8, -1, 1, 72);
    gat_layer_config c;
    gat_layer_config_init(&c, 8, 8, 8);
    gat_model *m = make_model(1, &c, GAT_ACT_ELU, 0.8f, 73);
    const size_t bytes = (size_t)(n * width) * sizeof(float);
    float *aligned = aligned_alloc(64, bytes + 64);
    float *shifted = aligned_alloc(64, bytes + 64);
    cr_assert(aligned != NULL && shifted != NULL);
    for (int threads = 1; threads <= 2; threads++) {
        gat_context *ctx = make_ctx(threads);
        gat_graph *g = NULL;
        cr_assert_eq(gat_graph_create(ctx, &g, e.n, e.count, e.src, e.dst), GAT_OK);
        cr_assert_eq(gat_model_forward(ctx, m, g, x, n, 8, aligned, NULL), GAT_OK);
        cr_assert_eq(gat_model_forward(ctx, m, g, x, n, 8, shifted + 1, NULL), GAT_OK);
        cr_assert_eq(memcmp(aligned, shifted + 1, bytes), 0, "%d thread(s): outputs differ",
                     threads);
        gat_graph_destroy(&g);
        gat_context_destroy(&ctx);
    }
    free(aligned);
    free(shifted);
    gat_model_destroy(&m);
    free(x);
    free_edges(&e);
}

Test(forward, isolated_nodes_without_loops_output_bias)
{
    edges e = random_graph(20, 50, 6, 5);
    gat_layer_config c;
    gat_layer_config_init(&c, 3, 2, 2);
    c.add_self_loops = false;
    gat_model *m = make_model(1, &c, GAT_ACT_NONE, 1.0f, 9);
    float x[20 * 3];
    test_fill_uniform(x, 60, -1, 1, 10);
    check_against_twins("isolated nodes, no loops", m, &e, x);

    gat_context *ctx = make_ctx(1);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, e.n, e.count, e.src, e.dst), GAT_OK);
    float out[20 * 4];
    cr_assert_eq(gat_model_forward(ctx, m, g, x, 20, 3, out, NULL), GAT_OK);
    gat_layer_params p;
    gat_model_layer_params(m, 0, &p);
    for (int64_t i = 14; i < 20; i++)
        cr_assert_eq(memcmp(out + i * 4, p.bias, 4 * sizeof(float)), 0,
                     "isolated node %lld must output exactly the bias", (long long)i);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    gat_model_destroy(&m);
    free_edges(&e);
}

Test(forward, large_logits_are_stable)
{
    /* Scores in the thousands: exp() overflows unless the row max is
     * subtracted, and most weights fall below exp's normal range. In the
     * plain loops (2 x 4) and the register kernels (2 x 8). */
    edges e = random_graph(30, 120, 2, 77);
    static const int64_t shapes[][2] = {{2, 4}, {2, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        gat_layer_config c;
        gat_layer_config_init(&c, 6, shapes[s][0], shapes[s][1]);
        gat_model *m = make_model(1, &c, GAT_ACT_ELU, 1.0f, 78);
        gat_layer_params p;
        gat_model_layer_params(m, 0, &p);
        for (int64_t k = 0; k < shapes[s][0] * shapes[s][1]; k++) {
            p.att_src[k] *= 400.0f;
            p.att_dst[k] *= 400.0f;
        }
        float x[30 * 6];
        test_fill_uniform(x, 180, -3, 3, 79);
        check_against_twins(s == 0 ? "large logits 2 x 4" : "large logits 2 x 8", m, &e, x);
        gat_model_destroy(&m);
    }
    free_edges(&e);
}

Test(forward, empty_edge_list)
{
    edges e = {5, 0, NULL, NULL};
    gat_layer_config c;
    gat_layer_config_init(&c, 3, 2, 2);
    gat_model *m = make_model(1, &c, GAT_ACT_ELU, 1.0f, 3);
    float x[15];
    test_fill_uniform(x, 15, -1, 1, 4);
    check_against_twins("no edges, loops added", m, &e, x);
    gat_model_destroy(&m);
}

Test(forward, same_bits_at_one_two_and_four_threads)
{
    /* Large enough for several projection blocks and dynamic row chunks. */
    edges e = random_graph(3000, 30000, 100, 4242);
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], 24, 4, 8);
    gat_layer_config_init(&c[1], 32, 3, 5);
    c[1].concat = false;
    gat_model *m = make_model(2, c, GAT_ACT_ELU, 0.4f, 99);
    float *x = malloc(3000 * 24 * sizeof(float));
    test_fill_uniform(x, 3000 * 24, -1, 1, 5);
    float *first = NULL, *first_alpha = NULL;
    int64_t ep = 0;
    const int counts[] = {1, 2, 4};
    for (int t = 0; t < 3; t++) {
        gat_context *ctx = make_ctx(counts[t]);
        gat_graph *g = NULL;
        cr_assert_eq(gat_graph_create(ctx, &g, e.n, e.count, e.src, e.dst), GAT_OK);
        ep = gat_graph_num_attention_edges(g, true);
        float *out = malloc(3000 * 5 * sizeof(float));
        float *alpha = malloc((size_t)ep * 3 * sizeof(float));
        cr_assert_eq(gat_model_forward(ctx, m, g, x, 3000, 24, out, alpha), GAT_OK);
        if (first == NULL) {
            first = out;
            first_alpha = alpha;
        } else {
            cr_assert_eq(memcmp(first, out, 3000 * 5 * sizeof(float)), 0,
                         "output bits differ at %d threads", counts[t]);
            cr_assert_eq(memcmp(first_alpha, alpha, (size_t)ep * 3 * sizeof(float)), 0,
                         "attention bits differ at %d threads", counts[t]);
            free(out);
            free(alpha);
        }
        gat_graph_destroy(&g);
        gat_context_destroy(&ctx);
    }
    free(first);
    free(first_alpha);
    free(x);
    gat_model_destroy(&m);
    free_edges(&e);
}

/* Projections write large outputs with streaming stores (the built-in
 * GEMM, scores taken in the edge pass): the same bits as plain stores.
 * Forced here on small cases, over the register kernels' shapes whose
 * width the stores take (a multiple of 16), one and two layers, 1 and 2
 * threads. */
Test(forward, streamed_projection_has_the_same_bits)
{
    edges e = random_graph(1500, 15000, 40, 9191);
    static const int64_t shapes[][3] = {{8, 8, 1}, {4, 16, 1}, {8, 8, 2}, {2, 32, 1}};
    const int64_t f = 20;
    float *x = malloc((size_t)(e.n * f) * sizeof(float));
    test_fill_uniform(x, e.n * f, -1, 1, 9192);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        gat_layer_config c[2];
        int64_t width = f;
        for (int l = 0; l < shapes[k][2]; l++) {
            gat_layer_config_init(&c[l], width, shapes[k][0], shapes[k][1]);
            width = gat__layer_out_width(&c[l]);
        }
        gat_model *m = make_model((int)shapes[k][2], c, GAT_ACT_ELU, 0.7f, 9193 + (uint64_t)k);
        for (int threads = 1; threads <= 2; threads++) {
            float *out[2];
            for (int streamed = 0; streamed < 2; streamed++) {
                gat_context *ctx = make_ctx(threads);
                if (streamed)
                    test_stream_projection_always(ctx);
                gat_graph *g = NULL;
                cr_assert_eq(gat_graph_create(ctx, &g, e.n, e.count, e.src, e.dst), GAT_OK);
                out[streamed] = malloc((size_t)(e.n * width) * sizeof(float));
                cr_assert_eq(gat_model_forward(ctx, m, g, x, e.n, f, out[streamed], NULL), GAT_OK,
                             "%s", gat_context_message(ctx));
                gat_graph_destroy(&g);
                gat_context_destroy(&ctx);
            }
            cr_assert(memcmp(out[0], out[1], (size_t)(e.n * width) * sizeof(float)) == 0,
                      "shape %zu, %d thread(s): streamed projection changed the output", k,
                      threads);
            free(out[0]);
            free(out[1]);
        }
        gat_model_destroy(&m);
    }
    free(x);
    free_edges(&e);
}

Test(forward, rejects_mismatched_shapes)
{
    edges e = seed_graph();
    gat_context *ctx = make_ctx(1);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 6, e.count, e.src, e.dst), GAT_OK);
    gat_layer_config c;
    gat_layer_config_init(&c, 4, 2, 2);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_OK);
    float x[7 * 5] = {0}, out[7 * 4];
    cr_assert_eq(gat_model_forward(ctx, m, g, x, 7, 4, out, NULL), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "7 rows") != NULL, "%s",
              gat_context_message(ctx));
    cr_assert_eq(gat_model_forward(ctx, m, g, x, 6, 5, out, NULL), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "5 columns") != NULL, "%s",
              gat_context_message(ctx));
    cr_assert_eq(gat_model_forward(ctx, m, g, NULL, 6, 4, out, NULL), GAT_ERR_INVALID);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    free_edges(&e);
}

Test(forward, model_rejects_bad_configs)
{
    gat_context *ctx = make_ctx(1);
    gat_model *m = NULL;
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], 4, 2, 3);
    gat_layer_config_init(&c[1], 5, 1, 2);
    cr_assert_eq(gat_model_create(ctx, &m, 2, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "layer 1") != NULL, "%s",
              gat_context_message(ctx));
    c[0].heads = 0;
    cr_assert_eq(gat_model_create(ctx, &m, 1, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    gat_layer_config_init(&c[0], 4, 1 << 20, 1 << 20);
    cr_assert_eq(gat_model_create(ctx, &m, 1, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    cr_assert_null(m);
    gat_context_destroy(&ctx);
}

/* A build without BLAS refuses GAT_GEMM_BLAS instead of computing with
 * something else (the rest of the suite runs GAT_GEMM_AUTO in both). */
Test(forward, gemm_choice_follows_the_build)
{
    gat_context_options o;
    gat_context_options_init(&o);
    o.gemm = GAT_GEMM_BLAS;
    gat_context *ctx = NULL;
    const gat_status s = gat_context_create(&ctx, &o);
    if (gat_have_blas())
        cr_assert_eq(s, GAT_OK);
    else
        cr_assert_eq(s, GAT_ERR_UNSUPPORTED);
    gat_context_destroy(&ctx);
}
