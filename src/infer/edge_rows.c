/*
 * The edge pass by plain loops (edge_rows.h): any shape, any machine, and
 * the row ends every kernel shares. Each row takes two sweeps over its
 * edges: a cheap one over the sources' scores alone for the row maximum,
 * then the one that exponentiates every edge once and accumulates (no
 * running-max rescaling: see row_max). The row loop is instantiated for
 * common (heads, channels) shapes so the compiler sees constant trip
 * counts and vectorizes across heads and channels; exp is a vectorizable
 * polynomial (fast_exp.h); and the source rows of coming edges are
 * prefetched across row ends.
 */
#include "edge_rows.h"
#include "fast_exp.h"
#include "fma.h"
#include "internal.h"

#include <math.h>

typedef gat__edge_pass edge_pass;
typedef gat__row_state row_state;

static inline float leaky_relu(float v, float slope) { return v > 0.0f ? v : v * slope; }

/* The row's maximum of e = LeakyReLU(s_src[j] + s_dst[i]) per head, from
 * the sources' scores alone: rounding and LeakyReLU are both monotone, so
 * LeakyReLU(max_j s_src[j] + s_dst[i]) is the same float as max_j e. This
 * sweep reads 4*H bytes per edge (the lines the next sweep reuses) and no
 * exp, and lets that sweep exponentiate each edge once against the final
 * maximum instead of rescaling the running sums whenever it grows. */
static GAT_ALWAYS_INLINE void row_max(const row_state *s, const int32_t *restrict col, int64_t begin,
                                  int64_t end, int64_t i, bool add_loops,
                                  const float *restrict score_src,
                                  const float *restrict dst_score, const int64_t heads,
                                  float slope)
{
    for (int64_t h = 0; h < heads; h++)
        s->max[h] = add_loops ? score_src[i * heads + h] : -INFINITY;
    for (int64_t k = begin; k < end; k++) {
        const int64_t j = col[k];
        const float *restrict src_score = score_src + j * heads;
        for (int64_t h = 0; h < heads; h++)
            s->max[h] = src_score[h] > s->max[h] ? src_score[h] : s->max[h];
    }
    for (int64_t h = 0; h < heads; h++)
        s->max[h] = leaky_relu(s->max[h] + dst_score[h], slope);
}

/* Folds edge j -> i into the row state: p = exp(e - max) against the
 * row's final maximum, added to the sum and, times the source row, to the
 * accumulator. */
static GAT_ALWAYS_INLINE void fold_edge(const row_state *s, const float *restrict projected,
                                    const float *restrict score_src,
                                    const float *restrict dst_score, int64_t j,
                                    const int64_t heads, const int64_t channels, float slope)
{
    const float *restrict src_score = score_src + j * heads;
    for (int64_t h = 0; h < heads; h++) {
        float e = leaky_relu(src_score[h] + dst_score[h], slope);
        s->p[h] = gat__exp_nonpositive(e - s->max[h]);
        s->sum[h] += s->p[h];
    }
    const float *restrict src_row = projected + j * heads * channels;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t c = 0; c < channels; c++)
            s->acc[h * channels + c] =
                GAT_FMA(s->p[h], src_row[h * channels + c], s->acc[h * channels + c]);
}

/* Writes alpha for the row once max and sum are final, in library order. */
static void write_row_attention(const edge_pass *a, int64_t i, const row_state *s)
{
    const gat_graph *g = a->graph;
    const bool add_loops = a->config->add_self_loops;
    const int64_t heads = a->config->heads;
    const float *dst_score = a->score_dst + i * heads;
    float *attention =
        a->attention + gat__attention_row_offset(g, add_loops, a->loops_before, i) * heads;
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
            float e = leaky_relu(a->score_src[j * heads + h] + dst_score[h],
                                 a->config->negative_slope);
            attention[out * heads + h] = gat__exp_nonpositive(e - s->max[h]) / s->sum[h];
        }
        out++;
    }
}

static GAT_ALWAYS_INLINE void finish_row(const edge_pass *a, const row_state *s, int64_t i,
                                     const int64_t heads, const int64_t channels)
{
    const gat_layer_config *c = a->config;
    const int64_t width = c->concat ? heads * channels : channels;
    float *restrict out_row = a->out + i * width;
    for (int64_t h = 0; h < heads; h++)
        s->p[h] = s->sum[h] > 0.0f ? 1.0f / s->sum[h] : 0.0f; /* empty row aggregates nothing */
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
    if (a->bias != NULL)
        for (int64_t k = 0; k < width; k++)
            out_row[k] += a->bias[k];
}

/* The row loop; heads and channels are compile-time constants at the
 * specialised call sites below. */
static GAT_ALWAYS_INLINE void attend_rows(const edge_pass *a, const row_state *s, int64_t first,
                                      int64_t last, const int64_t heads,
                                      const int64_t channels)
{
    const gat_graph *g = a->graph;
    const bool add_loops = a->config->add_self_loops;
    const float slope = a->config->negative_slope;
    const int64_t *restrict row_ptr = g->row_ptr;
    const int32_t *restrict col = g->col;
    const int64_t hc = heads * channels;
    const int64_t prefetch_end = row_ptr[last];
    for (int64_t i = first; i < last; i++) {
        for (int64_t k = 0; k < hc; k++)
            s->acc[k] = 0.0f;
        for (int64_t h = 0; h < heads; h++)
            s->sum[h] = 0.0f;
        const float *dst_score = a->score_dst + i * heads;
        const int64_t begin = row_ptr[i], end = row_ptr[i + 1];
        /* An input self-loop only raises the maximum to s_src[i], which
         * the re-added loop brings anyway, so the sweep need not skip it. */
        row_max(s, col, begin, end, i, add_loops, a->score_src, dst_score, heads, slope);
        for (int64_t k = begin; k < end; k++) {
            if (k + GAT_EDGE_PREFETCH_DISTANCE < prefetch_end) {
                int64_t ahead = col[k + GAT_EDGE_PREFETCH_DISTANCE];
                gat__prefetch_source(a->projected + ahead * hc, hc, a->score_src + ahead * heads);
            }
            int64_t j = col[k];
            if (add_loops && j == i)
                continue;
            fold_edge(s, a->projected, a->score_src, dst_score, j, heads, channels, slope);
        }
        if (add_loops)
            fold_edge(s, a->projected, a->score_src, dst_score, i, heads, channels, slope);
        if (a->attention != NULL)
            write_row_attention(a, i, s);
        finish_row(a, s, i, heads, channels);
    }
}

void gat__edge_finish_row(const edge_pass *a, const row_state *s, int64_t i)
{
    if (a->attention != NULL)
        write_row_attention(a, i, s);
    finish_row(a, s, i, a->config->heads, a->config->channels);
}

void gat__edge_rows_plain(const edge_pass *a, const row_state *s, int64_t first, int64_t last)
{
    const int64_t h = a->config->heads, c = a->config->channels;
    /* The plain loops. Fixed-shape state lives in local arrays the
     * compiler can keep in registers; the scratch state serves every
     * other shape. */
#define SHAPE(H, C)                                                                           \
    if (h == (H) && c == (C)) {                                                               \
        float acc[(H) * (C)], max[H], sum[H], p[H];                                           \
        const row_state local = {acc, max, sum, p};                                           \
        attend_rows(a, &local, first, last, (H), (C));                                        \
        return;                                                                               \
    }
    SHAPE(8, 8)
    SHAPE(1, 8)
    SHAPE(8, 16)
    SHAPE(4, 16)
    SHAPE(1, 16)
    SHAPE(4, 32)
    SHAPE(2, 32)
    SHAPE(1, 32)
    SHAPE(1, 64)
    SHAPE(8, 4)
#undef SHAPE
    switch (c) {
    case 4: attend_rows(a, s, first, last, h, 4); return;
    case 8: attend_rows(a, s, first, last, h, 8); return;
    case 16: attend_rows(a, s, first, last, h, 16); return;
    case 32: attend_rows(a, s, first, last, h, 32); return;
    case 64: attend_rows(a, s, first, last, h, 64); return;
    default: attend_rows(a, s, first, last, h, c); return;
    }
}

