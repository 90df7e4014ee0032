/* Machine probes for the roofline: STREAM triad bandwidth and SGEMM rate,
 * measured in a child process so their buffers never count toward the
 * benchmark's peak memory. */
#ifndef GAT_BENCH_PROBE_H
#define GAT_BENCH_PROBE_H

typedef struct bench_machine {
    double triad_gbps;   /* STREAM triad, 3 x 8 bytes per element, best of 5 */
    double sgemm_gflops; /* OpenBLAS sgemm 2048 x 64 x 128 blocks, best of 5 */
    int ok;              /* 0 when the probe could not run */
} bench_machine;

/* Runs both probes with `threads` threads. Call before the process starts
 * any OpenMP work (it forks). */
bench_machine bench_probe_machine(int threads);

#endif
