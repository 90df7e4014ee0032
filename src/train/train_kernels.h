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
#include "optimizer.h"

/* Rows per block of the fixed-order reductions over nodes. */
#define GAT_REDUCE_BLOCK 256
/* At most this many partial dW matrices in the dense projection backward. */
#define GAT_MAX_WEIGHT_PARTIALS 32

/* Runs the body (the last arguments) with `j` set to the source of each
 * edge of row i in library order: the row's input edges (without input
 * self-loops when loops are added), then the added loop. Inside the body
 * k_ is the edge's CSR position (the row's end for the added loop). */
#define GAT__FOR_ROW_SOURCES(g, add_loops, i, j, ...)                           \
    GAT__FOR_CSR_ROW_SOURCES((g)->row_ptr, (g)->col, i, i, add_loops, j, __VA_ARGS__)

/* The same over a CSR held apart: row r of row_ptr / col, whose node id
 * (what a self-loop's source is) is id (a distributed rank's rows are
 * numbered from 0 but their sources are global ids). */
#define GAT__FOR_CSR_ROW_SOURCES(row_ptr, col, r, id, add_loops, j, ...)        \
    do {                                                                        \
        const int64_t row_end_ = (row_ptr)[(r) + 1];                            \
        for (int64_t k_ = (row_ptr)[r]; k_ <= row_end_; k_++) {                 \
            int64_t j;                                                          \
            if (k_ == row_end_) {                                               \
                if (!(add_loops))                                               \
                    break;                                                      \
                j = (id);                                                       \
            } else {                                                            \
                j = (col)[k_];                                                  \
                if ((add_loops) && j == (id))                                   \
                    continue;                                                   \
            }                                                                   \
            __VA_ARGS__                                                         \
        }                                                                       \
    } while (0)

/* ---- row lists ---------------------------------------------------------- */

/* The rows a kernel computes: ids ascending, or a NULL list for all rows.
 * A loss reads a few nodes' outputs; each layer then needs only their
 * receptive field (gat__plan). Rows are computed independently, so a
 * listed row gets the same bits as in a pass over all rows. */
typedef struct gat__rows {
    const int32_t *ids;
    int64_t count;
    const uint8_t *member; /* [N] 1 for the listed rows */
} gat__rows;

/* The transposed view restricted to a plan's rows (train_plan.c): for the
 * k-th listed source, its edges into listed destination rows only, at
 * [ptr[k], ptr[k+1]) in dst / offset (as gat__edge_views'). */
typedef struct gat__sources {
    const int64_t *ptr;
    const int32_t *dst, *offset;
} gat__sources;

static inline bool gat__row_listed(const gat__rows *rows, int64_t i)
{
    return rows == NULL || rows->member[i] != 0;
}

static inline int64_t gat__row_at(const gat__rows *rows, int64_t k)
{
    return rows != NULL ? rows->ids[k] : k;
}

static inline int64_t gat__row_count(const gat__rows *rows, int64_t num_nodes)
{
    return rows != NULL ? rows->count : num_nodes;
}

/* ---- the two views of the attention edges ---------------------------- */

/* The attention edges E' of one self-loop policy, in library order ("slots"):
 *  - by destination: row i's slots are [row_ptr[i], row_ptr[i+1]) (this is
 *    gat__attention_row_offset), src[k] the source of slot k;
 *  - by source: for each source node j its edges j -> i in ascending slot
 *    order, [src_ptr[j], src_ptr[j+1]): the destination dst[q] and the
 *    slot's offset in that row (slot = row_ptr[dst[q]] + offset[q], 32
 *    bits instead of 64). Lets the backward gather what every source
 *    receives without atomics. */
typedef struct gat__edge_views {
    bool built;
    int64_t num_nodes;
    int64_t num_slots; /* E' */
    int64_t *row_ptr;  /* [N + 1] */
    int32_t *src;      /* [E'] */
    int64_t *src_ptr;  /* [N + 1] */
    int32_t *dst;      /* [E'] */
    int32_t *offset;   /* [E'] */
} gat__edge_views;

gat_status gat__edge_views_build(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                                 gat__edge_views *v);
void gat__edge_views_free(const gat_allocator *allocator, gat__edge_views *v);
/* Row partition: `chunks` contiguous row ranges with about the same number
 * of slots plus rows each; chunk c is [start(c), start(c + 1)). */
int64_t gat__edge_views_chunk_start(const gat__edge_views *v, int64_t chunk, int64_t chunks);

/* ---- dropout ----------------------------------------------------------- */

/* out[i] = in[i] * scale(k) row by row for the rows of a list (NULL: all),
 * rows of width F, element = i * F + column; keep the mask. */
void gat__dropout_forward_rows(gat_context *ctx, const gat__dropout *d, const gat__rows *rows,
                               const float *in, float *out, uint8_t *keep, int64_t num_nodes,
                               int64_t width);

/* Projected-feature dropout for the rows of a list (NULL: all): dropped
 * [N, H*C] = projected * scale(element), both channel-major (see
 * gat__layer_state), and keep [N, H*C] the mask in element order, i.e.
 * head-major: element i * H*C + h * C + c at that index. */
void gat__dropout_projected_rows(gat_context *ctx, const gat__dropout *d, const gat__rows *rows,
                                 const float *projected, float *dropped, uint8_t *keep,
                                 int64_t num_nodes, int64_t heads, int64_t channels);

/* bits [slots * gat__mask_bytes(H)]: the masks of slots first_slot ..
 * first_slot + slots - 1, heads 0 .. H-1 (element = slot * H + head), as
 * bits (see gat__mask_bytes). */
void gat__dropout_mask_slots(const gat__dropout *d, int64_t first_slot, int64_t slots,
                             int64_t heads, uint8_t *bits);

/* keep [n] = whether elements first .. first + n - 1 are kept (1 or 0). */
void gat__dropout_mask(const gat__dropout *d, uint64_t first, int64_t n, uint8_t *keep);
/* keep [n] = whether element base + offset[t] is kept (offsets >= 0), for
 * scattered elements (a sparse row's non-zeros). */
void gat__dropout_mask_at(const gat__dropout *d, uint64_t base, const int32_t *offset, int64_t n,
                          uint8_t *keep);
/* out [n] = in [n] * scale(k), and keep [n] the mask (forward). in == out
 * is allowed. */
void gat__dropout_forward(gat_context *ctx, const gat__dropout *d, const float *in, float *out,
                          uint8_t *keep, int64_t n);
/* grad [n] *= keep ? scale : 0: the backward of the line above, in place. */
void gat__dropout_backward(gat_context *ctx, const gat__dropout *d, const uint8_t *keep,
                           float *grad, int64_t n);

/* The same for a mask that was not kept (a sparse input's forward draws it
 * for the non-zeros only): hashed again over the n elements, in a buffer
 * allocated for the call. */
gat_status gat__dropout_backward_hashed(gat_context *ctx, const gat__dropout *d, float *grad,
                                        int64_t n);

/* ---- sparse layer-0 input ---------------------------------------------- */

/* Below this fraction of non-zero entries a sparse input is cheaper (Cora's
 * 1.3% runs about 10x faster than the dense GEMM; the two cross near 15%). */
#define GAT_SPARSE_INPUT_DENSITY 0.10

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
    int32_t *kept_col; /* [nnz] row i's kept entries at row_ptr[i]: columns, */
    float *kept_val;   /* [nnz] values after dropout, */
    int32_t *kept_count; /* [N] and how many */
    bool kept_all;     /* the last forward had no dropout: col / val are the kept lists */
    /* The next step's kept lists and dropped values, drawn ahead by
     * gat__sparse_draw_ahead (NULL until first drawn), for the mask with
     * key ahead_key over the rows ahead_rows; ahead_ready once drawn. */
    int32_t *ahead_col, *ahead_count;
    float *ahead_val, *ahead_dropped;
    uint64_t ahead_key;
    const gat__rows *ahead_rows;
    bool ahead_ready;
    /* The kept lists hold the mask with key kept_key over kept_rows
     * already (taken from the drawn-ahead ones): the forward uses them as
     * they are. */
    bool kept_ready;
    uint64_t kept_key;
    const gat__rows *kept_rows;
    float *weight_t;   /* [F, H*C] W^T for the forward, columns channel-major */
    float *att_t;      /* [2, H*C] att_src and att_dst channel-major */
    int64_t weight_t_version; /* the trainer step weight_t was taken at; -1: none */
    float *d_weight_t; /* [F, H*C] dW^T of the last backward, columns head-major */
    /* d_weight_t is newer than the parameter's gradient array: the update
     * reads dW^T itself, and gat__sparse_weight_gradient writes dW only
     * when a caller asks for the gradients. */
    bool d_weight_pending;
} gat__sparse_input;

/* Entries of x [rows, cols] that are not zero. */
int64_t gat__count_nonzero(gat_context *ctx, const float *x, int64_t rows, int64_t cols);
gat_status gat__sparse_input_build(gat_context *ctx, const float *x, int64_t rows, int64_t cols,
                                   int64_t hc, gat__sparse_input *s);
void gat__sparse_input_free(const gat_allocator *allocator, gat__sparse_input *s);

/* projected [N, H*C] (channel-major) = dropout(x) [N, F] . weight [H*C, F]^T,
 * then the node scores score_src/score_dst [N, H]. With dropout, fills
 * s->dropped and the kept lists; record: the backward is to use this
 * forward's (an evaluation running beside a training step does not
 * record, and must have no dropout); refreshes s->weight_t unless it was taken at weights_version
 * (the weights change only at updates, so an evaluation and the next
 * training forward share one transpose). */
void gat__sparse_project_forward(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, const gat__rows *rows,
                                 const gat__dropout *d, int64_t weights_version, bool record,
                                 float *projected, float *score_src, float *score_dst);
/* The buffers gat__sparse_draw_ahead fills (once). */
gat_status gat__sparse_ahead_make(gat_context *ctx, gat__sparse_input *s);
/* Draws the kept lists of a training forward with mask d over rows into
 * the ahead buffers (nothing without them or without dropout), so that
 * forward need not: an evaluation's thread does it while the step before
 * runs. Touches nothing a forward or backward reads. */
void gat__sparse_draw_ahead(gat__sparse_input *s, const gat__dropout *d, const gat__rows *rows);
/* Makes the drawn-ahead lists the current ones (between steps, with no
 * kernel running). */
void gat__sparse_take_ahead(gat__sparse_input *s);
/* Takes s->weight_t from the layer's weights unless it was taken at
 * weights_version (the forward does it; done first, concurrent forwards
 * only read it). */
void gat__sparse_refresh_weights(gat_context *ctx, const gat__layer *layer,
                                 gat__sparse_input *s, int64_t weights_version);
/* s->d_weight_t [F, H*C] = (d_projected [N, H*C]^T . dropout(x) [N, F])^T,
 * column by column of x (fixed row order inside each), using the kept
 * entries of the last forward, over the rows it computed (rows; the
 * others have no gradient); d_weight_pending set. d_projected is
 * head-major (as the backward leaves it). */
void gat__sparse_project_backward(gat_context *ctx, gat__sparse_input *s, const gat__rows *rows,
                                  const float *d_projected, int64_t hc, bool accumulate);
/* The same dW^T into d_weight_t [F, H*C] (d_projected [N, H*C] any layout:
 * d_weight_t's columns come in its order), pending nothing: the GAT
 * family's maps of a sparse x (family_linear.c). */
void gat__sparse_weight_backward(gat_context *ctx, const gat__sparse_input *s,
                                 const gat__rows *rows, const float *d_projected, int64_t hc,
                                 float *d_weight_t, bool accumulate);
/* The kept lists of every row for mask d (with no dropout: the input's
 * own entries), for gat__sparse_linear_forward and the backward. */
void gat__sparse_keep(gat_context *ctx, gat__sparse_input *s, const gat__dropout *d);
/* y [N, out] = dropout(x) . W^T (+ bias [out]) with wt = W^T [F, out], the
 * kept lists of the last gat__sparse_keep, by rows. */
void gat__sparse_linear_forward(gat_context *ctx, const gat__sparse_input *s, const float *wt,
                                int64_t out, const float *bias, float *y);
/* out [cols, rows] = in [rows, cols]^T, in register blocks. */
void gat__transpose(gat_context *ctx, const float *in, int64_t rows, int64_t cols, float *out);
/* d_weight [H*C, F] = the pending dW^T transposed (nothing if none is). */
void gat__sparse_weight_gradient(gat__sparse_input *s, int64_t hc, float *d_weight);
/* One optimizer step of the layer's weight (value, its [H*C, F] array) and
 * moments m, v from the pending dW^T, by blocks of columns: each block of
 * dW^T transposed in cache, updated, and W^T taken from it at once (its
 * version set to weights_version), so neither dW nor W is transposed
 * through memory as a whole; on team threads. */
void gat__sparse_update_weight(const gat__layer *layer, gat__sparse_input *s,
                               gat__update_rule rule, float *value, float *m, float *v,
                               int64_t weights_version, int team);

/* ---- dense projection --------------------------------------------------- */

/* gat__project_forward with projected [N, H*C] channel-major (the trainer's
 * layout, see gat__layer_state.projected), for the rows of a list (NULL:
 * all), gathered into compact [count, F + H*C + 2H] scratch (unused
 * without a list). */
gat_status gat__project_train_forward(gat_context *ctx, const gat__layer *layer,
                                      const gat__rows *rows, const float *x, int64_t num_nodes,
                                      float *compact, float *projected, float *score_src,
                                      float *score_dst);


/* Forward: projected [N, H*C] = x [N, F] . weight [H*C, F]^T.
 * d_weight [H*C, F] = d_projected^T . x, when d_weight is not NULL: one
 * partial product per fixed chunk of rows (at most GAT_MAX_WEIGHT_PARTIALS
 * chunks, sized from N only), added in chunk order.
 * d_x [N, F] = d_projected . weight, when d_x is not NULL.
 * partials: scratch of gat__project_backward_scratch(layer, N) floats. */
void gat__project_backward(gat_context *ctx, const gat__layer *layer, const float *x,
                           const float *d_projected, int64_t num_nodes, float *d_weight,
                           float *d_x, float *partials);
/* The same over the rows of a list (NULL: all; the others have no
 * gradient), gathered into compact [count, 2F + H*C] scratch; d_x rows
 * outside the list are not written. */
void gat__project_backward_rows(gat_context *ctx, const gat__layer *layer, const gat__rows *rows,
                                const float *x, const float *d_projected, int64_t num_nodes,
                                float *d_weight, float *d_x, float *compact, float *partials);
int64_t gat__project_backward_scratch(const gat_layer_config *c, int64_t num_nodes);

/* ---- attention --------------------------------------------------------- */

/* The edge phase of a training forward (train_attention.c), per row i:
 *   e_ij = LeakyReLU(score_src[j] + score_dst[i]);  alpha = softmax over row i
 *   out[i] = act(concat/mean_h (sum_j alpha_ij drop_ij projected[j]) + bias)
 * for the rows of a list (NULL: all). projected [N, H*C] channel-major,
 * scores [N, H]; out [N, W] head-major. alpha is not stored: alpha_ij =
 * exp(e_ij - shift[i]) * inv_sum[i], with shift (the row's maximum logit)
 * and inv_sum [N, H] written when not NULL (a training forward), so the
 * backward recomputes the same bits. With d active, keep [E', H] receives
 * the attention-dropout mask of the listed rows (element = slot * H + head). */
gat_status gat__attention_train_forward(gat_context *ctx, const gat__layer *layer,
                                        const gat__edge_views *views, const gat__rows *rows,
                                        const float *projected, const float *score_src,
                                        const float *score_dst, const gat__dropout *d,
                                        uint8_t *keep, gat_activation act, float *shift,
                                        float *inv_sum, float *out);

/* What gat__attention_backward reads, writes and works in (see there). */
typedef struct gat__attention_backward_args {
    /* where: the views, the rows the forward computed (their d_out is
     * read; NULL: all), those rows and their sources (NULL: all), the
     * transposed view restricted to them (NULL: the views') */
    const gat__edge_views *views;
    const gat__rows *edge_rows, *proj_rows;
    const gat__sources *sources;
    /* in: projected [N, H*C] channel-major (d_projected [N, H*C]
     * head-major is written over it for proj_rows: pass B reads only a
     * row's own features before writing its gradient); dropped (NULL:
     * none) as gat__dropout_projected_rows left it, with its mask
     * proj_keep and proj_scale = 1/(1-rate); the scores [N, H]; shift and
     * inv_sum [N, H] from the forward; keep [E', B] the attention-dropout
     * mask bits (NULL: none) with keep_scale = 1/(1-rate); d_out [N, W] */
    float *projected;
    const float *dropped;
    const uint8_t *proj_keep;
    float proj_scale;
    const float *score_src, *score_dst, *shift, *inv_sum;
    const uint8_t *keep;
    float keep_scale;
    const float *d_out;
    /* out: d_att_src/d_att_dst [H, C], d_bias [W] (NULL or ignored
     * without bias) */
    float *d_att_src, *d_att_dst, *d_bias;
    /* scratch: dyc [N, H*C], dot/d_score_dst [N, H], active [N], partials
     * [gat__attention_backward_scratch(layer, N)] */
    float *dyc, *dot, *d_score_dst;
    uint8_t *active;
    float *partials;
} gat__attention_backward_args;

/* Backward of the whole edge phase and the node scores:
 *   s_src[n,h] = <projected[n,h,:], att_src[h,:]>, s_dst likewise
 *   e_ij = LeakyReLU(s_src[j] + s_dst[i]);  alpha = softmax over row i
 *   out[i] = concat/mean_h (sum_j alpha_ij drop_ij dropped[j]) + bias
 * with dropped = projected * proj_drop (the projected-feature dropout) or
 * projected itself; the arguments as gat__attention_backward_args says. */
gat_status gat__attention_backward(gat_context *ctx, const gat__layer *layer,
                                   const gat__attention_backward_args *args);
/* Floats of scratch gat__attention_backward needs for a layer over n nodes. */
int64_t gat__attention_backward_scratch(const gat_layer_config *c, int64_t num_nodes);

/* post = act(pre), in place: gat__activation_forward with an ELU whose
 * expm1 vectorizes (gat__expm1_nonpositive, within a few ulp of libm's).
 * The trainer's edge pass applies the same function to each row it
 * writes; this loop is its tested standalone form. Inference keeps
 * gat__activation_forward. */
void gat__activation_train_forward(gat_context *ctx, gat_activation activation, float *values,
                                   int64_t n);
/* Forward: in = act(pre) of the previous layer (post [N, W]), then dropout
 * (mask keep [N, W], ignored when d is inactive).
 * grad [N, W] *= drop'(k) * act'(pre), act' computed from post: in place,
 * for the rows of a list (NULL: all). */
void gat__dropout_activation_backward(gat_context *ctx, const gat__dropout *d,
                                      const uint8_t *keep, gat_activation activation,
                                      const gat__rows *rows, const float *post, float *grad,
                                      int64_t num_nodes, int64_t width);

/* ---- loss -------------------------------------------------------------- */

/* Checks index [count] and the labels it reads; the message names the
 * position. */
gat_status gat__check_targets(gat_context *ctx, const int64_t *labels, const int64_t *index,
                              int64_t count, int64_t num_nodes, int64_t classes);
/* One node's term of the loss: -log_softmax(row)[y] in double (max
 * shifted), whether the row's argmax (first on ties) is y, and the max and
 * sum of exp(row - max) the gradient needs. */
typedef struct gat__nll_term {
    double loss, max, sum;
    bool correct;
} gat__nll_term;
gat__nll_term gat__nll_row(const float *row, int64_t classes, int64_t y);
/* d [classes] += that row's loss gradient over count targets (its term t). */
void gat__nll_row_gradient(const float *row, int64_t classes, int64_t y, const gat__nll_term *t,
                           int64_t count, float *d);
/* loss = mean_k -log_softmax(logits[index[k]])[labels[index[k]]] over the
 * count nodes, and the accuracy. d_logits [N, K], if not NULL, receives the
 * loss's gradient (zero outside the indexed rows). Serial, in index order. */
void gat__nll_forward_backward(const float *logits, int64_t classes, const int64_t *labels,
                               const int64_t *index, int64_t count, gat_metrics *metrics,
                               float *d_logits, int64_t num_nodes);

#endif
