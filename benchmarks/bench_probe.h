/* Machine probes for the roofline: STREAM triad bandwidth and SGEMM rate,
 * and the hwloc topology summary, taken in a child process so their
 * buffers (and hwloc's plugins, 3.3 MiB resident) never count toward the
 * benchmark's peak memory. */
#ifndef GAT_BENCH_PROBE_H
#define GAT_BENCH_PROBE_H

typedef struct bench_machine {
    double triad_gbps;   /* STREAM triad, 3 x 8 bytes per element, best of 5 */
    double sgemm_gflops; /* OpenBLAS sgemm 2048 x 64 x 128 blocks, best of 5 */
    int ok;              /* 0 when the probes did not run or failed */
    char topology[512];  /* gat_context_topology(), "" if the child failed */
} bench_machine;

/* Describes the topology and, if run_probes, runs both probes with
 * `threads` threads. Call before the process starts any OpenMP work (it
 * forks). */
bench_machine bench_probe_machine(int threads, int run_probes);

#endif
