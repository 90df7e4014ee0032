/*
 * gat-bench --mode train: the training step the PyTorch peer times
 * (peer_gat.py, single-layer cases): zero the gradients, forward, loss =
 * sum(out * R) for a fixed random R, backward, SGD step. Here: the
 * trainer's forward (dropout on, activations kept), the loss, backward
 * from d_out = R, and the update. Warm-up trials excluded; every trial
 * printed, then median and min per phase.
 */
#include "bench_report.h"
#include "bench_train.h"
#include "cli_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const program = "gat-bench";

/* R [n] uniform in [-1, 1) from a counter hash: fixed for a seed. */
static float *random_gradient(int64_t n, uint64_t seed)
{
    float *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (r == NULL)
        cli_fail(program, "out of memory for R (%lld values)", (long long)n);
    for (int64_t k = 0; k < n; k++) {
        uint64_t z = (uint64_t)k * 0x9E3779B97F4A7C15ull + (seed + 77) * 0xD1B54A32D192ED03ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        r[k] = (float)(z >> 40) * 0x1.0p-23f - 1.0f;
    }
    return r;
}

typedef struct phase_times {
    double *step, *forward, *backward, *update;
} phase_times;

int bench_train(gat_context *ctx, gat_model *model, const gat_graph *g,
                const gat_inputs *inputs, const int *thread_counts, int num_thread_counts,
                int reps, int warmup, uint64_t seed, gat_output *json_out)
{
    const int64_t n = gat_graph_num_nodes(g), width = gat_model_out_features(model);
    const double dropouts[2] = {0.0, 0.6};
    float *r = random_gradient(n * width, seed);
    const int64_t inputs_rss = bench_current_rss_bytes();
    float *logits = malloc((size_t)(n * width > 0 ? n * width : 1) * sizeof(float));
    if (logits == NULL)
        cli_fail(program, "out of memory");
    phase_times pt = {calloc((size_t)reps, sizeof(double)), calloc((size_t)reps, sizeof(double)),
                      calloc((size_t)reps, sizeof(double)), calloc((size_t)reps, sizeof(double))};
    if (!pt.step || !pt.forward || !pt.backward || !pt.update)
        cli_fail(program, "out of memory");
    json_t *root = json_object(), *runs = json_array();
    double headline = 0.0;
    int headline_threads = 0;
    for (int d = 0; d < 2; d++) {
        /* A fresh model per setting: the same starting parameters. */
        gat_trainer_options o;
        gat_trainer_options_init(&o);
        o.optimizer = GAT_OPT_SGD;
        o.learning_rate = 0.01;
        o.attention_dropout = dropouts[d];
        o.seed = seed;
        gat_trainer *t = NULL;
        cli_check(program, ctx, gat_trainer_create_inputs(ctx, &t, model, g, inputs, &o));
        for (int tc = 0; tc < num_thread_counts; tc++) {
            cli_check(program, ctx, gat_context_set_threads(ctx, thread_counts[tc]));
            printf("train step, attention dropout %.1f, threads %d (%s input)\n", dropouts[d],
                   thread_counts[tc], gat_trainer_sparse_input(t) ? "sparse" : "dense");
            for (int trial = 0; trial < warmup + reps; trial++) {
                const double t0 = cli_now();
                cli_check(program, ctx, gat_trainer_forward(ctx, t, true, logits));
                double loss = 0.0; /* the peer computes its loss too */
                for (int64_t k = 0; k < n * width; k++)
                    loss += (double)logits[k] * (double)r[k];
                const double t1 = cli_now();
                cli_check(program, ctx, gat_trainer_backward(ctx, t, r, NULL));
                const double t2 = cli_now();
                cli_check(program, ctx, gat_trainer_update(ctx, t));
                const double t3 = cli_now();
                if (trial < warmup)
                    continue;
                const int k = trial - warmup;
                pt.step[k] = 1e3 * (t3 - t0);
                pt.forward[k] = 1e3 * (t1 - t0);
                pt.backward[k] = 1e3 * (t2 - t1);
                pt.update[k] = 1e3 * (t3 - t2);
                printf("  trial %2d: forward %8.3f ms   backward %8.3f ms   update %7.3f ms   "
                       "step %8.3f ms   (loss %.6g)\n",
                       k + 1, pt.forward[k], pt.backward[k], pt.update[k], pt.step[k], loss);
            }
            const double step_median = bench_median(pt.step, reps);
            printf("median (%d threads, attention dropout %.1f): forward %.3f ms   backward "
                   "%.3f ms   update %.3f ms   step %.3f ms (min %.3f)\n",
                   thread_counts[tc], dropouts[d], bench_median(pt.forward, reps),
                   bench_median(pt.backward, reps), bench_median(pt.update, reps), step_median,
                   bench_minimum(pt.step, reps));
            json_array_append_new(
                runs, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o, s:o}",
                                "threads", thread_counts[tc], "attention_dropout", dropouts[d],
                                "train_step_ms_median", step_median, "train_step_ms_min",
                                bench_minimum(pt.step, reps), "forward_ms_median",
                                bench_median(pt.forward, reps), "backward_ms_median",
                                bench_median(pt.backward, reps), "update_ms_median",
                                bench_median(pt.update, reps), "train_step_ms",
                                bench_json_doubles(pt.step, reps), "forward_ms",
                                bench_json_doubles(pt.forward, reps), "backward_ms",
                                bench_json_doubles(pt.backward, reps), "update_ms",
                                bench_json_doubles(pt.update, reps)));
            if (d == 0) {
                headline = step_median;
                headline_threads = thread_counts[tc];
            }
        }
        gat_trainer_destroy(&t);
    }
    const int64_t rss = bench_peak_rss_bytes();
    printf("peak memory: %.1f MiB\n", (double)rss / (1 << 20));
    json_object_set_new(root, "mode", json_string("train"));
    json_object_set_new(root, "nodes", json_integer(n));
    json_object_set_new(root, "edges", json_integer(gat_graph_num_attention_edges(g, true)));
    json_object_set_new(root, "threads", json_integer(headline_threads));
    json_object_set_new(root, "train_step_ms_median", json_real(headline));
    json_object_set_new(root, "optimizer", json_string("sgd lr 0.01, loss sum(out * R)"));
    json_object_set_new(root, "peak_rss_bytes", json_integer(rss));
    json_object_set_new(root, "inputs_rss_bytes", json_integer(inputs_rss));
    json_object_set_new(root, "runs", runs);
    if (json_out != NULL)
        bench_json_write(program, ctx, root, json_out);
    json_decref(root);
    free(pt.step), free(pt.forward), free(pt.backward), free(pt.update);
    free(r);
    free(logits);
    return 0;
}
