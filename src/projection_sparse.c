/*
 * The projection with a sparse input: x . W^T row by row and dW column by
 * column of x, one multiply-add per non-zero and output column. Each output
 * row (forward) or column of dW (backward) is summed by one thread in a
 * fixed order, so the bits do not depend on the thread count.
 */
#include "parallel.h"
#include "train_kernels.h"

#include <string.h>

/* score [rows, H] = sum_c projected[rows, H, C] * att[H, C], as the dense
 * projection computes it. */
static void node_scores(const float *restrict projected, int64_t heads, int64_t channels,
                        const float *restrict att, float *restrict score)
{
    for (int64_t h = 0; h < heads; h++) {
        float s = 0.0f;
        for (int64_t c = 0; c < channels; c++)
            s += projected[h * channels + c] * att[h * channels + c];
        score[h] = s;
    }
}

/* out [cols, rows] = in [rows, cols]^T. */
static void transpose(gat_context *ctx, const float *in, int64_t rows, int64_t cols, float *out)
{
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static)
#endif
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = 0; r < rows; r++)
            out[c * rows + r] = in[r * cols + c];
}

void gat__sparse_project_forward(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, const gat__dropout *d,
                                 int64_t weights_version, float *projected, float *score_src,
                                 float *score_dst)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels;
    const int64_t f = s->cols;
    /* W^T [F, H*C]: a non-zero x[i, k] then adds one contiguous row. */
    if (s->weight_t_version != weights_version) {
        transpose(ctx, layer->weight, hc, f, s->weight_t);
        s->weight_t_version = weights_version;
    }
    const float *restrict wt = s->weight_t;
    const bool drop = gat__dropout_active(d);
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 64)
#endif
    for (int64_t i = 0; i < s->rows; i++) {
        float *restrict out = projected + i * hc;
        memset(out, 0, (size_t)hc * sizeof *out);
        for (int64_t q = s->row_ptr[i]; q < s->row_ptr[i + 1]; q++) {
            /* The element index is the dense one, so the mask is the one a
             * dense input would get. */
            float v = !drop ? s->val[q]
                      : gat__dropout_keep(d, (uint64_t)(i * f + s->col[q])) ? s->val[q] * d->scale
                                                                            : 0.0f;
            s->dropped[q] = v;
            if (v == 0.0f)
                continue;
            const float *restrict w = wt + (int64_t)s->col[q] * hc;
            for (int64_t o = 0; o < hc; o++)
                out[o] += v * w[o];
        }
        node_scores(out, heads, channels, layer->att_src, score_src + i * heads);
        node_scores(out, heads, channels, layer->att_dst, score_dst + i * heads);
    }
}

void gat__sparse_project_backward(gat_context *ctx, gat__sparse_input *s,
                                  const float *d_projected, int64_t hc, float *d_weight)
{
    float *restrict dwt = s->d_weight_t; /* [F, H*C] */
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(dynamic, 16)
#endif
    for (int64_t k = 0; k < s->cols; k++) {
        float *restrict acc = dwt + k * hc;
        memset(acc, 0, (size_t)hc * sizeof *acc);
        for (int64_t q = s->col_ptr[k]; q < s->col_ptr[k + 1]; q++) {
            const float v = s->dropped[s->pos[q]];
            if (v == 0.0f)
                continue;
            const float *restrict g = d_projected + (int64_t)s->row[q] * hc;
            for (int64_t o = 0; o < hc; o++)
                acc[o] += v * g[o];
        }
    }
    transpose(ctx, dwt, s->cols, hc, d_weight);
}
