/*
 * Distributed full-graph training over MPI (docs/distributed.md,
 * "Training"): each rank owns a contiguous range of destination rows,
 * aligned to the trainer's reduction blocks (GAT_REDUCE_BLOCK rows), and
 * computes the gradients bitwise as one process computes them
 * (gat_trainer_step), at any rank and thread count.
 *
 * What makes the bits the same:
 *  - rows are computed by the trainer's kernels (src/train) over this
 *    rank's local nodes, numbered in global order: the remote nodes below
 *    the owned rows, padding up to a block boundary, the owned rows, the
 *    remote nodes above. A row's forward reads only its sources' projected
 *    rows and scores (the halo, received from their owners);
 *  - the backward's pass B sums, for each source, over its out-edges in
 *    ascending slot order. The owner of a source runs it over ALL its
 *    out-edges: for edges into remote rows it receives those rows'
 *    output gradient (dyc), dot, score, shift and 1 / sum after pass A
 *    (the "reverse halo"), so the sum is the single process's chain;
 *  - the sums over nodes (d_bias, d_att_src, d_att_dst) are per block of
 *    GAT_REDUCE_BLOCK node ids; blocks lie inside one rank, so every rank
 *    gathers the blocks' partials in block order and adds them as one
 *    process does;
 *  - dW of a dense projection is cut into chunks of the gathered rows the
 *    step's receptive field lists (gat__linear_chunk_rows of the global
 *    count); a chunk's rows are gathered on the rank where it starts, its
 *    partial taken with the same call, and the partials added in chunk
 *    order on every rank; dW of a sparse input is one chain over the rows
 *    in ascending order, passed from rank to rank;
 *  - the loss is summed in index order from every target's term;
 *  - dropout masks are keyed by global element indices: the local index
 *    differs from the global one by a multiple of 4 (the padding before
 *    the owned rows makes it so), which shifts the mask's key exactly.
 */
#if GAT_HAVE_MPI
#include "dist.h"
#include "file_read.h"
#include "graph_binary.h"
#include "sgemm.h"
#include "trainer.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

/* Exchange lists with every rank: positions (local ids) grouped by peer. */
typedef struct lists {
    int64_t *start; /* [P + 1] */
    int32_t *pos;
} lists;

/* One self-loop policy's local edges. */
typedef struct policy {
    bool used;
    gat__edge_views v;
    int64_t slot_delta;  /* global slot = local slot + slot_delta for owned rows */
    int64_t remote_slots; /* slots of remote rows (their masks are drawn by slot) */
    int64_t *remote_slot; /* [remote_slots] local slot */
    int64_t *remote_gslot; /* [remote_slots] its global slot */
    lists halo_send, halo_recv;  /* forward: owned sources out, remote sources in */
    lists back_send, back_recv;  /* backward: owned destinations out, remote ones in */
} policy;

/* What a layer keeps beside the trainer's state (trainer.h). */
typedef struct layer_extra {
    policy *pol;
    float *grad[4]; /* weight, att_src, att_dst, bias */
} layer_extra;

struct gat_dist_trainer {
    gat_allocator allocator;
    MPI_Comm comm;
    int rank, ranks;
    bool failed; /* an agreed failure in the current call (see agree) */
    gat_model *model;
    gat_trainer_options options;
    int64_t num_nodes, in_features, steps;
    int64_t *bounds;            /* [P + 1] */
    int64_t first, rows;        /* owned global rows */
    int64_t n, origin;          /* local nodes; local id of the first owned row */
    int64_t *global_of;         /* [n] global id (-1: padding) */
    gat__rows owned, none;
    int32_t *owned_ids;
    uint8_t *owned_member, *no_member;
    policy pol[2];
    float *x;                   /* [n, F] (owned rows; zero elsewhere) */
    bool sparse;
    gat__sparse_input sparse_x;
    gat__layer_state *layers;
    layer_extra *extra;
    float *logits, *d_logits, *d_hidden[2], *dyc, *dot, *d_score_dst, *partials, *compact;
    float *scratch_grads;
    uint8_t *active, *mark;     /* [n] each */
    gat__param *params;         /* as the trainer's: values, grads, Adam's moments, best */
    int num_params;
    float *slab;
    int64_t num_edges;          /* the .gcsr's */
    /* The last step's traffic and times (gat_dist_trainer_report): counted
     * beside the arithmetic, never read by it. */
    gat_dist_report rep;
    double step_start;
};

#define ALLOC(ptr, count, what)                                                              \
    do {                                                                                     \
        if (status == GAT_OK)                                                                \
            (ptr) = gat__calloc_array(ctx, (count) > 0 ? (count) : 1, sizeof *(ptr), (what), \
                                      &status);                                              \
    } while (0)

static gat_status mpi_check(gat_context *ctx, int code, const char *call)
{
    return code == MPI_SUCCESS ? GAT_OK : gat__dist_mpi_fail(ctx, code, call);
}

/* gat__dist_agree at a point every rank reaches, once: after an agreed
 * failure (*failed) every rank skips the later points alike, and the
 * message keeps the failing rank's name. */
static gat_status agree(gat_context *ctx, MPI_Comm comm, gat_status status, bool *failed)
{
    if (*failed)
        return status;
    status = gat__dist_agree(ctx, comm, status);
    *failed = status != GAT_OK;
    return status;
}

static gat_status int_count(gat_context *ctx, int64_t count, int *out)
{
    if (count > INT_MAX)
        return gat__fail(ctx, GAT_ERR_OVERFLOW, "MPI: a count of %lld exceeds an int",
                         (long long)count);
    *out = (int)count;
    return GAT_OK;
}

/* ---- partition and local graph ---------------------------------------- */

static gat_status file_row_ptr_at(gat_context *ctx, const void *source, int64_t i, int64_t *value)
{
    const gat__gcsr_file *f = source;
    if (i > f->num_nodes) {
        *value = f->num_edges;
        return GAT_OK;
    }
    return gat__gcsr_row_ptr_at(ctx, f, i, value);
}

/* The partition of gat_dist_infer with each boundary moved to the nearest
 * multiple of GAT_REDUCE_BLOCK, so no reduction block spans two ranks. */
static void align_bounds(int64_t *bounds, int parts, int64_t n)
{
    for (int r = 1; r < parts; r++) {
        int64_t b = (bounds[r] + GAT_REDUCE_BLOCK / 2) / GAT_REDUCE_BLOCK * GAT_REDUCE_BLOCK;
        b = b > n ? n : b < bounds[r - 1] ? bounds[r - 1] : b;
        bounds[r] = b;
    }
    bounds[parts] = n;
}

/* Reads this rank's rows: row_ptr [rows + 1] (rebased to 0), col (global). */
static gat_status read_graph(gat_context *ctx, gat_dist_trainer *t, const char *path,
                             int64_t **row_ptr, int32_t **col)
{
    gat__gcsr_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    gat_status status = gat__gcsr_open(ctx, path, &f);
    int64_t n = 0;
    if (status == GAT_OK) {
        n = f.num_nodes > t->num_nodes ? f.num_nodes : t->num_nodes;
        if (f.num_nodes > t->num_nodes)
            status = gat__fail(ctx, GAT_ERR_RANGE, "%s: the graph has %lld nodes, more than "
                               "the %lld rows of the features", path, (long long)f.num_nodes,
                               (long long)t->num_nodes);
    }
    ALLOC(t->bounds, (int64_t)t->ranks + 1, "partition bounds");
    t->num_edges = f.num_edges;
    if (status == GAT_OK)
        status = gat__partition_bounds(ctx, file_row_ptr_at, &f, n, f.num_edges, t->ranks,
                                       t->bounds);
    if (status == GAT_OK)
        align_bounds(t->bounds, t->ranks, n);
    const int64_t first = status == GAT_OK ? t->bounds[t->rank] : 0;
    const int64_t last = status == GAT_OK ? t->bounds[t->rank + 1] : 0;
    const int64_t file_last = last < f.num_nodes ? last : f.num_nodes;
    int64_t begin = 0, end = 0;
    if (status == GAT_OK)
        status = file_row_ptr_at(ctx, &f, first, &begin);
    if (status == GAT_OK)
        status = file_row_ptr_at(ctx, &f, last, &end);
    ALLOC(*row_ptr, last - first + 1, "graph rows");
    ALLOC(*col, end - begin, "graph sources");
    int64_t read = 0;
    if (status == GAT_OK && first < file_last) {
        status = gat__gcsr_read_rows(ctx, &f, first, file_last, *row_ptr, *col, end - begin);
        read = file_last - first;
    }
    if (status == GAT_OK) {
        const int64_t base = (*row_ptr)[0];
        if (read == 0)
            (*row_ptr)[0] = 0;
        for (int64_t i = 0; i <= read; i++)
            (*row_ptr)[i] -= read > 0 ? base : 0;
        for (int64_t i = read + 1; i <= last - first; i++)
            (*row_ptr)[i] = (*row_ptr)[read];
        t->first = first;
        t->rows = last - first;
    }
    if (f.fd >= 0)
        gat__gcsr_close(&f);
    return status;
}

/* An attention edge crossing ranks: destination i (owned by the sender),
 * source j (owned by the receiver), its global slot and offset in row i. */
typedef struct cross {
    int64_t i, j, gslot, offset;
} cross;

/* Sends every cross edge to the owner of its source: out grouped by owner
 * (counts [P]), in [*in_count] received grouped by sender. */
static gat_status exchange_cross(gat_context *ctx, gat_dist_trainer *t, const cross *out,
                                 const int64_t *counts, cross **in, int64_t *in_count,
                                 int64_t *in_counts)
{
    const int p = t->ranks;
    gat_status status = GAT_OK;
    int *c = NULL;
    ALLOC(c, 4 * (int64_t)p, "cross-edge counts");
    if (status != GAT_OK)
        return status;
    status = mpi_check(ctx, MPI_Alltoall(counts, 1, MPI_INT64_T, in_counts, 1, MPI_INT64_T,
                                         t->comm), "MPI_Alltoall (cross edges)");
    const int unit = (int)(sizeof(cross) / sizeof(int64_t));
    int64_t so = 0, ro = 0;
    for (int q = 0; q < p && status == GAT_OK; q++) {
        if ((status = int_count(ctx, counts[q] * unit, &c[q])) == GAT_OK &&
            (status = int_count(ctx, so, &c[p + q])) == GAT_OK &&
            (status = int_count(ctx, in_counts[q] * unit, &c[2 * p + q])) == GAT_OK)
            status = int_count(ctx, ro, &c[3 * p + q]);
        so += counts[q] * unit;
        ro += in_counts[q] * unit;
    }
    *in_count = ro / unit;
    ALLOC(*in, *in_count, "cross edges");
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Alltoallv(out, c, c + p, MPI_INT64_T, *in, c + 2 * p,
                                              c + 3 * p, MPI_INT64_T, t->comm),
                           "MPI_Alltoallv (cross edges)");
    gat__free_raw(&ctx->allocator, c);
    return status;
}

static int compare_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The local id of global id g (binary search over the sorted remote ids). */
static int64_t local_of(const gat_dist_trainer *t, const int64_t *remote, int64_t count,
                        int64_t low, int64_t g)
{
    if (g >= t->first && g < t->first + t->rows)
        return t->origin + (g - t->first);
    const int64_t *at = bsearch(&g, remote, (size_t)count, sizeof *remote, compare_i64);
    const int64_t k = at - remote;
    return k < low ? k : t->origin + t->rows + (k - low);
}

/* Distinct values of the `field` of cross edges [from, to), ascending, as
 * local ids into pos; returns how many. */
static int64_t distinct_local(const gat_dist_trainer *t, const cross *e, int64_t from,
                              int64_t to, bool by_source, const int64_t *remote, int64_t count,
                              int64_t low, int64_t *tmp, int32_t *pos)
{
    int64_t k = 0;
    for (int64_t q = from; q < to; q++)
        tmp[k++] = by_source ? e[q].j : e[q].i;
    qsort(tmp, (size_t)k, sizeof *tmp, compare_i64);
    int64_t m = 0;
    for (int64_t q = 0; q < k; q++)
        if (q == 0 || tmp[q] != tmp[q - 1])
            pos[m++] = (int32_t)local_of(t, remote, count, low, tmp[q]);
    return m;
}

/* Lists from cross edges grouped by peer (counts [P]). */
static gat_status make_lists(gat_context *ctx, const gat_dist_trainer *t, const cross *e,
                             const int64_t *counts, bool by_source, const int64_t *remote,
                             int64_t count, int64_t low, lists *out)
{
    int64_t total = 0;
    for (int q = 0; q < t->ranks; q++)
        total += counts[q];
    gat_status status = GAT_OK;
    int64_t *tmp = NULL;
    ALLOC(out->start, (int64_t)t->ranks + 1, "exchange lists");
    ALLOC(out->pos, total, "exchange lists");
    ALLOC(tmp, total, "exchange lists");
    if (status != GAT_OK) {
        gat__free_raw(&ctx->allocator, tmp);
        return status;
    }
    int64_t at = 0, m = 0;
    for (int q = 0; q < t->ranks; q++) {
        out->start[q] = m;
        m += distinct_local(t, e, at, at + counts[q], by_source, remote, count, low, tmp,
                            out->pos + m);
        at += counts[q];
    }
    out->start[t->ranks] = m;
    gat__free_raw(&ctx->allocator, tmp);
    return GAT_OK;
}

/* One policy's local views, the remote slots and the exchange lists. The
 * remote ids (sorted, `low` of them below the owned rows) are known. */
static gat_status build_policy(gat_context *ctx, gat_dist_trainer *t, policy *pol, bool loops,
                               const int64_t *row_ptr, const int32_t *col,
                               const int64_t *remote, int64_t count, int64_t low)
{
    const int p = t->ranks;
    const int64_t n = t->n, first = t->first, rows = t->rows;
    gat_status status = GAT_OK;
    /* Owned slots and the global slot of the first owned row. */
    int64_t owned_slots = 0, cross_count = 0;
    int64_t *counts = NULL, *in_counts = NULL;
    ALLOC(counts, 2 * (int64_t)p, "cross-edge counts");
    if (status != GAT_OK)
        return status;
    in_counts = counts + p;
    for (int64_t r = 0; r < rows; r++)
        GAT__FOR_CSR_ROW_SOURCES(row_ptr, col, r, first + r, loops, j, {
            owned_slots++;
            if (j < first || j >= first + rows) {
                counts[gat__partition_owner(t->bounds, p, j)]++;
                cross_count++;
            }
        });
    int64_t g0 = 0;
    status = mpi_check(ctx, MPI_Exscan(&owned_slots, &g0, 1, MPI_INT64_T, MPI_SUM, t->comm),
                       "MPI_Exscan (slots)");
    if (t->rank == 0)
        g0 = 0;
    cross *out = NULL, *in = NULL;
    int64_t *fill = NULL;
    ALLOC(out, cross_count, "cross edges");
    ALLOC(fill, (int64_t)p + 1, "cross edges");
    if (status == GAT_OK) {
        for (int q = 0; q < p; q++)
            fill[q + 1] = fill[q] + counts[q];
        int64_t slot = 0;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t row_start = slot;
            GAT__FOR_CSR_ROW_SOURCES(row_ptr, col, r, first + r, loops, j, {
                if (j < first || j >= first + rows) {
                    const int q = gat__partition_owner(t->bounds, p, j);
                    out[fill[q]++] = (cross){first + r, j, g0 + slot, slot - row_start};
                }
                slot++;
            });
        }
    }
    int64_t in_count = 0;
    if (status == GAT_OK)
        status = exchange_cross(ctx, t, out, counts, &in, &in_count, in_counts);
    /* Lists: the forward sends the distinct sources each peer's edges read
     * and receives those of ours; the backward sends each peer the owned
     * rows with a source there and receives the rows our sources feed. */
    if (status == GAT_OK)
        status = make_lists(ctx, t, in, in_counts, true, remote, count, low, &pol->halo_send);
    if (status == GAT_OK)
        status = make_lists(ctx, t, out, counts, true, remote, count, low, &pol->halo_recv);
    if (status == GAT_OK)
        status = make_lists(ctx, t, out, counts, false, remote, count, low, &pol->back_send);
    if (status == GAT_OK)
        status = make_lists(ctx, t, in, in_counts, false, remote, count, low, &pol->back_recv);

    /* Row lengths: owned rows all their slots, remote rows the received
     * edges into them, the last padding row 0-3 slots so that the owned
     * rows' local slots differ from their global ones by a multiple of 4. */
    gat__edge_views *v = &pol->v;
    ALLOC(v->row_ptr, n + 1, "local edge offsets");
    ALLOC(v->src_ptr, n + 1, "local transposed offsets");
    if (status != GAT_OK)
        goto done;
    for (int64_t r = 0; r < rows; r++) {
        int64_t len = 0;
        GAT__FOR_CSR_ROW_SOURCES(row_ptr, col, r, first + r, loops, j, { (void)j; len++; });
        v->row_ptr[t->origin + r + 1] = len;
    }
    for (int64_t q = 0; q < in_count; q++)
        v->row_ptr[local_of(t, remote, count, low, in[q].i) + 1]++;
    {
        int64_t before = 0;
        for (int64_t i = 0; i < t->origin; i++)
            before += v->row_ptr[i + 1];
        const int64_t pad = (((g0 - before) % 4) + 4) % 4;
        v->row_ptr[t->origin] += pad; /* row origin - 1 (origin > low >= 0) */
        pol->slot_delta = g0 - before - pad;
    }
    for (int64_t i = 0; i < n; i++)
        v->row_ptr[i + 1] += v->row_ptr[i];
    v->num_slots = v->row_ptr[n];
    v->num_nodes = n;
    pol->remote_slots = in_count;
    ALLOC(v->src, v->num_slots, "local edge sources");
    ALLOC(v->dst, v->num_slots, "local transposed targets");
    ALLOC(v->offset, v->num_slots, "local transposed slots");
    ALLOC(pol->remote_slot, in_count, "remote slots");
    ALLOC(pol->remote_gslot, in_count, "remote slots");
    if (status != GAT_OK)
        goto done;
    for (int64_t s = v->row_ptr[t->origin - 1]; s < v->row_ptr[t->origin]; s++)
        v->src[s] = (int32_t)(t->origin - 1); /* padding: never visited */
    for (int64_t r = 0; r < rows; r++) {
        int64_t s = v->row_ptr[t->origin + r];
        GAT__FOR_CSR_ROW_SOURCES(row_ptr, col, r, first + r, loops, j,
                    { v->src[s++] = (int32_t)local_of(t, remote, count, low, j); });
    }
    {
        /* Received edges by sender rank, each sender's in its library
         * order, so by destination then slot: a remote row's edges all
         * come from its owner, in order. */
        int64_t prev = -1, s = 0;
        for (int64_t q = 0; q < in_count; q++) {
            const int64_t li = local_of(t, remote, count, low, in[q].i);
            if (li != prev) {
                s = v->row_ptr[li];
                prev = li;
            }
            pol->remote_slot[q] = s;
            pol->remote_gslot[q] = in[q].gslot;
            v->src[s++] = (int32_t)(t->origin + (in[q].j - first));
        }
    }
    /* The transposed view of the owned sources: every slot whose source is
     * owned, by source, in ascending local slot order (= global order). */
    for (int64_t i = 0; i < n; i++)
        if (i != t->origin - 1)
            for (int64_t s = v->row_ptr[i]; s < v->row_ptr[i + 1]; s++) {
                const int64_t j = v->src[s];
                if (j >= t->origin && j < t->origin + rows)
                    v->src_ptr[j + 1]++;
            }
    for (int64_t i = 0; i < n; i++)
        v->src_ptr[i + 1] += v->src_ptr[i];
    for (int64_t i = 0; i < n; i++)
        if (i != t->origin - 1)
            for (int64_t s = v->row_ptr[i]; s < v->row_ptr[i + 1]; s++) {
                const int64_t j = v->src[s];
                if (j >= t->origin && j < t->origin + rows) {
                    const int64_t at = v->src_ptr[j]++;
                    v->dst[at] = (int32_t)i;
                    v->offset[at] = (int32_t)(s - v->row_ptr[i]);
                }
            }
    for (int64_t i = n; i > 0; i--)
        v->src_ptr[i] = v->src_ptr[i - 1];
    v->src_ptr[0] = 0;
    v->built = true;
    pol->used = true;
done:
    gat__free_raw(&ctx->allocator, counts);
    gat__free_raw(&ctx->allocator, out);
    gat__free_raw(&ctx->allocator, in);
    gat__free_raw(&ctx->allocator, fill);
    return status;
}

/* The remote nodes (sources of owned rows, and destinations of owned
 * sources: an edge's two ends are each other's), the local numbering. */
static gat_status build_local(gat_context *ctx, gat_dist_trainer *t, const int64_t *row_ptr,
                              const int32_t *col)
{
    const int p = t->ranks;
    const int64_t first = t->first, rows = t->rows;
    gat_status status = GAT_OK;
    /* Sources of owned rows outside them, and who reads owned rows: every
     * rank sends each owner the remote sources it reads; what an owner
     * receives are the destinations' ids, i.e. its remote destinations. */
    int64_t count = 0;
    for (int64_t k = 0; k < row_ptr[rows]; k++)
        count += col[k] < first || col[k] >= first + rows;
    int64_t *ids = NULL, *counts = NULL;
    cross *out = NULL, *in = NULL;
    ALLOC(out, count, "remote nodes");
    ALLOC(counts, 2 * (int64_t)p + 1, "remote nodes");
    if (status != GAT_OK)
        goto done;
    for (int64_t k = 0; k < row_ptr[rows]; k++)
        if (col[k] < first || col[k] >= first + rows)
            counts[gat__partition_owner(t->bounds, p, col[k])]++;
    {
        int64_t *fill = counts + p; /* [p + 1] running offsets */
        fill[0] = 0;
        for (int q = 0; q < p; q++)
            fill[q + 1] = fill[q] + counts[q];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = row_ptr[r]; k < row_ptr[r + 1]; k++)
                if (col[k] < first || col[k] >= first + rows) {
                    const int q = gat__partition_owner(t->bounds, p, col[k]);
                    out[fill[q]++] = (cross){first + r, col[k], 0, 0};
                }
    }
    int64_t in_count = 0;
    int64_t *in_counts = NULL;
    ALLOC(in_counts, p, "remote nodes");
    if (status == GAT_OK)
        status = exchange_cross(ctx, t, out, counts, &in, &in_count, in_counts);
    gat__free_raw(&ctx->allocator, in_counts);
    ALLOC(ids, count + in_count, "remote nodes");
    if (status != GAT_OK)
        goto done;
    int64_t m = 0;
    for (int64_t k = 0; k < count; k++)
        ids[m++] = out[k].j;
    for (int64_t k = 0; k < in_count; k++)
        ids[m++] = in[k].i;
    qsort(ids, (size_t)m, sizeof *ids, compare_i64);
    int64_t distinct = 0;
    for (int64_t k = 0; k < m; k++)
        if (k == 0 || ids[k] != ids[k - 1])
            ids[distinct++] = ids[k];
    int64_t low = 0;
    while (low < distinct && ids[low] < first)
        low++;
    /* Owned rows start at a block boundary past the lower remote nodes and
     * one padding row (which holds the slot padding). */
    t->origin = (low + 1 + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK * GAT_REDUCE_BLOCK;
    t->n = t->origin + rows + (distinct - low);
    ALLOC(t->global_of, t->n, "local ids");
    if (status != GAT_OK)
        goto done;
    for (int64_t i = 0; i < t->n; i++)
        t->global_of[i] = -1;
    for (int64_t k = 0; k < low; k++)
        t->global_of[k] = ids[k];
    for (int64_t r = 0; r < rows; r++)
        t->global_of[t->origin + r] = first + r;
    for (int64_t k = low; k < distinct; k++)
        t->global_of[t->origin + rows + (k - low)] = ids[k];
    for (int l = 0; l < t->model->num_layers && status == GAT_OK; l++) {
        const bool loops = t->model->layers[l].config.add_self_loops;
        policy *pol = &t->pol[loops ? 1 : 0];
        if (!pol->used)
            status = build_policy(ctx, t, pol, loops, row_ptr, col, ids, distinct, low);
        t->extra[l].pol = pol;
    }
done:
    gat__free_raw(&ctx->allocator, ids);
    gat__free_raw(&ctx->allocator, counts);
    gat__free_raw(&ctx->allocator, out);
    gat__free_raw(&ctx->allocator, in);
    return status;
}

/* ---- exchanges --------------------------------------------------------- */

/* Rows of the arrays (each [n, widths[a]]) at send positions go to each
 * peer; received rows land at the receive positions. The bytes count as
 * layer `layer`'s traffic; the time as communication, the agreement before
 * the collective (blocked until the slowest rank arrives) as waiting. */
static gat_status exchange_rows(gat_context *ctx, gat_dist_trainer *t, int layer,
                                const lists *send, const lists *recv, float *const *arrays,
                                const int64_t *widths, int count, bool keep_max)
{
    const double t0 = MPI_Wtime();
    const int p = t->ranks;
    int64_t unit = 0;
    for (int a = 0; a < count; a++)
        unit += widths[a];
    const int64_t ns = send->start[p], nr = recv->start[p];
    gat_status status = GAT_OK;
    float *sb = NULL, *rb = NULL;
    int *c = NULL;
    ALLOC(sb, ns * unit, "exchange buffer");
    ALLOC(rb, nr * unit, "exchange buffer");
    ALLOC(c, 4 * (int64_t)p, "exchange counts");
    for (int q = 0; q < p && status == GAT_OK; q++) {
        if ((status = int_count(ctx, (send->start[q + 1] - send->start[q]) * unit, &c[q])) ==
                GAT_OK &&
            (status = int_count(ctx, send->start[q] * unit, &c[p + q])) == GAT_OK &&
            (status = int_count(ctx, (recv->start[q + 1] - recv->start[q]) * unit,
                                &c[2 * p + q])) == GAT_OK)
            status = int_count(ctx, recv->start[q] * unit, &c[3 * p + q]);
    }
    /* Every rank reaches the collective, or none. */
    const double t1 = MPI_Wtime();
    status = agree(ctx, t->comm, status, &t->failed);
    t->rep.seconds_wait += MPI_Wtime() - t1;
    if (status == GAT_OK) {
        for (int64_t k = 0; k < ns; k++) {
            float *o = sb + k * unit;
            for (int a = 0; a < count; a++) {
                memcpy(o, arrays[a] + send->pos[k] * widths[a], (size_t)widths[a] * sizeof *o);
                o += widths[a];
            }
        }
        status = mpi_check(ctx, MPI_Alltoallv(sb, c, c + p, MPI_FLOAT, rb, c + 2 * p, c + 3 * p,
                                              MPI_FLOAT, t->comm),
                           "MPI_Alltoallv (rows)");
    }
    if (status == GAT_OK)
        for (int64_t k = 0; k < nr; k++) {
            const float *o = rb + k * unit;
            for (int a = 0; a < count; a++) {
                float *row = arrays[a] + recv->pos[k] * widths[a];
                for (int64_t w = 0; w < widths[a]; w++) /* keep_max: several senders' marks */
                    row[w] = keep_max && row[w] > o[w] ? row[w] : o[w];
                o += widths[a];
            }
        }
    gat__free_raw(&ctx->allocator, sb);
    gat__free_raw(&ctx->allocator, rb);
    gat__free_raw(&ctx->allocator, c);
    const int slot = layer < GAT_DIST_REPORT_LAYERS ? layer : GAT_DIST_REPORT_LAYERS - 1;
    t->rep.bytes_sent[slot] += ns * unit * (int64_t)sizeof(float);
    t->rep.bytes_received[slot] += nr * unit * (int64_t)sizeof(float);
    t->rep.seconds_communication += MPI_Wtime() - t0;
    return status;
}

/* A mask keyed by global elements for local element indices: global =
 * local + delta, delta a multiple of 4 (one hash serves 4 elements). */
static gat__dropout shifted(gat__dropout d, int64_t delta)
{
    d.key += (uint64_t)(delta / 4) * GAT__DROPOUT_GOLDEN;
    return d;
}

static gat__dropout drop_at(const gat_dist_trainer *t, int layer, gat__dropout_site site,
                            double rate)
{
    return gat__dropout_make(t->options.seed, t->steps, layer, site, (float)rate);
}

/* ---- forward ------------------------------------------------------------ */

static gat_status forward(gat_context *ctx, gat_dist_trainer *t, bool training)
{
    const gat_model *m = t->model;
    const gat_trainer_options *o = &t->options;
    const int64_t n = t->n, row_delta = t->first - t->origin;
    gat_status status = GAT_OK;
    for (int l = 0; l < m->num_layers && status == GAT_OK; l++) {
        const gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__layer_state *st = &t->layers[l];
        const policy *pol = t->extra[l].pol;
        const int64_t f = c->in_features, hc = c->heads * c->channels;
        const gat__dropout drop_in =
            shifted(drop_at(t, l, GAT__DROP_INPUT, training ? o->dropout : 0.0), row_delta * f);
        st->used_dropped = false;
        if (l == 0 && t->sparse) {
            gat__sparse_project_forward(ctx, layer, &t->sparse_x, &t->owned, &drop_in,
                                        t->steps, true, st->projected, st->score_src,
                                        st->score_dst);
        } else {
            const float *in = st->input;
            if (gat__dropout_active(&drop_in)) {
                gat__dropout_forward_rows(ctx, &drop_in, &t->owned, in, st->dropped,
                                          st->input_keep, n, f);
                in = st->dropped;
                st->used_dropped = true;
            }
            status = gat__project_train_forward(ctx, layer, &t->owned, in, n, t->compact,
                                                st->projected, st->score_src, st->score_dst);
        }
        const gat__dropout drop_proj = shifted(
            drop_at(t, l, GAT__DROP_PROJECTED, training ? o->projected_dropout : 0.0),
            row_delta * hc);
        float *features = st->projected;
        st->used_proj_dropped = status == GAT_OK && gat__dropout_active(&drop_proj);
        if (st->used_proj_dropped) {
            gat__dropout_projected_rows(ctx, &drop_proj, &t->owned, st->projected,
                                        st->proj_dropped, st->proj_keep, n, c->heads,
                                        c->channels);
            features = st->proj_dropped;
        }
        /* The halo: the features the aggregation reads and the source scores. */
        float *arrays[2] = {features, st->score_src};
        const int64_t widths[2] = {hc, c->heads};
        status = exchange_rows(ctx, t, l, &pol->halo_send, &pol->halo_recv, arrays, widths,
                               2, false);
        if (status != GAT_OK)
            break;
        const gat__dropout drop_att =
            drop_at(t, l, GAT__DROP_ATTENTION, training ? o->attention_dropout : 0.0);
        st->used_attention_keep = gat__dropout_active(&drop_att);
        const gat__dropout drop_att_local = shifted(drop_att, pol->slot_delta * c->heads);
        status = gat__attention_train_forward(
            ctx, layer, &pol->v, &t->owned, features, st->score_src, st->score_dst,
            &drop_att_local, st->attention_keep,
            l + 1 < m->num_layers ? m->activation : GAT_ACT_NONE, training ? st->shift : NULL,
            training ? st->inv_sum : NULL, st->output);
    }
    return status;
}

/* ---- loss -------------------------------------------------------------- */

/* The loss over index [count] in index order; d_logits of owned targets. */
static gat_status loss(gat_context *ctx, gat_dist_trainer *t, const int64_t *labels,
                       const int64_t *index, int64_t count, gat_metrics *metrics,
                       float *d_logits)
{
    const int64_t classes = gat_model_out_features(t->model);
    gat_status status = GAT_OK;
    double *terms = NULL;
    ALLOC(terms, count + 1, "loss terms");
    if (status != GAT_OK)
        return status;
    if (d_logits != NULL)
        memset(d_logits, 0, (size_t)(t->n * classes) * sizeof *d_logits);
    int64_t correct = 0;
    for (int64_t k = 0; k < count; k++) {
        const int64_t g = index[k];
        if (g < t->first || g >= t->first + t->rows)
            continue;
        const int64_t i = t->origin + (g - t->first);
        const float *row = t->logits + i * classes;
        const gat__nll_term term = gat__nll_row(row, classes, labels[g]);
        if (d_logits != NULL)
            gat__nll_row_gradient(row, classes, labels[g], &term, count,
                                  d_logits + i * classes);
        terms[k] = term.loss;
        correct += term.correct;
    }
    terms[count] = (double)correct;
    /* Each term has one owner (the others hold 0): the sums are exact. */
    status = mpi_check(ctx, MPI_Allreduce(MPI_IN_PLACE, terms, (int)(count + 1), MPI_DOUBLE,
                                          MPI_SUM, t->comm),
                       "MPI_Allreduce (loss terms)");
    double total = 0.0;
    for (int64_t k = 0; k < count; k++)
        total += terms[k];
    metrics->loss = total / (double)count;
    metrics->accuracy = terms[count] / (double)count;
    gat__free_raw(&ctx->allocator, terms);
    return status;
}

/* ---- reductions --------------------------------------------------------- */

/* out [width] = the sum over every rank's blocks, in block order, of the
 * block partials (this rank's at partials + b * stride + offset, b over
 * its owned blocks), as reduce_blocks of backward.c adds them. */
static gat_status reduce_block_partials(gat_context *ctx, gat_dist_trainer *t,
                                        const float *partials, int64_t stride, int64_t offset,
                                        int64_t width, float *out)
{
    const int p = t->ranks;
    const int64_t mine = (t->rows + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
    const int64_t b0 = t->origin / GAT_REDUCE_BLOCK;
    const int64_t blocks = (t->num_nodes + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
    gat_status status = GAT_OK;
    float *all = NULL, *own = NULL;
    int *c = NULL;
    ALLOC(all, blocks * width, "block partials");
    ALLOC(own, mine * width, "block partials");
    ALLOC(c, 2 * (int64_t)p, "block partials");
    if (status != GAT_OK)
        goto done;
    for (int64_t b = 0; b < mine; b++)
        memcpy(own + b * width, partials + (b0 + b) * stride + offset,
               (size_t)width * sizeof *own);
    int64_t at = 0;
    for (int q = 0; q < p && status == GAT_OK; q++) {
        const int64_t rows = t->bounds[q + 1] - t->bounds[q];
        const int64_t nb = (rows + GAT_REDUCE_BLOCK - 1) / GAT_REDUCE_BLOCK;
        if ((status = int_count(ctx, nb * width, &c[q])) == GAT_OK)
            status = int_count(ctx, at, &c[p + q]);
        at += nb * width;
    }
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Allgatherv(own, c[t->rank], MPI_FLOAT, all, c, c + p,
                                               MPI_FLOAT, t->comm),
                           "MPI_Allgatherv (block partials)");
    if (status == GAT_OK)
        for (int64_t k = 0; k < width; k++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < blocks; b++)
                sum += all[b * width + k];
            out[k] = sum;
        }
done:
    gat__free_raw(&ctx->allocator, all);
    gat__free_raw(&ctx->allocator, own);
    gat__free_raw(&ctx->allocator, c);
    return status;
}

/* The rows a step lists (member [n] over the owned rows, in ascending
 * order) cut into blocks of `block` consecutive list positions over all
 * ranks, as one process cuts its gathered list: each block is computed on
 * the rank where it starts, which gathers the block's rows from the ranks
 * after it (a rank's rows before its first block start go to the rank
 * where that block starts). */
typedef struct list_blocks {
    int64_t cnt, total, pos0, pos1, block, blocks;
    int64_t first, owned; /* the blocks starting here: [first, first + owned) */
    int64_t tail_end;     /* rows [pos1, tail_end) are gathered from later ranks */
    int64_t *counts, *starts; /* [P], [P + 1] */
    int32_t *ids;         /* [cnt] the listed rows' local ids */
    int *c;               /* [4 P] Alltoallv counts and offsets for one float per row */
} list_blocks;

static void list_blocks_free(gat_context *ctx, list_blocks *b)
{
    gat__free_raw(&ctx->allocator, b->counts);
    gat__free_raw(&ctx->allocator, b->starts);
    gat__free_raw(&ctx->allocator, b->ids);
    gat__free_raw(&ctx->allocator, b->c);
}

/* Rows of rank q inside [from, to) of the list. */
static int64_t overlap(const list_blocks *b, int q, int64_t from, int64_t to)
{
    const int64_t lo = b->starts[q] > from ? b->starts[q] : from;
    const int64_t hi = b->starts[q + 1] < to ? b->starts[q + 1] : to;
    return hi > lo ? hi - lo : 0;
}

/* block_of(total) gives the block size from the list's global length. */
static gat_status list_blocks_make(gat_context *ctx, gat_dist_trainer *t, const uint8_t *member,
                                   int64_t (*block_of)(int64_t), list_blocks *b)
{
    const int p = t->ranks;
    gat_status status = GAT_OK;
    memset(b, 0, sizeof *b);
    for (int64_t r = 0; r < t->rows; r++)
        b->cnt += member[t->origin + r];
    ALLOC(b->counts, p, "list blocks");
    ALLOC(b->starts, (int64_t)p + 1, "list blocks");
    ALLOC(b->ids, b->cnt, "list blocks");
    ALLOC(b->c, 4 * (int64_t)p, "list blocks");
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Allgather(&b->cnt, 1, MPI_INT64_T, b->counts, 1,
                                              MPI_INT64_T, t->comm),
                           "MPI_Allgather (listed rows)");
    if (status != GAT_OK)
        return status;
    for (int64_t r = 0, k = 0; r < t->rows; r++)
        if (member[t->origin + r])
            b->ids[k++] = (int32_t)(t->origin + r);
    for (int q = 0; q < p; q++)
        b->starts[q + 1] = b->starts[q] + b->counts[q];
    b->total = b->starts[p];
    b->pos0 = b->starts[t->rank];
    b->pos1 = b->pos0 + b->cnt;
    b->block = block_of(b->total);
    b->blocks = (b->total + b->block - 1) / b->block;
    b->first = (b->pos0 + b->block - 1) / b->block;
    b->owned = b->cnt > 0 ? (b->pos1 + b->block - 1) / b->block - b->first : 0;
    b->tail_end = b->pos1;
    if (b->owned > 0) {
        const int64_t end = (b->first + b->owned) * b->block;
        b->tail_end = end < b->total ? end : b->total;
    }
    /* This rank's lead rows [pos0, lead_end) go to the block's owner. */
    const int64_t start = b->pos0 / b->block * b->block;
    const int64_t lead_end = (b->first * b->block < b->pos1 ? b->first * b->block : b->pos1);
    for (int q = 0; q < p && status == GAT_OK; q++) {
        const bool owner = b->cnt > 0 && start < b->pos0 && b->starts[q] <= start &&
                           start < b->starts[q + 1];
        const int64_t send = owner ? lead_end - b->pos0 : 0;
        const int64_t recv = q > t->rank ? overlap(b, q, b->pos1, b->tail_end) : 0;
        if ((status = int_count(ctx, send, &b->c[q])) == GAT_OK &&
            (status = int_count(ctx, 0, &b->c[p + q])) == GAT_OK &&
            (status = int_count(ctx, recv, &b->c[2 * p + q])) == GAT_OK)
            status = int_count(ctx, recv > 0 ? b->starts[q] - b->pos1 : 0, &b->c[3 * p + q]);
    }
    return status;
}

/* Alltoallv of `unit` floats per row along the plan (back: the reverse,
 * the gathered rows returned to the ranks they came from). */
static gat_status list_blocks_move(gat_context *ctx, gat_dist_trainer *t, const list_blocks *b,
                                   const float *send, float *recv, int64_t unit, bool back)
{
    const int p = t->ranks;
    gat_status status = GAT_OK;
    int *c = NULL;
    ALLOC(c, 4 * (int64_t)p, "list blocks");
    for (int k = 0; k < 4 * p && status == GAT_OK; k++)
        status = int_count(ctx, (int64_t)b->c[k] * unit, &c[k]);
    /* Back: send what was received, receive what was sent. */
    const int *sc = back ? c + 2 * p : c, *sd = back ? c + 3 * p : c + p;
    const int *rc = back ? c : c + 2 * p, *rd = back ? c + p : c + 3 * p;
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT,
                                              t->comm),
                           "MPI_Alltoallv (listed rows)");
    gat__free_raw(&ctx->allocator, c);
    return status;
}

/* Row g of the list (g in a block starting here): this rank's or gathered. */
static const float *list_row(const list_blocks *b, const float *mine, const float *tail,
                             int64_t unit, int64_t g)
{
    return g < b->pos1 ? mine + (g - b->pos0) * unit : tail + (g - b->pos1) * unit;
}

static int64_t projection_block_rows(int64_t total)
{
    (void)total;
    return GAT_PROJECTION_BLOCK;
}

/* dW [out, in] = dy^T x over the listed rows: gat__linear_backward's
 * chunks (gat__linear_chunk_rows of the list's length), each taken with
 * the same call on the rank where it starts, the partials added in chunk
 * order on every rank. */
static gat_status dense_weight_gradient(gat_context *ctx, gat_dist_trainer *t,
                                        const uint8_t *member, const float *x,
                                        const float *dy, int64_t in, int64_t out, float *dw)
{
    const int p = t->ranks;
    list_blocks b;
    gat_status status = list_blocks_make(ctx, t, member, gat__linear_chunk_rows, &b);
    const int64_t unit = in + out, size = out * in;
    float *mine = NULL, *tail = NULL, *gx = NULL, *gy = NULL, *parts = NULL, *all = NULL;
    int *c = NULL;
    ALLOC(mine, b.cnt * unit, "dW rows");
    ALLOC(tail, (b.tail_end - b.pos1) * unit, "dW rows");
    ALLOC(gx, b.block * in, "dW chunk");
    ALLOC(gy, b.block * out, "dW chunk");
    ALLOC(parts, b.owned * size, "dW partials");
    ALLOC(all, b.blocks * size, "dW partials");
    ALLOC(c, 2 * (int64_t)p, "dW partials");
    if (status != GAT_OK)
        goto done;
    for (int64_t k = 0; k < b.cnt; k++) {
        memcpy(mine + k * unit, dy + b.ids[k] * out, (size_t)out * sizeof *mine);
        memcpy(mine + k * unit + out, x + b.ids[k] * in, (size_t)in * sizeof *mine);
    }
    if ((status = list_blocks_move(ctx, t, &b, mine, tail, unit, false)) != GAT_OK)
        goto done;
    for (int64_t ch = 0; ch < b.owned; ch++) {
        const int64_t g0 = (b.first + ch) * b.block;
        const int64_t g1 = g0 + b.block < b.total ? g0 + b.block : b.total;
        for (int64_t g = g0; g < g1; g++) {
            const float *row = list_row(&b, mine, tail, unit, g);
            memcpy(gy + (g - g0) * out, row, (size_t)out * sizeof *gy);
            memcpy(gx + (g - g0) * in, row + out, (size_t)in * sizeof *gx);
        }
        gat__sgemm(true, false, out, in, g1 - g0, gy, out, gx, in, parts + ch * size, in);
    }
    for (int q = 0; q < p && status == GAT_OK; q++) {
        const int64_t f = (b.starts[q] + b.block - 1) / b.block;
        const int64_t nq = b.counts[q] > 0 ? (b.starts[q + 1] + b.block - 1) / b.block - f : 0;
        if ((status = int_count(ctx, nq * size, &c[q])) == GAT_OK)
            status = int_count(ctx, nq > 0 ? f * size : 0, &c[p + q]);
    }
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Allgatherv(parts, c[t->rank], MPI_FLOAT, all, c, c + p,
                                               MPI_FLOAT, t->comm),
                           "MPI_Allgatherv (dW partials)");
    if (status == GAT_OK)
        for (int64_t e = 0; e < size; e++) {
            float sum = b.blocks > 0 ? all[e] : 0.0f;
            for (int64_t k = 1; k < b.blocks; k++)
                sum += all[k * size + e];
            dw[e] = sum;
        }
done:
    list_blocks_free(ctx, &b);
    gat__free_raw(&ctx->allocator, c);
    gat__free_raw(&ctx->allocator, mine);
    gat__free_raw(&ctx->allocator, tail);
    gat__free_raw(&ctx->allocator, gx);
    gat__free_raw(&ctx->allocator, gy);
    gat__free_raw(&ctx->allocator, parts);
    gat__free_raw(&ctx->allocator, all);
    return status;
}

/* dx [rows, in] = dy [rows, out] w [out, in] for the listed rows: the
 * blocks of gat__linear_backward over the list (a BLAS may give a row
 * other bits in another block), each on the rank where it starts, the
 * rows returned to their owners. */
static gat_status dense_input_gradient(gat_context *ctx, gat_dist_trainer *t,
                                       const uint8_t *member, const float *dy, int64_t in,
                                       int64_t out, const float *w, float *dx)
{
    list_blocks b;
    gat_status status = list_blocks_make(ctx, t, member, projection_block_rows, &b);
    const int64_t tail_rows = b.tail_end - b.pos1;
    float *mine = NULL, *tail = NULL, *gy = NULL, *gx = NULL, *tail_dx = NULL, *lead_dx = NULL;
    ALLOC(mine, b.cnt * out, "dX rows");
    ALLOC(tail, tail_rows * out, "dX rows");
    ALLOC(gy, b.block * out, "dX block");
    ALLOC(gx, b.block * in, "dX block");
    ALLOC(tail_dx, tail_rows * in, "dX rows");
    ALLOC(lead_dx, b.cnt * in, "dX rows");
    if (status != GAT_OK)
        goto done;
    for (int64_t k = 0; k < b.cnt; k++)
        memcpy(mine + k * out, dy + b.ids[k] * out, (size_t)out * sizeof *mine);
    if ((status = list_blocks_move(ctx, t, &b, mine, tail, out, false)) != GAT_OK)
        goto done;
    for (int64_t blk = 0; blk < b.owned; blk++) {
        const int64_t g0 = (b.first + blk) * b.block;
        const int64_t g1 = g0 + b.block < b.total ? g0 + b.block : b.total;
        for (int64_t g = g0; g < g1; g++)
            memcpy(gy + (g - g0) * out, list_row(&b, mine, tail, out, g),
                   (size_t)out * sizeof *gy);
        if (out > 0)
            gat__sgemm(false, false, g1 - g0, in, out, gy, out, w, in, gx, in);
        else
            memset(gx, 0, (size_t)((g1 - g0) * in) * sizeof *gx);
        for (int64_t g = g0; g < g1; g++) {
            float *to = g < b.pos1 ? dx + b.ids[g - b.pos0] * in : tail_dx + (g - b.pos1) * in;
            memcpy(to, gx + (g - g0) * in, (size_t)in * sizeof *gx);
        }
    }
    /* The tails back to their ranks; our lead rows back from their block's. */
    if ((status = list_blocks_move(ctx, t, &b, tail_dx, lead_dx, in, true)) != GAT_OK)
        goto done;
    {
        const int64_t lead_end =
            b.first * b.block < b.pos1 ? b.first * b.block : b.pos1;
        for (int64_t g = b.pos0; g < lead_end && b.cnt > 0; g++)
            memcpy(dx + b.ids[g - b.pos0] * in, lead_dx + (g - b.pos0) * in,
                   (size_t)in * sizeof *dx);
    }
done:
    list_blocks_free(ctx, &b);
    gat__free_raw(&ctx->allocator, mine);
    gat__free_raw(&ctx->allocator, tail);
    gat__free_raw(&ctx->allocator, gy);
    gat__free_raw(&ctx->allocator, gx);
    gat__free_raw(&ctx->allocator, tail_dx);
    gat__free_raw(&ctx->allocator, lead_dx);
    return status;
}

/* dW^T of the sparse input: one chain over the rows in ascending order,
 * handed from rank to rank, then given to all. */
static gat_status sparse_weight_gradient(gat_context *ctx, gat_dist_trainer *t,
                                         const float *d_projected, int64_t hc)
{
    gat__sparse_input *s = &t->sparse_x;
    const int64_t size = s->cols * hc;
    int count = 0;
    gat_status status = int_count(ctx, size, &count);
    if (status == GAT_OK && t->rank > 0)
        status = mpi_check(ctx, MPI_Recv(s->d_weight_t, count, MPI_FLOAT, t->rank - 1, 17,
                                         t->comm, MPI_STATUS_IGNORE),
                           "MPI_Recv (dW chain)");
    if (status == GAT_OK)
        gat__sparse_project_backward(ctx, s, &t->owned, d_projected, hc, t->rank > 0);
    if (status == GAT_OK && t->rank + 1 < t->ranks)
        status = mpi_check(ctx, MPI_Send(s->d_weight_t, count, MPI_FLOAT, t->rank + 1, 17,
                                         t->comm),
                           "MPI_Send (dW chain)");
    if (status == GAT_OK)
        status = mpi_check(ctx, MPI_Bcast(s->d_weight_t, count, MPI_FLOAT, t->ranks - 1,
                                          t->comm),
                           "MPI_Bcast (dW)");
    return status;
}

/* ---- backward ------------------------------------------------------------ */

/* member [n]: the owned rows of P_l (the rows layer l projects for the
 * targets: E_l and the sources of E_l's edges, train_plan.c), given E_l
 * in member; remote sources are marked at their owners. */
static gat_status receptive_rows(gat_context *ctx, gat_dist_trainer *t, int layer,
                                 const policy *pol, uint8_t *member)
{
    const gat__edge_views *v = &pol->v;
    const int64_t n = t->n;
    gat_status status = GAT_OK;
    float *flag = NULL;
    ALLOC(flag, n, "receptive field");
    if (status != GAT_OK)
        return status;
    for (int64_t r = 0; r < t->rows; r++) {
        const int64_t i = t->origin + r;
        if (member[i])
            for (int64_t s = v->row_ptr[i]; s < v->row_ptr[i + 1]; s++)
                flag[v->src[s]] = 1.0f;
    }
    /* The halo's marks back to their owners (the forward's lists reversed),
     * combined with the owners' own. */
    float *arrays[1] = {flag};
    const int64_t widths[1] = {1};
    status = exchange_rows(ctx, t, layer, &pol->halo_recv, &pol->halo_send, arrays, widths, 1,
                           true);
    if (status == GAT_OK)
        for (int64_t r = 0; r < t->rows; r++)
            member[t->origin + r] |= flag[t->origin + r] != 0.0f;
    gat__free_raw(&ctx->allocator, flag);
    return status;
}

static gat_status backward(gat_context *ctx, gat_dist_trainer *t, const int64_t *index,
                           int64_t count)
{
    const gat_model *m = t->model;
    const int64_t n = t->n, row_delta = t->first - t->origin;
    const int layers = m->num_layers;
    gat_status status = GAT_OK;
    /* E_{L-1}: the owned targets. */
    uint8_t *member = t->mark;
    memset(member, 0, (size_t)n);
    for (int64_t k = 0; k < count; k++)
        if (index[k] >= t->first && index[k] < t->first + t->rows)
            member[t->origin + (index[k] - t->first)] = 1;
    const float *d_out = t->d_logits;
    for (int l = layers - 1; l >= 0 && status == GAT_OK; l--) {
        const gat__layer *layer = &m->layers[l];
        const gat_layer_config *c = &layer->config;
        gat__layer_state *st = &t->layers[l];
        const policy *pol = t->extra[l].pol;
        const int64_t heads = c->heads, hc = heads * c->channels, f = c->in_features;
        const int64_t width = gat__layer_out_width(c);
        const gat__dropout drop_att =
            drop_at(t, l, GAT__DROP_ATTENTION, t->options.attention_dropout);
        const gat__dropout drop_proj =
            drop_at(t, l, GAT__DROP_PROJECTED, t->options.projected_dropout);
        if ((status = receptive_rows(ctx, t, l, pol, member)) != GAT_OK)
            break;
        gat__attention_backward_args args = {
            .views = &pol->v, .edge_rows = &t->owned, .proj_rows = &t->none,
            .projected = st->projected,
            .dropped = st->used_proj_dropped ? st->proj_dropped : NULL,
            .proj_keep = st->used_proj_dropped ? st->proj_keep : NULL,
            .proj_scale = drop_proj.scale, .score_src = st->score_src,
            .score_dst = st->score_dst, .shift = st->shift, .inv_sum = st->inv_sum,
            .keep = st->used_attention_keep ? st->attention_keep : NULL,
            .keep_scale = drop_att.scale, .d_out = d_out, .d_att_src = t->scratch_grads,
            .d_att_dst = t->scratch_grads + hc, .d_bias = t->scratch_grads + 2 * hc,
            .dyc = t->dyc, .dot = t->dot, .d_score_dst = t->d_score_dst, .active = t->active,
            .partials = t->partials};
        /* Pass A alone first (pass B over no rows) for what the owners of
         * remote sources need; then both passes (pass A again gives the
         * same bits) with the remote rows' values in place. */
        if ((status = gat__attention_backward(ctx, layer, &args)) != GAT_OK)
            break;
        {
            float *dyc_rows = heads == 1 ? (float *)d_out : t->dyc;
            float *arrays[5] = {dyc_rows, t->dot, st->score_dst, st->shift, st->inv_sum};
            const int64_t widths[5] = {hc, heads, heads, heads, heads};
            status = exchange_rows(ctx, t, l, &pol->back_send, &pol->back_recv, arrays, widths, 5,
                                   false);
            if (status != GAT_OK)
                break;
        }
        if (st->used_attention_keep) {
            const int64_t bytes = gat__mask_bytes(heads);
            for (int64_t q = 0; q < pol->remote_slots; q++)
                gat__dropout_mask_slots(&drop_att, pol->remote_gslot[q], 1, heads,
                                        st->attention_keep + pol->remote_slot[q] * bytes);
        }
        args.proj_rows = &t->owned;
        if ((status = gat__attention_backward(ctx, layer, &args)) != GAT_OK)
            break;
        const int64_t pw = width + 2 * hc;
        float **g = t->extra[l].grad;
        if ((status = reduce_block_partials(ctx, t, t->partials, pw, width, hc, g[1])) != GAT_OK ||
            (status = reduce_block_partials(ctx, t, t->partials, pw, width + hc, hc, g[2])) !=
                GAT_OK ||
            (layer->bias != NULL &&
             (status = reduce_block_partials(ctx, t, t->partials, pw, 0, width, g[3])) != GAT_OK))
            break;
        const float *d_projected = st->projected;
        if (l == 0 && t->sparse) {
            status = sparse_weight_gradient(ctx, t, d_projected, hc);
            if (status == GAT_OK)
                gat__sparse_weight_gradient(&t->sparse_x, hc, g[0]);
        } else {
            status = dense_weight_gradient(ctx, t, member,
                                           st->used_dropped ? st->dropped : st->input,
                                           d_projected, f, hc, g[0]);
        }
        if (status != GAT_OK || l == 0)
            break;
        float *d_in = t->d_hidden[(layers - 1 - l) % 2];
        /* Rows outside P_l have no gradient (one process leaves them out). */
        memset(d_in + t->origin * f, 0, (size_t)(t->rows * f) * sizeof *d_in);
        status = dense_input_gradient(ctx, t, member, d_projected, f, hc, layer->weight, d_in);
        if (status != GAT_OK)
            break;
        const gat__dropout drop_in =
            shifted(drop_at(t, l, GAT__DROP_INPUT, t->options.dropout), row_delta * f);
        gat__dropout_activation_backward(ctx, &drop_in, st->input_keep, m->activation,
                                         &t->owned, st->input, d_in, n, f);
        d_out = d_in;
    }
    return status;
}

/* ---- the object ----------------------------------------------------------- */

void gat_dist_trainer_destroy(gat_dist_trainer **trainer)
{
    if (trainer == NULL || *trainer == NULL)
        return;
    gat_dist_trainer *t = *trainer;
    const gat_allocator *a = &t->allocator;
    for (int k = 0; k < 2; k++) {
        policy *pol = &t->pol[k];
        gat__edge_views_free(a, &pol->v);
        GAT_FREE(a, pol->remote_slot);
        GAT_FREE(a, pol->remote_gslot);
        lists *ls[4] = {&pol->halo_send, &pol->halo_recv, &pol->back_send, &pol->back_recv};
        for (int q = 0; q < 4; q++) {
            GAT_FREE(a, ls[q]->start);
            GAT_FREE(a, ls[q]->pos);
        }
    }
    if (t->layers != NULL)
        for (int l = 0; l < t->model->num_layers; l++)
            gat__layer_state_free(a, &t->layers[l], l + 1 < t->model->num_layers);
    gat__sparse_input_free(a, &t->sparse_x);
    GAT_FREE(a, t->layers);
    GAT_FREE(a, t->extra);
    GAT_FREE(a, t->bounds);
    GAT_FREE(a, t->global_of);
    GAT_FREE(a, t->owned_ids);
    GAT_FREE(a, t->owned_member);
    GAT_FREE(a, t->no_member);
    GAT_FREE(a, t->x);
    GAT_FREE(a, t->logits);
    GAT_FREE(a, t->d_logits);
    GAT_FREE(a, t->d_hidden[0]);
    GAT_FREE(a, t->d_hidden[1]);
    GAT_FREE(a, t->dyc);
    GAT_FREE(a, t->dot);
    GAT_FREE(a, t->d_score_dst);
    GAT_FREE(a, t->partials);
    GAT_FREE(a, t->compact);
    GAT_FREE(a, t->scratch_grads);
    GAT_FREE(a, t->active);
    GAT_FREE(a, t->mark);
    GAT_FREE(a, t->params);
    GAT_FREE(a, t->slab);
    gat_allocator allocator = t->allocator;
    gat__free_raw(&allocator, t);
    *trainer = NULL;
}

/* What the local trainer cannot take yet, refused before any work. */
static gat_status check_model(gat_context *ctx, const gat_model *model,
                              const gat_trainer_options *o)
{
    if (ctx->gemm == GAT_GEMM_BLAS)
        return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                         "distributed training: GAT_GEMM_BLAS gives row bits that depend on the "
                         "rows sharing a block; use the built-in GEMM");
    for (int l = 0; l < model->num_layers; l++)
        if (!gat__layer_is_plain(&model->layers[l].config))
            return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                             "distributed training: layer %d is not a plain GATConv layer "
                             "(GATv2, edge features, residual and bipartite layers train in one "
                             "process only)", l);
    return gat__trainer_check_options(ctx, o);
}

static gat_status read_features(gat_context *ctx, gat_dist_trainer *t,
                                const gat_dist_train_options *o)
{
    gat_array *rows = NULL;
    gat_status status = gat__npy_read_rows(ctx, o->features, t->first, t->rows, &rows, NULL);
    if (status == GAT_OK && o->preprocess)
        status = gat_model_preprocess(ctx, t->model, rows->data, t->rows, t->in_features);
    ALLOC(t->x, t->n * t->in_features, "features");
    if (status == GAT_OK)
        memcpy(t->x + t->origin * t->in_features, rows->data,
               (size_t)(t->rows * t->in_features) * sizeof *t->x);
    gat_array_destroy(&rows);
    for (int64_t k = 0; status == GAT_OK && k < t->rows * t->in_features; k++)
        if (!isfinite(t->x[t->origin * t->in_features + k]))
            status = gat__fail(ctx, GAT_ERR_NONFINITE, "trainer: x[%lld, %lld] is not finite",
                               (long long)(t->first + k / t->in_features),
                               (long long)(k % t->in_features));
    return status;
}

/* Buffers over the local nodes, as gat_trainer_create allocates them. */
static gat_status allocate(gat_context *ctx, gat_dist_trainer *t)
{
    const gat_model *m = t->model;
    const gat_trainer_options *o = &t->options;
    const int64_t n = t->n;
    gat_status status = GAT_OK;
    int64_t max_hc = 0, max_heads = 0, max_hidden = 0, max_partials = 0;
    int64_t compact = 0;
    for (int l = 0; l < m->num_layers; l++) {
        const gat_layer_config *c = &m->layers[l].config;
        const int64_t hc = c->heads * c->channels, width = gat__layer_out_width(c);
        gat__layer_state *st = &t->layers[l];
        if (status == GAT_OK)
            status = gat__layer_state_alloc(ctx, st, c, o, n, t->extra[l].pol->v.num_slots,
                                            !(l == 0 && t->sparse), l + 1 < m->num_layers);
        st->input = l == 0 ? t->x : t->layers[l - 1].output;
        if (l + 1 < m->num_layers) {
            max_hidden = width > max_hidden ? width : max_hidden;
        } else {
            ALLOC(t->d_logits, n * width, "output gradient");
        }
        max_hc = hc > max_hc ? hc : max_hc;
        max_heads = c->heads > max_heads ? c->heads : max_heads;
        const int64_t att = gat__attention_backward_scratch(c, n);
        max_partials = att > max_partials ? att : max_partials;
        const int64_t need = t->rows * (2 * c->in_features + hc + 2 * c->heads);
        compact = need > compact ? need : compact;
    }
    const int64_t last = gat__layer_out_width(&m->layers[m->num_layers - 1].config);
    ALLOC(t->logits, n * (last > max_hc ? last : max_hc), "model output");
    if (status == GAT_OK)
        t->layers[m->num_layers - 1].output = t->logits;
    ALLOC(t->dyc, n * max_hc, "output gradient by channel");
    ALLOC(t->dot, n * max_heads, "score gradient");
    ALLOC(t->d_score_dst, n * max_heads, "score gradient");
    ALLOC(t->active, n, "active rows");
    ALLOC(t->mark, n, "receptive field");
    ALLOC(t->partials, max_partials, "gradient partial sums");
    ALLOC(t->compact, compact, "gathered rows");
    ALLOC(t->scratch_grads, 2 * max_hc + max_hidden + last + 1, "gradient scratch");
    for (int b = 0; b < 2 && b + 1 < m->num_layers; b++)
        ALLOC(t->d_hidden[b], n * max_hidden, "hidden-feature gradient");
    if (status == GAT_OK)
        status = gat__params_create(ctx, t->model, &t->params, &t->num_params, &t->slab);
    if (status != GAT_OK)
        return status;
    /* Each layer's gradients in its parameters' (the bias's in scratch
     * when the layer has none). */
    for (int l = 0, k = 0; l < m->num_layers; l++) {
        float **g = t->extra[l].grad;
        for (int q = 0; q < 3; q++)
            g[q] = t->params[k++].grad;
        g[3] = m->layers[l].bias != NULL ? t->params[k++].grad : t->scratch_grads;
    }
    return GAT_OK;
}

/* The owned rows as a list, and an empty one. */
static gat_status make_row_lists(gat_context *ctx, gat_dist_trainer *t)
{
    gat_status status = GAT_OK;
    ALLOC(t->owned_ids, t->rows, "owned rows");
    ALLOC(t->owned_member, t->n, "owned rows");
    ALLOC(t->no_member, t->n, "owned rows");
    if (status != GAT_OK)
        return status;
    for (int64_t r = 0; r < t->rows; r++) {
        t->owned_ids[r] = (int32_t)(t->origin + r);
        t->owned_member[t->origin + r] = 1;
    }
    t->owned = (gat__rows){t->owned_ids, t->rows, t->owned_member};
    t->none = (gat__rows){t->owned_ids, 0, t->no_member};
    return GAT_OK;
}

gat_status gat_dist_trainer_create(gat_context *ctx, gat_dist_trainer **trainer,
                                   gat_model *model, const gat_dist_train_options *options,
                                   const gat_trainer_options *train_options)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (trainer == NULL || model == NULL || options == NULL || options->graph == NULL ||
        options->features == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "gat_dist_trainer_create: trainer, model, graph and features are "
                         "required");
    *trainer = NULL;
    bool failed = false;
    gat_trainer_options defaults;
    gat_trainer_options_init(&defaults);
    gat_status status = check_model(ctx, model, train_options ? train_options : &defaults);
    gat_dist_trainer *t = NULL;
    if (status == GAT_OK)
        t = gat__calloc_array(ctx, 1, sizeof *t, "distributed trainer", &status);
    if (t != NULL) {
        t->allocator = ctx->allocator;
        t->comm = MPI_COMM_WORLD;
        MPI_Comm_rank(t->comm, &t->rank);
        MPI_Comm_size(t->comm, &t->ranks);
        t->model = model;
        t->options = train_options ? *train_options : defaults;
        t->in_features = model->layers[0].config.in_features;
        t->layers = gat__calloc_array(ctx, model->num_layers, sizeof *t->layers,
                                      "trainer layers", &status);
        if (status == GAT_OK)
            t->extra = gat__calloc_array(ctx, model->num_layers, sizeof *t->extra,
                                         "trainer layers", &status);
    }
    gat_array *probe = NULL;
    if (status == GAT_OK)
        status = gat__npy_read_rows(ctx, options->features, 0, 0, &probe, &t->num_nodes);
    if (status == GAT_OK && probe->shape[1] != t->in_features)
        status = gat__fail(ctx, GAT_ERR_INVALID, "%s: the model expects %lld input features "
                           "but it has %lld columns", options->features,
                           (long long)t->in_features, (long long)probe->shape[1]);
    gat_array_destroy(&probe);
    int64_t *row_ptr = NULL;
    int32_t *col = NULL;
    if (status == GAT_OK)
        status = read_graph(ctx, t, options->graph, &row_ptr, &col);
    status = agree(ctx, MPI_COMM_WORLD, status, &failed);
    if (status == GAT_OK)
        status = build_local(ctx, t, row_ptr, col);
    gat__free_raw(&ctx->allocator, row_ptr);
    gat__free_raw(&ctx->allocator, col);
    status = agree(ctx, MPI_COMM_WORLD, status, &failed);
    if (status == GAT_OK)
        status = read_features(ctx, t, options);
    status = agree(ctx, MPI_COMM_WORLD, status, &failed);
    if (status == GAT_OK) {
        /* The input's format as one process decides it, over all of x. */
        int64_t nnz = gat__count_nonzero(ctx, t->x + t->origin * t->in_features, t->rows,
                                         t->in_features);
        status = mpi_check(ctx, MPI_Allreduce(MPI_IN_PLACE, &nnz, 1, MPI_INT64_T, MPI_SUM,
                                              t->comm),
                           "MPI_Allreduce (non-zeros)");
        const gat_trainer_options *o = &t->options;
        t->sparse = o->input_format == GAT_INPUT_SPARSE ||
                    (o->input_format == GAT_INPUT_AUTO &&
                     (double)nnz <= GAT_SPARSE_INPUT_DENSITY * (double)t->num_nodes *
                                        (double)t->in_features);
    }
    if (status == GAT_OK && t->sparse) {
        const gat_layer_config *c0 = &model->layers[0].config;
        status = gat__sparse_input_build(ctx, t->x, t->n, t->in_features,
                                         c0->heads * c0->channels, &t->sparse_x);
    }
    if (status == GAT_OK)
        status = make_row_lists(ctx, t);
    if (status == GAT_OK)
        status = allocate(ctx, t);
    status = agree(ctx, MPI_COMM_WORLD, status, &failed);
    if (status != GAT_OK) {
        gat_dist_trainer_destroy(&t);
        return status;
    }
    *trainer = t;
    return GAT_OK;
}

/* A call's targets checked, the forward (training: with dropout, the
 * state kept), the loss (training: and d_logits); every rank alike. */
static gat_status forward_loss(gat_context *ctx, gat_dist_trainer *t, bool training,
                               const int64_t *labels, const int64_t *index, int64_t count,
                               gat_metrics *metrics)
{
    t->failed = false;
    gat_status status = gat__check_targets(ctx, labels, index, count, t->num_nodes,
                                           gat_model_out_features(t->model));
    status = agree(ctx, t->comm, status, &t->failed);
    if (status == GAT_OK)
        status = forward(ctx, t, training);
    status = agree(ctx, t->comm, status, &t->failed);
    if (status == GAT_OK)
        status = loss(ctx, t, labels, index, count, metrics, training ? t->d_logits : NULL);
    return status;
}

gat_status gat_dist_trainer_gradients_step(gat_context *ctx, gat_dist_trainer *t,
                                           const int64_t *labels, const int64_t *index,
                                           int64_t count, gat_metrics *train)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || train == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "distributed step: trainer and metrics are "
                         "required");
    /* The report's counters start over with each step. */
    memset(t->rep.bytes_sent, 0, sizeof t->rep.bytes_sent);
    memset(t->rep.bytes_received, 0, sizeof t->rep.bytes_received);
    t->rep.seconds_communication = t->rep.seconds_wait = 0.0;
    t->step_start = MPI_Wtime();
    gat_status status = forward_loss(ctx, t, true, labels, index, count, train);
    if (status == GAT_OK && !isfinite(train->loss))
        status = gat__fail(ctx, GAT_ERR_NONFINITE,
                           "trainer step %lld: the loss is not finite (%g); parameters unchanged",
                           (long long)t->steps + 1, train->loss);
    status = agree(ctx, t->comm, status, &t->failed);
    if (status == GAT_OK)
        status = backward(ctx, t, index, count);
    status = agree(ctx, t->comm, status, &t->failed);
    t->rep.seconds_total = MPI_Wtime() - t->step_start;
    return status;
}

gat_status gat_dist_trainer_gradients(gat_dist_trainer *t, int layer, gat_layer_params *g)
{
    if (t == NULL || g == NULL || layer < 0 || layer >= t->model->num_layers)
        return GAT_ERR_INVALID;
    float *const *p = t->extra[layer].grad;
    memset(g, 0, sizeof *g);
    g->weight = p[0];
    g->att_src = p[1];
    g->att_dst = p[2];
    g->bias = t->model->layers[layer].bias != NULL ? p[3] : NULL;
    return GAT_OK;
}

gat_status gat_dist_trainer_update(gat_context *ctx, gat_dist_trainer *t)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "distributed update: NULL trainer");
    /* The same gradients on every rank: the same step everywhere. */
    gat__optimizer_step(ctx, &t->options, t->steps + 1, &t->model->layers[0],
                        t->sparse ? &t->sparse_x : NULL, t->params, t->num_params, 0);
    t->steps++;
    t->rep.seconds_total = MPI_Wtime() - t->step_start;
    return GAT_OK;
}

gat_status gat_dist_trainer_report(const gat_dist_trainer *t, gat_dist_report *report)
{
    if (t == NULL || report == NULL)
        return GAT_ERR_INVALID;
    *report = t->rep;
    report->rank = t->rank;
    report->ranks = t->ranks;
    report->num_nodes = t->num_nodes;
    report->num_edges = t->num_edges;
    report->first_row = t->first;
    report->rows = t->rows;
    report->layers = t->model->num_layers;
    /* Layer 0's edges and halo (layers with the other self-loop policy
     * differ by the self-loops only). */
    const policy *pol = t->extra[0].pol;
    const int64_t *row_ptr = pol->v.row_ptr;
    const int64_t lo = t->origin, hi = t->origin + t->rows;
    report->edges = row_ptr[hi] - row_ptr[lo];
    report->halo_rows = pol->halo_recv.start[t->ranks];
    report->send_rows = pol->halo_send.start[t->ranks];
    report->interior_rows = 0;
    for (int64_t i = lo; i < hi; i++) {
        bool interior = true;
        for (int64_t s = row_ptr[i]; s < row_ptr[i + 1] && interior; s++)
            interior = pol->v.src[s] >= lo && pol->v.src[s] < hi;
        report->interior_rows += interior;
    }
    report->seconds_compute = report->seconds_total - report->seconds_communication;
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        report->peak_rss_bytes = (int64_t)usage.ru_maxrss * 1024;
    return GAT_OK;
}

gat_status gat_dist_trainer_evaluate(gat_context *ctx, gat_dist_trainer *t,
                                     const int64_t *labels, const int64_t *index, int64_t count,
                                     gat_metrics *metrics)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL || metrics == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "distributed evaluate: trainer and metrics are "
                         "required");
    return agree(ctx, t->comm, forward_loss(ctx, t, false, labels, index, count, metrics),
                 &t->failed);
}

gat_status gat_dist_trainer_fit(gat_context *ctx, gat_dist_trainer *t, const int64_t *labels,
                                const int64_t *train_index, int64_t train_count,
                                const int64_t *val_index, int64_t val_count,
                                const gat_fit_options *options, gat_fit_result *result)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (t == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "fit: NULL trainer");
    gat_fit_options defaults;
    gat_status status = gat__fit_options(ctx, options, &defaults);
    if (status != GAT_OK)
        return status;
    const gat_fit_options *o = options != NULL ? options : &defaults;
    /* gat_trainer_fit's serial loop (its overlapped one has the same bits). */
    gat_fit_result r = {0, 0, {INFINITY, 0.0}, false};
    gat__fit_rule rule = {0.0, INFINITY, 0};
    for (int64_t epoch = 1; epoch <= o->max_epochs; epoch++) {
        const double t0 = MPI_Wtime();
        gat_epoch_report report = {.epoch = epoch};
        if ((status = gat_dist_trainer_gradients_step(ctx, t, labels, train_index, train_count,
                                                      &report.train)) != GAT_OK ||
            (status = gat_dist_trainer_update(ctx, t)) != GAT_OK ||
            (status = gat_dist_trainer_evaluate(ctx, t, labels, val_index, val_count,
                                                &report.val)) != GAT_OK)
            break;
        /* Every rank decides alike (the same metrics), so none waits alone. */
        if (!gat__fit_end_of_epoch(t->params, t->num_params, o, &rule, &r, &report,
                                   MPI_Wtime() - t0))
            break;
    }
    if (r.best_epoch > 0) {
        gat__params_restore(t->params, t->num_params);
        t->sparse_x.weight_t_version = -1; /* the weights changed outside an update */
    }
    if (result != NULL)
        *result = r;
    return status;
}

bool gat_dist_trainer_sparse_input(const gat_dist_trainer *t) { return t != NULL && t->sparse; }

#endif
