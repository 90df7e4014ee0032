/*
 * The classification loss: log-softmax + mean negative log-likelihood over a
 * set of nodes (torch's F.nll_loss(F.log_softmax(out)[idx], y[idx])), its
 * gradient, and accuracy. Computed in double, serially in index order: the
 * node sets are small (Cora trains on 140 nodes) and a fixed order gives
 * the same bits at any thread count.
 */
#include "train_kernels.h"

#include <math.h>
#include <string.h>

gat_status gat__check_targets(gat_context *ctx, const int64_t *labels, const int64_t *index,
                              int64_t count, int64_t num_nodes, int64_t classes)
{
    if (labels == NULL || index == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "loss: labels and index are required");
    if (count < 1)
        return gat__fail(ctx, GAT_ERR_INVALID, "loss: needs at least one node (count %lld)",
                         (long long)count);
    for (int64_t k = 0; k < count; k++) {
        const int64_t i = index[k];
        if (i < 0 || i >= num_nodes)
            return gat__fail(ctx, GAT_ERR_RANGE,
                             "loss: index[%lld] = %lld is not a node id in [0, %lld)",
                             (long long)k, (long long)i, (long long)num_nodes);
        if (labels[i] < 0 || labels[i] >= classes)
            return gat__fail(ctx, GAT_ERR_RANGE,
                             "loss: label of node %lld (index[%lld]) is %lld, not a class in "
                             "[0, %lld)",
                             (long long)i, (long long)k, (long long)labels[i],
                             (long long)classes);
    }
    return GAT_OK;
}

gat__nll_term gat__nll_row(const float *row, int64_t classes, int64_t y)
{
    int64_t best = 0;
    for (int64_t c = 1; c < classes; c++)
        if (row[c] > row[best])
            best = c;
    gat__nll_term t = {0.0, row[best], 0.0, best == y};
    for (int64_t c = 0; c < classes; c++)
        t.sum += exp((double)row[c] - t.max);
    /* -log_softmax(row)[y] = log sum_c exp(row[c]) - row[y], max shifted. */
    t.loss = t.max + log(t.sum) - (double)row[y];
    return t;
}

void gat__nll_row_gradient(const float *row, int64_t classes, int64_t y, const gat__nll_term *t,
                           int64_t count, float *d)
{
    /* d loss / d row[c] = (softmax(row)[c] - [c == y]) / count; a node
     * listed twice counts twice, as torch's indexing does. */
    for (int64_t c = 0; c < classes; c++) {
        double p = exp((double)row[c] - t->max) / t->sum;
        d[c] += (float)((p - (c == y ? 1.0 : 0.0)) / (double)count);
    }
}

void gat__nll_forward_backward(const float *logits, int64_t classes, const int64_t *labels,
                               const int64_t *index, int64_t count, gat_metrics *metrics,
                               float *d_logits, int64_t num_nodes)
{
    if (d_logits != NULL)
        memset(d_logits, 0, (size_t)(num_nodes * classes) * sizeof *d_logits);
    double total = 0.0;
    int64_t correct = 0;
    for (int64_t k = 0; k < count; k++) {
        const int64_t i = index[k], y = labels[i];
        const float *row = logits + i * classes;
        const gat__nll_term t = gat__nll_row(row, classes, y);
        total += t.loss;
        correct += t.correct;
        if (d_logits != NULL)
            gat__nll_row_gradient(row, classes, y, &t, count, d_logits + i * classes);
    }
    metrics->loss = total / (double)count;
    metrics->accuracy = (double)correct / (double)count;
}

gat_status gat_model_evaluate(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                              const float *x, int64_t num_nodes, int64_t in_features,
                              const int64_t *labels, const int64_t *index, int64_t count,
                              gat_metrics *metrics)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (model == NULL || graph == NULL || metrics == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "evaluate: model, graph and metrics are required");
    const int64_t classes = gat_model_out_features(model);
    gat_status status =
        gat__check_targets(ctx, labels, index, count, graph->num_nodes, classes);
    if (status != GAT_OK)
        return status;
    float *out = gat__alloc_array(ctx, graph->num_nodes * classes, sizeof *out, "model output",
                                  &status);
    if (out == NULL)
        return status;
    status = gat_model_forward(ctx, model, graph, x, num_nodes, in_features, out, NULL);
    if (status == GAT_OK)
        gat__nll_forward_backward(out, classes, labels, index, count, metrics, NULL, num_nodes);
    gat__free_raw(&ctx->allocator, out);
    return status;
}
