/*
 * gat-bench: times GAT layers on generated or real graphs, GAPBS style:
 * graph statistics, every trial, then median and min per phase, rates, and
 * the fraction of a roofline built from probes of this machine.
 */
#include "bench_report.h"
#include "bench_probe.h"
#include "bench_dist.h"
#include "bench_train.h"
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#ifdef _OPENMP /* absent in -Dopenmp=disabled builds: one thread */
#include <omp.h>
#endif
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const program = "gat-bench";

#define MAX_THREAD_COUNTS 16

typedef struct bench_options {
    const char *gen;
    int64_t nodes, edges;
    uint64_t seed;
    const char *graph_path, *dataset_dir, *features_path, *json_path, *export_edges_path;
    const char *edge_attr_path; /* under mpirun: --edge-attr */
    const char *weights_path; /* a model file instead of a generated model */
    bool shape_given;         /* --in, --heads, --channels, --concat/--mean or --layers */
    int64_t in_features, heads, channels;
    bool concat;
    int layers;
    gat_layer_type layer_type; /* --layer-type */
    int64_t edge_dim;          /* --edge-dim: random edge attributes of this width */
    int thread_counts[MAX_THREAD_COUNTS];
    int num_thread_counts;
    gat_pin pin;
    gat_gemm gemm;
    int reps, warmup;
    bool check, topology_only, probe;
    const char *mode;
    gat_ordering ordering; /* --reorder */
    int partitions[MAX_THREAD_COUNTS]; /* --partitions */
    int num_partitions;
} bench_options;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gat-bench [options]\n"
            "\n"
            "Times GAT forward passes (PyG GATConv semantics). With no options: an R-MAT\n"
            "graph of 2^17 nodes and 1M edges (plus one self-loop per node), one layer\n"
            "128 -> 8 heads x 8 channels, concatenated, all cores.\n"
            "\n"
            "Graph (one of):\n"
            "  --gen rmat|uniform   generated graph (default rmat; Graph500 a=.57 b=c=.19)\n"
            "  --nodes N            nodes of the generated graph (default 131072)\n"
            "  --edges E            generated edges, before self-loops (default 1000000)\n"
            "  --seed S             generator and parameter seed (default 1)\n"
            "  --graph FILE         edge list ('src dst' lines, .gz too) or .gcsr graph\n"
            "  --dataset DIR        DIR/edges.txt and, if present, DIR/features.npy\n"
            "  --features X.npy     node features (default: uniform random in [-1, 1))\n"
            "  --reorder none|degree|rcm   relabel nodes for locality once loaded (default\n"
            "                       none); features follow their nodes, the time is printed\n"
            "Model:\n"
            "  --weights M          run the model in safetensors file M (as gat-infer\n"
            "                       reads it), with the preprocessing it records applied\n"
            "                       to the features; instead of a generated model:\n"
            "  --in F               input features for random features (default 128)\n"
            "  --heads H            attention heads (default 8)\n"
            "  --channels C         channels per head (default 8)\n"
            "  --concat | --mean    concatenate (default) or average the heads\n"
            "  --layers L           stack L such layers, ELU between (default 1)\n"
            "  --layer-type gat|gatv2  GATConv (default) or GATv2Conv layers\n"
            "  --edge-dim D         layers with edge features of width D, run on random\n"
            "                       edge attributes in [-1, 1) (the roofline counts their\n"
            "                       E x D x 4 bytes and a 4-byte position per edge and layer)\n"
            "Run:\n"
            "  --threads T[,T...]   thread counts to sweep (default: all cores)\n"
            "  --pin none|compact|scatter   hwloc thread binding (default none)\n"
            "  --gemm auto|blas|builtin     projection GEMM (default auto)\n"
            "  --reps R             timed trials per thread count (default 10)\n"
            "  --warmup W           untimed trials first (default 2)\n"
            "  --check              compare with the float64 reference twin; exit 1 on a\n"
            "                       mismatch beyond 1e-4 relative\n"
            "  --no-probe           skip the bandwidth / SGEMM probes (no roofline)\n"
            "  --topology           print the hardware topology hwloc sees and exit\n"
            "  --export-edges E.npy write the attended edges (self-loops added) as int64\n"
            "                       [E', 2] (src, dst), for running a peer on the same graph\n"
            "  --json FILE          write everything as JSON (keys nodes, edges, threads,\n"
            "                       forward_ms_median, peak_rss_bytes, runs, ...); FILE and\n"
            "                       E.npy are checked before the runs and written as\n"
            "                       gat-infer's outputs (temporary file, synced, renamed;\n"
            "                       devices and FIFOs in place, every write checked)\n"
            "  --partitions P[,P...]  print, for each P, the partition a distributed run at P\n"
            "                       ranks makes of the graph (rows, edges, halo rows, bytes\n"
            "                       exchanged per layer, memory per rank) instead of timing;\n"
            "                       no MPI needed (docs/distributed.md)\n"
            "  --mode infer|train   what to time: the forward pass (default), or a\n"
            "                       training step as the PyTorch peer's (forward, loss\n"
            "                       sum(out * R), backward, SGD update) with attention\n"
            "                       dropout 0 and 0.6; JSON key train_step_ms_median\n"
            "  --help, --version\n"
            "Under mpirun (a build with -Dmpi=enabled) gat-bench times gat_dist_infer over\n"
            "--graph FILE.gcsr and --features X.npy (--weights or the generated model;\n"
            "--edge-attr A.npy for a model with edge features, rows in the edge list's\n"
            "order) and\n"
            "prints the per-rank report: rows, edges, halo rows, bytes sent and received\n"
            "per layer, time computing, communicating and waiting, peak memory, imbalance;\n"
            "with --mode train it times the distributed training step (forward, loss over\n"
            "every node, backward, Adam) and prints the same report for the last step.\n");
}

/* "1,2,4": counts separated by single commas; an empty count ("1,,2",
 * "1,", ",1") is refused, not skipped. max 0: thread counts
 * (cli_parse_threads), else whole numbers in [1, max]. */
static int parse_count_list(const char *option, const char *text, int max, int *out)
{
    int count = 0;
    char buf[256];
    if (strlen(text) >= sizeof buf)
        cli_usage_error(program, "%s list too long", option);
    strcpy(buf, text);
    char *tok = buf;
    for (;;) {
        char *comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        if (tok[0] == '\0')
            cli_usage_error(program, "%s '%s': an empty count (expected N[,N...])", option, text);
        if (count == MAX_THREAD_COUNTS)
            cli_usage_error(program, "%s takes at most %d counts", option, MAX_THREAD_COUNTS);
        out[count++] = max == 0 ? cli_parse_threads(program, option, tok)
                                : (int)cli_parse_int(program, option, tok, 1, max);
        if (comma == NULL)
            break;
        tok = comma + 1;
    }
    return count;
}

static void print_model(const gat_model *model, const char *path)
{
    printf("model: %s, %d layer(s):", path != NULL ? path : "generated", gat_model_num_layers(model));
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_model_layer_config(model, l, &c);
        printf("%s %lld -> %lld heads x %lld channels (%s)", l > 0 ? "," : "",
               (long long)c.in_features, (long long)c.heads, (long long)c.channels,
               c.concat ? "concat" : "mean");
    }
    printf("\n");
}

static bench_options parse_options(int argc, char **argv)
{
    bench_options o = {.gen = "rmat", .nodes = 131072, .edges = 1000000, .seed = 1,
                       .in_features = 128, .heads = 8, .channels = 8, .concat = true,
                       .layers = 1, .pin = GAT_PIN_NONE, .reps = 10, .warmup = 2,
                       .probe = true, .mode = "infer"};
    enum { O_GEN = 256, O_NODES, O_EDGES, O_SEED, O_GRAPH, O_DATASET, O_FEATURES, O_IN, O_HEADS,
           O_CHANNELS, O_CONCAT, O_MEAN, O_LAYERS, O_THREADS, O_PIN, O_REPS, O_WARMUP, O_CHECK,
           O_NOPROBE, O_TOPOLOGY, O_JSON, O_MODE, O_HELP, O_VERSION, O_EXPORT, O_REORDER, O_GEMM,
           O_WEIGHTS, O_PARTITIONS, O_LAYER_TYPE, O_EDGE_DIM, O_EDGE_ATTR };
    static const struct option options[] = {
        {"gen", required_argument, NULL, O_GEN},
        {"nodes", required_argument, NULL, O_NODES},
        {"edges", required_argument, NULL, O_EDGES},
        {"seed", required_argument, NULL, O_SEED},
        {"graph", required_argument, NULL, O_GRAPH},
        {"dataset", required_argument, NULL, O_DATASET},
        {"features", required_argument, NULL, O_FEATURES},
        {"edge-attr", required_argument, NULL, O_EDGE_ATTR},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"in", required_argument, NULL, O_IN},
        {"heads", required_argument, NULL, O_HEADS},
        {"channels", required_argument, NULL, O_CHANNELS},
        {"concat", no_argument, NULL, O_CONCAT},
        {"mean", no_argument, NULL, O_MEAN},
        {"layers", required_argument, NULL, O_LAYERS},
        {"layer-type", required_argument, NULL, O_LAYER_TYPE},
        {"edge-dim", required_argument, NULL, O_EDGE_DIM},
        {"threads", required_argument, NULL, O_THREADS},
        {"pin", required_argument, NULL, O_PIN},
        {"gemm", required_argument, NULL, O_GEMM},
        {"reps", required_argument, NULL, O_REPS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"check", no_argument, NULL, O_CHECK},
        {"no-probe", no_argument, NULL, O_NOPROBE},
        {"topology", no_argument, NULL, O_TOPOLOGY},
        {"json", required_argument, NULL, O_JSON},
        {"export-edges", required_argument, NULL, O_EXPORT},
        {"reorder", required_argument, NULL, O_REORDER},
        {"mode", required_argument, NULL, O_MODE},
        {"partitions", required_argument, NULL, O_PARTITIONS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        o.shape_given |= opt == O_IN || opt == O_HEADS || opt == O_CHANNELS || opt == O_CONCAT ||
                         opt == O_MEAN || opt == O_LAYERS || opt == O_LAYER_TYPE;
        switch (opt) {
        case O_GEN:
            if (strcmp(optarg, "rmat") != 0 && strcmp(optarg, "uniform") != 0)
                cli_usage_error(program, "--gen expects rmat or uniform, got '%s'", optarg);
            o.gen = optarg;
            break;
        case O_NODES: o.nodes = cli_parse_int(program, "--nodes", optarg, 2, INT32_MAX); break;
        case O_EDGES:
            o.edges = cli_parse_int(program, "--edges", optarg, 0, (int64_t)1 << 40);
            break;
        case O_SEED: o.seed = (uint64_t)cli_parse_int(program, "--seed", optarg, 0, INT64_MAX); break;
        case O_GRAPH: o.graph_path = optarg; break;
        case O_DATASET: o.dataset_dir = optarg; break;
        case O_FEATURES: o.features_path = optarg; break;
        case O_EDGE_ATTR: o.edge_attr_path = optarg; break;
        case O_WEIGHTS: o.weights_path = optarg; break;
        case O_IN: o.in_features = cli_parse_int(program, "--in", optarg, 1, 1 << 20); break;
        case O_HEADS: o.heads = cli_parse_int(program, "--heads", optarg, 1, 4096); break;
        case O_CHANNELS:
            o.channels = cli_parse_int(program, "--channels", optarg, 1, 1 << 16);
            break;
        case O_CONCAT: o.concat = true; break;
        case O_MEAN: o.concat = false; break;
        case O_LAYERS: o.layers = (int)cli_parse_int(program, "--layers", optarg, 1, 64); break;
        case O_LAYER_TYPE: o.layer_type = cli_parse_layer_type(program, "--layer-type", optarg); break;
        case O_EDGE_DIM: o.edge_dim = cli_parse_int(program, "--edge-dim", optarg, 1, 4096); break;
        case O_THREADS: o.num_thread_counts = parse_count_list("--threads", optarg, 0, o.thread_counts); break;
        case O_PARTITIONS:
            o.num_partitions = parse_count_list("--partitions", optarg, 1 << 20, o.partitions);
            break;
        case O_PIN: {
            static const char *const names[] = {"none", "compact", "scatter"};
            static const int values[] = {GAT_PIN_NONE, GAT_PIN_COMPACT, GAT_PIN_SCATTER};
            o.pin = (gat_pin)cli_parse_choice(program, "--pin", optarg, names, values, 3);
            break;
        }
        case O_GEMM: {
            static const char *const names[] = {"auto", "blas", "builtin"};
            static const int values[] = {GAT_GEMM_AUTO, GAT_GEMM_BLAS, GAT_GEMM_BUILTIN};
            o.gemm = (gat_gemm)cli_parse_choice(program, "--gemm", optarg, names, values, 3);
            break;
        }
        case O_REPS: o.reps = (int)cli_parse_int(program, "--reps", optarg, 1, 100000); break;
        case O_WARMUP: o.warmup = (int)cli_parse_int(program, "--warmup", optarg, 0, 100000); break;
        case O_CHECK: o.check = true; break;
        case O_NOPROBE: o.probe = false; break;
        case O_TOPOLOGY: o.topology_only = true; break;
        case O_JSON: o.json_path = optarg; break;
        case O_EXPORT: o.export_edges_path = optarg; break;
        case O_REORDER: {
            static const char *const names[] = {"none", "degree", "rcm"};
            static const int values[] = {GAT_ORDER_NONE, GAT_ORDER_DEGREE, GAT_ORDER_RCM};
            o.ordering =
                (gat_ordering)cli_parse_choice(program, "--reorder", optarg, names, values, 3);
            break;
        }
        case O_MODE:
            if (strcmp(optarg, "infer") == 0)
                o.mode = optarg;
            else if (strcmp(optarg, "train") == 0)
                o.mode = optarg; /* timed by bench_train.c */
            else
                cli_usage_error(program, "--mode expects infer or train, got '%s'", optarg);
            break;
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION:
            cli_print_version(program);
            exit(0);
        default: cli_unknown_option(program, argv[optind - 1], options);
        }
    }
    if (optind < argc)
        cli_usage_error(program, "unexpected argument '%s'", argv[optind]);
    if (o.graph_path != NULL && o.dataset_dir != NULL)
        cli_usage_error(program, "--graph and --dataset are exclusive");
    if (o.weights_path != NULL && o.shape_given)
        cli_usage_error(program, "--weights fixes the model: --in, --heads, --channels, "
                                 "--concat, --mean, --layers and --layer-type do not apply");
    return o;
}

/* ---------------------------------------------------------------------- */

typedef struct graph_source {
    char description[4200];
    double load_seconds;
} graph_source;

static gat_graph *load_graph(gat_context *ctx, const bench_options *o, int64_t num_nodes,
                             const char *features_path, graph_source *info)
{
    gat_graph *g = NULL;
    double t0 = cli_now();
    if (o->graph_path != NULL || o->dataset_dir != NULL) {
        char path[4096];
        if (o->dataset_dir != NULL)
            snprintf(path, sizeof path, "%s/edges.txt", o->dataset_dir);
        else
            snprintf(path, sizeof path, "%s", o->graph_path);
        fprintf(stderr, "%s: reading %s\n", program, path);
        cli_check_graph(program, ctx, gat_graph_read(ctx, &g, path, num_nodes), features_path);
        snprintf(info->description, sizeof info->description, "%s", path);
    } else {
        gat_generator kind = strcmp(o->gen, "rmat") == 0 ? GAT_GEN_RMAT : GAT_GEN_UNIFORM;
        fprintf(stderr, "%s: generating %s graph, %lld nodes, %lld edges, seed %llu\n",
                program, o->gen, (long long)o->nodes, (long long)o->edges,
                (unsigned long long)o->seed);
        int64_t *src = malloc((size_t)(o->edges > 0 ? o->edges : 1) * sizeof(int64_t));
        int64_t *dst = malloc((size_t)(o->edges > 0 ? o->edges : 1) * sizeof(int64_t));
        if (src == NULL || dst == NULL)
            cli_fail(program, "out of memory for %lld edges", (long long)o->edges);
        cli_check(program, ctx,
                  gat_generate_edges(ctx, kind, o->nodes, o->edges, o->seed, src, dst));
        cli_check(program, ctx, gat_graph_create(ctx, &g, o->nodes, o->edges, src, dst));
        free(src);
        free(dst);
        snprintf(info->description, sizeof info->description, "%s n=%lld e=%lld seed=%llu",
                 o->gen, (long long)o->nodes, (long long)o->edges, (unsigned long long)o->seed);
    }
    info->load_seconds = cli_now() - t0;
    return g;
}

static float *random_features(int64_t n, int64_t f, uint64_t seed, int threads)
{
    /* 64-byte aligned as PyTorch's tensors are: a row of 16 floats (edge
     * attributes of width 16) is then one cache line, not two. */
    float *x = aligned_alloc(64, ((size_t)(n * f > 0 ? n * f : 1) * sizeof(float) + 63) / 64 * 64);
    if (x == NULL)
        cli_fail(program, "out of memory for %lld x %lld features", (long long)n, (long long)f);
    /* A simple counter hash: fast, and the same for any thread count. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t k = 0; k < n * f; k++) {
        uint64_t z = (uint64_t)k * 0x9E3779B97F4A7C15ull + seed * 0xD1B54A32D192ED03ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[k] = (float)(z >> 40) * 0x1.0p-23f - 1.0f;
    }
    return x;
}

/* ---------------------------------------------------------------------- */

/* What a layer must move and compute at the least; docs/tools.md's
 * "Roofline" section describes the model. */
typedef struct layer_costs {
    double projection_flops, projection_bytes, edge_flops, edge_bytes;
} layer_costs;

static layer_costs model_costs(const gat_model *m, const gat_graph *g)
{
    layer_costs total = {0, 0, 0, 0};
    const double n = (double)gat_graph_num_nodes(g);
    for (int l = 0; l < gat_model_num_layers(m); l++) {
        gat_layer_config c;
        gat_model_layer_config(m, l, &c);
        const double hc = (double)(c.heads * c.channels), h = (double)c.heads,
                     f = (double)c.in_features,
                     width = (double)(c.concat ? c.heads * c.channels : c.channels);
        const double e = (double)gat_graph_num_attention_edges(g, c.add_self_loops);
        /* Edge features: each edge's D attributes and its 4-byte input
         * position read once per layer (the edge pass reads them through
         * the position, and makes the loops' attributes from the rows it
         * reads: nothing else moves). */
        const double d = (double)c.edge_dim;
        if (d > 0) {
            total.edge_bytes += e * (4.0 * d + 4.0);
            total.edge_flops += e * 2.0 * d * (c.type == GAT_LAYER_GATV2 ? hc : h);
        }
        if (c.residual || c.dst_features > 0 || c.type == GAT_LAYER_GATV2) {
            /* The family's path (src/infer/family_forward.c): projections of
             * both sides, stored scores (GATConv) or the destination's row
             * read per row (GATv2). */
            const double sides = c.type == GAT_LAYER_GATV2 && !c.share_weights ? 2.0 : 1.0;
            total.projection_flops += 2.0 * n * f * hc * sides;
            total.projection_bytes += 4.0 * (n * f + sides * (hc * f + n * hc));
            total.edge_flops += e * (c.type == GAT_LAYER_GATV2 ? 6.0 * hc : 2.0 * hc + 6.0 * h);
            total.edge_bytes += e * (4.0 + 4.0 * hc) + n * (8.0 + 4.0 * hc + 4.0 * width);
            continue;
        }
        if (gat_layer_scores_in_edge_pass(&c)) {
            /* Scores made in the edge pass from the rows it reads: no
             * score arrays to write or gather, the row i read once more. */
            total.projection_flops += 2.0 * n * f * hc;
            total.projection_bytes += 4.0 * (n * f + hc * f + n * hc);
            total.edge_flops += e * (4.0 * hc + 6.0 * h) + n * 4.0 * hc;
            total.edge_bytes += e * (4.0 + 4.0 * hc) + n * (8.0 + 4.0 * hc + 4.0 * width);
        } else {
            total.projection_flops += 2.0 * n * f * hc + 4.0 * n * hc;
            total.projection_bytes += 4.0 * (n * f + hc * f + n * hc + 2.0 * n * h);
            total.edge_flops += e * (2.0 * hc + 6.0 * h);
            total.edge_bytes +=
                e * (4.0 + 4.0 * h + 4.0 * hc) + n * (8.0 + 4.0 * h + 4.0 * width);
        }
    }
    return total;
}

typedef struct run_result {
    int threads;
    double *projection_ms, *edges_ms, *total_ms;
    double projection_median, edges_median, total_median, total_min;
    char pin_report[256];
} run_result;

static run_result run_threads(gat_context *ctx, gat_model *model, const gat_graph *g,
                              const gat_inputs *in, float *out, int threads,
                              const bench_options *o)
{
    run_result r = {.threads = threads};
    cli_check(program, ctx, gat_context_set_threads(ctx, threads));
    snprintf(r.pin_report, sizeof r.pin_report, "%s", gat_context_pin_report(ctx));
    r.projection_ms = calloc((size_t)o->reps, sizeof(double));
    r.edges_ms = calloc((size_t)o->reps, sizeof(double));
    r.total_ms = calloc((size_t)o->reps, sizeof(double));
    printf("threads %d (%s)\n", threads, r.pin_report);
    for (int t = 0; t < o->warmup + o->reps; t++) {
        gat_forward_times times = {0, 0, 0};
        double t0 = cli_now();
        cli_check(program, ctx, gat_model_forward_inputs(ctx, model, g, in, out, NULL, &times));
        double total = cli_now() - t0;
        if (t < o->warmup) {
            /* The first forward on a graph also makes the context's workspace. */
            printf("  warmup %d: total %8.3f ms\n", t + 1, 1e3 * total);
            continue;
        }
        int k = t - o->warmup;
        r.projection_ms[k] = 1e3 * times.projection;
        r.edges_ms[k] = 1e3 * (times.edges + times.activation);
        r.total_ms[k] = 1e3 * total;
        printf("  trial %2d: projection %8.3f ms   edges %8.3f ms   total %8.3f ms\n", k + 1,
               r.projection_ms[k], r.edges_ms[k], r.total_ms[k]);
    }
    r.projection_median = bench_median(r.projection_ms, o->reps);
    r.edges_median = bench_median(r.edges_ms, o->reps);
    r.total_median = bench_median(r.total_ms, o->reps);
    r.total_min = bench_minimum(r.total_ms, o->reps);
    return r;
}

static int check_against_reference(gat_context *ctx, gat_model *model, const gat_graph *g,
                                   const gat_inputs *in, const float *out, json_t *root)
{
    const int64_t n = gat_graph_num_nodes(g), width = gat_model_out_features(model);
    float *want = malloc((size_t)(n * width > 0 ? n * width : 1) * sizeof(float));
    if (want == NULL)
        cli_fail(program, "--check: out of memory");
    fprintf(stderr, "%s: --check: running the float64 reference twin\n", program);
    cli_check(program, ctx, gat_model_forward_reference_inputs(ctx, model, g, in, want, NULL));
    double max_abs = 0.0, worst = 0.0;
    int64_t worst_at = -1;
    for (int64_t k = 0; k < n * width; k++)
        if (fabs(want[k]) > max_abs)
            max_abs = fabs(want[k]);
    /* Tolerance as in the tests: 1e-4 relative plus 1e-5 of the largest
     * output for values that cancel to near zero. */
    for (int64_t k = 0; k < n * width; k++) {
        double excess = fabs((double)out[k] - want[k]) / (1e-5 * max_abs + 1e-4 * fabs(want[k]));
        if (!(excess <= worst)) {
            worst = excess;
            worst_at = k;
        }
    }
    int ok = worst <= 1.0;
    printf("check: %s; worst error at output %lld: got %.9g, reference %.9g (%.3f of the "
           "tolerance 1e-4 rel + 1e-5 max|ref|)\n",
           ok ? "PASS" : "FAIL", (long long)worst_at, worst_at >= 0 ? out[worst_at] : 0.0,
           worst_at >= 0 ? want[worst_at] : 0.0, worst);
    json_object_set_new(root, "check", json_pack("{s:b, s:f}", "pass", ok, "worst_fraction_of_tolerance", worst));
    free(want);
    return ok;
}

/* What one benchmark run measures on. */
typedef struct bench_run {
    const bench_options *o;
    const bench_machine *machine;
    gat_context *ctx;
    gat_model *model;
    const gat_graph *g;
    const float *x;
    int64_t f;
    gat_inputs inputs; /* x, and the edge attributes with --edge-dim */
    float *out;
    int64_t attended, max_degree;
    const char *graph_description, *ordering_name;
    double reorder_ms;
    gat_output *json_out;
} bench_run;

/* Times the forward at every thread count, prints the report, checks
 * against the reference if asked, writes the JSON. Returns the exit code. */
static int bench_infer(const bench_run *b)
{
    const int64_t inputs_rss = bench_current_rss_bytes();
    const bench_options *o = b->o;
    const bench_machine *machine = b->machine;
    gat_context *ctx = b->ctx;
    gat_model *model = b->model;
    const gat_graph *g = b->g;
    const int64_t f = b->f, attended = b->attended, n = gat_graph_num_nodes(g);
    float *out = b->out;
    layer_costs costs = model_costs(model, g);
    json_t *root = json_object();
    json_t *runs = json_array();
    run_result last = {0};
    for (int k = 0; k < o->num_thread_counts; k++) {
        run_result r = run_threads(ctx, model, g, &b->inputs, out, o->thread_counts[k], o);
        double edges_per_s =
            (double)attended * gat_model_num_layers(model) / (r.total_median / 1e3);
        double gflops = (costs.projection_flops + costs.edge_flops) / (r.total_median / 1e3) / 1e9;
        double edge_gbps = costs.edge_bytes / (r.edges_median / 1e3) / 1e9;
        printf("median (%d threads): projection %.3f ms   edges %.3f ms   total %.3f ms "
               "(min %.3f)\n",
               r.threads, r.projection_median, r.edges_median, r.total_median, r.total_min);
        printf("rates: %.1f M edges/s, %.1f GFLOP/s, edge phase %.1f GB/s\n", edges_per_s / 1e6,
               gflops, edge_gbps);
        json_t *run = json_pack(
            "{s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o}", "threads", r.threads,
            "pin", r.pin_report, "projection_ms_median", r.projection_median, "edges_ms_median",
            r.edges_median, "forward_ms_median", r.total_median, "forward_ms_min", r.total_min,
            "edges_per_second", edges_per_s, "gflops", gflops, "edge_phase_gbps", edge_gbps,
            "projection_ms", bench_json_doubles(r.projection_ms, o->reps), "edges_ms",
            bench_json_doubles(r.edges_ms, o->reps), "forward_ms", bench_json_doubles(r.total_ms, o->reps));
        if (machine->ok) {
            double proj_floor = fmax(costs.projection_bytes / (machine->triad_gbps * 1e9),
                                     costs.projection_flops / (machine->sgemm_gflops * 1e9));
            double edge_floor = costs.edge_bytes / (machine->triad_gbps * 1e9);
            printf("roofline: projection %.0f%% of its floor %.3f ms, edge phase %.0f%% of its "
                   "bandwidth floor %.3f ms, total %.0f%%\n",
                   100 * 1e3 * proj_floor / r.projection_median, 1e3 * proj_floor,
                   100 * 1e3 * edge_floor / r.edges_median, 1e3 * edge_floor,
                   100 * 1e3 * (proj_floor + edge_floor) / r.total_median);
            json_object_set_new(run, "roofline",
                                json_pack("{s:f, s:f, s:f, s:f}", "projection_floor_ms",
                                          1e3 * proj_floor, "edge_floor_ms", 1e3 * edge_floor,
                                          "projection_fraction",
                                          1e3 * proj_floor / r.projection_median,
                                          "edge_fraction", 1e3 * edge_floor / r.edges_median));
        }
        json_array_append_new(runs, run);
        if (k > 0) {
            free(last.projection_ms);
            free(last.edges_ms);
            free(last.total_ms);
        }
        last = r;
    }

    int ok = 1;
    if (o->check)
        ok = check_against_reference(ctx, model, g, &b->inputs, out, root);
    int64_t rss = bench_peak_rss_bytes();
    printf("peak memory: %.1f MiB\n", (double)rss / (1 << 20));

    json_object_set_new(root, "nodes", json_integer(n));
    json_object_set_new(root, "edges", json_integer(attended));
    json_object_set_new(root, "edges_as_given", json_integer(gat_graph_num_edges(g)));
    json_object_set_new(root, "max_in_degree", json_integer(b->max_degree));
    json_object_set_new(root, "graph", json_string(b->graph_description));
    json_object_set_new(root, "ordering", json_string(b->ordering_name));
    json_object_set_new(root, "reorder_ms", json_real(b->reorder_ms));
    json_object_set_new(root, "threads", json_integer(last.threads));
    json_object_set_new(root, "forward_ms_median", json_real(last.total_median));
    json_object_set_new(root, "peak_rss_bytes", json_integer(rss));
    json_object_set_new(root, "inputs_rss_bytes", json_integer(inputs_rss));
    gat_layer_config first;
    gat_model_layer_config(model, 0, &first);
    json_object_set_new(root, "model",
                        json_pack("{s:I, s:I, s:I, s:b, s:i, s:s?}", "in", (json_int_t)f, "heads",
                                  (json_int_t)first.heads, "channels",
                                  (json_int_t)first.channels, "concat", first.concat, "layers",
                                  gat_model_num_layers(model), "file", o->weights_path));
    json_object_set_new(root, "costs",
                        json_pack("{s:f, s:f, s:f, s:f}", "projection_flops",
                                  costs.projection_flops, "projection_bytes",
                                  costs.projection_bytes, "edge_flops", costs.edge_flops,
                                  "edge_bytes", costs.edge_bytes));
    if (machine->ok)
        json_object_set_new(root, "machine",
                            json_pack("{s:f, s:f}", "triad_gbps", machine->triad_gbps,
                                      "sgemm_gflops", machine->sgemm_gflops));
    json_object_set_new(root, "topology", json_string(machine->topology));
    json_object_set_new(root, "runs", runs);
    if (b->json_out != NULL)
        bench_json_write(program, ctx, root, b->json_out);
    json_decref(root);
    free(last.projection_ms);
    free(last.edges_ms);
    free(last.total_ms);
    if (!ok) {
        fprintf(stderr, "%s: --check failed: the fast path disagrees with the reference\n",
                program);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_options o = parse_options(argc, argv);
    if (o.num_thread_counts == 0)
        o.thread_counts[o.num_thread_counts++] = 0; /* resolved by the context */

    bench_machine machine = {0, 0, 0, ""};
    /* Under mpirun every rank reads its own rows (bench_dist.c): no probe. */
    const bool distributed = gat_dist_launched();
    if (distributed) {
        if (!gat_have_mpi())
            cli_fail(program, "started by an MPI launcher, but this libgat was built without "
                              "MPI (meson setup -Dmpi=enabled)");
        if (o.graph_path == NULL || o.features_path == NULL || o.num_partitions > 0 ||
            o.ordering != GAT_ORDER_NONE || o.check || o.json_path != NULL ||
            o.export_edges_path != NULL)
            cli_usage_error(program, "under mpirun gat-bench times gat_dist_infer (or with "
                                     "--mode train the distributed training step): it needs "
                                     "--graph FILE.gcsr and --features X.npy, and takes no "
                                     "--partitions, --reorder, --check, --json or "
                                     "--export-edges");
        if (strcmp(o.mode, "train") == 0 && o.edge_attr_path != NULL)
            cli_usage_error(program, "under mpirun --mode train takes no --edge-attr (the "
                                     "distributed trainer runs plain GAT layers only)");
        o.probe = false;
    } else if (o.edge_attr_path != NULL) {
        cli_usage_error(program, "--edge-attr is for runs under mpirun (one process times "
                                 "random edge attributes: --edge-dim D)");
    }
    if (!o.topology_only && !distributed) {
        int probe_threads = o.thread_counts[o.num_thread_counts - 1];
        if (probe_threads == 0) {
            /* OpenMP's default, under the library's thread policy (an
             * absurd OMP_NUM_THREADS is refused here, not run by the probe).
             * Unpinned: no OpenMP team may exist before the probe's fork. */
            gat_context_options check;
            gat_context_options_init(&check);
            gat_context *ctx = cli_context_create(program, &check);
            probe_threads = gat_context_threads(ctx);
            gat_context_destroy(&ctx);
        }
        if (o.probe)
            fprintf(stderr, "%s: probing memory bandwidth and SGEMM rate (%d threads)\n",
                    program, probe_threads);
        machine = bench_probe_machine(probe_threads, o.probe);
    }

    gat_context_options copts;
    gat_context_options_init(&copts);
    copts.num_threads = o.thread_counts[0];
    copts.pin = o.pin;
    copts.gemm = o.gemm;
    gat_context *ctx = cli_context_create(program, &copts);
    for (int k = 0; k < o.num_thread_counts; k++)
        if (o.thread_counts[k] == 0)
            o.thread_counts[k] = gat_context_threads(ctx);
    /* From the probe child unless asked for alone: loading hwloc here would
     * add its plugins to the peak memory measured. */
    const char *topology = o.topology_only ? gat_context_topology(ctx) : machine.topology;
    if (!distributed)
        printf("topology: %s\n", topology);
    if (o.topology_only) {
        printf("binding: %s\n", gat_context_pin_report(ctx));
        gat_context_destroy(&ctx);
        return 0;
    }

    /* Features first: their row count fixes N for a file graph. */
    gat_array *features = NULL;
    const char *features_path = o.features_path;
    char dataset_features[4096];
    if (features_path == NULL && o.dataset_dir != NULL) {
        snprintf(dataset_features, sizeof dataset_features, "%s/features.npy", o.dataset_dir);
        struct stat st;
        if (stat(dataset_features, &st) == 0)
            features_path = dataset_features;
    }
    /* Outputs checked (and their temporary files made) before the runs. */
    char dataset_edges[4096] = "";
    if (o.dataset_dir != NULL)
        snprintf(dataset_edges, sizeof dataset_edges, "%s/edges.txt", o.dataset_dir);
    const char *const inputs[3] = {o.graph_path, features_path, dataset_edges};
    gat_output *json_out = o.json_path != NULL
                               ? cli_open_output(program, ctx, o.json_path, inputs, 3)
                               : NULL;
    gat_output *edges_out = o.export_edges_path != NULL
                                ? cli_open_output(program, ctx, o.export_edges_path, inputs, 3)
                                : NULL;
    if (features_path != NULL && !distributed)
        cli_check(program, ctx, gat_npy_read(ctx, features_path, GAT_FLOAT32, &features));
    graph_source source;
    /* A rank holds only its rows: the tiny stand-in graph below is not run. */
    const int64_t stand_in[1] = {0};
    gat_graph *g = NULL;
    if (distributed)
        cli_check(program, ctx, gat_graph_create(ctx, &g, 1, 0, stand_in, stand_in));
    else
        g = load_graph(ctx, &o, features != NULL ? features->shape[0] : -1,
                       features != NULL ? features_path : NULL, &source);
    const int64_t n = gat_graph_num_nodes(g);
    gat_model *model = NULL;
    if (o.weights_path != NULL)
        cli_check(program, ctx, gat_model_load(ctx, &model, o.weights_path));
    const int64_t f = features != NULL   ? features->shape[1]
                      : model != NULL    ? gat_model_in_features(model)
                                         : o.in_features;
    if (model != NULL && gat_model_in_features(model) != f)
        cli_fail(program, "%s: the model expects %lld input features but %s has %lld columns",
                 o.weights_path, (long long)gat_model_in_features(model), features_path,
                 (long long)f);
    /* No features for a partition table, nor for a rank (it reads its own). */
    float *x = features != NULL                      ? features->data
               : o.num_partitions > 0 || distributed ? NULL
                                                     : random_features(n, f, o.seed,
                                                                       gat_context_threads(ctx));
    /* What training did to the features the model was trained on. */
    if (x != NULL && model != NULL && gat_model_preprocessing(model) != GAT_PREPROCESS_NONE) {
        cli_check(program, ctx, gat_model_preprocess(ctx, model, x, n, f));
        printf("features: preprocessed as the model records (normalize_rows)\n");
    }

    /* --reorder: the graph is relabelled and each feature row moves with its
     * node, so the run is the same model on the same graph, in other ids.
     * Only the relabelling is timed (the feature copy is the caller's). */
    static const char *const ordering_names[] = {"none", "degree", "rcm"};
    double reorder_ms = 0.0;
    if (o.ordering != GAT_ORDER_NONE) {
        int64_t *new_id = malloc((size_t)(n > 0 ? n : 1) * sizeof *new_id);
        float *moved = malloc((size_t)(n * f > 0 && x != NULL ? n * f : 1) * sizeof *moved);
        if (new_id == NULL || moved == NULL)
            cli_fail(program, "out of memory for --reorder");
        gat_graph *reordered = NULL;
        double t0 = cli_now();
        cli_check(program, ctx, gat_graph_reorder(ctx, g, o.ordering, &reordered, new_id));
        reorder_ms = 1e3 * (cli_now() - t0);
        if (x != NULL) {
            cli_check(program, ctx, gat_permute_rows(ctx, x, n, f, new_id, false, moved));
            memcpy(x, moved, (size_t)(n * f) * sizeof *x);
        }
        printf("reorder: %s in %.1f ms\n", ordering_names[o.ordering], reorder_ms);
        gat_graph_destroy(&g);
        g = reordered;
        free(moved);
        free(new_id);
    }

    if (model == NULL) {
        gat_layer_config *configs = calloc((size_t)o.layers, sizeof *configs);
        if (configs == NULL)
            cli_fail(program, "out of memory");
        int64_t in = f;
        for (int l = 0; l < o.layers; l++) {
            gat_layer_config_init(&configs[l], in, o.heads, o.channels);
            configs[l].concat = o.concat;
            configs[l].type = o.layer_type;
            configs[l].edge_dim = o.edge_dim;
            in = o.concat ? o.heads * o.channels : o.channels;
        }
        cli_check(program, ctx, gat_model_create(ctx, &model, o.layers, configs, GAT_ACT_ELU));
        cli_check(program, ctx, gat_model_init_glorot(ctx, model, o.seed));
        free(configs);
    }
    int rc;
    float *out = NULL, *edge_attr = NULL;
    if (o.num_partitions > 0 || distributed) {
        if (!distributed)
            rc = bench_partitions(ctx, model, g, o.partitions, o.num_partitions);
        else if (strcmp(o.mode, "train") == 0)
            rc = bench_distributed_train(ctx, model, o.graph_path, features_path, o.reps,
                                         o.warmup, o.seed);
        else
            rc = bench_distributed(ctx, model, o.graph_path, features_path, o.edge_attr_path,
                                   o.reps, o.warmup);
        goto done;
    }
    const int64_t width = gat_model_out_features(model);
    /* 64-byte aligned, as gat.h advises, for the edge pass's streaming stores. */
    out = aligned_alloc(64, ((size_t)(n * width > 0 ? n * width : 1) * sizeof(float) + 63) /
                                       64 * 64);
    if (out == NULL)
        cli_fail(program, "out of memory for the output");

    const int64_t attended = gat_graph_num_attention_edges(g, true);
    const int64_t max_degree = gat_graph_max_in_degree(g);
    printf("graph: %s (built in %.1f ms)\n", source.description, 1e3 * source.load_seconds);
    printf("graph: %lld nodes, %lld edges as given, %lld with one self-loop per node; "
           "in-degree max %lld mean %.2f\n",
           (long long)n, (long long)gat_graph_num_edges(g), (long long)attended,
           (long long)max_degree, n > 0 ? (double)attended / (double)n : 0.0);
    print_model(model, o.weights_path);
    if (machine.ok)
        printf("machine: STREAM triad %.1f GB/s, SGEMM %.1f GFLOP/s (%d threads)\n",
               machine.triad_gbps, machine.sgemm_gflops,
               o.thread_counts[o.num_thread_counts - 1]);

    if (edges_out != NULL) {
        cli_write_edge_pairs(program, ctx, g, true, edges_out);
        cli_commit_outputs(program, ctx, &edges_out, 1);
        fprintf(stderr, "%s: wrote %lld edges to %s\n", program, (long long)attended,
                o.export_edges_path);
    }

    gat_inputs forward_inputs;
    gat_inputs_init(&forward_inputs, x, n, f);
    int64_t edge_dim = 0;
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_model_layer_config(model, l, &c);
        edge_dim = c.edge_dim > edge_dim ? c.edge_dim : edge_dim;
    }
    if (o.edge_dim > 0 && edge_dim != o.edge_dim)
        cli_fail(program, "--edge-dim %lld, but the model's layers have edge_dim %lld",
                 (long long)o.edge_dim, (long long)edge_dim);
    if (edge_dim > 0) {
        forward_inputs.num_edges = gat_graph_num_edges(g);
        forward_inputs.edge_dim = edge_dim;
        edge_attr = random_features(forward_inputs.num_edges, edge_dim, o.seed + 1,
                                    gat_context_threads(ctx));
        forward_inputs.edge_attr = edge_attr;
    }
    const bench_run run = {&o,       &machine, ctx, model, g, x, f, forward_inputs, out, attended,
                           max_degree, source.description, ordering_names[o.ordering],
                           reorder_ms, json_out};
    rc = strcmp(o.mode, "train") == 0
             ? bench_train(ctx, model, g, &forward_inputs, o.thread_counts, o.num_thread_counts,
                           o.reps, o.warmup, o.seed, json_out)
             : bench_infer(&run);
done:
    free(out);
    free(edge_attr);
    if (features == NULL)
        free(x);
    gat_array_destroy(&features);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    return rc;
}
