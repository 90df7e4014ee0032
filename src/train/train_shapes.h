/*
 * What the training kernels share to run fast: forced inlining, so each
 * row loop is compiled again for every (heads, channels) shape listed in
 * GAT__TRAIN_SHAPES with constant trip counts (the compiler then keeps a
 * row's state in registers and vectorizes across heads and channels),
 * and software prefetch of the rows of coming edges. The per-row steps
 * themselves, and the expansion of an edge's attention-dropout bits, are
 * inference's (edge_row.h).
 */
#ifndef GAT_TRAIN_SHAPES_H
#define GAT_TRAIN_SHAPES_H

#include "edge_row.h" /* gat__mask_to_float, gat__prefetch_row */
#include "internal.h" /* GAT_ALWAYS_INLINE */
#include "simd.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* How many edges ahead rows are prefetched, across row ends since rows
 * average a handful of edges: enough to cover a memory latency at a few
 * nanoseconds per edge (as in attention.c). */
#define GAT_TRAIN_PREFETCH 8

/* Whether prefetching pays: only when the gathered rows (N x row floats)
 * do not fit in a core's L2 (prefetching rows that are there already just
 * spends issue slots, about a tenth of Cora's edge pass). */
static inline bool gat__worth_prefetching(int64_t rows, int64_t row_floats)
{
    return rows * row_floats * (int64_t)sizeof(float) > (INT64_C(1) << 20);
}

/* The training kernels' name for gat__prefetch_row (edge_row.h). */
static GAT_ALWAYS_INLINE void gat__prefetch_floats(const float *row, int64_t count)
{
    gat__prefetch_row(row, count);
}

/* Whether any of v [n] is not zero (NaN counts): an OR of the bits
 * without their signs, which vectorizes; written as compares, GCC 12
 * keeps a scalar compare and conditional move per element, the most of
 * the sparse backward's time. */
static inline bool gat__any_nonzero(const float *v, int64_t n)
{
    uint32_t bits = 0;
    for (int64_t k = 0; k < n; k++) {
        uint32_t b;
        memcpy(&b, v + k, sizeof b);
        bits |= b << 1;
    }
    return bits != 0;
}

/* X(H, C) for every fixed shape, to define one function per shape. */
#define GAT__TRAIN_SHAPE_LIST(X)                                               \
    X(8, 8)                                                                    \
    X(1, 7)                                                                    \
    X(1, 6)                                                                    \
    X(1, 3)                                                                    \
    X(8, 3)                                                                    \
    X(8, 16)                                                                   \
    X(4, 16)                                                                   \
    X(1, 8)                                                                    \
    X(1, 16)

/* Runs FIXED(H, C) with constant H and C for the shapes of the paper's
 * presets and the benchmarks (hidden 8 x 8, outputs of 1 head x 3, 6, 7
 * classes as in Pubmed, Citeseer, Cora, or 8 x 3 averaged for Pubmed),
 * else GENERIC() with the runtime shape. */
#define GAT__TRAIN_SHAPES(heads, channels, FIXED, GENERIC)                     \
    do {                                                                       \
        const int64_t h_ = (heads), c_ = (channels);                           \
        if (h_ == 8 && c_ == 8)                                                \
            { FIXED(8, 8); }                                                   \
        else if (h_ == 1 && c_ == 7)                                           \
            { FIXED(1, 7); }                                                   \
        else if (h_ == 1 && c_ == 6)                                           \
            { FIXED(1, 6); }                                                   \
        else if (h_ == 1 && c_ == 3)                                           \
            { FIXED(1, 3); }                                                   \
        else if (h_ == 8 && c_ == 3)                                           \
            { FIXED(8, 3); }                                                   \
        else if (h_ == 8 && c_ == 16)                                          \
            { FIXED(8, 16); }                                                  \
        else if (h_ == 4 && c_ == 16)                                          \
            { FIXED(4, 16); }                                                  \
        else if (h_ == 1 && c_ == 8)                                           \
            { FIXED(1, 8); }                                                   \
        else if (h_ == 1 && c_ == 16)                                          \
            { FIXED(1, 16); }                                                  \
        else                                                                   \
            { GENERIC(); }                                                     \
    } while (0)

/* Whether GAT__TRAIN_SHAPES has a fixed instantiation for the shape (the
 * generic one needs scratch for its row state). */
static inline bool gat__train_shape_fixed(int64_t heads, int64_t channels)
{
    bool fixed = true;
#define GAT_FIXED_(H, C) (void)0
#define GAT_GENERIC_() fixed = false
    GAT__TRAIN_SHAPES(heads, channels, GAT_FIXED_, GAT_GENERIC_);
#undef GAT_FIXED_
#undef GAT_GENERIC_
    return fixed;
}

#endif
