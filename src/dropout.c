/*
 * Dropout on dense arrays. The forward writes the mask as bytes next to
 * its output so the backward reads it instead of hashing again.
 */
#include "parallel.h"
#include "train_kernels.h"

/* Elements per parallel chunk: a multiple of 4, so chunks split no hash. */
#define DROPOUT_CHUNK 16384

void gat__dropout_mask(const gat__dropout *d, uint64_t first, int64_t n, uint8_t *keep)
{
    int64_t k = 0;
    /* Head up to a multiple of 4, then whole hashes (the loop the compiler
     * vectorizes), then the tail. */
    for (; k < n && ((first + (uint64_t)k) & 3) != 0; k++)
        keep[k] = gat__dropout_keep(d, first + (uint64_t)k);
    const uint64_t group0 = (first + (uint64_t)k) >> 2;
    const int64_t groups = (n - k) / 4;
    uint8_t *restrict out = keep + k;
    const uint64_t key = d->key;
    const uint32_t threshold = d->threshold;
    for (int64_t q = 0; q < groups; q++) {
        uint64_t r = gat__mix64(key + (group0 + (uint64_t)q) * GAT__DROPOUT_GOLDEN);
        out[4 * q + 0] = (uint32_t)(r & 0xFFFFu) >= threshold;
        out[4 * q + 1] = (uint32_t)((r >> 16) & 0xFFFFu) >= threshold;
        out[4 * q + 2] = (uint32_t)((r >> 32) & 0xFFFFu) >= threshold;
        out[4 * q + 3] = (uint32_t)(r >> 48) >= threshold;
    }
    for (k += 4 * groups; k < n; k++)
        keep[k] = gat__dropout_keep(d, first + (uint64_t)k);
}

void gat__dropout_forward(gat_context *ctx, const gat__dropout *d, const float *in, float *out,
                          uint8_t *keep, int64_t n)
{
    const int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
    const float scale = d->scale;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static) if (chunks > 1)
#endif
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t first = c * DROPOUT_CHUNK;
        const int64_t count = n - first < DROPOUT_CHUNK ? n - first : DROPOUT_CHUNK;
        gat__dropout_mask(d, (uint64_t)first, count, keep + first);
        for (int64_t k = first; k < first + count; k++)
            out[k] = keep[k] ? in[k] * scale : 0.0f;
    }
}

void gat__dropout_backward(gat_context *ctx, const gat__dropout *d, const uint8_t *keep,
                           float *grad, int64_t n)
{
    const float scale = d->scale;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static) if (n > 4 * DROPOUT_CHUNK)
#endif
    for (int64_t k = 0; k < n; k++)
        grad[k] = keep[k] ? grad[k] * scale : 0.0f;
}
