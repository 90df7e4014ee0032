/*
 * gat-bench and distributed runs (docs/distributed.md): what a partition
 * at P ranks costs, measured in one process, and the per-rank report of a
 * run under mpirun.
 */
#include "bench_dist.h"
#include "bench_report.h"
#include "cli_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const program = "gat-bench";

/* The widest layer's H*C and H, the widest hidden output, and the last
 * layer's width: what the distributed forward's buffers hold per row. */
typedef struct widths {
    int64_t hc, heads, hidden, out;
    bool scores_travel; /* some layer stores its scores: they go with the halo */
} widths;

static widths widths_of(const gat_model *m)
{
    widths w = {0, 0, 0, gat_model_out_features(m), false};
    const int layers = gat_model_num_layers(m);
    for (int l = 0; l < layers; l++) {
        gat_layer_config c;
        gat_model_layer_config(m, l, &c);
        w.hc = c.heads * c.channels > w.hc ? c.heads * c.channels : w.hc;
        w.heads = c.heads > w.heads ? c.heads : w.heads;
        const int64_t out = c.concat ? c.heads * c.channels : c.channels;
        if (l + 1 < layers && out > w.hidden)
            w.hidden = out;
        w.scores_travel |= !gat_layer_scores_in_edge_pass(&c);
    }
    return w;
}

/* Bytes a rank holds during the forward (src/dist/dist_forward.c's
 * buffers; the halo's id set, N * 3/16 bytes, lives only while it is built). */
static double rank_bytes(const gat_partition_part *p, const widths *w, int64_t in_features)
{
    const double nodes = (double)(p->rows + p->halo_rows);
    double b = 8.0 * (nodes + 1) + 4.0 * (double)p->edges;        /* local CSR */
    b += 16.0 * (double)p->rows + 8.0 * (double)(p->halo_rows + p->send_rows); /* lists */
    b += 4.0 * (double)p->rows * (double)in_features;              /* features */
    b += 4.0 * nodes * (double)(w->hc + 2 * w->heads);             /* projected, scores */
    b += 4.0 * 2.0 * (double)p->rows * (double)w->hidden;          /* hidden ping-pong */
    b += 4.0 * (double)p->rows * (double)w->out;                   /* output */
    b += 4.0 * (double)p->send_rows * (double)(w->hc + w->heads);  /* send buffer */
    return b;
}

int bench_partitions(gat_context *ctx, const gat_model *model, const gat_graph *g,
                     const int *parts, int count)
{
    const widths w = widths_of(model);
    const int64_t n = gat_graph_num_nodes(g), f = gat_model_in_features(model);
    const int64_t row_bytes = 4 * (w.hc + (w.scores_travel ? w.heads : 0));
    printf("partition: 1-D by destination, balanced by rows + edges; a halo row carries %lld "
           "bytes per layer (H*C%s floats)\n",
           (long long)row_bytes, w.scores_travel ? " + H" : "");
    printf("%6s %10s %11s %9s %10s %10s %8s %8s %6s %12s %12s %11s %11s\n", "parts",
           "rows_max", "edges_max", "imbalance", "halo_max", "halo_mean", "halo/N", "interior",
           "neigh", "MB/layer_all", "MB/layer_max", "rank_MB_max", "all_MB");
    for (int k = 0; k < count; k++) {
        const int p = parts[k];
        gat_partition_part *part = calloc((size_t)p, sizeof *part);
        if (part == NULL)
            cli_fail(program, "out of memory for %d parts", p);
        double t0 = cli_now();
        cli_check(program, ctx, gat_graph_partition(ctx, g, p, part));
        double seconds = cli_now() - t0;
        int64_t rows_max = 0, edges_max = 0, halo_max = 0, halo_sum = 0, interior = 0;
        int64_t traffic_max = 0;
        int neighbours = 0;
        double work_max = 0, work_sum = 0, bytes_max = 0, bytes_sum = 0;
        for (int r = 0; r < p; r++) {
            const gat_partition_part *q = &part[r];
            rows_max = q->rows > rows_max ? q->rows : rows_max;
            edges_max = q->edges > edges_max ? q->edges : edges_max;
            halo_max = q->halo_rows > halo_max ? q->halo_rows : halo_max;
            halo_sum += q->halo_rows;
            interior += q->interior_rows;
            const int64_t traffic = q->halo_rows > q->send_rows ? q->halo_rows : q->send_rows;
            traffic_max = traffic > traffic_max ? traffic : traffic_max;
            neighbours = q->recv_neighbours > neighbours ? q->recv_neighbours : neighbours;
            const double work = (double)(q->rows + q->edges);
            work_max = work > work_max ? work : work_max;
            work_sum += work;
            const double bytes = rank_bytes(q, &w, f);
            bytes_max = bytes > bytes_max ? bytes : bytes_max;
            bytes_sum += bytes;
        }
        printf("%6d %10lld %11lld %9.3f %10lld %10.0f %8.3f %8.3f %6d %12.1f %12.2f %11.1f "
               "%11.1f\n",
               p, (long long)rows_max, (long long)edges_max,
               work_sum > 0 ? work_max * p / work_sum : 1.0, (long long)halo_max,
               (double)halo_sum / p, n > 0 ? (double)halo_sum / (double)n : 0.0,
               n > 0 ? (double)interior / (double)n : 0.0, neighbours,
               (double)halo_sum * (double)row_bytes / 1e6,
               (double)traffic_max * (double)row_bytes / 1e6, bytes_max / 1e6, bytes_sum / 1e6);
        fprintf(stderr, "%s: %d parts measured in %.2f s\n", program, p, seconds);
        free(part);
    }
    return 0;
}

/* Rank 0 gathers every rank's report and prints `headline` then the
 * per-rank table; every rank returns the same exit status. */
static int finish(gat_context *ctx, int rank, int ranks, gat_status status,
                  const gat_dist_report *mine, const char *headline)
{
    gat_dist_report *all = rank == 0 ? calloc((size_t)ranks, sizeof *all) : NULL;
    if (status == GAT_OK)
        status = gat_dist_agree(ctx, rank == 0 && all == NULL ? GAT_ERR_NOMEM : GAT_OK);
    if (status == GAT_OK)
        status = gat_dist_gather_reports(ctx, mine, all);
    if (status == GAT_OK && rank == 0) {
        printf("%s", headline);
        printf("per rank, last run:\n");
        cli_print_dist_report(stdout, all, ranks);
    } else if (status != GAT_OK && rank == 0) {
        fprintf(stderr, "%s: %s\n", program, gat_context_message(ctx));
    }
    free(all);
    gat_dist_finalize();
    return status == GAT_OK ? 0 : 1;
}

int bench_distributed(gat_context *ctx, const gat_model *model, const char *graph_path,
                      const char *features_path, const char *edge_attr_path, int reps,
                      int warmup)
{
    int rank = 0, ranks = 1;
    cli_check(program, ctx, gat_dist_init(ctx, &rank, &ranks));
    gat_dist_infer_options options;
    gat_dist_infer_options_init(&options);
    options.graph = graph_path;
    options.features = features_path;
    options.edge_attr = edge_attr_path;
    options.allow_nonfinite = true;
    gat_dist_report mine;
    memset(&mine, 0, sizeof mine);
    double *seconds = calloc((size_t)reps, sizeof *seconds);
    gat_status status = gat_dist_agree(ctx, seconds == NULL ? GAT_ERR_NOMEM : GAT_OK);
    for (int k = 0; k < warmup + reps && status == GAT_OK; k++) {
        status = gat_dist_infer(ctx, model, &options, &mine);
        if (k >= warmup)
            seconds[k - warmup] = mine.seconds_total;
    }
    char headline[512] = "";
    if (status == GAT_OK)
        snprintf(headline, sizeof headline,
                 "distributed: %d ranks x %d threads, %lld nodes, %lld edges; gat_dist_infer "
                 "(read, forward, no output) median %.1f ms of %d (rank 0's clock)\n",
                 ranks, gat_context_threads(ctx), (long long)mine.num_nodes,
                 (long long)mine.num_edges, 1e3 * bench_median(seconds, reps), reps);
    free(seconds);
    return finish(ctx, rank, ranks, status, &mine, headline);
}

/* Class of node k: a counter hash, fixed, the same on every rank. */
static int64_t class_of(int64_t k, int64_t classes)
{
    uint64_t z = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    return (int64_t)((z ^ (z >> 29)) % (uint64_t)classes);
}

int bench_distributed_train(gat_context *ctx, gat_model *model, const char *graph_path,
                            const char *features_path, int reps, int warmup, uint64_t seed)
{
    int rank = 0, ranks = 1;
    cli_check(program, ctx, gat_dist_init(ctx, &rank, &ranks));
    gat_dist_train_options options;
    gat_dist_train_options_init(&options);
    options.graph = graph_path;
    options.features = features_path;
    gat_trainer_options train_options; /* gat-train's defaults: Adam, dropout */
    gat_trainer_options_init(&train_options);
    train_options.seed = seed;
    gat_dist_trainer *t = NULL;
    gat_dist_report mine;
    memset(&mine, 0, sizeof mine);
    int64_t *labels = NULL, *index = NULL;
    double *step = calloc((size_t)reps, sizeof *step);
    double *gradients = calloc((size_t)reps, sizeof *gradients);
    double *update = calloc((size_t)reps, sizeof *update);
    gat_status status = gat_dist_trainer_create(ctx, &t, model, &options, &train_options);
    if (status == GAT_OK)
        status = gat_dist_trainer_report(t, &mine); /* the node count */
    const int64_t n = mine.num_nodes, classes = gat_model_out_features(model);
    if (status == GAT_OK) {
        /* Every node a target, of a fixed random class: the loss of gat-train's
         * step over the whole graph. */
        labels = malloc((size_t)(n > 0 ? n : 1) * sizeof *labels);
        index = malloc((size_t)(n > 0 ? n : 1) * sizeof *index);
        status = gat_dist_agree(ctx, !labels || !index || !step || !gradients || !update
                                         ? GAT_ERR_NOMEM
                                         : GAT_OK);
    }
    for (int64_t k = 0; k < n && status == GAT_OK; k++) {
        labels[k] = class_of(k, classes);
        index[k] = k;
    }
    gat_metrics train;
    memset(&train, 0, sizeof train);
    for (int k = 0; k < warmup + reps && status == GAT_OK; k++) {
        const double t0 = cli_now();
        status = gat_dist_trainer_gradients_step(ctx, t, labels, index, n, &train);
        const double t1 = cli_now();
        if (status == GAT_OK)
            status = gat_dist_trainer_update(ctx, t);
        const double t2 = cli_now();
        if (k >= warmup) {
            gradients[k - warmup] = 1e3 * (t1 - t0);
            update[k - warmup] = 1e3 * (t2 - t1);
            step[k - warmup] = 1e3 * (t2 - t0);
        }
    }
    if (status == GAT_OK)
        status = gat_dist_trainer_report(t, &mine);
    char headline[512] = "";
    if (status == GAT_OK)
        snprintf(headline, sizeof headline,
                 "distributed: %d ranks x %d threads, %lld nodes, %lld edges (%s input); "
                 "training step (forward, loss over every node, backward, Adam) median %.3f "
                 "ms of %d (min %.3f): forward+loss+backward %.3f ms, update %.3f ms (rank "
                 "0's clock; last loss %.6g)\n",
                 ranks, gat_context_threads(ctx), (long long)n, (long long)mine.num_edges,
                 gat_dist_trainer_sparse_input(t) ? "sparse" : "dense",
                 bench_median(step, reps), reps, bench_minimum(step, reps),
                 bench_median(gradients, reps), bench_median(update, reps), train.loss);
    gat_dist_trainer_destroy(&t);
    free(labels), free(index), free(step), free(gradients), free(update);
    return finish(ctx, rank, ranks, status, &mine, headline);
}
