/*
 * The per-row steps of the edge pass, written once for inference and
 * training. For a destination row i and its edges j -> i:
 *
 *   e_j = LeakyReLU(s_src[j] + s_dst[i])        the logits
 *   m   = max_j e_j                              the row maximum
 *   p_j = exp(e_j - m), sum = sum_j p_j          one exp per edge
 *   acc = sum_j w_j x_j, w_j = p_j (or p_j times the edge's
 *         attention-dropout factor in training)  the gather-FMA
 *   1 / sum (0 for an empty row)                 the normaliser
 *
 * each as a static inline step over one edge or one row end, in two
 * forms: per-head arrays for the plain loops (any shape, any machine) and
 * registers of the vector vocabulary (simd.h) for the register kernels.
 * Callers:
 *   inference  edge_rows.c (plain), edge_rows_registers.c (registers),
 *              rows head-major, edges from the graph's CSR with the
 *              self-loops resolved on the fly
 *   training   train_attention.c (plain), edge_rows_8x8.c (registers)
 *              and the backward's recomputation of alpha (backward.c,
 *              backward_8x8.c), rows channel-major, edges from the
 *              trainer's slot views
 * The row loops around the steps stay with their callers: docs/design.md
 * ("One edge-kernel family") says why.
 *
 * What the callers choose by compile-time constants (after inlining):
 *   logits         the row maximum over the logits themselves (training:
 *                  the exact maximum it stores as the row's shift), or
 *                  over the source scores alone, finished once by
 *                  gat__row_max_end (inference: rounding and LeakyReLU
 *                  are monotone, so LeakyReLU(max_j s_src[j] + s_dst[i])
 *                  is the same float, without a LeakyReLU per edge)
 *   drop           the weights times per-head dropout factors
 *   channel_major  the layout of the rows gathered
 *   fused          the plain loops' exp: fused multiply-adds where the
 *                  hardware has them (training, and every register
 *                  kernel), or unfused everywhere (inference's plain
 *                  loops, whose bits the tests hold)
 */
#ifndef GAT_EDGE_ROW_H
#define GAT_EDGE_ROW_H

#include "fast_exp.h"
#include "fma.h"
#include "internal.h" /* GAT_ALWAYS_INLINE */
#include "simd.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- the plain loops: per-head arrays [H] ---- */

static GAT_ALWAYS_INLINE float gat__leaky_relu(float z, float slope)
{
    return z > 0.0f ? z : z * slope;
}

/* exp(x - max) of a logit x (see fused above). */
static GAT_ALWAYS_INLINE float gat__edge_exp(float x, float max, const bool fused)
{
    return fused ? gat__exp_nonpositive_fma(x - max) : gat__exp_nonpositive(x - max);
}

/* The row state at the start of a row: acc [H*C] and sum [H] zero. */
static GAT_ALWAYS_INLINE void gat__row_zero(float *restrict acc, float *restrict sum,
                                            const int64_t heads, const int64_t hc)
{
    for (int64_t h = 0; h < heads; h++)
        sum[h] = 0.0f;
    for (int64_t k = 0; k < hc; k++)
        acc[k] = 0.0f;
}

/* One edge into the running maximum max [H] (started at -inf, or at
 * s_src[i] for inference's re-added self-loop): of the logits with
 * source scores ss and destination scores sd, or of ss alone (see logits
 * above). A NaN leaves max as it is. Across heads as vectors: written
 * with scalar compares, the LeakyReLU and the maximum become a branch per
 * head, taken at random. */
static GAT_ALWAYS_INLINE void gat__row_max_edge(float *restrict max, const float *restrict ss,
                                                const float *restrict sd, const int64_t heads,
                                                float slope, const bool logits)
{
    GAT_SIMD
    for (int64_t h = 0; h < heads; h++) {
        const float v = logits ? gat__leaky_relu(ss[h] + sd[h], slope) : ss[h];
        max[h] = v > max[h] ? v : max[h];
    }
}

/* The maximum of the source scores into the maximum of the logits. */
static GAT_ALWAYS_INLINE void gat__row_max_end(float *restrict max, const float *restrict sd,
                                               const int64_t heads, float slope)
{
    for (int64_t h = 0; h < heads; h++)
        max[h] = gat__leaky_relu(max[h] + sd[h], slope);
}

/* One edge's weights: p = exp(e - max) per head, added to sum [H]; w [H]
 * = p, times the edge's dropout factors kf [H] when drop. */
static GAT_ALWAYS_INLINE void gat__edge_weights(float *restrict w, float *restrict sum,
                                                const float *restrict ss,
                                                const float *restrict sd,
                                                const float *restrict max,
                                                const float *restrict kf, const int64_t heads,
                                                float slope, const bool drop, const bool fused)
{
    GAT_SIMD
    for (int64_t h = 0; h < heads; h++) {
        const float p = gat__edge_exp(gat__leaky_relu(ss[h] + sd[h], slope), max[h], fused);
        sum[h] += p;
        w[h] = drop ? p * kf[h] : p;
    }
}

/* acc [H*C] += w[h] times source row x [H*C], head-major (element (h, c)
 * at h * C + c) or channel-major (at c * H + h). */
static GAT_ALWAYS_INLINE void gat__gather_fma(float *restrict acc, const float *restrict w,
                                              const float *restrict x, const int64_t heads,
                                              const int64_t channels, const bool channel_major)
{
    if (channel_major) {
        for (int64_t c = 0; c < channels; c++)
            GAT_SIMD
            for (int64_t h = 0; h < heads; h++)
                acc[c * heads + h] = GAT_FMA(w[h], x[c * heads + h], acc[c * heads + h]);
    } else {
        for (int64_t h = 0; h < heads; h++)
            for (int64_t c = 0; c < channels; c++)
                acc[h * channels + c] = GAT_FMA(w[h], x[h * channels + c], acc[h * channels + c]);
    }
}

/* inv [H] = 1 / sum, 0 for an empty row (possible only without
 * self-loops), which then aggregates nothing; inv may be sum. */
static GAT_ALWAYS_INLINE void gat__row_normaliser(float *inv, const float *sum,
                                                  const int64_t heads)
{
    for (int64_t h = 0; h < heads; h++)
        inv[h] = sum[h] > 0.0f ? 1.0f / sum[h] : 0.0f;
}

/* Attention-dropout masks (training) are bits, a whole number of bytes
 * per edge (slot): head h of slot k at byte k * B + h / 8, bit h % 8, with
 * B = gat__mask_bytes(H). Bytes per slot, not a packed bit stream, so rows
 * computed on different threads never share a byte; for the paper's 8
 * heads that is one byte per edge instead of eight. */
static inline int64_t gat__mask_bytes(int64_t heads) { return (heads + 7) / 8; }

/* An edge's attention-dropout factors at 8 heads, head register hr: the
 * values gat__mask_to_float gives (scale, or a negative zero). */
static GAT_ALWAYS_INLINE gat_v gat__v_keep_factor(uint8_t bits, gat_v scale, int hr)
{
    return gat_v_select(gat_v_head_bits8(bits, hr), scale, gat_v_splat(-0.0f));
}

/* kf [H] = scale where head h's bit of an edge's attention-dropout mask is
 * set, else 0: a product, not a branch, in the loops that use it (the
 * masks are random). At 8 heads from the head registers (simd.h), the
 * zero negative (the sign the vector form has always given): as a plain
 * loop, GCC 12 builds such short masks two lanes at a time through the
 * stack, and the 32-byte load that reads them stalls on the narrower
 * stores. */
static GAT_ALWAYS_INLINE void gat__mask_to_float(const uint8_t *bits, float scale, float *kf,
                                                 const int64_t heads)
{
    if (heads == 8) {
        for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++)
            gat_v_store_heads8(kf, gat__v_keep_factor(bits[0], gat_v_splat(scale), hr), hr);
        return;
    }
    for (int64_t h = 0; h < heads; h++)
        kf[h] = (float)((bits[h >> 3] >> (h & 7)) & 1) * scale;
}

/* Asks for the floats row [count] of a coming edge: every cache line,
 * since a row of H*C floats spans several. */
static GAT_ALWAYS_INLINE void gat__prefetch_row(const float *row, int64_t count)
{
#if defined(__GNUC__)
    for (int64_t off = 0; off < count; off += 16)
        __builtin_prefetch(row + off, 0, 3);
#else
    (void)row;
    (void)count;
#endif
}

/* What gat__edge_row reads: one layer's edge pass. */
typedef struct gat__row_pass {
    const int32_t *col;     /* the sources of the slots */
    const float *projected; /* [N, H*C] the rows gathered */
    const float *score_src; /* [N, H] */
    const float *att_src;   /* [H*C], GAT__ROW_SCORES_IN_PASS (registers) */
    float slope;            /* LeakyReLU's negative slope */
    const uint8_t *keep;    /* attention-dropout bits by slot (GAT__ROW_DROP) */
    float keep_scale;
    /* Prefetching: GAT__ROW_PREFETCH_FOLD asks in the second sweep for the
     * source row and scores `distance` slots ahead (the first sweep for
     * the row with GAT__ROW_SCORES_IN_PASS), GAT__ROW_PREFETCH_MAX in the
     * first sweep for the row and the scores `distance` ahead; both below
     * slot prefetch_end. */
    int64_t prefetch_end, distance;
} gat__row_pass;

/* What gat__edge_row keeps for row i: acc [H*C], max, sum [H]; w, kf [H]
 * scratch (w the last edge's weights). */
typedef struct gat__row_state {
    float *restrict acc; /* [H*C] */
    float *restrict max; /* [H] */
    float *restrict sum; /* [H] */
    float *restrict p;   /* [H] */
    float *restrict kf;  /* [H], GAT__ROW_DROP only */
} gat__row_state;

/* gat__edge_row's modes (a constant at each call site): */
enum {
    GAT__ROW_LOOPS = 1,         /* skip input self-loops, fold j = i last */
    GAT__ROW_LOGITS = 2,        /* see logits above */
    GAT__ROW_DROP = 4,          /* weights times the slot's dropout factors */
    GAT__ROW_CHANNEL_MAJOR = 8, /* rows gathered channel-major */
    GAT__ROW_FUSED_EXP = 16,    /* see fused above */
    GAT__ROW_PREFETCH_FOLD = 32, /* see gat__row_pass */
    GAT__ROW_PREFETCH_MAX = 64,
    GAT__ROW_SCORES_IN_PASS = 128 /* registers: source scores from their rows */
};

/* Row i over slots [begin, end) with destination scores sd [H]: the
 * steps above in two sweeps, the row maximum, then each edge's weights
 * exponentiated once against it and gathered, in slot order (so the bits
 * do not depend on which thread runs the row). Leaves s->max (the
 * shift), s->sum and s->acc; the row ends are the caller's. */
static GAT_ALWAYS_INLINE void gat__edge_row(const gat__row_pass *r, const gat__row_state *s,
                                            int64_t i, int64_t begin, int64_t end,
                                            const float *restrict sd, const int64_t heads,
                                            const int64_t channels, const unsigned mode)
{
    const bool loops = mode & GAT__ROW_LOOPS, logits = mode & GAT__ROW_LOGITS,
               drop = mode & GAT__ROW_DROP, channel_major = mode & GAT__ROW_CHANNEL_MAJOR,
               fused = mode & GAT__ROW_FUSED_EXP;
    const int32_t *restrict col = r->col;
    const float *restrict projected = r->projected;
    const float *restrict score_src = r->score_src;
    const int64_t hc = heads * channels;
    const float slope = r->slope;
    /* An input self-loop only raises the maximum to s_src[i], which the
     * re-added loop brings anyway, so the sweep need not skip it. */
    for (int64_t h = 0; h < heads; h++)
        s->max[h] = loops ? score_src[i * heads + h] : -INFINITY;
    for (int64_t k = begin; k < end; k++) {
        if (mode & GAT__ROW_PREFETCH_MAX) {
            gat__prefetch_row(projected + (int64_t)col[k] * hc, hc);
            if (k + r->distance < r->prefetch_end)
                gat__prefetch_row(score_src + (int64_t)col[k + r->distance] * heads, heads);
        }
        gat__row_max_edge(s->max, score_src + (int64_t)col[k] * heads, sd, heads, slope, logits);
    }
    if (!logits)
        gat__row_max_end(s->max, sd, heads, slope);
    gat__row_zero(s->acc, s->sum, heads, hc);
    for (int64_t k = begin; k <= end; k++) {
        int64_t j;
        if (k == end) { /* the re-added self-loop comes last */
            if (!loops)
                break;
            j = i;
        } else {
            if ((mode & GAT__ROW_PREFETCH_FOLD) && k + r->distance < r->prefetch_end) {
                const int64_t ahead = col[k + r->distance];
                gat__prefetch_row(projected + ahead * hc, hc);
                gat__prefetch_row(score_src + ahead * heads, 1);
            }
            j = col[k];
            if (loops && j == i)
                continue;
        }
        if (drop)
            gat__mask_to_float(r->keep + k * gat__mask_bytes(heads), r->keep_scale, s->kf, heads);
        gat__edge_weights(s->p, s->sum, score_src + j * heads, sd, s->max, s->kf, heads, slope,
                          drop, fused);
        gat__gather_fma(s->acc, s->p, projected + j * hc, heads, channels, channel_major);
    }
}

/* ---- registers (simd.h): the same operations lane by lane ---- */

/* exp(LeakyReLU(z) - max). */
static GAT_ALWAYS_INLINE gat_v gat__v_edge_exp(gat_v z, gat_v max, gat_v slope)
{
    return gat_v_exp_nonpositive(gat_v_leaky_relu(z, slope) - max);
}

/* gat__row_max_edge on a register. */
static GAT_ALWAYS_INLINE gat_v gat__v_row_max_edge(gat_v max, gat_v ss, gat_v sd, gat_v slope,
                                                   const bool logits)
{
    return gat_v_max(logits ? gat_v_leaky_relu(ss + sd, slope) : ss, max);
}

static GAT_ALWAYS_INLINE gat_v gat__v_row_max_end(gat_v max, gat_v sd, gat_v slope)
{
    return gat_v_leaky_relu(max + sd, slope);
}

/* gat__edge_weights on a register: p, added to *sum. */
static GAT_ALWAYS_INLINE gat_v gat__v_edge_weight(gat_v ss, gat_v sd, gat_v max, gat_v slope,
                                                  gat_v *sum)
{
    const gat_v p = gat__v_edge_exp(ss + sd, max, slope);
    *sum = *sum + p;
    return p;
}

static GAT_ALWAYS_INLINE gat_v gat__v_row_normaliser(gat_v sum)
{
    return gat_v_select(gat_v_gt(sum, gat_v_zero()), gat_v_splat(1.0f) / sum, gat_v_zero());
}

/* Head h's weight of the per-head vector p (head h in lane h % W of
 * register h / W) spread over the lanes of register v of a head-major
 * row of C channels a head. */
static GAT_ALWAYS_INLINE gat_v gat__v_head_weights(const gat_v *p, int64_t v,
                                                   const int64_t channels)
{
    if (channels == 8)
        return gat_v_spread_heads8(p, (int)v);
    return gat_v_lane(p, (int)(v * GAT_V_LANES / channels));
}

/* acc [H*C / W] += each head's weight times source row x, gat__gather_fma
 * on registers. channel_major (8 heads): p holds the weights as head
 * registers (gat_v_load_heads8's layout), which line up with the row's
 * registers. Head-major: p as for gat__v_head_weights; at C >= W a loop
 * over heads, then their registers: no division per register, which with
 * channels read at run time (C = 48, ...) cost a divide per register per
 * edge. */
static GAT_ALWAYS_INLINE void gat__v_gather_fma(gat_v *acc, const gat_v *p,
                                                const float *restrict x, const int64_t heads,
                                                const int64_t channels, const bool channel_major)
{
    enum { W = GAT_V_LANES };
    if (channel_major) {
        for (int v = 0; v < GAT_V_ROW8; v++)
            acc[v] = gat_v_fma(p[v % GAT_V_HEAD_REGS], gat_v_load(x + W * v), acc[v]);
        return;
    }
    if (channels < W) {
        for (int64_t v = 0; v < heads * channels / W; v++)
            acc[v] = gat_v_fma(gat__v_head_weights(p, v, channels), gat_v_load(x + W * v), acc[v]);
        return;
    }
    const int64_t per_head = channels / W;
    for (int64_t h = 0; h < heads; h++) {
        const gat_v w = gat_v_lane(p, (int)h);
        for (int64_t r = 0; r < per_head; r++)
            acc[h * per_head + r] =
                gat_v_fma(w, gat_v_load(x + W * (h * per_head + r)), acc[h * per_head + r]);
    }
}

/* ---- the register row ---- */

enum {
    GAT__V_SV = (16 + GAT_V_LANES - 1) / GAT_V_LANES, /* registers of a per-head vector (H <= 16) */
};

/* Edges whose source scores a row keeps between its two sweeps when
 * computing them in the pass (16 KiB of stack); longer rows compute the
 * rest twice, with the same bits. */
#define GAT_ROW_SCORE_CACHE 256

/* v [GAT__V_SV] = 0 (as `= {{0}}` would, which a one-lane gat_v, a
 * float, does not take). */
static GAT_ALWAYS_INLINE void gat__v_zeros(gat_v *v)
{
    for (int b = 0; b < GAT__V_SV; b++)
        v[b] = gat_v_zero();
}

/* Registers of a per-head vector: head h in lane h % W of register h / W,
 * or (head_regs, 8 heads) the head registers of gat_v_load_heads8, which
 * line up with a channel-major row's registers. */
static GAT_ALWAYS_INLINE int64_t gat__v_head_vectors(const int64_t heads, const bool head_regs)
{
    return head_regs ? GAT_V_HEAD_REGS : (heads + GAT_V_LANES - 1) / GAT_V_LANES;
}

/* The per-head vector at p [heads] (lanes past the last head 0). */
static GAT_ALWAYS_INLINE void gat__v_load_heads(const float *restrict p, const int64_t heads,
                                                gat_v *v, const bool head_regs)
{
    enum { W = GAT_V_LANES };
    if (head_regs) {
        for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++)
            v[hr] = gat_v_load_heads8(p, hr);
        return;
    }
    for (int64_t b = 0; b * W < heads; b++)
        v[b] = gat_v_load_first(p + b * W, (int)(heads - b * W));
}

static GAT_ALWAYS_INLINE void gat__v_store_heads(float *restrict p, const gat_v *v,
                                                 const int64_t heads, const bool head_regs)
{
    enum { W = GAT_V_LANES };
    if (head_regs) {
        for (int hr = 0; hr < GAT_V_HEAD_REGS; hr++)
            gat_v_store_heads8(p, v[hr], hr);
        return;
    }
    for (int64_t b = 0; b * W < heads; b++)
        gat_v_store_first(p + b * W, v[b], (int)(heads - b * W));
}

/* The score vector of one row (out[b] lane l: head b * W + l's sum over c
 * of row[h, c] * att[h, c]; lanes past the last head 0). Each head's
 * products fill a group of 16 lanes (8 at C = 8), in Q = group / W
 * registers where W is narrower; these are first added by halves, which
 * is the first levels of the fold, then gat_v_fold_groups does the rest. */
static GAT_ALWAYS_INLINE void gat__v_row_scores(const float *restrict row,
                                                const float *restrict att, const int64_t heads,
                                                const int64_t channels, gat_v *out)
{
    enum { W = GAT_V_LANES };
    gat_v v[16];
    v[0] = gat_v_zero(); /* heads >= 1 is the caller's, unseen by the compiler */
    int count, width;
    if (channels == 8 && W == 16) { /* two heads a register */
        for (int64_t r = 0; r < heads / 2; r++)
            v[r] = gat_v_load(row + 16 * r) * gat_v_load(att + 16 * r);
        count = (int)(heads / 2);
        width = 8;
    } else {
        const int group = channels == 8 ? 8 : 16, q_count = group / W;
        for (int64_t h = 0; h < heads; h++) {
            const float *restrict r = row + h * channels, *restrict t = att + h * channels;
            gat_v q[4];
            for (int q_at = 0; q_at < q_count; q_at++) {
                q[q_at] = gat_v_load(r + W * q_at) * gat_v_load(t + W * q_at);
                for (int64_t b = 1; b < channels / 16; b++)
                    q[q_at] = gat_v_fma(gat_v_load(r + 16 * b + W * q_at),
                                        gat_v_load(t + 16 * b + W * q_at), q[q_at]);
            }
            for (int n = q_count / 2; n >= 1; n /= 2)
                for (int q_at = 0; q_at < n; q_at++)
                    q[q_at] = q[q_at] + q[q_at + n];
            v[h] = q[0];
        }
        count = (int)heads;
        width = W;
    }
    gat_v_fold_groups(v, count, width);
    for (int64_t b = 0; b < (heads + W - 1) / W; b++)
        out[b] = v[b];
}

/* gat__edge_row in registers: row i over slots [begin, end) with
 * destination scores dst and (GAT__ROW_LOOPS) its own source scores own
 * as per-head vectors, leaving the row's max, sum (per-head vectors) and
 * acc (H*C / W registers, in the rows' layout). The modes as there
 * (GAT__ROW_CHANNEL_MAJOR: 8 heads, head registers; GAT__ROW_FUSED_EXP
 * always: gat_v_fma fuses where GAT_FMA does), and
 * GAT__ROW_SCORES_IN_PASS: each source's scores from its projected row
 * and r->att_src, kept in cache [GAT_ROW_SCORE_CACHE * GAT__V_SV] for
 * the second sweep. */
static GAT_ALWAYS_INLINE void gat__v_edge_row(const gat__row_pass *r, int64_t i, int64_t begin,
                                              int64_t end, const gat_v *dst, const gat_v *own,
                                              gat_v *cache, gat_v *max, gat_v *sum, gat_v *acc,
                                              const int64_t heads, const int64_t channels,
                                              const unsigned mode)
{
    enum { SV = GAT__V_SV };
    const bool loops = mode & GAT__ROW_LOOPS, logits = mode & GAT__ROW_LOGITS,
               drop = mode & GAT__ROW_DROP, head_regs = mode & GAT__ROW_CHANNEL_MAJOR,
               in_pass = mode & GAT__ROW_SCORES_IN_PASS,
               prefetch_fold = mode & GAT__ROW_PREFETCH_FOLD;
    const int64_t vectors = gat__v_head_vectors(heads, head_regs);
    const int64_t hc = heads * channels, registers = hc / GAT_V_LANES;
    const int32_t *restrict col = r->col;
    const float *restrict projected = r->projected;
    const float *restrict score_src = r->score_src;
    const gat_v slope = gat_v_splat(r->slope);
    for (int64_t b = 0; b < vectors; b++)
        max[b] = loops ? own[b] : gat_v_splat(-INFINITY);
    for (int64_t k = begin; k < end; k++) {
        const int64_t j = col[k];
        gat_v src[SV];
        gat__v_zeros(src);
        if (mode & GAT__ROW_PREFETCH_MAX) {
            gat__prefetch_row(projected + j * hc, hc);
            if (k + r->distance < r->prefetch_end)
                gat__prefetch_row(score_src + (int64_t)col[k + r->distance] * heads, heads);
        }
        if (in_pass) {
            if (prefetch_fold && k + r->distance < r->prefetch_end)
                gat__prefetch_row(projected + (int64_t)col[k + r->distance] * hc, hc);
            gat__v_row_scores(projected + j * hc, r->att_src, heads, channels, src);
            if (k - begin < GAT_ROW_SCORE_CACHE)
                for (int64_t b = 0; b < vectors; b++)
                    cache[SV * (k - begin) + b] = src[b];
        } else {
            gat__v_load_heads(score_src + j * heads, heads, src, head_regs);
        }
        for (int64_t b = 0; b < vectors; b++)
            max[b] = gat__v_row_max_edge(max[b], src[b], dst[b], slope, logits);
    }
    if (!logits)
        for (int64_t b = 0; b < vectors; b++)
            max[b] = gat__v_row_max_end(max[b], dst[b], slope);
    for (int64_t b = 0; b < vectors; b++)
        sum[b] = gat_v_zero();
    for (int64_t v = 0; v < registers; v++)
        acc[v] = gat_v_zero();
    const gat_v keep_scale = gat_v_splat(r->keep_scale);
    for (int64_t k = begin; k <= end; k++) {
        int64_t j;
        gat_v src[SV];
        gat__v_zeros(src);
        if (k == end) { /* the re-added self-loop comes last */
            if (!loops)
                break;
            j = i;
            for (int64_t b = 0; b < vectors; b++)
                src[b] = own[b];
        } else {
            j = col[k];
            if (loops && j == i)
                continue;
            if (!in_pass) {
                if (prefetch_fold && k + r->distance < r->prefetch_end) {
                    const int64_t ahead = col[k + r->distance];
                    gat__prefetch_row(projected + ahead * hc, hc);
                    gat__prefetch_row(score_src + ahead * heads, 1);
                }
                gat__v_load_heads(score_src + j * heads, heads, src, head_regs);
            } else if (k - begin < GAT_ROW_SCORE_CACHE) {
                for (int64_t b = 0; b < vectors; b++)
                    src[b] = cache[SV * (k - begin) + b];
            } else {
                gat__v_row_scores(projected + j * hc, r->att_src, heads, channels, src);
            }
        }
        /* Lanes past the last head hold weights of nothing, which nothing
         * reads. */
        gat_v w[SV];
        gat__v_zeros(w);
        for (int64_t b = 0; b < vectors; b++) {
            const gat_v p = gat__v_edge_weight(src[b], dst[b], max[b], slope, &sum[b]);
            w[b] = drop ? p * gat__v_keep_factor(r->keep[k], keep_scale, (int)b) : p;
        }
        gat__v_gather_fma(acc, w, projected + j * hc, heads, channels, head_regs);
    }
}

#endif
