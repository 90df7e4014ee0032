/*
 * The inference edge kernels' arguments: what one pass over destination
 * rows needs (per row i, scores -> softmax -> weighted sum of source rows,
 * see gat__attention_forward in kernels.h), and the row kernels over it.
 *
 *   edge_rows.c            the plain loops: any shape, any machine; and
 *                          the row ends every kernel shares (the output
 *                          row of a mean over heads, the attention
 *                          coefficients)
 *   edge_rows_registers.c  the register kernel, written once over the
 *                          vector vocabulary (simd.h), for the shapes
 *                          gat__edge_register_shape takes; and the node
 *                          scores the projection stores for those shapes,
 *                          the same bits the kernel computes in its pass
 *
 * attention.c splits the rows over threads and picks the kernel. Each row
 * is computed in a fixed order by one thread, so the bits do not depend on
 * the thread count.
 */
#ifndef GAT_EDGE_ROWS_H
#define GAT_EDGE_ROWS_H

#include "edge_row.h"
#include "graph.h"
#include "model.h"

#include <stdbool.h>
#include <stdint.h>

/* One layer's edge pass. */
typedef struct gat__edge_pass {
    const gat_graph *graph;
    const float *projected;            /* [N, H*C] head-major */
    const float *score_src, *score_dst; /* [N, H], or both NULL: the register
                                         * kernel computes them from projected */
    const float *bias;                  /* [width] or NULL */
    const float *att_src, *att_dst;     /* [H*C] */
    float *out;                         /* [N, width], width H*C (concat) or C */
    float *attention;                   /* [E', H] in library order, or NULL */
    const int64_t *loops_before;        /* see gat__attention_row_offset */
    const gat_layer_config *config;
} gat__edge_pass;

/* How many edges ahead source rows are prefetched, across row ends since
 * rows average a handful of edges. With the register kernels an edge takes
 * a few nanoseconds, so 8 no longer covered a DRAM latency: 16 took 4% off
 * the edge phase at R-MAT 100k and 4-6% at 1M (2 threads, AVX-512; 4, 24
 * and an L2-then-L1 two-distance scheme were slower). */
#define GAT_EDGE_PREFETCH_DISTANCE 16

/* Asks for the source row and (if not NULL) scores of a coming edge. */
static inline void gat__prefetch_source(const float *row, int64_t row_floats, const float *scores)
{
    gat__prefetch_row(row, row_floats);
    if (scores != NULL)
        gat__prefetch_row(scores, 1);
}

/* Rows [first, last) by the plain loops, any shape; s is the thread's
 * scratch state. Needs the score arrays. */
void gat__edge_rows_plain(const gat__edge_pass *a, const gat__row_state *s, int64_t first,
                          int64_t last);

/* Row i's ends once s holds its max, sum and acc: the attention
 * coefficients (if asked for), then the output row (1/sum times acc,
 * concatenated or averaged over heads, plus bias). */
void gat__edge_finish_row(const gat__edge_pass *a, const gat__row_state *s, int64_t i);

/* Whether the register kernel takes the shape (H heads of C channels);
 * false in builds whose vocabulary has one lane (the plain loops serve). */
bool gat__edge_register_shape(int64_t heads, int64_t channels);

/* Whether the register kernel computes the node scores itself for the
 * shape (gat_layer_scores_in_edge_pass), rather than reading score
 * arrays the projection stores; the same bits either way. */
bool gat__edge_scores_in_pass(int64_t heads, int64_t channels);

/* Rows [first, last) by the register kernel, for a shape it takes; with
 * or without score arrays. s as for gat__edge_rows_plain. */
void gat__edge_rows_registers(const gat__edge_pass *a, const gat__row_state *s, int64_t first,
                              int64_t last);

/* score_src [rows, H] and score_dst [rows, H] of projected [rows, H*C] for
 * a shape the register kernel takes: the bits the kernel computes in its
 * pass. */
void gat__edge_node_scores(const float *projected, int64_t rows, int64_t heads, int64_t channels,
                           const float *att_src, const float *att_dst, float *score_src,
                           float *score_dst);

#endif
