/*
 * Both passes of the edge-phase backward (backward.c) in AVX-512 registers
 * at 8 heads x 8 channels: the hidden layer of the paper's presets (pass A
 * for the concatenated layer only). Included by backward.c only, after its
 * backward_pass.
 *
 * Why not the compiler: in pass A gcc 12 tests a row's output gradient
 * for zeros and reorders it into dyc element by element (about a third of
 * the pass); in pass B it runs an edge in 256-bit registers with the exp
 * constants spilled, and a row's head-major tail through permutes of
 * 256-bit halves. Here the per-head vectors fill both halves of a register
 * (train_avx512.h), so they multiply the channel-major rows directly, the
 * reorders are 8 x 8 transposes in registers, and pass B sums the block's
 * d_att partials channel-major (one transpose per block, not per row).
 *
 * The same operations per lane in the same order as backward_rows and
 * gather_rows (head_dots' chain over the channels, the slot order of each
 * sum), so the bits are the portable loops'.
 */
#ifndef GAT_BACKWARD_AVX512_H
#define GAT_BACKWARD_AVX512_H

#include "train_avx512.h"

#if GAT_HAVE_AVX512_TRAIN

/* alpha, as coefficients() recomputes it, and lr in *lr. */
static GAT_ALWAYS_INLINE __m512 coefficients_avx512(__m512 ss, __m512 sd, __m512 shift,
                                                    __m512 inv, __m512 slope, __m512 *lr)
{
    const __m512 z = _mm512_add_ps(ss, sd);
    *lr = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ), slope,
                               _mm512_set1_ps(1.0f));
    return _mm512_mul_ps(
        gat__exp_nonpositive_avx512(_mm512_sub_ps(gat__leaky_relu_avx512(z, slope), shift)), inv);
}

/* head_dots with one row's channels c in both halves of held[c], the
 * other's read from x: a chain over the channels in order, as there. */
static GAT_ALWAYS_INLINE __m512 head_dots_avx512(const __m512 held[8], const float *restrict x)
{
    __m512 g = _mm512_mul_ps(held[0], gat__load_heads8(x));
    for (int c = 1; c < 8; c++)
        g = _mm512_fmadd_ps(held[c], gat__load_heads8(x + 8 * c), g);
    return g;
}

/* Pass A, concatenated: backward_rows' loop. */
static GAT_ALWAYS_INLINE void backward_rows_avx512(const backward_pass *a, const gat__rows *rows,
                                                   int64_t first, int64_t last,
                                                   float *restrict part_bias, const bool drop)
{
    enum { HEADS = 8, HC = 64 };
    const int64_t *restrict row_ptr = a->v->row_ptr;
    const int32_t *restrict src = a->v->src;
    const float *restrict features = a->features;
    const float *restrict score_src = a->score_src;
    const __m512 slope = _mm512_set1_ps(a->slope), zero = _mm512_setzero_ps();
    const gat__keep_factors factors = gat__keep_factors_init(a->keep_scale);
    /* In locals: the stores to active (bytes) could alias a's fields. */
    const float *restrict d_out = a->d_out, *restrict score_dst = a->score_dst,
                          *restrict shifts = a->shift, *restrict inv_sum = a->inv_sum;
    float *restrict d_score_dst = a->d_score_dst, *restrict dots = a->dot,
                    *restrict dyc_rows = a->dyc;
    const uint8_t *restrict keep = a->keep;
    uint8_t *restrict active = a->active;
    const int64_t num_slots = a->v->num_slots;
    gat__transpose8 transpose;
    gat__transpose8_init(&transpose);
    __m512 bias_sum[4];
    for (int v = 0; v < 4; v++)
        bias_sum[v] = _mm512_loadu_ps(part_bias + 16 * v);
    for (int64_t ri = first; ri < last; ri++) {
        const int64_t i = gat__row_at(rows, ri);
        const float *restrict dy = d_out + i * HC;
        float *restrict dsd_out = d_score_dst + i * HEADS;
        float *restrict dot_out = dots + i * HEADS;
        float *restrict dyc = dyc_rows + i * HC;
        __m512 d[4];
        __mmask16 nonzero = 0;
        for (int v = 0; v < 4; v++) {
            d[v] = _mm512_loadu_ps(dy + 16 * v);
            nonzero |= _mm512_cmp_ps_mask(d[v], zero, _CMP_NEQ_UQ);
        }
        active[i] = nonzero != 0;
        if (nonzero == 0) { /* see backward_rows */
            gat__store_heads8(dsd_out, zero);
            gat__store_heads8(dot_out, zero);
            for (int v = 0; v < 4; v++)
                _mm512_storeu_ps(dyc + 16 * v, zero);
            continue;
        }
        __m512 t[4];
        for (int v = 0; v < 4; v++) {
            bias_sum[v] = _mm512_add_ps(bias_sum[v], d[v]);
            d[v] = _mm512_mul_ps(d[v], _mm512_set1_ps(1.0f)); /* head_scale */
        }
        gat__transpose8_avx512(&transpose, d, t);
        __m512 held[8]; /* channel c of dyc, both halves */
        for (int v = 0; v < 4; v++) {
            _mm512_storeu_ps(dyc + 16 * v, t[v]);
            held[2 * v] = _mm512_shuffle_f32x4(t[v], t[v], 0x44);
            held[2 * v + 1] = _mm512_shuffle_f32x4(t[v], t[v], 0xee);
        }
        const __m512 sd = gat__load_heads8(score_dst + i * HEADS);
        const __m512 shift = gat__load_heads8(shifts + i * HEADS);
        const __m512 inv = gat__load_heads8(inv_sum + i * HEADS);
        __m512 dot = zero, sa = zero, sb = zero;
        const int64_t k1 = row_ptr[i + 1];
        for (int64_t k = row_ptr[i]; k < k1; k++) {
            const int64_t j = src[k];
            /* Even where the rows fit in L2 (unlike backward_rows, see
             * gat__worth_prefetching): with the edge's work this short, the
             * loop waits on the L1 misses of its feature rows; prefetching
             * saves ~15% of the pass on Cora. */
            if (k + GAT_TRAIN_PREFETCH < num_slots) {
                const int64_t ahead = src[k + GAT_TRAIN_PREFETCH];
                gat__prefetch_floats(features + ahead * HC, HC);
                gat__prefetch_floats(score_src + ahead * HEADS, HEADS);
            }
            __m512 lr;
            const __m512 alpha = coefficients_avx512(gat__load_heads8(score_src + j * HEADS), sd,
                                                     shift, inv, slope, &lr);
            __m512 s = head_dots_avx512(held, features + j * HC);
            if (drop)
                s = _mm512_mul_ps(s, gat__keep_avx512(&factors, keep[k]));
            const __m512 as = _mm512_mul_ps(alpha, s);
            dot = _mm512_add_ps(dot, as);
            sa = _mm512_fmadd_ps(lr, as, sa);
            sb = _mm512_fmadd_ps(lr, alpha, sb);
        }
        gat__store_heads8(dot_out, dot);
        gat__store_heads8(dsd_out, _mm512_fnmadd_ps(dot, sb, sa));
    }
    for (int v = 0; v < 4; v++)
        _mm512_storeu_ps(part_bias + 16 * v, bias_sum[v]);
}

/* Pass B: gather_rows' loop. The block's d_att_src / d_att_dst partials
 * are summed channel-major, as the rows come (each element takes the same
 * multiply-adds in the same order; only its place differs), and turned
 * head-major once at the end. */
static GAT_ALWAYS_INLINE void gather_rows_avx512(const backward_pass *a, const gat__rows *rows,
                                                 int64_t first, int64_t last,
                                                 float *restrict part_src,
                                                 float *restrict part_dst, const bool drop)
{
    enum { HEADS = 8, HC = 64 };
    const gat__edge_views *v = a->v;
    const source_lists lists = sources_of(a);
    const int64_t *restrict src_ptr = lists.ptr;
    const int32_t *restrict dsts = lists.dst;
    const int32_t *restrict offsets = lists.offset;
    const int64_t *restrict row_ptr = v->row_ptr;
    /* In locals: the intrinsics' stores may alias anything, a's fields too. */
    const float *restrict dyc_rows = a->dyc, *restrict score_src = a->score_src,
                          *restrict score_dst = a->score_dst, *restrict shifts = a->shift,
                          *restrict inv_sum = a->inv_sum, *restrict dots = a->dot,
                          *restrict d_score_dst = a->d_score_dst, *restrict dropped = a->dropped;
    const uint8_t *restrict keep = a->keep, *restrict proj_keep = a->proj_keep,
                            *restrict active = a->active;
    float *restrict projected = a->projected;
    const bool prefetch = a->prefetch;
    const __m512 slope = _mm512_set1_ps(a->slope), zero = _mm512_setzero_ps();
    const __m512 proj_scale = _mm512_set1_ps(a->proj_scale);
    const gat__keep_factors factors = gat__keep_factors_init(a->keep_scale);
    gat__transpose8 transpose;
    gat__transpose8_init(&transpose);
    __m512 att_src[4], att_dst[4], sum_src[4], sum_dst[4], in[4];
    for (int u = 0; u < 4; u++) {
        att_src[u] = _mm512_loadu_ps(a->att_src + 16 * u);
        att_dst[u] = _mm512_loadu_ps(a->att_dst + 16 * u);
        in[u] = _mm512_loadu_ps(part_src + 16 * u);
    }
    gat__transpose8_avx512(&transpose, in, sum_src);
    for (int u = 0; u < 4; u++)
        in[u] = _mm512_loadu_ps(part_dst + 16 * u);
    gat__transpose8_avx512(&transpose, in, sum_dst);
    const int64_t prefetch_end = sources_end(&lists, rows, first, last);
    for (int64_t rj = first; rj < last; rj++) {
        const int64_t j = gat__row_at(rows, rj);
        float *restrict row = projected + j * HC;
        const float *restrict xa = dropped != NULL ? dropped + j * HC : row;
        const __m512 ss = gat__load_heads8(score_src + j * HEADS);
        __m512 held[8]; /* channel c of the features aggregated, both halves */
        for (int c = 0; c < 8; c++)
            held[c] = gat__load_heads8(xa + 8 * c);
        __m512 dx[4] = {zero, zero, zero, zero}, dss = zero;
        const int64_t at = lists.restricted ? rj : j;
        const int64_t end = src_ptr[at + 1];
        for (int64_t q = src_ptr[at]; q < end; q++) {
            if (prefetch && q + GAT_TRAIN_PREFETCH < prefetch_end) { /* as gather_rows */
                const int64_t ahead = dsts[q + GAT_TRAIN_PREFETCH];
                gat__prefetch_floats(dyc_rows + ahead * HC, HC);
                gat__prefetch_floats(score_dst + ahead * HEADS, HEADS);
                gat__prefetch_floats(shifts + ahead * HEADS, HEADS);
                gat__prefetch_floats(inv_sum + ahead * HEADS, HEADS);
                gat__prefetch_floats(dots + ahead * HEADS, HEADS);
            }
            const int64_t i = dsts[q];
            const float *restrict dyc = dyc_rows + i * HC;
            __m512 lr;
            const __m512 alpha = coefficients_avx512(
                ss, gat__load_heads8(score_dst + i * HEADS), gat__load_heads8(shifts + i * HEADS),
                gat__load_heads8(inv_sum + i * HEADS), slope, &lr);
            __m512 s = head_dots_avx512(held, dyc), w = alpha;
            if (drop) {
                const __m512 kf = gat__keep_avx512(&factors, keep[row_ptr[i] + offsets[q]]);
                s = _mm512_mul_ps(s, kf);
                w = _mm512_mul_ps(alpha, kf);
            }
            dss = _mm512_fmadd_ps(_mm512_mul_ps(lr, alpha),
                                  _mm512_sub_ps(s, gat__load_heads8(dots + i * HEADS)), dss);
            for (int u = 0; u < 4; u++)
                dx[u] = _mm512_fmadd_ps(w, _mm512_loadu_ps(dyc + 16 * u), dx[u]);
        }
        const __m512 dsd = active[j] ? gat__load_heads8(d_score_dst + j * HEADS) : zero;
        for (int u = 0; u < 4; u++) {
            const __m512 x = _mm512_loadu_ps(row + 16 * u);
            sum_src[u] = _mm512_fmadd_ps(dss, x, sum_src[u]);
            sum_dst[u] = _mm512_fmadd_ps(dsd, x, sum_dst[u]);
        }
        /* The row's gradient, head-major. */
        __m512 dxt[4];
        gat__transpose8_avx512(&transpose, dx, dxt);
        for (int u = 0; u < 4; u++) {
            if (proj_keep != NULL) {
                const __m512 kept = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                    _mm_loadu_si128((const __m128i *)(proj_keep + j * HC + 16 * u))));
                dxt[u] = _mm512_mul_ps(dxt[u], _mm512_mul_ps(kept, proj_scale));
            }
            const __m512i lanes = gat__head_lanes(u, 8);
            _mm512_storeu_ps(
                row + 16 * u,
                _mm512_fmadd_ps(_mm512_permutexvar_ps(lanes, dsd), att_dst[u],
                                _mm512_fmadd_ps(_mm512_permutexvar_ps(lanes, dss), att_src[u],
                                                dxt[u])));
        }
    }
    gat__transpose8_avx512(&transpose, sum_src, in);
    for (int u = 0; u < 4; u++)
        _mm512_storeu_ps(part_src + 16 * u, in[u]);
    gat__transpose8_avx512(&transpose, sum_dst, in);
    for (int u = 0; u < 4; u++)
        _mm512_storeu_ps(part_dst + 16 * u, in[u]);
}

static void backward_rows_avx512_8x8(const backward_pass *a, const gat__rows *rows,
                                     int64_t first, int64_t last, float *part_bias, bool drop)
{
    if (drop)
        backward_rows_avx512(a, rows, first, last, part_bias, true);
    else
        backward_rows_avx512(a, rows, first, last, part_bias, false);
}

static void gather_rows_avx512_8x8(const backward_pass *a, const gat__rows *rows,
                                   int64_t first, int64_t last, float *part_src, bool drop)
{
    if (drop)
        gather_rows_avx512(a, rows, first, last, part_src, part_src + 64, true);
    else
        gather_rows_avx512(a, rows, first, last, part_src, part_src + 64, false);
}

#endif

#endif
