/*
 * The training edge pass (train_attention.c) in registers at 8 heads x 8
 * channels, concatenated: the hidden layer of the paper's presets, over
 * the vector vocabulary (simd.h), so AVX-512, AVX2 and generic vectors run
 * the same source.
 *
 * Why not the compiler: gcc 12 vectorizes train_rows over the 8 heads,
 * reorders the row into the output through the stack, and at 16 lanes
 * uses half registers. Here per-head vectors line up with the registers
 * of a channel-major row: an edge is a score load per head register, one
 * exp per head register and 64 / W multiply-adds, and the reorder into
 * the head-major output is an 8 x 8 register transpose. The
 * attention-dropout masks of a run of rows are drawn in one call.
 *
 * A row is edge_row.h's gat__v_edge_row, the one inference's register
 * kernel runs: the same operations per lane in the same order as the
 * plain twin's gat__edge_row (the exact maximum, then exp(e - max) summed
 * and aggregated in slot order), so the bits are the portable loops'.
 */
#include "edge_pass.h"
#include "edge_row.h"

enum { HEADS = 8, W = GAT_V_LANES, HR = GAT_V_HEAD_REGS, R = GAT_V_ROW8 };

/* The attention-dropout masks of rows rows[first .. last), a call per run
 * of consecutive rows (their slots are contiguous): the mask is a function
 * of the slot alone, so the bits are those of a call per row, and the
 * kernel's registers do not go to the stack and back around every row's
 * call. */
static void mask_row_runs(const gat__train_pass *a, const gat__rows *rows, int64_t first,
                          int64_t last)
{
    for (int64_t r = first; r < last;) {
        const int64_t start = gat__row_at(rows, r);
        int64_t end = start + 1;
        for (r++; r < last && gat__row_at(rows, r) == end; r++)
            end++;
        const int64_t k0 = a->row_ptr[start];
        gat__dropout_mask_slots(a->drop, k0, a->row_ptr[end] - k0, HEADS, a->keep + k0);
    }
}

/* act(v + bias) on a head-major output register, as gat__activate does
 * lane by lane (the ELU's expm1 is the same operations on a register).
 * In registers: gcc 12 leaves the plain loop's expm1 scalar on AVX2. */
static GAT_ALWAYS_INLINE gat_v activate(gat_v v, const float *bias, int u, gat_activation act)
{
    if (bias != NULL)
        v = v + gat_v_load(bias + W * u);
    if (act == GAT_ACT_ELU)
        return gat_v_select(gat_v_gt(v, gat_v_zero()), v, gat_v_expm1_nonpositive(v));
    if (act == GAT_ACT_RELU)
        return gat_v_select(gat_v_gt(v, gat_v_zero()), v, gat_v_zero());
    return v;
}

static GAT_ALWAYS_INLINE void train_rows(const gat__train_pass *a, const gat__rows *rows,
                                         int64_t first, int64_t last, const bool drop)
{
    /* Edge_row.h's register row, as inference's: here the exact maximum
     * of the logits (the shift the backward reads), channel-major rows
     * with head registers, the slots' dropout factors. */
    const gat__row_pass rp = {.col = a->src, .projected = a->projected,
                              .score_src = a->score_src, .slope = a->slope, .keep = a->keep,
                              .keep_scale = a->keep_scale, .prefetch_end = a->num_slots,
                              .distance = GAT_TRAIN_PREFETCH};
    const unsigned mode = GAT__ROW_LOGITS | GAT__ROW_FUSED_EXP | GAT__ROW_CHANNEL_MAJOR |
                          (drop ? GAT__ROW_DROP : 0u);
    const int64_t *restrict row_ptr = a->row_ptr;
    const float *restrict score_dst = a->score_dst;
    float *restrict shift = a->shift, *restrict inv_sum = a->inv_sum, *restrict out_rows = a->out;
    const int64_t width = a->width;
    const float *restrict bias = a->bias;
    const gat_activation act = a->act;
    if (drop) /* the masks written before the rows read them */
        mask_row_runs(a, rows, first, last);
    for (int64_t r = first; r < last; r++) {
        const int64_t i = gat__row_at(rows, r);
        gat_v sd[HR], max[HR], sum[HR], acc[R];
        for (int h = 0; h < HR; h++)
            sd[h] = gat_v_load_heads8(score_dst + i * HEADS, h);
        if (a->prefetch)
            gat__v_edge_row(&rp, i, row_ptr[i], row_ptr[i + 1], sd, sd, NULL, max, sum, acc, HEADS,
                            8, mode | GAT__ROW_PREFETCH_MAX);
        else
            gat__v_edge_row(&rp, i, row_ptr[i], row_ptr[i + 1], sd, sd, NULL, max, sum, acc, HEADS,
                            8, mode);
        gat_v inv[HR];
        for (int h = 0; h < HR; h++)
            inv[h] = gat__v_row_normaliser(sum[h]);
        if (shift != NULL)
            for (int h = 0; h < HR; h++) {
                gat_v_store_heads8(shift + i * HEADS, max[h], h);
                gat_v_store_heads8(inv_sum + i * HEADS, inv[h], h);
            }
        /* finish_row's concatenation: acc * inv, head-major */
        gat_v scaled[R], out[R];
        for (int v = 0; v < R; v++)
            scaled[v] = acc[v] * inv[v % HR];
        gat_v_transpose8(scaled, out);
        for (int u = 0; u < R; u++)
            gat_v_store(out_rows + i * width + W * u, activate(out[u], bias, u, act));
    }
}

void gat__train_rows_8x8(const gat__train_pass *a, const gat__rows *rows, int64_t first,
                         int64_t last, bool drop)
{
    if (drop)
        train_rows(a, rows, first, last, true);
    else
        train_rows(a, rows, first, last, false);
}
