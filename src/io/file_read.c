/* Input files opened without blocking (see file_read.h). */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char *kind(mode_t mode)
{
    return S_ISFIFO(mode) ? "a FIFO or pipe" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

gat_status gat__in_open(gat_context *ctx, const char *path, bool stream, const char *needs,
                        int *fd, struct stat *info)
{
    *fd = -1;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (f < 0)
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gat_status status = GAT_OK;
    int flags;
    if (fstat(f, info) != 0)
        status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(info->st_mode))
        status = gat__fail(ctx, GAT_ERR_IO, "%s: is a directory, not a regular file", path);
    else if (!S_ISREG(info->st_mode) && (!stream || S_ISBLK(info->st_mode)))
        status = gat__fail(ctx, GAT_ERR_IO, "%s: is %s; %s, so it must be a regular file",
                           path, kind(info->st_mode), needs);
    /* Reads block again from here on: a writer that is slow is waited for. */
    else if ((flags = fcntl(f, F_GETFL)) < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0)
        status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot set up for reading: %s", path,
                           strerror(errno));
    if (status != GAT_OK) {
        close(f);
        return status;
    }
    *fd = f;
    return GAT_OK;
}
