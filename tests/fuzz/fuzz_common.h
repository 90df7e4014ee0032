/*
 * What every libFuzzer target shares. The loaders take paths, so each input
 * is written into one memfd (a file in memory) and read back through
 * /proc/self/fd/N: no disk, no directory entry, a few microseconds per
 * input. The context is made once (hwloc's topology costs milliseconds) and
 * has a capped allocator: a request beyond FUZZ_ALLOC_CAP fails as it would
 * on a machine without the memory, so a file that legitimately asks for
 * gigabytes (a 2^31-node graph) exercises the GAT_ERR_NOMEM paths instead
 * of tripping libFuzzer's malloc limit.
 *
 * The library is built for fuzzing without OpenMP (a serial build is what
 * the sanitizers check best), and OpenBLAS is kept to one thread.
 */
#ifndef GAT_FUZZ_COMMON_H
#define GAT_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif

#include "gat.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_ALLOC_CAP ((size_t)64 << 20)

/* Nodes up to which a loaded graph is also run through a forward pass. */
#define FUZZ_FORWARD_NODES 4096

void openblas_set_num_threads(int num_threads);

static inline void *fuzz_alloc(void *user, size_t alignment, size_t size)
{
    (void)user;
    if (size > FUZZ_ALLOC_CAP)
        return NULL;
    void *ptr = NULL;
    return posix_memalign(&ptr, alignment, size) == 0 ? ptr : NULL;
}

static inline void fuzz_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static inline gat_context *fuzz_context(void)
{
    static gat_context *ctx;
    static const gat_allocator allocator = {fuzz_alloc, fuzz_free, NULL};
    if (ctx == NULL) {
        openblas_set_num_threads(1);
        gat_context_options options;
        gat_context_options_init(&options);
        options.num_threads = 1;
        options.allocator = &allocator;
        if (gat_context_create(&ctx, &options) != GAT_OK)
            abort();
    }
    return ctx;
}

/* The input as a file; the path stays valid for the whole run. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("gat-fuzz", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    return path;
}

/* A failed call must leave a message, and a status the header documents. */
static inline void fuzz_check_failure(gat_context *ctx, gat_status status)
{
    if (status == GAT_OK)
        return;
    if (status < GAT_ERR_OVERFLOW || status > GAT_ERR_INVALID)
        abort();
    if (gat_context_message(ctx)[0] == '\0')
        abort();
}

/* A 2-layer model (2 -> 2 heads x 3 concat -> 1 head x 2, mean) with fixed
 * parameters, built once. */
static inline gat_model *fuzz_small_model(gat_context *ctx)
{
    static gat_model *model;
    if (model == NULL) {
        gat_layer_config c[2];
        gat_layer_config_init(&c[0], 2, 2, 3);
        gat_layer_config_init(&c[1], 6, 1, 2);
        c[1].concat = false;
        c[1].add_self_loops = false;
        if (gat_model_create(ctx, &model, 2, c, GAT_ACT_ELU) != GAT_OK)
            abort();
        for (int l = 0; l < 2; l++) {
            gat_layer_params p;
            gat_model_layer_params(model, l, &p);
            const int64_t hc = c[l].heads * c[l].channels;
            for (int64_t k = 0; k < hc * c[l].in_features; k++)
                p.weight[k] = 0.25f * (float)((k * 7) % 5) - 0.5f;
            for (int64_t k = 0; k < hc; k++) {
                p.att_src[k] = 0.1f * (float)(k % 3);
                p.att_dst[k] = -0.2f * (float)(k % 2);
            }
        }
    }
    return model;
}

/* Runs the small model over a loaded graph (when small enough) and checks
 * what every output must be: finite, and the attention of each destination
 * summing to 1 per head. This is what makes a structurally broken CSR that
 * a loader let through show up under the sanitizers. */
static inline void fuzz_forward_graph(gat_context *ctx, const gat_graph *graph)
{
    const int64_t n = gat_graph_num_nodes(graph);
    if (n > FUZZ_FORWARD_NODES)
        return;
    gat_model *model = fuzz_small_model(ctx);
    const int64_t e = gat_graph_num_attention_edges(graph, false);
    float *x = malloc((size_t)(2 * n + 1) * sizeof *x);
    float *out = malloc((size_t)(2 * n + 1) * sizeof *out);
    float *att = malloc((size_t)(e + 1) * sizeof *att);
    int64_t *src = malloc((size_t)(e + 1) * sizeof *src);
    int64_t *dst = malloc((size_t)(e + 1) * sizeof *dst);
    if (!x || !out || !att || !src || !dst)
        abort();
    for (int64_t k = 0; k < 2 * n; k++)
        x[k] = (float)(k % 11) * 0.1f - 0.5f;
    gat_status status = gat_model_forward(ctx, model, graph, x, n, 2, out, att);
    fuzz_check_failure(ctx, status);
    if (status == GAT_OK) {
        for (int64_t k = 0; k < 2 * n; k++)
            if (!isfinite(out[k]))
                abort();
        if (gat_graph_edges(ctx, graph, false, src, dst) != GAT_OK)
            abort();
        /* Coefficients of one destination are contiguous: they sum to 1. */
        for (int64_t k = 0; k < e;) {
            double sum = 0.0;
            int64_t d = dst[k];
            if (d < 0 || d >= n || src[k] < 0 || src[k] >= n)
                abort();
            for (; k < e && dst[k] == d; k++)
                sum += att[k];
            if (fabs(sum - 1.0) > 1e-4)
                abort();
        }
    }
    free(x);
    free(out);
    free(att);
    free(src);
    free(dst);
}

#endif
