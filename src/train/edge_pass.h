/*
 * What the training edge pass (train_attention.c) and its backward
 * (backward.c) hand to their kernels: the argument structs, and the
 * register kernels at 8 heads x 8 channels (the paper's hidden layer),
 * written once over the vector vocabulary (simd.h) in edge_rows_8x8.c and
 * backward_8x8.c. The plain loops of the two .c files are their reference
 * twins: the kernels compute the same operations per lane in the same
 * order, so they give the same bits in every back end.
 */
#ifndef GAT_EDGE_PASS_H
#define GAT_EDGE_PASS_H

#include "fast_exp.h"
#include "simd.h"
#include "train_kernels.h"
#include "train_shapes.h"

#include <stdbool.h>
#include <stdint.h>

/* The forward of one layer's edge phase. */
typedef struct gat__train_pass {
    int64_t num_slots;
    const int64_t *row_ptr;
    const int32_t *src;
    const float *projected, *score_src, *score_dst, *bias;
    const gat__dropout *drop; /* active or not */
    uint8_t *keep;            /* NULL unless dropout */
    float keep_scale, slope;
    float *shift, *inv_sum; /* [N, H] each, or NULL (evaluation) */
    float *out;
    int64_t width;
    bool concat, prefetch;
    bool registers; /* the register kernel where it takes the shape (else the plain twin) */
    gat_activation act;
} gat__train_pass;

/* Its backward (see backward.c). */
typedef struct gat__backward_pass {
    const gat__edge_views *v;
    const gat__sources *sources; /* NULL: v's transposed view, by node id */
    float *projected; /* features in (channel-major); gradients out (head-major) */
    /* The features the aggregation read: projected, or (projected-feature
     * dropout) dropped [N, H*C] channel-major with its mask proj_keep
     * [N, H*C] head-major and proj_scale = 1/(1-rate). */
    const float *features, *dropped;
    const uint8_t *proj_keep;
    float proj_scale;
    const float *score_src, *score_dst, *shift, *inv_sum, *d_out, *att_src, *att_dst;
    const uint8_t *keep; /* NULL: no attention dropout */
    float keep_scale, slope;
    float *dyc;       /* [N, H*C] the rows' d agg, channel-major (d_out itself for one head) */
    float *dot, *d_score_dst;
    uint8_t *active; /* [N] whether row i's output gradient has a non-zero */
    int64_t width;
    bool prefetch;  /* see gat__worth_prefetching */
    bool registers; /* the register kernels where they take the shape */
} gat__backward_pass;

/* The transposed view pass B walks, whichever it is: a plan's restricted
 * one (its sources by list position) or the views' own (by node id). */
typedef struct gat__source_lists {
    const int64_t *ptr;
    const int32_t *dst, *offset;
    bool restricted;
} gat__source_lists;

static inline gat__source_lists gat__sources_of(const gat__backward_pass *a)
{
    const gat__sources *sv = a->sources;
    if (sv != NULL)
        return (gat__source_lists){sv->ptr, sv->dst, sv->offset, true};
    return (gat__source_lists){a->v->src_ptr, a->v->dst, a->v->offset, false};
}

/* The end of the slots of source rows [first, last), for prefetching. */
static inline int64_t gat__sources_end(const gat__source_lists *l, const gat__rows *rows,
                                       int64_t first, int64_t last)
{
    if (first >= last)
        return 0;
    return l->ptr[l->restricted ? last : gat__row_at(rows, last - 1) + 1];
}

static GAT_ALWAYS_INLINE float gat__activate(float v, gat_activation act)
{
    if (act == GAT_ACT_ELU)
        return v > 0.0f ? v : gat__expm1_nonpositive(v);
    if (act == GAT_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    return v;
}

static GAT_ALWAYS_INLINE void gat__activate_loop(float *restrict o, const float *restrict tmp,
                                                 const float *restrict bias, const int64_t width,
                                                 const gat_activation act, const bool biased)
{
    GAT_SIMD
    for (int64_t k = 0; k < width; k++)
        o[k] = gat__activate(biased ? tmp[k] + bias[k] : tmp[k], act);
}

/* o [width] = act(tmp + bias), as one contiguous vector loop (strided,
 * the compiler makes it scalar with a branch per element), one per
 * activation and bias or not (with them variable, GCC computes every
 * case and selects lane by lane). */
static GAT_ALWAYS_INLINE void gat__activate_row(const gat__train_pass *a, float *restrict o,
                                                const float *restrict tmp, const int64_t width)
{
    const float *restrict bias = a->bias;
    if (a->act == GAT_ACT_ELU && bias != NULL)
        gat__activate_loop(o, tmp, bias, width, GAT_ACT_ELU, true);
    else if (a->act == GAT_ACT_ELU)
        gat__activate_loop(o, tmp, bias, width, GAT_ACT_ELU, false);
    else if (bias != NULL)
        gat__activate_loop(o, tmp, bias, width, a->act, true);
    else
        gat__activate_loop(o, tmp, bias, width, a->act, false);
}

/* Forward rows rows[first .. last) of a concatenated 8 x 8 layer. */
void gat__train_rows_8x8(const gat__train_pass *a, const gat__rows *rows, int64_t first,
                         int64_t last, bool drop);
/* Pass A over rows [first, last) of a concatenated 8 x 8 layer, adding to
 * the block's d_bias partial part_bias [64]. */
void gat__backward_rows_8x8(const gat__backward_pass *a, const gat__rows *rows, int64_t first,
                            int64_t last, float *part_bias, bool drop);
/* Pass B over source rows [first, last) of an 8 x 8 layer, adding to the
 * block's d_att_src and d_att_dst partials part_src [64], part_src + 64. */
void gat__gather_rows_8x8(const gat__backward_pass *a, const gat__rows *rows, int64_t first,
                          int64_t last, float *part_src, bool drop);

#endif
