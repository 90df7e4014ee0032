/*
 * The MPI back end's shared pieces (only compiled with -Dmpi=enabled).
 */
#ifndef GAT_DIST_H
#define GAT_DIST_H

#include "partition.h"

#include <mpi.h>

/* gat_dist_agree over comm: the lowest failing rank's status and message. */
gat_status gat__dist_agree(gat_context *ctx, MPI_Comm comm, gat_status status);

/* A failed MPI call as a gat_status naming the call. */
gat_status gat__dist_mpi_fail(gat_context *ctx, int code, const char *call);

/* One output file written by every rank at its offset (dist_output.c):
 * rank 0 opens it (a temporary file beside the target) and writes the
 * .npy header; each rank writes its bytes of the data; rank 0 renames it
 * after every rank's part is in (gat__dist_outputs_finish). */
typedef struct gat__dist_output {
    gat_output *out; /* rank 0's */
    const char *path; /* borrowed, for messages */
    int fd;          /* every rank's descriptor of the temporary file */
    int64_t data_start;
} gat__dist_output;

/* Collective. Rank 0 opens path (refusing all but regular files and new
 * names: ranks write at offsets), checked against `inputs`; every rank
 * then opens the temporary file. */
gat_status gat__dist_output_open(gat_context *ctx, MPI_Comm comm, gat__dist_output *o,
                                 const char *path, const char *const *inputs, int num_inputs);
/* Writes the float32 header of shape [rows, cols] (rank 0) and this rank's
 * `count` floats at element offset `at` of the data. */
gat_status gat__dist_output_write(gat_context *ctx, MPI_Comm comm, gat__dist_output *o,
                                  int64_t rows, int64_t cols, const float *data, int64_t at,
                                  int64_t count);
/* Collective: closes every rank's descriptor; commits all outputs (rank 0,
 * all or none) if status (the same on every rank: agreed) is GAT_OK and
 * every part is synced, else discards them. Frees them. Returns the agreed
 * status. */
gat_status gat__dist_outputs_finish(gat_context *ctx, MPI_Comm comm, gat__dist_output *outs,
                                    int count, gat_status status);

#endif
