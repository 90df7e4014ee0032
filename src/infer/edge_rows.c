/*
 * The edge pass by plain loops (edge_rows.h): any shape, any machine, and
 * the row ends every kernel shares. A row is edge_row.h's gat__edge_row,
 * the one training runs: two sweeps over its edges, a cheap one over the
 * sources' scores alone for the row maximum (4*H bytes an edge, the lines
 * the next sweep reuses, and no exp), then the one that exponentiates
 * every edge once against the final maximum and accumulates (no
 * running-max rescaling whenever it grows). The row loop is instantiated for
 * common (heads, channels) shapes so the compiler sees constant trip
 * counts and vectorizes across heads and channels; exp is a vectorizable
 * polynomial (fast_exp.h). No prefetching: asked for here, GCC 12
 * compiled the prefetches away (the object code had none), so these
 * loops have always run without, and are kept so.
 */
#include "edge_row.h"
#include "edge_rows.h"
#include "internal.h"

#include <math.h>

typedef gat__edge_pass edge_pass;
typedef gat__row_state row_state;

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
            const float e = gat__leaky_relu(a->score_src[j * heads + h] + dst_score[h],
                                            a->config->negative_slope);
            attention[out * heads + h] = gat__edge_exp(e, s->max[h], false) / s->sum[h];
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
    gat__row_normaliser(s->p, s->sum, heads);
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

/* The row loop over edge_row.h's row (the maximum from the sources'
 * scores alone, the unfused exp); heads and channels are compile-time
 * constants at the specialised call sites below. */
static GAT_ALWAYS_INLINE void attend_rows(const edge_pass *a, const row_state *s, int64_t first,
                                          int64_t last, const int64_t heads,
                                          const int64_t channels)
{
    const gat_graph *g = a->graph;
    const int64_t *restrict row_ptr = g->row_ptr;
    const gat__row_pass r = {.col = g->col, .projected = a->projected, .score_src = a->score_src,
                             .slope = a->config->negative_slope};
    for (int64_t i = first; i < last; i++) {
        const float *dst_score = a->score_dst + i * heads;
        if (a->config->add_self_loops)
            gat__edge_row(&r, s, i, row_ptr[i], row_ptr[i + 1], dst_score, heads, channels,
                          GAT__ROW_LOOPS);
        else
            gat__edge_row(&r, s, i, row_ptr[i], row_ptr[i + 1], dst_score, heads, channels, 0);
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
        const row_state local = {acc, max, sum, p, NULL};                                     \
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

