/* gat-bench's distributed side (bench_dist.c): the partition table at P
 * parts without MPI (--partitions), and the run under mpirun. */
#ifndef GAT_BENCH_DIST_H
#define GAT_BENCH_DIST_H

#include "gat.h"

#include <stdint.h>

/* For each of parts [count]: the partition and halo of g (gat_graph_partition)
 * and the per-rank memory model of a distributed forward of `model`, one
 * line each. Returns the exit status. */
int bench_partitions(gat_context *ctx, const gat_model *model, const gat_graph *g,
                     const int *parts, int count);

/* Under mpirun: gat_dist_infer of `model` (every rank holds the same one)
 * over graph_path (.gcsr), features_path and edge_attr_path (NULL: none;
 * required by a model with edge features), reps times after warmup, no
 * output written; rank 0 prints the median time and the per-rank report of
 * the last run. Returns the exit status (every rank the same). */
int bench_distributed(gat_context *ctx, const gat_model *model, const char *graph_path,
                      const char *features_path, const char *edge_attr_path, int reps,
                      int warmup);

/* Under mpirun: gat_dist_trainer's step (forward, cross-entropy over every
 * node against fixed random classes, backward, Adam) on `model` (updated),
 * reps times after warmup; rank 0 prints the medians and the per-rank
 * report of the last step (gat_dist_trainer_report). Returns the exit
 * status (every rank the same). */
int bench_distributed_train(gat_context *ctx, gat_model *model, const char *graph_path,
                            const char *features_path, int reps, int warmup, uint64_t seed);

#endif
