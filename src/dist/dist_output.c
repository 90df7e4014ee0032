/*
 * Outputs every rank writes a part of (dist.h): one .npy, written at
 * offsets into rank 0's temporary file and renamed only when every part is
 * in, so that a failure on any rank leaves the old file (or none).
 */
#include "dist.h"
#include "file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gat_status gat__dist_output_open(gat_context *ctx, MPI_Comm comm, gat__dist_output *o,
                                 const char *path, const char *const *inputs, int num_inputs)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    o->out = NULL;
    o->path = path;
    o->fd = -1;
    o->data_start = 0;
    gat_status status = GAT_OK;
    char name[4096] = "";
    if (rank == 0) {
        status = gat_output_open(ctx, &o->out, path, inputs, num_inputs);
        if (status == GAT_OK && gat_output_temporary(o->out) == NULL)
            status = gat__fail(ctx, GAT_ERR_INVALID,
                               "%s: a distributed run writes its outputs at offsets, so they "
                               "must be regular files (or new names), not devices or FIFOs",
                               path);
        if (status == GAT_OK &&
            snprintf(name, sizeof name, "%s", gat_output_temporary(o->out)) >= (int)sizeof name)
            status = gat__fail(ctx, GAT_ERR_INVALID, "%s: the path is too long", path);
    }
    status = gat__dist_agree(ctx, comm, status);
    if (status == GAT_OK) {
        int code = MPI_Bcast(name, (int)sizeof name, MPI_CHAR, 0, comm);
        if (code != MPI_SUCCESS)
            status = gat__dist_mpi_fail(ctx, code, "MPI_Bcast (output name)");
        else if (rank == 0)
            o->fd = o->out->fd;
        else if ((o->fd = open(name, O_WRONLY | O_CLOEXEC)) < 0)
            status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot open rank 0's temporary file %s: %s",
                               path, name, strerror(errno));
        status = gat__dist_agree(ctx, comm, status);
    }
    if (status != GAT_OK) {
        if (rank != 0 && o->fd >= 0)
            close(o->fd);
        o->fd = -1;
        gat_output_discard(&o->out);
    }
    return status;
}

/* pwrite until done: 0 or an errno. */
static int write_at(int fd, const void *data, size_t size, off_t at)
{
    const unsigned char *p = data;
    while (size > 0) {
        size_t chunk = size > ((size_t)1 << 30) ? (size_t)1 << 30 : size;
        ssize_t put = pwrite(fd, p, chunk, at);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += put;
        size -= (size_t)put;
        at += put;
    }
    return 0;
}

gat_status gat__dist_output_write(gat_context *ctx, MPI_Comm comm, gat__dist_output *o,
                                  int64_t rows, int64_t cols, const float *data, int64_t at,
                                  int64_t count)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    const int64_t shape[2] = {rows, cols};
    unsigned char header[256];
    const size_t header_size = gat__npy_format_header(header, sizeof header, "<f4", 2, shape);
    o->data_start = (int64_t)header_size;
    gat_status status = GAT_OK;
    /* The header goes through the output's own buffer (written at offset 0
     * when rank 0 commits); the data beside it, at offsets. */
    if (rank == 0)
        status = gat_output_write(ctx, o->out, header, header_size);
    size_t bytes = 0;
    if (status == GAT_OK && !gat__mul_size((size_t)count, sizeof(float), &bytes))
        status = gat__fail(ctx, GAT_ERR_OVERFLOW, "output: %lld values overflow", (long long)count);
    if (status == GAT_OK) {
        const off_t offset = (off_t)(o->data_start + at * (int64_t)sizeof(float));
        int err = write_at(o->fd, data, bytes, offset);
        if (err != 0)
            status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot write at byte %lld: %s",
                               o->path, (long long)offset,
                               strerror(err));
    }
    return status;
}

gat_status gat__dist_outputs_finish(gat_context *ctx, MPI_Comm comm, gat__dist_output *outs,
                                    int count, gat_status status)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    /* Every rank's data on disk before rank 0 renames (rank 0's own fd is
     * synced by the commit). */
    gat_status synced = GAT_OK;
    for (int k = 0; k < count; k++) {
        if (rank != 0 && outs[k].fd >= 0) {
            int err = status == GAT_OK && fsync(outs[k].fd) != 0 ? errno : 0;
            if (close(outs[k].fd) != 0 && err == 0)
                err = errno;
            if (err != 0 && status == GAT_OK && synced == GAT_OK)
                synced = gat__fail(ctx, GAT_ERR_IO, "%s: cannot sync rank %d's part: %s",
                                   outs[k].path, rank, strerror(err));
        }
        outs[k].fd = -1;
    }
    /* An incoming failure was agreed on already (agreeing again would name
     * rank 0 in front of the failing rank's message). */
    if (status == GAT_OK)
        status = gat__dist_agree(ctx, comm, synced);
    gat_status committed = GAT_OK;
    if (rank == 0) {
        gat_output *list[8];
        int n = 0;
        for (int k = 0; k < count && k < 8; k++)
            if (outs[k].out != NULL)
                list[n++] = outs[k].out;
        if (status == GAT_OK && n > 0)
            committed = gat_output_commit(ctx, list, n);
        else
            for (int k = 0; k < n; k++)
                gat_output_discard(&list[k]);
        for (int k = 0; k < count; k++)
            outs[k].out = NULL;
    }
    return status == GAT_OK ? gat__dist_agree(ctx, comm, committed) : status;
}
