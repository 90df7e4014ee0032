/* Shared test helpers (see support.h). */
#include "support.h"

#include "internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void test_parallel_always(gat_context *ctx) { ctx->parallel_min_work = 0; }

void test_stream_projection_always(gat_context *ctx) { ctx->projection_stream_min_bytes = 0; }
void test_plain_kernels(gat_context *ctx, bool plain) { ctx->plain_kernels = plain; }

uint64_t test_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_uniform(uint64_t *state, float lo, float hi)
{
    double u = (double)(test_next(state) >> 11) * 0x1.0p-53;
    return (float)(lo + (hi - lo) * u);
}

void test_fill_uniform(float *values, int64_t n, float lo, float hi, uint64_t seed)
{
    uint64_t state = seed;
    for (int64_t k = 0; k < n; k++)
        values[k] = test_uniform(&state, lo, hi);
}

void test_randomize_model(gat_model *model, float scale, uint64_t seed)
{
    for (int l = 0; l < gat_model_num_layers(model); l++) {
        gat_layer_config c;
        gat_layer_params p;
        gat_model_layer_config(model, l, &c);
        gat_model_layer_params(model, l, &p);
        int64_t hc = c.heads * c.channels;
        test_fill_uniform(p.weight, hc * c.in_features, -scale, scale, seed + 10 * (uint64_t)l);
        test_fill_uniform(p.att_src, hc, -scale, scale, seed + 10 * (uint64_t)l + 1);
        test_fill_uniform(p.att_dst, hc, -scale, scale, seed + 10 * (uint64_t)l + 2);
        if (p.bias != NULL)
            test_fill_uniform(p.bias, c.concat ? hc : c.channels, -scale, scale,
                              seed + 10 * (uint64_t)l + 3);
    }
}

int64_t test_first_mismatch(const float *got, const double *want, int64_t n, double rtol,
                            double atol)
{
    for (int64_t k = 0; k < n; k++)
        if (!(fabs((double)got[k] - want[k]) <= atol + rtol * fabs(want[k])))
            return k;
    return -1;
}

double test_max_abs(const double *values, int64_t n)
{
    double m = 0.0;
    for (int64_t k = 0; k < n; k++)
        if (fabs(values[k]) > m)
            m = fabs(values[k]);
    return m;
}

static void dense_layer(const gat_layer_config *c, const gat_layer_params *p, int64_t n,
                        int64_t num_edges, const int64_t *src, const int64_t *dst,
                        const double *x, double *out, double *attention)
{
    const int64_t f = c->in_features, heads = c->heads, ch = c->channels, hc = heads * ch;
    const int64_t width = c->concat ? hc : ch;
    double *h = calloc((size_t)(n * hc), sizeof *h);
    double *count = calloc((size_t)(n * n), sizeof *count); /* count[dst][src] */
    double *logit = calloc((size_t)(n * n), sizeof *logit);
    for (int64_t k = 0; k < num_edges; k++)
        if (!(c->add_self_loops && src[k] == dst[k]))
            count[dst[k] * n + src[k]] += 1.0;
    if (c->add_self_loops)
        for (int64_t i = 0; i < n; i++)
            count[i * n + i] = 1.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < hc; o++)
            for (int64_t k = 0; k < f; k++)
                h[i * hc + o] += x[i * f + k] * p->weight[o * f + k];
    memset(out, 0, (size_t)(n * width) * sizeof *out);
    for (int64_t hh = 0; hh < heads; hh++) {
        for (int64_t i = 0; i < n; i++) {
            double sd = 0.0, mx = -INFINITY, sum = 0.0;
            for (int64_t q = 0; q < ch; q++)
                sd += h[i * hc + hh * ch + q] * p->att_dst[hh * ch + q];
            for (int64_t j = 0; j < n; j++) {
                double ss = 0.0;
                for (int64_t q = 0; q < ch; q++)
                    ss += h[j * hc + hh * ch + q] * p->att_src[hh * ch + q];
                double e = ss + sd;
                e = e > 0 ? e : e * c->negative_slope;
                logit[i * n + j] = count[i * n + j] > 0 ? e : -INFINITY;
                if (logit[i * n + j] > mx)
                    mx = logit[i * n + j];
            }
            for (int64_t j = 0; j < n; j++) {
                double w = count[i * n + j] > 0 ? count[i * n + j] * exp(logit[i * n + j] - mx)
                                                : 0.0;
                logit[i * n + j] = w;
                sum += w;
            }
            for (int64_t j = 0; j < n; j++) {
                double a = sum > 0 ? logit[i * n + j] / sum : 0.0;
                if (attention != NULL)
                    attention[(hh * n + i) * n + j] = a;
                for (int64_t q = 0; q < ch; q++) {
                    double v = a * h[j * hc + hh * ch + q];
                    if (c->concat)
                        out[i * width + hh * ch + q] += v;
                    else
                        out[i * width + q] += v / (double)heads;
                }
            }
        }
    }
    if (p->bias != NULL)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < width; o++)
                out[i * width + o] += p->bias[o];
    free(h);
    free(count);
    free(logit);
}

void test_dense_forward(const gat_model *model, int64_t n, int64_t num_edges,
                        const int64_t *src, const int64_t *dst, const float *x, double *out,
                        double *attention)
{
    gat_layer_config c;
    gat_model_layer_config(model, 0, &c);
    int64_t width = c.in_features;
    double *input = malloc((size_t)(n * width) * sizeof *input);
    for (int64_t k = 0; k < n * width; k++)
        input[k] = x[k];
    int layers = gat_model_num_layers(model);
    for (int l = 0; l < layers; l++) {
        gat_layer_params p;
        gat_model_layer_config(model, l, &c);
        gat_model_layer_params((gat_model *)model, l, &p);
        width = c.concat ? c.heads * c.channels : c.channels;
        double *output = malloc((size_t)(n * width) * sizeof *output);
        dense_layer(&c, &p, n, num_edges, src, dst, input, output,
                    l + 1 == layers ? attention : NULL);
        if (l + 1 < layers)
            for (int64_t k = 0; k < n * width; k++) {
                double v = output[k];
                if (v <= 0)
                    output[k] = gat_model_activation(model) == GAT_ACT_ELU    ? expm1(v)
                                : gat_model_activation(model) == GAT_ACT_RELU ? 0.0
                                                                              : v;
            }
        free(input);
        input = output;
    }
    memcpy(out, input, (size_t)(n * width) * sizeof *out);
    free(input);
}

gat_context *test_context(int threads, const gat_allocator *allocator)
{
    gat_context_options options;
    gat_context_options_init(&options);
    options.num_threads = threads;
    options.allocator = allocator;
    gat_context *ctx = NULL;
    gat_status status = gat_context_create(&ctx, &options);
    cr_assert_eq(status, GAT_OK, "gat_context_create: %s", gat_status_str(status));
    return ctx;
}

static void *counting_alloc(void *user, size_t alignment, size_t size)
{
    test_counting *c = user;
    int64_t call = atomic_fetch_add(&c->calls, 1) + 1;
    size_t largest = atomic_load(&c->largest);
    while (size > largest && !atomic_compare_exchange_weak(&c->largest, &largest, size)) {
        /* Another thread raised it: `largest` now holds its value; retry. */
    }
    int64_t fail_at = atomic_load(&c->fail_at);
    size_t cap = atomic_load(&c->cap);
    if ((fail_at > 0 && (call == fail_at || (atomic_load(&c->sticky) && call > fail_at))) ||
        (cap > 0 && size > cap)) {
        atomic_fetch_add(&c->failed, 1);
        return NULL;
    }
    void *ptr = NULL;
    if (posix_memalign(&ptr, alignment, size) != 0)
        return NULL;
    atomic_fetch_add(&c->live, 1);
    return ptr;
}

static void counting_free(void *user, void *ptr)
{
    test_counting *c = user;
    if (ptr == NULL)
        return;
    atomic_fetch_sub(&c->live, 1);
    free(ptr);
}

void test_counting_init(test_counting *c)
{
    atomic_init(&c->calls, 0);
    atomic_init(&c->live, 0);
    atomic_init(&c->failed, 0);
    atomic_init(&c->largest, 0);
    atomic_init(&c->fail_at, 0);
    atomic_init(&c->sticky, false);
    atomic_init(&c->cap, 0);
}

gat_allocator test_counting_allocator(test_counting *c)
{
    gat_allocator allocator = {counting_alloc, counting_free, c};
    return allocator;
}

gat_context *test_counting_context(test_counting *c, int threads)
{
    test_counting_init(c);
    gat_allocator allocator = test_counting_allocator(c); /* the context keeps a copy */
    return test_context(threads, &allocator);
}

void test_counting_arm(test_counting *c, int64_t fail_at)
{
    atomic_store(&c->calls, 0);
    atomic_store(&c->failed, 0);
    atomic_store(&c->fail_at, fail_at);
}

void test_deadline(unsigned seconds)
{
    alarm(seconds);
}

int test_count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             (part == NULL || strstr(e->d_name, part) != NULL);
    closedir(d);
    return n;
}

void test_make_temp_dir(char *dir, size_t size, const char *prefix)
{
    int n = snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);
    cr_assert(n > 0 && (size_t)n < size, "no room for a temporary directory named %s", prefix);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
}

static void remove_tree(const char *dir);

/* Everything below dir, not dir itself. */
static void remove_contents(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            /* lstat: a link to a directory is removed, not followed. */
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
}

static void remove_tree(const char *dir)
{
    remove_contents(dir);
    rmdir(dir);
}

void test_clear_dir(const char *dir)
{
    remove_contents(dir);
    cr_expect_eq(test_count_files(dir), 0, "%s could not be emptied", dir);
}

void test_remove_dir(const char *dir)
{
    if (dir[0] == '\0')
        return;
    remove_tree(dir);
    cr_expect_neq(access(dir, F_OK), 0, "%s could not be removed", dir);
}

const char *test_path(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    int n = snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    cr_assert(n > 0 && (size_t)n < sizeof paths[0], "path too long: %s/%s", dir, name);
    return path;
}

const char *test_write_file(const char *dir, const char *name, const void *bytes, size_t size)
{
    const char *path = test_path(dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(bytes, 1, size, f), size, "%s: %s", path, strerror(errno));
    cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
    return path;
}

unsigned char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    unsigned char *bytes = malloc((size_t)n + 1);
    cr_assert_not_null(bytes);
    cr_assert_eq(fread(bytes, 1, (size_t)n, f), (size_t)n, "%s: short read", path);
    fclose(f);
    bytes[n] = '\0';
    *size = (size_t)n;
    return bytes;
}

int test_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

int test_read_cases(const char *path, char *names, size_t stride, int max_cases)
{
    FILE *fh = fopen(path, "r");
    if (fh == NULL)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, fh) != NULL) {
        size_t len = strcspn(line, "\r\n");
        if (line[len] == '\0' && !feof(fh)) { /* line longer than the buffer */
            n = -1;
            break;
        }
        line[len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (len >= stride || n == max_cases) {
            n = -1;
            break;
        }
        memcpy(names + (size_t)n * stride, line, len + 1);
        n++;
    }
    fclose(fh);
    return n;
}

void test_compare_reference(const char *name, const char *what, const float *got,
                            const float *want, int64_t rows, int64_t cols, double rtol,
                            double atol_rel)
{
    int64_t count = rows * cols;
    double scale = 0.0;
    for (int64_t k = 0; k < count; k++)
        if (fabs((double)want[k]) > scale)
            scale = fabs((double)want[k]);
    double atol = atol_rel * scale;
    int64_t bad = 0, first = -1;
    double worst = 0.0;
    for (int64_t k = 0; k < count; k++) {
        double g = got[k], w = want[k];
        double tol = atol + rtol * fabs(w);
        double err = fabs(g - w);
        if (!(err <= tol)) { /* also catches NaN */
            if (first < 0)
                first = k;
            bad++;
        }
        if (tol > 0 && err / tol > worst)
            worst = err / tol;
    }
    if (first >= 0)
        cr_assert_fail("%s: %s: %lld of %lld values out of tolerance; first at index %lld "
                       "(row %lld, col %lld): got %.9g, want %.9g (|diff| %.3g, allowed %.3g; "
                       "worst |diff|/allowed %.3g)",
                       name, what, (long long)bad, (long long)count, (long long)first,
                       (long long)(first / cols), (long long)(first % cols), (double)got[first],
                       (double)want[first], fabs((double)got[first] - (double)want[first]),
                       atol + rtol * fabs((double)want[first]), worst);
}

void test_same_bits(const char *name, const char *what, int threads, const float *got,
                    const float *ref, int64_t count)
{
    if (count == 0 || memcmp(got, ref, (size_t)count * sizeof(float)) == 0)
        return;
    int64_t k = 0;
    while (k < count && memcmp(&got[k], &ref[k], sizeof(float)) == 0)
        k++;
    cr_assert_fail("%s: %s at %d threads differs bitwise from 1 thread: first at index %lld: "
                   "%.9g vs %.9g",
                   name, what, threads, (long long)k, (double)got[k], (double)ref[k]);
}

void test_forward_against(gat_context *ctx, const char *name, const gat_model *model,
                          const gat_graph *graph, const gat_inputs *in, const float *want_out,
                          const float *want_att, int64_t rows, int64_t width, int64_t num_att,
                          int64_t heads, double rtol, double atol_rel)
{
    const int64_t out_count = rows * width, att_count = num_att * heads;
    /* +1: never malloc(0) for an empty array */
    float *out_ref = malloc((size_t)out_count * sizeof(float) + 1);
    float *att_ref = malloc((size_t)att_count * sizeof(float) + 1);
    float *out = malloc((size_t)out_count * sizeof(float) + 1);
    float *att = malloc((size_t)att_count * sizeof(float) + 1);
    cr_assert(out_ref && att_ref && out && att, "%s: out of memory", name);
    /* 1 thread first (compared with the reference), then 2 and 4, then 1
     * again (the context's scratch memory reused): all bitwise equal. */
    static const int thread_counts[] = {1, 2, 4, 1};
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        const int threads = thread_counts[t];
        gat_status st = gat_context_set_threads(ctx, threads);
        cr_assert_eq(st, GAT_OK, "%s: gat_context_set_threads(%d): %s: %s", name, threads,
                     gat_status_str(st), gat_context_message(ctx));
        float *o = t == 0 ? out_ref : out, *a = t == 0 ? att_ref : att;
        memset(o, 0xff, (size_t)out_count * sizeof(float)); /* NaN: catch unwritten values */
        memset(a, 0xff, (size_t)att_count * sizeof(float));
        st = gat_model_forward_inputs(ctx, model, graph, in, o, a, NULL);
        cr_assert_eq(st, GAT_OK, "%s: forward at %d threads: %s: %s", name, threads,
                     gat_status_str(st), gat_context_message(ctx));
        if (t == 0) {
            test_compare_reference(name, "out", o, want_out, rows, width, rtol, atol_rel);
            test_compare_reference(name, "attention", a, want_att, num_att, heads, rtol,
                                   atol_rel);
        } else {
            test_same_bits(name, "out", threads, out, out_ref, out_count);
            test_same_bits(name, "attention", threads, att, att_ref, att_count);
        }
    }
    free(out_ref);
    free(att_ref);
    free(out);
    free(att);
}
