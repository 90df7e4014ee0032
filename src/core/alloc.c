/*
 * Allocation: every buffer goes through the context's allocator, aligned to
 * a cache line, with its size computed without wrapping.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Large buffers (projected features, the CSR) are gathered from at random:
 * with 4 KiB pages nearly every gather misses the TLB, and under
 * virtualisation a page walk costs several memory accesses. 2 MiB pages
 * cover them with a handful of TLB entries. Where transparent huge pages
 * are in "madvise" mode (Debian's default), asking is what enables them. */
#define HUGE_PAGE ((size_t)2 << 20)

/* Buffers of at least MAP_DIRECTLY bytes are mapped from the kernel and
 * unmapped when freed. Through malloc, glibc raises its mmap threshold to
 * the size of every large block freed, so later buffers of up to that size
 * come from the heap, and what they leave free there stays resident: the
 * training benchmark (one trainer after another, 100k nodes) peaked at 191
 * MiB instead of 171. 256 KiB: twice glibc's initial threshold. Under
 * AddressSanitizer every buffer stays on its heap, where it is checked. */
#if defined(__SANITIZE_ADDRESS__)
#define MAP_DIRECTLY SIZE_MAX
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAP_DIRECTLY SIZE_MAX
#endif
#endif
#ifndef MAP_DIRECTLY
#define MAP_DIRECTLY ((size_t)256 << 10)
#endif

/* Every block of the default allocator has this just before the pointer
 * handed out, saying how to release it. */
typedef struct block_header {
    void *base;    /* what posix_memalign or mmap returned */
    size_t mapped; /* bytes mapped, 0 for a posix_memalign block */
} block_header;

#define HEADER_BYTES ((size_t)64) /* a cache line: keeps the block aligned */

static void *default_alloc(void *user, size_t alignment, size_t size)
{
    (void)user;
    const bool huge = size >= 2 * HUGE_PAGE;
    const size_t align = huge ? HUGE_PAGE : alignment > HEADER_BYTES ? alignment : HEADER_BYTES;
    size_t total;
    if (!gat__add_size(size, align + HEADER_BYTES, &total))
        return NULL;
    void *base = NULL;
    size_t mapped = 0;
    if (size >= MAP_DIRECTLY) {
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
            return NULL;
        mapped = total;
    } else if (posix_memalign(&base, align, total) != 0) {
        return NULL;
    }
    /* The first aligned address with room for the header before it. */
    const uintptr_t at = ((uintptr_t)base + HEADER_BYTES + align - 1) & ~(uintptr_t)(align - 1);
    void *ptr = (void *)at;
    const block_header header = {base, mapped};
    memcpy((char *)ptr - HEADER_BYTES, &header, sizeof header);
#ifdef MADV_HUGEPAGE
    if (huge)
        (void)madvise(ptr, size - size % HUGE_PAGE, MADV_HUGEPAGE); /* a hint: failure is fine */
#endif
    return ptr;
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    if (ptr == NULL)
        return;
    block_header header;
    memcpy(&header, (char *)ptr - HEADER_BYTES, sizeof header);
    if (header.mapped != 0)
        munmap(header.base, header.mapped);
    else
        free(header.base);
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

void *gat__scratch(gat_context *ctx, int slot, int64_t count, size_t elem_size,
                   const char *what, gat_status *status, bool *fresh)
{
    gat__scratch_slot *s = &ctx->scratch[slot];
    size_t bytes;
    if (fresh != NULL)
        *fresh = false;
    if (count >= 0 && (uint64_t)count <= SIZE_MAX &&
        gat__mul_size((size_t)count, elem_size, &bytes) && bytes <= s->bytes &&
        s->data != NULL) {
        *status = GAT_OK;
        return s->data;
    }
    /* Freed first: the old and the new buffer together could exceed what
     * the allocator can give, and the old content is not kept anyway. */
    gat__free_raw(&ctx->allocator, s->data);
    s->bytes = 0;
    s->data = gat__alloc_array(ctx, count, elem_size, what, status);
    if (s->data == NULL)
        return NULL;
    s->bytes = (size_t)count * elem_size;
    if (fresh != NULL)
        *fresh = true;
    return s->data;
}

void gat__scratch_release(gat_context *ctx)
{
    for (int k = 0; k < GAT_SCRATCH_SLOTS; k++) {
        gat__free_raw(&ctx->allocator, ctx->scratch[k].data);
        ctx->scratch[k].data = NULL;
        ctx->scratch[k].bytes = 0;
    }
}
