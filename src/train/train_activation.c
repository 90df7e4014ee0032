/*
 * The activation between layers in training, and its backward fused with
 * the backward of the next layer's input dropout (both are elementwise over
 * the same [N, W] gradient, so one pass instead of two).
 */
#include "fast_exp.h"
#include "parallel.h"
#include "train_kernels.h"

void gat__activation_train_forward(gat_context *ctx, gat_activation activation, float *values,
                                   int64_t n)
{
    if (activation == GAT_ACT_NONE)
        return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 16 * n)) schedule(static)
#endif
    for (int64_t k = 0; k < n; k++) {
        float v = values[k];
        if (activation == GAT_ACT_ELU)
            values[k] = v > 0.0f ? v : gat__expm1_nonpositive(v);
        else
            values[k] = v > 0.0f ? v : 0.0f;
    }
}

/* One row of width elements (see gat__dropout_activation_backward). */
static void row_backward(const gat__dropout *d, const uint8_t *restrict keep,
                         gat_activation activation, const float *restrict post,
                         float *restrict grad, int64_t width)
{
    const bool drop = gat__dropout_active(d);
    const float scale = d->scale;
    for (int64_t k = 0; k < width; k++) {
        float g = grad[k];
        if (drop) /* dropout: in * (keep ? scale : 0) */
            g = keep[k] ? g * scale : 0.0f;
        /* ELU: post = pre for pre > 0, else expm1(pre), so d post / d pre = post + 1. */
        const float v = post[k];
        if (activation == GAT_ACT_ELU)
            g = v > 0.0f ? g : g * (v + 1.0f);
        else if (activation == GAT_ACT_RELU)
            g = v > 0.0f ? g : 0.0f;
        grad[k] = g;
    }
}

void gat__dropout_activation_backward(gat_context *ctx, const gat__dropout *d,
                                      const uint8_t *keep, gat_activation activation,
                                      const gat__rows *rows, const float *post, float *grad,
                                      int64_t num_nodes, int64_t width)
{
    const int64_t count = gat__row_count(rows, num_nodes);
    const bool drop = gat__dropout_active(d);
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 4 * count * width)) schedule(static)
#endif
    for (int64_t r = 0; r < count; r++) {
        const int64_t at = gat__row_at(rows, r) * width;
        row_backward(d, drop ? keep + at : NULL, activation, post + at, grad + at, width);
    }
}
