/*
 * Opening input files without ever blocking: open() of a FIFO that no
 * process writes would wait forever, so every reader opens through here.
 */
#ifndef GAT_FILE_READ_H
#define GAT_FILE_READ_H

#include "internal.h"

#include <stdbool.h>
#include <sys/stat.h>

/* Opens path read-only (O_NONBLOCK for the open only) into *fd and its
 * fstat into *info. A folder is refused. stream: the reader goes front to
 * back, so a FIFO, pipe or character device is read as it comes (a FIFO no
 * process has open for writing then reads as empty at once); otherwise
 * anything but a regular file is refused at once, with `needs` saying why
 * the format needs one ("its size is checked against its header"). */
gat_status gat__in_open(gat_context *ctx, const char *path, bool stream, const char *needs,
                        int *fd, struct stat *info);

/* Rows [first, first + rows) of a 2-D float32 or float64 .npy (an offset
 * read, so a distributed rank holds only its own rows) as float32, checked
 * as gat_npy_read checks (messages name the file's row numbers); the
 * file's row count in *total_rows (may be NULL). GAT_ERR_RANGE when the
 * rows are not inside the array. */
gat_status gat__npy_read_rows(gat_context *ctx, const char *path, int64_t first, int64_t rows,
                              gat_array **out, int64_t *total_rows);

#endif
