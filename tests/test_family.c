/*
 * The GAT family's API (issue 15): layer configurations and their tensors
 * through create, init, save and load; bipartite graphs and edge
 * positions; the forward's input checks.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <gat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static gat_context *ctx;
static char dir[64];

static void setup(void)
{
    ctx = test_context(1, NULL);
    test_make_temp_dir(dir, sizeof dir, "gat-family");
}

static void teardown(void)
{
    test_remove_dir(dir);
    gat_context_destroy(&ctx);
}

TestSuite(family, .init = setup, .fini = teardown);

#define OK(call)                                                                              \
    do {                                                                                      \
        gat_status s_ = (call);                                                               \
        cr_assert_eq(s_, GAT_OK, "%s: %s", #call, gat_context_message(ctx));                  \
    } while (0)

/* Element counts of every tensor of params under config, NULL ones 0. */
static void tensor_counts(const gat_layer_config *c, const gat_layer_params *p, int64_t n[11])
{
    const int64_t hc = c->heads * c->channels, w = c->concat ? hc : c->channels;
    const int64_t fd = gat_layer_dst_features(c);
    const float *ptr[11] = {p->weight,   p->att_src,  p->att_dst,     p->bias,
                            p->att,      p->weight_dst, p->bias_src, p->bias_dst,
                            p->weight_edge, p->att_edge, p->weight_res};
    const int64_t size[11] = {hc * c->in_features, hc, hc, w, hc, hc * fd, hc, hc,
                              hc * c->edge_dim, hc, w * fd};
    for (int k = 0; k < 11; k++)
        n[k] = ptr[k] != NULL ? size[k] : 0;
}

static const float *tensor_at(const gat_layer_params *p, int k)
{
    const float *ptr[11] = {p->weight,   p->att_src,  p->att_dst,     p->bias,
                            p->att,      p->weight_dst, p->bias_src, p->bias_dst,
                            p->weight_edge, p->att_edge, p->weight_res};
    return ptr[k];
}

/* One model of every kind of layer: create, glorot, save, load, compare. */
Test(family, every_layer_kind_saves_and_loads)
{
    gat_layer_config c[4];
    gat_layer_config_init(&c[0], 6, 2, 3);
    c[0].type = GAT_LAYER_GATV2;
    c[0].edge_dim = 4;
    c[0].fill_value = GAT_FILL_CONSTANT;
    c[0].fill_constant = 0.5f;
    c[0].residual = true;
    gat_layer_config_init(&c[1], 6, 2, 3);
    c[1].edge_dim = 4;
    c[1].fill_value = GAT_FILL_MAX;
    c[1].residual = true;
    c[1].concat = false;
    gat_layer_config_init(&c[2], 3, 1, 5);
    c[2].type = GAT_LAYER_GATV2;
    c[2].share_weights = true;
    c[2].bias = false;
    gat_layer_config_init(&c[3], 5, 2, 2);
    c[3].dst_features = 5; /* PyG's tuple (5, 5): two projections */
    gat_model *m = NULL, *back = NULL;
    OK(gat_model_create(ctx, &m, 4, c, GAT_ACT_RELU));
    OK(gat_model_init_glorot(ctx, m, 7));
    const char *path = test_path(dir, "family.safetensors");
    OK(gat_model_save(ctx, m, path));
    OK(gat_model_load(ctx, &back, path));
    cr_assert_eq(gat_model_num_layers(back), 4);
    for (int l = 0; l < 4; l++) {
        gat_layer_config a, b;
        gat_layer_params pa, pb;
        OK(gat_model_layer_config(m, l, &a));
        OK(gat_model_layer_config(back, l, &b));
        cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "layer %d's configuration", l);
        OK(gat_model_layer_params(m, l, &pa));
        OK(gat_model_layer_params(back, l, &pb));
        int64_t na[11], nb[11];
        tensor_counts(&a, &pa, na);
        tensor_counts(&b, &pb, nb);
        for (int k = 0; k < 11; k++) {
            cr_assert_eq(na[k], nb[k], "layer %d tensor %d", l, k);
            if (na[k] > 0)
                cr_assert_eq(memcmp(tensor_at(&pa, k), tensor_at(&pb, k),
                                    (size_t)na[k] * sizeof(float)),
                             0, "layer %d tensor %d", l, k);
        }
    }
    /* What each kind has, as PyG has it. */
    gat_layer_params p;
    OK(gat_model_layer_params(m, 0, &p));
    cr_assert(p.att && p.weight_dst && p.bias_src && p.bias_dst && p.weight_edge &&
              p.weight_res && !p.att_src && !p.att_dst && !p.att_edge);
    /* lin_l.bias is a Linear's: uniform in +-1/sqrt(6), not zero. */
    bool nonzero = false;
    for (int k = 0; k < 6; k++) {
        nonzero |= p.bias_src[k] != 0.0f;
        cr_assert_leq(fabsf(p.bias_src[k]), 1.0f / sqrtf(6.0f));
    }
    cr_assert(nonzero);
    OK(gat_model_layer_params(m, 1, &p));
    cr_assert(p.att_src && p.att_dst && p.att_edge && p.weight_edge && p.weight_res &&
              !p.att && !p.weight_dst && !p.bias_src);
    OK(gat_model_layer_params(m, 2, &p));
    cr_assert(p.att && !p.weight_dst && !p.bias_src && !p.bias_dst && !p.bias);
    OK(gat_model_layer_params(m, 3, &p));
    cr_assert(p.weight_dst && p.att_src && !p.att);
    gat_model_destroy(&m);
    gat_model_destroy(&back);
}

Test(family, configurations_refused)
{
    gat_layer_config c[2];
    gat_model *m = NULL;
    gat_layer_config_init(&c[0], 4, 1, 2);
    c[0].share_weights = true;
    cr_assert_eq(gat_model_create(ctx, &m, 1, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "option of GATv2"));
    c[0].type = GAT_LAYER_GATV2;
    c[0].dst_features = 3;
    cr_assert_eq(gat_model_create(ctx, &m, 1, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    gat_layer_config_init(&c[0], 4, 1, 2);
    c[0].fill_value = (gat_fill)9;
    cr_assert_eq(gat_model_create(ctx, &m, 1, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    gat_layer_config_init(&c[0], 4, 1, 2);
    gat_layer_config_init(&c[1], 2, 1, 2);
    c[1].dst_features = 3;
    cr_assert_eq(gat_model_create(ctx, &m, 2, c, GAT_ACT_ELU), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "only layer 0"));
    cr_assert_null(m);
}

/* Positions: the input index of each edge in library order, -1 for loops. */
Test(family, edge_positions_and_bipartite_graphs)
{
    const int64_t src[] = {2, 0, 1, 1, 2, 0};
    const int64_t dst[] = {1, 0, 1, 0, 2, 2};
    gat_graph *g = NULL;
    OK(gat_graph_create(ctx, &g, 3, 6, src, dst));
    int64_t pos[9];
    OK(gat_graph_edge_positions(ctx, g, false, pos));
    /* Row 0 holds edges 1 (0->0) and 3 (1->0) in input order. */
    cr_assert_eq(pos[0], 1);
    cr_assert_eq(pos[1], 3);
    cr_assert_eq(pos[2], 0);
    cr_assert_eq(pos[3], 2);
    cr_assert_eq(pos[4], 4);
    cr_assert_eq(pos[5], 5);
    cr_assert_eq(gat_graph_num_attention_edges(g, true), 6 - 3 + 3);
    OK(gat_graph_edge_positions(ctx, g, true, pos));
    const int64_t loops[] = {3, -1, 0, -1, 5, -1};
    for (int k = 0; k < 6; k++)
        cr_assert_eq(pos[k], loops[k], "position %d", k);
    gat_graph_destroy(&g);

    /* Bipartite: 4 sources, 2 destinations; loops for nodes 0 and 1 only. */
    const int64_t bs[] = {3, 0, 1, 2};
    const int64_t bd[] = {0, 1, 1, 0};
    OK(gat_graph_create_bipartite(ctx, &g, 4, 2, 4, bs, bd));
    cr_assert_eq(gat_graph_num_nodes(g), 2);
    cr_assert_eq(gat_graph_num_src_nodes(g), 4);
    cr_assert_eq(gat_graph_num_self_loops(g), 1);
    cr_assert_eq(gat_graph_num_attention_edges(g, true), 4 - 1 + 2);
    int64_t s[5], d[5];
    OK(gat_graph_edges(ctx, g, true, s, d));
    const int64_t ws[] = {3, 2, 0, 0, 1}, wd[] = {0, 0, 0, 1, 1};
    for (int k = 0; k < 5; k++)
        cr_assert(s[k] == ws[k] && d[k] == wd[k], "edge %d: %lld -> %lld", k, (long long)s[k],
                  (long long)d[k]);
    gat_graph *r = NULL;
    int64_t ids[4];
    cr_assert_eq(gat_graph_reorder(ctx, g, GAT_ORDER_DEGREE, &r, ids), GAT_ERR_UNSUPPORTED);
    gat_graph_destroy(&g);
    const int64_t bad[] = {2};
    const int64_t zero[] = {0};
    cr_assert_eq(gat_graph_create_bipartite(ctx, &g, 4, 2, 1, zero, bad), GAT_ERR_RANGE);
    cr_assert_not_null(strstr(gat_context_message(ctx), "destinations in [0, 2)"));
}

/* Reordering keeps each edge's input position. */
Test(family, reorder_keeps_positions)
{
    const int64_t src[] = {2, 0, 1, 1, 2, 0, 3};
    const int64_t dst[] = {1, 3, 1, 0, 2, 2, 0};
    gat_graph *g = NULL, *r = NULL;
    OK(gat_graph_create(ctx, &g, 4, 7, src, dst));
    int64_t ids[4];
    OK(gat_graph_reorder(ctx, g, GAT_ORDER_RCM, &r, ids));
    int64_t s[7], d[7], pos[7];
    OK(gat_graph_edges(ctx, r, false, s, d));
    OK(gat_graph_edge_positions(ctx, r, false, pos));
    for (int k = 0; k < 7; k++)
        cr_assert(s[k] == ids[src[pos[k]]] && d[k] == ids[dst[pos[k]]], "edge %d", k);
    gat_graph_destroy(&g);
    gat_graph_destroy(&r);
}

Test(family, forward_input_errors)
{
    gat_layer_config c;
    gat_layer_config_init(&c, 3, 2, 2);
    c.edge_dim = 2;
    gat_model *m = NULL;
    OK(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU));
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 0};
    gat_graph *g = NULL;
    OK(gat_graph_create(ctx, &g, 3, 3, src, dst));
    float x[9] = {0}, attr[6] = {0}, out[12];
    gat_inputs in;
    gat_inputs_init(&in, x, 3, 3);
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "no edge_attr"));
    in.edge_attr = attr;
    in.num_edges = 3;
    in.edge_dim = 1;
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "edge_attr has 1 columns"));
    in.edge_dim = 2;
    in.num_edges = 2;
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "edge_attr has 2 rows"));
    in.num_edges = 3;
    OK(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL));
    gat_graph_destroy(&g);

    /* A bipartite graph needs x_dst of its destinations' count. */
    const int64_t bd[] = {1, 0};
    OK(gat_graph_create_bipartite(ctx, &g, 3, 2, 2, src, bd));
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "needs x_dst"));
    in.x_dst = x;
    in.num_dst_nodes = 3;
    in.dst_features = 3;
    in.num_edges = 2;
    cr_assert_eq(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "x_dst has 3 rows"));
    in.num_dst_nodes = 2;
    OK(gat_model_forward_reference_inputs(ctx, m, g, &in, out, NULL));
    gat_graph_destroy(&g);
    gat_model_destroy(&m);
}
