/*
 * Output files, for every writer in the library and every tool (through
 * gat.h's gat_output_*). A regular file (or a name that does not exist yet)
 * is written to a temporary file in the folder of its final target (after
 * following symlinks, so a link stays a link and its target gets the data),
 * synced and renamed over the target on commit: it appears complete or not
 * at all. A character or block device, a FIFO or a socket is written in
 * place, every write, flush and close checked. Anything else is refused.
 */
#ifndef GAT_FILE_WRITE_H
#define GAT_FILE_WRITE_H

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>

struct gat_output {
    gat_allocator allocator;
    char *path;        /* as the caller named it, for messages */
    char *target;      /* the resolved final name: real folder + "/" + file name */
    char *temp;        /* temporary file beside target; NULL when written in place */
    int fd;
    unsigned char *buffer;
    size_t used;
};

/* What the path-taking writers share: opens path (no inputs to avoid),
 * runs body on it, commits, or discards on failure. */
typedef gat_status (*gat__out_body)(gat_context *ctx, gat_output *out, const void *arg);
gat_status gat__write_file(gat_context *ctx, const char *function, const char *path,
                           gat__out_body body, const void *arg);

/* The .npy 1.0 preamble and header of a C-order array of `descr` ('<f4',
 * '<i8') and shape (npy_write.c; the data starts right after it). Returns
 * its length, or 0 when it does not fit in size bytes (256 always do). */
size_t gat__npy_format_header(unsigned char *out, size_t size, const char *descr, int ndim,
                              const int64_t *shape);

#endif
