/*
 * The training edge pass (train_attention.c) in AVX-512 registers at 8
 * heads x 8 channels, concatenated: the hidden layer of the paper's
 * presets. Included by train_attention.c only, after its train_pass.
 *
 * Why not the compiler: gcc 12 vectorizes train_rows over the 8 heads in
 * 256-bit registers, so an edge takes eight multiply-adds for its 64
 * features, and reorders the row into the output through the stack. Here
 * the per-head weights fill both halves of a register (train_avx512.h):
 * an edge is one broadcast score load, one exp and four multiply-adds,
 * and the reorder is eight permutes. The attention-dropout masks of a run
 * of rows are drawn in one call.
 *
 * The same operations per lane in the same order as train_rows (the
 * exact maximum, then exp(e - max) summed and aggregated in slot order),
 * so the bits are the portable loops'.
 */
#ifndef GAT_TRAIN_ATTENTION_AVX512_H
#define GAT_TRAIN_ATTENTION_AVX512_H

#include "train_avx512.h"

#if GAT_HAVE_AVX512_TRAIN

/* The attention-dropout masks of rows rows[first .. last), a call per run
 * of consecutive rows (their slots are contiguous): the mask is a function
 * of the slot alone, so the bits are those of a call per row, and the
 * kernel's registers do not go to the stack and back around every row's
 * call. */
static void mask_row_runs(const train_pass *a, const gat__rows *rows, int64_t first,
                          int64_t last)
{
    for (int64_t r = first; r < last;) {
        const int64_t start = gat__row_at(rows, r);
        int64_t end = start + 1;
        for (r++; r < last && gat__row_at(rows, r) == end; r++)
            end++;
        const int64_t k0 = a->row_ptr[start];
        gat__dropout_mask_slots(a->drop, k0, a->row_ptr[end] - k0, 8, a->keep + k0);
    }
}

static GAT_ALWAYS_INLINE void train_rows_avx512(const train_pass *a, const gat__rows *rows,
                                                int64_t first, int64_t last, const bool drop)
{
    enum { HEADS = 8, HC = 64 };
    const int64_t *restrict row_ptr = a->row_ptr;
    const int32_t *restrict src = a->src;
    const float *restrict projected = a->projected;
    const float *restrict score_src = a->score_src;
    const __m512 slope = _mm512_set1_ps(a->slope), zero = _mm512_setzero_ps();
    const gat__keep_factors factors = gat__keep_factors_init(a->keep_scale);
    gat__transpose8 transpose;
    gat__transpose8_init(&transpose);
    const uint8_t *keep = a->keep; /* written by mask_row_runs */
    const float *restrict score_dst = a->score_dst;
    float *restrict shift = a->shift, *restrict inv_sum = a->inv_sum, *restrict out_rows = a->out;
    const int64_t width = a->width, num_slots = a->num_slots;
    const bool prefetch = a->prefetch;
    float tmp[HC];
    if (drop)
        mask_row_runs(a, rows, first, last);
    for (int64_t r = first; r < last; r++) {
        const int64_t i = gat__row_at(rows, r);
        const int64_t k0 = row_ptr[i], k1 = row_ptr[i + 1];
        const __m512 sd = gat__load_heads8(score_dst + i * HEADS);
        __m512 max = _mm512_set1_ps(-INFINITY);
        for (int64_t k = k0; k < k1; k++) {
            if (prefetch) { /* as row_maximum */
                gat__prefetch_floats(projected + (int64_t)src[k] * HC, HC);
                if (k + GAT_TRAIN_PREFETCH < num_slots)
                    gat__prefetch_floats(score_src + (int64_t)src[k + GAT_TRAIN_PREFETCH] * HEADS,
                                         HEADS);
            }
            const __m512 z = _mm512_add_ps(gat__load_heads8(score_src + (int64_t)src[k] * HEADS), sd);
            /* max_ps keeps its second operand unless the first is greater,
             * NaN included, as row_maximum's comparison does */
            max = _mm512_max_ps(gat__leaky_relu_avx512(z, slope), max);
        }
        __m512 sum = zero, acc[4] = {zero, zero, zero, zero};
        for (int64_t k = k0; k < k1; k++) {
            const int64_t j = src[k];
            const __m512 z = _mm512_add_ps(gat__load_heads8(score_src + j * HEADS), sd);
            const __m512 p =
                gat__exp_nonpositive_avx512(_mm512_sub_ps(gat__leaky_relu_avx512(z, slope), max));
            sum = _mm512_add_ps(sum, p);
            const __m512 w = drop ? _mm512_mul_ps(p, gat__keep_avx512(&factors, keep[k])) : p;
            const float *restrict x = projected + j * HC;
            for (int v = 0; v < 4; v++)
                acc[v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + 16 * v), acc[v]);
        }
        /* An empty row (possible only without added loops) aggregates nothing. */
        const __m512 inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(sum, zero, _CMP_GT_OQ),
                                               _mm512_set1_ps(1.0f), sum);
        if (shift != NULL) {
            gat__store_heads8(shift + i * HEADS, max);
            gat__store_heads8(inv_sum + i * HEADS, inv);
        }
        /* finish_row's concatenation: acc * inv, head-major */
        __m512 scaled[4], out[4];
        for (int v = 0; v < 4; v++)
            scaled[v] = _mm512_mul_ps(acc[v], inv);
        gat__transpose8_avx512(&transpose, scaled, out);
        for (int v = 0; v < 4; v++)
            _mm512_storeu_ps(tmp + 16 * v, out[v]);
        activate_row(a, out_rows + i * width, tmp, HC);
    }
}

static void train_rows_avx512_8x8(const train_pass *a, const gat__rows *rows, int64_t first,
                                  int64_t last, bool drop)
{
    if (drop)
        train_rows_avx512(a, rows, first, last, true);
    else
        train_rows_avx512(a, rows, first, last, false);
}

#endif

#endif
