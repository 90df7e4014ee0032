/*
 * The training kernels, llm.c style: each backward sits next to the forward
 * line it differentiates, shapes open every comment. N nodes, F input
 * features, H heads, C channels, E' attention edges in library order (see
 * gat.h), W the layer's output width (H*C or C).
 *
 * Determinism: no kernel uses atomics. Sums over nodes run over fixed
 * blocks of rows whose partial results are added in block order; sums a
 * node gathers from its edges run over a fixed edge order. The same bits
 * come out at any thread count.
 */
#ifndef GAT_TRAIN_KERNELS_H
#define GAT_TRAIN_KERNELS_H

#include "dropout.h"
#include "kernels.h"

/* Rows per block of the fixed-order reductions over nodes. */
#define GAT_REDUCE_BLOCK 256
/* At most this many partial dW matrices in the dense projection backward. */
#define GAT_MAX_WEIGHT_PARTIALS 32

/* Runs the body (the last arguments) with `j` set to the source of each
 * edge of row i in library order: the row's input edges (without input
 * self-loops when loops are added), then the added loop. Inside the body
 * k_ is the edge's CSR position (the row's end for the added loop). */
#define GAT__FOR_ROW_SOURCES(g, add_loops, i, j, ...)                           \
    do {                                                                        \
        const int64_t row_end_ = (g)->row_ptr[(i) + 1];                         \
        for (int64_t k_ = (g)->row_ptr[i]; k_ <= row_end_; k_++) {              \
            int64_t j;                                                          \
            if (k_ == row_end_) {                                               \
                if (!(add_loops))                                               \
                    break;                                                      \
                j = (i);                                                        \
            } else {                                                            \
                j = (g)->col[k_];                                               \
                if ((add_loops) && j == (i))                                    \
                    continue;                                                   \
            }                                                                   \
            __VA_ARGS__                                                         \
        }                                                                       \
    } while (0)

/* ---- the source-indexed (transposed) view of the attention edges ------ */

/* For each source node j, the library-order positions of the edges j -> i
 * under one self-loop policy, ascending, and their destinations. Lets the
 * backward pass gather what every source node receives without atomics. */
typedef struct gat__transpose {
    bool built;
    int64_t num_slots; /* E' */
    int64_t *ptr;      /* [N + 1] */
    int64_t *slot;     /* [E'] edge position in library order */
    int32_t *dst;      /* [E'] its destination */
} gat__transpose;

gat_status gat__transpose_build(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                                gat__transpose *t);
void gat__transpose_free(const gat_allocator *allocator, gat__transpose *t);

/* ---- dropout ----------------------------------------------------------- */

/* keep [n] = whether elements first .. first + n - 1 are kept (1 or 0). */
void gat__dropout_mask(const gat__dropout *d, uint64_t first, int64_t n, uint8_t *keep);
/* out [n] = in [n] * scale(k), and keep [n] the mask (forward). in == out
 * is allowed. */
void gat__dropout_forward(gat_context *ctx, const gat__dropout *d, const float *in, float *out,
                          uint8_t *keep, int64_t n);
/* grad [n] *= keep ? scale : 0: the backward of the line above, in place. */
void gat__dropout_backward(gat_context *ctx, const gat__dropout *d, const uint8_t *keep,
                           float *grad, int64_t n);

/* ---- sparse layer-0 input ---------------------------------------------- */

/* x [N, F] held as compressed rows and, for dW, compressed columns over the
 * same entries (each column entry names its row-major position). */
typedef struct gat__sparse_input {
    int64_t rows, cols, nnz;
    int64_t *row_ptr;  /* [N + 1] */
    int32_t *col;      /* [nnz] */
    float *val;        /* [nnz] */
    int64_t *col_ptr;  /* [F + 1] */
    int32_t *row;      /* [nnz] row of each column entry */
    int64_t *pos;      /* [nnz] its index in the row-major arrays */
    float *dropped;    /* [nnz] val after the current dropout mask */
    float *weight_t;   /* [F, H*C] W^T for the forward */
    int64_t weight_t_version; /* the trainer step weight_t was taken at; -1: none */
    float *d_weight_t; /* [F, H*C] dW^T in the backward */
} gat__sparse_input;

/* Entries of x [rows, cols] that are not zero. */
int64_t gat__count_nonzero(gat_context *ctx, const float *x, int64_t rows, int64_t cols);
gat_status gat__sparse_input_build(gat_context *ctx, const float *x, int64_t rows, int64_t cols,
                                   int64_t hc, gat__sparse_input *s);
void gat__sparse_input_free(const gat_allocator *allocator, gat__sparse_input *s);

/* projected [N, H*C] = dropout(x) [N, F] . weight [H*C, F]^T, then the node
 * scores score_src/score_dst [N, H] as gat__project_forward. Fills
 * s->dropped; refreshes s->weight_t unless it was taken at weights_version
 * (the weights change only at updates, so an evaluation and the next
 * training forward share one transpose). */
void gat__sparse_project_forward(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, const gat__dropout *d,
                                 int64_t weights_version, float *projected, float *score_src,
                                 float *score_dst);
/* d_weight [H*C, F] = d_projected [N, H*C]^T . dropout(x) [N, F], column by
 * column of x (fixed row order inside each), using s->dropped from the
 * forward. */
void gat__sparse_project_backward(gat_context *ctx, gat__sparse_input *s,
                                  const float *d_projected, int64_t hc, float *d_weight);

/* ---- dense projection backward ----------------------------------------- */

/* Forward: projected [N, H*C] = x [N, F] . weight [H*C, F]^T (gat__project_forward).
 * d_weight [H*C, F] = d_projected^T . x, when d_weight is not NULL: one
 * partial product per fixed chunk of rows (at most GAT_MAX_WEIGHT_PARTIALS
 * chunks, sized from N only), added in chunk order.
 * d_x [N, F] = d_projected . weight, when d_x is not NULL.
 * partials: scratch of gat__project_backward_scratch(layer, N) floats. */
void gat__project_backward(gat_context *ctx, const gat__layer *layer, const float *x,
                           const float *d_projected, int64_t num_nodes, float *d_weight,
                           float *d_x, float *partials);
int64_t gat__project_backward_scratch(const gat_layer_config *c, int64_t num_nodes);

/* ---- attention --------------------------------------------------------- */

/* Forward, after gat__attention_forward has produced alpha [E', H]:
 *   out[i] = concat_h or mean_h (sum_j alpha_ij * drop_ij * projected[j]) + bias
 * with drop_ij the attention-dropout factor, whose mask is written to keep
 * [E', H]. Recomputes out [N, W] (the fused kernel aggregated without
 * dropout). */
gat_status gat__attention_dropout_aggregate(gat_context *ctx, const gat__layer *layer,
                                            const gat_graph *graph, const int64_t *loops_before,
                                            const float *projected, const float *alpha,
                                            const gat__dropout *d, uint8_t *keep, float *out);

/* Backward of the whole edge phase and the node scores:
 *   s_src[n,h] = <projected[n,h,:], att_src[h,:]>, s_dst likewise
 *   e_ij = LeakyReLU(s_src[j] + s_dst[i]);  alpha = softmax over row i
 *   out[i] = concat/mean_h (sum_j alpha_ij drop_ij projected[j]) + bias
 * Inputs: projected [N, H*C], score_src/score_dst [N, H], alpha [E', H]
 * (before dropout), keep [E', H] the attention-dropout mask (NULL: none)
 * with keep_scale = 1/(1-rate), d_out [N, W]. Outputs: d_projected
 * [N, H*C] (all of it: through the aggregation and both scores),
 * d_att_src/d_att_dst [H, C], d_bias [W] (ignored without bias). Scratch:
 * edge_grad [E', H], d_score_src/d_score_dst [N, H], partials
 * [gat__attention_backward_scratch(layer, N)]. */
gat_status gat__attention_backward(gat_context *ctx, const gat__layer *layer,
                                   const gat_graph *graph, const int64_t *loops_before,
                                   const gat__transpose *t, const float *projected,
                                   const float *score_src, const float *score_dst,
                                   const float *alpha, const uint8_t *keep, float keep_scale,
                                   const float *d_out, float *d_projected, float *d_att_src,
                                   float *d_att_dst, float *d_bias, float *edge_grad,
                                   float *d_score_src, float *d_score_dst, float *partials);
/* Floats of scratch gat__attention_backward needs for a layer over n nodes. */
int64_t gat__attention_backward_scratch(const gat_layer_config *c, int64_t num_nodes);

/* post = act(pre), in place: gat__activation_forward with an ELU whose
 * expm1 vectorizes (within a few ulp of libm's; the trainer's forward and
 * evaluation use it, inference keeps gat__activation_forward). */
void gat__activation_train_forward(gat_context *ctx, gat_activation activation, float *values,
                                   int64_t n);
/* Forward: post = act(pre), in place (gat__activation_train_forward).
 * grad [n] *= act'(pre), computed from post [n]: in place. */
void gat__activation_backward(gat_context *ctx, gat_activation activation, const float *post,
                              float *grad, int64_t n);

/* ---- loss -------------------------------------------------------------- */

/* Checks index [count] and the labels it reads; the message names the
 * position. */
gat_status gat__check_targets(gat_context *ctx, const int64_t *labels, const int64_t *index,
                              int64_t count, int64_t num_nodes, int64_t classes);
/* loss = mean_k -log_softmax(logits[index[k]])[labels[index[k]]] over the
 * count nodes, and the accuracy. d_logits [N, K], if not NULL, receives the
 * loss's gradient (zero outside the indexed rows). Serial, in index order. */
void gat__nll_forward_backward(const float *logits, int64_t classes, const int64_t *labels,
                               const int64_t *index, int64_t count, gat_metrics *metrics,
                               float *d_logits, int64_t num_nodes);

#endif
