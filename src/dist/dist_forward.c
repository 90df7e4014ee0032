/*
 * gat_dist_infer: the forward pass over MPI ranks, each owning a range of
 * destination rows (partition.h). Per layer a rank projects its own rows,
 * sends the projected rows (and source scores) its neighbours' edges read,
 * runs the edge pass over its interior rows while they travel, then over
 * the rest. Every row is computed by the same kernels, in the same order
 * of its edges, as in one process: the projection's per-row bits do not
 * depend on which rows share a block (the built-in GEMM sums each output
 * over k in order; a BLAS may not, so the distributed run refuses
 * GAT_GEMM_BLAS), and a row's edge pass reads only its sources' rows and
 * scores. So the outputs are bitwise those of gat_model_forward.
 */
#if GAT_HAVE_MPI
#include "dist.h"
#include "family.h"
#include "file_read.h"
#include "graph_binary.h"
#include "kernels.h"
#include "train_kernels.h"

#include <limits.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One rank's run: its share of the graph and features, and its buffers. */
typedef struct run {
    MPI_Comm comm;
    int rank, ranks;
    int64_t num_nodes, num_edges, in_features;
    int64_t *bounds; /* [ranks + 1] */
    gat__halo halo;
    float *x;        /* [rows, F_in] in position order */
    float *x_dst;    /* [rows, F_dst] in position order, or NULL: x */
    float *edge_attr; /* [local edges, D] in the local graph's CSR order, or NULL */
    int64_t edge_begin; /* this rank's first edge in the file's CSR order */
    int64_t *edge_rows; /* [its edges]: their rows of edge_attr (the .gcsr's input
                         * positions), or NULL: the rows of its CSR range */
    int64_t edge_dim; /* of the layers with edge features (0: none) */
    bool family;     /* the GAT family's forward (gat__family_*), as one process runs it */
    gat__family_buffers fam;
    float *projected, *score_src, *score_dst, *between[2], *out, *attention, *send;
    float *exchanged; /* the rows the halo carries: projected or fam.h_src (borrowed) */
    int64_t *loops_before;
    MPI_Request *requests; /* [4 * ranks] */
    gat_dist_report *report;
} run;

/* row_ptr of the .gcsr, and E for the nodes past its own (isolated nodes
 * the features add). */
static gat_status file_row_ptr_at(gat_context *ctx, const void *source, int64_t i,
                                  int64_t *value)
{
    const gat__gcsr_file *f = source;
    if (i > f->num_nodes) {
        *value = f->num_edges;
        return GAT_OK;
    }
    return gat__gcsr_row_ptr_at(ctx, f, i, value);
}

/* A .npy's shape [rows, cols] from its header (no data read). */
static gat_status npy_shape(gat_context *ctx, const char *path, int64_t *rows, int64_t *cols)
{
    gat_array *probe = NULL;
    gat_status status = gat__npy_read_rows(ctx, path, 0, 0, &probe, rows);
    if (status == GAT_OK)
        *cols = probe->shape[1];
    gat_array_destroy(&probe);
    return status;
}

/* The destination features and edge attributes against the model and graph
 * (as gat-infer and gat_model_forward_inputs check them in one process).
 * n: the features' rows. */
static gat_status check_side_inputs(gat_context *ctx, run *r, const gat_model *model,
                                    const gat_dist_infer_options *o, int64_t n)
{
    const gat_layer_config *first = &model->layers[0].config;
    const int64_t f_dst = gat_layer_dst_features(first);
    int64_t rows = 0, cols = 0;
    gat_status status = GAT_OK;
    if (o->features_dst != NULL) {
        status = npy_shape(ctx, o->features_dst, &rows, &cols);
        if (status == GAT_OK && rows != n)
            return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                             "%s has %lld rows but %s has %lld: a bipartite graph (sources "
                             "and destinations apart) does not run distributed (its sources "
                             "would need a partition of their own); run it in one process",
                             o->features_dst, (long long)rows, o->features, (long long)n);
        if (status == GAT_OK && cols != f_dst)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "%s: the model expects %lld destination features but it has "
                             "%lld columns",
                             o->features_dst, (long long)f_dst, (long long)cols);
    } else if (f_dst != first->in_features) {
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "layer 0 reads destination features of width %lld: features_dst "
                         "(--features-dst) is required",
                         (long long)f_dst);
    }
    for (int l = 0; l < model->num_layers && status == GAT_OK; l++) {
        const int64_t d = model->layers[l].config.edge_dim;
        if (d > 0 && r->edge_dim > 0 && d != r->edge_dim)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "layers with edge features of widths %lld and %lld: one "
                             "edge_attr cannot feed both",
                             (long long)r->edge_dim, (long long)d);
        r->edge_dim = d > 0 ? d : r->edge_dim;
    }
    if (status != GAT_OK || o->edge_attr == NULL) {
        if (status == GAT_OK && r->edge_dim > 0)
            status = gat__fail(ctx, GAT_ERR_INVALID,
                               "the model has edge features (edge_dim %lld) but no edge_attr "
                               "(--edge-attr) was given",
                               (long long)r->edge_dim);
        return status;
    }
    status = npy_shape(ctx, o->edge_attr, &rows, &cols);
    if (status == GAT_OK && r->edge_dim > 0 && cols != r->edge_dim)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "%s: %lld columns, but the model's layers have edge_dim %lld",
                         o->edge_attr, (long long)cols, (long long)r->edge_dim);
    if (status == GAT_OK && rows != r->num_edges)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "%s: %lld rows, but %s has %lld edges (one row per edge, in the "
                         "order of the edge list the .gcsr was converted from)",
                         o->edge_attr, (long long)rows, o->graph, (long long)r->num_edges);
    return status;
}

/* The graph file's and features' shapes, then the partition. */
static gat_status partition(gat_context *ctx, run *r, const gat_model *model,
                            const gat_dist_infer_options *o, gat__gcsr_file *f)
{
    gat_status status = gat__gcsr_open(ctx, o->graph, f);
    gat_array *probe = NULL;
    int64_t n = 0;
    if (status == GAT_OK)
        status = gat__npy_read_rows(ctx, o->features, 0, 0, &probe, &n);
    if (status == GAT_OK && f->num_src_nodes != f->num_nodes)
        status = gat__fail(ctx, GAT_ERR_UNSUPPORTED, "%s: a bipartite graph (%lld source, "
                           "%lld destination nodes) does not run distributed yet", o->graph,
                           (long long)f->num_src_nodes, (long long)f->num_nodes);
    if (status == GAT_OK && n < f->num_nodes)
        status = gat__fail(ctx, GAT_ERR_RANGE, "%s: the graph has %lld nodes, more than the "
                           "%lld rows of %s", o->graph, (long long)f->num_nodes, (long long)n,
                           o->features);
    if (status == GAT_OK && probe->shape[1] != model->layers[0].config.in_features)
        status = gat__fail(ctx, GAT_ERR_INVALID, "%s: the model expects %lld input features "
                           "but %s has %lld columns", o->features,
                           (long long)model->layers[0].config.in_features, o->features,
                           (long long)probe->shape[1]);
    gat_array_destroy(&probe);
    r->num_nodes = n;
    r->num_edges = f->num_edges;
    r->in_features = model->layers[0].config.in_features;
    if (status == GAT_OK)
        status = check_side_inputs(ctx, r, model, o, n);
    if (status == GAT_OK)
        r->bounds = gat__alloc_array(ctx, (int64_t)r->ranks + 1, sizeof *r->bounds,
                                     "partition bounds", &status);
    if (status == GAT_OK)
        status = gat__partition_bounds(ctx, file_row_ptr_at, f, n, f->num_edges, r->ranks,
                                       r->bounds);
    return gat__dist_agree(ctx, r->comm, status);
}

/* This rank's rows of the graph, and its halo with the local graph. */
static gat_status read_rows(gat_context *ctx, run *r, const gat__gcsr_file *f)
{
    const int64_t first = r->bounds[r->rank], last = r->bounds[r->rank + 1];
    const int64_t file_last = last < f->num_nodes ? last : f->num_nodes;
    int64_t begin = 0, end = 0;
    gat_status status = file_row_ptr_at(ctx, f, first, &begin);
    if (status == GAT_OK)
        status = file_row_ptr_at(ctx, f, last, &end);
    r->edge_begin = begin;
    int64_t *row_ptr = NULL;
    int32_t *col = NULL;
    if (status == GAT_OK)
        row_ptr = gat__alloc_array(ctx, last - first + 1, sizeof *row_ptr, "graph rows",
                                   &status);
    if (status == GAT_OK)
        col = gat__alloc_array(ctx, end - begin, sizeof *col, "graph sources", &status);
    int64_t read = 0;
    if (status == GAT_OK && first < file_last) {
        status = gat__gcsr_read_rows(ctx, f, first, file_last, row_ptr, col, end - begin);
        read = file_last - first;
    }
    /* Edge attributes follow the edges' input positions, as in one
     * process; a file without them is in input order already. */
    if (status == GAT_OK && r->edge_dim > 0 && f->pos_width != 0) {
        r->edge_rows = gat__alloc_array(ctx, end - begin, sizeof *r->edge_rows,
                                        "edge attribute rows", &status);
        if (status == GAT_OK)
            status = gat__gcsr_read_positions(ctx, f, begin, end - begin, r->edge_rows);
    }
    if (status == GAT_OK) {
        if (read == 0)
            row_ptr[0] = 0;
        for (int64_t i = read + 1; i <= last - first; i++)
            row_ptr[i] = row_ptr[read];
        status = gat__halo_build(ctx, &r->halo, r->bounds, r->ranks, r->rank, r->num_nodes,
                                 row_ptr, col, true);
    }
    gat__free_raw(&ctx->allocator, row_ptr);
    gat__free_raw(&ctx->allocator, col);
    return gat__dist_agree(ctx, r->comm, status);
}

/* MPI counts are ints: a count beyond them is refused, not wrapped. */
static gat_status int_count(gat_context *ctx, int64_t count, const char *what, int *out)
{
    if (count > INT_MAX)
        return gat__fail(ctx, GAT_ERR_OVERFLOW, "MPI: %lld %s exceed an int count",
                         (long long)count, what);
    *out = (int)count;
    return GAT_OK;
}

/* Each rank tells the owners which of their rows it needs: the send lists. */
static gat_status exchange_lists(gat_context *ctx, run *r)
{
    const int p = r->ranks;
    gat__halo *h = &r->halo;
    gat_status status = GAT_OK;
    int64_t *want = gat__alloc_array(ctx, 2 * (int64_t)p + 1, sizeof *want, "halo counts",
                                     &status);
    int *counts = gat__alloc_array(ctx, 4 * (int64_t)p, sizeof *counts, "halo counts",
                                   &status);
    int64_t *asked = NULL;
    /* Every rank enters the collectives below, or none does. */
    status = gat__dist_agree(ctx, r->comm, status);
    if (status != GAT_OK)
        goto done;
    {
        for (int q = 0; q < p; q++)
            want[q] = h->recv_start[q + 1] - h->recv_start[q];
        int code = MPI_Alltoall(want, 1, MPI_INT64_T, want + p, 1, MPI_INT64_T, r->comm);
        if (code != MPI_SUCCESS)
            status = gat__dist_mpi_fail(ctx, code, "MPI_Alltoall (halo counts)");
    }
    /* want + p becomes the send offsets [p + 1]. */
    int64_t *send_start = want + p, total = 0;
    for (int q = 0; q < p && status == GAT_OK; q++) {
        int64_t c = send_start[q];
        send_start[q] = total;
        total += c;
        status = int_count(ctx, want[q], "halo rows", &counts[q]);
        if (status == GAT_OK)
            status = int_count(ctx, h->recv_start[q], "halo rows", &counts[p + q]);
        if (status == GAT_OK)
            status = int_count(ctx, c, "halo rows", &counts[2 * p + q]);
        if (status == GAT_OK)
            status = int_count(ctx, send_start[q], "halo rows", &counts[3 * p + q]);
    }
    if (status == GAT_OK) {
        send_start[p] = total;
        asked = gat__alloc_array(ctx, total, sizeof *asked, "halo requests", &status);
    }
    status = gat__dist_agree(ctx, r->comm, status);
    if (status == GAT_OK) {
        int code = MPI_Alltoallv(h->halo_ids, counts, counts + p, MPI_INT64_T, asked,
                                 counts + 2 * p, counts + 3 * p, MPI_INT64_T, r->comm);
        if (code != MPI_SUCCESS)
            status = gat__dist_mpi_fail(ctx, code, "MPI_Alltoallv (halo lists)");
        if (status == GAT_OK)
            status = gat__halo_set_sends(ctx, h, send_start, asked);
        status = gat__dist_agree(ctx, r->comm, status);
    }
done:
    gat__free_raw(&ctx->allocator, want);
    gat__free_raw(&ctx->allocator, counts);
    gat__free_raw(&ctx->allocator, asked);
    return status;
}

/* This rank's rows of a [N, cols] .npy, in position order (*out). */
static gat_status read_node_rows(gat_context *ctx, const run *r, const char *path, int64_t cols,
                                 bool normalize, const gat_model *model, float **out)
{
    const gat__halo *h = &r->halo;
    gat_array *rows = NULL;
    gat_status status = gat__npy_read_rows(ctx, path, h->first, h->rows, &rows, NULL);
    /* The features get the model's recorded steps; destination features
     * its row normalisation (as gat-infer applies them in one process). */
    if (status == GAT_OK && normalize)
        status = model != NULL
                     ? gat_model_preprocess(ctx, model, rows->data, h->rows, cols)
                     : gat_features_normalize_rows(ctx, rows->data, h->rows, cols);
    if (status == GAT_OK)
        *out = gat__alloc_array(ctx, h->rows * cols, sizeof **out, "feature rows", &status);
    if (status == GAT_OK) {
        const size_t row_bytes = (size_t)cols * sizeof(float);
        for (int64_t p = 0; p < h->rows; p++)
            memcpy(*out + p * cols, (const float *)rows->data + h->row_of[p] * cols, row_bytes);
    }
    gat_array_destroy(&rows);
    return status;
}

/* Rows of edge_attr read at a time when a rank gathers its edges' rows:
 * a window of the file is read whole, so that rows near each other cost
 * one read, while memory stays bounded by the window. */
#define EDGE_ROW_WINDOW ((int64_t)1 << 16)

typedef struct edge_row {
    int64_t row, edge;
} edge_row;

static int by_row(const void *a, const void *b)
{
    const int64_t x = ((const edge_row *)a)->row, y = ((const edge_row *)b)->row;
    return (x > y) - (x < y);
}

/* The rows r->edge_rows of path into out [edges, d] (out[k] = row
 * edge_rows[k]): sorted by row, then read window by window. */
static gat_status gather_edge_rows(gat_context *ctx, const run *r, const char *path, int64_t d,
                                   float *out)
{
    const int64_t edges = r->halo.edges;
    gat_status status;
    edge_row *order = gat__alloc_array(ctx, edges, sizeof *order, "edge attribute order",
                                       &status);
    if (order == NULL)
        return status;
    for (int64_t k = 0; k < edges; k++)
        order[k] = (edge_row){r->edge_rows[k], k};
    qsort(order, (size_t)edges, sizeof *order, by_row);
    for (int64_t i = 0; status == GAT_OK && i < edges;) {
        const int64_t lo = order[i].row;
        int64_t j = i;
        while (j < edges && order[j].row < lo + EDGE_ROW_WINDOW)
            j++;
        gat_array *rows = NULL;
        status = gat__npy_read_rows(ctx, path, lo, order[j - 1].row + 1 - lo, &rows, NULL);
        for (int64_t k = i; status == GAT_OK && k < j; k++)
            memcpy(out + order[k].edge * d, (const float *)rows->data + (order[k].row - lo) * d,
                   (size_t)d * sizeof(float));
        gat_array_destroy(&rows);
        i = j;
    }
    gat__free_raw(&ctx->allocator, order);
    return status;
}

/* This rank's edge attributes: the file's rows of its edges (at their
 * input positions, else its range of the .gcsr's edge order), moved into
 * the local graph's order (rows in position order, each keeping its
 * edges). */
static gat_status read_edge_attributes(gat_context *ctx, run *r, const char *path)
{
    const gat__halo *h = &r->halo;
    const gat_graph *g = h->graph;
    const int64_t d = r->edge_dim;
    gat_array *rows = NULL;
    float *gathered = NULL;
    const float *file_order = NULL; /* [edges, d] in the .gcsr's edge order */
    gat_status status;
    if (r->edge_rows != NULL) {
        gathered = gat__alloc_array(ctx, h->edges * d, sizeof *gathered, "edge attributes",
                                    &status);
        if (gathered != NULL)
            status = gather_edge_rows(ctx, r, path, d, gathered);
        file_order = gathered;
    } else {
        status = gat__npy_read_rows(ctx, path, r->edge_begin, h->edges, &rows, NULL);
        file_order = status == GAT_OK ? rows->data : NULL;
    }
    if (status == GAT_OK)
        r->edge_attr = gat__alloc_array(ctx, h->edges * d, sizeof *r->edge_attr,
                                        "edge attributes", &status);
    for (int64_t i = 0, at = 0; status == GAT_OK && i < h->rows; i++) {
        const int64_t p = h->position[i], count = g->row_ptr[p + 1] - g->row_ptr[p];
        memcpy(r->edge_attr + g->row_ptr[p] * d, file_order + at * d,
               (size_t)(count * d) * sizeof(float));
        at += count;
    }
    gat_array_destroy(&rows);
    gat__free_raw(&ctx->allocator, gathered);
    return status;
}

/* This rank's inputs: feature rows (preprocessed), destination feature
 * rows, edge attributes. */
static gat_status read_features(gat_context *ctx, run *r, const gat_model *model,
                                const gat_dist_infer_options *o)
{
    gat_status status = read_node_rows(ctx, r, o->features, r->in_features, o->preprocess,
                                       model, &r->x);
    const bool normalize_dst =
        o->preprocess && (model->preprocess & GAT_PREPROCESS_NORMALIZE_ROWS) != 0;
    if (status == GAT_OK && o->features_dst != NULL)
        status = read_node_rows(ctx, r, o->features_dst,
                                gat_layer_dst_features(&model->layers[0].config),
                                normalize_dst, NULL, &r->x_dst);
    if (status == GAT_OK && r->edge_dim > 0)
        status = read_edge_attributes(ctx, r, o->edge_attr);
    return gat__dist_agree(ctx, r->comm, status);
}

static gat_status allocate(gat_context *ctx, run *r, const gat_model *model, bool attention)
{
    const gat__halo *h = &r->halo;
    int64_t hc = 0, heads = 0, hidden = 0;
    for (int l = 0; l < model->num_layers; l++) {
        const gat_layer_config *c = &model->layers[l].config;
        hc = c->heads * c->channels > hc ? c->heads * c->channels : hc;
        heads = c->heads > heads ? c->heads : heads;
        hidden = gat__layer_out_width(c) > hidden ? gat__layer_out_width(c) : hidden;
    }
    const int64_t nodes = h->rows + h->halo, sent = h->send_start[r->ranks];
    gat_status status = GAT_OK;
    size_t a = 0, b = 0, c = 0, d = 0;
    if (!gat__mul_size((size_t)nodes, (size_t)hc, &a) ||
        !gat__mul_size((size_t)nodes, (size_t)heads, &b) ||
        !gat__mul_size((size_t)h->rows, (size_t)hidden, &c) ||
        !gat__mul_size((size_t)sent, (size_t)(hc + heads), &d) || a > INT64_MAX ||
        b > INT64_MAX || c > INT64_MAX || d > INT64_MAX)
        status = gat__fail(ctx, GAT_ERR_OVERFLOW, "distributed forward: %lld rows overflow "
                           "the buffers", (long long)nodes);
    if (status == GAT_OK && r->family) {
        /* h_src holds the owned rows and the halo's; the rest owned rows. */
        status = gat__family_buffers_alloc(ctx, model, nodes, h->rows, r->x_dst != NULL,
                                           &r->fam);
        r->exchanged = r->fam.h_src;
        r->between[0] = r->fam.between[0];
        r->between[1] = r->fam.between[1];
    } else if (status == GAT_OK) {
        r->projected = gat__alloc_array(ctx, (int64_t)a, sizeof(float), "projected rows",
                                        &status);
        r->exchanged = r->projected;
        if (status == GAT_OK)
            r->score_src = gat__alloc_array(ctx, (int64_t)b, sizeof(float), "source scores",
                                            &status);
        if (status == GAT_OK)
            r->score_dst = gat__alloc_array(ctx, (int64_t)b, sizeof(float),
                                            "destination scores", &status);
        for (int k = 0; k < 2 && status == GAT_OK; k++)
            r->between[k] = gat__alloc_array(ctx, (int64_t)c, sizeof(float), "hidden rows",
                                             &status);
    }
    if (status == GAT_OK)
        r->send = gat__alloc_array(ctx, (int64_t)d, sizeof(float), "halo send buffer", &status);
    if (status == GAT_OK)
        r->requests = gat__alloc_array(ctx, 4 * (int64_t)r->ranks, sizeof *r->requests,
                                       "MPI requests", &status);
    const gat_layer_config *last = &model->layers[model->num_layers - 1].config;
    if (status == GAT_OK && attention && last->add_self_loops)
        status = gat__graph_loop_prefix(ctx, h->graph, &r->loops_before);
    return gat__dist_agree(ctx, r->comm, status);
}

/* Whether every message of a layer fits an int count (checked by every
 * rank, and agreed on, before any is posted: a rank that gave up after
 * posting some would leave its partners waiting). */
static gat_status check_counts(gat_context *ctx, const run *r, int64_t floats)
{
    const gat__halo *h = &r->halo;
    gat_status status = GAT_OK;
    for (int q = 0; q < r->ranks && status == GAT_OK; q++) {
        int n;
        status = int_count(ctx, (h->recv_start[q + 1] - h->recv_start[q]) * floats,
                           "halo floats", &n);
        if (status == GAT_OK)
            status = int_count(ctx, (h->send_start[q + 1] - h->send_start[q]) * floats,
                               "halo floats", &n);
    }
    return status;
}

/* Posts the halo exchange of one layer: receives straight into the halo
 * rows of the exchanged rows (projected or the family's h_src, and
 * score_src), sends from a packed buffer. */
static gat_status post_exchange(gat_context *ctx, run *r, int64_t hc, int64_t heads,
                                bool scores, int layer, int *posted)
{
    const gat__halo *h = &r->halo;
    const int64_t sent = h->send_start[r->ranks];
    float *rows_out = r->send, *scores_out = r->send + sent * hc;
    for (int64_t k = 0; k < sent; k++) {
        memcpy(rows_out + k * hc, r->exchanged + h->send_rows[k] * hc,
               (size_t)hc * sizeof(float));
        if (scores)
            memcpy(scores_out + k * heads, r->score_src + h->send_rows[k] * heads,
                   (size_t)heads * sizeof(float));
    }
    const int64_t floats = hc + (scores ? heads : 0);
    const int slot = layer < GAT_DIST_REPORT_LAYERS ? layer : GAT_DIST_REPORT_LAYERS - 1;
    r->report->bytes_sent[slot] += sent * floats * (int64_t)sizeof(float);
    r->report->bytes_received[slot] += h->halo * floats * (int64_t)sizeof(float);
    *posted = 0;
    for (int q = 0; q < r->ranks; q++) {
        const int64_t recv_first = h->recv_start[q], send_first = h->send_start[q];
        const int64_t recv = h->recv_start[q + 1] - recv_first;
        const int64_t send = h->send_start[q + 1] - send_first;
        int code = MPI_SUCCESS;
        if (recv > 0) {
            code = MPI_Irecv(r->exchanged + (h->rows + recv_first) * hc, (int)(recv * hc),
                             MPI_FLOAT, q, 0, r->comm, &r->requests[(*posted)++]);
            if (code == MPI_SUCCESS && scores)
                code = MPI_Irecv(r->score_src + (h->rows + recv_first) * heads,
                                 (int)(recv * heads), MPI_FLOAT, q, 1, r->comm,
                                 &r->requests[(*posted)++]);
        }
        if (code == MPI_SUCCESS && send > 0) {
            code = MPI_Isend(rows_out + send_first * hc, (int)(send * hc), MPI_FLOAT, q, 0,
                             r->comm, &r->requests[(*posted)++]);
            if (code == MPI_SUCCESS && scores)
                code = MPI_Isend(scores_out + send_first * heads, (int)(send * heads),
                                 MPI_FLOAT, q, 1, r->comm, &r->requests[(*posted)++]);
        }
        if (code != MPI_SUCCESS)
            return gat__dist_mpi_fail(ctx, code, "MPI_Isend/MPI_Irecv (halo)");
    }
    return GAT_OK;
}

/* One layer's inputs and outputs on this rank. */
typedef struct layer_io {
    const gat__layer *layer;
    const float *input, *input_dst; /* owned rows; input_dst: the family's x_dst */
    float *output, *attention;
    bool scores;                    /* the plain forward stores the node scores */
} layer_io;

/* The node side of a layer over the owned rows: what the halo carries,
 * into r->exchanged. */
static gat_status project(gat_context *ctx, run *r, const layer_io *io)
{
    const gat__halo *h = &r->halo;
    if (r->family)
        return gat__family_layer_terms(ctx, io->layer, io->input, h->rows, io->input_dst,
                                       h->rows, &r->fam);
    return gat__project_forward(ctx, io->layer, io->input, h->rows, r->projected,
                                io->scores ? r->score_src : NULL,
                                io->scores ? r->score_dst : NULL);
}

/* The edge pass over the rows at positions [first, last). */
static gat_status edge_pass(gat_context *ctx, run *r, const layer_io *io, int64_t first,
                            int64_t last)
{
    const gat__halo *h = &r->halo;
    if (r->family) {
        const gat__family_edges_args a =
            gat__family_layer_edges(io->layer, h->graph, &r->fam, r->edge_attr, io->output,
                                    io->attention, r->loops_before);
        return gat__family_edges_rows(ctx, &a, first, last);
    }
    return gat__attention_forward_rows(ctx, io->layer, h->graph, first, last, r->projected,
                                       io->scores ? r->score_src : NULL,
                                       io->scores ? r->score_dst : NULL, io->output,
                                       io->attention, r->loops_before);
}

static gat_status run_layers(gat_context *ctx, run *r, const gat_model *model, bool attention)
{
    const gat__halo *h = &r->halo;
    layer_io io = {NULL, r->x, r->x_dst != NULL ? r->x_dst : r->x, NULL, NULL, false};
    gat_status status = GAT_OK;
    for (int l = 0; l < model->num_layers && status == GAT_OK; l++) {
        io.layer = &model->layers[l];
        const gat_layer_config *c = &io.layer->config;
        const int64_t hc = c->heads * c->channels;
        const bool last = l + 1 == model->num_layers;
        io.output = last ? r->out : r->between[l % 2];
        io.attention = last && attention ? r->attention : NULL;
        /* The family makes every score inside its edge pass. */
        io.scores = !r->family && (io.attention != NULL || !gat_layer_scores_in_edge_pass(c));
        double t0 = seconds_now();
        status = project(ctx, r, &io);
        /* Before any rank waits for a partner's rows. */
        if (status == GAT_OK)
            status = check_counts(ctx, r, hc + (io.scores ? c->heads : 0));
        status = gat__dist_agree(ctx, r->comm, status);
        if (status != GAT_OK)
            break;
        double t1 = seconds_now();
        int posted = 0;
        status = post_exchange(ctx, r, hc, c->heads, io.scores, l, &posted);
        double t2 = seconds_now();
        if (status == GAT_OK)
            status = edge_pass(ctx, r, &io, 0, h->interior);
        double t3 = seconds_now();
        int code = MPI_Waitall(posted, r->requests, MPI_STATUSES_IGNORE);
        if (code != MPI_SUCCESS && status == GAT_OK)
            status = gat__dist_mpi_fail(ctx, code, "MPI_Waitall (halo)");
        double t4 = seconds_now();
        if (status == GAT_OK)
            status = edge_pass(ctx, r, &io, h->interior, h->rows);
        if (status == GAT_OK && !last)
            gat__activation_forward(ctx, model->activation, io.output,
                                    h->rows * gat__layer_out_width(c));
        double t5 = seconds_now();
        r->report->seconds_compute += (t1 - t0) + (t3 - t2) + (t5 - t4);
        r->report->seconds_communication += (t2 - t1) + (t4 - t3);
        r->report->seconds_wait += t4 - t3;
        status = gat__dist_agree(ctx, r->comm, status);
        io.input = io.input_dst = io.output;
    }
    return status;
}

/* gat_model_evaluate's metrics of the output over the listed nodes: each
 * node's term by its owner (gat__nll_row, as one process computes it), one
 * reduction in which every term has a single non-zero contribution (so the
 * sum is the term exactly), then the sum in list order on every rank. */
static gat_status evaluate(gat_context *ctx, run *r, const gat_model *model,
                           const gat_dist_infer_options *o)
{
    const gat__halo *h = &r->halo;
    const int64_t classes = gat_model_out_features(model);
    gat_array *labels = NULL, *nodes = NULL;
    double *terms = NULL;
    gat_status status = gat_npy_read(ctx, o->labels, GAT_INT64, &labels);
    if (status == GAT_OK)
        status = gat_npy_read(ctx, o->eval_nodes, GAT_INT64, &nodes);
    if (status == GAT_OK && (labels->ndim != 1 || labels->shape[0] != r->num_nodes))
        status = gat__fail(ctx, GAT_ERR_INVALID,
                           "%s: expected [%lld] class ids (one per feature row), found %d-D "
                           "%lld",
                           o->labels, (long long)r->num_nodes, labels->ndim,
                           (long long)labels->shape[0]);
    if (status == GAT_OK && nodes->ndim != 1)
        status = gat__fail(ctx, GAT_ERR_INVALID, "%s: expected a 1-D array of node ids",
                           o->eval_nodes);
    const int64_t count = status == GAT_OK ? nodes->shape[0] : 0;
    int n = 0;
    if (status == GAT_OK)
        status = gat__check_targets(ctx, labels->data, nodes->data, count, r->num_nodes,
                                    classes);
    if (status == GAT_OK)
        status = int_count(ctx, 2 * count, "evaluated nodes", &n);
    if (status == GAT_OK)
        terms = gat__calloc_array(ctx, 2 * count, sizeof *terms, "evaluation terms", &status);
    status = gat__dist_agree(ctx, r->comm, status);
    if (status == GAT_OK) {
        const int64_t *y = labels->data, *index = nodes->data;
        for (int64_t k = 0; k < count; k++) {
            const int64_t i = index[k] - h->first;
            if (i < 0 || i >= h->rows)
                continue;
            const gat__nll_term t =
                gat__nll_row(r->out + h->position[i] * classes, classes, y[index[k]]);
            terms[k] = t.loss;
            terms[count + k] = t.correct;
        }
        int code = MPI_Allreduce(MPI_IN_PLACE, terms, n, MPI_DOUBLE, MPI_SUM, r->comm);
        if (code != MPI_SUCCESS)
            status = gat__dist_mpi_fail(ctx, code, "MPI_Allreduce (evaluation)");
        double total = 0.0, correct = 0.0;
        for (int64_t k = 0; k < count; k++) {
            total += terms[k];
            correct += terms[count + k];
        }
        r->report->eval_count = count;
        r->report->metrics.loss = total / (double)count;
        r->report->metrics.accuracy = correct / (double)count;
        status = gat__dist_agree(ctx, r->comm, status);
    }
    gat__free_raw(&ctx->allocator, terms);
    gat_array_destroy(&labels);
    gat_array_destroy(&nodes);
    return status;
}

/* Rows of data [rows, cols] holding a NaN or infinity. */
static int64_t nonfinite_rows(const float *data, int64_t rows, int64_t cols)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < rows; i++) {
        bool row_bad = false;
        for (int64_t k = 0; k < cols; k++)
            row_bad |= !isfinite(data[i * cols + k]);
        bad += row_bad;
    }
    return bad;
}

/* The outputs in global order (un-permuted into projected's memory and a
 * buffer for the attention), written at this rank's offsets. */
static gat_status write_outputs(gat_context *ctx, run *r, const gat_model *model,
                                const gat_dist_infer_options *o, gat__dist_output *outs)
{
    const gat__halo *h = &r->halo;
    const gat_layer_config *c = &model->layers[model->num_layers - 1].config;
    const int64_t width = gat__layer_out_width(c), heads = c->heads;
    float *out = r->exchanged; /* rows * width <= (rows + halo) * max H*C */
    for (int64_t i = 0; i < h->rows; i++)
        memcpy(out + i * width, r->out + h->position[i] * width, (size_t)width * sizeof(float));
    int64_t counts[4] = {nonfinite_rows(out, h->rows, width), 0, 0, 0}, totals[4];
    int64_t local_edges = 0, before = 0;
    gat_status status = GAT_OK;
    float *att = NULL;
    if (o->attention != NULL) {
        const gat_graph *g = h->graph;
        const bool loops = c->add_self_loops;
        local_edges = gat__attention_row_offset(g, loops, r->loops_before, h->rows);
        att = gat__alloc_array(ctx, local_edges * heads, sizeof *att, "attention rows", &status);
        for (int64_t i = 0, at = 0; status == GAT_OK && i < h->rows; i++) {
            const int64_t p = h->position[i];
            const int64_t from = gat__attention_row_offset(g, loops, r->loops_before, p);
            const int64_t to = gat__attention_row_offset(g, loops, r->loops_before, p + 1);
            memcpy(att + at * heads, r->attention + from * heads,
                   (size_t)((to - from) * heads) * sizeof(float));
            at += to - from;
        }
        if (status == GAT_OK)
            counts[1] = nonfinite_rows(att, local_edges, heads);
    }
    counts[2] = local_edges;
    status = gat__dist_agree(ctx, r->comm, status);
    int code = MPI_SUCCESS;
    if (status == GAT_OK)
        code = MPI_Allreduce(counts, totals, 3, MPI_INT64_T, MPI_SUM, r->comm);
    if (code == MPI_SUCCESS && status == GAT_OK)
        code = MPI_Exscan(&local_edges, &before, 1, MPI_INT64_T, MPI_SUM, r->comm);
    if (code != MPI_SUCCESS)
        status = gat__dist_mpi_fail(ctx, code, "MPI_Allreduce/MPI_Exscan (output sizes)");
    if (r->rank == 0)
        before = 0; /* MPI_Exscan leaves rank 0's undefined */
    if (status == GAT_OK) {
        r->report->nonfinite_rows = totals[0];
        if (!o->allow_nonfinite && (totals[0] > 0 || totals[1] > 0))
            status = gat__fail(ctx, GAT_ERR_NONFINITE,
                               "the output holds NaN or infinity in %lld rows, the attention "
                               "in %lld rows; nothing written",
                               (long long)totals[0], (long long)totals[1]);
    }
    /* Up to here every rank has the same status; the writes' may differ. */
    gat_status written = GAT_OK;
    if (status == GAT_OK)
        written = gat__dist_output_write(ctx, r->comm, &outs[0], r->num_nodes, width, out,
                                         h->first * width, h->rows * width);
    if (written == GAT_OK && status == GAT_OK && att != NULL)
        written = gat__dist_output_write(ctx, r->comm, &outs[1], totals[2], heads, att,
                                         before * heads, local_edges * heads);
    gat__free_raw(&ctx->allocator, att);
    return status != GAT_OK ? status : gat__dist_agree(ctx, r->comm, written);
}

static void free_run(gat_context *ctx, run *r)
{
    if (r->family) { /* the family's buffers own these */
        r->between[0] = r->between[1] = NULL;
        gat__family_buffers_free(ctx, &r->fam);
    }
    float **floats[] = {&r->x,          &r->x_dst,      &r->edge_attr, &r->projected,
                        &r->score_src,  &r->score_dst,  &r->between[0], &r->between[1],
                        &r->out,        &r->attention,  &r->send};
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++)
        GAT_FREE(&ctx->allocator, *floats[k]);
    GAT_FREE(&ctx->allocator, r->bounds);
    GAT_FREE(&ctx->allocator, r->loops_before);
    GAT_FREE(&ctx->allocator, r->edge_rows);
    GAT_FREE(&ctx->allocator, r->requests);
    gat__halo_free(ctx, &r->halo);
}

/* Outputs opened before any long work, as the single-process tools do. */
static gat_status open_outputs(gat_context *ctx, run *r, const gat_dist_infer_options *o,
                               gat__dist_output *outs)
{
    const char *inputs[4] = {o->graph, o->features, NULL, NULL};
    int count = 2;
    if (o->features_dst != NULL)
        inputs[count++] = o->features_dst;
    if (o->edge_attr != NULL)
        inputs[count++] = o->edge_attr;
    gat_status status = gat__dist_output_open(ctx, r->comm, &outs[0], o->out, inputs, count);
    if (status == GAT_OK && o->attention != NULL)
        status = gat__dist_output_open(ctx, r->comm, &outs[1], o->attention, inputs, count);
    if (status == GAT_OK && o->attention != NULL) { /* both open: agreed */
        gat_status distinct = GAT_OK;
        if (r->rank == 0) {
            gat_output *pair[2] = {outs[0].out, outs[1].out};
            distinct = gat_output_check_distinct(ctx, pair, 2);
        }
        status = gat__dist_agree(ctx, r->comm, distinct);
    }
    return status;
}

static gat_status check_args(gat_context *ctx, const gat_model *model,
                             const gat_dist_infer_options *o)
{
    if (model == NULL || o == NULL || o->graph == NULL || o->features == NULL ||
        (o->out == NULL && o->attention != NULL) || (o->labels == NULL) != (o->eval_nodes == NULL))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "gat_dist_infer: model, options, graph and features are required, "
                         "out with attention, labels with eval_nodes");
    if (ctx->gemm == GAT_GEMM_BLAS)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "gat_dist_infer: GAT_GEMM_BLAS can make a row's bits depend on the "
                         "rows beside it, so a distributed run needs the built-in GEMM");
    return GAT_OK;
}

gat_status gat_dist_infer(gat_context *ctx, const gat_model *model,
                          const gat_dist_infer_options *options, gat_dist_report *report)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    const double start = seconds_now();
    gat_dist_report scratch_report;
    run r;
    memset(&r, 0, sizeof r);
    r.report = report != NULL ? report : &scratch_report;
    memset(r.report, 0, sizeof *r.report);
    gat__dist_output outs[2] = {{NULL, NULL, -1, 0}, {NULL, NULL, -1, 0}};
    gat__gcsr_file file = {-1, NULL, 0, 0, 0, 0, 0, 0, 0};
    int code = MPI_Comm_dup(MPI_COMM_WORLD, &r.comm);
    if (code != MPI_SUCCESS)
        return gat__dist_mpi_fail(ctx, code, "MPI_Comm_dup");
    MPI_Comm_rank(r.comm, &r.rank);
    MPI_Comm_size(r.comm, &r.ranks);
    gat_status status = gat__dist_agree(ctx, r.comm, check_args(ctx, model, options));
    if (status == GAT_OK) {
        /* The forward one process runs (gat_model_forward_inputs): the
         * family's for every layer once any layer or input needs it. */
        gat_inputs plain;
        gat_inputs_init(&plain, NULL, 0, 0);
        r.family = options->features_dst != NULL || !gat__model_is_plain(model, &plain);
    }
    bool opened = false;
    if (status == GAT_OK && options->out != NULL) {
        status = open_outputs(ctx, &r, options, outs);
        opened = true;
    }
    if (status == GAT_OK)
        status = partition(ctx, &r, model, options, &file);
    if (status == GAT_OK)
        status = read_rows(ctx, &r, &file);
    gat__gcsr_close(&file);
    if (status == GAT_OK)
        status = exchange_lists(ctx, &r);
    if (status == GAT_OK)
        status = read_features(ctx, &r, model, options);
    const gat_layer_config *last =
        status == GAT_OK ? &model->layers[model->num_layers - 1].config : NULL;
    if (status == GAT_OK)
        status = allocate(ctx, &r, model, options->attention != NULL);
    if (status == GAT_OK) {
        gat_status s = GAT_OK;
        r.out = gat__alloc_array(ctx, r.halo.rows * gat__layer_out_width(last), sizeof(float),
                                 "output rows", &s);
        if (s == GAT_OK && options->attention != NULL)
            r.attention = gat__alloc_array(
                ctx,
                gat__attention_row_offset(r.halo.graph, last->add_self_loops, r.loops_before,
                                          r.halo.rows) * last->heads,
                sizeof(float), "attention", &s);
        status = gat__dist_agree(ctx, r.comm, s);
    }
    const double read_done = seconds_now();
    if (status == GAT_OK)
        status = run_layers(ctx, &r, model, options->attention != NULL);
    if (status == GAT_OK && options->labels != NULL)
        status = evaluate(ctx, &r, model, options);
    const double compute_done = seconds_now();
    if (status == GAT_OK && options->out != NULL)
        status = write_outputs(ctx, &r, model, options, outs);
    if (opened)
        status = gat__dist_outputs_finish(ctx, r.comm, outs, options->attention != NULL ? 2 : 1,
                                          status);
    gat_dist_report *rep = r.report;
    rep->rank = r.rank;
    rep->ranks = r.ranks;
    rep->num_nodes = r.num_nodes;
    rep->num_edges = r.num_edges;
    rep->first_row = r.halo.first;
    rep->rows = r.halo.rows;
    rep->edges = r.halo.edges;
    rep->interior_rows = r.halo.interior;
    rep->halo_rows = r.halo.halo;
    rep->send_rows = r.halo.send_start != NULL ? r.halo.send_start[r.ranks] : 0;
    rep->layers = model != NULL ? model->num_layers : 0;
    rep->seconds_read = read_done - start;
    rep->seconds_write = seconds_now() - compute_done;
    rep->seconds_total = seconds_now() - start;
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        rep->peak_rss_bytes = (int64_t)usage.ru_maxrss * 1024;
    free_run(ctx, &r);
    MPI_Comm_free(&r.comm);
    return status;
}

#endif
