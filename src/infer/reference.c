/*
 * The plain twin of the forward pass: double precision, the textbook
 * order of operations (max, exp, sum, divide, scatter), over an explicit
 * edge list, for every layer kind as PyG writes it:
 *   GATConv   e = LeakyReLU(a_src . h_src[j] + a_dst . h_dst[i] + a_edge . (W_edge attr_e))
 *             message h_src[j], h_src = x_src W_src^T, h_dst = x_dst W_dst^T
 *   GATv2Conv e = a . LeakyReLU(xl[j] + xr[i] + W_edge attr_e)
 *             message xl[j], xl = x_src W_l^T + b_l, xr = x_dst W_r^T + b_r
 * then softmax over the destination's edges, sum, concat or mean of the
 * heads, + x_dst W_res^T, + bias. Slow and simple on purpose: it is what
 * the fast path is checked against (tests, `gat-bench --check`).
 */
#include "family.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

#define REF_FREE(p) GAT_FREE(&ctx->allocator, p)

/* out [n, rows] = x [n, cols] . w[rows, cols]^T (+ b [rows]); w NULL: zeros. */
static void linear(const double *x, int64_t n, int64_t cols, const float *w, const float *b,
                   int64_t rows, double *out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < rows; o++) {
            double acc = b != NULL ? (double)b[o] : 0.0;
            for (int64_t k = 0; k < cols && w != NULL; k++)
                acc += x[i * cols + k] * (double)w[o * cols + k];
            out[i * rows + o] = acc;
        }
}

static double leaky(double v, float slope) { return v > 0.0 ? v : v * (double)slope; }

/* One layer's input: x_src [n_src, F_in] and x_dst [n_dst, F_dst]. */
typedef struct ref_input {
    const double *x_src, *x_dst;
    const float *edge_attr; /* [E, D] input order, or NULL */
} ref_input;

/* The edge term of attention edge e (position pos, -1 for the loop of
 * dst): w_edge . attr [H*C] into we. */
static void edge_features(const gat__layer *layer, const gat_graph *g, const float *edge_attr,
                          int64_t pos, int64_t dst, double *attr, double *we)
{
    const gat_layer_config *c = &layer->config;
    const int64_t d = c->edge_dim, hc = c->heads * c->channels;
    if (pos >= 0)
        for (int64_t f = 0; f < d; f++)
            attr[f] = edge_attr[pos * d + f];
    else
        gat__loop_attribute(g, edge_attr, false, d, c->fill_value, c->fill_constant, dst, attr);
    linear(attr, 1, d, layer->weight_edge, NULL, hc, we);
}

static gat_status reference_layer(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const ref_input *in, double *out,
                                  float *attention)
{
    const gat_layer_config *c = &layer->config;
    const bool v2 = c->type == GAT_LAYER_GATV2;
    const int64_t n_src = graph->num_src_nodes, n = graph->num_nodes, f = c->in_features,
                  f_dst = gat_layer_dst_features(c), heads = c->heads, channels = c->channels,
                  hc = heads * channels, width = gat__layer_out_width(c),
                  d = c->edge_dim;
    const int64_t edges = gat_graph_num_attention_edges(graph, c->add_self_loops);
    gat_status status = GAT_OK;
    double *h_src = NULL, *h_dst = NULL, *logit = NULL, *row_max = NULL, *row_sum = NULL,
           *agg = NULL, *attr = NULL, *we = NULL;
    int64_t *src = NULL, *dst = NULL, *pos = NULL;
    if ((h_src = gat__alloc_array(ctx, n_src * hc, sizeof *h_src, "reference", &status)) == NULL ||
        (h_dst = gat__alloc_array(ctx, n * hc, sizeof *h_src, "reference", &status)) == NULL ||
        (logit = gat__alloc_array(ctx, edges * heads, sizeof *h_src, "reference", &status)) == NULL ||
        (row_max = gat__alloc_array(ctx, n * heads, sizeof *h_src, "reference", &status)) == NULL ||
        (row_sum = gat__calloc_array(ctx, n * heads, sizeof *h_src, "reference", &status)) == NULL ||
        (agg = gat__calloc_array(ctx, n * (hc > width ? hc : width), sizeof *h_src, "reference",
                                 &status)) == NULL ||
        (attr = gat__alloc_array(ctx, d + 1, sizeof *h_src, "reference", &status)) == NULL ||
        (we = gat__calloc_array(ctx, hc, sizeof *h_src, "reference", &status)) == NULL ||
        (src = gat__alloc_array(ctx, edges, sizeof *src, "reference", &status)) == NULL ||
        (dst = gat__alloc_array(ctx, edges, sizeof *dst, "reference", &status)) == NULL ||
        (pos = gat__alloc_array(ctx, edges, sizeof *pos, "reference", &status)) == NULL)
        goto done;
    if ((status = gat_graph_edges(ctx, graph, c->add_self_loops, src, dst)) != GAT_OK ||
        (status = gat_graph_edge_positions(ctx, graph, c->add_self_loops, pos)) != GAT_OK)
        goto done;

    /* Projections: GATConv's lin (or lin_src / lin_dst), GATv2's lin_l / lin_r. */
    linear(in->x_src, n_src, f, layer->weight, layer->bias_src, hc, h_src);
    if (layer->weight_dst != NULL)
        linear(in->x_dst, n, f_dst, layer->weight_dst, layer->bias_dst, hc, h_dst);
    else
        linear(in->x_dst, n, f_dst, layer->weight, layer->bias_src, hc, h_dst);

    for (int64_t k = 0; k < n * heads; k++)
        row_max[k] = -INFINITY;
    for (int64_t e = 0; e < edges; e++) {
        const double *xj = h_src + src[e] * hc, *xi = h_dst + dst[e] * hc;
        if (d > 0)
            edge_features(layer, graph, in->edge_attr, pos[e], dst[e], attr, we);
        for (int64_t hh = 0; hh < heads; hh++) {
            double v = 0.0;
            if (v2) {
                for (int64_t ch = 0; ch < channels; ch++) {
                    const int64_t o = hh * channels + ch;
                    v += (double)layer->att[o] * leaky(xj[o] + xi[o] + we[o], c->negative_slope);
                }
            } else {
                double s_src = 0.0, s_dst = 0.0, s_edge = 0.0;
                for (int64_t ch = 0; ch < channels; ch++) {
                    const int64_t o = hh * channels + ch;
                    s_src += xj[o] * (double)layer->att_src[o];
                    s_dst += xi[o] * (double)layer->att_dst[o];
                    if (d > 0)
                        s_edge += we[o] * (double)layer->att_edge[o];
                }
                v = leaky(s_src + s_dst + s_edge, c->negative_slope);
            }
            logit[e * heads + hh] = v;
            if (v > row_max[dst[e] * heads + hh])
                row_max[dst[e] * heads + hh] = v;
        }
    }
    for (int64_t e = 0; e < edges; e++)
        for (int64_t hh = 0; hh < heads; hh++) {
            double p = exp(logit[e * heads + hh] - row_max[dst[e] * heads + hh]);
            logit[e * heads + hh] = p;
            row_sum[dst[e] * heads + hh] += p;
        }
    for (int64_t e = 0; e < edges; e++)
        for (int64_t hh = 0; hh < heads; hh++) {
            double alpha = logit[e * heads + hh] / row_sum[dst[e] * heads + hh];
            if (attention != NULL)
                attention[e * heads + hh] = (float)alpha;
            for (int64_t ch = 0; ch < channels; ch++)
                agg[dst[e] * hc + hh * channels + ch] +=
                    alpha * h_src[src[e] * hc + hh * channels + ch];
        }
    /* The residual x_dst W_res^T, into h_dst (no longer needed; [n, width]
     * fits in [n, H*C]). */
    if (layer->weight_res != NULL)
        linear(in->x_dst, n, f_dst, layer->weight_res, NULL, width, h_dst);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < width; o++) {
            double v = 0.0;
            if (c->concat)
                v = agg[i * hc + o];
            else {
                for (int64_t hh = 0; hh < heads; hh++)
                    v += agg[i * hc + hh * channels + o];
                v /= (double)heads;
            }
            if (layer->weight_res != NULL)
                v += h_dst[i * width + o];
            out[i * width + o] = v + (layer->bias != NULL ? (double)layer->bias[o] : 0.0);
        }
done:
    REF_FREE(h_src);
    REF_FREE(h_dst);
    REF_FREE(logit);
    REF_FREE(row_max);
    REF_FREE(row_sum);
    REF_FREE(agg);
    REF_FREE(attr);
    REF_FREE(we);
    REF_FREE(src);
    REF_FREE(dst);
    REF_FREE(pos);
    return status;
}

static double *to_double(gat_context *ctx, const float *x, int64_t count, gat_status *status)
{
    double *out = gat__alloc_array(ctx, count, sizeof *out, "reference input", status);
    for (int64_t k = 0; out != NULL && k < count; k++)
        out[k] = x[k];
    return out;
}

gat_status gat_model_forward_reference_inputs(gat_context *ctx, const gat_model *model,
                                              const gat_graph *graph, const gat_inputs *inputs,
                                              float *out, float *attention)
{
    gat_status status = gat__forward_check_inputs(ctx, model, graph, inputs, out);
    if (status != GAT_OK)
        return status;
    const int64_t n = graph->num_nodes;
    double *input = NULL, *input_dst = NULL, *output = NULL;
    int64_t width = inputs->in_features;
    input = to_double(ctx, inputs->x, inputs->num_nodes * width, &status);
    if (input != NULL && inputs->x_dst != NULL)
        input_dst = to_double(ctx, inputs->x_dst, n * inputs->dst_features, &status);
    if (status != GAT_OK)
        goto done;
    for (int l = 0; l < model->num_layers; l++) {
        const gat__layer *layer = &model->layers[l];
        bool is_last = l + 1 == model->num_layers;
        width = gat__layer_out_width(&layer->config);
        output = gat__alloc_array(ctx, n * width, sizeof *output, "reference output", &status);
        if (output == NULL)
            break;
        ref_input in = {input, input_dst != NULL ? input_dst : input, inputs->edge_attr};
        status = reference_layer(ctx, layer, graph, &in, output, is_last ? attention : NULL);
        if (status != GAT_OK)
            break;
        if (!is_last && model->activation != GAT_ACT_NONE)
            for (int64_t k = 0; k < n * width; k++) {
                double v = output[k];
                output[k] = v > 0.0 ? v : model->activation == GAT_ACT_ELU ? expm1(v) : 0.0;
            }
        REF_FREE(input);
        REF_FREE(input_dst);
        input = output;
        output = NULL;
    }
    if (status == GAT_OK)
        for (int64_t k = 0; k < n * width; k++)
            out[k] = (float)input[k];
done:
    REF_FREE(input);
    REF_FREE(input_dst);
    REF_FREE(output);
    return status;
}

gat_status gat_model_forward_reference(gat_context *ctx, const gat_model *model,
                                       const gat_graph *graph, const float *x,
                                       int64_t num_nodes, int64_t in_features, float *out,
                                       float *attention)
{
    gat_inputs inputs;
    gat_inputs_init(&inputs, x, num_nodes, in_features);
    return gat_model_forward_reference_inputs(ctx, model, graph, &inputs, out, attention);
}
