/*
 * Dropout on dense arrays. The forward writes the mask as bytes next to
 * its output so the backward reads it instead of hashing again.
 */
#include "parallel.h"
#include "train_kernels.h"
#include "train_shapes.h"

#include <string.h>

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

void gat__dropout_mask_slots(const gat__dropout *d, int64_t first_slot, int64_t slots,
                             int64_t heads, uint8_t *bits)
{
    enum { BATCH = 512 }; /* elements hashed together */
    uint8_t keep[BATCH];
    const int64_t bytes = gat__mask_bytes(heads);
    memset(bits, 0, (size_t)(slots * bytes));
    if (heads == 8) { /* a slot per 8 elements, a byte per slot */
        for (int64_t s0 = 0; s0 < slots; s0 += BATCH / 8) {
            const int64_t n = slots - s0 < BATCH / 8 ? slots - s0 : BATCH / 8;
            gat__dropout_mask(d, (uint64_t)((first_slot + s0) * 8), 8 * n, keep);
            for (int64_t s = 0; s < n; s++) {
                uint64_t w; /* eight 0/1 bytes: one multiply gathers them into bits */
                memcpy(&w, keep + 8 * s, sizeof w);
                bits[s0 + s] = (uint8_t)((w * 0x0102040810204080ull) >> 56);
            }
        }
        return;
    }
    int64_t slot = 0, h = 0;
    const int64_t total = slots * heads;
    for (int64_t e0 = 0; e0 < total; e0 += BATCH) {
        const int64_t n = total - e0 < BATCH ? total - e0 : BATCH;
        gat__dropout_mask(d, (uint64_t)(first_slot * heads + e0), n, keep);
        for (int64_t t = 0; t < n; t++) {
            bits[slot * bytes + h / 8] |= (uint8_t)(keep[t] << (h % 8));
            if (++h == heads)
                h = 0, slot++;
        }
    }
}

void gat__dropout_forward(gat_context *ctx, const gat__dropout *d, const float *in, float *out,
                          uint8_t *keep, int64_t n)
{
    const int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
    const float scale = d->scale;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 4 * n)) schedule(static)
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
#pragma omp parallel for num_threads(gat__team(ctx, n)) schedule(static)
#endif
    for (int64_t k = 0; k < n; k++)
        grad[k] = keep[k] ? grad[k] * scale : 0.0f;
}

void gat__dropout_forward_rows(gat_context *ctx, const gat__dropout *d, const gat__rows *rows,
                               const float *in, float *out, uint8_t *keep, int64_t num_nodes,
                               int64_t width)
{
    if (rows == NULL) {
        gat__dropout_forward(ctx, d, in, out, keep, num_nodes * width);
        return;
    }
    const float scale = d->scale;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 4 * rows->count * width)) schedule(static)
#endif
    for (int64_t r = 0; r < rows->count; r++) {
        const int64_t first = (int64_t)rows->ids[r] * width;
        gat__dropout_mask(d, (uint64_t)first, width, keep + first);
        for (int64_t k = first; k < first + width; k++)
            out[k] = keep[k] ? in[k] * scale : 0.0f;
    }
}

/* Rows rows[first .. last) of gat__dropout_projected_rows; heads and
 * channels are constants at the fixed shapes (the transposition below then
 * unrolls and vectorizes). */
static GAT_ALWAYS_INLINE void projected_rows(const gat__dropout *d, const gat__rows *rows,
                                             int64_t first, int64_t last,
                                             const float *projected, float *dropped,
                                             uint8_t *keep, const int64_t heads,
                                             const int64_t channels)
{
    const int64_t hc = heads * channels;
    const float scale = d->scale;
    for (int64_t r = first; r < last; r++) {
        const int64_t at = gat__row_at(rows, r) * hc;
        /* The mask in element order (head-major), then the row channel-major,
         * multiplied by 0 or the scale as torch's dropout does (a branch on
         * the random mask would be mispredicted half the time). */
        uint8_t *restrict k = keep + at;
        gat__dropout_mask(d, (uint64_t)at, hc, k);
        const float *restrict in = projected + at;
        float *restrict out = dropped + at;
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++)
                out[c * heads + h] = in[c * heads + h] * ((float)k[h * channels + c] * scale);
    }
}

#define DEFINE_FIXED(H, C)                                                                   \
    static void projected_rows_##H##x##C(const gat__dropout *d, const gat__rows *rows,      \
                                         int64_t first, int64_t last, const float *projected, \
                                         float *dropped, uint8_t *keep)                      \
    {                                                                                        \
        projected_rows(d, rows, first, last, projected, dropped, keep, (H), (C));            \
    }
GAT__TRAIN_SHAPE_LIST(DEFINE_FIXED)
#undef DEFINE_FIXED

void gat__dropout_projected_rows(gat_context *ctx, const gat__dropout *d, const gat__rows *rows,
                                 const float *projected, float *dropped, uint8_t *keep,
                                 int64_t num_nodes, int64_t heads, int64_t channels)
{
    const int64_t count = gat__row_count(rows, num_nodes);
    const int team = gat__team(ctx, 4 * count * heads * channels);
    const int64_t chunks = team > 1 ? (int64_t)team * GAT_CHUNKS_PER_THREAD : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static)
#endif
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
        const int64_t first = count * chunk / chunks, last = count * (chunk + 1) / chunks;
#define FIXED(H, C) projected_rows_##H##x##C(d, rows, first, last, projected, dropped, keep)
#define GENERIC() projected_rows(d, rows, first, last, projected, dropped, keep, heads, channels)
        GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC);
#undef FIXED
#undef GENERIC
    }
}
