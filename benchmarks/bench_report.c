/* What the two reports share; see bench_report.h. */
#include "bench_report.h"

#include "cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *values, int n)
{
    double *sorted = malloc((size_t)n * sizeof *sorted);
    if (sorted == NULL)
        cli_fail("gat-bench", "out of memory");
    memcpy(sorted, values, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
    double m = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    free(sorted);
    return m;
}

double bench_minimum(const double *values, int n)
{
    double m = values[0];
    for (int k = 1; k < n; k++)
        m = values[k] < m ? values[k] : m;
    return m;
}

int64_t bench_peak_rss_bytes(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (int64_t)usage.ru_maxrss * 1024;
}

json_t *bench_json_doubles(const double *values, int n)
{
    json_t *a = json_array();
    for (int k = 0; k < n; k++)
        json_array_append_new(a, json_real(values[k]));
    return a;
}

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
