/*
 * The .gcsr binary graph format (layout documented in graph_binary.c):
 * what the loader, the sniffing reader and the tests share.
 */
#ifndef GAT_GRAPH_BINARY_H
#define GAT_GRAPH_BINARY_H

#include "graph.h"

#define GAT__GCSR_MAGIC "\x89GATCSR\n"
#define GAT__GCSR_MAGIC_LEN 8
/* Version 2 adds the source count (bipartite graphs) and the edges' input
 * positions; version 1 files still load, and the writer still writes
 * version 1 for a graph that needs neither. */
#define GAT__GCSR_VERSION 2u
#define GAT__GCSR_HEADER_SIZE 128u
/* Sections start on cache-line (and so page-offset-friendly) boundaries,
 * so a mapped file's arrays are as aligned as allocated ones. */
#define GAT__GCSR_ALIGN 64u
/* The checksum's unit of parallel work; part of the format (block
 * boundaries change the value). */
#define GAT__GCSR_BLOCK ((uint64_t)1 << 20)

/* Byte offsets of the header fields. */
enum {
    GAT__GCSR_AT_VERSION = 8,
    GAT__GCSR_AT_FLAGS = 12,
    GAT__GCSR_AT_NODES = 16,
    GAT__GCSR_AT_EDGES = 24,
    GAT__GCSR_AT_LOOPS = 32,
    GAT__GCSR_AT_MAX_DEGREE = 40,
    GAT__GCSR_AT_ROW_OFFSET = 48,
    GAT__GCSR_AT_ROW_BYTES = 56,
    GAT__GCSR_AT_COL_OFFSET = 64,
    GAT__GCSR_AT_COL_BYTES = 72,
    GAT__GCSR_AT_FILE_SIZE = 80,
    GAT__GCSR_AT_CHECKSUM = 88,
    GAT__GCSR_AT_SRC_NODES = 96,  /* version 2 */
    GAT__GCSR_AT_POS_OFFSET = 104, /* version 2 */
    GAT__GCSR_AT_POS_BYTES = 112,  /* version 2 */
    GAT__GCSR_AT_RESERVED = 120,   /* version 1: 96 */
    GAT__GCSR_V1_RESERVED = 96
};

/* True when the first n bytes (n >= 1) could begin a .gcsr file: a prefix
 * of the magic. Text edge lists never start with byte 0x89. */
bool gat__gcsr_sniff(const unsigned char *bytes, size_t n);

/* gat_graph_load, and for gat_graph_read: num_nodes >= 0 asks for exactly
 * that many (destination) nodes, appending isolated ones to a smaller
 * file's graph (copy mode only); a larger file is GAT_ERR_RANGE.
 * num_src_nodes the same for the sources (gat_graph_read_bipartite); < 0
 * keeps the file's, which for a file that is not bipartite follows
 * num_nodes. */
gat_status gat__graph_load_nodes(gat_context *ctx, gat_graph **graph, const char *path,
                                 unsigned flags, int64_t num_nodes, int64_t num_src_nodes);

/* A .gcsr file read by row ranges (a distributed rank reads only its own
 * rows): the header is checked against the file's size when opened; the
 * rows read are checked for structure (offsets rising inside [0, E],
 * sources in [0, num_src_nodes)); the input positions of a version 2 file
 * are read by edge ranges, for the edge attributes. The checksum covers the whole file, so it is not
 * verified here. */
typedef struct gat__gcsr_file {
    int fd;
    const char *path; /* borrowed, for messages */
    int64_t num_nodes, num_edges;
    int64_t num_src_nodes; /* sources lie in [0, num_src_nodes): != num_nodes if bipartite */
    uint64_t row_offset, col_offset;
    uint64_t pos_offset; /* the position section, when pos_width (4 or 8) is not 0 */
    int pos_width;
} gat__gcsr_file;

gat_status gat__gcsr_open(gat_context *ctx, const char *path, gat__gcsr_file *file);
void gat__gcsr_close(gat__gcsr_file *file);
/* row_ptr[i] of the file, checked to lie in [0, E]. */
gat_status gat__gcsr_row_ptr_at(gat_context *ctx, const gat__gcsr_file *file, int64_t i,
                                int64_t *value);
/* Rows [first, last): row_ptr [last - first + 1] (caller-owned) rebased to
 * start at 0, col [at most max_edges] (caller-owned) their sources. */
gat_status gat__gcsr_read_rows(gat_context *ctx, const gat__gcsr_file *file, int64_t first,
                               int64_t last, int64_t *row_ptr, int32_t *col, int64_t max_edges);
/* The input positions of edges [first, first + count) of the file's CSR
 * (caller-owned out[count]): the file's, each checked to lie in [0, E) (a
 * repeat, which only the whole-file loader can see, gives wrong rows but
 * reads nothing out of range), or first + k for a file without them. */
gat_status gat__gcsr_read_positions(gat_context *ctx, const gat__gcsr_file *file, int64_t first,
                                    int64_t count, int64_t *out);

#endif
