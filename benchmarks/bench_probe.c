/* STREAM-triad and SGEMM probes and the topology summary, in a forked child. */
#include "bench_probe.h"
#include "cli_common.h"

#include <gat.h>
#include <stdio.h>
#include <string.h>

#if GAT_HAVE_BLAS
#include <cblas.h>
#endif
#ifdef _OPENMP /* absent in -Dopenmp=disabled builds: one thread */
#include <omp.h>
#endif
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* 512 MiB per array, as ../shared/bench/triad.c: STREAM asks for arrays
 * well beyond the last-level cache, and this machine's L3 is 480 MiB (the
 * 128 MiB arrays used before fitted in it all three). */
#define TRIAD_ELEMENTS ((size_t)1 << 26)
#define PROBE_TRIALS 5

static double probe_triad(int threads)
{
    double *a = aligned_alloc(64, TRIAD_ELEMENTS * sizeof(double));
    double *b = aligned_alloc(64, TRIAD_ELEMENTS * sizeof(double));
    double *c = aligned_alloc(64, TRIAD_ELEMENTS * sizeof(double));
    if (a == NULL || b == NULL || c == NULL)
        return 0.0;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < TRIAD_ELEMENTS; i++) {
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.5;
    }
    double best = 1e30;
    for (int t = 0; t < PROBE_TRIALS; t++) {
        double t0 = cli_now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < TRIAD_ELEMENTS; i++)
            a[i] = b[i] + 3.0 * c[i];
        double dt = cli_now() - t0;
        if (dt < best)
            best = dt;
    }
    volatile double sink = a[TRIAD_ELEMENTS / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return 3.0 * (double)TRIAD_ELEMENTS * sizeof(double) / best / 1e9;
}

/* The projection's shape (rows x 128 by 128 x 64) in blocks of 2048 rows
 * spread over the threads: the rate a well-tuned GEMM reaches here. A
 * build without BLAS has no independent GEMM to measure: 0, and gat-bench
 * prints no roofline. */
static double probe_sgemm(int threads)
{
#if !GAT_HAVE_BLAS
    (void)threads;
    return 0.0;
#else
    const int rows = 2048, k = 128, n = 64, blocks = 16;
    float *a = calloc((size_t)rows * blocks * k, sizeof(float));
    float *w = calloc((size_t)n * k, sizeof(float));
    float *c = calloc((size_t)rows * blocks * n, sizeof(float));
    if (a == NULL || w == NULL || c == NULL)
        return 0.0;
    for (size_t i = 0; i < (size_t)rows * blocks * k; i++)
        a[i] = (float)(i % 13) * 0.1f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        w[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int t = 0; t < PROBE_TRIALS; t++) {
        double t0 = cli_now();
#pragma omp parallel num_threads(threads)
        {
#ifdef _OPENMP
            omp_set_num_threads(1);
#endif
#pragma omp for schedule(static)
            for (int b = 0; b < blocks; b++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, k, 1.0f,
                            a + (size_t)b * rows * k, k, w, k, 0.0f, c + (size_t)b * rows * n, n);
        }
        double dt = cli_now() - t0;
        if (dt < best)
            best = dt;
    }
    free(a);
    free(w);
    free(c);
    return 2.0 * rows * blocks * (double)k * n / best / 1e9;
#endif
}

/* What the child sends back. */
typedef struct probe_result {
    double triad_gbps, sgemm_gflops;
    char topology[sizeof ((bench_machine *)0)->topology];
} probe_result;

static void describe_topology(char *out, size_t size)
{
    gat_context *ctx = NULL;
    if (gat_context_create(&ctx, NULL) != GAT_OK) {
        snprintf(out, size, "unknown (no context)");
        return;
    }
    snprintf(out, size, "%s", gat_context_topology(ctx));
    gat_context_destroy(&ctx);
}

bench_machine bench_probe_machine(int threads, int run_probes)
{
    bench_machine m = {0.0, 0.0, 0, ""};
    int fds[2];
    if (pipe(fds) != 0)
        return m;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return m;
    }
    if (pid == 0) {
        close(fds[0]);
        probe_result r = {0.0, 0.0, ""};
        describe_topology(r.topology, sizeof r.topology);
        if (run_probes) {
            r.triad_gbps = probe_triad(threads);
            r.sgemm_gflops = probe_sgemm(threads);
        }
        ssize_t written = write(fds[1], &r, sizeof r);
        _exit(written == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    probe_result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    if (got == (ssize_t)sizeof r && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        r.topology[sizeof r.topology - 1] = '\0';
        memcpy(m.topology, r.topology, sizeof m.topology);
        m.triad_gbps = r.triad_gbps;
        m.sgemm_gflops = r.sgemm_gflops;
        m.ok = r.triad_gbps > 0 && r.sgemm_gflops > 0;
    }
    return m;
}
