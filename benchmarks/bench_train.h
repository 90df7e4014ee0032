/* gat-bench --mode train: training-step timing (see bench_train.c). */
#ifndef GAT_BENCH_TRAIN_H
#define GAT_BENCH_TRAIN_H

#include "gat.h"

#include <stdint.h>

/* Times forward + backward + update of `model` on graph g with its inputs
 * (x [N, f], edge attributes where the model has edge_dim) at each thread
 * count, as the PyTorch peer's training step:
 * loss = sum(out * R) for a fixed random R, an SGD step (lr 0.01), attention
 * dropout 0 and 0.6 (no input dropout). Prints every trial and the medians;
 * writes JSON (key train_step_ms_median: dropout 0, last thread count) to
 * json_out when not NULL. Returns the exit status. */
int bench_train(gat_context *ctx, gat_model *model, const gat_graph *g,
                const gat_inputs *inputs, const int *thread_counts, int num_thread_counts,
                int reps, int warmup, uint64_t seed, gat_output *json_out);

#endif
