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

int64_t bench_current_rss_bytes(void)
{
    /* Linux: the second field of /proc/self/statm, in pages. */
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = -1;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (int64_t)resident * sysconf(_SC_PAGESIZE);
}

json_t *bench_json_doubles(const double *values, int n)
{
    json_t *a = json_array();
    for (int k = 0; k < n; k++)
        json_array_append_new(a, json_real(values[k]));
    return a;
}

typedef struct json_sink {
    gat_context *ctx;
    gat_output *out;
} json_sink;

static int dump_chunk(const char *buffer, size_t size, void *data)
{
    const json_sink *sink = data;
    return gat_output_write(sink->ctx, sink->out, buffer, size) == GAT_OK ? 0 : -1;
}

void bench_json_write(const char *program, gat_context *ctx, json_t *root, gat_output *out)
{
    json_sink sink = {ctx, out};
    if (json_dump_callback(root, dump_chunk, &sink, JSON_INDENT(1)) != 0) {
        const char *message = gat_context_message(ctx);
        cli_fail(program, "%s", message != NULL && message[0] != '\0'
                                    ? message : "cannot format the JSON report");
    }
    cli_commit_outputs(program, ctx, &out, 1);
}
