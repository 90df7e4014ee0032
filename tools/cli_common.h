/* What every command-line tool shares: failing with one clear line, strict
 * number parsing, timing. */
#ifndef GAT_CLI_COMMON_H
#define GAT_CLI_COMMON_H

#include "gat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdint.h>

/* Prints "PROGRAM: message" to stderr and exits with status 1 (2 for usage
 * errors), never a signal. */
_Noreturn void cli_fail(const char *program, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
_Noreturn void cli_usage_error(const char *program, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The usage error for an option getopt_long refused (`given` as argv holds
 * it): a known option missing its value says so; an unknown one names the
 * nearest of `options` when one is close ("did you mean '--graph'?"). */
_Noreturn void cli_unknown_option(const char *program, const char *given,
                                  const struct option *options);

/* cli_check for reading a graph whose node count came from a features
 * file: an out-of-range id also says where N came from. */
void cli_check_graph(const char *program, gat_context *ctx, gat_status status,
                     const char *features_path);

/* Exits through cli_fail with the context's message unless status is OK. */
void cli_check(const char *program, gat_context *ctx, gat_status status);

/* Whole decimal number in [min, max], or a usage error naming the option. */
int64_t cli_parse_int(const char *program, const char *option, const char *text, int64_t min,
                      int64_t max);
/* One of `count` names (a value each), or a usage error listing them:
 * "--pin expects none, compact or scatter, got 'x'". */
int cli_parse_choice(const char *program, const char *option, const char *text,
                     const char *const *names, const int *values, int count);

/* --layer-type: "gat" (GAT_LAYER_GAT) or "gatv2"; a usage error otherwise. */
gat_layer_type cli_parse_layer_type(const char *program, const char *option, const char *text);
double cli_parse_double(const char *program, const char *option, const char *text);
/* A thread count in [1, gat_max_threads()], or a usage error naming the
 * option and the count: "--threads 4096: more than 8, ...". */
int cli_parse_threads(const char *program, const char *option, const char *text);

/* gat_context_create, or cli_fail with its reason (such as
 * "OMP_NUM_THREADS=100000: ... more than the limit"). */
gat_context *cli_context_create(const char *program, gat_context_options *options);

/* Writes the graph's attended edges (library order, under the self-loop
 * policy) to an int64 .npy of shape [E', 2] holding (src, dst) pairs. */
void cli_write_edge_pairs(const char *program, gat_context *ctx, const gat_graph *graph,
                          bool add_self_loops, gat_output *out);

/* Opens an output (gat_output_open: symlinks followed, devices and FIFOs
 * in place, regular files through a temporary file) before any long work,
 * so that a bad output path fails at once. Exits on failure, and also if it
 * names the same file as another open output. Until committed, the output
 * is discarded by any cli_fail, so that an error leaves no file behind. */
gat_output *cli_open_output(const char *program, gat_context *ctx, const char *path,
                            const char *const *inputs, int num_inputs);
/* Commits them all or none (gat_output_commit); exits on failure. */
void cli_commit_outputs(const char *program, gat_context *ctx, gat_output **outs, int count);

/* Counts the rows of data [rows, cols] holding a NaN or infinity. Any: exits
 * naming how many rows (and values, and the first row) unless allow, which
 * prints the same as a warning instead. */
void cli_check_finite(const char *program, const char *what, const float *data, int64_t rows,
                      int64_t cols, bool allow);

/* The per-rank table of a distributed run (gat_dist_gather_reports'
 * reports [ranks]): rows, edges, halo, bytes sent and received per layer,
 * times, peak memory, and the load imbalance (max / mean) at the end. */
void cli_print_dist_report(FILE *out, const gat_dist_report *all, int ranks);

/* Monotonic seconds. */
double cli_now(void);

/* Prints "PROGRAM (libgat) MAJOR.MINOR.PATCH" on stdout (--version). */
void cli_print_version(const char *program);

#endif
