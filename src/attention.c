/*
 * The edge phase: per destination row, scores -> online softmax -> weighted
 * sum of source rows, fused so no E x H (or E x H x C) buffer exists. Rows
 * are independent and each is summed in a fixed order, so the result does
 * not depend on how rows are spread over threads.
 */
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

typedef struct row_state {
    float *restrict acc; /* [H*C] running sum of p * projected[j] */
    float *restrict max; /* [H] running maximum of e */
    float *restrict sum; /* [H] running sum of exp(e - max) */
    float *restrict p;   /* [H] this edge's exp(e - max) */
} row_state;

static inline float leaky_relu(float v, float slope) { return v > 0.0f ? v : v * slope; }

/* Folds edge j -> i into the row state. When e exceeds the running max,
 * the partial sums are rescaled to the new max: the online softmax. */
static inline void fold_edge(const row_state *s, const float *restrict projected,
                             const float *restrict score_src, const float *restrict dst_score,
                             int64_t j, int64_t heads, int64_t channels, float slope)
{
    const float *src_score = score_src + j * heads;
    for (int64_t h = 0; h < heads; h++) {
        float e = leaky_relu(src_score[h] + dst_score[h], slope);
        if (e > s->max[h]) {
            float scale = expf(s->max[h] - e); /* 0 for the first edge (max = -inf) */
            s->sum[h] *= scale;
            float *acc = s->acc + h * channels;
            for (int64_t c = 0; c < channels; c++)
                acc[c] *= scale;
            s->max[h] = e;
        }
        s->p[h] = expf(e - s->max[h]);
        s->sum[h] += s->p[h];
    }
    const float *src_row = projected + j * heads * channels;
    for (int64_t h = 0; h < heads; h++) {
        const float p = s->p[h];
        float *restrict acc = s->acc + h * channels;
        const float *restrict x = src_row + h * channels;
        for (int64_t c = 0; c < channels; c++)
            acc[c] += p * x[c];
    }
}

/* Writes alpha for the row once max and sum are final, in library order. */
static void write_row_attention(const gat_graph *g, bool add_loops, int64_t i,
                                const float *score_src, const float *dst_score, int64_t heads,
                                float slope, const row_state *s, float *restrict attention)
{
    int64_t out = 0;
    for (int64_t k = g->row_ptr[i]; k <= g->row_ptr[i + 1]; k++) {
        int64_t j;
        if (k == g->row_ptr[i + 1]) {
            if (!add_loops)
                break;
            j = i;
        } else {
            j = g->col[k];
            if (add_loops && j == i)
                continue;
        }
        for (int64_t h = 0; h < heads; h++) {
            float e = leaky_relu(score_src[j * heads + h] + dst_score[h], slope);
            attention[out * heads + h] = expf(e - s->max[h]) / s->sum[h];
        }
        out++;
    }
}

static void finish_row(const gat_layer_config *c, const float *bias, const row_state *s,
                       float *restrict out_row)
{
    const int64_t heads = c->heads, channels = c->channels;
    for (int64_t h = 0; h < heads; h++)
        s->p[h] = s->sum[h] > 0.0f ? 1.0f / s->sum[h] : 0.0f; /* empty row: aggregates nothing */
    if (c->concat) {
        for (int64_t h = 0; h < heads; h++)
            for (int64_t ch = 0; ch < channels; ch++)
                out_row[h * channels + ch] = s->acc[h * channels + ch] * s->p[h];
    } else {
        for (int64_t ch = 0; ch < channels; ch++) {
            float total = 0.0f;
            for (int64_t h = 0; h < heads; h++)
                total += s->acc[h * channels + ch] * s->p[h];
            out_row[ch] = total / (float)heads;
        }
    }
    if (bias != NULL) {
        int64_t width = gat__layer_out_width(c);
        for (int64_t k = 0; k < width; k++)
            out_row[k] += bias[k];
    }
}

gat_status gat__attention_forward(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const float *projected,
                                  const float *score_src, const float *score_dst, float *out,
                                  float *attention, const int64_t *loops_before)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, channels = c->channels, hc = heads * channels;
    const int64_t width = gat__layer_out_width(c);
    const bool add_loops = c->add_self_loops;
    const float slope = c->negative_slope;
    const int threads = ctx->num_threads;
    /* Per-thread row state, each thread's slice padded to whole cache lines. */
    const int64_t stride = ((hc + 3 * heads) + 15) / 16 * 16;
    gat_status status;
    float *scratch = gat__alloc_array(ctx, stride * threads, sizeof(float),
                                      "attention scratch", &status);
    if (scratch == NULL)
        return status;

#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float *mine = scratch + stride * gat__thread_id();
        row_state s = {mine, mine + hc, mine + hc + heads, mine + hc + 2 * heads};
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 64)
#endif
        for (int64_t i = 0; i < graph->num_nodes; i++) {
            memset(s.acc, 0, (size_t)hc * sizeof(float));
            for (int64_t h = 0; h < heads; h++) {
                s.max[h] = -INFINITY;
                s.sum[h] = 0.0f;
            }
            const float *dst_score = score_dst + i * heads;
            for (int64_t k = graph->row_ptr[i]; k < graph->row_ptr[i + 1]; k++) {
                int64_t j = graph->col[k];
                if (add_loops && j == i)
                    continue;
                fold_edge(&s, projected, score_src, dst_score, j, heads, channels, slope);
            }
            if (add_loops)
                fold_edge(&s, projected, score_src, dst_score, i, heads, channels, slope);
            if (attention != NULL) {
                int64_t offset = gat__attention_row_offset(graph, add_loops, loops_before, i);
                write_row_attention(graph, add_loops, i, score_src, dst_score, heads, slope, &s,
                                    attention + offset * heads);
            }
            finish_row(c, layer->bias, &s, out + i * width);
        }
    }
    gat__free_raw(&ctx->allocator, scratch);
    return GAT_OK;
}

void gat__activation_forward(gat_context *ctx, gat_activation activation, float *values,
                             int64_t n)
{
    if (activation == GAT_ACT_NONE)
        return;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ctx->num_threads) schedule(static)
#endif
    for (int64_t k = 0; k < n; k++) {
        float v = values[k];
        if (activation == GAT_ACT_ELU)
            values[k] = v > 0.0f ? v : expm1f(v);
        else
            values[k] = v > 0.0f ? v : 0.0f;
    }
}
