/*
 * Vertex reordering: the orderings themselves (a hand-computed degree
 * order, RCM's bandwidth on paths, grids and disconnected graphs), that a
 * reordered forward pass un-permutes to bitwise the plain one, thread-count
 * independence, degenerate graphs, bad arguments and allocation failures.
 */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static gat_graph *make_graph(gat_context *ctx, int64_t n, int64_t m, const int64_t *src,
                             const int64_t *dst)
{
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, n, m, src, dst), GAT_OK, "%s",
                 gat_context_message(ctx));
    return g;
}

static void assert_permutation(const int64_t *new_id, int64_t n, const char *what)
{
    char *seen = calloc((size_t)n + 1, 1);
    for (int64_t v = 0; v < n; v++) {
        cr_assert(new_id[v] >= 0 && new_id[v] < n, "%s: new_id[%lld] = %lld out of range", what,
                  (long long)v, (long long)new_id[v]);
        cr_assert(!seen[new_id[v]], "%s: new id %lld given twice", what, (long long)new_id[v]);
        seen[new_id[v]] = 1;
    }
    free(seen);
}

/* max |new row - new source| over the edges of a graph: how far apart in
 * memory the rows a destination gathers can be. */
static int64_t bandwidth(const gat_graph *g)
{
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    int64_t worst = 0;
    for (int64_t i = 0; i < gat_graph_num_nodes(g); i++)
        for (int64_t k = row_ptr[i]; k < row_ptr[i + 1]; k++) {
            int64_t d = col[k] > i ? col[k] - i : i - col[k];
            if (d > worst)
                worst = d;
        }
    return worst;
}

/* The reordered graph must be the old one with ids renamed, each row's
 * edges in their old order. */
static void assert_relabelled(const gat_graph *old, const gat_graph *g, const int64_t *new_id,
                              const char *what)
{
    const int64_t n = gat_graph_num_nodes(old);
    cr_assert_eq(gat_graph_num_nodes(g), n, "%s", what);
    cr_assert_eq(gat_graph_num_edges(g), gat_graph_num_edges(old), "%s", what);
    cr_assert_eq(gat_graph_num_self_loops(g), gat_graph_num_self_loops(old), "%s", what);
    cr_assert_eq(gat_graph_max_in_degree(g), gat_graph_max_in_degree(old), "%s", what);
    const int64_t *op, *np;
    const int32_t *oc, *nc;
    gat_graph_csr(old, &op, &oc);
    gat_graph_csr(g, &np, &nc);
    for (int64_t v = 0; v < n; v++) {
        int64_t r = new_id[v];
        cr_assert_eq(np[r + 1] - np[r], op[v + 1] - op[v], "%s: row %lld", what, (long long)v);
        for (int64_t k = 0; k < op[v + 1] - op[v]; k++)
            cr_assert_eq(nc[np[r] + k], new_id[oc[op[v] + k]], "%s: row %lld edge %lld", what,
                         (long long)v, (long long)k);
    }
}

/* ids scrambled by k -> k * mul mod n (mul coprime to n), so the natural
 * numbering's locality is gone before the reorder has to find it again. */
static int64_t scramble(int64_t k, int64_t n, int64_t mul) { return (k * mul) % n; }

/* A multigraph with duplicates, self-loops and `isolated` unused ids. */
static void random_edges(int64_t n, int64_t m, int64_t isolated, uint64_t seed, int64_t *src,
                         int64_t *dst)
{
    uint64_t s = seed;
    const int64_t live = n - isolated;
    for (int64_t k = 0; k < m; k++) {
        src[k] = (int64_t)(test_next(&s) % (uint64_t)live);
        dst[k] = (int64_t)(test_next(&s) % (uint64_t)live);
        if (k % 7 == 3) {
            src[k] = src[k - 1];
            dst[k] = dst[k - 1];
        }
        if (k % 11 == 5)
            dst[k] = src[k];
    }
}

Test(reorder, degree_order_matches_hand_computed)
{
    gat_context *ctx = test_context(2, NULL);
    /* In-degrees: node 0: 2, 1: 1, 2: 3, 3: 0, 4: 3 (one a self-loop). */
    const int64_t src[] = {1, 2, 0, 3, 0, 1, 2, 4, 3};
    const int64_t dst[] = {0, 0, 1, 2, 2, 2, 4, 4, 4};
    gat_graph *g = make_graph(ctx, 5, 9, src, dst);
    gat_graph *r = NULL;
    int64_t new_id[5];
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_DEGREE, &r, new_id), GAT_OK, "%s",
                 gat_context_message(ctx));
    /* 2 and 4 (degree 3, 2 first by id), then 0, 1, 3. */
    const int64_t want_id[] = {2, 3, 0, 4, 1};
    cr_assert_arr_eq(new_id, want_id, sizeof want_id);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(r, &row_ptr, &col);
    /* new row 0 = old row 2 (3, 0, 1), row 1 = old 4 (2, 4, 3), row 2 = old 0
     * (1, 2), row 3 = old 1 (0), row 4 = old 3 (empty), sources renamed. */
    const int64_t want_ptr[] = {0, 3, 6, 8, 9, 9};
    const int32_t want_col[] = {4, 2, 3, 0, 1, 4, 3, 0, 2};
    cr_assert_arr_eq(row_ptr, want_ptr, sizeof want_ptr);
    cr_assert_arr_eq(col, want_col, sizeof want_col);
    cr_assert_eq(gat_graph_num_self_loops(r), 1);
    cr_assert_eq(gat_graph_max_in_degree(r), 3);

    /* NONE is the identity and a copy of the CSR. */
    gat_graph *same = NULL;
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_NONE, &same, new_id), GAT_OK);
    const int64_t identity[] = {0, 1, 2, 3, 4};
    cr_assert_arr_eq(new_id, identity, sizeof identity);
    assert_relabelled(g, same, new_id, "none");
    gat_graph_destroy(&same);
    gat_graph_destroy(&r);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(reorder, rcm_restores_a_scrambled_path)
{
    gat_context *ctx = test_context(2, NULL);
    enum { N = 101 };
    int64_t src[N - 1], dst[N - 1], new_id[N];
    for (int64_t k = 0; k + 1 < N; k++) { /* one direction only: RCM symmetrises */
        src[k] = scramble(k, N, 37);
        dst[k] = scramble(k + 1, N, 37);
    }
    gat_graph *g = make_graph(ctx, N, N - 1, src, dst);
    cr_assert_gt(bandwidth(g), 30);
    gat_graph *r = NULL;
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, &r, new_id), GAT_OK);
    assert_permutation(new_id, N, "path");
    assert_relabelled(g, r, new_id, "path");
    cr_assert_eq(bandwidth(r), 1);
    /* The start is an end of the path (least degree, pseudo-peripheral):
     * of the two ends, scramble(0) = 0 has the lower id, CM numbers it
     * first and the reversal makes it last. */
    cr_assert_eq(new_id[0], N - 1);
    gat_graph_destroy(&r);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(reorder, rcm_narrows_a_scrambled_grid)
{
    gat_context *ctx = test_context(2, NULL);
    enum { K = 20, N = K * K, M = 2 * K * (K - 1) };
    int64_t *src = malloc(M * sizeof *src), *dst = malloc(M * sizeof *dst);
    int64_t new_id[N];
    int64_t m = 0;
    for (int64_t y = 0; y < K; y++)
        for (int64_t x = 0; x < K; x++) {
            int64_t v = scramble(y * K + x, N, 151);
            if (x + 1 < K) {
                src[m] = v;
                dst[m++] = scramble(y * K + x + 1, N, 151);
            }
            if (y + 1 < K) {
                src[m] = scramble((y + 1) * K + x, N, 151);
                dst[m++] = v;
            }
        }
    cr_assert_eq(m, M);
    gat_graph *g = make_graph(ctx, N, M, src, dst);
    int64_t before = bandwidth(g);
    gat_graph *r = NULL;
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, &r, new_id), GAT_OK);
    assert_permutation(new_id, N, "grid");
    assert_relabelled(g, r, new_id, "grid");
    /* From a corner, BFS levels are anti-diagonals of at most K nodes, and
     * neighbours lie in the same or adjacent levels: the bandwidth is at
     * most the width of two levels; the natural row-major order has K. */
    int64_t after = bandwidth(r);
    cr_assert_leq(after, K, "grid bandwidth %lld after RCM (%lld before)", (long long)after,
                  (long long)before);
    cr_assert_gt(before, 10 * K);
    gat_graph_destroy(&r);
    gat_graph_destroy(&g);
    free(src);
    free(dst);
    gat_context_destroy(&ctx);
}

Test(reorder, new_id_is_a_permutation_and_the_graph_is_relabelled)
{
    gat_context *ctx = test_context(2, NULL);
    enum { N = 500, M = 3000 };
    int64_t *src = malloc(M * sizeof *src), *dst = malloc(M * sizeof *dst);
    int64_t *new_id = malloc(N * sizeof *new_id);
    random_edges(N, M, 20, 5, src, dst);
    gat_graph *g = make_graph(ctx, N, M, src, dst);
    const gat_ordering orders[] = {GAT_ORDER_NONE, GAT_ORDER_DEGREE, GAT_ORDER_RCM};
    const char *names[] = {"none", "degree", "rcm"};
    for (int o = 0; o < 3; o++) {
        gat_graph *r = NULL;
        cr_assert_eq(gat_graph_reorder(ctx, g, orders[o], &r, new_id), GAT_OK);
        assert_permutation(new_id, N, names[o]);
        assert_relabelled(g, r, new_id, names[o]);
        if (orders[o] == GAT_ORDER_DEGREE) {
            const int64_t *rp;
            gat_graph_csr(r, &rp, NULL);
            for (int64_t i = 0; i + 1 < N; i++)
                cr_assert_geq(rp[i + 1] - rp[i], rp[i + 2] - rp[i + 1], "degree order at %lld",
                              (long long)i);
        }
        gat_graph_destroy(&r);
    }
    gat_graph_destroy(&g);
    free(src);
    free(dst);
    free(new_id);
    gat_context_destroy(&ctx);
}

/* The promise that makes reordering safe to use: permute x, run on the
 * reordered graph, permute back, and the bits are those of the plain run
 * (same terms, same order per row; rows cross projection blocks here). */
Test(reorder, reordered_forward_unpermutes_to_the_same_bits)
{
    enum { N = 700, M = 5000, F = 16 };
    int64_t *src = malloc(M * sizeof *src), *dst = malloc(M * sizeof *dst);
    int64_t *new_id = malloc(N * sizeof *new_id);
    random_edges(N, M, 37, 9, src, dst);
    float *x = malloc(N * F * sizeof *x), *xr = malloc(N * F * sizeof *xr);
    test_fill_uniform(x, N * F, -1, 1, 21);

    gat_layer_config c[2];
    gat_layer_config_init(&c[0], F, 4, 8);
    gat_layer_config_init(&c[1], 32, 3, 5);
    c[1].concat = false;
    const int64_t width = 5;
    float *base = malloc(N * width * sizeof *base), *got = malloc(N * width * sizeof *got);
    float *back = malloc(N * width * sizeof *back);

    for (int threads = 1; threads <= 3; threads += 2) {
        gat_context *ctx = test_context(threads, NULL);
        gat_model *model = NULL;
        cr_assert_eq(gat_model_create(ctx, &model, 2, c, GAT_ACT_ELU), GAT_OK);
        cr_assert_eq(gat_model_init_glorot(ctx, model, 3), GAT_OK);
        gat_graph *g = make_graph(ctx, N, M, src, dst);
        cr_assert_eq(gat_model_forward(ctx, model, g, x, N, F, base, NULL), GAT_OK);
        const gat_ordering orders[] = {GAT_ORDER_NONE, GAT_ORDER_DEGREE, GAT_ORDER_RCM};
        for (int o = 0; o < 3; o++) {
            gat_graph *r = NULL;
            cr_assert_eq(gat_graph_reorder(ctx, g, orders[o], &r, new_id), GAT_OK);
            cr_assert_eq(gat_permute_rows(ctx, x, N, F, new_id, false, xr), GAT_OK);
            cr_assert_eq(gat_model_forward(ctx, model, r, xr, N, F, got, NULL), GAT_OK, "%s",
                         gat_context_message(ctx));
            cr_assert_eq(gat_permute_rows(ctx, got, N, width, new_id, true, back), GAT_OK);
            for (int64_t k = 0; k < N * width; k++)
                cr_assert(memcmp(&back[k], &base[k], sizeof(float)) == 0,
                          "ordering %d, %d threads: output %lld (node %lld) is %.9g, plain "
                          "run %.9g",
                          o, threads, (long long)k, (long long)(k / width), back[k], base[k]);
            gat_graph_destroy(&r);
        }
        gat_graph_destroy(&g);
        gat_model_destroy(&model);
        gat_context_destroy(&ctx);
    }
    free(src);
    free(dst);
    free(new_id);
    free(x);
    free(xr);
    free(base);
    free(got);
    free(back);
}

Test(reorder, same_result_at_any_thread_count)
{
    enum { N = 20000, M = 120000 };
    int64_t *src = malloc(M * sizeof *src), *dst = malloc(M * sizeof *dst);
    random_edges(N, M, 100, 17, src, dst);
    int64_t *want = malloc(N * sizeof *want), *got = malloc(N * sizeof *got);
    const gat_ordering orders[] = {GAT_ORDER_DEGREE, GAT_ORDER_RCM};
    for (int o = 0; o < 2; o++) {
        gat_context *one = test_context(1, NULL);
        gat_graph *g = make_graph(one, N, M, src, dst);
        gat_graph *first = NULL;
        cr_assert_eq(gat_graph_reorder(one, g, orders[o], &first, want), GAT_OK);
        const int64_t *fp;
        const int32_t *fc;
        gat_graph_csr(first, &fp, &fc);
        for (int threads = 2; threads <= 4; threads++) {
            gat_context *ctx = test_context(threads, NULL);
            gat_graph *r = NULL;
            cr_assert_eq(gat_graph_reorder(ctx, g, orders[o], &r, got), GAT_OK);
            cr_assert_arr_eq(got, want, N * sizeof *want, "ordering %d, %d threads", o,
                             threads);
            const int64_t *rp;
            const int32_t *rc;
            gat_graph_csr(r, &rp, &rc);
            cr_assert_arr_eq(rp, fp, (N + 1) * sizeof *rp);
            cr_assert_arr_eq(rc, fc, M * sizeof *rc);
            gat_graph_destroy(&r);
            gat_context_destroy(&ctx);
        }
        gat_graph_destroy(&first);
        gat_graph_destroy(&g);
        gat_context_destroy(&one);
    }
    free(src);
    free(dst);
    free(want);
    free(got);
}

Test(reorder, empty_and_edgeless_graphs)
{
    gat_context *ctx = test_context(2, NULL);
    const gat_ordering orders[] = {GAT_ORDER_NONE, GAT_ORDER_DEGREE, GAT_ORDER_RCM};
    for (int o = 0; o < 3; o++) {
        gat_graph *g = make_graph(ctx, 0, 0, NULL, NULL);
        gat_graph *r = NULL;
        cr_assert_eq(gat_graph_reorder(ctx, g, orders[o], &r, NULL), GAT_OK, "%s",
                     gat_context_message(ctx));
        cr_assert_eq(gat_graph_num_nodes(r), 0);
        cr_assert_eq(gat_graph_num_edges(r), 0);
        gat_graph_destroy(&r);
        gat_graph_destroy(&g);

        /* Only isolated nodes: every node is its own component. Degree
         * order keeps them (all ties); RCM numbers them in id order and
         * the reversal turns that around. */
        g = make_graph(ctx, 6, 0, NULL, NULL);
        int64_t new_id[6];
        cr_assert_eq(gat_graph_reorder(ctx, g, orders[o], &r, new_id), GAT_OK);
        for (int64_t v = 0; v < 6; v++)
            cr_assert_eq(new_id[v], orders[o] == GAT_ORDER_RCM ? 5 - v : v);
        cr_assert_eq(gat_graph_num_edges(r), 0);
        gat_graph_destroy(&r);
        gat_graph_destroy(&g);
    }
    /* Self-loops only: RCM ignores them, so the graph is edgeless to it. */
    const int64_t loops[] = {2, 0, 1};
    gat_graph *g = make_graph(ctx, 3, 3, loops, loops);
    gat_graph *r = NULL;
    int64_t new_id[3];
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, &r, new_id), GAT_OK);
    const int64_t reversed[] = {2, 1, 0};
    cr_assert_arr_eq(new_id, reversed, sizeof reversed);
    assert_relabelled(g, r, new_id, "loops");
    gat_graph_destroy(&r);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(reorder, rcm_keeps_components_contiguous)
{
    gat_context *ctx = test_context(2, NULL);
    /* Component A: path 7 - 2 - 9 - 4; B: triangle 1, 5, 8 with a
     * duplicate edge; isolated: 0, 3, 6, 10. */
    const int64_t src[] = {7, 9, 4, 1, 5, 8, 5};
    const int64_t dst[] = {2, 2, 9, 5, 8, 1, 8};
    gat_graph *g = make_graph(ctx, 11, 7, src, dst);
    gat_graph *r = NULL;
    int64_t new_id[11];
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, &r, new_id), GAT_OK);
    assert_permutation(new_id, 11, "components");
    assert_relabelled(g, r, new_id, "components");
    const int64_t a[] = {7, 2, 9, 4}, b[] = {1, 5, 8};
    int64_t lo = 11, hi = -1;
    for (int k = 0; k < 4; k++) {
        lo = new_id[a[k]] < lo ? new_id[a[k]] : lo;
        hi = new_id[a[k]] > hi ? new_id[a[k]] : hi;
    }
    cr_assert_eq(hi - lo, 3, "path component spread over [%lld, %lld]", (long long)lo,
                 (long long)hi);
    /* Along the path, consecutive nodes get consecutive ids. */
    for (int k = 0; k + 1 < 4; k++) {
        int64_t d = new_id[a[k]] - new_id[a[k + 1]];
        cr_assert(d == 1 || d == -1);
    }
    lo = 11;
    hi = -1;
    for (int k = 0; k < 3; k++) {
        lo = new_id[b[k]] < lo ? new_id[b[k]] : lo;
        hi = new_id[b[k]] > hi ? new_id[b[k]] : hi;
    }
    cr_assert_eq(hi - lo, 2);
    /* Components are met in order of their lowest id (0, 1, 2, 3, ...),
     * then reversed: node 0 is last. */
    cr_assert_eq(new_id[0], 10);
    gat_graph_destroy(&r);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(reorder, permute_rows_moves_rows_both_ways)
{
    gat_context *ctx = test_context(2, NULL);
    const float in[4 * 2] = {0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};
    const int64_t new_id[4] = {2, 0, 3, 1};
    float out[8], back[8];
    cr_assert_eq(gat_permute_rows(ctx, in, 4, 2, new_id, false, out), GAT_OK);
    /* out[new_id[v]] = in[v]: row 0 <- old 1, 1 <- 3, 2 <- 0, 3 <- 2. */
    const float want[8] = {1, 1.5f, 3, 3.5f, 0, 0.5f, 2, 2.5f};
    cr_assert_arr_eq(out, want, sizeof want);
    cr_assert_eq(gat_permute_rows(ctx, out, 4, 2, new_id, true, back), GAT_OK);
    cr_assert_arr_eq(back, in, sizeof back);
    /* Zero columns still checks the map; zero rows needs nothing. */
    cr_assert_eq(gat_permute_rows(ctx, NULL, 4, 0, new_id, false, NULL), GAT_OK);
    cr_assert_eq(gat_permute_rows(ctx, NULL, 0, 3, NULL, false, NULL), GAT_OK);
    gat_context_destroy(&ctx);
}

Test(reorder, bad_arguments)
{
    gat_context *ctx = test_context(1, NULL);
    const int64_t src[] = {0, 1}, dst[] = {1, 2};
    gat_graph *g = make_graph(ctx, 3, 2, src, dst);
    gat_graph *r = (gat_graph *)&r; /* not NULL: failures must clear it */
    int64_t new_id[3];
    cr_assert_eq(gat_graph_reorder(NULL, g, GAT_ORDER_RCM, &r, new_id), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, NULL, new_id), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_reorder(ctx, NULL, GAT_ORDER_RCM, &r, new_id), GAT_ERR_INVALID);
    cr_assert_null(r);
    r = (gat_graph *)&r;
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_DEGREE, &r, NULL), GAT_ERR_INVALID);
    cr_assert_null(r);
    cr_assert_eq(gat_graph_reorder(ctx, g, (gat_ordering)7, &r, new_id), GAT_ERR_INVALID);
    cr_assert(strstr(gat_context_message(ctx), "ordering 7") != NULL, "%s",
              gat_context_message(ctx));
    cr_assert_null(r);

    float in[6] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
    const int64_t dup[3] = {0, 2, 2}, range[3] = {0, 3, 1}, good[3] = {1, 2, 0};
    cr_assert_eq(gat_permute_rows(NULL, in, 3, 2, good, false, out), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, NULL, 3, 2, good, false, out), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 3, 2, good, false, NULL), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 3, 2, NULL, false, out), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, -1, 2, good, false, out), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 3, -2, good, false, out), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 3, 2, good, false, in), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 2, 2, good, false, in + 2), GAT_ERR_INVALID);
    cr_assert_eq(gat_permute_rows(ctx, in, 3, 2, dup, false, out), GAT_ERR_RANGE);
    cr_assert(strstr(gat_context_message(ctx), "new_id[2]") != NULL, "%s",
              gat_context_message(ctx));
    cr_assert_eq(gat_permute_rows(ctx, in, 3, 2, range, true, out), GAT_ERR_RANGE);
    cr_assert(strstr(gat_context_message(ctx), "new_id[1] = 3") != NULL, "%s",
              gat_context_message(ctx));
    for (int k = 0; k < 6; k++)
        cr_assert_eq(out[k], 0.0f, "out written before the map was checked");
    cr_assert_eq(gat_permute_rows(ctx, in, INT64_MAX, 4, good, false, out), GAT_ERR_OVERFLOW);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(reorder, allocation_failures_leak_nothing)
{
    test_counting c;
    gat_context *ctx = test_counting_context(&c, 2);
    enum { N = 200, M = 900 };
    int64_t src[M], dst[M], new_id[N];
    random_edges(N, M, 10, 3, src, dst);
    gat_graph *g = make_graph(ctx, N, M, src, dst);
    const gat_ordering orders[] = {GAT_ORDER_NONE, GAT_ORDER_DEGREE, GAT_ORDER_RCM};
    for (int o = 0; o < 3; o++) {
        for (int64_t fail = 1;; fail++) {
            const int64_t live = c.live;
            test_counting_arm(&c, fail);
            gat_graph *r = NULL;
            gat_status s = gat_graph_reorder(ctx, g, orders[o], &r, new_id);
            c.fail_at = 0;
            if (s == GAT_OK) {
                gat_graph_destroy(&r);
                cr_assert_eq(c.live, live, "ordering %d leaks on success", o);
                cr_assert_gt(fail, 2, "ordering %d: too few allocations to be tested", o);
                break;
            }
            cr_assert_eq(s, GAT_ERR_NOMEM, "ordering %d, failing allocation %lld", o,
                         (long long)fail);
            cr_assert_null(r);
            cr_assert_eq(c.live, live, "ordering %d leaks when allocation %lld fails", o,
                         (long long)fail);
        }
    }
    float x[N * 3], y[N * 3];
    test_fill_uniform(x, N * 3, -1, 1, 4);
    test_counting_arm(&c, 1);
    cr_assert_eq(gat_permute_rows(ctx, x, N, 3, new_id, false, y), GAT_ERR_NOMEM);
    c.fail_at = 0;
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    cr_assert_eq(c.live, 0);
}
