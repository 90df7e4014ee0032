/*
 * The activation between layers in training, and its backward fused with
 * the backward of the next layer's input dropout (both are elementwise over
 * the same [N, W] gradient, so one pass instead of two).
 */
#include "fast_exp.h"
#include "internal.h" /* GAT_ALWAYS_INLINE */
#include "parallel.h"
#include "simd.h"
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

/* Element k of a row, as written for the plain loop. */
static GAT_ALWAYS_INLINE float element_backward(const uint8_t *restrict keep,
                                                const float *restrict post,
                                                const float *restrict grad, int64_t k,
                                                float scale, const gat_activation activation,
                                                const bool drop)
{
    float g = grad[k];
    if (drop) /* dropout: in * (keep ? scale : 0) */
        g = keep[k] ? g * scale : 0.0f;
    /* ELU: post = pre for pre > 0, else expm1(pre), so d post / d pre = post + 1. */
    const float v = post[k];
    if (activation == GAT_ACT_ELU)
        g = v > 0.0f ? g : g * (v + 1.0f);
    else if (activation == GAT_ACT_RELU)
        g = v > 0.0f ? g : 0.0f;
    return g;
}

/* One row of width elements (see gat__dropout_activation_backward), in the
 * vocabulary's registers (simd.h) and the tail as the plain loop: the same
 * operations lane by lane. As a plain loop with the dropout and the
 * activation read at run time gcc 12 left it scalar off AVX-512 (8% of a
 * Cora run on AVX2). One instantiation per (activation, dropout). */
static GAT_ALWAYS_INLINE void row_backward_as(const uint8_t *restrict keep,
                                              const float *restrict post,
                                              float *restrict grad, int64_t width, float scale,
                                              const gat_activation activation, const bool drop)
{
    const gat_v zero = gat_v_zero(), one = gat_v_splat(1.0f), vscale = gat_v_splat(scale);
    int64_t k = 0;
    for (; k + GAT_V_LANES <= width; k += GAT_V_LANES) {
        gat_v g = gat_v_load(grad + k);
        if (drop)
            g = gat_v_select(gat_v_gt(gat_v_load_u8(keep + k), zero), g * vscale, zero);
        const gat_v v = gat_v_load(post + k);
        if (activation == GAT_ACT_ELU)
            g = gat_v_select(gat_v_gt(v, zero), g, g * (v + one));
        else if (activation == GAT_ACT_RELU)
            g = gat_v_select(gat_v_gt(v, zero), g, zero);
        gat_v_store(grad + k, g);
    }
    for (; k < width; k++)
        grad[k] = element_backward(keep, post, grad, k, scale, activation, drop);
}

static void row_backward(const gat__dropout *d, const uint8_t *restrict keep,
                         gat_activation activation, const float *restrict post,
                         float *restrict grad, int64_t width)
{
    const float scale = d->scale;
    const bool drop = gat__dropout_active(d);
#define ROW_AS(ACT)                                                                            \
    do {                                                                                       \
        if (drop)                                                                              \
            row_backward_as(keep, post, grad, width, scale, (ACT), true);                      \
        else                                                                                   \
            row_backward_as(keep, post, grad, width, scale, (ACT), false);                     \
    } while (0)
    if (activation == GAT_ACT_ELU)
        ROW_AS(GAT_ACT_ELU);
    else if (activation == GAT_ACT_RELU)
        ROW_AS(GAT_ACT_RELU);
    else
        ROW_AS(GAT_ACT_NONE);
#undef ROW_AS
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
