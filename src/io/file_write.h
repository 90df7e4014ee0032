/*
 * Output files appear complete or not at all: data goes to a temporary file
 * beside the target, renamed over it on commit, removed on abort.
 */
#ifndef GAT_FILE_WRITE_H
#define GAT_FILE_WRITE_H

#include "internal.h"

#include <stdio.h>

typedef struct gat__out_file {
    FILE *fp;
    const char *path;  /* borrowed target name */
    char *temp_path;   /* owned */
    gat_allocator allocator;
} gat__out_file;

gat_status gat__out_open(gat_context *ctx, gat__out_file *file, const char *path);
gat_status gat__out_write(gat_context *ctx, gat__out_file *file, const void *data, size_t size);
/* Flushes, closes and renames; on failure the temporary file is removed. */
gat_status gat__out_commit(gat_context *ctx, gat__out_file *file);
/* Closes and removes the temporary file (safe after a failed commit). */
void gat__out_abort(gat__out_file *file);

#endif
