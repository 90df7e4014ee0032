/*
 * Distributed runs, the part without MPI: the 1-D partition by destination
 * and each rank's halo (docs/distributed.md). Plain C, so the partition of
 * a graph can be measured and tested in one process.
 */
#ifndef GAT_PARTITION_H
#define GAT_PARTITION_H

#include "graph.h"

/* row_ptr[i] of a CSR held somewhere (memory, or a file read at offsets). */
typedef gat_status (*gat__row_ptr_at)(gat_context *ctx, const void *source, int64_t i,
                                      int64_t *value);

/* Boundaries of `parts` contiguous row ranges of an N-row, E-edge CSR,
 * balanced by rows plus edges (as the edge pass balances its chunks): part
 * r owns rows [bounds[r], bounds[r + 1]), bounds [parts + 1]. The first
 * row whose row_ptr[i] + i reaches (N + E) * r / parts starts part r, so
 * parts may be empty (more parts than rows; a hub row outweighing a
 * share). Only the O(parts log N) row_ptr entries the searches visit are
 * read. */
gat_status gat__partition_bounds(gat_context *ctx, gat__row_ptr_at at, const void *source,
                                 int64_t num_nodes, int64_t num_edges, int parts,
                                 int64_t *bounds);

/* The part owning global row g (bounds as above; g in [0, N)). */
int gat__partition_owner(const int64_t *bounds, int parts, int64_t g);

/* One rank's view of the partition. Local ids: positions [0, rows) are the
 * owned rows, those whose sources are all owned ("interior", computable
 * before any halo arrives) first, each group in global order; positions
 * [rows, rows + halo) are the remote sources, ascending by global id (and
 * so grouped by owner). */
typedef struct gat__halo {
    int parts, rank;
    int64_t first, rows;   /* owned global rows [first, first + rows) */
    int64_t edges;         /* their edges as given */
    int64_t interior;      /* positions [0, interior) are interior rows */
    int64_t *row_of;       /* [rows] position -> owned row (global id - first) */
    int64_t *position;     /* [rows] owned row -> position */
    int64_t halo;
    int64_t *halo_ids;     /* [halo] global ids, ascending */
    int64_t *recv_start;   /* [parts + 1]: halo_ids owned by q are [recv_start[q], recv_start[q + 1]) */
    int64_t *send_start;   /* [parts + 1]: send_rows going to q, after gat__halo_set_sends */
    int64_t *send_rows;    /* positions of the owned rows sent, grouped by receiver */
    gat_graph *graph;      /* rows + halo nodes: rows in position order with their
                            * sources as local ids, halo rows empty; NULL unless asked */
} gat__halo;

/* Builds rank's halo from its rows' CSR: row_ptr [rows + 1] (any base:
 * row i's edges are col[row_ptr[i] - row_ptr[0] ...]), col global source
 * ids (checked in [0, num_nodes)). With build_graph the local graph is made
 * too (what the forward runs on); without, only the lists (measuring). */
gat_status gat__halo_build(gat_context *ctx, gat__halo *halo, const int64_t *bounds, int parts,
                           int rank, int64_t num_nodes, const int64_t *row_ptr,
                           const int32_t *col, bool build_graph);

/* The send lists from what the other ranks asked for: send_start [parts + 1]
 * and the global ids each rank q asked for, grouped by q (borrowed). Each
 * must be an owned row: GAT_ERR_RANGE otherwise. */
gat_status gat__halo_set_sends(gat_context *ctx, gat__halo *halo, const int64_t *send_start,
                               const int64_t *asked);

void gat__halo_free(gat_context *ctx, gat__halo *halo);

#endif
