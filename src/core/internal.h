/*
 * Internal shared definitions: the context's layout, checked allocation and
 * error reporting. Nothing here is part of the public API.
 */
#ifndef GAT_INTERNAL_H
#define GAT_INTERNAL_H

#include "gat.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Forces inlining where a kernel is instantiated per (heads, channels)
 * shape: the constant trip counts only help once the body is inlined. */
#if defined(__GNUC__)
#define GAT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GAT_ALWAYS_INLINE inline
#endif

#define GAT_MESSAGE_SIZE 512
/* Cache-line alignment for every buffer: rows of H*C floats start aligned,
 * so the compiler's vector loads never split lines. */
#define GAT_ALIGNMENT 64

/* Below this much work (about one multiply-add per unit) a parallel loop
 * runs on the calling thread alone. Waking a team and meeting at its
 * barrier costs microseconds when the cores are idle and up to a
 * scheduler time slice when another process holds one; a Cora epoch runs
 * about 40 loops of 10-300 us each, which one thread does faster than two.
 * Every loop computes each element the same way on any team, so the
 * choice never changes a bit of the results. */
#define GAT_PARALLEL_MIN_WORK (INT64_C(1) << 23)

/* Scratch memory a context keeps between calls (the forward pass's
 * buffers), so that the objects a call reads (model, graph) stay read-only
 * and threads with contexts of their own never share a buffer. A slot is
 * grown on demand and never shrunk: the same buffers serve every later call
 * no larger. gat_context_trim and gat_context_destroy release them. The
 * layer that uses the slots numbers them (src/infer/forward.c). */
#define GAT_SCRATCH_SLOTS 5

typedef struct gat__scratch_slot {
    void *data;
    size_t bytes;
} gat__scratch_slot;

struct gat_context {
    int num_threads;
    int64_t parallel_min_work; /* GAT_PARALLEL_MIN_WORK; tests lower it to run small cases in parallel */
    int64_t projection_stream_min_bytes; /* GAT_PROJECTION_STREAM_MIN_BYTES; tests lower it */
    bool plain_kernels; /* tests: the edge kernels' plain twins instead of the register kernels */
    gat_pin pin;
    gat_gemm gemm; /* never GAT_GEMM_AUTO: resolved at creation */
    gat_allocator allocator;
    char message[GAT_MESSAGE_SIZE];
    char pin_report[256];
    char *topology_text;   /* built on demand, owned */
    void *topology;        /* hwloc_topology_t, loaded once on first need, owned */
    bool topology_tried;   /* whether that load was attempted */
    gat__scratch_slot scratch[GAT_SCRATCH_SLOTS];
};

/* The team size for a loop of `work` units (see GAT_PARALLEL_MIN_WORK). */
static inline int gat__team(const struct gat_context *ctx, int64_t work)
{
    return work >= ctx->parallel_min_work ? ctx->num_threads : 1;
}

/* Formats a message into ctx (when ctx is not NULL) and returns status. */
gat_status gat__fail(gat_context *ctx, gat_status status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void gat__clear_message(gat_context *ctx);

/* a * b without wrapping; false when the product does not fit. */
static inline bool gat__mul_size(size_t a, size_t b, size_t *product)
{
    if (b != 0 && a > SIZE_MAX / b)
        return false;
    *product = a * b;
    return true;
}

static inline bool gat__add_size(size_t a, size_t b, size_t *sum)
{
    if (a > SIZE_MAX - b)
        return false;
    *sum = a + b;
    return true;
}

/* Aligned allocation through an allocator. size 0 allocates one byte so
 * that NULL always means failure. */
void *gat__alloc_raw(const gat_allocator *allocator, size_t size);
void gat__free_raw(const gat_allocator *allocator, void *ptr);

/* count * elem_size bytes through ctx's allocator, overflow-checked; on
 * failure returns NULL with GAT_ERR_NOMEM or GAT_ERR_OVERFLOW in *status
 * and a message naming `what`. */
void *gat__alloc_array(gat_context *ctx, int64_t count, size_t elem_size, const char *what,
                       gat_status *status);
/* The same, zero-filled. */
void *gat__calloc_array(gat_context *ctx, int64_t count, size_t elem_size, const char *what,
                        gat_status *status);

/* Allocates count elements of *ptr (zero-filled when zero is true) or jumps
 * to the caller's `fail:` label with `status` set: the one-cleanup-path
 * idiom of the functions that build several arrays. */
#define GAT__ALLOC_OR_FAIL(ctx, ptr, count, zero, what, status)                               \
    do {                                                                                      \
        (ptr) = (zero) ? gat__calloc_array((ctx), (count), sizeof *(ptr), (what), &(status))  \
                       : gat__alloc_array((ctx), (count), sizeof *(ptr), (what), &(status));  \
        if ((ptr) == NULL)                                                                    \
            goto fail;                                                                        \
    } while (0)

/* Scratch slot `slot` of ctx holding at least count * elem_size bytes.
 * *fresh (may be NULL) says whether it was allocated by this call (its
 * content is then undefined and no thread has touched its pages). On
 * failure the slot is empty and NULL is returned as gat__alloc_array does. */
void *gat__scratch(gat_context *ctx, int slot, int64_t count, size_t elem_size,
                   const char *what, gat_status *status, bool *fresh);
/* Frees every scratch slot of ctx. */
void gat__scratch_release(gat_context *ctx);

#define GAT_FREE(allocator, ptr)                \
    do {                                        \
        gat__free_raw((allocator), (ptr));      \
        (ptr) = NULL;                           \
    } while (0)

/* Projections whose output is at least this large write it with streaming
 * stores: it cannot stay in the caches until the edge pass reads it, and
 * skipping each line's read-for-ownership saves a third of the
 * projection's memory traffic. Measured, 128 -> 8 x 8, 2 threads: at
 * R-MAT 1M (256 MB of rows) projection 70-73 -> 66 ms, edge phase the
 * same; at 100k (26 MB) the edge phase lost 0.5-1 ms, its rows no longer
 * in L3. */
#define GAT_PROJECTION_STREAM_MIN_BYTES ((int64_t)128 << 20)

#endif
