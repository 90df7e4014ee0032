/* What gat-bench's inference and training reports share: medians and
 * minima of trial times, the peak resident memory, and the JSON report's
 * write, which appears complete or not at all. */
#ifndef GAT_BENCH_REPORT_H
#define GAT_BENCH_REPORT_H

#include "gat.h"

#include <jansson.h>
#include <stdint.h>

/* Median of n >= 1 values (the mean of the middle two for even n). */
double bench_median(const double *values, int n);

/* Smallest of n >= 1 values. */
double bench_minimum(const double *values, int n);

/* The process's peak resident set (ru_maxrss) in bytes. */
int64_t bench_peak_rss_bytes(void);
/* The process's resident set now in bytes (-1 where /proc/self/statm is
 * missing): taken before the timed runs, what the inputs and the process
 * hold, so that peak minus it is what the runs added. */
int64_t bench_current_rss_bytes(void);

/* A new JSON array of n numbers. */
json_t *bench_json_doubles(const double *values, int n);

/* Dumps root into out (opened by cli_open_output before the runs) and
 * commits it; exits through cli_fail on any error. */
void bench_json_write(const char *program, gat_context *ctx, json_t *root, gat_output *out);

#endif
