/*
 * The context: thread count, hwloc topology (loaded once, when needed) and thread
 * pinning, the allocator, and the last error message.
 */
#include "internal.h"
#include "parallel.h"

#include <hwloc.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <pthread.h>
#endif

extern const gat_allocator gat__default_allocator;

/* What GAT_GEMM_AUTO means: the built-in kernel. On the AVX-512 machine
 * measured (docs/performance.md, "GEMM") it beat OpenBLAS on the
 * projection's shape, mostly by not packing x; on the same machine's
 * x86-64-v3 build, with its tile sized for 16 registers, it ties with
 * OpenBLAS ("Portable speed"). Its sums run in a fixed order whatever the
 * rows' places, so a forward gives the same bits on a relabelled graph,
 * which OpenBLAS's blocking does not promise. */
#define GAT_GEMM_DEFAULT GAT_GEMM_BUILTIN

void gat_context_options_init(gat_context_options *options)
{
    if (options == NULL)
        return;
    memset(options, 0, sizeof *options);
    options->num_threads = 0;
    options->pin = GAT_PIN_NONE;
    options->allocator = NULL;
}

/* The core each thread goes to: compact walks cores in hwloc's logical
 * order (one package filled first); scatter lets hwloc_distrib spread the
 * threads over the tree, so consecutive threads land on different packages
 * and NUMA nodes. */
static int choose_cpusets(hwloc_topology_t topo, gat_pin pin, int n, hwloc_bitmap_t *sets)
{
    int depth = hwloc_get_type_or_below_depth(topo, HWLOC_OBJ_CORE);
    int num_cores = hwloc_get_nbobjs_by_depth(topo, depth);
    if (num_cores <= 0)
        return -1;
    if (pin == GAT_PIN_COMPACT) {
        for (int t = 0; t < n; t++) {
            hwloc_obj_t core = hwloc_get_obj_by_depth(topo, depth, (unsigned)(t % num_cores));
            sets[t] = hwloc_bitmap_dup(core->cpuset);
            hwloc_bitmap_singlify(sets[t]);
        }
        return 0;
    }
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    if (hwloc_distrib(topo, &root, 1, sets, (unsigned)n, INT_MAX, 0) != 0)
        return -1;
    for (int t = 0; t < n; t++)
        hwloc_bitmap_singlify(sets[t]);
    return 0;
}

/* hwloc is loaded when first needed (pinning, gat_context_topology), not
 * at creation: its initialisation loads discovery plugins for I/O devices
 * (libxml2 with ICU, OpenCL, X11, libpciaccess), 3.3 MiB of resident
 * memory measured here that an unpinned context never uses. */
static void load_topology(gat_context *ctx)
{
    if (ctx->topology_tried)
        return;
    ctx->topology_tried = true;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return;
    if (hwloc_topology_load(topo) == 0)
        ctx->topology = topo;
    else
        hwloc_topology_destroy(topo);
}

static void pin_threads(gat_context *ctx)
{
    ctx->pin_report[0] = '\0';
    if (ctx->pin != GAT_PIN_NONE)
        load_topology(ctx);
    if (ctx->pin == GAT_PIN_NONE || ctx->topology == NULL) {
        snprintf(ctx->pin_report, sizeof ctx->pin_report, "threads not pinned");
        return;
    }
    hwloc_topology_t topo = ctx->topology;
    int n = ctx->num_threads;
    hwloc_bitmap_t *sets = calloc((size_t)n, sizeof *sets);
    if (sets == NULL) {
        snprintf(ctx->pin_report, sizeof ctx->pin_report, "pinning skipped: out of memory");
        return;
    }
    int failed = 0;
    if (choose_cpusets(topo, ctx->pin, n, sets) != 0) {
        snprintf(ctx->pin_report, sizeof ctx->pin_report,
                 "pinning skipped: no cores found in the topology");
    } else {
        /* Each OpenMP thread binds itself; the runtime keeps its pool, so
         * the binding holds for later parallel regions of this size. */
#ifdef _OPENMP
#pragma omp parallel num_threads(n) reduction(+ : failed)
#endif
        {
            int t = gat__thread_id();
            if (hwloc_set_cpubind(topo, sets[t], HWLOC_CPUBIND_THREAD) != 0)
                failed++;
        }
        if (failed)
            snprintf(ctx->pin_report, sizeof ctx->pin_report,
                     "pinning (%s) failed for %d of %d threads; running unpinned",
                     ctx->pin == GAT_PIN_COMPACT ? "compact" : "scatter", failed, n);
        else {
            int len = snprintf(ctx->pin_report, sizeof ctx->pin_report, "pinned %d threads (%s):",
                               n, ctx->pin == GAT_PIN_COMPACT ? "compact" : "scatter");
            for (int t = 0; t < n && len > 0 && (size_t)len < sizeof ctx->pin_report; t++)
                len += snprintf(ctx->pin_report + len, sizeof ctx->pin_report - (size_t)len,
                                " t%d->PU%d", t, hwloc_bitmap_first(sets[t]));
        }
    }
    for (int t = 0; t < n; t++)
        if (sets[t] != NULL)
            hwloc_bitmap_free(sets[t]);
    free(sets);
}

/* The thread-count policy, the same for a count passed in (the tools'
 * --threads) and for OpenMP's default (OMP_NUM_THREADS): at most
 * GAT_THREADS_PER_CPU per hardware thread and never more than
 * GAT_MAX_THREADS; above that the count is refused, not clamped, so that a
 * typo does not silently run with another count.
 *  - Why a bound at all: libgomp's gomp_team_start reserves 128 bytes per
 *    thread with alloca on the calling thread's stack, so a team of 100000
 *    (12.8 MB) overflows the 8 MiB main stack: SIGSEGV at the first parallel
 *    region, before any thread exists. At 1024 that is 128 KiB.
 *  - Why tied to the machine: beyond a few threads per hardware thread a
 *    team only time-slices, and each waits at every barrier for the others
 *    to be scheduled; 4 leaves room for deliberate oversubscription.
 * Hardware threads are the online CPUs (sysconf), the count hwloc finds
 * too, read without loading hwloc (see load_topology). */
#define GAT_MAX_THREADS 1024
#define GAT_THREADS_PER_CPU 4

static long hardware_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 ? cpus : 1;
}

int gat_max_threads(void)
{
    long limit = hardware_threads() * GAT_THREADS_PER_CPU;
    return limit < GAT_MAX_THREADS ? (int)limit : GAT_MAX_THREADS;
}

#ifdef _OPENMP
static void *probe_thread(void *arg)
{
    return arg;
}
#endif

/* libgomp cannot report a thread it failed to create: it prints "Thread
 * creation failed" and aborts the process. So a team of n is tried here
 * first, as n - 1 threads alive at once with the default attributes (what
 * libgomp uses unless OMP_STACKSIZE is set), and a failure is a status. */
static gat_status probe_team(gat_context *ctx, int n, const char *source)
{
#ifdef _OPENMP
    if (n < 2)
        return GAT_OK;
    gat_status status;
    pthread_t *ids = gat__alloc_array(ctx, n - 1, sizeof *ids, "thread probe", &status);
    if (ids == NULL)
        return status;
    int started = 0, error = 0;
    while (started < n - 1 &&
           (error = pthread_create(&ids[started], NULL, probe_thread, NULL)) == 0)
        started++;
    for (int t = 0; t < started; t++)
        pthread_join(ids[t], NULL);
    gat__free_raw(&ctx->allocator, ids);
    if (error != 0)
        return gat__fail(ctx, GAT_ERR_NOMEM,
                         "%s: cannot start a team of %d threads: thread %d of %d: %s", source, n,
                         started + 2, n, strerror(error));
#else
    (void)ctx, (void)n, (void)source;
#endif
    return GAT_OK;
}

/* Resolves a requested count (0: OpenMP's default) under the policy above,
 * checks that such a team can start, and applies it with its pinning. The
 * message names where the count came from. */
static gat_status apply_threads(gat_context *ctx, int requested)
{
    char source[96];
    int n = requested;
    if (requested > 0) {
        snprintf(source, sizeof source, "num_threads %d", requested);
    } else {
        n = gat__default_threads();
        const char *env = getenv("OMP_NUM_THREADS");
        if (env != NULL && env[0] != '\0') {
            /* Shown as it is, but on one line. */
            snprintf(source, sizeof source, "OMP_NUM_THREADS=%.60s", env);
            for (char *c = source; *c != '\0'; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                    *c = '?';
        } else
            snprintf(source, sizeof source, "OpenMP's default of %d threads", n);
    }
    if (n < 1)
        n = 1;
    const int limit = gat_max_threads();
    if (n > limit)
        return gat__fail(ctx, GAT_ERR_INVALID,
                         "%s: %d threads is more than the limit of %d on this machine (%d per "
                         "hardware thread, %ld hardware threads, never more than %d)",
                         source, n, limit, GAT_THREADS_PER_CPU, hardware_threads(),
                         GAT_MAX_THREADS);
    gat_status status = probe_team(ctx, n, source);
    if (status != GAT_OK)
        return status;
    ctx->num_threads = n;
    pin_threads(ctx);
    return GAT_OK;
}

/* No context survives a failed creation to hold its message: it goes to
 * the caller's buffer, when there is one. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static gat_status refuse(const gat_context_options *options, gat_status status,
                         const char *format, ...)
{
    if (options->message == NULL || options->message_size == 0)
        return status;
    int used = snprintf(options->message, options->message_size, "gat_context_create: ");
    if (used < 0 || (size_t)used >= options->message_size)
        return status;
    va_list args;
    va_start(args, format);
    vsnprintf(options->message + used, options->message_size - (size_t)used, format, args);
    va_end(args);
    return status;
}

gat_status gat_context_create(gat_context **ctx_out, const gat_context_options *options)
{
    if (ctx_out == NULL)
        return GAT_ERR_INVALID;
    *ctx_out = NULL;
    gat_context_options defaults;
    gat_context_options_init(&defaults);
    if (options == NULL)
        options = &defaults;
    if (options->num_threads < 0)
        return refuse(options, GAT_ERR_INVALID, "num_threads %d is negative",
                      options->num_threads);
    if (options->pin < GAT_PIN_NONE || options->pin > GAT_PIN_SCATTER)
        return refuse(options, GAT_ERR_INVALID, "unknown pin %d", (int)options->pin);
    if (options->gemm < GAT_GEMM_AUTO || options->gemm > GAT_GEMM_BUILTIN)
        return refuse(options, GAT_ERR_INVALID, "unknown gemm %d", (int)options->gemm);
    if (options->gemm == GAT_GEMM_BLAS && !GAT_HAVE_BLAS)
        return refuse(options, GAT_ERR_UNSUPPORTED, "gemm GAT_GEMM_BLAS: built without BLAS");
    const gat_allocator *allocator =
        options->allocator != NULL ? options->allocator : &gat__default_allocator;
    if (allocator->alloc == NULL || allocator->free == NULL)
        return refuse(options, GAT_ERR_INVALID, "the allocator needs alloc and free");
    gat_context *ctx = allocator->alloc(allocator->user, GAT_ALIGNMENT, sizeof *ctx);
    if (ctx == NULL)
        return refuse(options, GAT_ERR_NOMEM, "cannot allocate %zu bytes", sizeof *ctx);
    memset(ctx, 0, sizeof *ctx);
    ctx->allocator = *allocator;
    ctx->pin = options->pin;
    ctx->gemm = options->gemm == GAT_GEMM_AUTO ? GAT_GEMM_DEFAULT : options->gemm;
    ctx->parallel_min_work = GAT_PARALLEL_MIN_WORK;
    ctx->projection_stream_min_bytes = GAT_PROJECTION_STREAM_MIN_BYTES;
    ctx->num_threads = 1;
    gat_status status = apply_threads(ctx, options->num_threads);
    if (status != GAT_OK) {
        refuse(options, status, "%s", ctx->message);
        gat_context_destroy(&ctx);
        return status;
    }
    gat__clear_message(ctx);
    *ctx_out = ctx;
    return GAT_OK;
}

void gat_context_destroy(gat_context **ctx_ptr)
{
    if (ctx_ptr == NULL || *ctx_ptr == NULL)
        return;
    gat_context *ctx = *ctx_ptr;
    gat__scratch_release(ctx);
    if (ctx->topology != NULL)
        hwloc_topology_destroy((hwloc_topology_t)ctx->topology);
    free(ctx->topology_text);
    gat_allocator allocator = ctx->allocator;
    allocator.free(allocator.user, ctx);
    *ctx_ptr = NULL;
}

void gat_context_trim(gat_context *ctx)
{
    if (ctx != NULL)
        gat__scratch_release(ctx);
}

int gat_context_threads(const gat_context *ctx)
{
    return ctx != NULL ? ctx->num_threads : 1;
}

gat_status gat_context_set_threads(gat_context *ctx, int num_threads)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (num_threads < 0)
        return gat__fail(ctx, GAT_ERR_INVALID, "thread count %d is negative", num_threads);
    return apply_threads(ctx, num_threads);
}

const char *gat_context_pin_report(const gat_context *ctx)
{
    return ctx != NULL ? ctx->pin_report : "";
}

static int count_type(hwloc_topology_t topo, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type(topo, type);
    return n > 0 ? n : 0;
}

const char *gat_context_topology(gat_context *ctx)
{
    if (ctx == NULL)
        return "";
    load_topology(ctx);
    if (ctx->topology == NULL)
        return "hwloc could not load the topology";
    if (ctx->topology_text != NULL)
        return ctx->topology_text;
    hwloc_topology_t topo = ctx->topology;
    char buf[1024];
    int len = snprintf(buf, sizeof buf, "%d package(s), %d NUMA node(s), %d core(s), %d PU(s)",
                       count_type(topo, HWLOC_OBJ_PACKAGE), count_type(topo, HWLOC_OBJ_NUMANODE),
                       count_type(topo, HWLOC_OBJ_CORE), count_type(topo, HWLOC_OBJ_PU));
    static const struct { hwloc_obj_type_t type; const char *name; } caches[] = {
        {HWLOC_OBJ_L1CACHE, "L1d"}, {HWLOC_OBJ_L2CACHE, "L2"}, {HWLOC_OBJ_L3CACHE, "L3"}};
    for (size_t c = 0; c < sizeof caches / sizeof caches[0]; c++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(topo, caches[c].type, 0);
        if (obj != NULL && obj->attr != NULL && len > 0 && (size_t)len < sizeof buf)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "; %s %llu KiB x %d",
                            caches[c].name, (unsigned long long)obj->attr->cache.size / 1024,
                            count_type(topo, caches[c].type));
    }
    for (int i = 0; i < count_type(topo, HWLOC_OBJ_NUMANODE); i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        if (node != NULL && len > 0 && (size_t)len < sizeof buf)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "; NUMA %u: %llu MiB",
                            node->os_index,
                            (unsigned long long)(node->attr ? node->attr->numanode.local_memory
                                                            : 0) >> 20);
    }
    ctx->topology_text = strdup(buf);
    return ctx->topology_text != NULL ? ctx->topology_text : "out of memory";
}
