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

/* Whether path holds a .gcsr (its first bytes are the magic, or a prefix
 * of it, so that a truncated binary file is reported as one). */
static gat_status sniff_binary(gat_context *ctx, const char *path, bool *binary)
{
    *binary = false;
    /* A pipe cannot be read twice and cannot hold a .gcsr (which must be
     * a regular file): it goes to the text reader unsniffed, and unopened
     * (stat does not open), so that a writer is never cut off between two
     * opens. */
    struct stat info;
    if (stat(path, &info) == 0 && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode))
        return GAT_OK;
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
    *binary = gat__gcsr_sniff(first, (size_t)got);
    return GAT_OK;
}

static gat_status begin(gat_context *ctx, gat_graph **graph, const char *path, const char *fn,
                        bool *binary)
{
    if (ctx == NULL || graph == NULL)
        return GAT_ERR_INVALID;
    *graph = NULL;
    gat__clear_message(ctx);
    if (path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: NULL path", fn);
    return sniff_binary(ctx, path, binary);
}

gat_status gat_graph_read(gat_context *ctx, gat_graph **graph, const char *path,
                          int64_t num_nodes)
{
    bool binary;
    gat_status status = begin(ctx, graph, path, "gat_graph_read", &binary);
    if (status != GAT_OK)
        return status;
    if (binary)
        return gat__graph_load_nodes(ctx, graph, path, 0, num_nodes < 0 ? -1 : num_nodes, -1);
    return gat_graph_read_edgelist(ctx, graph, path, num_nodes);
}

/* Sides of a text edge list: as asked, or the largest id + 1; an id past
 * a side given is GAT_ERR_RANGE naming the file and the edge. */
static gat_status bipartite_sides(gat_context *ctx, const char *path, int64_t num_edges,
                                  const int64_t *src, const int64_t *dst, int64_t *num_src,
                                  int64_t *num_dst)
{
    const bool src_given = *num_src >= 0, dst_given = *num_dst >= 0;
    int64_t max_src = -1, max_dst = -1;
    for (int64_t k = 0; k < num_edges; k++) {
        if ((src_given && src[k] >= *num_src) || (dst_given && dst[k] >= *num_dst))
            return gat__fail(ctx, GAT_ERR_RANGE,
                             "%s: edge %lld of the file (%lld -> %lld): sources must be in "
                             "[0, %lld), destinations in [0, %lld)",
                             path, (long long)k, (long long)src[k], (long long)dst[k],
                             (long long)*num_src, (long long)*num_dst);
        max_src = src[k] > max_src ? src[k] : max_src;
        max_dst = dst[k] > max_dst ? dst[k] : max_dst;
    }
    if (!src_given)
        *num_src = max_src + 1;
    if (!dst_given)
        *num_dst = max_dst + 1;
    return GAT_OK;
}

gat_status gat_graph_read_bipartite(gat_context *ctx, gat_graph **graph, const char *path,
                                    int64_t num_src_nodes, int64_t num_dst_nodes)
{
    bool binary;
    gat_status status = begin(ctx, graph, path, "gat_graph_read_bipartite", &binary);
    if (status != GAT_OK)
        return status;
    if (binary)
        return gat__graph_load_nodes(ctx, graph, path, 0, num_dst_nodes < 0 ? -1 : num_dst_nodes,
                                     num_src_nodes < 0 ? -1 : num_src_nodes);
    int64_t *src = NULL, *dst = NULL, num_edges = 0, max_id = 0;
    status = gat_edgelist_read(ctx, path, -1, &src, &dst, &num_edges, &max_id);
    if (status == GAT_OK)
        status = bipartite_sides(ctx, path, num_edges, src, dst, &num_src_nodes, &num_dst_nodes);
    if (status == GAT_OK)
        status = gat_graph_create_bipartite(ctx, graph, num_src_nodes, num_dst_nodes, num_edges,
                                            src, dst);
    gat_free(ctx, src);
    gat_free(ctx, dst);
    return status;
}
