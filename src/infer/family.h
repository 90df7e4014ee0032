/*
 * What the forward passes share for every layer kind (GATConv with edge
 * features, residual or two projections, GATv2Conv): the inputs' checks
 * and the self-loop attributes of PyG's add_self_loops.
 */
#ifndef GAT_FAMILY_H
#define GAT_FAMILY_H

#include "graph.h"
#include "model.h"

/* Output value w of a row from its weighted sums acc [H*C]: acc[w] when
 * the heads are concatenated, else channel w's mean over the heads (heads
 * summed in order, then divided), before residual and bias. */
static inline float gat__family_head_value(const float *acc, int64_t heads, int64_t channels,
                                           bool concat, int64_t w)
{
    if (concat)
        return acc[w];
    float v = 0.0f;
    for (int64_t h = 0; h < heads; h++)
        v += acc[h * channels + w];
    return v / (float)heads;
}

/* Checks a forward's inputs against the model and graph (the messages of
 * gat_model_forward for the 0.1 arguments). */
gat_status gat__forward_check_inputs(gat_context *ctx, const gat_model *model,
                                     const gat_graph *graph, const gat_inputs *inputs,
                                     const float *out);

/* Whether every layer is of 0.1's kind and layer 0 reads x alone: the
 * forward of src/infer/forward.c's layer loop. */
bool gat__model_is_plain(const gat_model *model, const gat_inputs *inputs);

/* The self-loop attribute of node i [D] (i < gat__graph_added_loops) under
 * a fill rule, over the attributes edge_attr [E, D] of the edges into i
 * that are not self-loops (in input order, or in CSR order when
 * csr_order), accumulated in double in CSR order (PyG's scatter reduces
 * over the same edges; its order does not change max/min, and mean/add/mul
 * only in the last bits). */
void gat__loop_attribute(const gat_graph *graph, const float *edge_attr, bool csr_order,
                         int64_t edge_dim, gat_fill fill, float fill_constant, int64_t node,
                         double *out);

/* gat__loop_attribute in steps, for a caller that has the row's edges in
 * hand: out [D] starts as the fill's identity (the constant for
 * GAT_FILL_CONSTANT, which takes no edges), takes each edge's attribute row
 * a (count: the edges taken before it), and ends (the mean's division). */
static inline void gat__loop_fill_start(gat_fill fill, float fill_constant, int64_t d,
                                        double *out)
{
    const double start = fill == GAT_FILL_CONSTANT ? (double)fill_constant
                         : fill == GAT_FILL_MUL    ? 1.0
                                                   : 0.0;
    for (int64_t f = 0; f < d; f++)
        out[f] = start;
}

static inline void gat__loop_fill_add(gat_fill fill, int64_t count, const float *a, int64_t d,
                                      double *out)
{
    switch (fill) {
    case GAT_FILL_MEAN:
    case GAT_FILL_ADD:
        for (int64_t f = 0; f < d; f++)
            out[f] += (double)a[f];
        break;
    case GAT_FILL_MAX:
        for (int64_t f = 0; f < d; f++)
            out[f] = count == 0 || (double)a[f] > out[f] ? (double)a[f] : out[f];
        break;
    case GAT_FILL_MIN:
        for (int64_t f = 0; f < d; f++)
            out[f] = count == 0 || (double)a[f] < out[f] ? (double)a[f] : out[f];
        break;
    case GAT_FILL_MUL:
        for (int64_t f = 0; f < d; f++)
            out[f] *= (double)a[f];
        break;
    case GAT_FILL_CONSTANT: break;
    }
}

static inline void gat__loop_fill_end(gat_fill fill, int64_t count, int64_t d, double *out)
{
    if (fill == GAT_FILL_MEAN && count > 0)
        for (int64_t f = 0; f < d; f++)
            out[f] /= (double)count;
}

/* The forward of models with any layer kind (family_forward.c). */
/* The edge term's matrix, transposed so that an edge adds contiguous rows:
 * GATConv folds lin_edge and att_edge, edge_t [D, H] with
 * edge_t[f, h] = sum_c att_edge[h, c] W_edge[h*C + c, f]; GATv2Conv keeps
 * W_edge^T [D, H*C]. Shared by the forward and the trainer. */
void gat__family_edge_term_matrix(const gat__layer *layer, float *edge_t);

gat_status gat__family_forward(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                               const gat_inputs *inputs, float *out, float *attention,
                               gat_forward_times *times);

/* One layer's edge pass over every destination row i (family_edges.c):
 *   GATConv   e[h] = LeakyReLU(h_src[j, h, :] . att_src[h, :] + s_dst[i, h]
 *                              + (attr_e . edge_t)[h])
 *   GATv2Conv e[h] = sum_c att[h, c] LeakyReLU(h_src[j, h, c] + h_dst[i, h, c]
 *                                              + (attr_e . edge_t)[h, c])
 *   alpha = softmax over the row, out[i] = concat or mean_h (sum_j alpha h_src[j])
 *           + res[i] + bias.
 * h_src [N_src, H*C], h_dst [N, H*C] (GATv2), s_dst [N, H] (GATConv),
 * res [N, W] or NULL, edge_attr [E, D] in input order (row
 * gat__graph_edge_position(g, k) for CSR edge k; CSR order for a graph
 * without positions) or NULL, the added self-loops' attributes made from
 * it in the pass; edge_t: GATConv's folded edge term transposed [D, H],
 * GATv2's W_edge^T [D, H*C]; out [N, W], attention [E', H] or NULL
 * (loops_before as in gat__attention_row_offset). */
typedef struct gat__family_edges_args {
    const gat__layer *layer;
    const gat_graph *graph;
    const float *h_src, *h_dst, *s_dst, *res, *edge_attr, *edge_t;
    float *out, *attention;
    const int64_t *loops_before;
} gat__family_edges_args;

gat_status gat__family_edges(gat_context *ctx, const gat__family_edges_args *a);
/* The same over destination rows [first_row, last_row) only (a distributed
 * rank's interior rows, then the rest): each row's bits are those of the
 * whole pass. */
gat_status gat__family_edges_rows(gat_context *ctx, const gat__family_edges_args *a,
                                  int64_t first_row, int64_t last_row);

/* A forward's buffers, sized for the model's widest layer: h_src
 * [src_rows, H*C] (a distributed rank's own rows and its halo), s_dst,
 * between [rows, .], edge_t; h_dst [rows, H*C] and res [rows, W] only as
 * wide as the layers that have them need (x_dst: whether layer 0 may read
 * destination rows of its own). layer_h_dst is set by
 * gat__family_layer_terms (h_dst or h_src). */
typedef struct gat__family_buffers {
    float *h_src, *h_dst, *s_dst, *res, *edge_t, *between[2];
    const float *layer_h_dst;
} gat__family_buffers;

gat_status gat__family_buffers_alloc(gat_context *ctx, const gat_model *model, int64_t src_rows,
                                     int64_t rows, bool x_dst, gat__family_buffers *b);
void gat__family_buffers_free(gat_context *ctx, gat__family_buffers *b);

/* One layer's node terms: h_src for the n_src rows of x_src, h_dst, res
 * and GATConv's s_dst for the n rows of x_dst (x_dst == x_src: the same
 * rows), the edge-term matrix. Rows are independent: a row's bits do not
 * depend on n (the built-in GEMM). */
gat_status gat__family_layer_terms(gat_context *ctx, const gat__layer *layer,
                                   const float *x_src, int64_t n_src, const float *x_dst,
                                   int64_t n, gat__family_buffers *b);
/* The edge pass's arguments for a layer whose terms are in b. */
gat__family_edges_args gat__family_layer_edges(const gat__layer *layer, const gat_graph *g,
                                               const gat__family_buffers *b,
                                               const float *edge_attr, float *out,
                                               float *attention, const int64_t *loops_before);

#endif
