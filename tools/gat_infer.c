/*
 * gat-infer: run a saved GAT model over a graph and write its output.
 */
#include "cli_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const program = "gat-infer";

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gat-infer --graph EDGES --features X.npy --weights MODEL.safetensors\n"
            "                 --out Y.npy [--edge-attr A.npy] [--attention A.npy]\n"
            "                 [--attention-edges E.npy]\n"
            "                 [--labels L.npy --eval-nodes I.npy] [--threads T]\n"
            "                 [--no-preprocess] [--allow-nonfinite] [--quiet] [--report]\n"
            "\n"
            "       gat-infer --graph EDGES --features-src XS.npy --features-dst XD.npy ...\n"
            "\n"
            "Runs a stack of GAT layers (PyTorch Geometric GATConv / GATv2Conv semantics,\n"
            "with edge features, residual connections, bipartite inputs) over a graph.\n"
            "\n"
            "  --graph EDGES        edge list: one 'src dst' line per edge (src sends to dst),\n"
            "                       '#' comments, blank lines and CRLF allowed, .gz read too;\n"
            "                       or a binary .gcsr graph (gat-convert), told apart by its\n"
            "                       first bytes\n"
            "  --features X.npy     node features, float32 or float64 [N, F_in], C order;\n"
            "                       N (its row count) is the number of nodes: an edge id >= N\n"
            "                       is an error, as is a non-finite value\n"
            "  --features-src XS.npy, --features-dst XD.npy\n"
            "                       instead of --features, for a one-layer model on a\n"
            "                       bipartite graph (PyG's x = (x_src, x_dst)): sources\n"
            "                       [N_src, F_src], destinations [N_dst, F_dst]; edges go\n"
            "                       from [0, N_src) to [0, N_dst); the output has N_dst rows.\n"
            "                       EDGES is a text edge list or a .gcsr converted with\n"
            "                       gat-convert --src-nodes\n"
            "  --edge-attr A.npy    edge attributes, float32 or float64 [E, D], row k for\n"
            "                       the k-th edge of EDGES in file order (self-loops and\n"
            "                       duplicates included; for a .gcsr graph, the order of\n"
            "                       the edge list it was converted from, which the file\n"
            "                       keeps); required when a\n"
            "                       layer has edge features (lin_edge.weight), D its width\n"
            "  --weights M          model in safetensors (PyG's state_dict names: lin.weight,\n"
            "                       att_src, att_dst, lin_l.weight, att, lin_edge.weight,\n"
            "                       res.weight, bias, ...; see docs/formats.md), e.g.\n"
            "                       exported from PyG by tools/export_pyg.py or saved by\n"
            "                       gat-train.\n"
            "                       The preprocessing the model records (row normalisation\n"
            "                       when gat-train normalised) is applied to X first\n"
            "  --no-preprocess      X is already preprocessed: apply nothing (a note says\n"
            "                       what the model records)\n"
            "  --out Y.npy          output, float32 [N, H*C] (heads concatenated) or [N, C]\n"
            "                       (N_dst rows for a bipartite graph)\n"
            "  --attention A.npy    also write the last layer's attention coefficients,\n"
            "                       float32 [E', H], in library order: by destination node,\n"
            "                       input order within a node, its added self-loop last\n"
            "  --attention-edges E.npy\n"
            "                       the E' edges of --attention as int64 [E', 2] (src, dst)\n"
            "  --labels L.npy       with --eval-nodes: print the output's classification loss\n"
            "                       (mean cross-entropy) and accuracy over the nodes listed\n"
            "                       in I.npy (int ids), against the class ids in L.npy\n"
            "                       ([N] ints), as gat-train reports its test metrics\n"
            "  --eval-nodes I.npy\n"
            "  --threads T          OpenMP threads (default: OMP_NUM_THREADS or all cores);\n"
            "                       the output bits are the same for any T\n"
            "  --allow-nonfinite    write outputs holding NaN or infinity (from extreme\n"
            "                       weights, say) with a warning; by default that is an\n"
            "                       error naming how many rows are affected, nothing written\n"
            "  --quiet              no progress lines on stderr\n"
            "  --report             under mpirun: a per-rank table on stdout (rows, edges,\n"
            "                       halo, bytes exchanged, times, peak memory, imbalance)\n"
            "  --help, --version\n"
            "\n"
            "Outputs: all are checked before any work (the folder exists and is writable,\n"
            "no output is an input or another output). Regular files are written to a\n"
            "temporary file beside the target (after following symlinks: a link stays and\n"
            "the file it points to is replaced), synced and renamed, all outputs together\n"
            "at the end: they appear complete, all of them, or none. Devices, FIFOs and\n"
            "sockets (/dev/null, /dev/stdout, a named pipe) are written in place, every\n"
            "write checked; a FIFO nobody reads is an error, not a wait. Inputs: --graph\n"
            "may be a pipe or FIFO (text or gzip); the others must be regular files.\n"
            "Under mpirun (-np K) every rank reads only its rows of a .gcsr graph and of\n"
            "X.npy (and XD.npy, and A.npy's rows of its edges in the .gcsr's order) and\n"
            "writes its rows of the outputs: the same bits as one process, --labels too\n"
            "(not --attention-edges nor a bipartite graph; docs/distributed.md; needs a\n"
            "build with -Dmpi=enabled).\n"
            "Every error ends with one line on stderr naming the file and place, exit 1;\n"
            "usage errors exit 2.\n");
}

/* The classification metrics of the model's output over the listed nodes
 * (gat_model_evaluate: the same forward, then log-softmax and NLL). */
static void print_metrics(gat_context *ctx, gat_model *model, const gat_graph *graph,
                          const gat_array *x, const char *labels_path, const char *nodes_path)
{
    gat_array *labels = NULL, *nodes = NULL;
    cli_check(program, ctx, gat_npy_read(ctx, labels_path, GAT_INT64, &labels));
    cli_check(program, ctx, gat_npy_read(ctx, nodes_path, GAT_INT64, &nodes));
    if (labels->ndim != 1 || labels->shape[0] != x->shape[0])
        cli_fail(program, "%s: expected [%lld] class ids (one per feature row), found %d-D %lld",
                 labels_path, (long long)x->shape[0], labels->ndim, (long long)labels->shape[0]);
    if (nodes->ndim != 1)
        cli_fail(program, "%s: expected a 1-D array of node ids", nodes_path);
    gat_metrics m;
    cli_check(program, ctx,
              gat_model_evaluate(ctx, model, graph, x->data, x->shape[0], x->shape[1],
                                 labels->data, nodes->data, nodes->shape[0], &m));
    printf("%s: %lld nodes, loss %.4f, accuracy %.4f\n", nodes_path,
           (long long)nodes->shape[0], m.loss, m.accuracy);
    gat_array_destroy(&labels);
    gat_array_destroy(&nodes);
}

/* Under mpirun (gat_dist_launched): every rank reads its rows, the ranks
 * exchange halos, and each writes its rows of the outputs
 * (docs/distributed.md). An error on any rank ends every rank; rank 0
 * prints it. */
static int run_distributed(gat_context *ctx, const char *graph_path,
                           const char *features_path, const char *dst_path,
                           const char *edge_attr_path, const char *weights_path,
                           const char *out_path, const char *attention_path,
                           const char *labels_path, const char *nodes_path, int preprocess,
                           int allow_nonfinite, int quiet, int report)
{
    int rank = 0, ranks = 1;
    gat_status status = gat_dist_init(ctx, &rank, &ranks);
    if (status != GAT_OK)
        cli_check(program, ctx, status);
    gat_model *model = NULL;
    status = gat_dist_agree(ctx, gat_model_load(ctx, &model, weights_path));
    gat_dist_infer_options options;
    gat_dist_infer_options_init(&options);
    options.graph = graph_path;
    options.features = features_path;
    options.out = out_path;
    options.attention = attention_path;
    options.features_dst = dst_path;
    options.edge_attr = edge_attr_path;
    options.labels = labels_path;
    options.eval_nodes = nodes_path;
    options.preprocess = preprocess;
    options.allow_nonfinite = allow_nonfinite;
    gat_dist_report mine, *all = NULL;
    double t0 = cli_now();
    if (status == GAT_OK)
        status = gat_dist_infer(ctx, model, &options, &mine);
    if (status == GAT_OK && report) {
        all = rank == 0 ? calloc((size_t)ranks, sizeof *all) : NULL;
        status = gat_dist_agree(ctx, rank == 0 && all == NULL ? GAT_ERR_NOMEM : GAT_OK);
        if (status == GAT_OK)
            status = gat_dist_gather_reports(ctx, &mine, all);
    }
    if (status != GAT_OK) {
        if (rank == 0)
            fprintf(stderr, "%s: %s\n", program, gat_context_message(ctx));
    } else if (rank == 0) {
        if (mine.eval_count > 0) /* as print_metrics prints them */
            printf("%s: %lld nodes, loss %.4f, accuracy %.4f\n", nodes_path,
                   (long long)mine.eval_count, mine.metrics.loss, mine.metrics.accuracy);
        if (mine.nonfinite_rows > 0)
            fprintf(stderr, "%s: warning: %lld output rows hold NaN or infinity\n", program,
                    (long long)mine.nonfinite_rows);
        if (!quiet)
            fprintf(stderr, "%s: %d rank(s), %lld nodes, %lld edges, %d thread(s) each; "
                    "%.1f ms; wrote %s\n", program, ranks, (long long)mine.num_nodes,
                    (long long)mine.num_edges, gat_context_threads(ctx),
                    1e3 * (cli_now() - t0), out_path);
        if (all != NULL)
            cli_print_dist_report(stdout, all, ranks);
    }
    free(all);
    gat_model_destroy(&model);
    gat_context_destroy(&ctx);
    gat_dist_finalize();
    return status == GAT_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *graph_path = NULL, *features_path = NULL, *weights_path = NULL,
               *out_path = NULL, *attention_path = NULL, *edges_path = NULL,
               *labels_path = NULL, *nodes_path = NULL, *src_path = NULL, *dst_path = NULL,
               *edge_attr_path = NULL;
    int threads = 0, quiet = 0, allow_nonfinite = 0, preprocess = 1, report = 0;
    static const struct option options[] = {
        {"graph", required_argument, NULL, 'g'},    {"features", required_argument, NULL, 'x'},
        {"weights", required_argument, NULL, 'w'},  {"out", required_argument, NULL, 'o'},
        {"attention", required_argument, NULL, 'a'},
        {"attention-edges", required_argument, NULL, 'e'},
        {"threads", required_argument, NULL, 't'},  {"quiet", no_argument, NULL, 'q'},
        {"allow-nonfinite", no_argument, NULL, 'n'},
        {"no-preprocess", no_argument, NULL, 'P'},
        {"labels", required_argument, NULL, 'l'},   {"eval-nodes", required_argument, NULL, 'N'},
        {"report", no_argument, NULL, 'R'},
        {"features-src", required_argument, NULL, 'S'},
        {"features-dst", required_argument, NULL, 'D'},
        {"edge-attr", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'g': graph_path = optarg; break;
        case 'x': features_path = optarg; break;
        case 'w': weights_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'a': attention_path = optarg; break;
        case 'e': edges_path = optarg; break;
        case 't': threads = cli_parse_threads(program, "--threads", optarg); break;
        case 'q': quiet = 1; break;
        case 'n': allow_nonfinite = 1; break;
        case 'P': preprocess = 0; break;
        case 'l': labels_path = optarg; break;
        case 'N': nodes_path = optarg; break;
        case 'R': report = 1; break;
        case 'S': src_path = optarg; break;
        case 'D': dst_path = optarg; break;
        case 'E': edge_attr_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V':
            cli_print_version(program);
            return 0;
        default:
            cli_unknown_option(program, argv[optind - 1], options);
        }
    }
    if (optind < argc)
        cli_usage_error(program, "unexpected argument '%s'", argv[optind]);
    if ((src_path == NULL) != (dst_path == NULL))
        cli_usage_error(program, "--features-src and --features-dst go together");
    if (src_path != NULL && features_path != NULL)
        cli_usage_error(program, "--features or --features-src with --features-dst, not both");
    if (src_path != NULL)
        features_path = src_path;
    if (!graph_path || !features_path || !weights_path || !out_path)
        cli_usage_error(program, "--graph, --features, --weights and --out are required");
    if ((labels_path == NULL) != (nodes_path == NULL))
        cli_usage_error(program, "--labels and --eval-nodes go together");
    if (labels_path != NULL && (dst_path != NULL || edge_attr_path != NULL))
        cli_usage_error(program, "--labels takes --features alone (no --features-dst or "
                                 "--edge-attr)");

    gat_context_options copts;
    gat_context_options_init(&copts);
    copts.num_threads = threads;
    gat_context *ctx = cli_context_create(program, &copts);
    if (gat_dist_launched()) {
        if (!gat_have_mpi())
            cli_fail(program, "started by an MPI launcher, but this libgat was built without "
                              "MPI (meson setup -Dmpi=enabled)");
        if (edges_path != NULL)
            cli_usage_error(program, "--attention-edges is not available in a distributed "
                                     "run (docs/distributed.md)");
        return run_distributed(ctx, graph_path, features_path, dst_path, edge_attr_path,
                               weights_path, out_path, attention_path, labels_path, nodes_path,
                               preprocess, allow_nonfinite, quiet, report);
    }

    /* Every output checked (and its temporary file made) before the work. */
    const char *inputs[5] = {graph_path, features_path, weights_path, NULL, NULL};
    int num_inputs = 3;
    if (dst_path != NULL)
        inputs[num_inputs++] = dst_path;
    if (edge_attr_path != NULL)
        inputs[num_inputs++] = edge_attr_path;
    gat_output *outs[3];
    int num_outs = 0;
    outs[num_outs++] = cli_open_output(program, ctx, out_path, inputs, num_inputs);
    gat_output *attention_out = NULL, *edges_out = NULL;
    if (attention_path != NULL)
        outs[num_outs++] = attention_out =
            cli_open_output(program, ctx, attention_path, inputs, num_inputs);
    if (edges_path != NULL)
        outs[num_outs++] = edges_out =
            cli_open_output(program, ctx, edges_path, inputs, num_inputs);

    double t0 = cli_now();
    gat_array *x = NULL;
    cli_check(program, ctx, gat_npy_read(ctx, features_path, GAT_FLOAT32, &x));
    const int64_t n = x->shape[0], f = x->shape[1];
    gat_model *model = NULL;
    cli_check(program, ctx, gat_model_load(ctx, &model, weights_path));
    if (gat_model_in_features(model) != f)
        cli_fail(program, "%s: model expects %lld input features but %s has %lld columns",
                 weights_path, (long long)gat_model_in_features(model), features_path,
                 (long long)f);
    /* Training recorded what it did to its features; without it the
     * outputs are not the trained model's. */
    if (gat_model_preprocessing(model) != GAT_PREPROCESS_NONE) {
        if (preprocess)
            cli_check(program, ctx, gat_model_preprocess(ctx, model, x->data, n, f));
        else if (!quiet)
            fprintf(stderr, "gat-infer: note: %s records row normalisation of its input; "
                            "--no-preprocess takes %s as already normalised\n",
                    weights_path, features_path);
    }
    gat_inputs in;
    gat_inputs_init(&in, x->data, n, f);
    gat_array *x_dst = NULL, *edge_attr = NULL;
    if (dst_path != NULL) {
        cli_check(program, ctx, gat_npy_read(ctx, dst_path, GAT_FLOAT32, &x_dst));
        gat_layer_config first;
        gat_model_layer_config(model, 0, &first);
        if (x_dst->shape[1] != gat_layer_dst_features(&first))
            cli_fail(program, "%s: model expects %lld destination features but %s has %lld "
                              "columns",
                     weights_path, (long long)gat_layer_dst_features(&first), dst_path,
                     (long long)x_dst->shape[1]);
        if (gat_model_preprocessing(model) & GAT_PREPROCESS_NORMALIZE_ROWS && preprocess)
            cli_check(program, ctx, gat_features_normalize_rows(ctx, x_dst->data,
                                                                x_dst->shape[0],
                                                                x_dst->shape[1]));
        in.x_dst = x_dst->data;
        in.num_dst_nodes = x_dst->shape[0];
        in.dst_features = x_dst->shape[1];
    }
    gat_graph *graph = NULL;
    if (x_dst != NULL) {
        /* Bipartite: the ids (or a .gcsr's counts) checked against both
         * sides. */
        cli_check(program, ctx,
                  gat_graph_read_bipartite(ctx, &graph, graph_path, n, x_dst->shape[0]));
    } else {
        cli_check_graph(program, ctx, gat_graph_read(ctx, &graph, graph_path, n),
                        features_path);
        if (gat_graph_num_src_nodes(graph) != gat_graph_num_nodes(graph))
            cli_fail(program, "%s is a bipartite graph (%lld source, %lld destination nodes): "
                              "give --features-src and --features-dst",
                     graph_path, (long long)gat_graph_num_src_nodes(graph),
                     (long long)gat_graph_num_nodes(graph));
    }
    const int64_t rows = gat_graph_num_nodes(graph);
    int64_t edge_dim = 0;
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_model_layer_config(model, l, &c);
        edge_dim = c.edge_dim > edge_dim ? c.edge_dim : edge_dim;
    }
    if (edge_dim > 0 && edge_attr_path == NULL)
        cli_fail(program, "%s has edge features (lin_edge.weight, edge_dim %lld): --edge-attr "
                          "is required",
                 weights_path, (long long)edge_dim);
    if (edge_attr_path != NULL) {
        cli_check(program, ctx, gat_npy_read(ctx, edge_attr_path, GAT_FLOAT32, &edge_attr));
        if (edge_dim == 0 && !quiet)
            fprintf(stderr, "gat-infer: note: %s has no edge features; %s is not read\n",
                    weights_path, edge_attr_path);
        if (edge_dim > 0 && edge_attr->shape[1] != edge_dim)
            cli_fail(program, "%s: %lld columns, but %s's layers have edge_dim %lld",
                     edge_attr_path, (long long)edge_attr->shape[1], weights_path,
                     (long long)edge_dim);
        if (edge_attr->shape[0] != gat_graph_num_edges(graph))
            cli_fail(program, "%s: %lld rows, but %s has %lld edges (one row per edge line, "
                              "in file order)",
                     edge_attr_path, (long long)edge_attr->shape[0], graph_path,
                     (long long)gat_graph_num_edges(graph));
        in.edge_attr = edge_attr->data;
        in.num_edges = edge_attr->shape[0];
        in.edge_dim = edge_attr->shape[1];
    }
    gat_layer_config last;
    gat_model_layer_config(model, gat_model_num_layers(model) - 1, &last);
    const int64_t width = gat_model_out_features(model);
    const int64_t att_edges = gat_graph_num_attention_edges(graph, last.add_self_loops);
    if (!quiet)
        fprintf(stderr,
                "gat-infer: %lld nodes, %lld edges (%lld attended), %d layer(s) %lld -> %lld, "
                "%d thread(s); loaded in %.1f ms\n",
                (long long)rows, (long long)gat_graph_num_edges(graph), (long long)att_edges,
                gat_model_num_layers(model), (long long)f, (long long)width,
                gat_context_threads(ctx), 1e3 * (cli_now() - t0));

    float *out = malloc((size_t)(rows * width > 0 ? rows * width : 1) * sizeof(float));
    float *attention = NULL;
    if (attention_path != NULL)
        attention = malloc((size_t)(att_edges * last.heads > 0 ? att_edges * last.heads : 1) *
                           sizeof(float));
    if (out == NULL || (attention_path != NULL && attention == NULL))
        cli_fail(program, "out of memory for the output");
    double t1 = cli_now();
    cli_check(program, ctx, gat_model_forward_inputs(ctx, model, graph, &in, out, attention, NULL));
    double forward_ms = 1e3 * (cli_now() - t1);
    if (labels_path != NULL)
        print_metrics(ctx, model, graph, x, labels_path, nodes_path);

    cli_check_finite(program, "the output", out, rows, width, allow_nonfinite);
    if (attention != NULL)
        cli_check_finite(program, "the attention", attention, att_edges, last.heads,
                         allow_nonfinite);
    int64_t shape[2] = {rows, width};
    cli_check(program, ctx, gat_npy_write_f32_to(ctx, outs[0], out, 2, shape));
    if (attention_out != NULL) {
        int64_t ashape[2] = {att_edges, last.heads};
        cli_check(program, ctx, gat_npy_write_f32_to(ctx, attention_out, attention, 2, ashape));
    }
    if (edges_out != NULL)
        cli_write_edge_pairs(program, ctx, graph, last.add_self_loops, edges_out);
    cli_commit_outputs(program, ctx, outs, num_outs);
    if (!quiet)
        fprintf(stderr, "gat-infer: forward %.1f ms; wrote %s [%lld, %lld]\n", forward_ms,
                out_path, (long long)rows, (long long)width);
    free(out);
    free(attention);
    gat_graph_destroy(&graph);
    gat_model_destroy(&model);
    gat_array_destroy(&x);
    gat_array_destroy(&x_dst);
    gat_array_destroy(&edge_attr);
    gat_context_destroy(&ctx);
    return 0;
}
