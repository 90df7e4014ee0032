/*
 * The edge phase's per-edge work in GNU C vector registers of the
 * machine's width W (node_scores_vec.h): the AVX-512 kernel's algorithm
 * (attention_avx512.h) for the machines and builds without its
 * intrinsics, AVX2 first, on the same shapes (gat__vec_shape). Included
 * by attention.c only; the plain loops there serve every other shape.
 *
 * Why not the plain loops: gcc 12 vectorizes them badly (running sums
 * spread over permutes and stack spills, the exp polynomial unfused);
 * on AVX2 the RMAT 100k edge phase took 4x the AVX-512 kernel's time.
 * Here an edge is one polynomial over all heads (ceil(H / W) vectors),
 * one broadcast of each head's weight (one permute per register of two
 * heads at C = 8, W = 16) and one fused multiply-add per source-row
 * register, with the source scores computed from the projected row, so
 * no [N, H] score arrays exist. Vector operators and
 * __builtin_shufflevector throughout; exp, multiply-add and maximum are
 * the vocabulary's (simd.h, fast_exp.h).
 *
 * Same arithmetic in the same order for a row whichever thread runs it,
 * so results keep their bits at any thread count.
 */
#ifndef GAT_ATTENTION_VEC_H
#define GAT_ATTENTION_VEC_H

#include "fast_exp.h"
#include "node_scores_vec.h"

#if GAT_HAVE_VEC_KERNELS


/* acc += p's weight of each head (in all lanes) * the head's C / W
 * registers of row, for C >= W. The weight is a splat of the extracted
 * lane, which both compilers make a broadcast (a constant
 * __builtin_shufflevector would need the lane at parse time, and a switch
 * over lanes kept gcc 12 from vectorizing the multiply-adds it feeds).
 * Loops over heads, then registers: no division to find a register's
 * head, which for channels read at run time (C = 48, ...) was a divide
 * per register per edge (the (2, 48) edge phase took 68 ms on AVX2, now
 * 52). */
static GAT_ALWAYS_INLINE void gat__accumulate_heads(gat_vf *acc, const gat_vf *p,
                                                    const float *restrict row, const int64_t heads,
                                                    const int64_t channels)
{
    const int64_t per_head = channels / GAT_VLANES;
    for (int64_t h = 0; h < heads; h++) {
        const gat_vf w = gat_v_splat(p[h / GAT_VLANES][h % GAT_VLANES]);
        for (int64_t r = 0; r < per_head; r++)
            acc[h * per_head + r] = gat_v_fma(
                w, gat_v_load(row + GAT_VLANES * (h * per_head + r)), acc[h * per_head + r]);
    }
}

#if GAT_VLANES == 16
/* acc[r] += (heads 2r and 2r + 1 of p, each over its 8 lanes) * row's
 * register r, for C = 8 at W = 16: written out register by register so
 * each spread is one constant shuffle (a vpermps) whether or not the
 * head count is a constant. */
static GAT_ALWAYS_INLINE void gat__accumulate_head_pairs(gat_vf *acc, gat_vf p,
                                                         const float *restrict row,
                                                         const int64_t registers)
{
#define GAT_PAIR(R)                                                                                \
    if ((R) < registers) {                                                                         \
        const gat_vf w = __builtin_shufflevector(p, p, GAT_R8(2 * (R)), GAT_R8(2 * (R) + 1));      \
        acc[R] = gat_v_fma(w, gat_v_load(row + 16 * (R)), acc[R]);                             \
    }
    GAT_PAIR(0)
    GAT_PAIR(1)
    GAT_PAIR(2)
    GAT_PAIR(3)
    GAT_PAIR(4)
    GAT_PAIR(5)
    GAT_PAIR(6)
    GAT_PAIR(7)
#undef GAT_PAIR
}
#endif

/* The first n floats at p, zeros after, reading nothing past p + n (the
 * last row of a score array ends there). A memcpy into a zeroed vector
 * makes the compiler read the vector back across a store-forwarding
 * stall, which halved the speed of the (8, 8) edge phase with stored
 * scores at W = 16; so one narrower load widened by a shuffle for 4 and
 * 8 floats, scalar loads for 1 and 2, and the memcpy only for the other
 * counts (H = 3, 5, 6, 7, ...). */
static GAT_ALWAYS_INLINE gat_vf gat__vf_load_first(const float *restrict p, int64_t n)
{
#if GAT_VLANES > 4
    typedef float gat_vf4 __attribute__((vector_size(4 * sizeof(float))));
    gat_vf4 quarter;
#endif
#if GAT_VLANES > 8
    typedef float gat_vf8 __attribute__((vector_size(8 * sizeof(float))));
    gat_vf8 half;
#endif
    if (n >= GAT_VLANES)
        return gat_v_load(p);
    switch (n) {
    case 1: return (gat_vf){p[0]};
    case 2: return (gat_vf){p[0], p[1]};
#if GAT_VLANES == 8
    case 4:
        memcpy(&quarter, p, sizeof quarter);
        return __builtin_shufflevector(quarter, (gat_vf4){0}, 0, 1, 2, 3, GAT_R4(4));
#elif GAT_VLANES == 16
    case 4:
        memcpy(&quarter, p, sizeof quarter);
        return __builtin_shufflevector(quarter, (gat_vf4){0}, 0, 1, 2, 3, GAT_R4(4), GAT_R8(4));
    case 8:
        memcpy(&half, p, sizeof half);
        return __builtin_shufflevector(half, (gat_vf8){0}, 0, 1, 2, 3, 4, 5, 6, 7, GAT_R8(8));
#endif
    default: {
        gat_vf v = {0};
        memcpy(&v, p, (size_t)n * sizeof(float));
        return v;
    }
    }
}

/* Score vectors of a row stored in [N, H] (zeros past the last head). */
static GAT_ALWAYS_INLINE void gat__load_scores_vec(const float *restrict score, const int64_t heads,
                                                   gat_vf *v)
{
    for (int64_t b = 0; b * GAT_VLANES < heads; b++)
        v[b] = gat__vf_load_first(score + b * GAT_VLANES, heads - b * GAT_VLANES);
}

/* Edges whose source scores a row keeps between its two sweeps when
 * computing them in the pass (16 KiB of stack at any W); longer rows
 * compute the rest twice, with the same bits. */
#define GAT_VEC_ROW_SCORE_CACHE 256

/* Rows [first, last) of the edge pass with heads and channels constant at
 * the call site. Leaves each row's max, sum and acc in s (as the plain
 * loop does) for finish_row and write_row_attention.
 *
 * in_pass (constant at the call site): the node scores are not stored;
 * each is computed here from the projected row it belongs to (the source
 * rows are read anyway, and the destination row is one more), which saves
 * the [N, H] score arrays and the separate cache line per edge they cost,
 * for a score tree per edge. */
static GAT_ALWAYS_INLINE void attend_rows_vec(const edge_pass *a, const row_state *s, int64_t first,
                                              int64_t last, const int64_t heads,
                                              const int64_t channels, const bool in_pass)
{
    enum { MAX_REGISTERS = 256 / GAT_VLANES, SV = GAT_VEC_SCORE_VECTORS };
    const int64_t registers = heads * channels / GAT_VLANES;
    const int64_t vectors = (heads + GAT_VLANES - 1) / GAT_VLANES; /* score vectors */
    const gat_graph *g = a->graph;
    const bool add_loops = a->config->add_self_loops;
    const gat_vf slope = gat_v_splat(a->config->negative_slope);
    const int64_t *restrict row_ptr = g->row_ptr;
    const int32_t *restrict col = g->col;
    const float *restrict score_src = a->score_src;
    const float *restrict projected = a->projected;
    const int64_t hc = heads * channels;
    const int64_t prefetch_end = row_ptr[last];
    gat_vf cache[in_pass ? GAT_VEC_ROW_SCORE_CACHE * SV : 1];

    for (int64_t i = first; i < last; i++) {
        const int64_t begin = row_ptr[i], end = row_ptr[i + 1];
        gat_vf dst[SV], own[SV], max[SV]; /* s_dst[i], s_src[i], the row's max of e */
        if (in_pass) {
            gat__row_scores_vec(projected + i * hc, a->att_dst, heads, channels, dst);
            gat__row_scores_vec(projected + i * hc, a->att_src, heads, channels, own);
        } else {
            gat__load_scores_vec(a->score_dst + i * heads, heads, dst);
            gat__load_scores_vec(score_src + i * heads, heads, own);
        }
        /* The row maximum as row_max computes it (src > max ? src : max
         * keeps max when either is NaN). */
        for (int64_t b = 0; b < vectors; b++)
            max[b] = add_loops ? own[b] : gat_v_splat(-INFINITY);
        for (int64_t k = begin; k < end; k++) {
            const int64_t j = col[k];
            gat_vf src[SV] = {{0}};
            if (in_pass) {
                if (k + PREFETCH_DISTANCE < prefetch_end)
                    prefetch_source(projected + (int64_t)col[k + PREFETCH_DISTANCE] * hc, hc, NULL);
                gat__row_scores_vec(projected + j * hc, a->att_src, heads, channels, src);
                if (k - begin < GAT_VEC_ROW_SCORE_CACHE)
                    for (int64_t b = 0; b < vectors; b++)
                        cache[SV * (k - begin) + b] = src[b];
            } else {
                gat__load_scores_vec(score_src + j * heads, heads, src);
            }
            for (int64_t b = 0; b < vectors; b++)
                max[b] = gat_v_max(src[b], max[b]);
        }
        for (int64_t b = 0; b < vectors; b++)
            max[b] = gat_v_leaky_relu(max[b] + dst[b], slope);

        gat_vf sum[SV], acc[MAX_REGISTERS];
        for (int64_t b = 0; b < vectors; b++)
            sum[b] = (gat_vf){0};
        for (int64_t v = 0; v < registers; v++)
            acc[v] = (gat_vf){0};
        for (int64_t k = begin; k <= end; k++) {
            int64_t j;
            gat_vf src[SV] = {{0}};
            if (k == end) { /* the re-added self-loop comes last */
                if (!add_loops)
                    break;
                j = i;
                for (int64_t b = 0; b < vectors; b++)
                    src[b] = own[b];
            } else {
                j = col[k];
                if (add_loops && j == i)
                    continue;
                if (!in_pass) {
                    if (k + PREFETCH_DISTANCE < prefetch_end) {
                        int64_t ahead = col[k + PREFETCH_DISTANCE];
                        prefetch_source(projected + ahead * hc, hc, score_src + ahead * heads);
                    }
                    gat__load_scores_vec(score_src + j * heads, heads, src);
                } else if (k - begin < GAT_VEC_ROW_SCORE_CACHE) {
                    for (int64_t b = 0; b < vectors; b++)
                        src[b] = cache[SV * (k - begin) + b];
                } else {
                    gat__row_scores_vec(projected + j * hc, a->att_src, heads, channels, src);
                }
            }
            /* Lanes past the last head (when H is not a multiple of W)
             * hold weights of nothing, which nothing reads. */
            gat_vf p[SV] = {{0}};
            for (int64_t b = 0; b < vectors; b++) {
                const gat_vf e = gat_v_leaky_relu(src[b] + dst[b], slope);
                p[b] = gat_v_exp_nonpositive(e - max[b]);
                sum[b] += p[b];
            }
            const float *restrict src_row = projected + j * hc;
#if GAT_VLANES == 16
            if (channels < GAT_VLANES) {
                gat__accumulate_head_pairs(acc, p[0], src_row, registers);
                continue;
            }
#endif
            gat__accumulate_heads(acc, p, src_row, heads, channels);
        }
        gat__store_scores_vec(s->max, max, heads);
        gat__store_scores_vec(s->sum, sum, heads);
        for (int64_t v = 0; v < registers; v++)
            memcpy(s->acc + GAT_VLANES * v, &acc[v], sizeof acc[v]);
        if (a->attention != NULL)
            write_row_attention(a, i, s);
        finish_row(a, s, i, heads, channels);
    }
}

#endif

#endif
