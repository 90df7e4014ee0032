/*
 * The edge phase: per destination row, scores -> softmax -> weighted sum of
 * source rows, fused so no E x H (or E x H x C) buffer exists. Rows are
 * independent and each is summed in a fixed order, so the result does not
 * depend on how rows are spread over threads.
 *
 * Each row takes two sweeps over its edges: a cheap one over the sources'
 * scores alone for the row maximum, then the one that exponentiates every
 * edge once and accumulates (no running-max rescaling: see row_max). The
 * row loop is instantiated for common (heads, channels) shapes so the
 * compiler sees constant trip counts and vectorizes across heads and
 * channels; exp is a vectorizable polynomial (fast_exp.h); and the source
 * rows of coming edges are prefetched across row ends.
 */
#include "fast_exp.h"
#include "fma.h"
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

/* How many edges ahead source rows are prefetched, across row ends since
 * rows average a handful of edges. With the register kernels an edge takes
 * a few nanoseconds, so 8 no longer covered a DRAM latency: 16 took 4% off
 * the edge phase at R-MAT 100k and 4-6% at 1M (2 threads; 4, 24 and an
 * L2-then-L1 two-distance scheme were slower). */
#define PREFETCH_DISTANCE 16

typedef struct edge_pass {
    const gat_graph *graph;
    const float *projected, *score_src, *score_dst, *bias;
    const float *att_src, *att_dst; /* [H*C], for scores computed in the pass */
    float *out, *attention;
    const int64_t *loops_before;
    const gat_layer_config *config;
} edge_pass;

typedef struct row_state {
    float *restrict acc; /* [H*C] running sum of p * projected[j] */
    float *restrict max; /* [H] the row's maximum of e */
    float *restrict sum; /* [H] running sum of exp(e - max) */
    float *restrict p;   /* [H] this edge's exp(e - max) */
} row_state;

static inline float leaky_relu(float v, float slope) { return v > 0.0f ? v : v * slope; }

/* Asks for the source row and scores of a coming edge: every cache line
 * of the row, since a row of H*C floats spans several. */
static GAT_ALWAYS_INLINE void prefetch_source(const float *row, int64_t row_floats,
                                          const float *scores)
{
#if defined(__GNUC__)
    for (int64_t off = 0; off < row_floats; off += 16)
        __builtin_prefetch(row + off, 0, 3);
    if (scores != NULL)
        __builtin_prefetch(scores, 0, 3);
#else
    (void)row;
    (void)row_floats;
    (void)scores;
#endif
}

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
            if (k + PREFETCH_DISTANCE < prefetch_end) {
                int64_t ahead = col[k + PREFETCH_DISTANCE];
                prefetch_source(a->projected + ahead * hc, hc, a->score_src + ahead * heads);
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

/* The AVX-512 kernel where the vocabulary's back end is AVX-512 (simd.h):
 * GAT_NO_AVX512_INTRINSICS or GAT_SIMD_SCALAR (-Dc_args defines) leave it
 * out of AVX-512 builds, so the other kernels can be measured against it
 * on one machine. */
#if GAT_V_LANES != 16
#define GAT_HAVE_AVX512_ATTENTION 0
#else
#include "attention_avx512.h"
#endif
#include "attention_vec.h"

/* The register kernel in use, if any: the AVX-512 intrinsics where the
 * build has them, else the vector extensions. */
#if GAT_HAVE_AVX512_ATTENTION
#define REGISTER_KERNEL_SHAPE(H, C) gat__avx512_attention_shape((H), (C))
#define ATTEND_ROWS_REGISTERS attend_rows_avx512
#elif GAT_HAVE_VEC_KERNELS
#define REGISTER_KERNEL_SHAPE(H, C) gat__vec_shape((H), (C))
#define ATTEND_ROWS_REGISTERS attend_rows_vec
#endif

#ifdef REGISTER_KERNEL_SHAPE
/* The register kernel instantiated for one shape: heads and channels
 * constants, or h and c read at run time. */
#define REGISTER_ROWS(NAME, H, C)                                                             \
    static void NAME(const edge_pass *a, const row_state *s, int64_t first, int64_t last)    \
    {                                                                                         \
        const int64_t h = a->config->heads, c = a->config->channels;                          \
        (void)h;                                                                              \
        (void)c;                                                                              \
        if (a->score_src == NULL)                                                             \
            ATTEND_ROWS_REGISTERS(a, s, first, last, (H), (C), true);                         \
        else                                                                                  \
            ATTEND_ROWS_REGISTERS(a, s, first, last, (H), (C), false);                        \
    }

/* The shapes instantiated with constant heads and channels. */
#define REGISTER_FIXED_SHAPES(X)                                                              \
    X(8, 8)                                                                                   \
    X(8, 16)                                                                                  \
    X(4, 16)                                                                                  \
    X(1, 16)                                                                                  \
    X(4, 32)                                                                                  \
    X(2, 32)                                                                                  \
    X(1, 32)                                                                                  \
    X(1, 64)
#define FIXED(H, C) REGISTER_ROWS(registers_##H##_##C, H, C)
REGISTER_FIXED_SHAPES(FIXED)
#undef FIXED
REGISTER_ROWS(registers_h_8, h, 8)
REGISTER_ROWS(registers_h_16, h, 16)
REGISTER_ROWS(registers_h_c, h, c)
#undef REGISTER_ROWS

/* Rows of a shape the register kernel takes (REGISTER_KERNEL_SHAPE); s is
 * where it leaves each row's max, sum and acc. Every such shape runs
 * here, as the score arrays do not exist for them
 * (gat_layer_scores_in_edge_pass). */
static void attend_rows_registers(const edge_pass *a, const row_state *s, int64_t first,
                                  int64_t last)
{
    const int64_t h = a->config->heads, c = a->config->channels;
#define SHAPE(H, C)                                                                           \
    if (h == (H) && c == (C)) {                                                               \
        registers_##H##_##C(a, s, first, last);                                               \
        return;                                                                               \
    }
    REGISTER_FIXED_SHAPES(SHAPE)
#undef SHAPE
#undef REGISTER_FIXED_SHAPES
    switch (c) {
    case 8: registers_h_8(a, s, first, last); return;
    case 16: registers_h_16(a, s, first, last); return;
    default: registers_h_c(a, s, first, last); return;
    }
}
#endif

static void attend_rows_dispatch(const edge_pass *a, const row_state *s, int64_t first,
                                 int64_t last)
{
    const int64_t h = a->config->heads, c = a->config->channels;
#ifdef REGISTER_KERNEL_SHAPE
    if (REGISTER_KERNEL_SHAPE(h, c)) {
        attend_rows_registers(a, s, first, last);
        return;
    }
#endif
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

bool gat_layer_scores_in_edge_pass(const gat_layer_config *config)
{
#ifdef REGISTER_KERNEL_SHAPE
    return REGISTER_KERNEL_SHAPE(config->heads, config->channels);
#else
    (void)config;
    return false;
#endif
}

gat_status gat__attention_forward(gat_context *ctx, const gat__layer *layer,
                                  const gat_graph *graph, const float *projected,
                                  const float *score_src, const float *score_dst, float *out,
                                  float *attention, const int64_t *loops_before)
{
    return gat__attention_forward_rows(ctx, layer, graph, 0, graph->num_nodes, projected,
                                       score_src, score_dst, out, attention, loops_before);
}

gat_status gat__attention_forward_rows(gat_context *ctx, const gat__layer *layer,
                                       const gat_graph *graph, int64_t first, int64_t last,
                                       const float *projected, const float *score_src,
                                       const float *score_dst, float *out, float *attention,
                                       const int64_t *loops_before)
{
    const gat_layer_config *c = &layer->config;
    const int64_t heads = c->heads, hc = heads * c->channels;
    const int threads = ctx->num_threads;
    if ((score_src == NULL || score_dst == NULL) &&
        (attention != NULL || !gat_layer_scores_in_edge_pass(c)))
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "attention: node scores are required for this layer shape");
    /* Per-thread row state, each thread's slice padded to whole cache lines. */
    const int64_t stride = ((hc + 3 * heads) + 15) / 16 * 16;
    gat_status status;
    float *scratch = gat__alloc_array(ctx, stride * threads, sizeof(float),
                                      "attention scratch", &status);
    if (scratch == NULL)
        return status;
    const edge_pass pass = {graph,     projected,    score_src,      score_dst,
                            layer->bias, layer->att_src, layer->att_dst, out,
                            attention, loops_before, c};
    const int64_t chunks = (int64_t)threads * GAT_CHUNKS_PER_THREAD;

#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float *mine = scratch + stride * gat__thread_id();
        row_state s = {mine, mine + hc, mine + hc + heads, mine + hc + 2 * heads};
#ifdef _OPENMP
#pragma omp for schedule(static, GAT_CHUNKS_PER_THREAD)
#endif
        for (int64_t chunk = 0; chunk < chunks; chunk++)
            attend_rows_dispatch(
                &pass, &s, gat__balanced_range_start(graph->row_ptr, first, last, chunk, chunks),
                gat__balanced_range_start(graph->row_ptr, first, last, chunk + 1, chunks));
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
