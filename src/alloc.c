/*
 * Allocation: every buffer goes through the context's allocator, aligned to
 * a cache line, with its size computed without wrapping.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Large buffers (projected features, the CSR) are gathered from at random:
 * with 4 KiB pages nearly every gather misses the TLB, and under
 * virtualisation a page walk costs several memory accesses. 2 MiB pages
 * cover them with a handful of TLB entries. Where transparent huge pages
 * are in "madvise" mode (Debian's default), asking is what enables them. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *default_alloc(void *user, size_t alignment, size_t size)
{
    (void)user;
    void *ptr = NULL;
    const bool huge = size >= 2 * HUGE_PAGE;
    if (posix_memalign(&ptr, huge ? HUGE_PAGE : alignment, size) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (huge)
        (void)madvise(ptr, size - size % HUGE_PAGE, MADV_HUGEPAGE); /* a hint: failure is fine */
#endif
    return ptr;
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

const gat_allocator gat__default_allocator = {default_alloc, default_free, NULL};

void *gat__alloc_raw(const gat_allocator *allocator, size_t size)
{
    return allocator->alloc(allocator->user, GAT_ALIGNMENT, size == 0 ? 1 : size);
}

void gat__free_raw(const gat_allocator *allocator, void *ptr)
{
    if (ptr != NULL)
        allocator->free(allocator->user, ptr);
}

void *gat__alloc_array(gat_context *ctx, int64_t count, size_t elem_size, const char *what,
                       gat_status *status)
{
    size_t bytes;
    if (count < 0 || (uint64_t)count > SIZE_MAX ||
        !gat__mul_size((size_t)count, elem_size, &bytes) || bytes > (size_t)INT64_MAX) {
        *status = gat__fail(ctx, GAT_ERR_OVERFLOW,
                            "%s: %lld elements of %zu bytes do not fit in memory", what,
                            (long long)count, elem_size);
        return NULL;
    }
    void *ptr = gat__alloc_raw(&ctx->allocator, bytes);
    if (ptr == NULL) {
        *status = gat__fail(ctx, GAT_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
        return NULL;
    }
    *status = GAT_OK;
    return ptr;
}

void *gat__calloc_array(gat_context *ctx, int64_t count, size_t elem_size, const char *what,
                        gat_status *status)
{
    void *ptr = gat__alloc_array(ctx, count, elem_size, what, status);
    if (ptr != NULL)
        memset(ptr, 0, (size_t)count * elem_size);
    return ptr;
}

void gat_free(gat_context *ctx, void *ptr)
{
    if (ctx != NULL)
        gat__free_raw(&ctx->allocator, ptr);
}
