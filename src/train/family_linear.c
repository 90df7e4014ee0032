/*
 * Dense linear maps y = x w^T (+ b) and their backward, for every weight a
 * layer of the GAT family has (lin_l / lin_r, lin_src / lin_dst, res) and
 * for the GATConv projection (projection_backward.c). Rows are cut into
 * blocks fixed by n alone: dw and the bias gradient sum over every row, so
 * each chunk of blocks makes its own partial and the partials are added in
 * chunk order (no atomics, no dependence on the thread count); y and dx
 * need no reduction.
 */
#include "train_family.h"
#include "parallel.h"
#include "sgemm.h"

#include <string.h>

/* Rows per chunk of the dw reduction: whole projection blocks, at most
 * GAT_MAX_WEIGHT_PARTIALS chunks. A function of n alone (the distributed
 * trainer cuts the same chunks over its ranks' rows). */
int64_t gat__linear_chunk_rows(int64_t n)
{
    const int64_t blocks = gat__projection_blocks(n);
    const int64_t per_chunk = blocks <= GAT_MAX_WEIGHT_PARTIALS
                                  ? 1
                                  : (blocks + GAT_MAX_WEIGHT_PARTIALS - 1) /
                                        GAT_MAX_WEIGHT_PARTIALS;
    return per_chunk * GAT_PROJECTION_BLOCK;
}

static int64_t chunks_for(int64_t n)
{
    const int64_t rows = gat__linear_chunk_rows(n);
    return (n + rows - 1) / rows;
}

int64_t gat__linear_backward_scratch(int64_t n, int64_t in, int64_t out)
{
    const int64_t chunks = chunks_for(n) > 0 ? chunks_for(n) : 1;
    return chunks * out * (in + 1);
}

void gat__linear_forward(gat_context *ctx, const float *x, int64_t n, int64_t in, const float *w,
                         int64_t out, const float *bias, float *y)
{
    const int64_t blocks = gat__projection_blocks(n);
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, n * in * out)) schedule(static)
#endif
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t row0 = b * GAT_PROJECTION_BLOCK, rows = gat__projection_block_rows(n, b);
        float *yb = y + row0 * out;
        if (in > 0)
            gat__sgemm(false, true, rows, out, in, x + row0 * in, in, w, in, yb, out);
        else
            memset(yb, 0, (size_t)(rows * out) * sizeof *yb);
        if (bias != NULL)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t o = 0; o < out; o++)
                    yb[r * out + o] += bias[o];
    }
}

void gat__column_sums(gat_context *ctx, const float *v, int64_t n, int64_t width, float *sums,
                      bool accumulate, float *partials)
{
    const int64_t rows = gat__linear_chunk_rows(n), chunks = chunks_for(n);
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, n * width)) schedule(static)
#endif
    for (int64_t k = 0; k < chunks; k++) {
        float *part = partials + k * width;
        memset(part, 0, (size_t)width * sizeof *part);
        const int64_t end = (k + 1) * rows < n ? (k + 1) * rows : n;
        for (int64_t r = k * rows; r < end; r++)
            for (int64_t o = 0; o < width; o++)
                part[o] += v[r * width + o];
    }
    for (int64_t o = 0; o < width; o++) {
        float sum = accumulate ? sums[o] : 0.0f;
        for (int64_t k = 0; k < chunks; k++)
            sum += partials[k * width + o];
        sums[o] = sum;
    }
}

void gat__linear_backward(gat_context *ctx, const float *x, const float *dy, int64_t n,
                          int64_t in, int64_t out, const float *w, float *dw, float *d_bias,
                          float *dx, bool accumulate, float *tmp, float *partials)
{
    const int threads = gat__team(ctx, n * in * out);
    if (d_bias != NULL)
        gat__column_sums(ctx, dy, n, out, d_bias, accumulate, partials);
    if (dw != NULL) {
        const int64_t chunk_rows = gat__linear_chunk_rows(n), chunks = chunks_for(n);
        const int64_t size = out * in;
        if (chunks == 1 && !accumulate) {
            gat__sgemm(true, false, out, in, n, dy, out, x, in, dw, in);
        } else if (chunks > 0) {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
            {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
                for (int64_t k = 0; k < chunks; k++) {
                    const int64_t row0 = k * chunk_rows;
                    const int64_t rows = n - row0 < chunk_rows ? n - row0 : chunk_rows;
                    gat__sgemm(true, false, out, in, rows, dy + row0 * out, out, x + row0 * in,
                               in, partials + k * size, in);
                }
                /* Every element sums its partials in chunk order. */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (int64_t e = 0; e < size; e++) {
                    float sum = partials[e];
                    for (int64_t k = 1; k < chunks; k++)
                        sum += partials[k * size + e];
                    dw[e] = accumulate ? dw[e] + sum : sum;
                }
            }
        } else if (!accumulate) {
            memset(dw, 0, (size_t)size * sizeof *dw);
        }
    }
    if (dx != NULL) {
        const int64_t blocks = gat__projection_blocks(n);
        float *target = accumulate ? tmp : dx;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t row0 = b * GAT_PROJECTION_BLOCK, rows = gat__projection_block_rows(n, b);
            float *tb = target + row0 * in;
            if (out > 0)
                gat__sgemm(false, false, rows, in, out, dy + row0 * out, out, w, in, tb, in);
            else
                memset(tb, 0, (size_t)(rows * in) * sizeof *tb);
            if (accumulate)
                for (int64_t e = 0; e < rows * in; e++)
                    dx[row0 * in + e] += tb[e];
        }
    }
}

gat__linear_x gat__trainfam_x_src(const gat__trainfam_layer *st)
{
    if (st->sparse != NULL)
        return (gat__linear_x){NULL, st->sparse};
    return (gat__linear_x){st->used_dropped ? st->dropped : st->input, NULL};
}

gat__linear_x gat__trainfam_x_dst(const gat__trainfam_layer *st)
{
    if (st->input_dst != NULL)
        return (gat__linear_x){st->input_dst, NULL};
    return gat__trainfam_x_src(st);
}

/* A sparse x: W^T taken at each call (F x out floats, against the nnz x
 * out multiply-adds of the map), then the map by rows over the kept
 * entries (projection_sparse.c). */
void gat__linear_x_forward(gat_context *ctx, gat__linear_x x, int64_t n, int64_t in,
                           const float *w, int64_t out, const float *bias, float *y)
{
    if (x.sparse == NULL) {
        gat__linear_forward(ctx, x.dense, n, in, w, out, bias, y);
        return;
    }
    gat__transpose(ctx, w, out, in, x.sparse->weight_t);
    gat__sparse_linear_forward(ctx, x.sparse, x.sparse->weight_t, out, bias, y);
}

/* A sparse x: d bias and dx as for a dense one (they do not read x), dW^T
 * over the kept entries (fixed order per column: the same bits at any
 * thread count), transposed in register blocks (into W^T's buffer, dead
 * until the next forward, when dW is to be added to). */
void gat__linear_x_backward(gat_context *ctx, gat__linear_x x, const float *dy, int64_t n,
                            int64_t in, int64_t out, const float *w, float *dw, float *d_bias,
                            float *dx, bool accumulate, float *tmp, float *partials)
{
    if (x.sparse == NULL) {
        gat__linear_backward(ctx, x.dense, dy, n, in, out, w, dw, d_bias, dx, accumulate, tmp,
                             partials);
        return;
    }
    gat__linear_backward(ctx, NULL, dy, n, in, out, w, NULL, d_bias, dx, accumulate, tmp,
                         partials);
    if (dw == NULL)
        return;
    const float *dwt = x.sparse->d_weight_t;
    gat__sparse_weight_backward(ctx, x.sparse, NULL, dy, out, x.sparse->d_weight_t, false);
    if (!accumulate) {
        gat__transpose(ctx, dwt, in, out, dw);
        return;
    }
    float *tile = x.sparse->weight_t;
    gat__transpose(ctx, dwt, in, out, tile);
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, in * out)) schedule(static)
#endif
    for (int64_t e = 0; e < in * out; e++)
        dw[e] += tile[e];
}
