/* Distributed runs without MPI (src/dist/partition.h): the 1-D partition
 * (empty parts, a part owning one hub row, isolated nodes, more parts than
 * rows), the halo lists checked against brute force, the send lists from a
 * simulated exchange, the row-range readers of .gcsr and .npy, and a
 * distributed forward simulated part by part in one process, which must
 * give gat_model_forward's bits exactly (the claim gat_dist_infer rests
 * on; the MPI runs themselves are tests/mpi_infer.sh). */
#include "file_read.h"
#include "gat.h"
#include "graph_binary.h"
#include "kernels.h"
#include "family.h"
#include "partition.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static gat_context *ctx;
static char tmpdir[64];

static void setup(void)
{
    ctx = test_context(2, NULL);
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-partition");
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir);
}

TestSuite(partition, .init = setup, .fini = teardown);

static gat_graph *make_graph(int64_t n, int64_t e, const int64_t *src, const int64_t *dst)
{
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, n, e, src, dst), GAT_OK, "%s",
                 gat_context_message(ctx));
    return g;
}

/* A random multigraph with a hub (row 0 receives from many), self-loops
 * and isolated nodes (the last fifth of the ids receive and send nothing). */
static gat_graph *mixed_graph(int64_t n, int64_t e, uint64_t seed)
{
    int64_t *src = malloc((size_t)e * sizeof *src), *dst = malloc((size_t)e * sizeof *dst);
    uint64_t state = seed;
    const int64_t used = n - n / 5 > 0 ? n - n / 5 : 1;
    for (int64_t k = 0; k < e; k++) {
        src[k] = (int64_t)(test_next(&state) % (uint64_t)used);
        dst[k] = k % 4 == 0 ? 0 : (int64_t)(test_next(&state) % (uint64_t)used);
        if (k % 17 == 0)
            dst[k] = src[k];
    }
    gat_graph *g = make_graph(n, e, src, dst);
    free(src);
    free(dst);
    return g;
}

static gat_status in_memory(gat_context *c, const void *source, int64_t i, int64_t *value)
{
    (void)c;
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(source, &row_ptr, &col);
    *value = row_ptr[i];
    return GAT_OK;
}

static int64_t *bounds_of(const gat_graph *g, int parts)
{
    int64_t *bounds = malloc(((size_t)parts + 1) * sizeof *bounds);
    cr_assert_eq(gat__partition_bounds(ctx, in_memory, g, gat_graph_num_nodes(g),
                                       gat_graph_num_edges(g), parts, bounds),
                 GAT_OK);
    return bounds;
}

static void build_halo(const gat_graph *g, const int64_t *bounds, int parts, int rank,
                       gat__halo *h)
{
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    cr_assert_eq(gat__halo_build(ctx, h, bounds, parts, rank, gat_graph_num_nodes(g),
                                 row_ptr + bounds[rank], col + row_ptr[bounds[rank]], true),
                 GAT_OK, "%s", gat_context_message(ctx));
}

/* Every list of h against the global CSR, by brute force. */
static void check_halo(const gat_graph *g, const int64_t *bounds, int parts, const gat__halo *h)
{
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    const int64_t n = gat_graph_num_nodes(g), first = h->first, end = first + h->rows;
    bool *remote = calloc((size_t)n + 1, 1);
    for (int64_t i = first; i < end; i++)
        for (int64_t k = row_ptr[i]; k < row_ptr[i + 1]; k++)
            if (col[k] < first || col[k] >= end)
                remote[col[k]] = true;
    int64_t count = 0;
    for (int64_t v = 0; v < n; v++)
        if (remote[v]) {
            cr_assert_lt(count, h->halo);
            cr_assert_eq(h->halo_ids[count], v, "halo id %lld", (long long)count);
            count++;
        }
    cr_assert_eq(count, h->halo);
    for (int q = 0; q < parts; q++)
        for (int64_t k = h->recv_start[q]; k < h->recv_start[q + 1]; k++)
            cr_assert(h->halo_ids[k] >= bounds[q] && h->halo_ids[k] < bounds[q + 1]);
    cr_assert_eq(h->recv_start[parts], h->halo);
    /* Positions: interior rows first, each group ascending; the local graph
     * holds every row's edges in order, sources mapped back. */
    const gat_graph *lg = h->graph;
    cr_assert_eq(lg->num_nodes, h->rows + h->halo);
    for (int64_t p = 0; p < h->rows; p++) {
        const int64_t i = first + h->row_of[p];
        cr_assert_eq(h->position[h->row_of[p]], p);
        if (p > 0 && p != h->interior)
            cr_assert_gt(h->row_of[p], h->row_of[p - 1]);
        bool all_local = true;
        cr_assert_eq(lg->row_ptr[p + 1] - lg->row_ptr[p], row_ptr[i + 1] - row_ptr[i]);
        for (int64_t k = 0; k < row_ptr[i + 1] - row_ptr[i]; k++) {
            const int64_t local = lg->col[lg->row_ptr[p] + k];
            const int64_t global = local < h->rows ? first + h->row_of[local]
                                                   : h->halo_ids[local - h->rows];
            cr_assert_eq(global, col[row_ptr[i] + k]);
            all_local &= local < h->rows;
        }
        cr_assert_eq(all_local, p < h->interior, "row %lld", (long long)i);
    }
    free(remote);
}

/* The send lists every part gets from what the others ask (the exchange
 * gat_dist_infer does with MPI_Alltoallv). */
static void set_sends(gat__halo *halos, int parts)
{
    for (int r = 0; r < parts; r++) {
        int64_t *start = calloc((size_t)parts + 1, sizeof *start), total = 0;
        for (int q = 0; q < parts; q++) {
            start[q] = total;
            total += halos[q].recv_start[r + 1] - halos[q].recv_start[r];
        }
        start[parts] = total;
        int64_t *asked = malloc(((size_t)total + 1) * sizeof *asked);
        for (int q = 0; q < parts; q++)
            memcpy(asked + start[q], halos[q].halo_ids + halos[q].recv_start[r],
                   (size_t)(start[q + 1] - start[q]) * sizeof *asked);
        cr_assert_eq(gat__halo_set_sends(ctx, &halos[r], start, asked), GAT_OK);
        for (int64_t k = 0; k < total; k++)
            cr_assert_eq(halos[r].first + halos[r].row_of[halos[r].send_rows[k]], asked[k]);
        free(start);
        free(asked);
    }
}

static void check_partition(const gat_graph *g, int parts)
{
    int64_t *bounds = bounds_of(g, parts);
    const int64_t n = gat_graph_num_nodes(g);
    cr_assert_eq(bounds[0], 0);
    cr_assert_eq(bounds[parts], n);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    for (int r = 0; r < parts; r++) {
        cr_assert_leq(bounds[r], bounds[r + 1]);
        /* The edge pass's own balanced split, reached through offset reads. */
        int64_t lo = 0, hi = n;
        const double target = (double)(gat_graph_num_edges(g) + n) * r / parts;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if ((double)(row_ptr[mid] + mid) < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        cr_assert_eq(bounds[r], lo, "part %d", r);
    }
    for (int64_t v = 0; v < n; v++) {
        int owner = gat__partition_owner(bounds, parts, v);
        cr_assert(bounds[owner] <= v && v < bounds[owner + 1]);
    }
    gat__halo *halos = calloc((size_t)parts, sizeof *halos);
    for (int r = 0; r < parts; r++) {
        build_halo(g, bounds, parts, r, &halos[r]);
        check_halo(g, bounds, parts, &halos[r]);
    }
    set_sends(halos, parts);
    gat_partition_part *report = calloc((size_t)parts, sizeof *report);
    cr_assert_eq(gat_graph_partition(ctx, g, parts, report), GAT_OK);
    int64_t rows = 0, edges = 0, halo = 0, sent = 0;
    for (int r = 0; r < parts; r++) {
        cr_assert_eq(report[r].first_row, bounds[r]);
        cr_assert_eq(report[r].halo_rows, halos[r].halo);
        cr_assert_eq(report[r].interior_rows, halos[r].interior);
        cr_assert_eq(report[r].send_rows, halos[r].send_start[parts]);
        rows += report[r].rows;
        edges += report[r].edges;
        halo += report[r].halo_rows;
        sent += report[r].send_rows;
        gat__halo_free(ctx, &halos[r]);
    }
    cr_assert_eq(rows, n);
    cr_assert_eq(edges, gat_graph_num_edges(g));
    cr_assert_eq(halo, sent);
    free(report);
    free(halos);
    free(bounds);
}

Test(partition, lists_match_brute_force_at_1_to_7_parts)
{
    gat_graph *g = mixed_graph(300, 2000, 5);
    for (int parts = 1; parts <= 7; parts++)
        check_partition(g, parts);
    gat_graph_destroy(&g);
}

Test(partition, more_parts_than_rows_leaves_parts_empty)
{
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 2};
    gat_graph *g = make_graph(3, 3, src, dst);
    int64_t *bounds = bounds_of(g, 8);
    int empty = 0;
    for (int r = 0; r < 8; r++)
        empty += bounds[r] == bounds[r + 1];
    cr_assert_geq(empty, 5);
    free(bounds);
    check_partition(g, 8);
    gat_graph_destroy(&g);
}

Test(partition, a_hub_row_is_owned_alone)
{
    /* Row 0 receives 1000 of the 1010 edges: it outweighs every share, so
     * one part holds it alone, the next parts are empty, and the last
     * holds the rest. */
    int64_t src[1010], dst[1010];
    for (int k = 0; k < 1010; k++) {
        src[k] = 1 + k % 10;
        dst[k] = k < 1000 ? 0 : 1 + k % 10;
    }
    gat_graph *g = make_graph(11, 1010, src, dst);
    int64_t *bounds = bounds_of(g, 4);
    cr_assert_eq(bounds[1], 1);
    cr_assert_eq(bounds[2], 1);
    cr_assert_eq(bounds[3], 1);
    free(bounds);
    check_partition(g, 4);
    gat_graph_destroy(&g);
}

Test(partition, isolated_nodes_and_an_edgeless_graph)
{
    gat_graph *g = mixed_graph(50, 40, 9); /* many isolated rows */
    check_partition(g, 3);
    gat_graph_destroy(&g);
    g = make_graph(5, 0, NULL, NULL);
    check_partition(g, 2);
    check_partition(g, 9);
    gat_graph_destroy(&g);
}

/* A version 1 file (written before positions and source counts) read by
 * rows, against the whole-file loader. */
Test(partition, row_range_reader_reads_version_1_files)
{
    const char *path = GAT_TEST_DATA "/../fuzz/corpus/gcsr/cora_like.gcsr";
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_load(ctx, &g, path, 0), GAT_OK, "%s", gat_context_message(ctx));
    const int64_t n = gat_graph_num_nodes(g), e = gat_graph_num_edges(g);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    gat__gcsr_file f;
    cr_assert_eq(gat__gcsr_open(ctx, path, &f), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(f.num_nodes, n);
    cr_assert_eq(f.num_src_nodes, n);
    int64_t *rp = malloc((size_t)(n + 1) * sizeof *rp);
    int32_t *cols = malloc((size_t)(e + 1) * sizeof *cols);
    cr_assert_eq(gat__gcsr_read_rows(ctx, &f, 0, n, rp, cols, e), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(memcmp(rp, row_ptr, (size_t)(n + 1) * sizeof *rp), 0);
    cr_assert_eq(memcmp(cols, col, (size_t)e * sizeof *cols), 0);
    /* No positions: the CSR order is the input order. */
    cr_assert_eq(gat__gcsr_read_positions(ctx, &f, 5, 10, rp), GAT_OK);
    for (int64_t k = 0; k < 10; k++)
        cr_assert_eq(rp[k], 5 + k);
    free(rp);
    free(cols);
    gat__gcsr_close(&f);
    gat_graph_destroy(&g);
}

Test(partition, row_range_readers_match_the_whole_files)
{
    gat_graph *g = mixed_graph(200, 1500, 3);
    const char *path = test_path(tmpdir, "g.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    gat__gcsr_file f;
    cr_assert_eq(gat__gcsr_open(ctx, path, &f), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(f.num_nodes, 200);
    cr_assert_eq(f.num_src_nodes, 200);
    const int64_t ranges[][2] = {{0, 200}, {0, 0}, {17, 18}, {50, 130}, {199, 200}, {200, 200}};
    for (size_t t = 0; t < sizeof ranges / sizeof ranges[0]; t++) {
        const int64_t a = ranges[t][0], b = ranges[t][1];
        int64_t rp[201], at;
        int32_t cols[1500];
        cr_assert_eq(gat__gcsr_row_ptr_at(ctx, &f, a, &at), GAT_OK);
        cr_assert_eq(at, row_ptr[a]);
        cr_assert_eq(gat__gcsr_read_rows(ctx, &f, a, b, rp, cols, 1500), GAT_OK);
        for (int64_t i = 0; i <= b - a; i++)
            cr_assert_eq(rp[i], row_ptr[a + i] - row_ptr[a]);
        cr_assert_eq(memcmp(cols, col + row_ptr[a], (size_t)rp[b - a] * sizeof *cols), 0);
    }
    int64_t rp[3];
    int32_t cols[4];
    cr_assert_eq(gat__gcsr_read_rows(ctx, &f, 0, 2, rp, cols, 4), GAT_ERR_INVALID);
    /* Input positions by edge ranges (uint32 in the file, widened). */
    cr_assert_eq(f.pos_width, 4);
    int64_t want[1500], got[1500];
    cr_assert_eq(gat_graph_edge_positions(ctx, g, false, want), GAT_OK);
    const int64_t spans[][2] = {{0, 1500}, {0, 1}, {700, 33}, {1499, 1}, {3, 0}};
    for (size_t t = 0; t < sizeof spans / sizeof spans[0]; t++) {
        cr_assert_eq(gat__gcsr_read_positions(ctx, &f, spans[t][0], spans[t][1], got), GAT_OK,
                     "%s", gat_context_message(ctx));
        cr_assert_eq(memcmp(got, want + spans[t][0], (size_t)spans[t][1] * sizeof *got), 0,
                     "edges [%lld, +%lld)", (long long)spans[t][0], (long long)spans[t][1]);
    }
    gat__gcsr_close(&f);
    gat_graph_destroy(&g);

    float x[7 * 3];
    for (int k = 0; k < 21; k++)
        x[k] = (float)k * 0.5f;
    const char *npy = test_path(tmpdir, "x.npy");
    const int64_t shape[2] = {7, 3};
    cr_assert_eq(gat_npy_write_f32(ctx, npy, x, 2, shape), GAT_OK);
    gat_array *part = NULL;
    int64_t total = 0;
    cr_assert_eq(gat__npy_read_rows(ctx, npy, 2, 4, &part, &total), GAT_OK);
    cr_assert_eq(total, 7);
    cr_assert_eq(part->shape[0], 4);
    cr_assert_eq(memcmp(part->data, x + 6, 12 * sizeof(float)), 0);
    gat_array_destroy(&part);
    cr_assert_eq(gat__npy_read_rows(ctx, npy, 5, 3, &part, &total), GAT_ERR_RANGE);
    cr_assert(strstr(gat_context_message(ctx), "rows [5, 8)") != NULL, "%s",
              gat_context_message(ctx));
    x[3 * 5 + 1] = 1.0f / 0.0f;
    cr_assert_eq(gat_npy_write_f32(ctx, npy, x, 2, shape), GAT_OK);
    cr_assert_eq(gat__npy_read_rows(ctx, npy, 4, 2, &part, NULL), GAT_ERR_NONFINITE);
    cr_assert(strstr(gat_context_message(ctx), "row 5, column 1") != NULL, "%s",
              gat_context_message(ctx));
}

/* ------------------------------------------------------------------------ */
/* A distributed forward, simulated part by part                           */
/* ------------------------------------------------------------------------ */

static void collect_outputs(const gat__halo *h, int parts, float *const *rows, int64_t width,
                            const gat_layer_config *c, int64_t *const *loops, float *const *att,
                            float *out, float *attention);

/* The end of a simulated layer: the activation between layers, each part's
 * output becoming its input (swapped buffers), the last layer's outputs
 * collected. */
static void end_layer(const gat_model *model, int l, const gat__halo *h, int parts,
                      float **input, float **output, int64_t *const *loops, float *const *att,
                      float *out, float *attention)
{
    const gat_layer_config *c = &model->layers[l].config;
    const int64_t width = gat__layer_out_width(c);
    const bool last = l + 1 == model->num_layers;
    for (int r = 0; r < parts; r++) {
        if (!last)
            gat__activation_forward(ctx, model->activation, output[r], h[r].rows * width);
        float *t = input[r];
        input[r] = output[r];
        output[r] = t;
    }
    if (last)
        collect_outputs(h, parts, input, width, c, loops, att, out, attention);
}

/* The parts' last outputs rows[r] (position order) and attention att[r]
 * (may be NULL) un-permuted into global order, as gat_dist_infer writes
 * them. */
static void collect_outputs(const gat__halo *h, int parts, float *const *rows, int64_t width,
                            const gat_layer_config *c, int64_t *const *loops, float *const *att,
                            float *out, float *attention)
{
    int64_t at = 0;
    for (int r = 0; r < parts; r++)
        for (int64_t i = 0; i < h[r].rows; i++) {
            const int64_t p = h[r].position[i];
            memcpy(out + (h[r].first + i) * width, rows[r] + p * width, (size_t)width * 4);
            if (attention == NULL)
                continue;
            const gat_graph *lg = h[r].graph;
            const bool add = c->add_self_loops;
            const int64_t *lp = add ? loops[r] : NULL;
            const int64_t from = gat__attention_row_offset(lg, add, lp, p);
            const int64_t to = gat__attention_row_offset(lg, add, lp, p + 1);
            memcpy(attention + at * c->heads, att[r] + from * c->heads,
                   (size_t)((to - from) * c->heads) * 4);
            at += to - from;
        }
}

/* What gat_dist_infer does per layer, with memcpy for MPI: every part
 * projects its own rows (in position order), takes its halo rows and
 * scores from the owners' projections, runs the edge pass over its
 * interior rows and then the others. Returns the outputs and attention
 * un-permuted into global order. */
static void simulated_forward(const gat_model *model, const gat_graph *g, const float *x,
                              int parts, float *out, float *attention)
{
    const int64_t n = gat_graph_num_nodes(g), f = gat_model_in_features(model);
    int64_t *bounds = bounds_of(g, parts);
    gat__halo *h = calloc((size_t)parts, sizeof *h);
    float **input = calloc((size_t)parts, sizeof *input), **output = calloc((size_t)parts, sizeof *output);
    float **proj = calloc((size_t)parts, sizeof *proj), **ss = calloc((size_t)parts, sizeof *ss);
    float **sd = calloc((size_t)parts, sizeof *sd), **att = calloc((size_t)parts, sizeof *att);
    int64_t **loops = calloc((size_t)parts, sizeof *loops);
    const int64_t wide = 256;
    for (int r = 0; r < parts; r++) {
        build_halo(g, bounds, parts, r, &h[r]);
        const int64_t rows = h[r].rows, nodes = rows + h[r].halo;
        input[r] = malloc((size_t)(rows * (f > wide ? f : wide) + 1) * sizeof(float));
        for (int64_t p = 0; p < rows; p++)
            memcpy(input[r] + p * f, x + (h[r].first + h[r].row_of[p]) * f, (size_t)f * 4);
        output[r] = malloc((size_t)(rows * wide + 1) * sizeof(float));
        proj[r] = malloc((size_t)(nodes * wide + 1) * sizeof(float));
        ss[r] = malloc((size_t)(nodes * 16 + 1) * sizeof(float));
        sd[r] = malloc((size_t)(nodes * 16 + 1) * sizeof(float));
        att[r] = malloc((size_t)((h[r].edges + rows) * 16 + 1) * sizeof(float));
        cr_assert_eq(gat__graph_loop_prefix(ctx, h[r].graph, &loops[r]), GAT_OK);
    }
    const int layers = gat_model_num_layers(model);
    for (int l = 0; l < layers; l++) {
        const gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        const int64_t hc = c->heads * c->channels;
        const bool last = l + 1 == layers;
        const bool scores = (last && attention != NULL) || !gat_layer_scores_in_edge_pass(c);
        for (int r = 0; r < parts; r++)
            cr_assert_eq(gat__project_forward(ctx, layer, input[r], h[r].rows, proj[r],
                                              scores ? ss[r] : NULL, scores ? sd[r] : NULL),
                         GAT_OK);
        for (int r = 0; r < parts; r++) {
            for (int64_t k = 0; k < h[r].halo; k++) {
                const int64_t v = h[r].halo_ids[k];
                const int q = gat__partition_owner(bounds, parts, v);
                const int64_t p = h[q].position[v - h[q].first];
                memcpy(proj[r] + (h[r].rows + k) * hc, proj[q] + p * hc, (size_t)hc * 4);
                memcpy(ss[r] + (h[r].rows + k) * c->heads, ss[q] + p * c->heads,
                       (size_t)c->heads * 4);
            }
            float *a = last ? att[r] : NULL;
            int64_t *lp = c->add_self_loops ? loops[r] : NULL;
            cr_assert_eq(gat__attention_forward_rows(ctx, layer, h[r].graph, 0, h[r].interior,
                                                     proj[r], scores ? ss[r] : NULL,
                                                     scores ? sd[r] : NULL, output[r], a, lp),
                         GAT_OK);
            cr_assert_eq(gat__attention_forward_rows(ctx, layer, h[r].graph, h[r].interior,
                                                     h[r].rows, proj[r], scores ? ss[r] : NULL,
                                                     scores ? sd[r] : NULL, output[r], a, lp),
                         GAT_OK);
        }
        end_layer(model, l, h, parts, input, output, loops, att, out, attention);
    }
    for (int r = 0; r < parts; r++) {
        free(input[r]);
        free(output[r]);
        free(proj[r]);
        free(ss[r]);
        free(sd[r]);
        free(att[r]);
        gat_free(ctx, loops[r]);
        gat__halo_free(ctx, &h[r]);
    }
    free(input), free(output), free(proj), free(ss), free(sd), free(att), free(loops), free(h);
    free(bounds);
    (void)n;
}

static void check_simulated(const char *shape, int num_layers, const gat_layer_config *configs)
{
    const int64_t n = 700;
    gat_graph *g = mixed_graph(n, 5000, 11);
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, num_layers, configs, GAT_ACT_ELU), GAT_OK);
    test_randomize_model(model, 0.4f, 21);
    const int64_t f = configs[0].in_features, w = gat_model_out_features(model);
    const gat_layer_config *last = &configs[num_layers - 1];
    const int64_t e = gat_graph_num_attention_edges(g, last->add_self_loops);
    float *x = malloc((size_t)(n * f) * sizeof *x);
    test_fill_uniform(x, n * f, -1.0f, 1.0f, 4);
    float *want = malloc((size_t)(n * w) * 4), *got = malloc((size_t)(n * w) * 4);
    float *want_att = malloc((size_t)(e * last->heads) * 4);
    float *got_att = malloc((size_t)(e * last->heads) * 4);
    cr_assert_eq(gat_model_forward(ctx, model, g, x, n, f, want, want_att), GAT_OK);
    for (int parts = 1; parts <= 5; parts++) {
        simulated_forward(model, g, x, parts, got, got_att);
        cr_assert_eq(memcmp(got, want, (size_t)(n * w) * 4), 0, "%s: output at %d parts",
                     shape, parts);
        cr_assert_eq(memcmp(got_att, want_att, (size_t)(e * last->heads) * 4), 0,
                     "%s: attention at %d parts", shape, parts);
        simulated_forward(model, g, x, parts, got, NULL);
        cr_assert_eq(memcmp(got, want, (size_t)(n * w) * 4), 0,
                     "%s: output without attention at %d parts", shape, parts);
    }
    free(x), free(want), free(got), free(want_att), free(got_att);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
}

Test(partition, simulated_distributed_forward_gives_the_same_bits)
{
    /* Exact equality: every row is computed by the same kernels from the
     * same inputs, in the same order of its edges. */
    gat_layer_config a[3];
    gat_layer_config_init(&a[0], 24, 8, 8);   /* register kernels, scores in the pass */
    gat_layer_config_init(&a[1], 64, 3, 5);   /* plain loops, stored scores */
    gat_layer_config_init(&a[2], 15, 2, 7);
    a[2].concat = false;
    check_simulated("8x8,3x5,2x7:mean", 3, a);
    gat_layer_config b[2];
    gat_layer_config_init(&b[0], 24, 4, 16);
    b[0].add_self_loops = false;
    gat_layer_config_init(&b[1], 64, 1, 7);
    b[1].concat = false;
    b[1].add_self_loops = false;
    check_simulated("4x16,1x7:mean without self-loops", 2, b);
}

/* The GAT family the same way (gat_dist_infer's family path): every part
 * makes its layer terms over its own rows (gat__family_layer_terms), takes
 * its halo's h_src rows from their owners, and runs gat__family_edges_rows
 * over its interior rows, then the others; the edge attributes are each
 * part's edges' rows in its local order. Must equal
 * gat_model_forward_inputs bit for bit. */
static void simulated_family_forward(const gat_model *model, const gat_graph *g,
                                     const gat_inputs *in, int parts, float *out,
                                     float *attention)
{
    int64_t *bounds = bounds_of(g, parts);
    const int64_t e = gat_graph_num_edges(g), d = in->edge_dim;
    int64_t *position = malloc((size_t)(e + 1) * sizeof *position);
    cr_assert_eq(gat_graph_edge_positions(ctx, g, false, position), GAT_OK);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    gat__halo *h = calloc((size_t)parts, sizeof *h);
    gat__family_buffers *b = calloc((size_t)parts, sizeof *b);
    float **x = calloc((size_t)parts, sizeof *x), **xd = calloc((size_t)parts, sizeof *xd);
    float **attr = calloc((size_t)parts, sizeof *attr), **att = calloc((size_t)parts, sizeof *att);
    float **output = calloc((size_t)parts, sizeof *output);
    int64_t **loops = calloc((size_t)parts, sizeof *loops);
    const int64_t f = in->in_features, fd = in->x_dst != NULL ? in->dst_features : f;
    const int64_t wide = 256;
    for (int r = 0; r < parts; r++) {
        build_halo(g, bounds, parts, r, &h[r]);
        const gat__halo *hr = &h[r];
        const gat_graph *lg = hr->graph;
        cr_assert_eq(gat__family_buffers_alloc(ctx, model, hr->rows + hr->halo, hr->rows,
                                               in->x_dst != NULL, &b[r]),
                     GAT_OK);
        x[r] = malloc((size_t)(hr->rows * f + 1) * sizeof(float));
        xd[r] = malloc((size_t)(hr->rows * fd + 1) * sizeof(float));
        output[r] = malloc((size_t)(hr->rows * wide + 1) * sizeof(float));
        attr[r] = malloc((size_t)(hr->edges * d + 1) * sizeof(float));
        att[r] = malloc((size_t)((hr->edges + hr->rows) * 16 + 1) * sizeof(float));
        for (int64_t p = 0; p < hr->rows; p++) {
            const int64_t i = hr->first + hr->row_of[p];
            memcpy(x[r] + p * f, in->x + i * f, (size_t)f * 4);
            if (in->x_dst != NULL)
                memcpy(xd[r] + p * fd, in->x_dst + i * fd, (size_t)fd * 4);
            for (int64_t k = 0; k < row_ptr[i + 1] - row_ptr[i] && d > 0; k++)
                memcpy(attr[r] + (lg->row_ptr[p] + k) * d,
                       in->edge_attr + position[row_ptr[i] + k] * d, (size_t)d * 4);
        }
        cr_assert_eq(gat__graph_loop_prefix(ctx, lg, &loops[r]), GAT_OK);
    }
    const int layers = gat_model_num_layers(model);
    for (int l = 0; l < layers; l++) {
        const gat__layer *layer = &model->layers[l];
        const gat_layer_config *c = &layer->config;
        const int64_t hc = c->heads * c->channels;
        const bool last = l + 1 == layers;
        for (int r = 0; r < parts; r++)
            cr_assert_eq(gat__family_layer_terms(ctx, layer, x[r], h[r].rows,
                                                 l == 0 && in->x_dst != NULL ? xd[r] : x[r],
                                                 h[r].rows, &b[r]),
                         GAT_OK, "%s", gat_context_message(ctx));
        for (int r = 0; r < parts; r++) {
            for (int64_t k = 0; k < h[r].halo; k++) {
                const int64_t v = h[r].halo_ids[k];
                const int q = gat__partition_owner(bounds, parts, v);
                const int64_t p = h[q].position[v - h[q].first];
                memcpy(b[r].h_src + (h[r].rows + k) * hc, b[q].h_src + p * hc, (size_t)hc * 4);
            }
            const gat__family_edges_args a = gat__family_layer_edges(
                layer, h[r].graph, &b[r], attr[r], output[r], last ? att[r] : NULL,
                c->add_self_loops ? loops[r] : NULL);
            cr_assert_eq(gat__family_edges_rows(ctx, &a, 0, h[r].interior), GAT_OK);
            cr_assert_eq(gat__family_edges_rows(ctx, &a, h[r].interior, h[r].rows), GAT_OK);
        }
        end_layer(model, l, h, parts, x, output, loops, att, out, attention);
    }
    for (int r = 0; r < parts; r++) {
        free(x[r]), free(xd[r]), free(output[r]), free(attr[r]), free(att[r]);
        gat_free(ctx, loops[r]);
        gat__family_buffers_free(ctx, &b[r]);
        gat__halo_free(ctx, &h[r]);
    }
    free(x), free(xd), free(output), free(attr), free(att), free(loops), free(b), free(h);
    free(bounds), free(position);
}

static void check_simulated_family(const char *shape, int num_layers,
                                   const gat_layer_config *configs)
{
    const int64_t n = 600, e = 4000, d = 3;
    gat_graph *g = mixed_graph(n, e, 17); /* input order: the graph keeps positions */
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, num_layers, configs, GAT_ACT_ELU), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(gat_model_init_glorot(ctx, model, 5), GAT_OK);
    const int64_t f = configs[0].in_features, fd = gat_layer_dst_features(&configs[0]);
    const int64_t w = gat_model_out_features(model);
    const gat_layer_config *last = &configs[num_layers - 1];
    const int64_t ae = gat_graph_num_attention_edges(g, last->add_self_loops);
    float *x = malloc((size_t)(n * f) * 4), *xd = malloc((size_t)(n * fd) * 4);
    float *attr = malloc((size_t)(e * d) * 4);
    test_fill_uniform(x, n * f, -1.0f, 1.0f, 4);
    test_fill_uniform(xd, n * fd, -1.0f, 1.0f, 5);
    test_fill_uniform(attr, e * d, -1.0f, 1.0f, 6);
    gat_inputs in;
    gat_inputs_init(&in, x, n, f);
    if (configs[0].dst_features > 0) {
        in.x_dst = xd;
        in.num_dst_nodes = n;
        in.dst_features = fd;
    }
    for (int l = 0; l < num_layers; l++)
        if (configs[l].edge_dim > 0) {
            in.edge_attr = attr;
            in.num_edges = e;
            in.edge_dim = d;
        }
    float *want = malloc((size_t)(n * w) * 4), *got = malloc((size_t)(n * w) * 4);
    float *want_att = malloc((size_t)(ae * last->heads) * 4);
    float *got_att = malloc((size_t)(ae * last->heads) * 4);
    cr_assert_eq(gat_model_forward_inputs(ctx, model, g, &in, want, want_att, NULL), GAT_OK,
                 "%s", gat_context_message(ctx));
    for (int parts = 1; parts <= 4; parts++) {
        simulated_family_forward(model, g, &in, parts, got, got_att);
        cr_assert_eq(memcmp(got, want, (size_t)(n * w) * 4), 0, "%s: output at %d parts",
                     shape, parts);
        cr_assert_eq(memcmp(got_att, want_att, (size_t)(ae * last->heads) * 4), 0,
                     "%s: attention at %d parts", shape, parts);
    }
    free(x), free(xd), free(attr), free(want), free(got), free(want_att), free(got_att);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
}

Test(partition, simulated_family_forward_gives_the_same_bits)
{
    /* GATv2 with edge features and residual, then a GATConv with edge
     * features (fill max): a mixed model through the family's forward. */
    gat_layer_config a[2];
    gat_layer_config_init(&a[0], 12, 4, 8);
    a[0].type = GAT_LAYER_GATV2;
    a[0].edge_dim = 3;
    a[0].residual = true;
    gat_layer_config_init(&a[1], 32, 2, 5);
    a[1].edge_dim = 3;
    a[1].fill_value = GAT_FILL_MAX;
    a[1].concat = false;
    check_simulated_family("gatv2 edge residual, gat edge max:mean", 2, a);
    /* Destination features of their own width, share-less GATv2 without
     * self-loops. */
    gat_layer_config b[1];
    gat_layer_config_init(&b[0], 12, 3, 4);
    b[0].type = GAT_LAYER_GATV2;
    b[0].dst_features = 7;
    b[0].add_self_loops = false;
    check_simulated_family("gatv2 dst_features 7 without self-loops", 1, b);
}
