/*
 * Receptive fields: which rows each layer must compute when a loss reads
 * only some nodes' outputs (Cora trains on 140 of 2708 nodes and validates
 * on 500). Walking back from the targets:
 *   E_{L-1} = the targets,
 *   P_l = E_l and the sources of E_l's edges (their features and scores),
 *   E_{l-1} = P_l (the rows of layer l's input that are read).
 * Computing only these rows gives every read value the same bits as a pass
 * over all rows (rows are independent, the masks are functions of the
 * element index), and the backward's zero rows are exactly the rows left
 * out. For Cora's training nodes that is 140 / 644 / 1664 rows instead of
 * 2708 at each step.
 *
 * Plans are cached for the last two target sets used (a fit alternates the
 * training and the validation nodes, and holds both); a set is recognised
 * by its contents.
 */
#include "trainer.h"

#include <string.h>

void gat__plan_free(const gat_allocator *allocator, gat__plan *p)
{
    GAT_FREE(allocator, p->index);
    GAT_FREE(allocator, p->ids);
    GAT_FREE(allocator, p->member);
    GAT_FREE(allocator, p->layers);
    GAT_FREE(allocator, p->source_ptr);
    GAT_FREE(allocator, p->source_edges);
    p->count = 0;
}

/* The ids of the rows marked in member [n], ascending; NULL (all rows)
 * when every row is marked. */
static const gat__rows *list_of(gat__rows *list, int32_t *ids, const uint8_t *member, int64_t n)
{
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        ids[count] = (int32_t)i; /* written always, kept by advancing count */
        count += member[i];
    }
    if (count == n)
        return NULL;
    *list = (gat__rows){ids, count, member};
    return list;
}

/* For each layer with a list, P_l's transposed edges into E_l, by list
 * position, in the views' order (ascending slot), so pass B of the
 * backward walks only edges that carry a gradient. */
static gat_status restrict_sources(gat_context *ctx, gat_trainer *t, gat__plan *p)
{
    const int layers = t->model->num_layers;
    const int64_t n = t->num_nodes;
    int64_t ptrs = 0, edges = 0;
    for (int l = 0; l < layers; l++) {
        const gat__layer_rows *lr = &p->layers[l];
        if (lr->edge == NULL)
            continue;
        const gat__edge_views *v = t->layers[l].views;
        const int64_t count = gat__row_count(lr->proj, n);
        ptrs += count + 1;
        for (int64_t r = 0; r < count; r++) {
            const int64_t j = gat__row_at(lr->proj, r);
            for (int64_t q = v->src_ptr[j]; q < v->src_ptr[j + 1]; q++)
                edges += lr->edge->member[v->dst[q]];
        }
    }
    gat_status status;
    if ((p->source_ptr = gat__alloc_array(ctx, ptrs, sizeof *p->source_ptr, "plan", &status)) ==
            NULL ||
        (p->source_edges = gat__alloc_array(ctx, 2 * edges, sizeof *p->source_edges, "plan",
                                            &status)) == NULL)
        return status;
    int64_t *ptr = p->source_ptr;
    int32_t *dst = p->source_edges, *offset = p->source_edges + edges;
    for (int l = 0; l < layers; l++) {
        gat__layer_rows *lr = &p->layers[l];
        if (lr->edge == NULL)
            continue;
        const gat__edge_views *v = t->layers[l].views;
        const int64_t count = gat__row_count(lr->proj, n);
        lr->sources_view = (gat__sources){ptr, dst, offset};
        lr->sources = &lr->sources_view;
        int64_t at = 0;
        ptr[0] = 0;
        for (int64_t r = 0; r < count; r++) {
            const int64_t j = gat__row_at(lr->proj, r);
            for (int64_t q = v->src_ptr[j]; q < v->src_ptr[j + 1]; q++)
                if (lr->edge->member[v->dst[q]]) {
                    dst[at] = v->dst[q];
                    offset[at++] = v->offset[q];
                }
            ptr[r + 1] = at;
        }
        ptr += count + 1;
        dst += at;
        offset += at;
    }
    return GAT_OK;
}

static gat_status build(gat_context *ctx, gat_trainer *t, const int64_t *index, int64_t count,
                        gat__plan *p)
{
    const int layers = t->model->num_layers;
    const int64_t n = t->num_nodes;
    gat_status status;
    gat__plan_free(&t->allocator, p);
    /* Lists 0 .. L: E_{L-1}, then P_l = E_{l-1} for l = L-1 .. 0. */
    if ((p->index = gat__alloc_array(ctx, count, sizeof *p->index, "plan", &status)) == NULL ||
        (p->ids = gat__alloc_array(ctx, (layers + 1) * n, sizeof *p->ids, "plan", &status)) ==
            NULL ||
        (p->member = gat__calloc_array(ctx, (layers + 1) * n, 1, "plan", &status)) == NULL ||
        (p->layers = gat__calloc_array(ctx, layers, sizeof *p->layers, "plan", &status)) ==
            NULL) {
        gat__plan_free(&t->allocator, p);
        return status;
    }
    memcpy(p->index, index, (size_t)count * sizeof *index);
    p->count = count;
    uint8_t *edge = p->member; /* E_{L-1} */
    for (int64_t k = 0; k < count; k++)
        edge[index[k]] = 1;
    p->layers[layers - 1].edge = list_of(&p->layers[layers - 1].edge_list, p->ids, edge, n);
    for (int l = layers - 1; l >= 0; l--) {
        const gat__edge_views *v = t->layers[l].views;
        const int list = layers - l; /* P_l's storage */
        uint8_t *proj = p->member + list * n;
        memcpy(proj, edge, (size_t)n);
        for (int64_t i = 0; i < n; i++)
            if (edge[i])
                for (int64_t k = v->row_ptr[i]; k < v->row_ptr[i + 1]; k++)
                    proj[v->src[k]] = 1;
        gat__layer_rows *lr = &p->layers[l];
        lr->proj = list_of(&lr->proj_list, p->ids + list * n, proj, n);
        if (l > 0) {
            gat__layer_rows *below = &p->layers[l - 1];
            below->edge_list = lr->proj_list;
            below->edge = lr->proj != NULL ? &below->edge_list : NULL;
        }
        edge = proj;
    }
    if ((status = restrict_sources(ctx, t, p)) != GAT_OK)
        gat__plan_free(&t->allocator, p); /* not left looking like a valid plan */
    return status;
}

gat_status gat__plan_for(gat_context *ctx, gat_trainer *t, const int64_t *index, int64_t count,
                         const gat__plan **plan)
{
    for (int k = 0; k < 2; k++) {
        gat__plan *p = &t->plans[k];
        if (p->index != NULL && p->count == count &&
            memcmp(p->index, index, (size_t)count * sizeof *index) == 0) {
            t->next_plan = k ^ 1; /* a new set replaces the other, least recently used */
            *plan = p;
            return GAT_OK;
        }
    }
    gat__plan *p = &t->plans[t->next_plan];
    t->next_plan ^= 1;
    gat_status status = build(ctx, t, index, count, p);
    *plan = status == GAT_OK ? p : NULL;
    return status;
}
