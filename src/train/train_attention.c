/*
 * The edge phase in training (and in the trainer's evaluation), per
 * destination row i over its slots k (contiguous in library order, see
 * gat__edge_views):
 *   e_k = LeakyReLU(s_src[j_k] + s_dst[i]);  alpha = softmax over the row
 *   out[i] = act(concat/mean_h (sum_k alpha_k drop_k x_{j_k}) + bias)
 * in two short loops per row, as attention.c does in inference: the row's
 * exact maximum logit, then p = exp(e - max) summed and aggregated as
 * p * drop * x (one exp per coefficient, no running-maximum rescaling).
 * Unlike inference, the scores come from [N, H] arrays (the backward
 * reads them too) and the attention dropout multiplies each coefficient.
 *
 * Nothing per edge is stored: a training forward keeps each row's maximum
 * and 1 / sum ([N, H] each), from which the backward recomputes alpha bit
 * for bit; with E' ~ 10 N, that is most of the difference between the
 * trainer fitting in a tenth of PyTorch's memory or not.
 *
 * projected is channel-major (element (h, c) of a row at c * H + h, see
 * gat__layer_state), so the aggregation multiplies each channel's heads by
 * the row's weight vector lane by lane; the output is written head-major.
 *
 * Only the rows of a list may be computed (gat__rows: the receptive field
 * of the nodes a loss reads). Rows are independent and each is summed in
 * slot order, so a row's bits do not depend on which other rows are
 * computed nor on how rows are spread over threads; the dropout mask is a
 * pure function of the element index.
 *
 * The per-row steps (row maximum, exp per edge, sum, gather-FMA,
 * normaliser) are inference's, from edge_row.h; the loops here are the
 * plain twin; at 8 heads x 8 channels concatenated
 * (the paper's hidden layer) the register kernel of edge_rows_8x8.c runs
 * instead, with the same bits (tests/test_kernels.c holds it to that).
 */
#include "edge_pass.h"
#include "edge_row.h"
#include "parallel.h"
#include "train_kernels.h"
#include "train_shapes.h"

#include <math.h>

/* out[i] = act(concat or mean over heads of acc * inv + bias); acc is
 * channel-major, out head-major (PyG's layout, what the next layer and the
 * caller read). */
static GAT_ALWAYS_INLINE void finish_row(const gat__train_pass *a, int64_t i,
                                         const float *restrict acc, const float *restrict inv,
                                         float *restrict tmp, const int64_t heads,
                                         const int64_t channels)
{
    float *restrict o = a->out + i * a->width;
    const int64_t width = a->concat ? heads * channels : channels;
    /* Reordered into tmp [W] first, for gat__activate_row. */
    if (a->concat) {
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++)
                tmp[h * channels + c] = acc[c * heads + h] * inv[h];
    } else {
        for (int64_t c = 0; c < channels; c++) {
            float total = 0.0f;
            for (int64_t h = 0; h < heads; h++)
                total += acc[c * heads + h] * inv[h];
            tmp[c] = total / (float)heads;
        }
    }
    gat__activate_row(a, o, tmp, width);
}

/* Rows rows[first .. last) (first .. last without a list). acc, tmp [H*C],
 * shift, sum, w, kf [H] are the row state: local arrays at the fixed
 * shapes, scratch otherwise. */
static GAT_ALWAYS_INLINE void train_rows(const gat__train_pass *a, const gat__rows *rows,
                                         int64_t first, int64_t last, float *restrict acc,
                                         float *restrict tmp, float *restrict shift,
                                         float *restrict sum, float *restrict w,
                                         float *restrict kf, const int64_t heads,
                                         const int64_t channels, const bool drop)
{
    /* Edge_row.h's row: the exact maximum of the logits (the shift the
     * backward reads), the fused exp, channel-major rows, prefetching
     * where the rows do not fit in L2 (see gat__worth_prefetching). */
    const gat__row_pass rp = {.col = a->src, .projected = a->projected,
                              .score_src = a->score_src, .slope = a->slope, .keep = a->keep,
                              .keep_scale = a->keep_scale, .prefetch_end = a->num_slots,
                              .distance = GAT_TRAIN_PREFETCH};
    const gat__row_state s = {acc, shift, sum, w, kf};
    const unsigned mode = GAT__ROW_LOGITS | GAT__ROW_FUSED_EXP | GAT__ROW_CHANNEL_MAJOR |
                          (drop ? GAT__ROW_DROP : 0u);
    for (int64_t r = first; r < last; r++) {
        const int64_t i = gat__row_at(rows, r);
        const int64_t k0 = a->row_ptr[i], k1 = a->row_ptr[i + 1];
        if (drop) /* the row's coefficients are contiguous: one vectorized mask */
            gat__dropout_mask_slots(a->drop, k0, k1 - k0, heads,
                                    a->keep + k0 * gat__mask_bytes(heads));
        if (a->prefetch)
            gat__edge_row(&rp, &s, i, k0, k1, a->score_dst + i * heads, heads, channels,
                          mode | GAT__ROW_PREFETCH_MAX);
        else
            gat__edge_row(&rp, &s, i, k0, k1, a->score_dst + i * heads, heads, channels, mode);
        gat__row_normaliser(sum, sum, heads);
        if (a->shift != NULL)
            for (int64_t h = 0; h < heads; h++) {
                a->shift[i * heads + h] = shift[h];
                a->inv_sum[i * heads + h] = sum[h];
            }
        finish_row(a, i, acc, sum, tmp, heads, channels);
    }
}

/* One function per fixed shape: kept apart, each instantiation gets the
 * compiler's full attention. */
#define DEFINE_FIXED(H, C)                                                                   \
    static void train_rows_##H##x##C(const gat__train_pass *a, const gat__rows *rows,            \
                                     int64_t first, int64_t last, bool drop)                 \
    {                                                                                        \
        float acc[(H) * (C)], tmp[(H) * (C)], shift[H], sum[H], w[H], kf[H];                 \
        if (drop)                                                                            \
            train_rows(a, rows, first, last, acc, tmp, shift, sum, w, kf, (H), (C), true);   \
        else                                                                                 \
            train_rows(a, rows, first, last, acc, tmp, shift, sum, w, kf, (H), (C), false);  \
    }
GAT__TRAIN_SHAPE_LIST(DEFINE_FIXED)
#undef DEFINE_FIXED

/* Scratch floats per thread for a shape without a fixed instantiation. */
static int64_t generic_stride(int64_t heads, int64_t channels)
{
    return (2 * heads * channels + 4 * heads + 15) / 16 * 16;
}

static void train_rows_dispatch(const gat__train_pass *a, const gat__rows *rows, int64_t first,
                                int64_t last, float *scratch, int64_t heads, int64_t channels,
                                bool drop)
{
    if (heads == 8 && channels == 8 && a->concat && a->registers) { /* the register kernel */
        gat__train_rows_8x8(a, rows, first, last, drop);
        return;
    }
#define FIXED(H, C) train_rows_##H##x##C(a, rows, first, last, drop)
#define GENERIC()                                                                            \
    {                                                                                        \
        float *acc_ = scratch, *h_ = acc_ + 2 * heads * channels;                            \
        train_rows(a, rows, first, last, acc_, acc_ + heads * channels, h_, h_ + heads,      \
                   h_ + 2 * heads, h_ + 3 * heads, heads, channels, drop);                   \
    }
    GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC);
#undef FIXED
#undef GENERIC
}

gat_status gat__attention_train_forward(gat_context *ctx, const gat__layer *layer,
                                        const gat__edge_views *v, const gat__rows *rows,
                                        const float *projected, const float *score_src,
                                        const float *score_dst, const gat__dropout *d,
                                        uint8_t *keep, gat_activation act, float *shift,
                                        float *inv_sum, float *out)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels;
    const bool drop = gat__dropout_active(d);
    const gat__train_pass pass = {
        .num_slots = v->num_slots, .row_ptr = v->row_ptr, .src = v->src,
        .projected = projected, .score_src = score_src, .score_dst = score_dst,
        .bias = layer->bias, .drop = d, .keep = drop ? keep : NULL, .keep_scale = d->scale,
        .slope = c->negative_slope, .shift = shift, .inv_sum = inv_sum, .out = out,
        .width = gat__layer_out_width(c), .concat = c->concat,
        .prefetch = gat__worth_prefetching(v->num_nodes, hc),
        .registers = !ctx->plain_kernels, .act = act};
    const int64_t count = gat__row_count(rows, v->num_nodes);
    /* A list covers about count / N of the slots. */
    const int64_t slots = rows == NULL ? v->num_slots : v->num_slots / v->num_nodes * count;
    const int team = gat__team(ctx, (slots + count) * (hc + 24 * heads));
    float *scratch = NULL;
    const int64_t stride = generic_stride(heads, channels);
    if (!gat__train_shape_fixed(heads, channels)) {
        gat_status status;
        scratch = gat__alloc_array(ctx, stride * team, sizeof *scratch, "attention scratch",
                                   &status);
        if (scratch == NULL)
            return status;
    }
    const int64_t chunks = team > 1 ? (int64_t)team * GAT_CHUNKS_PER_THREAD : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
    for (int64_t chunk = 0; chunk < chunks; chunk++) {
        int64_t first, last;
        if (rows == NULL) { /* balanced by slots plus rows */
            first = gat__edge_views_chunk_start(v, chunk, chunks);
            last = gat__edge_views_chunk_start(v, chunk + 1, chunks);
        } else {
            first = count * chunk / chunks;
            last = count * (chunk + 1) / chunks;
        }
        train_rows_dispatch(&pass, rows, first, last,
                            scratch != NULL ? scratch + stride * gat__thread_id() : NULL, heads,
                            channels, drop);
    }
    gat__free_raw(&ctx->allocator, scratch);
    return GAT_OK;
}
