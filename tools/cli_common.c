/* Shared command-line helpers (see cli_common.h). */
#include "cli_common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The outputs opened and not yet committed: a failing exit removes their
 * temporary files, so that an error leaves no output behind. A tool is one
 * process with a handful of outputs; this list is its only state. */
#define MAX_OUTPUTS 8
static gat_output *open_outputs[MAX_OUTPUTS];
/* Their temporary files' names, copied where a signal handler can read
 * them without touching the library's objects ("" when none). */
static char temp_names[MAX_OUTPUTS][4096];

static void forget_output(int slot)
{
    temp_names[slot][0] = '\0';
    open_outputs[slot] = NULL;
}

static void discard_outputs(void)
{
    for (int k = 0; k < MAX_OUTPUTS; k++) {
        gat_output *out = open_outputs[k];
        forget_output(k);
        gat_output_discard(&out);
    }
}

/* Ctrl-C, kill, a closed terminal during a long run (gat-train's outputs
 * are open from the start): the temporary files go, then the signal does
 * what it would have done. */
static void remove_temporaries(int sig)
{
    for (int k = 0; k < MAX_OUTPUTS; k++)
        if (temp_names[k][0] != '\0')
            unlink(temp_names[k]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(void)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t k = 0; k < sizeof signals / sizeof signals[0]; k++) {
        struct sigaction old;
        /* A signal the caller ignores (nohup) stays ignored. */
        if (sigaction(signals[k], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            struct sigaction act;
            memset(&act, 0, sizeof act);
            act.sa_handler = remove_temporaries;
            sigemptyset(&act.sa_mask);
            sigaction(signals[k], &act, NULL);
        }
    }
}

static _Noreturn void vfail(int code, const char *program, const char *format, va_list args)
{
    discard_outputs();
    fprintf(stderr, "%s: ", program);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    if (code == 2)
        fprintf(stderr, "Try '%s --help'.\n", program);
    exit(code);
}

void cli_fail(const char *program, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vfail(1, program, format, args);
}

void cli_usage_error(const char *program, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vfail(2, program, format, args);
}

/* Levenshtein distance of a [la] and b [lb], capped at 9 (only small ones matter). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAX = 64 };
    if (la >= MAX || lb >= MAX)
        return 9;
    size_t row[MAX], next[MAX];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        next[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = row[j - 1] + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (next[j - 1] + 1 < best)
                best = next[j - 1] + 1;
            next[j] = best;
        }
        memcpy(row, next, (lb + 1) * sizeof *row);
    }
    return row[lb] < 9 ? row[lb] : 9;
}

void cli_unknown_option(const char *program, const char *given, const struct option *options)
{
    const char *name = given;
    while (*name == '-')
        name++;
    const size_t length = strcspn(name, "=");
    const char *nearest = NULL;
    size_t nearest_distance = 9;
    for (const struct option *o = options; o->name != NULL; o++) {
        if (strlen(o->name) == length && strncmp(o->name, name, length) == 0) {
            if (o->has_arg == required_argument && name[length] == '\0')
                cli_usage_error(program, "option '--%s' needs a value", o->name);
            if (o->has_arg == no_argument && name[length] == '=')
                cli_usage_error(program, "option '--%s' takes no value", o->name);
        }
        const size_t d = edit_distance(name, length, o->name, strlen(o->name));
        if (d < nearest_distance) {
            nearest_distance = d;
            nearest = o->name;
        }
    }
    /* Close means a typo: a third of the name's letters at most. */
    if (nearest != NULL && nearest_distance > 0 && nearest_distance <= 1 + length / 3)
        cli_usage_error(program, "unknown option '%s'; did you mean '--%s'?", given, nearest);
    cli_usage_error(program, "unknown or incomplete option '%s'", given);
}

void cli_check(const char *program, gat_context *ctx, gat_status status)
{
    if (status == GAT_OK)
        return;
    const char *message = gat_context_message(ctx);
    if (message == NULL || message[0] == '\0')
        message = gat_status_str(status);
    cli_fail(program, "%s", message);
}

void cli_check_graph(const char *program, gat_context *ctx, gat_status status,
                     const char *features_path)
{
    if (status == GAT_ERR_RANGE && features_path != NULL)
        cli_fail(program, "%s (N is the row count of %s)", gat_context_message(ctx),
                 features_path);
    cli_check(program, ctx, status);
}

int64_t cli_parse_int(const char *program, const char *option, const char *text, int64_t min,
                      int64_t max)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || value < min || value > max)
        cli_usage_error(program, "%s expects a whole number in [%lld, %lld], got '%s'", option,
                        (long long)min, (long long)max, text);
    return (int64_t)value;
}

int cli_parse_choice(const char *program, const char *option, const char *text,
                     const char *const *names, const int *values, int count)
{
    char list[256] = "";
    size_t len = 0;
    for (int k = 0; k < count; k++) {
        if (strcmp(text, names[k]) == 0)
            return values[k];
        const char *sep = k == 0 ? "" : k + 1 == count ? " or " : ", ";
        int n = snprintf(list + len, sizeof list - len, "%s%s", sep, names[k]);
        if (n > 0 && len + (size_t)n < sizeof list)
            len += (size_t)n;
    }
    cli_usage_error(program, "%s expects %s, got '%s'", option, list, text);
}

double cli_parse_double(const char *program, const char *option, const char *text)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(value))
        cli_usage_error(program, "%s expects a finite number, got '%s'", option, text);
    return value;
}

int cli_parse_threads(const char *program, const char *option, const char *text)
{
    const int64_t value = cli_parse_int(program, option, text, 1, INT32_MAX);
    const int limit = gat_max_threads();
    if (value > limit)
        cli_usage_error(program,
                        "%s %s: more than %d, the most threads this machine allows (4 per "
                        "hardware thread, never more than 1024)",
                        option, text, limit);
    return (int)value;
}

gat_context *cli_context_create(const char *program, gat_context_options *options)
{
    char message[512] = "";
    options->message = message;
    options->message_size = sizeof message;
    gat_context *ctx = NULL;
    gat_status status = gat_context_create(&ctx, options);
    options->message = NULL;
    options->message_size = 0;
    if (status != GAT_OK)
        cli_fail(program, "%s", message[0] != '\0' ? message : gat_status_str(status));
    return ctx;
}

void cli_write_edge_pairs(const char *program, gat_context *ctx, const gat_graph *graph,
                          bool add_self_loops, gat_output *out)
{
    const char *path = gat_output_target(out);
    const int64_t e = gat_graph_num_attention_edges(graph, add_self_loops);
    int64_t *src = malloc((size_t)(e + 1) * sizeof(int64_t));
    int64_t *dst = malloc((size_t)(e + 1) * sizeof(int64_t));
    int64_t *pairs = malloc((size_t)(2 * e + 1) * sizeof(int64_t));
    if (src == NULL || dst == NULL || pairs == NULL)
        cli_fail(program, "out of memory writing %lld edges to %s", (long long)e, path);
    cli_check(program, ctx, gat_graph_edges(ctx, graph, add_self_loops, src, dst));
    for (int64_t k = 0; k < e; k++) {
        pairs[2 * k] = src[k];
        pairs[2 * k + 1] = dst[k];
    }
    const int64_t shape[2] = {e, 2};
    cli_check(program, ctx, gat_npy_write_i64_to(ctx, out, pairs, 2, shape));
    free(src);
    free(dst);
    free(pairs);
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cli_print_version(const char *program)
{
    printf("%s (libgat) %d.%d.%d\n", program, GAT_VERSION_MAJOR, GAT_VERSION_MINOR,
           GAT_VERSION_PATCH);
}

gat_output *cli_open_output(const char *program, gat_context *ctx, const char *path,
                            const char *const *inputs, int num_inputs)
{
    int slot = 0;
    while (slot < MAX_OUTPUTS && open_outputs[slot] != NULL)
        slot++;
    if (slot == MAX_OUTPUTS)
        cli_fail(program, "%s: more than %d outputs open", path, MAX_OUTPUTS);
    catch_signals();
    cli_check(program, ctx, gat_output_open(ctx, &open_outputs[slot], path, inputs, num_inputs));
    const char *temp = gat_output_temporary(open_outputs[slot]);
    if (temp != NULL && strlen(temp) < sizeof temp_names[slot])
        strcpy(temp_names[slot], temp);
    /* Written in place: a reader of a FIFO or pipe that goes away is then
     * a write error with a message (EPIPE), not a silent death by SIGPIPE. */
    if (temp == NULL)
        signal(SIGPIPE, SIG_IGN);
    cli_check(program, ctx, gat_output_check_distinct(ctx, open_outputs, MAX_OUTPUTS));
    return open_outputs[slot];
}

void cli_commit_outputs(const char *program, gat_context *ctx, gat_output **outs, int count)
{
    /* Out of the list first: commit frees them, failing or not. */
    for (int k = 0; k < count; k++)
        for (int slot = 0; slot < MAX_OUTPUTS; slot++)
            if (open_outputs[slot] == outs[k])
                forget_output(slot);
    cli_check(program, ctx, gat_output_commit(ctx, outs, count));
}

void cli_check_finite(const char *program, const char *what, const float *data, int64_t rows,
                      int64_t cols, bool allow)
{
    int64_t bad_rows = 0, bad_values = 0, first = -1;
    for (int64_t i = 0; i < rows; i++) {
        int64_t bad = 0;
        for (int64_t j = 0; j < cols; j++)
            bad += !isfinite(data[i * cols + j]);
        if (bad > 0 && first < 0)
            first = i;
        bad_rows += bad > 0;
        bad_values += bad;
    }
    if (bad_rows == 0)
        return;
    if (!allow)
        cli_fail(program,
                 "%s has non-finite values (NaN or infinite) in %lld of %lld rows (%lld values, "
                 "first in row %lld); nothing written (--allow-nonfinite writes them anyway)",
                 what, (long long)bad_rows, (long long)rows, (long long)bad_values,
                 (long long)first);
    fprintf(stderr,
            "%s: warning: %s has non-finite values (NaN or infinite) in %lld of %lld rows (%lld "
            "values, first in row %lld); written anyway (--allow-nonfinite)\n",
            program, what, (long long)bad_rows, (long long)rows, (long long)bad_values,
            (long long)first);
}

/* max / mean of a per-rank figure (1 when all are zero). */
static double imbalance(const gat_dist_report *all, int ranks, double (*get)(const gat_dist_report *))
{
    double max = 0.0, sum = 0.0;
    for (int r = 0; r < ranks; r++) {
        double v = get(&all[r]);
        max = v > max ? v : max;
        sum += v;
    }
    return sum > 0.0 ? max * ranks / sum : 1.0;
}

static double work_of(const gat_dist_report *r) { return (double)(r->rows + r->edges); }
static double halo_of(const gat_dist_report *r) { return (double)r->halo_rows; }
static double compute_of(const gat_dist_report *r) { return r->seconds_compute; }

void cli_print_dist_report(FILE *out, const gat_dist_report *all, int ranks)
{
    const int layers = all[0].layers < GAT_DIST_REPORT_LAYERS ? all[0].layers
                                                              : GAT_DIST_REPORT_LAYERS;
    fprintf(out, "rank  first_row       rows      edges   interior       halo  send_rows"
                 "  sent_kB/layer  recv_kB/layer  read_s  compute_s  comm_s  wait_s  write_s"
                 "  peak_MB\n");
    for (int r = 0; r < ranks; r++) {
        const gat_dist_report *p = &all[r];
        char sent[96] = "", recv[96] = "";
        size_t ls = 0, lr = 0;
        for (int l = 0; l < layers; l++) {
            ls += (size_t)snprintf(sent + ls, sizeof sent - ls, "%s%.0f", l ? "/" : "",
                                   p->bytes_sent[l] / 1e3);
            lr += (size_t)snprintf(recv + lr, sizeof recv - lr, "%s%.0f", l ? "/" : "",
                                   p->bytes_received[l] / 1e3);
            if (ls >= sizeof sent || lr >= sizeof recv)
                break;
        }
        fprintf(out, "%4d %10lld %10lld %10lld %10lld %10lld %10lld  %13s  %13s  %6.3f  %9.3f"
                     "  %6.3f  %6.3f  %7.3f  %7.1f\n",
                p->rank, (long long)p->first_row, (long long)p->rows, (long long)p->edges,
                (long long)p->interior_rows, (long long)p->halo_rows, (long long)p->send_rows,
                sent, recv, p->seconds_read, p->seconds_compute, p->seconds_communication,
                p->seconds_wait, p->seconds_write, p->peak_rss_bytes / 1e6);
    }
    fprintf(out, "imbalance (max/mean): rows+edges %.3f, halo rows %.3f, compute time %.3f\n",
            imbalance(all, ranks, work_of), imbalance(all, ranks, halo_of),
            imbalance(all, ranks, compute_of));
}

gat_layer_type cli_parse_layer_type(const char *program, const char *option, const char *text)
{
    static const char *const names[] = {"gat", "gatv2"};
    static const int values[] = {GAT_LAYER_GAT, GAT_LAYER_GATV2};
    return (gat_layer_type)cli_parse_choice(program, option, text, names, values, 2);
}
