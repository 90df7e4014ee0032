/*
 * Both passes of the edge-phase backward (backward.c) in registers at 8
 * heads x 8 channels, the hidden layer of the paper's presets (pass A for
 * the concatenated layer only), over the vector vocabulary (simd.h), so
 * AVX-512, AVX2 and generic vectors run the same source.
 *
 * Why not the compiler: in pass A gcc 12 tests a row's output gradient
 * for zeros and reorders it into dyc element by element (about a third of
 * the pass); in pass B it runs an edge with the exp constants spilled, and
 * a row's head-major tail through permutes of half registers. Here
 * per-head vectors line up with the registers of a channel-major row, so
 * they multiply the rows directly, the reorders are 8 x 8 register
 * transposes, and pass B sums the block's d_att partials channel-major
 * (one transpose per block, not per row).
 *
 * The same operations per lane in the same order as backward_rows and
 * gather_rows (head_dots' chain over the channels, the slot order of each
 * sum), so the bits are the portable loops'.
 */
#include "edge_pass.h"
#include "edge_row.h"

#include <string.h>

enum { HEADS = 8, HC = 64, W = GAT_V_LANES, HR = GAT_V_HEAD_REGS, R = GAT_V_ROW8 };

/* alpha, as coefficients() recomputes it, and lr in *lr. */
static GAT_ALWAYS_INLINE gat_v coefficients(gat_v ss, gat_v sd, gat_v shift, gat_v inv,
                                            gat_v slope, gat_v *lr)
{
    const gat_v z = ss + sd;
    *lr = gat_v_select(gat_v_gt(z, gat_v_zero()), gat_v_splat(1.0f), slope);
    return gat__v_edge_exp(z, shift, slope) * inv;
}

/* head_dots for head register h, with one row's channels held in
 * registers (held[c * HR + h], see gat_v_channel_heads8), the other's
 * read from x: a chain over the channels in order, as there. */
static GAT_ALWAYS_INLINE gat_v head_dots(const gat_v *held, const float *restrict x, int h)
{
    gat_v g = held[h] * gat_v_load_heads8(x, h);
    for (int c = 1; c < 8; c++)
        g = gat_v_fma(held[c * HR + h], gat_v_load_heads8(x + 8 * c, h), g);
    return g;
}

/* Pass A, concatenated: backward_rows' loop. */
static GAT_ALWAYS_INLINE void backward_rows(const gat__backward_pass *a, const gat__rows *rows,
                                            int64_t first, int64_t last,
                                            float *restrict part_bias, const bool drop)
{
    const int64_t *restrict row_ptr = a->v->row_ptr;
    const int32_t *restrict src = a->v->src;
    const float *restrict features = a->features;
    const float *restrict score_src = a->score_src;
    const gat_v slope = gat_v_splat(a->slope), zero = gat_v_zero();
    const gat_v keep_scale = gat_v_splat(a->keep_scale);
    /* In locals: the stores to active (bytes) could alias a's fields. */
    const float *restrict d_out = a->d_out, *restrict score_dst = a->score_dst,
                          *restrict shifts = a->shift, *restrict inv_sum = a->inv_sum;
    float *restrict d_score_dst = a->d_score_dst, *restrict dots = a->dot,
                    *restrict dyc_rows = a->dyc;
    const uint8_t *restrict keep = a->keep;
    uint8_t *restrict active = a->active;
    const int64_t num_slots = a->v->num_slots;
    gat_v bias_sum[R];
    for (int v = 0; v < R; v++)
        bias_sum[v] = gat_v_load(part_bias + W * v);
    for (int64_t ri = first; ri < last; ri++) {
        const int64_t i = gat__row_at(rows, ri);
        const float *restrict dy = d_out + i * HC;
        float *restrict dsd_out = d_score_dst + i * HEADS;
        float *restrict dot_out = dots + i * HEADS;
        float *restrict dyc = dyc_rows + i * HC;
        gat_v d[R];
        d[0] = gat_v_load(dy);
        gat_vm nonzero = gat_v_ne(d[0], zero);
        for (int v = 1; v < R; v++) {
            d[v] = gat_v_load(dy + W * v);
            nonzero = gat_vm_or(nonzero, gat_v_ne(d[v], zero));
        }
        const bool any = gat_vm_any(nonzero);
        active[i] = any;
        if (!any) { /* see backward_rows */
            memset(dsd_out, 0, HEADS * sizeof(float));
            memset(dot_out, 0, HEADS * sizeof(float));
            memset(dyc, 0, HC * sizeof(float));
            continue;
        }
        gat_v t[R];
        for (int v = 0; v < R; v++) {
            bias_sum[v] = bias_sum[v] + d[v];
            d[v] = d[v] * gat_v_splat(1.0f); /* head_scale */
        }
        gat_v_transpose8(d, t);
        gat_v held[8 * HR]; /* channel c of dyc, head register h */
        for (int v = 0; v < R; v++)
            gat_v_store(dyc + W * v, t[v]);
        for (int c = 0; c < 8; c++)
            for (int h = 0; h < HR; h++)
                held[c * HR + h] = gat_v_channel_heads8(t, c, h);
        gat_v sd[HR], shift[HR], inv[HR], dot[HR], sa[HR], sb[HR];
        for (int h = 0; h < HR; h++) {
            sd[h] = gat_v_load_heads8(score_dst + i * HEADS, h);
            shift[h] = gat_v_load_heads8(shifts + i * HEADS, h);
            inv[h] = gat_v_load_heads8(inv_sum + i * HEADS, h);
            dot[h] = sa[h] = sb[h] = zero;
        }
        const int64_t k1 = row_ptr[i + 1];
        for (int64_t k = row_ptr[i]; k < k1; k++) {
            const int64_t j = src[k];
            /* Even where the rows fit in L2 (unlike backward_rows, see
             * gat__worth_prefetching): with the edge's work this short, the
             * loop waits on the L1 misses of its feature rows; prefetching
             * saves ~15% of the pass on Cora (AVX-512). */
            if (k + GAT_TRAIN_PREFETCH < num_slots) {
                const int64_t ahead = src[k + GAT_TRAIN_PREFETCH];
                gat__prefetch_floats(features + ahead * HC, HC);
                gat__prefetch_floats(score_src + ahead * HEADS, HEADS);
            }
            const float *restrict ss = score_src + j * HEADS;
            for (int h = 0; h < HR; h++) {
                gat_v lr;
                const gat_v alpha = coefficients(gat_v_load_heads8(ss, h), sd[h], shift[h],
                                                 inv[h], slope, &lr);
                gat_v s = head_dots(held, features + j * HC, h);
                if (drop)
                    s = s * gat__v_keep_factor(keep[k], keep_scale, h);
                const gat_v as = alpha * s;
                dot[h] = dot[h] + as;
                sa[h] = gat_v_fma(lr, as, sa[h]);
                sb[h] = gat_v_fma(lr, alpha, sb[h]);
            }
        }
        for (int h = 0; h < HR; h++) {
            gat_v_store_heads8(dot_out, dot[h], h);
            gat_v_store_heads8(dsd_out, gat_v_fma(-dot[h], sb[h], sa[h]), h);
        }
    }
    for (int v = 0; v < R; v++)
        gat_v_store(part_bias + W * v, bias_sum[v]);
}

/* Pass B: gather_rows' loop. The block's d_att_src / d_att_dst partials
 * are summed channel-major, as the rows come (each element takes the same
 * multiply-adds in the same order; only its place differs), and turned
 * head-major once at the end. */
static GAT_ALWAYS_INLINE void gather_rows(const gat__backward_pass *a, const gat__rows *rows,
                                          int64_t first, int64_t last, float *restrict part_src,
                                          float *restrict part_dst, const bool drop)
{
    const gat__edge_views *v = a->v;
    const gat__source_lists lists = gat__sources_of(a);
    const int64_t *restrict src_ptr = lists.ptr;
    const int32_t *restrict dsts = lists.dst;
    const int32_t *restrict offsets = lists.offset;
    const int64_t *restrict row_ptr = v->row_ptr;
    /* In locals: stores through float pointers may alias a's fields. */
    const float *restrict dyc_rows = a->dyc, *restrict score_src = a->score_src,
                          *restrict score_dst = a->score_dst, *restrict shifts = a->shift,
                          *restrict inv_sum = a->inv_sum, *restrict dots = a->dot,
                          *restrict d_score_dst = a->d_score_dst, *restrict dropped = a->dropped,
                          *restrict att_src = a->att_src, *restrict att_dst = a->att_dst;
    const uint8_t *restrict keep = a->keep, *restrict proj_keep = a->proj_keep,
                            *restrict active = a->active;
    float *restrict projected = a->projected;
    const bool prefetch = a->prefetch;
    const gat_v slope = gat_v_splat(a->slope), zero = gat_v_zero();
    const gat_v proj_scale = gat_v_splat(a->proj_scale);
    const gat_v keep_scale = gat_v_splat(a->keep_scale);
    gat_v sum_src[R], sum_dst[R], in[R];
    for (int u = 0; u < R; u++)
        in[u] = gat_v_load(part_src + W * u);
    gat_v_transpose8(in, sum_src);
    for (int u = 0; u < R; u++)
        in[u] = gat_v_load(part_dst + W * u);
    gat_v_transpose8(in, sum_dst);
    const int64_t prefetch_end = gat__sources_end(&lists, rows, first, last);
    for (int64_t rj = first; rj < last; rj++) {
        const int64_t j = gat__row_at(rows, rj);
        float *restrict row = projected + j * HC;
        const float *restrict xa = dropped != NULL ? dropped + j * HC : row;
        const float *restrict ss_row = score_src + j * HEADS;
        gat_v ss[HR], held[8 * HR]; /* channel c of the features aggregated */
        for (int h = 0; h < HR; h++)
            ss[h] = gat_v_load_heads8(ss_row, h);
        for (int c = 0; c < 8; c++)
            for (int h = 0; h < HR; h++)
                held[c * HR + h] = gat_v_load_heads8(xa + 8 * c, h);
        gat_v dx[R], dss[HR];
        for (int u = 0; u < R; u++)
            dx[u] = zero;
        for (int h = 0; h < HR; h++)
            dss[h] = zero;
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
            const uint8_t bits = drop ? keep[row_ptr[i] + offsets[q]] : 0;
            gat_v w[HR];
            for (int h = 0; h < HR; h++) {
                gat_v lr;
                const gat_v alpha = coefficients(
                    ss[h], gat_v_load_heads8(score_dst + i * HEADS, h),
                    gat_v_load_heads8(shifts + i * HEADS, h),
                    gat_v_load_heads8(inv_sum + i * HEADS, h), slope, &lr);
                gat_v s = head_dots(held, dyc, h);
                w[h] = alpha;
                if (drop) {
                    const gat_v kf = gat__v_keep_factor(bits, keep_scale, h);
                    s = s * kf;
                    w[h] = alpha * kf;
                }
                dss[h] = gat_v_fma(lr * alpha, s - gat_v_load_heads8(dots + i * HEADS, h), dss[h]);
            }
            for (int u = 0; u < R; u++)
                dx[u] = gat_v_fma(w[u % HR], gat_v_load(dyc + W * u), dx[u]);
        }
        gat_v dsd[HR];
        for (int h = 0; h < HR; h++)
            dsd[h] = active[j] ? gat_v_load_heads8(d_score_dst + j * HEADS, h) : zero;
        for (int u = 0; u < R; u++) {
            const gat_v x = gat_v_load(row + W * u);
            sum_src[u] = gat_v_fma(dss[u % HR], x, sum_src[u]);
            sum_dst[u] = gat_v_fma(dsd[u % HR], x, sum_dst[u]);
        }
        /* The row's gradient, head-major. */
        gat_v dxt[R];
        gat_v_transpose8(dx, dxt);
        for (int u = 0; u < R; u++) {
            if (proj_keep != NULL)
                dxt[u] = dxt[u] * (gat_v_load_u8(proj_keep + j * HC + W * u) * proj_scale);
            gat_v_store(row + W * u,
                        gat_v_fma(gat_v_spread_heads8(dsd, u), gat_v_load(att_dst + W * u),
                                  gat_v_fma(gat_v_spread_heads8(dss, u),
                                            gat_v_load(att_src + W * u), dxt[u])));
        }
    }
    gat_v_transpose8(sum_src, in);
    for (int u = 0; u < R; u++)
        gat_v_store(part_src + W * u, in[u]);
    gat_v_transpose8(sum_dst, in);
    for (int u = 0; u < R; u++)
        gat_v_store(part_dst + W * u, in[u]);
}

void gat__backward_rows_8x8(const gat__backward_pass *a, const gat__rows *rows, int64_t first,
                            int64_t last, float *part_bias, bool drop)
{
    if (drop)
        backward_rows(a, rows, first, last, part_bias, true);
    else
        backward_rows(a, rows, first, last, part_bias, false);
}

void gat__gather_rows_8x8(const gat__backward_pass *a, const gat__rows *rows, int64_t first,
                          int64_t last, float *part_src, bool drop)
{
    if (drop)
        gather_rows(a, rows, first, last, part_src, part_src + HC, true);
    else
        gather_rows(a, rows, first, last, part_src, part_src + HC, false);
}
