/*
 * Synthetic graphs for benchmarks (GAPBS's generators): R-MAT with Graph500
 * parameters and uniform random, in fixed-size blocks so that the graph is
 * a function of the seed alone.
 */
#include "internal.h"
#include "parallel.h"
#include "random.h"

#define BLOCK_EDGES 65536
#define RMAT_A 0.57f
#define RMAT_B 0.19f
#define RMAT_C 0.19f

static int scale_for(int64_t n)
{
    int scale = 0;
    while (((int64_t)1 << scale) < n)
        scale++;
    return scale;
}

static void rmat_edge(gat__rng *r, int scale, int32_t *perm, int64_t n, int64_t *src,
                      int64_t *dst)
{
    for (;;) {
        int64_t s = 0, d = 0;
        for (int level = 0; level < scale; level++) {
            float p = gat__rng_float(r);
            int64_t bit = (int64_t)1 << level;
            if (p < RMAT_A) {
            } else if (p < RMAT_A + RMAT_B) {
                d |= bit;
            } else if (p < RMAT_A + RMAT_B + RMAT_C) {
                s |= bit;
            } else {
                s |= bit;
                d |= bit;
            }
        }
        s = perm[s];
        d = perm[d];
        if (s < n && d < n && s != d) {
            *src = s;
            *dst = d;
            return;
        }
    }
}

gat_status gat_generate_edges(gat_context *ctx, gat_generator kind, int64_t num_nodes,
                              int64_t num_edges, uint64_t seed, int64_t *src, int64_t *dst)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (kind != GAT_GEN_RMAT && kind != GAT_GEN_UNIFORM)
        return gat__fail(ctx, GAT_ERR_INVALID, "generator: unknown kind %d", (int)kind);
    if (num_nodes < 2 || num_nodes > INT32_MAX || num_edges < 0)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "generator: needs 2 to 2^31-1 nodes and a non-negative edge count "
                         "(got %lld nodes, %lld edges)",
                         (long long)num_nodes, (long long)num_edges);
    if (num_edges > 0 && (src == NULL || dst == NULL))
        return gat__fail(ctx, GAT_ERR_INVALID, "generator: src or dst is NULL");

    int scale = scale_for(num_nodes);
    int32_t *perm = NULL;
    if (kind == GAT_GEN_RMAT) {
        gat_status status;
        perm = gat__alloc_array(ctx, (int64_t)1 << scale, sizeof *perm, "R-MAT permutation",
                                &status);
        if (perm == NULL)
            return status;
        /* Fisher-Yates over [0, 2^scale): serial, O(N), from its own stream. */
        gat__rng r = gat__rng_stream(seed, UINT64_MAX);
        for (int64_t i = 0; i < ((int64_t)1 << scale); i++)
            perm[i] = (int32_t)i;
        for (int64_t i = ((int64_t)1 << scale) - 1; i > 0; i--) {
            int64_t j = (int64_t)gat__rng_below(&r, (uint64_t)i + 1);
            int32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
    const int64_t blocks = (num_edges + BLOCK_EDGES - 1) / BLOCK_EDGES;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 4)
#endif
    for (int64_t b = 0; b < blocks; b++) {
        gat__rng r = gat__rng_stream(seed, (uint64_t)b);
        int64_t end = (b + 1) * BLOCK_EDGES < num_edges ? (b + 1) * BLOCK_EDGES : num_edges;
        for (int64_t k = b * BLOCK_EDGES; k < end; k++) {
            if (kind == GAT_GEN_RMAT) {
                rmat_edge(&r, scale, perm, num_nodes, &src[k], &dst[k]);
            } else {
                do {
                    src[k] = (int64_t)gat__rng_below(&r, (uint64_t)num_nodes);
                    dst[k] = (int64_t)gat__rng_below(&r, (uint64_t)num_nodes);
                } while (src[k] == dst[k]);
            }
        }
    }
    gat__free_raw(&ctx->allocator, perm);
    return GAT_OK;
}
