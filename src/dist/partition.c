/*
 * The 1-D partition by destination and the halo lists (partition.h).
 */
#include "partition.h"

#include <string.h>

gat_status gat__partition_bounds(gat_context *ctx, gat__row_ptr_at at, const void *source,
                                 int64_t num_nodes, int64_t num_edges, int parts,
                                 int64_t *bounds)
{
    if (parts < 1)
        return gat__fail(ctx, GAT_ERR_INVALID, "partition: %d parts (at least 1)", parts);
    const double total = (double)num_edges + (double)num_nodes;
    bounds[0] = 0;
    bounds[parts] = num_nodes;
    for (int r = 1; r < parts; r++) {
        /* The first row whose offset plus index reaches the target, as
         * gat__balanced_range_start finds it in memory. */
        const double target = total * (double)r / (double)parts;
        int64_t lo = bounds[r - 1], hi = num_nodes;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2, offset;
            gat_status status = at(ctx, source, mid, &offset);
            if (status != GAT_OK)
                return status;
            if ((double)(offset + mid) < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        bounds[r] = lo;
    }
    return GAT_OK;
}

int gat__partition_owner(const int64_t *bounds, int parts, int64_t g)
{
    /* The last part starting at or before g (empty parts start there too,
     * and end there). */
    int lo = 0, hi = parts;
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (bounds[mid] <= g)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Remote sources as a bit set over the N ids, with per-word prefix counts:
 * listing them ascending and numbering them are then linear, without
 * sorting E / P ids (the set costs N / 8 + N / 16 bytes). */
typedef struct id_set {
    uint64_t *bits;
    uint32_t *before; /* set bits in the words before */
    int64_t words;
} id_set;

static int64_t set_index(const id_set *s, int64_t g)
{
    const uint64_t below = s->bits[g >> 6] & ((UINT64_C(1) << (g & 63)) - 1);
    return (int64_t)s->before[g >> 6] + __builtin_popcountll(below);
}

static gat_status build_lists(gat_context *ctx, gat__halo *h, const int64_t *bounds,
                              int64_t num_nodes, const int64_t *row_ptr, const int32_t *col,
                              id_set *set)
{
    gat_status status = GAT_OK;
    const int64_t base = row_ptr[0], first = h->first, end = h->first + h->rows;
    set->words = (num_nodes + 63) / 64;
    set->bits = gat__calloc_array(ctx, set->words, sizeof *set->bits, "halo set", &status);
    set->before = set->bits == NULL ? NULL
                                    : gat__alloc_array(ctx, set->words, sizeof *set->before,
                                                       "halo set counts", &status);
    h->row_of = gat__alloc_array(ctx, h->rows, sizeof *h->row_of, "halo order", &status);
    h->position = gat__alloc_array(ctx, h->rows, sizeof *h->position, "halo positions", &status);
    h->recv_start = gat__calloc_array(ctx, h->parts + 1, sizeof *h->recv_start, "halo receives",
                                      &status);
    if (set->before == NULL || h->row_of == NULL || h->position == NULL || h->recv_start == NULL)
        return status;
    /* Interior rows first, each group in row order. */
    int64_t interior = 0, boundary = 0;
    for (int64_t i = 0; i < h->rows; i++) {
        bool local = true;
        for (int64_t k = row_ptr[i] - base; k < row_ptr[i + 1] - base; k++) {
            const int64_t j = col[k];
            if (j < 0 || j >= num_nodes)
                return gat__fail(ctx, GAT_ERR_RANGE, "partition: edge %lld of row %lld has "
                                 "source %lld outside [0, %lld)", (long long)(base + k),
                                 (long long)(first + i), (long long)j, (long long)num_nodes);
            if (j < first || j >= end) {
                set->bits[j >> 6] |= UINT64_C(1) << (j & 63);
                local = false;
            }
        }
        h->row_of[i] = local ? interior++ : -1 - boundary++;
    }
    for (int64_t i = 0; i < h->rows; i++) {
        int64_t p = h->row_of[i] >= 0 ? h->row_of[i] : interior - 1 - h->row_of[i];
        h->position[i] = p;
    }
    for (int64_t i = 0; i < h->rows; i++)
        h->row_of[h->position[i]] = i;
    h->interior = interior;
    int64_t count = 0;
    for (int64_t w = 0; w < set->words; w++) {
        set->before[w] = (uint32_t)count;
        count += __builtin_popcountll(set->bits[w]);
    }
    h->halo = count;
    h->halo_ids = gat__alloc_array(ctx, count, sizeof *h->halo_ids, "halo ids", &status);
    if (h->halo_ids == NULL)
        return status;
    int64_t n = 0;
    for (int64_t w = 0; w < set->words; w++)
        for (uint64_t b = set->bits[w]; b != 0; b &= b - 1)
            h->halo_ids[n++] = w * 64 + __builtin_ctzll(b);
    /* Ascending ids, so each owner's are one run. */
    int q = 0;
    for (int64_t k = 0; k < count; k++) {
        const int owner = gat__partition_owner(bounds, h->parts, h->halo_ids[k]);
        while (q < owner)
            h->recv_start[++q] = k;
    }
    while (q < h->parts)
        h->recv_start[++q] = count;
    return GAT_OK;
}

/* The rank's CSR over local ids (partition.h). */
static gat_status build_graph(gat_context *ctx, gat__halo *h, const int64_t *row_ptr,
                              const int32_t *col, const id_set *set)
{
    gat_status status = GAT_OK;
    const int64_t base = row_ptr[0], nodes = h->rows + h->halo;
    gat_graph *g = gat__calloc_array(ctx, 1, sizeof *g, "local graph", &status);
    if (g == NULL)
        return status;
    g->allocator = ctx->allocator;
    h->graph = g;
    g->row_ptr = gat__alloc_array(ctx, nodes + 1, sizeof *g->row_ptr, "local graph rows",
                                  &status);
    g->col = gat__alloc_array(ctx, h->edges, sizeof *g->col, "local graph sources", &status);
    if (g->row_ptr == NULL || g->col == NULL)
        return status;
    int64_t at = 0;
    for (int64_t p = 0; p < h->rows; p++) {
        const int64_t i = h->row_of[p];
        g->row_ptr[p] = at;
        const int64_t d = row_ptr[i + 1] - row_ptr[i];
        g->max_in_degree = d > g->max_in_degree ? d : g->max_in_degree;
        for (int64_t k = row_ptr[i] - base; k < row_ptr[i + 1] - base; k++) {
            const int64_t j = col[k];
            const int64_t id = j >= h->first && j < h->first + h->rows
                                   ? h->position[j - h->first]
                                   : h->rows + set_index(set, j);
            g->num_self_loops += id == p;
            g->col[at++] = (int32_t)id;
        }
    }
    for (int64_t p = h->rows; p <= nodes; p++)
        g->row_ptr[p] = at;
    g->num_nodes = nodes;
    g->num_src_nodes = nodes;
    g->num_edges = at;
    return GAT_OK;
}

gat_status gat__halo_build(gat_context *ctx, gat__halo *halo, const int64_t *bounds, int parts,
                           int rank, int64_t num_nodes, const int64_t *row_ptr,
                           const int32_t *col, bool build)
{
    memset(halo, 0, sizeof *halo);
    halo->parts = parts;
    halo->rank = rank;
    halo->first = bounds[rank];
    halo->rows = bounds[rank + 1] - bounds[rank];
    halo->edges = row_ptr[halo->rows] - row_ptr[0];
    id_set set = {NULL, NULL, 0};
    gat_status status = build_lists(ctx, halo, bounds, num_nodes, row_ptr, col, &set);
    if (status == GAT_OK && build)
        status = build_graph(ctx, halo, row_ptr, col, &set);
    gat__free_raw(&ctx->allocator, set.bits);
    gat__free_raw(&ctx->allocator, set.before);
    if (status != GAT_OK)
        gat__halo_free(ctx, halo);
    return status;
}

gat_status gat__halo_set_sends(gat_context *ctx, gat__halo *h, const int64_t *send_start,
                               const int64_t *asked)
{
    gat_status status = GAT_OK;
    const int64_t total = send_start[h->parts];
    h->send_start = gat__alloc_array(ctx, h->parts + 1, sizeof *h->send_start, "halo sends",
                                     &status);
    h->send_rows = gat__alloc_array(ctx, total, sizeof *h->send_rows, "halo send rows", &status);
    if (h->send_start == NULL || h->send_rows == NULL)
        return status;
    memcpy(h->send_start, send_start, (size_t)(h->parts + 1) * sizeof *send_start);
    for (int64_t k = 0; k < total; k++) {
        const int64_t g = asked[k];
        if (g < h->first || g >= h->first + h->rows)
            return gat__fail(ctx, GAT_ERR_RANGE, "halo: rank %d was asked for row %lld, which "
                             "it does not own ([%lld, %lld))", h->rank, (long long)g,
                             (long long)h->first, (long long)(h->first + h->rows));
        h->send_rows[k] = h->position[g - h->first];
    }
    return GAT_OK;
}

void gat__halo_free(gat_context *ctx, gat__halo *h)
{
    GAT_FREE(&ctx->allocator, h->row_of);
    GAT_FREE(&ctx->allocator, h->position);
    GAT_FREE(&ctx->allocator, h->halo_ids);
    GAT_FREE(&ctx->allocator, h->recv_start);
    GAT_FREE(&ctx->allocator, h->send_start);
    GAT_FREE(&ctx->allocator, h->send_rows);
    gat_graph_destroy(&h->graph);
}
