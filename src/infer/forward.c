/*
 * Model inference: argument checks, scratch management, and the layer loop
 * (projection -> fused attention -> activation), ping-ponging between two
 * buffers so no layer's output is copied.
 */
#include "family.h"
#include "kernels.h"

#include <string.h>
#include <time.h>

/* The widest layer's H*C and H, and the widest output of a layer that
 * feeds another (what the ping-pong buffers hold): the workspace's sizes. */
typedef struct workspace_widths {
    int64_t hc, heads, hidden;
} workspace_widths;

static workspace_widths widths_of(const gat_model *m)
{
    workspace_widths w = {0, 0, 0};
    for (int l = 0; l < m->num_layers; l++) {
        const gat_layer_config *c = &m->layers[l].config;
        if (c->heads * c->channels > w.hc)
            w.hc = c->heads * c->channels;
        if (c->heads > w.heads)
            w.heads = c->heads;
        if (l + 1 < m->num_layers && gat__layer_out_width(c) > w.hidden)
            w.hidden = gat__layer_out_width(c);
    }
    return w;
}

/* The context's scratch slots (src/core/internal.h) the forward uses. */
enum {
    SLOT_PROJECTED,  /* [N, max H*C] */
    SLOT_SCORE_SRC,  /* [N, max H], made on first need */
    SLOT_SCORE_DST,  /* [N, max H], made on first need */
    SLOT_BETWEEN,    /* two of [N, max hidden width], ping-pong between layers */
    SLOT_END = SLOT_BETWEEN + 2
};
_Static_assert(SLOT_END <= GAT_SCRATCH_SLOTS, "the context has a slot for every buffer");

/* One call's view of its context's scratch. */
typedef struct workspace {
    int64_t nodes;
    workspace_widths widths;
    float *projected;
    float *score_src, *score_dst;
    float *between[2];
} workspace;

/* Writes every new workspace page once from the thread that will use it,
 * in the partitions the kernels use (projection blocks, edge-phase chunks),
 * so that on a NUMA machine each page lands on its user's node. */
static void first_touch(gat_context *ctx, const workspace *w, const gat_graph *g,
                        bool projected, const bool between[2])
{
    const int64_t max_hc = w->widths.hc, max_hidden = w->widths.hidden;
    const int64_t n = w->nodes;
    const int64_t blocks = projected ? gat__projection_blocks(n) : 0;
    const int64_t chunks = (int64_t)ctx->num_threads * GAT_CHUNKS_PER_THREAD;
#ifdef _OPENMP
#pragma omp parallel num_threads(ctx->num_threads)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            int64_t row0 = b * GAT_PROJECTION_BLOCK;
            int64_t rows = gat__projection_block_rows(n, b);
            memset(w->projected + row0 * max_hc, 0, (size_t)(rows * max_hc) * sizeof(float));
        }
#ifdef _OPENMP
#pragma omp for schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            int64_t first = gat__graph_chunk_start(g, chunk, chunks);
            int64_t rows = gat__graph_chunk_start(g, chunk + 1, chunks) - first;
            for (int b = 0; b < 2; b++)
                if (between[b])
                    memset(w->between[b] + first * max_hidden, 0,
                           (size_t)(rows * max_hidden) * sizeof(float));
        }
    }
}

/* The projected features and ping-pong buffers, from ctx's scratch: reused
 * when large enough, so repeated calls allocate nothing. */
static gat_status ensure_workspace(gat_context *ctx, const gat_model *m, const gat_graph *g,
                                   workspace *w)
{
    memset(w, 0, sizeof *w);
    const int64_t nodes = g->num_nodes;
    w->nodes = nodes;
    w->widths = widths_of(m);
    size_t projected_count, hidden_count;
    if (!gat__mul_size((size_t)nodes, (size_t)w->widths.hc, &projected_count) ||
        !gat__mul_size((size_t)nodes, (size_t)w->widths.hidden, &hidden_count) ||
        projected_count > INT64_MAX || hidden_count > INT64_MAX)
        return gat__fail(ctx, GAT_ERR_OVERFLOW, "forward: %lld nodes overflow the buffers",
                         (long long)nodes);
    gat_status status;
    bool fresh_projected, fresh_between[2] = {false, false};
    w->projected = gat__scratch(ctx, SLOT_PROJECTED, (int64_t)projected_count, sizeof(float),
                                "projected features", &status, &fresh_projected);
    if (w->projected == NULL)
        goto fail;
    for (int b = 0; b < 2 && b + 1 < m->num_layers; b++) {
        w->between[b] = gat__scratch(ctx, SLOT_BETWEEN + b, (int64_t)hidden_count,
                                     sizeof(float), "hidden features", &status,
                                     &fresh_between[b]);
        if (w->between[b] == NULL)
            goto fail;
    }
    if (fresh_projected || fresh_between[0] || fresh_between[1])
        first_touch(ctx, w, g, fresh_projected, fresh_between);
    return GAT_OK;
fail:
    gat__scratch_release(ctx); /* a failed forward keeps nothing */
    return status;
}

/* The [N, max H] score arrays, made on first need: by a layer whose shape
 * the edge pass cannot score itself, or when attention is returned. */
static gat_status ensure_scores(gat_context *ctx, workspace *w)
{
    if (w->score_src != NULL)
        return GAT_OK;
    size_t count;
    if (!gat__mul_size((size_t)w->nodes, (size_t)w->widths.heads, &count) || count > INT64_MAX)
        return gat__fail(ctx, GAT_ERR_OVERFLOW, "forward: %lld nodes overflow the score arrays",
                         (long long)w->nodes);
    gat_status status;
    w->score_src = gat__scratch(ctx, SLOT_SCORE_SRC, (int64_t)count, sizeof(float),
                                "source scores", &status, NULL);
    if (w->score_src == NULL) {
        gat__scratch_release(ctx);
        return status;
    }
    w->score_dst = gat__scratch(ctx, SLOT_SCORE_DST, (int64_t)count, sizeof(float),
                                "destination scores", &status, NULL);
    if (w->score_dst == NULL) {
        w->score_src = NULL;
        gat__scratch_release(ctx); /* a failed forward keeps nothing */
    }
    return status;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

gat_status gat_model_forward(gat_context *ctx, const gat_model *model, const gat_graph *graph,
                             const float *x, int64_t num_nodes, int64_t in_features,
                             float *out, float *attention)
{
    return gat_model_forward_timed(ctx, model, graph, x, num_nodes, in_features, out,
                                    attention, NULL);
}

gat_status gat_model_forward_timed(gat_context *ctx, const gat_model *model,
                                   const gat_graph *graph, const float *x, int64_t num_nodes,
                                   int64_t in_features, float *out, float *attention,
                                   gat_forward_times *times)
{
    gat_inputs inputs;
    gat_inputs_init(&inputs, x, num_nodes, in_features);
    return gat_model_forward_inputs(ctx, model, graph, &inputs, out, attention, times);
}

/* The layer loop of 0.1's layers: projection, fused edge pass, activation. */
static gat_status forward_plain(gat_context *ctx, const gat_model *model,
                                const gat_graph *graph, const float *x, int64_t num_nodes,
                                float *out, float *attention, gat_forward_times *times)
{
    gat_status status;
    workspace ws;
    status = ensure_workspace(ctx, model, graph, &ws);
    if (status != GAT_OK)
        return status;
    workspace *w = &ws;
    const gat__layer *last = &model->layers[model->num_layers - 1];
    int64_t *loops_before = NULL;
    if (attention != NULL && last->config.add_self_loops) {
        status = gat__graph_loop_prefix(ctx, graph, &loops_before);
        if (status != GAT_OK)
            return status;
    }

    const float *input = x;
    for (int l = 0; l < model->num_layers; l++) {
        const gat__layer *layer = &model->layers[l];
        bool is_last = l + 1 == model->num_layers;
        float *output = is_last ? out : w->between[l % 2];
        float *layer_attention = is_last ? attention : NULL;
        const bool stored_scores =
            layer_attention != NULL || !gat_layer_scores_in_edge_pass(&layer->config);
        if (stored_scores && (status = ensure_scores(ctx, w)) != GAT_OK)
            break;
        float *score_src = stored_scores ? w->score_src : NULL;
        float *score_dst = stored_scores ? w->score_dst : NULL;
        double t0 = times != NULL ? seconds_now() : 0.0;
        status = gat__project_forward(ctx, layer, input, num_nodes, w->projected, score_src,
                                      score_dst);
        if (status != GAT_OK)
            break;
        double t1 = times != NULL ? seconds_now() : 0.0;
        status = gat__attention_forward(ctx, layer, graph, w->projected, score_src, score_dst,
                                        output, layer_attention, loops_before);
        if (status != GAT_OK)
            break;
        double t2 = times != NULL ? seconds_now() : 0.0;
        if (!is_last)
            gat__activation_forward(ctx, model->activation, output,
                                    num_nodes * gat__layer_out_width(&layer->config));
        if (times != NULL) {
            times->projection += t1 - t0;
            times->edges += t2 - t1;
            times->activation += seconds_now() - t2;
        }
        input = output;
    }
    gat__free_raw(&ctx->allocator, loops_before);
    return status;
}

gat_status gat_model_forward_inputs(gat_context *ctx, const gat_model *model,
                                    const gat_graph *graph, const gat_inputs *inputs,
                                    float *out, float *attention, gat_forward_times *times)
{
    gat_status status = gat__forward_check_inputs(ctx, model, graph, inputs, out);
    if (status != GAT_OK)
        return status;
    if (gat__model_is_plain(model, inputs))
        return forward_plain(ctx, model, graph, inputs->x, inputs->num_nodes, out, attention,
                             times);
    return gat__family_forward(ctx, model, graph, inputs, out, attention, times);
}
