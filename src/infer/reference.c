/*
 * The plain twin of the forward pass: double precision, the textbook
 * order of operations (max, exp, sum, divide, scatter), over an explicit
 * edge list. Slow and simple on purpose: it is what the fast path is
 * checked against (tests, `gat-bench --check`).
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

#define REF_FREE(p) GAT_FREE(&ctx->allocator, p)

static gat_status reference_layer(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const double *x, double *out,
                                  float *attention)
{
    const gat_layer_config *c = &layer->config;
    const int64_t n = graph->num_nodes, f = c->in_features, heads = c->heads,
                  channels = c->channels, hc = heads * channels,
                  width = gat__layer_out_width(c);
    const int64_t edges = gat_graph_num_attention_edges(graph, c->add_self_loops);
    gat_status status = GAT_OK;
    double *h = NULL, *s_src = NULL, *s_dst = NULL, *logit = NULL, *row_max = NULL,
           *row_sum = NULL, *agg = NULL;
    int64_t *src = NULL, *dst = NULL;
    if ((h = gat__alloc_array(ctx, n * hc, sizeof *h, "reference", &status)) == NULL ||
        (s_src = gat__calloc_array(ctx, n * heads, sizeof *h, "reference", &status)) == NULL ||
        (s_dst = gat__calloc_array(ctx, n * heads, sizeof *h, "reference", &status)) == NULL ||
        (logit = gat__alloc_array(ctx, edges * heads, sizeof *h, "reference", &status)) == NULL ||
        (row_max = gat__alloc_array(ctx, n * heads, sizeof *h, "reference", &status)) == NULL ||
        (row_sum = gat__calloc_array(ctx, n * heads, sizeof *h, "reference", &status)) == NULL ||
        (agg = gat__calloc_array(ctx, n * hc, sizeof *h, "reference", &status)) == NULL ||
        (src = gat__alloc_array(ctx, edges, sizeof *src, "reference", &status)) == NULL ||
        (dst = gat__alloc_array(ctx, edges, sizeof *dst, "reference", &status)) == NULL)
        goto done;
    status = gat_graph_edges(ctx, graph, c->add_self_loops, src, dst);
    if (status != GAT_OK)
        goto done;

    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < hc; o++) {
            double acc = 0.0;
            for (int64_t k = 0; k < f; k++)
                acc += x[i * f + k] * (double)layer->weight[o * f + k];
            h[i * hc + o] = acc;
        }
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < hc; o++) {
            s_src[i * heads + o / channels] += h[i * hc + o] * (double)layer->att_src[o];
            s_dst[i * heads + o / channels] += h[i * hc + o] * (double)layer->att_dst[o];
        }
    for (int64_t k = 0; k < n * heads; k++)
        row_max[k] = -INFINITY;
    for (int64_t e = 0; e < edges; e++)
        for (int64_t hh = 0; hh < heads; hh++) {
            double v = s_src[src[e] * heads + hh] + s_dst[dst[e] * heads + hh];
            v = v > 0.0 ? v : v * (double)c->negative_slope;
            logit[e * heads + hh] = v;
            if (v > row_max[dst[e] * heads + hh])
                row_max[dst[e] * heads + hh] = v;
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
                    alpha * h[src[e] * hc + hh * channels + ch];
        }
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
            out[i * width + o] = v + (layer->bias != NULL ? (double)layer->bias[o] : 0.0);
        }
done:
    REF_FREE(h);
    REF_FREE(s_src);
    REF_FREE(s_dst);
    REF_FREE(logit);
    REF_FREE(row_max);
    REF_FREE(row_sum);
    REF_FREE(agg);
    REF_FREE(src);
    REF_FREE(dst);
    return status;
}

gat_status gat_model_forward_reference(gat_context *ctx, const gat_model *model,
                                       const gat_graph *graph, const float *x,
                                       int64_t num_nodes, int64_t in_features, float *out,
                                       float *attention)
{
    gat_status status =
        gat__forward_check_args(ctx, model, graph, x, num_nodes, in_features, out);
    if (status != GAT_OK)
        return status;
    const int64_t n = graph->num_nodes;
    double *input = NULL, *output = NULL;
    int64_t width = model->layers[0].config.in_features;
    input = gat__alloc_array(ctx, n * width, sizeof *input, "reference input", &status);
    if (input == NULL)
        return status;
    for (int64_t k = 0; k < n * width; k++)
        input[k] = x[k];
    for (int l = 0; l < model->num_layers; l++) {
        const gat__layer *layer = &model->layers[l];
        bool is_last = l + 1 == model->num_layers;
        width = gat__layer_out_width(&layer->config);
        output = gat__alloc_array(ctx, n * width, sizeof *output, "reference output", &status);
        if (output == NULL)
            break;
        status = reference_layer(ctx, layer, graph, input, output, is_last ? attention : NULL);
        if (status != GAT_OK)
            break;
        if (!is_last && model->activation != GAT_ACT_NONE)
            for (int64_t k = 0; k < n * width; k++) {
                double v = output[k];
                output[k] = v > 0.0 ? v : model->activation == GAT_ACT_ELU ? expm1(v) : 0.0;
            }
        REF_FREE(input);
        input = output;
        output = NULL;
    }
    if (status == GAT_OK)
        for (int64_t k = 0; k < n * width; k++)
            out[k] = (float)input[k];
    REF_FREE(input);
    REF_FREE(output);
    return status;
}
