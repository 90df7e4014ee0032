/*
 * Reverse Cuthill-McKee: a breadth-first order of the symmetrised graph in
 * which the unvisited neighbours of each node join the queue by increasing
 * degree, started per component from a pseudo-peripheral node (George and
 * Liu's sweeps) and finally reversed. Nodes that share neighbours end up
 * with nearby ids, so the source rows one destination row gathers sit close
 * together in memory and consecutive rows reuse each other's cache lines.
 *
 * Every choice is broken by node id and the work is serial (linear but
 * for the per-node sorts of a few neighbours), so the order is a function
 * of the graph alone.
 */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

/* George-Liu sweeps per component at most. Each sweep is one BFS over the
 * component and the eccentricity rarely grows after two or three; the cap
 * bounds the cost on graphs where it creeps up one level at a time. */
#define MAX_SWEEPS 16
/* Lists up to this length are sorted by insertion: most lists in sparse
 * graphs are a handful of entries, where qsort's call overhead dominates. */
#define INSERTION_LIMIT 24

/* The undirected simple graph underneath a gat_graph. */
typedef struct sym_graph {
    int64_t *ptr;    /* [N + 1]: list v starts at ptr[v] */
    int32_t *adj;    /* neighbours of v: adj[ptr[v] .. ptr[v] + degree[v]), distinct */
    int32_t *degree; /* [N]: distinct neighbours, self excluded */
} sym_graph;

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Keys are unique (they contain the node id), so any correct sort gives
 * the same result. */
static void sort_u64(uint64_t *v, int64_t n)
{
    if (n > INSERTION_LIMIT) {
        qsort(v, (size_t)n, sizeof *v, compare_u64);
        return;
    }
    for (int64_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        int64_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Both directions of every non-loop edge, each list then deduplicated in
 * place: degree[v] counts distinct neighbours, which is what Cuthill-McKee
 * ranks by (a duplicated edge is one neighbour). Lists stay in scatter
 * order, not sorted: the level sets of a BFS and the degree-sorted queue
 * of the final pass do not depend on the order within a list. */
static gat_status build_symmetric(gat_context *ctx, const gat_graph *g, sym_graph *s)
{
    const int64_t n = g->num_nodes;
    gat_status status;
    int32_t *last_seen = NULL;
    s->ptr = gat__calloc_array(ctx, n + 1, sizeof *s->ptr, "reorder: symmetric offsets",
                               &status);
    if (s->ptr == NULL)
        return status;
    s->degree = gat__alloc_array(ctx, n, sizeof *s->degree, "reorder: symmetric degrees",
                                 &status);
    if (s->degree == NULL)
        return status;
    for (int64_t d = 0; d < n; d++)
        for (int64_t k = g->row_ptr[d]; k < g->row_ptr[d + 1]; k++) {
            int64_t src = g->col[k];
            if (src == d)
                continue;
            s->ptr[src + 1]++;
            s->ptr[d + 1]++;
        }
    for (int64_t v = 0; v < n; v++)
        s->ptr[v + 1] += s->ptr[v];
    s->adj = gat__alloc_array(ctx, s->ptr[n], sizeof *s->adj, "reorder: symmetric lists",
                              &status);
    if (s->adj == NULL)
        return status;
    last_seen = gat__alloc_array(ctx, n, sizeof *last_seen, "reorder: duplicate marks",
                                 &status);
    if (last_seen == NULL)
        return status;
    /* Scatter with moving cursors (the starts shifted), restored after. */
    for (int64_t d = 0; d < n; d++)
        for (int64_t k = g->row_ptr[d]; k < g->row_ptr[d + 1]; k++) {
            int32_t src = g->col[k];
            if (src == d)
                continue;
            s->adj[s->ptr[src]++] = (int32_t)d;
            s->adj[s->ptr[d]++] = src;
        }
    for (int64_t v = n; v > 0; v--)
        s->ptr[v] = s->ptr[v - 1];
    s->ptr[0] = 0;

    /* last_seen[u] == v: u is already in v's list. One linear pass with
     * marks instead of sorting every list (which cost more than all the
     * searches together on a web graph). */
    for (int64_t v = 0; v < n; v++)
        last_seen[v] = -1;
    for (int64_t v = 0; v < n; v++) {
        int32_t *list = s->adj + s->ptr[v];
        const int64_t len = s->ptr[v + 1] - s->ptr[v];
        int64_t distinct = 0;
        for (int64_t k = 0; k < len; k++) {
            int32_t u = list[k];
            if (last_seen[u] == (int32_t)v)
                continue;
            last_seen[u] = (int32_t)v;
            list[distinct++] = u;
        }
        s->degree[v] = (int32_t)distinct;
    }
    gat__free_raw(&ctx->allocator, last_seen);
    return GAT_OK;
}

/* Breadth-first search from start over the nodes whose level is -1,
 * writing them into queue in visiting order and their distance from start
 * into level. Returns how many were visited; *deepest is where the last
 * level starts in queue. The caller resets level afterwards. */
static int64_t bfs_levels(const sym_graph *s, int32_t start, int32_t *level, int32_t *queue,
                          int64_t *deepest)
{
    int64_t head = 0, tail = 0;
    queue[tail++] = start;
    level[start] = 0;
    *deepest = 0;
    while (head < tail) {
        int32_t v = queue[head++];
        const int32_t next = level[v] + 1;
        const int32_t *list = s->adj + s->ptr[v];
        for (int32_t k = 0; k < s->degree[v]; k++) {
            int32_t u = list[k];
            if (level[u] != -1)
                continue;
            if (next > level[queue[tail - 1]])
                *deepest = tail; /* the first node of a new, deeper level */
            level[u] = next;
            queue[tail++] = u;
        }
    }
    return tail;
}

static void reset_levels(int32_t *level, const int32_t *queue, int64_t count)
{
    for (int64_t k = 0; k < count; k++)
        level[queue[k]] = -1;
}

/* The node of least degree among list [count], the lowest id on ties. */
static int32_t min_degree_node(const sym_graph *s, const int32_t *list, int64_t count)
{
    int32_t best = list[0];
    for (int64_t k = 1; k < count; k++) {
        int32_t v = list[k];
        if (s->degree[v] < s->degree[best] || (s->degree[v] == s->degree[best] && v < best))
            best = v;
    }
    return best;
}

/* George and Liu's pseudo-peripheral node of the component containing
 * seed: from the seed, move to the least-degree node of the deepest BFS
 * level while that makes the BFS deeper. A start far from everything gives
 * many narrow levels, and the width of the levels bounds the distance
 * between neighbours' new ids. The seed (the component's lowest id) is
 * only a starting point; a candidate, at the seed's eccentricity from it,
 * is never shallower than the current root, so the sweeps end on a tie,
 * where the end of lesser degree is kept, or at the cap. */
static int32_t pseudo_peripheral(const sym_graph *s, int32_t seed, int32_t *level,
                                 int32_t *queue)
{
    int64_t deepest;
    int64_t count = bfs_levels(s, seed, level, queue, &deepest);
    int32_t root = seed;
    int32_t depth = level[queue[count - 1]];
    for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
        int32_t candidate = min_degree_node(s, queue + deepest, count - deepest);
        reset_levels(level, queue, count);
        count = bfs_levels(s, candidate, level, queue, &deepest);
        int32_t candidate_depth = level[queue[count - 1]];
        if (candidate_depth <= depth) {
            /* Equally deep: both ends are peripheral; keep the one of
             * lesser degree, so the start is low-degree even when the
             * seed was a hub. */
            if (candidate_depth == depth && (s->degree[candidate] < s->degree[root] ||
                                             (s->degree[candidate] == s->degree[root] &&
                                              candidate < root)))
                root = candidate;
            break;
        }
        root = candidate;
        depth = candidate_depth;
    }
    reset_levels(level, queue, count);
    return root;
}

gat_status gat__order_rcm(gat_context *ctx, const gat_graph *g, int64_t *new_id)
{
    const int64_t n = g->num_nodes;
    gat_status status = GAT_OK;
    sym_graph s = {NULL, NULL, NULL};
    int32_t *level = NULL, *queue = NULL, *order = NULL;
    uint64_t *keys = NULL;
    int64_t tail = 0;
    if (n == 0)
        return GAT_OK;
    status = build_symmetric(ctx, g, &s);
    if (status != GAT_OK)
        goto done;
    level = gat__alloc_array(ctx, n, sizeof *level, "reorder: levels", &status);
    if (level == NULL)
        goto done;
    queue = gat__alloc_array(ctx, n, sizeof *queue, "reorder: queue", &status);
    if (queue == NULL)
        goto done;
    order = gat__alloc_array(ctx, n, sizeof *order, "reorder: order", &status);
    if (order == NULL)
        goto done;
    /* One node's unvisited neighbours at most: fewer than n. */
    keys = gat__alloc_array(ctx, n, sizeof *keys, "reorder: sort keys", &status);
    if (keys == NULL)
        goto done;
    for (int64_t v = 0; v < n; v++)
        level[v] = -1;

    /* level doubles as the visited mark of the Cuthill-McKee pass: the
     * sweeps reset what they touch, the pass leaves its nodes at 0, so a
     * later component's sweeps never see them. */
    for (int64_t seed = 0; seed < n; seed++) {
        if (level[seed] != -1)
            continue;
        int32_t root = s.degree[seed] == 0 ? (int32_t)seed
                                           : pseudo_peripheral(&s, (int32_t)seed, level, queue);
        int64_t head = tail;
        order[tail++] = root;
        level[root] = 0;
        while (head < tail) {
            int32_t v = order[head++];
            const int32_t *list = s.adj + s.ptr[v];
            int64_t fresh = 0;
            for (int32_t k = 0; k < s.degree[v]; k++) {
                int32_t u = list[k];
                if (level[u] != -1)
                    continue;
                level[u] = 0;
                /* Degree in the high half, id in the low: one integer sort
                 * orders by degree with ties broken by id. */
                keys[fresh++] = (uint64_t)(uint32_t)s.degree[u] << 32 | (uint32_t)u;
            }
            sort_u64(keys, fresh);
            for (int64_t k = 0; k < fresh; k++)
                order[tail++] = (int32_t)(keys[k] & 0xffffffffu);
        }
    }
    /* The reversal (George): the same bandwidth as Cuthill-McKee's order
     * and never a larger profile. */
    for (int64_t k = 0; k < n; k++)
        new_id[order[k]] = n - 1 - k;
done:
    gat__free_raw(&ctx->allocator, s.ptr);
    gat__free_raw(&ctx->allocator, s.adj);
    gat__free_raw(&ctx->allocator, s.degree);
    gat__free_raw(&ctx->allocator, level);
    gat__free_raw(&ctx->allocator, queue);
    gat__free_raw(&ctx->allocator, order);
    gat__free_raw(&ctx->allocator, keys);
    return status;
}
