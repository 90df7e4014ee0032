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

#if defined(__GNUC__)
/* Eight hashes (32 elements) at a time as GNU vectors: GCC 12 leaves the
 * scalar loop below scalar (the four byte stores per hash defeat it), at
 * about 5 cycles a hash; as vectors the multiplies are vpmullq where there
 * is AVX-512, and the 16-bit lanes compare in one instruction. */
typedef uint64_t u64x8 __attribute__((vector_size(64)));
typedef uint16_t u16x32 __attribute__((vector_size(64)));
typedef int16_t i16x32 __attribute__((vector_size(64)));
typedef int8_t i8x32 __attribute__((vector_size(32)));

typedef int64_t i64x8 __attribute__((vector_size(64)));
typedef int8_t i8x8 __attribute__((vector_size(8)));
/* Eight 32-bit lanes: offsets, and a row's factors at 8 heads. */
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef float f32x8 __attribute__((vector_size(32)));

/* gat__mix64 lane by lane. */
static inline u64x8 mix64x8(u64x8 z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The hashes of groups group .. group + 7 (elements 4 group .. + 31). */
static inline u64x8 hashes_8(uint64_t key, uint64_t group)
{
    const u64x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    return mix64x8(key + (group + lane) * GAT__DROPOUT_GOLDEN);
}

/* keep [32] from eight hashes. */
static inline void keep_bytes_32(u64x8 z, uint16_t threshold, uint8_t *keep)
{
    /* Element 4 q + l is 16-bit lane l of hash q: in little-endian order
     * that is 16-bit lane 4 q + l of the vector. */
    const i16x32 kept = (u16x32)z >= threshold; /* -1 or 0 */
    const i8x32 bytes = -__builtin_convertvector(kept, i8x32);
    memcpy(keep, &bytes, sizeof bytes);
}
#endif

void gat__dropout_mask(const gat__dropout *d, uint64_t first, int64_t n, uint8_t *keep)
{
    int64_t k = 0;
    /* Head up to a multiple of 4, then whole hashes, then the tail. */
    for (; k < n && ((first + (uint64_t)k) & 3) != 0; k++)
        keep[k] = gat__dropout_keep(d, first + (uint64_t)k);
    const uint64_t group0 = (first + (uint64_t)k) >> 2;
    const int64_t groups = (n - k) / 4;
    uint8_t *restrict out = keep + k;
    const uint64_t key = d->key;
    const uint32_t threshold = d->threshold;
    int64_t q = 0;
#if defined(__GNUC__)
    for (; q + 8 <= groups; q += 8)
        keep_bytes_32(hashes_8(key, group0 + (uint64_t)q), (uint16_t)threshold, out + 4 * q);
#endif
    for (; q < groups; q++) {
        uint64_t r = gat__mix64(key + (group0 + (uint64_t)q) * GAT__DROPOUT_GOLDEN);
        out[4 * q + 0] = (uint32_t)(r & 0xFFFFu) >= threshold;
        out[4 * q + 1] = (uint32_t)((r >> 16) & 0xFFFFu) >= threshold;
        out[4 * q + 2] = (uint32_t)((r >> 32) & 0xFFFFu) >= threshold;
        out[4 * q + 3] = (uint32_t)(r >> 48) >= threshold;
    }
    for (k += 4 * groups; k < n; k++)
        keep[k] = gat__dropout_keep(d, first + (uint64_t)k);
}

void gat__dropout_mask_at(const gat__dropout *d, uint64_t base, const int32_t *offset, int64_t n,
                          uint8_t *keep)
{
    int64_t t = 0;
#if defined(__GNUC__)
    /* Each element hashes on its own here (the offsets are sparse): eight
     * at a time, the lane picked by a variable shift. */
    for (; t + 8 <= n; t += 8) {
        i32x8 o;
        memcpy(&o, offset + t, sizeof o);
        const u64x8 e = base + __builtin_convertvector(o, u64x8);
        const u64x8 r = mix64x8(d->key + (e >> 2) * GAT__DROPOUT_GOLDEN);
        const i64x8 kept = ((r >> ((e & 3) * 16)) & 0xFFFFu) >= d->threshold; /* -1 or 0 */
        const i8x8 bytes = -__builtin_convertvector(kept, i8x8);
        memcpy(keep + t, &bytes, sizeof bytes);
    }
#endif
    for (; t < n; t++)
        keep[t] = gat__dropout_keep(d, base + (uint64_t)offset[t]);
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

gat_status gat__dropout_backward_hashed(gat_context *ctx, const gat__dropout *d, float *grad,
                                        int64_t n)
{
    gat_status status;
    uint8_t *keep = gat__alloc_array(ctx, n, 1, "input dropout mask", &status);
    if (keep == NULL)
        return status;
    gat__dropout_mask(d, 0, n, keep);
    gat__dropout_backward(ctx, d, keep, grad, n);
    gat__free_raw(&ctx->allocator, keep);
    return GAT_OK;
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

#if defined(__GNUC__)
/* projected_rows at 8 heads x 8 channels from the same sixteen hashes a row
 * takes in element order: the bytes in element (head-major) order as
 * gat__dropout_mask writes them, and the factors in the row's
 * channel-major order straight from the hashes (element h * 8 + c is lane
 * c % 4 of hash 2 h + c / 4), so the multiply is eight vector products
 * instead of a byte transposition (three quarters of the pass). */
static void projected_rows_8x8_vec(const gat__dropout *d, const gat__rows *rows, int64_t first,
                                   int64_t last, const float *projected, float *dropped,
                                   uint8_t *keep)
{
    const uint16_t threshold = (uint16_t)d->threshold;
    const i32x8 scale_bits = (i32x8)((f32x8){0} + d->scale);
    for (int64_t r = first; r < last; r++) {
        const int64_t at = gat__row_at(rows, r) * 64;
        const uint64_t group = (uint64_t)at >> 2;
        const u64x8 low = hashes_8(d->key, group), high = hashes_8(d->key, group + 8); /* heads 0-3, 4-7 */
        keep_bytes_32(low, threshold, keep + at);
        keep_bytes_32(high, threshold, keep + at + 32);
        /* Hash 2 h + c / 4 for heads h = 0 .. 7: channels 0-3, then 4-7. */
        const u64x8 first_half = __builtin_shufflevector(low, high, 0, 2, 4, 6, 8, 10, 12, 14);
        const u64x8 second_half = __builtin_shufflevector(low, high, 1, 3, 5, 7, 9, 11, 13, 15);
        const float *restrict in = projected + at;
        float *restrict out = dropped + at;
        for (int c = 0; c < 8; c++) {
            const u64x8 bits = ((c < 4 ? first_half : second_half) >> (16 * (c % 4))) & 0xFFFFu;
            const i32x8 kept = __builtin_convertvector(bits >= threshold, i32x8); /* -1 or 0 */
            const f32x8 factor = (f32x8)(kept & scale_bits);
            f32x8 x;
            memcpy(&x, in + 8 * c, sizeof x);
            x *= factor;
            memcpy(out + 8 * c, &x, sizeof x);
        }
    }
}
#endif

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
#if defined(__GNUC__)
        if (heads == 8 && channels == 8) {
            projected_rows_8x8_vec(d, rows, first, last, projected, dropped, keep);
            continue;
        }
#endif
#define FIXED(H, C) projected_rows_##H##x##C(d, rows, first, last, projected, dropped, keep)
#define GENERIC() projected_rows(d, rows, first, last, projected, dropped, keep, heads, channels)
        GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC);
#undef FIXED
#undef GENERIC
    }
}
