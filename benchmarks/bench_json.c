/* The JSON report's atomic write; see bench_json.h. */
#include "bench_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bench_json_write(json_t *root, const char *path)
{
    /* A unique name (not PATH.tmp): two runs writing the same report
     * must not interleave in one temporary file. */
    size_t len = strlen(path) + sizeof ".tmp.XXXXXX";
    char *temp = malloc(len);
    if (temp == NULL)
        return ENOMEM;
    snprintf(temp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(temp);
    if (fd < 0) {
        int err = errno;
        free(temp);
        return err;
    }
    /* mkstemp makes the file 0600; give it the mode a plain open would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    errno = 0;
    int err = 0;
    if (json_dumpfd(root, fd, JSON_INDENT(1)) != 0 || fsync(fd) != 0)
        err = errno != 0 ? errno : EIO;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(temp, path) != 0)
        err = errno;
    if (err != 0)
        unlink(temp);
    free(temp);
    return err;
}
