/*
 * Input features in training: the sparse form of a bag-of-words input
 * (compressed rows for x . W^T, compressed columns for dW).
 */
#include "parallel.h"
#include "train_kernels.h"

#include <string.h>

int64_t gat__count_nonzero(gat_context *ctx, const float *x, int64_t rows, int64_t cols)
{
    int64_t nnz = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static) reduction(+ : nnz)
#endif
    for (int64_t k = 0; k < rows * cols; k++)
        nnz += x[k] != 0.0f;
    return nnz;
}

gat_status gat__sparse_input_build(gat_context *ctx, const float *x, int64_t rows, int64_t cols,
                                   int64_t hc, gat__sparse_input *s)
{
    memset(s, 0, sizeof *s);
    s->rows = rows;
    s->cols = cols;
    gat_status status;
    s->row_ptr = gat__calloc_array(ctx, rows + 1, sizeof *s->row_ptr, "sparse input rows",
                                   &status);
    if (s->row_ptr == NULL)
        goto fail;
    for (int64_t i = 0; i < rows; i++) {
        int64_t count = 0;
        for (int64_t k = 0; k < cols; k++)
            count += x[i * cols + k] != 0.0f;
        s->row_ptr[i + 1] = s->row_ptr[i] + count;
    }
    const int64_t nnz = s->nnz = s->row_ptr[rows];
    s->col_ptr = gat__calloc_array(ctx, cols + 1, sizeof *s->col_ptr, "sparse input columns",
                                   &status);
    if (s->col_ptr == NULL)
        goto fail;
    if ((s->col = gat__alloc_array(ctx, nnz, sizeof *s->col, "sparse input", &status)) == NULL ||
        (s->val = gat__alloc_array(ctx, nnz, sizeof *s->val, "sparse input", &status)) == NULL ||
        (s->row = gat__alloc_array(ctx, nnz, sizeof *s->row, "sparse input", &status)) == NULL ||
        (s->pos = gat__alloc_array(ctx, nnz, sizeof *s->pos, "sparse input", &status)) == NULL ||
        (s->dropped = gat__alloc_array(ctx, nnz, sizeof *s->dropped, "sparse input",
                                       &status)) == NULL ||
        (s->kept_col = gat__alloc_array(ctx, nnz, sizeof *s->kept_col, "sparse input",
                                        &status)) == NULL ||
        (s->kept_val = gat__alloc_array(ctx, nnz, sizeof *s->kept_val, "sparse input",
                                        &status)) == NULL ||
        (s->kept_count = gat__calloc_array(ctx, rows, sizeof *s->kept_count, "sparse input",
                                           &status)) == NULL ||
        (s->weight_t = gat__alloc_array(ctx, cols * hc, sizeof *s->weight_t,
                                        "transposed weight", &status)) == NULL ||
        (s->att_t = gat__alloc_array(ctx, 2 * hc, sizeof *s->att_t, "reordered attention",
                                     &status)) == NULL ||
        (s->d_weight_t = gat__alloc_array(ctx, cols * hc, sizeof *s->d_weight_t,
                                          "transposed weight gradient", &status)) == NULL)
        goto fail;
    s->weight_t_version = -1;
    for (int64_t i = 0, q = 0; i < rows; i++)
        for (int64_t k = 0; k < cols; k++)
            if (x[i * cols + k] != 0.0f) {
                s->col[q] = (int32_t)k;
                s->val[q++] = x[i * cols + k];
                s->col_ptr[k + 1]++;
            }
    for (int64_t k = 0; k < cols; k++)
        s->col_ptr[k + 1] += s->col_ptr[k];
    /* Column lists by a stable scatter over the rows: ascending row order,
     * which is the order dW sums them in. */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t q = s->row_ptr[i]; q < s->row_ptr[i + 1]; q++) {
            int64_t at = s->col_ptr[s->col[q]]++;
            s->row[at] = (int32_t)i;
            s->pos[at] = q;
        }
    for (int64_t k = cols; k > 0; k--)
        s->col_ptr[k] = s->col_ptr[k - 1];
    s->col_ptr[0] = 0;
    return GAT_OK;
fail:
    gat__sparse_input_free(&ctx->allocator, s);
    return status;
}

void gat__sparse_input_free(const gat_allocator *allocator, gat__sparse_input *s)
{
    GAT_FREE(allocator, s->row_ptr);
    GAT_FREE(allocator, s->col);
    GAT_FREE(allocator, s->val);
    GAT_FREE(allocator, s->col_ptr);
    GAT_FREE(allocator, s->row);
    GAT_FREE(allocator, s->pos);
    GAT_FREE(allocator, s->dropped);
    GAT_FREE(allocator, s->kept_col);
    GAT_FREE(allocator, s->kept_val);
    GAT_FREE(allocator, s->kept_count);
    GAT_FREE(allocator, s->ahead_col);
    GAT_FREE(allocator, s->ahead_val);
    GAT_FREE(allocator, s->ahead_dropped);
    GAT_FREE(allocator, s->ahead_count);
    GAT_FREE(allocator, s->weight_t);
    GAT_FREE(allocator, s->att_t);
    GAT_FREE(allocator, s->d_weight_t);
    s->nnz = 0;
}
