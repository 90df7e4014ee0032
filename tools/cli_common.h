/* What every command-line tool shares: failing with one clear line, strict
 * number parsing, timing. */
#ifndef GAT_CLI_COMMON_H
#define GAT_CLI_COMMON_H

#include "gat.h"

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

/* Exits through cli_fail with the context's message unless status is OK. */
void cli_check(const char *program, gat_context *ctx, gat_status status);

/* Whole decimal number in [min, max], or a usage error naming the option. */
int64_t cli_parse_int(const char *program, const char *option, const char *text, int64_t min,
                      int64_t max);
/* One of `count` names (a value each), or a usage error listing them:
 * "--pin expects none, compact or scatter, got 'x'". */
int cli_parse_choice(const char *program, const char *option, const char *text,
                     const char *const *names, const int *values, int count);
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
                          bool add_self_loops, const char *path);

/* Monotonic seconds. */
double cli_now(void);

/* Prints "PROGRAM (libgat) MAJOR.MINOR.PATCH" on stdout (--version). */
void cli_print_version(const char *program);

#endif
