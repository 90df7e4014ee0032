/*
 * gat_graph_read: one entry point for every graph file. The first bytes
 * decide: the .gcsr magic (or a prefix of it, so that a truncated binary
 * file is reported as one) means the binary loader, anything else the
 * text/gzip edge-list reader.
 */
#include "file_read.h"
#include "graph_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gat_status gat_graph_read(gat_context *ctx, gat_graph **graph, const char *path,
                          int64_t num_nodes)
{
    if (ctx == NULL || graph == NULL)
        return GAT_ERR_INVALID;
    *graph = NULL;
    gat__clear_message(ctx);
    if (path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_graph_read: NULL path");
    /* A pipe cannot be read twice and cannot hold a .gcsr (which must be
     * a regular file): it goes to the text reader unsniffed, and unopened
     * (stat does not open), so that a writer is never cut off between two
     * opens. */
    struct stat info;
    if (stat(path, &info) == 0 && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode))
        return gat_graph_read_edgelist(ctx, graph, path, num_nodes);
    int fd;
    gat_status status = gat__in_open(ctx, path, false, "its first bytes are read twice", &fd, &info);
    if (status != GAT_OK)
        return status;
    unsigned char first[GAT__GCSR_MAGIC_LEN];
    ssize_t got;
    do
        got = read(fd, first, sizeof first);
    while (got < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (got < 0)
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot read: %s", path, strerror(err));
    /* A short read of a regular file means the file is that short; either
     * reader then reports what is wrong with it. */
    if (gat__gcsr_sniff(first, (size_t)got))
        return gat__graph_load_nodes(ctx, graph, path, 0, num_nodes < 0 ? -1 : num_nodes);
    return gat_graph_read_edgelist(ctx, graph, path, num_nodes);
}
