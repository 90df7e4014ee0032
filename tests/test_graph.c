/* CSR construction: order, self-loop accounting, ranges. */
#include "gat.h"

#include <criterion/criterion.h>
#include <string.h>

static gat_context *ctx_one(void)
{
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    return ctx;
}

Test(graph, rows_keep_input_order_and_duplicates)
{
    gat_context *ctx = ctx_one();
    const int64_t src[] = {3, 1, 2, 1, 0, 3, 2, 2};
    const int64_t dst[] = {0, 2, 0, 2, 2, 3, 2, 0};
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 5, 8, src, dst), GAT_OK);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    const int64_t want_ptr[] = {0, 3, 3, 7, 8, 8};
    const int32_t want_col[] = {3, 2, 2, 1, 1, 0, 2, 3};
    cr_assert_arr_eq(row_ptr, want_ptr, sizeof want_ptr);
    cr_assert_arr_eq(col, want_col, sizeof want_col);
    cr_assert_eq(gat_graph_num_self_loops(g), 2);
    cr_assert_eq(gat_graph_max_in_degree(g), 4);
    cr_assert_eq(gat_graph_num_attention_edges(g, false), 8);
    cr_assert_eq(gat_graph_num_attention_edges(g, true), 8 - 2 + 5);
    gat_graph_destroy(&g);
    cr_assert_null(g);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(graph, library_order_drops_input_loops_and_closes_rows_with_one)
{
    gat_context *ctx = ctx_one();
    const int64_t src[] = {1, 0, 0, 2, 1};
    const int64_t dst[] = {0, 0, 1, 2, 0};
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 3, 5, src, dst), GAT_OK);
    int64_t s[8], d[8];
    cr_assert_eq(gat_graph_edges(ctx, g, true, s, d), GAT_OK);
    const int64_t want_s[] = {1, 1, 0, 0, 1, 2}, want_d[] = {0, 0, 0, 1, 1, 2};
    cr_assert_arr_eq(s, want_s, sizeof want_s);
    cr_assert_arr_eq(d, want_d, sizeof want_d);
    cr_assert_eq(gat_graph_edges(ctx, g, false, s, d), GAT_OK);
    const int64_t raw_s[] = {1, 0, 1, 0, 2}, raw_d[] = {0, 0, 0, 1, 2};
    cr_assert_arr_eq(s, raw_s, sizeof raw_s);
    cr_assert_arr_eq(d, raw_d, sizeof raw_d);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(graph, out_of_range_ids_name_the_edge)
{
    gat_context *ctx = ctx_one();
    const int64_t src[] = {0, 1, 4};
    const int64_t dst[] = {1, 2, 0};
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 4, 3, src, dst), GAT_ERR_RANGE);
    cr_assert_null(g);
    cr_assert(strstr(gat_context_message(ctx), "edge 2") != NULL, "%s",
              gat_context_message(ctx));
    const int64_t neg[] = {-1};
    cr_assert_eq(gat_graph_create(ctx, &g, 4, 1, neg, dst), GAT_ERR_RANGE);
    cr_assert_eq(gat_graph_create(ctx, &g, -1, 0, NULL, NULL), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_create(ctx, &g, (int64_t)1 << 32, 0, NULL, NULL),
                 GAT_ERR_UNSUPPORTED);
    cr_assert_eq(gat_graph_create(ctx, &g, 4, 2, NULL, dst), GAT_ERR_INVALID);
    gat_context_destroy(&ctx);
}

Test(graph, empty_graphs)
{
    gat_context *ctx = ctx_one();
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 0, 0, NULL, NULL), GAT_OK);
    cr_assert_eq(gat_graph_num_attention_edges(g, true), 0);
    gat_graph_destroy(&g);
    cr_assert_eq(gat_graph_create(ctx, &g, 3, 0, NULL, NULL), GAT_OK);
    cr_assert_eq(gat_graph_num_attention_edges(g, true), 3);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
}

Test(context, unpinned_context_loads_the_topology_when_asked)
{
    /* hwloc is loaded lazily without pinning; asking must still work,
     * twice, and a later pinning request must find the topology. */
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    cr_assert_str_eq(gat_context_pin_report(ctx), "threads not pinned");
    const char *first = gat_context_topology(ctx);
    cr_assert(strstr(first, "core") != NULL, "%s", first);
    cr_assert_eq(gat_context_topology(ctx), first, "the description is built once");
    gat_context_destroy(&ctx);
}

Test(context, status_strings_and_threads)
{
    cr_assert(strstr(gat_status_str(GAT_ERR_NOMEM), "NOMEM") != NULL);
    cr_assert(strstr(gat_status_str((gat_status)-99), "unknown") != NULL);
    gat_context_options o;
    gat_context_options_init(&o);
    o.num_threads = 3;
    o.pin = GAT_PIN_COMPACT;
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, &o), GAT_OK);
    cr_assert_eq(gat_context_threads(ctx), 3);
    cr_assert(strlen(gat_context_pin_report(ctx)) > 0);
    cr_assert(strstr(gat_context_topology(ctx), "core") != NULL, "%s",
              gat_context_topology(ctx));
    cr_assert_eq(gat_context_set_threads(ctx, -2), GAT_ERR_INVALID);
    cr_assert_eq(gat_context_set_threads(ctx, 2), GAT_OK);
    cr_assert_eq(gat_context_threads(ctx), 2);
    gat_context_destroy(&ctx);
    cr_assert_null(ctx);
    o.num_threads = -1;
    cr_assert_eq(gat_context_create(&ctx, &o), GAT_ERR_INVALID);
}
