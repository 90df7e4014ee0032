/* Temporary-name-then-rename output files. */
#include "file_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The process's umask, read without changing it (umask() would, and that
 * is process-wide state another thread may be using). Linux reports it in
 * /proc/self/status; elsewhere assume the common 022. */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, status) != NULL) {
        unsigned value;
        if (sscanf(line, "Umask: %o", &value) == 1) {
            mask = (mode_t)value;
            break;
        }
    }
    fclose(status);
    return mask;
}

gat_status gat__out_open(gat_context *ctx, gat__out_file *file, const char *path)
{
    memset(file, 0, sizeof *file);
    file->path = path;
    file->allocator = ctx->allocator;
    size_t len = strlen(path);
    static const char suffix[] = ".tmp.XXXXXX";
    gat_status status;
    file->temp_path = gat__alloc_array(ctx, (int64_t)(len + sizeof suffix), 1, path, &status);
    if (file->temp_path == NULL)
        return status;
    memcpy(file->temp_path, path, len);
    memcpy(file->temp_path + len, suffix, sizeof suffix);
    int fd = mkstemp(file->temp_path);
    if (fd < 0) {
        int err = errno;
        GAT_FREE(&file->allocator, file->temp_path);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot create: %s", path, strerror(err));
    }
    /* mkstemp makes the file 0600; give it the mode open() would have. */
    (void)fchmod(fd, 0666 & ~current_umask());
    file->fp = fdopen(fd, "wb");
    if (file->fp == NULL) {
        int err = errno;
        close(fd);
        unlink(file->temp_path);
        GAT_FREE(&file->allocator, file->temp_path);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot open: %s", path, strerror(err));
    }
    return GAT_OK;
}

gat_status gat__out_write(gat_context *ctx, gat__out_file *file, const void *data, size_t size)
{
    if (size > 0 && fwrite(data, 1, size, file->fp) != size)
        return gat__fail(ctx, GAT_ERR_IO, "%s: write failed: %s", file->path, strerror(errno));
    return GAT_OK;
}

gat_status gat__out_commit(gat_context *ctx, gat__out_file *file)
{
    int failed = fflush(file->fp) != 0;
    int err = errno;
    failed |= fclose(file->fp) != 0;
    file->fp = NULL;
    if (!failed && rename(file->temp_path, file->path) != 0) {
        err = errno;
        failed = 1;
    }
    if (failed) {
        gat__out_abort(file);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot write: %s", file->path, strerror(err));
    }
    GAT_FREE(&file->allocator, file->temp_path);
    return GAT_OK;
}

void gat__out_abort(gat__out_file *file)
{
    if (file->fp != NULL) {
        fclose(file->fp);
        file->fp = NULL;
    }
    if (file->temp_path != NULL) {
        unlink(file->temp_path);
        GAT_FREE(&file->allocator, file->temp_path);
    }
}
