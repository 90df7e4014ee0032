/*
 * The attention edges of the GAT family's trainer, and the attributes of
 * the self-loops it adds (PyG's fill_value) with their backward.
 *
 * The views come from the public calls (gat_graph_edges for the library
 * order, gat_graph_edge_positions for each slot's input edge), so a
 * bipartite graph, whose sources outnumber or undercut its rows, needs
 * nothing special here: rows are destinations, the by-source view has
 * N_src lists.
 */
#include "train_family.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

void gat__trainfam_edges_free(const gat_allocator *allocator, gat__trainfam_edges *e)
{
    GAT_FREE(allocator, e->row_ptr);
    GAT_FREE(allocator, e->src);
    GAT_FREE(allocator, e->pos);
    GAT_FREE(allocator, e->attr);
    GAT_FREE(allocator, e->src_ptr);
    GAT_FREE(allocator, e->by_src);
    GAT_FREE(allocator, e->by_src_dst);
    e->built = false;
}

gat_status gat__trainfam_edges_build(gat_context *ctx, const gat_graph *graph, bool add_self_loops,
                                     const float *edge_attr, int64_t dim,
                                     gat__trainfam_edges *e)
{
    const bool positions = edge_attr != NULL;
    memset(e, 0, sizeof *e);
    const int64_t n_dst = gat_graph_num_nodes(graph), n_src = gat_graph_num_src_nodes(graph);
    const int64_t slots = gat_graph_num_attention_edges(graph, add_self_loops);
    int64_t *src = NULL, *dst = NULL;
    gat_status status;
    GAT__ALLOC_OR_FAIL(ctx, src, slots, false, "attention edge sources", status);
    GAT__ALLOC_OR_FAIL(ctx, dst, slots, false, "attention edge targets", status);
    GAT__ALLOC_OR_FAIL(ctx, e->row_ptr, n_dst + 1, true, "attention edge offsets", status);
    GAT__ALLOC_OR_FAIL(ctx, e->src, slots, false, "attention edge sources", status);
    if (positions) {
        if (dim > 0 && slots > INT64_MAX / dim) {
            status = gat__fail(ctx, GAT_ERR_OVERFLOW, "trainer: %lld edges x %lld attributes "
                               "overflow", (long long)slots, (long long)dim);
            goto fail;
        }
        GAT__ALLOC_OR_FAIL(ctx, e->pos, slots, false, "attention edge positions", status);
        GAT__ALLOC_OR_FAIL(ctx, e->attr, slots * dim, false, "edge attributes in slot order",
                           status);
    }
    GAT__ALLOC_OR_FAIL(ctx, e->src_ptr, n_src + 1, true, "transposed edge offsets", status);
    GAT__ALLOC_OR_FAIL(ctx, e->by_src, slots, false, "transposed edge slots", status);
    GAT__ALLOC_OR_FAIL(ctx, e->by_src_dst, slots, false, "transposed edge targets", status);
    if ((status = gat_graph_edges(ctx, graph, add_self_loops, src, dst)) != GAT_OK ||
        (positions &&
         (status = gat_graph_edge_positions(ctx, graph, add_self_loops, e->pos)) != GAT_OK))
        goto fail;
    if (positions) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, slots * dim)) schedule(static)
#endif
        for (int64_t p = 0; p < slots; p++)
            if (e->pos[p] >= 0)
                memcpy(e->attr + p * dim, edge_attr + e->pos[p] * dim, (size_t)dim * sizeof(float));
            else
                memset(e->attr + p * dim, 0, (size_t)dim * sizeof(float));
    }
    /* Library order is destination-major: rows are runs of equal dst. */
    for (int64_t p = 0; p < slots; p++) {
        e->src[p] = (int32_t)src[p];
        e->row_ptr[dst[p] + 1]++;
        e->src_ptr[src[p] + 1]++;
    }
    for (int64_t i = 0; i < n_dst; i++) {
        const int64_t degree = e->row_ptr[i + 1];
        e->max_degree = degree > e->max_degree ? degree : e->max_degree;
        e->row_ptr[i + 1] += e->row_ptr[i];
    }
    for (int64_t j = 0; j < n_src; j++)
        e->src_ptr[j + 1] += e->src_ptr[j];
    /* A counting sort by source, the slots visited in ascending order, with
     * the offsets as cursors (shifted back afterwards). */
    for (int64_t p = 0; p < slots; p++) {
        const int64_t at = e->src_ptr[src[p]]++;
        e->by_src[at] = p;
        e->by_src_dst[at] = (int32_t)dst[p];
    }
    for (int64_t j = n_src; j > 0; j--)
        e->src_ptr[j] = e->src_ptr[j - 1];
    e->src_ptr[0] = 0;
    e->num_src = n_src;
    e->num_dst = n_dst;
    e->num_slots = slots;
    e->num_loops = add_self_loops ? (n_src < n_dst ? n_src : n_dst) : 0;
    e->built = true;
    gat__free_raw(&ctx->allocator, src);
    gat__free_raw(&ctx->allocator, dst);
    return GAT_OK;
fail:
    gat__free_raw(&ctx->allocator, src);
    gat__free_raw(&ctx->allocator, dst);
    gat__trainfam_edges_free(&ctx->allocator, e);
    return status;
}

/* Row i's input edges are its slots with a position (the added loop has
 * none and comes last). */
#define FOR_ROW_INPUT_EDGES(e, i, pos_var, ...)                                 \
    for (int64_t p_ = (e)->row_ptr[i]; p_ < (e)->row_ptr[(i) + 1]; p_++) {      \
        const int64_t pos_var = (e)->pos[p_];                                   \
        if (pos_var < 0)                                                        \
            continue;                                                           \
        __VA_ARGS__                                                             \
    }

void gat__trainfam_fill_forward(gat_context *ctx, const gat__trainfam_edges *e, const gat_layer_config *c,
                       const float *edge_attr, float *loop_attr)
{
    const int64_t dim = c->edge_dim, loops = e->num_loops;
#ifdef _OPENMP
#pragma omp parallel for num_threads(gat__team(ctx, 4 * (loops + e->num_slots) * dim)) \
    schedule(static)
#endif
    for (int64_t i = 0; i < loops; i++) {
        float *out = loop_attr + i * dim;
        for (int64_t d = 0; d < dim; d++) {
            float acc = c->fill_value == GAT_FILL_MUL ? 1.0f : 0.0f;
            int64_t count = 0;
            FOR_ROW_INPUT_EDGES(e, i, pos, {
                const float v = edge_attr[pos * dim + d];
                switch (c->fill_value) {
                case GAT_FILL_MAX: acc = count == 0 || v > acc ? v : acc; break;
                case GAT_FILL_MIN: acc = count == 0 || v < acc ? v : acc; break;
                case GAT_FILL_MUL: acc *= v; break;
                default: acc += v; break;
                }
                count++;
            });
            if (c->fill_value == GAT_FILL_MEAN && count > 0)
                acc /= (float)count;
            out[d] = c->fill_value == GAT_FILL_CONSTANT ? c->fill_constant : acc;
        }
    }
}

void gat__trainfam_fill_backward_row(const gat__trainfam_edges *e, const gat_layer_config *c,
                            const float *edge_attr, const float *loop_attr, int64_t i,
                            const float *d_loop, float *d_edge_attr)
{
    const int64_t dim = c->edge_dim;
    if (i >= e->num_loops || c->fill_value == GAT_FILL_CONSTANT)
        return;
    int64_t degree = 0;
    FOR_ROW_INPUT_EDGES(e, i, pos, { (void)pos; degree++; });
    if (degree == 0) /* the loop's attribute is a constant (0, or 1 for mul) */
        return;
    for (int64_t d = 0; d < dim; d++) {
        const float g = d_loop[d], value = loop_attr[i * dim + d];
        switch (c->fill_value) {
        case GAT_FILL_MEAN:
        case GAT_FILL_ADD: {
            const float share = c->fill_value == GAT_FILL_MEAN ? g / (float)degree : g;
            FOR_ROW_INPUT_EDGES(e, i, pos, { d_edge_attr[pos * dim + d] += share; });
            break;
        }
        case GAT_FILL_MAX:
        case GAT_FILL_MIN: {
            /* torch's scatter_reduce amax / amin: split evenly among ties. */
            int64_t ties = 0;
            FOR_ROW_INPUT_EDGES(e, i, pos, { ties += edge_attr[pos * dim + d] == value; });
            const float share = g / (float)ties;
            FOR_ROW_INPUT_EDGES(e, i, pos, {
                if (edge_attr[pos * dim + d] == value)
                    d_edge_attr[pos * dim + d] += share;
            });
            break;
        }
        case GAT_FILL_MUL: {
            /* The product of the other edges' values, without dividing by
             * a value that may be zero. */
            int64_t zeros = 0;
            float nonzero = 1.0f;
            FOR_ROW_INPUT_EDGES(e, i, pos, {
                const float v = edge_attr[pos * dim + d];
                if (v == 0.0f)
                    zeros++;
                else
                    nonzero *= v;
            });
            FOR_ROW_INPUT_EDGES(e, i, pos, {
                const float v = edge_attr[pos * dim + d];
                float others;
                if (v == 0.0f)
                    others = zeros == 1 ? nonzero : 0.0f;
                else
                    others = zeros > 0 ? 0.0f : nonzero / v;
                d_edge_attr[pos * dim + d] += g * others;
            });
            break;
        }
        default:
            break;
        }
    }
}
