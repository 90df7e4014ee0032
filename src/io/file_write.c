/* Output files (see file_write.h and gat.h's gat_output_*). */
#include "file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes are gathered into buffers this large: few system calls, and every
 * one of them checked. */
#define OUT_BUFFER ((size_t)1 << 16)
/* Symlinks followed before giving up, as the kernel's own limit. */
#define MAX_LINKS 40

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

/* A malloc'd copy of the first len bytes of text, 0-terminated. */
static char *copy_text(gat_context *ctx, const char *text, size_t len, gat_status *status)
{
    char *copy = gat__alloc_array(ctx, (int64_t)len + 1, 1, "output file name", status);
    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

/* a + b as one malloc'd string. */
static char *join(gat_context *ctx, const char *a, size_t a_len, const char *b,
                  gat_status *status)
{
    size_t b_len = strlen(b);
    char *s = gat__alloc_array(ctx, (int64_t)(a_len + b_len) + 1, 1, "output file name", status);
    if (s != NULL) {
        memcpy(s, a, a_len);
        memcpy(s + a_len, b, b_len + 1);
    }
    return s;
}

static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket" : S_ISLNK(mode) ? "a symlink" : "not a regular file";
}

/* Follows *name through symlinks while it names one that leads to a
 * regular file or to nothing (a dangling link: the file is made where it
 * points). Stops at anything else, which the kernel then opens through
 * its links itself: /dev/stdout's /proc link to a pipe names no path. */
static gat_status resolve_links(gat_context *ctx, const char *path, char **name)
{
    gat_status status = GAT_OK;
    for (int hops = 0;; hops++) {
        struct stat info;
        if (lstat(*name, &info) != 0 || !S_ISLNK(info.st_mode))
            return GAT_OK;
        if (stat(*name, &info) == 0 && !S_ISREG(info.st_mode))
            return GAT_OK;
        if (hops == MAX_LINKS)
            return gat__fail(ctx, GAT_ERR_IO, "%s: more than %d symlinks in a row", path,
                             MAX_LINKS);
        char link[PATH_MAX];
        ssize_t len = readlink(*name, link, sizeof link - 1);
        if (len < 0)
            return gat__fail(ctx, GAT_ERR_IO, "%s: cannot read the symlink %s: %s", path, *name,
                             strerror(errno));
        link[len] = '\0';
        /* A relative link is relative to the folder holding it. */
        const char *slash = strrchr(*name, '/');
        size_t keep = link[0] == '/' || slash == NULL ? 0 : (size_t)(slash - *name) + 1;
        char *next = join(ctx, *name, keep, link, &status);
        if (next == NULL)
            return status;
        GAT_FREE(&ctx->allocator, *name);
        *name = next;
    }
}

/* out->target = the real path of name's folder + "/" + its file name, so
 * that the temporary file is made beside the file really replaced and two
 * names of one file compare equal. */
static gat_status locate_target(gat_context *ctx, gat_output *out, const char *name)
{
    gat_status status = GAT_OK;
    const char *slash = strrchr(name, '/');
    const char *base = slash == NULL ? name : slash + 1;
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return gat__fail(ctx, GAT_ERR_IO, "%s: names a directory, not a file", out->path);
    char *folder = slash == NULL       ? copy_text(ctx, ".", 1, &status)
                   : slash == name     ? copy_text(ctx, "/", 1, &status)
                                       : copy_text(ctx, name, (size_t)(slash - name), &status);
    if (folder == NULL)
        return status;
    char real[PATH_MAX];
    if (realpath(folder, real) == NULL) {
        int err = errno;
        status = gat__fail(ctx, GAT_ERR_IO, "%s: folder %s %s", out->path, folder,
                           err == ENOENT    ? "does not exist"
                           : err == ENOTDIR ? "is not a folder"
                                            : strerror(err));
    } else {
        size_t len = strlen(real);
        if (len > 1)
            real[len++] = '/';
        out->target = join(ctx, real, len, base, &status);
    }
    GAT_FREE(&ctx->allocator, folder);
    return status;
}

/* The descriptor a name gives the process's own open file by: /dev/stdout,
 * /dev/stderr, /dev/fd/N, /proc/self/fd/N; -1 for other names. Such an
 * output is written through that descriptor, whatever it is open on: where
 * the shell pointed it (a file opened for appending gets appended to), and
 * a socket, which cannot be opened by name at all. */
static int own_descriptor(const char *path)
{
    if (strcmp(path, "/dev/stdout") == 0)
        return 1;
    if (strcmp(path, "/dev/stderr") == 0)
        return 2;
    const char *digits = strncmp(path, "/dev/fd/", 8) == 0            ? path + 8
                         : strncmp(path, "/proc/self/fd/", 14) == 0 ? path + 14
                                                                     : NULL;
    if (digits == NULL || *digits == '\0')
        return -1;
    char *end;
    long fd = strtol(digits, &end, 10);
    return *end == '\0' && fd >= 0 && fd <= INT_MAX ? (int)fd : -1;
}

/* Devices, FIFOs and sockets: opened for writing where they are. */
static gat_status open_in_place(gat_context *ctx, gat_output *out, const char *name,
                                mode_t mode)
{
    int fd, own = own_descriptor(out->path);
    if (own >= 0) {
        fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
    } else if (S_ISSOCK(mode)) {
        return gat__fail(ctx, GAT_ERR_IO,
                         "%s: is a socket, which cannot be opened by name (only one the "
                         "process already holds: /dev/stdout, /dev/stderr, /dev/fd/N)",
                         out->path);
    } else {
        /* O_NONBLOCK: a FIFO nobody reads fails at once (ENXIO) instead
         * of blocking until a reader comes. */
        fd = open(name, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    }
    if (fd < 0) {
        int err = errno;
        if (err == ENXIO && S_ISFIFO(mode))
            return gat__fail(ctx, GAT_ERR_IO,
                             "%s: is a FIFO that no process is reading; start the reader "
                             "first", out->path);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot open %s for writing: %s", out->path,
                         file_kind(mode), strerror(err));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int err = errno;
        close(fd);
        return gat__fail(ctx, GAT_ERR_IO, "%s: cannot set up %s: %s", out->path,
                         file_kind(mode), strerror(err));
    }
    out->fd = fd;
    return GAT_OK;
}

/* A regular file: a temporary file beside the target, with the mode the
 * replaced file had (or the one a plain open would give). */
static gat_status open_temporary(gat_context *ctx, gat_output *out, const struct stat *existing)
{
    gat_status status = GAT_OK;
    out->temp = join(ctx, out->target, strlen(out->target), ".tmp.XXXXXX", &status);
    if (out->temp == NULL)
        return status;
    int fd = mkstemp(out->temp);
    if (fd < 0) {
        int err = errno;
        GAT_FREE(&out->allocator, out->temp);
        const char *slash = strrchr(out->target, '/');
        int folder_len = slash == out->target ? 1 : (int)(slash - out->target);
        return gat__fail(ctx, GAT_ERR_IO,
                         "%s: cannot create a temporary file in the folder %.*s (outputs are "
                         "written there, then renamed over the target): %s",
                         out->path, folder_len, out->target, strerror(err));
    }
    mode_t mode = existing != NULL ? existing->st_mode & 07777 : 0666 & ~current_umask();
    (void)fchmod(fd, mode);
    out->fd = fd;
    return GAT_OK;
}

/* Refuses a target that is one of the inputs (device and inode). */
static gat_status check_not_input(gat_context *ctx, const gat_output *out,
                                  const struct stat *target, const char *const *inputs,
                                  int num_inputs)
{
    for (int k = 0; k < num_inputs; k++) {
        struct stat info;
        if (inputs[k] != NULL && stat(inputs[k], &info) == 0 && info.st_dev == target->st_dev &&
            info.st_ino == target->st_ino)
            return gat__fail(ctx, GAT_ERR_INVALID,
                             "%s: is the input %s (the same file); refusing to write over it",
                             out->path, inputs[k]);
    }
    return GAT_OK;
}

static gat_status open_target(gat_context *ctx, gat_output *out, const char *const *inputs,
                              int num_inputs)
{
    gat_status status = GAT_OK;
    char *name = copy_text(ctx, out->path, strlen(out->path), &status);
    if (name == NULL)
        return status;
    struct stat info;
    bool exists = false, own = own_descriptor(out->path) >= 0;
    if (!own)
        status = resolve_links(ctx, out->path, &name);
    if (status == GAT_OK) {
        if ((own ? fstat(own_descriptor(out->path), &info) : stat(name, &info)) == 0)
            exists = true;
        else if (errno != ENOENT || own)
            status = gat__fail(ctx, GAT_ERR_IO, "%s: %s", out->path, strerror(errno));
    }
    if (status == GAT_OK && exists)
        status = check_not_input(ctx, out, &info, inputs, num_inputs);
    if (status == GAT_OK && own) {
        status = open_in_place(ctx, out, name, info.st_mode);
        if (status == GAT_OK)
            status = locate_target(ctx, out, name);
    } else if (status == GAT_OK && exists && !S_ISREG(info.st_mode)) {
        if (S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode) || S_ISFIFO(info.st_mode) ||
            S_ISSOCK(info.st_mode))
            status = open_in_place(ctx, out, name, info.st_mode);
        else
            status = gat__fail(ctx, GAT_ERR_IO,
                               "%s: is %s; outputs go to regular files, devices, FIFOs or "
                               "sockets", out->path, file_kind(info.st_mode));
        if (status == GAT_OK)
            status = locate_target(ctx, out, name);
    } else if (status == GAT_OK) {
        status = locate_target(ctx, out, name);
        if (status == GAT_OK && exists && access(out->target, W_OK) != 0)
            status = gat__fail(ctx, GAT_ERR_IO, "%s: the file is not writable: %s", out->path,
                               strerror(errno));
        if (status == GAT_OK)
            status = open_temporary(ctx, out, exists ? &info : NULL);
    }
    GAT_FREE(&ctx->allocator, name);
    return status;
}

gat_status gat_output_open(gat_context *ctx, gat_output **out, const char *path,
                           const char *const *inputs, int num_inputs)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    if (out == NULL || path == NULL || (inputs == NULL && num_inputs > 0) || num_inputs < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_output_open: NULL or negative argument");
    *out = NULL;
    if (path[0] == '\0')
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_output_open: empty file name");
    gat_status status = GAT_OK;
    gat_output *o = gat__alloc_array(ctx, 1, sizeof *o, path, &status);
    if (o == NULL)
        return status;
    memset(o, 0, sizeof *o);
    o->allocator = ctx->allocator;
    o->fd = -1;
    o->path = copy_text(ctx, path, strlen(path), &status);
    if (o->path != NULL)
        o->buffer = gat__alloc_array(ctx, (int64_t)OUT_BUFFER, 1, path, &status);
    if (status == GAT_OK)
        status = open_target(ctx, o, inputs, num_inputs);
    if (status != GAT_OK) {
        gat_output_discard(&o);
        return status;
    }
    *out = o;
    return GAT_OK;
}

/* Every byte of data to the descriptor, or the errno that stopped it. */
static int write_all(int fd, const unsigned char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static gat_status write_failed(gat_context *ctx, const gat_output *out, int err)
{
    return gat__fail(ctx, GAT_ERR_IO, "%s: cannot write: %s", out->path, strerror(err));
}

static gat_status flush(gat_context *ctx, gat_output *out)
{
    int err = write_all(out->fd, out->buffer, out->used);
    out->used = 0;
    return err == 0 ? GAT_OK : write_failed(ctx, out, err);
}

gat_status gat_output_write(gat_context *ctx, gat_output *out, const void *data, size_t size)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    if (out == NULL || out->fd < 0 || (data == NULL && size > 0))
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_output_write: NULL or closed output");
    if (out->used + size <= OUT_BUFFER) {
        memcpy(out->buffer + out->used, data, size);
        out->used += size;
        return GAT_OK;
    }
    gat_status status = flush(ctx, out);
    if (status != GAT_OK)
        return status;
    if (size <= OUT_BUFFER) {
        memcpy(out->buffer, data, size);
        out->used = size;
        return GAT_OK;
    }
    int err = write_all(out->fd, data, size);
    return err == 0 ? GAT_OK : write_failed(ctx, out, err);
}

const char *gat_output_target(const gat_output *out)
{
    return out != NULL ? out->target : NULL;
}

const char *gat_output_temporary(const gat_output *out)
{
    return out != NULL ? out->temp : NULL;
}

gat_status gat_output_check_distinct(gat_context *ctx, gat_output *const *outs, int count)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    for (int a = 0; a < count; a++)
        for (int b = a + 1; b < count; b++)
            if (outs[a] != NULL && outs[b] != NULL && outs[a]->temp != NULL &&
                outs[b]->temp != NULL && strcmp(outs[a]->target, outs[b]->target) == 0)
                return gat__fail(ctx, GAT_ERR_INVALID,
                                 "%s and %s: two outputs name the same file %s", outs[a]->path,
                                 outs[b]->path, outs[a]->target);
    return GAT_OK;
}

/* Flushes, syncs (regular files: the data is on disk before the rename
 * makes it the target) and closes. */
static gat_status finish(gat_context *ctx, gat_output *out)
{
    gat_status status = flush(ctx, out);
    if (status == GAT_OK && out->temp != NULL && fsync(out->fd) != 0)
        status = write_failed(ctx, out, errno);
    int err = close(out->fd) != 0 ? errno : 0;
    out->fd = -1;
    if (status == GAT_OK && err != 0)
        status = write_failed(ctx, out, err);
    return status;
}

/* Makes the renames themselves durable; a folder that cannot be synced
 * (some file systems refuse) loses nothing the rename did not already do. */
static void sync_folder(const char *target)
{
    const char *slash = strrchr(target, '/');
    char folder[PATH_MAX];
    size_t len = slash == target ? 1 : (size_t)(slash - target);
    if (slash == NULL || len >= sizeof folder)
        return;
    memcpy(folder, target, len);
    folder[len] = '\0';
    int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

gat_status gat_output_commit(gat_context *ctx, gat_output **outs, int count)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat_status status = outs != NULL && count >= 0 ? GAT_OK
                        : gat__fail(ctx, GAT_ERR_INVALID, "gat_output_commit: no outputs");
    for (int k = 0; k < count && status == GAT_OK; k++)
        if (outs[k] == NULL)
            status = gat__fail(ctx, GAT_ERR_INVALID, "gat_output_commit: output %d is NULL", k);
    if (status == GAT_OK)
        status = gat_output_check_distinct(ctx, outs, count);
    for (int k = 0; k < count && status == GAT_OK; k++)
        status = finish(ctx, outs[k]);
    for (int k = 0; k < count && status == GAT_OK; k++) {
        gat_output *o = outs[k];
        if (o->temp == NULL)
            continue;
        if (rename(o->temp, o->target) != 0) {
            status = gat__fail(ctx, GAT_ERR_IO, "%s: cannot rename %s over it: %s", o->path,
                               o->temp, strerror(errno));
            break;
        }
        GAT_FREE(&o->allocator, o->temp);
        sync_folder(o->target);
    }
    for (int k = 0; outs != NULL && k < count; k++)
        gat_output_discard(&outs[k]);
    return status;
}

void gat_output_discard(gat_output **out)
{
    if (out == NULL || *out == NULL)
        return;
    gat_output *o = *out;
    if (o->fd >= 0)
        close(o->fd);
    if (o->temp != NULL)
        unlink(o->temp);
    gat_allocator allocator = o->allocator;
    GAT_FREE(&allocator, o->temp);
    GAT_FREE(&allocator, o->target);
    GAT_FREE(&allocator, o->path);
    GAT_FREE(&allocator, o->buffer);
    GAT_FREE(&allocator, o);
    *out = NULL;
}

gat_status gat__write_file(gat_context *ctx, const char *function, const char *path,
                           gat__out_body body, const void *arg)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (path == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "%s: path is NULL", function);
    gat_output *out = NULL;
    gat_status status = gat_output_open(ctx, &out, path, NULL, 0);
    if (status == GAT_OK)
        status = body(ctx, out, arg);
    if (status == GAT_OK)
        return gat_output_commit(ctx, &out, 1);
    gat_output_discard(&out);
    return status;
}
