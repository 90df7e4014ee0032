/*
 * The input transformations a model expects on its features (recorded by
 * training in the model file, so inference applies what training did),
 * and row normalisation itself.
 */
#include "model.h"
#include "parallel.h"

#include <string.h>

gat_status gat_features_normalize_rows(gat_context *ctx, float *x, int64_t num_nodes,
                                       int64_t num_features)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (num_nodes < 0 || num_features < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "normalize: negative shape [%lld, %lld]",
                         (long long)num_nodes, (long long)num_features);
    if (x == NULL && num_nodes > 0 && num_features > 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "normalize: x is NULL");
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static)
#endif
    for (int64_t i = 0; i < num_nodes; i++) {
        float *row = x + i * num_features;
        /* Summed in double: a row of thousands of small counts would lose
         * its last bits in float; PyTorch's float sum is close enough to
         * this that the quotients agree to an ulp. */
        double sum = 0.0;
        for (int64_t k = 0; k < num_features; k++)
            sum += row[k];
        if (sum == 0.0)
            continue;
        const float total = (float)sum;
        for (int64_t k = 0; k < num_features; k++)
            row[k] /= total;
    }
    return GAT_OK;
}

unsigned gat_model_preprocessing(const gat_model *model)
{
    return model != NULL ? model->preprocess : 0u;
}

gat_status gat_model_set_preprocessing(gat_context *ctx, gat_model *model, unsigned steps)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (model == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "preprocessing: NULL model");
    if ((steps & ~(unsigned)GAT_PREPROCESS_ALL) != 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "preprocessing: unknown step bits 0x%x",
                         steps & ~(unsigned)GAT_PREPROCESS_ALL);
    model->preprocess = steps;
    return GAT_OK;
}

gat_status gat_model_preprocess(gat_context *ctx, const gat_model *model, float *x,
                                int64_t num_nodes, int64_t in_features)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (model == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "preprocess: NULL model");
    if (in_features != model->layers[0].config.in_features)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "preprocess: x has %lld columns but layer 0 expects %lld",
                         (long long)in_features, (long long)model->layers[0].config.in_features);
    if (model->preprocess & GAT_PREPROCESS_NORMALIZE_ROWS)
        return gat_features_normalize_rows(ctx, x, num_nodes, in_features);
    return GAT_OK;
}
