/*
 * The projection with a sparse input: x . W^T row by row and dW column by
 * column of x, one multiply-add per kept non-zero and output column.
 *
 * The forward draws the input-dropout mask for a row's non-zeros at once
 * (vectorized hashes) and compacts the kept ones, so the multiply-add loop
 * has no data-dependent branch (60% of the entries are dropped at random).
 * It keeps the compacted lists for the backward; without dropout the
 * input's own rows serve.
 *
 * dW^T [F, H*C] sums, for each column k of x, v * d_projected[row] over
 * the column's kept entries in ascending row order. On one thread that is
 * done by walking the rows' kept lists in row order and adding into the
 * rows of dW^T (the same additions in the same order, so the same bits as
 * by columns, with no searching for kept entries), skipping rows whose
 * gradient is zero (all rows outside the training nodes' receptive field);
 * on several, column by column, each summed by one thread.
 */
#include "fma.h"
#include "parallel.h"
#include "simd.h"
#include "train_kernels.h"
#include "train_shapes.h"

#include <string.h>

/* Non-zeros whose masks are hashed together. */
#define MASK_BATCH 64

/* Channel-major index of head h, channel c (see gat__layer_state.projected). */
static inline int64_t channel_major(int64_t h, int64_t c, int64_t heads)
{
    return c * heads + h;
}

/* out[c * out_stride + r] = in[r * in_stride + c] for r < rows, c < cols:
 * 8 x 8 blocks transposed in registers (simd.h), the edges element by
 * element. Element by element throughout, each store of a 16-float tile
 * went to another cache line: about 1 ns a float, 0.1 ms of a 1 ms Cora
 * epoch for the two transposes of the first layer's weights. */
static void transpose_strided(const float *restrict in, int64_t in_stride, int64_t rows,
                              int64_t cols, float *restrict out, int64_t out_stride)
{
    int64_t r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            gat_v v[GAT_V_ROW8], t[GAT_V_ROW8];
            gat_v_load_rows8(in + r0 * in_stride + c0, in_stride, v);
            gat_v_transpose8(v, t);
            gat_v_store_rows8(out + c0 * out_stride + r0, out_stride, t);
        }
        for (int64_t c = c0; c < cols; c++)
            for (int64_t r = r0; r < r0 + 8; r++)
                out[c * out_stride + r] = in[r * in_stride + c];
    }
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = r0; r < rows; r++)
            out[c * out_stride + r] = in[r * in_stride + c];
}

/* Column blocks of 64 for the parallel loops of the transposes below. */
#define TRANSPOSE_BLOCK 64

/* out [F, H*C] = W [H*C, F]^T with the columns in channel-major order: for
 * each channel c, the [H, F] slice of W's rows h * C + c, transposed into
 * the columns c * H + h. */
static void transpose_weight_block(const float *restrict w, int64_t heads, int64_t channels,
                                   int64_t f, int64_t k0, int64_t n, float *restrict out)
{
    const int64_t hc = heads * channels;
    for (int64_t c = 0; c < channels; c++)
        transpose_strided(w + c * f + k0, channels * f, heads, n,
                          out + k0 * hc + channel_major(0, c, heads), hc);
}

static void transpose_weight(gat_context *ctx, const float *restrict w, int64_t heads,
                             int64_t channels, int64_t f, float *restrict out)
{
    const int64_t hc = heads * channels, blocks = (f + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, hc * f)) schedule(static)
#endif
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t k0 = b * TRANSPOSE_BLOCK;
        transpose_weight_block(w, heads, channels, f, k0,
                               f - k0 < TRANSPOSE_BLOCK ? f - k0 : TRANSPOSE_BLOCK, out);
    }
}

/* The entries of row i the last forward kept: columns, values, count. */
typedef struct kept_row {
    const int32_t *col;
    const float *val;
    int64_t n;
} kept_row;

static inline kept_row kept_of(const gat__sparse_input *s, int64_t i)
{
    const int64_t q0 = s->row_ptr[i];
    if (s->kept_all) /* no dropout: the input itself */
        return (kept_row){s->col + q0, s->val + q0, s->row_ptr[i + 1] - q0};
    return (kept_row){s->kept_col + q0, s->kept_val + q0, s->kept_count[i]};
}

/* Where compact_row writes: the current lists or the ones drawn ahead. */
typedef struct kept_lists {
    int32_t *col, *count;
    float *val, *dropped;
} kept_lists;

/* Row i with dropout: compacts its kept entries into out's lists at
 * row_ptr[i] and out.count[i], and writes out.dropped. */
static void compact_row(const gat__sparse_input *s, kept_lists out, const gat__dropout *d,
                        int64_t i)
{
    const int64_t q0 = s->row_ptr[i], q1 = s->row_ptr[i + 1];
    const int32_t *restrict col = s->col;
    const float *restrict val = s->val;
    float *restrict dropped = out.dropped;
    int32_t *restrict kept_col = out.col + q0;
    float *restrict kept_val = out.val + q0;
    const uint64_t base = (uint64_t)(i * s->cols);
    const float scale = d->scale;
    int64_t n = 0;
    for (int64_t b = q0; b < q1; b += MASK_BATCH) {
        const int64_t m = q1 - b < MASK_BATCH ? q1 - b : MASK_BATCH;
        uint8_t keep[MASK_BATCH];
        /* By the dense element index, so the mask is the one a dense input gets. */
        gat__dropout_mask_at(d, base, col + b, m, keep);
        for (int64_t t = 0; t < m; t++) {
            /* A product, not a select: compiled as a branch, the random
             * mask mispredicts on almost every other entry. */
            const float v = val[b + t] * ((float)keep[t] * scale);
            dropped[b + t] = v;
            kept_col[n] = col[b + t]; /* written always, kept by advancing n */
            kept_val[n] = v;
            n += keep[t];
        }
    }
    out.count[i] = (int32_t)n;
}

gat_status gat__sparse_ahead_make(gat_context *ctx, gat__sparse_input *s)
{
    gat_status status = GAT_OK;
    if (s->ahead_col == NULL &&
        ((s->ahead_col = gat__alloc_array(ctx, s->nnz, sizeof *s->ahead_col,
                                          "sparse input drawn ahead", &status)) == NULL ||
         (s->ahead_val = gat__alloc_array(ctx, s->nnz, sizeof *s->ahead_val,
                                          "sparse input drawn ahead", &status)) == NULL ||
         (s->ahead_dropped = gat__alloc_array(ctx, s->nnz, sizeof *s->ahead_dropped,
                                              "sparse input drawn ahead", &status)) == NULL ||
         (s->ahead_count = gat__calloc_array(ctx, s->rows, sizeof *s->ahead_count,
                                             "sparse input drawn ahead", &status)) == NULL))
        return status;
    return GAT_OK;
}

void gat__sparse_draw_ahead(gat__sparse_input *s, const gat__dropout *d, const gat__rows *rows)
{
    if (s->ahead_col == NULL || !gat__dropout_active(d))
        return;
    const kept_lists out = {s->ahead_col, s->ahead_count, s->ahead_val, s->ahead_dropped};
    const int64_t count = gat__row_count(rows, s->rows);
    for (int64_t r = 0; r < count; r++)
        compact_row(s, out, d, gat__row_at(rows, r));
    s->ahead_key = d->key;
    s->ahead_rows = rows;
    s->ahead_ready = true;
}

void gat__sparse_take_ahead(gat__sparse_input *s)
{
    if (!s->ahead_ready)
        return;
#define SWAP(a, b)                                                                           \
    do {                                                                                     \
        void *t_ = (void *)(a);                                                              \
        (a) = (b);                                                                           \
        (b) = t_;                                                                            \
    } while (0)
    SWAP(s->kept_col, s->ahead_col);
    SWAP(s->kept_val, s->ahead_val);
    SWAP(s->kept_count, s->ahead_count);
    SWAP(s->dropped, s->ahead_dropped);
#undef SWAP
    s->kept_ready = true;
    s->kept_key = s->ahead_key;
    s->kept_rows = s->ahead_rows;
    s->ahead_ready = false;
}

/* score [8] = node_scores of a channel-major 8 x 8 row held in registers
 * (simd.h), the same operations in the same order: read back from the
 * row just stored, each 32-byte half of a 64-byte store waited for the
 * store to complete (a tenth of the projection's time). */
static inline void scores_8x8(const gat_v *row, const float *restrict att, float *restrict score)
{
    gat_v a[GAT_V_ROW8];
    for (int q = 0; q < GAT_V_ROW8; q++)
        a[q] = gat_v_load(att + GAT_V_LANES * q);
    for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++) {
        gat_v s = gat_v_channel_heads8(row, 0, hr) * gat_v_channel_heads8(a, 0, hr);
        for (int c = 1; c < 8; c++)
            s = gat_v_fma(gat_v_channel_heads8(row, c, hr), gat_v_channel_heads8(a, c, hr), s);
        gat_v_store_heads8(score, s, hr);
    }
}

/* project_row at H*C = 64, the paper's 8 x 8: four vectors in registers;
 * at 8 heads also the row's scores (att [2, 64] as in
 * gat__sparse_project_forward), and false otherwise. */
static bool project_row_64(kept_row k, const float *restrict wt, float *restrict out,
                           int64_t heads, const float *restrict att, float *restrict score_src,
                           float *restrict score_dst)
{
    const int32_t *restrict kept_col = k.col;
    const float *restrict kept_val = k.val;
    const int64_t n = k.n;
    enum { R = GAT_V_ROW8 }; /* in registers (simd.h) */
    gat_v a[R];
    for (int q = 0; q < R; q++)
        a[q] = gat_v_zero();
    for (int64_t t = 0; t < n; t++) {
        const gat_v v = gat_v_splat(kept_val[t]);
        const float *restrict w = wt + (int64_t)kept_col[t] * 64;
        for (int q = 0; q < R; q++)
            a[q] = gat_v_fma(v, gat_v_load(w + GAT_V_LANES * q), a[q]);
    }
    for (int q = 0; q < R; q++)
        gat_v_store(out + GAT_V_LANES * q, a[q]);
    if (heads != 8)
        return false;
    scores_8x8(a, att, score_src);
    scores_8x8(a, att + 64, score_dst);
    return true;
}

/* acc [H*C] (channel-major) = sum over row i's kept entries of v * wt[col]. */
static GAT_ALWAYS_INLINE void project_row(kept_row k, const float *restrict wt,
                                          float *restrict acc, const int64_t hc)
{
    const int32_t *restrict kept_col = k.col;
    const float *restrict kept_val = k.val;
    const int64_t n = k.n;
    for (int64_t o = 0; o < hc; o++)
        acc[o] = 0.0f;
    for (int64_t t = 0; t < n; t++) {
        const float v = kept_val[t];
        const float *restrict w = wt + (int64_t)kept_col[t] * hc;
        for (int64_t o = 0; o < hc; o++)
            acc[o] = GAT_FMA(v, w[o], acc[o]);
    }
}

/* score [H] = sum_c projected[c, h] * att[c, h], both channel-major (att
 * reordered once per call: read in place, its stride would make the
 * compiler gather). */
static void node_scores(const float *restrict projected, int64_t heads, int64_t channels,
                        const float *restrict att, float *restrict score)
{
    for (int64_t h = 0; h < heads; h++)
        score[h] = projected[h] * att[h];
    for (int64_t c = 1; c < channels; c++)
        for (int64_t h = 0; h < heads; h++)
            score[h] = GAT_FMA(projected[c * heads + h], att[c * heads + h], score[h]);
}

void gat__sparse_refresh_weights(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, int64_t weights_version)
{
    if (s->weight_t_version != weights_version) {
        const gat_layer_config *c = &layer->config;
        transpose_weight(ctx, layer->weight, c->heads, c->channels, s->cols, s->weight_t);
        s->weight_t_version = weights_version;
    }
}

void gat__sparse_project_forward(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, const gat__rows *rows,
                                 const gat__dropout *d, int64_t weights_version, bool record,
                                 float *projected, float *score_src, float *score_dst)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels;
    /* W^T [F, H*C]: a kept x[i, k] then adds one contiguous row. */
    gat__sparse_refresh_weights(ctx, layer, s, weights_version);
    const float *restrict wt = s->weight_t;
    const bool drop = gat__dropout_active(d);
    float *att = s->att_t; /* [2, H*C]: att_src, att_dst channel-major */
    for (int64_t h = 0; h < heads; h++)
        for (int64_t ch = 0; ch < channels; ch++) {
            att[channel_major(h, ch, heads)] = layer->att_src[h * channels + ch];
            att[hc + channel_major(h, ch, heads)] = layer->att_dst[h * channels + ch];
        }
    const int64_t count = gat__row_count(rows, s->rows);
    const int64_t per_row = s->rows > 0 ? s->nnz / s->rows : 0;
    const int team = gat__team(ctx, per_row * count * (drop ? hc / 2 : hc));
    if (record)
        s->kept_all = !drop;
    /* Kept lists drawn ahead for this very mask and rows are used as they are. */
    const bool drawn = drop && record && s->kept_ready && s->kept_key == d->key &&
                       s->kept_rows == rows;
    if (record)
        s->kept_ready = false;
    const kept_lists current = {s->kept_col, s->kept_count, s->kept_val, s->dropped};
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 64)
#endif
        for (int64_t r = 0; r < count; r++) {
            const int64_t i = gat__row_at(rows, r);
            if (drop && !drawn)
                compact_row(s, current, d, i);
            /* Without dropout the input's rows are the kept lists. */
            const kept_row k = drop ? kept_of(s, i)
                                    : (kept_row){s->col + s->row_ptr[i], s->val + s->row_ptr[i],
                                                 s->row_ptr[i + 1] - s->row_ptr[i]};
            float *out = projected + i * hc;
            if (hc == 64) { /* the paper's 8 x 8 in registers */
                if (project_row_64(k, wt, out, heads, att, score_src + i * heads,
                                   score_dst + i * heads))
                    continue; /* scores taken from registers */
            } else {
                project_row(k, wt, out, hc); /* generic widths in place */
            }
            node_scores(out, heads, channels, att, score_src + i * heads);
            node_scores(out, heads, channels, att + hc, score_dst + i * heads);
        }
    }
}

void gat__sparse_keep(gat_context *ctx, gat__sparse_input *s, const gat__dropout *d)
{
    const bool drop = gat__dropout_active(d);
    s->kept_all = !drop;
    s->kept_ready = false;
    if (!drop)
        return;
    const kept_lists current = {s->kept_col, s->kept_count, s->kept_val, s->dropped};
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 4 * s->nnz)) schedule(dynamic, 64)
#endif
    for (int64_t i = 0; i < s->rows; i++)
        compact_row(s, current, d, i);
}

void gat__transpose(gat_context *ctx, const float *in, int64_t rows, int64_t cols, float *out)
{
    /* A weight of `rows` heads of one channel: channel-major is row-major. */
    transpose_weight(ctx, in, rows, 1, cols, out);
}

void gat__sparse_linear_forward(gat_context *ctx, const gat__sparse_input *s, const float *wt,
                                int64_t out, const float *bias, float *y)
{
    const int64_t per_row = s->rows > 0 ? s->nnz / s->rows : 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, per_row * s->rows * out)) \
    schedule(dynamic, 64)
#endif
    for (int64_t i = 0; i < s->rows; i++) {
        float *yi = y + i * out;
        /* At 64 outputs the four accumulators stay in registers (no scores:
         * zero heads). */
        if (out != 64 || project_row_64(kept_of(s, i), wt, yi, 0, NULL, NULL, NULL))
            project_row(kept_of(s, i), wt, yi, out);
        if (bias != NULL)
            for (int64_t o = 0; o < out; o++)
                yi[o] += bias[o];
    }
}

/* dW^T rows += v * d_projected[i] over row i's kept entries; zero rows of
 * d_projected are skipped (exact: they add only signed zeros to sums that
 * start at +0). */
static GAT_ALWAYS_INLINE void scatter_rows(const gat__sparse_input *s, const gat__rows *rows,
                                           const float *restrict d_projected,
                                           float *restrict dwt, float *restrict g,
                                           const int64_t hc)
{
    const int64_t count = gat__row_count(rows, s->rows);
    for (int64_t r = 0; r < count; r++) {
        const int64_t i = gat__row_at(rows, r);
        const float *restrict row = d_projected + i * hc;
        if (!gat__any_nonzero(row, hc))
            continue;
        for (int64_t o = 0; o < hc; o++)
            g[o] = row[o];
        const kept_row k = kept_of(s, i);
        const int32_t *restrict kept_col = k.col;
        const float *restrict kept_val = k.val;
        const int64_t n = k.n;
        if (hc == 64) { /* in registers (simd.h) */
            enum { R = GAT_V_ROW8 };
            gat_v gv[R];
            for (int q = 0; q < R; q++)
                gv[q] = gat_v_load(g + GAT_V_LANES * q);
            for (int64_t t = 0; t < n; t++) {
                const gat_v v = gat_v_splat(kept_val[t]);
                float *restrict acc = dwt + (int64_t)kept_col[t] * 64;
                for (int q = 0; q < R; q++)
                    gat_v_store(acc + GAT_V_LANES * q,
                                gat_v_fma(v, gv[q], gat_v_load(acc + GAT_V_LANES * q)));
            }
            continue;
        }
        for (int64_t t = 0; t < n; t++) {
            const float v = kept_val[t];
            float *restrict acc = dwt + (int64_t)kept_col[t] * hc;
            for (int64_t o = 0; o < hc; o++)
                acc[o] = GAT_FMA(v, g[o], acc[o]);
        }
    }
}

void gat__sparse_project_backward(gat_context *ctx, gat__sparse_input *s, const gat__rows *rows,
                                  const float *d_projected, int64_t hc, bool accumulate)
{
    gat__sparse_weight_backward(ctx, s, rows, d_projected, hc, s->d_weight_t, accumulate);
    s->d_weight_pending = true;
}

void gat__sparse_weight_backward(gat_context *ctx, const gat__sparse_input *s,
                                 const gat__rows *rows, const float *d_projected, int64_t hc,
                                 float *d_weight_t, bool accumulate)
{
    float *restrict dwt = d_weight_t; /* [F, H*C] */
    const int64_t count = gat__row_count(rows, s->rows);
    const int64_t per_row = s->rows > 0 ? s->nnz / s->rows : 0;
    const int team = gat__team(ctx, per_row * count * hc / 2);
    if (team == 1) {
        if (!accumulate)
            memset(dwt, 0, (size_t)(s->cols * hc) * sizeof *dwt);
        if (hc == 64) {
            float g[64];
            scatter_rows(s, rows, d_projected, dwt, g, 64);
        } else {
            /* Generic widths: the gradient row is read in place. */
            for (int64_t r = 0; r < count; r++) {
                const int64_t i = gat__row_at(rows, r);
                const float *restrict row = d_projected + i * hc;
                const kept_row k = kept_of(s, i);
                for (int64_t t = 0; t < k.n; t++) {
                    float *restrict acc = dwt + (int64_t)k.col[t] * hc;
                    for (int64_t o = 0; o < hc; o++)
                        acc[o] = GAT_FMA(k.val[t], row[o], acc[o]);
                }
            }
        }
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(dynamic, 16)
#endif
        for (int64_t k = 0; k < s->cols; k++) {
            float *restrict acc = dwt + k * hc;
            if (!accumulate)
                memset(acc, 0, (size_t)hc * sizeof *acc);
            for (int64_t q = s->col_ptr[k]; q < s->col_ptr[k + 1]; q++) {
                const float v = (s->kept_all ? s->val : s->dropped)[s->pos[q]];
                if (v == 0.0f || !gat__row_listed(rows, s->row[q]))
                    continue;
                const float *restrict g = d_projected + (int64_t)s->row[q] * hc;
                for (int64_t o = 0; o < hc; o++)
                    acc[o] = GAT_FMA(v, g[o], acc[o]);
            }
        }
    }
}

void gat__sparse_weight_gradient(gat__sparse_input *s, int64_t hc, float *d_weight)
{
    if (!s->d_weight_pending)
        return;
    transpose_strided(s->d_weight_t, hc, s->cols, hc, d_weight, s->cols);
    s->d_weight_pending = false;
}

/* Floats of the dW tile of gat__sparse_update_weight: 32 KiB, in L1 with
 * the rows of dW^T it came from. */
#define UPDATE_TILE 8192

void gat__sparse_update_weight(const gat__layer *layer, gat__sparse_input *s,
                               gat__update_rule rule, float *value, float *m, float *v,
                               int64_t weights_version, int team)
{
    const gat_layer_config *c = &layer->config;
    const int64_t hc = c->heads * c->channels, f = s->cols;
    /* Columns per block: a multiple of 8 (whole transposed blocks). */
    int64_t block = UPDATE_TILE / hc / 8 * 8;
    block = block < 8 ? 8 : block > TRANSPOSE_BLOCK ? TRANSPOSE_BLOCK : block;
    const bool tiled = hc * block <= UPDATE_TILE; /* else dW^T is read in place */
    const int64_t blocks = (f + block - 1) / block;
    const float *restrict dwt = s->d_weight_t;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static)
#endif
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t k0 = b * block, n = f - k0 < block ? f - k0 : block;
        float tile[UPDATE_TILE]; /* dW [o, k0 + kk] at tile[o * n + kk] */
        if (tiled)
            transpose_strided(dwt + k0 * hc, hc, n, hc, tile, n);
        for (int64_t o = 0; o < hc; o++) {
            const int64_t e = o * f + k0;
            if (tiled)
                gat__update_elements(rule, tile + o * n, value + e, m + e, v + e, n);
            else
                for (int64_t kk = 0; kk < n; kk++)
                    gat__update_element(rule, dwt[(k0 + kk) * hc + o], &value[e + kk], &m[e + kk],
                                        &v[e + kk]);
        }
        /* W^T of the columns just written, while they are in cache. */
        transpose_weight_block(value, c->heads, c->channels, f, k0, n, s->weight_t);
    }
    s->weight_t_version = weights_version;
}
