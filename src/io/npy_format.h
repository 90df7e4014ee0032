/*
 * What the .npy reader and writers share: the magic, the alignment NumPy
 * gives the data, and byte-order-explicit loads and stores. Values are
 * assembled from bytes with shifts, so the same code is right on little-
 * and big-endian hosts (compilers turn these into plain or bswap moves).
 */
#ifndef GAT_NPY_FORMAT_H
#define GAT_NPY_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define GAT__NPY_MAGIC "\x93NUMPY"
#define GAT__NPY_MAGIC_LEN 6
/* NumPy pads the header so that the data starts on this boundary, which is
 * what lets np.load(mmap_mode=...) map it; our writer does the same. */
#define GAT__NPY_ALIGN 64
/* NumPy leaves room in the header for the growing axis to reach this many
 * digits, so that appending rows can rewrite the header in place. */
#define GAT__NPY_GROWTH_DIGITS 21

/* The reader and writer reinterpret 4- and 8-byte integers as IEEE floats. */
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE-754 float and double assumed");

/* For descr byte orders '=' and '|' (and none): the host's. */
static inline bool gat__npy_host_little(void)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

static inline uint32_t gat__load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t gat__load_be32(const unsigned char *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static inline uint64_t gat__load_le64(const unsigned char *p)
{
    return (uint64_t)gat__load_le32(p) | (uint64_t)gat__load_le32(p + 4) << 32;
}

static inline uint64_t gat__load_be64(const unsigned char *p)
{
    return (uint64_t)gat__load_be32(p) << 32 | (uint64_t)gat__load_be32(p + 4);
}

static inline void gat__store_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void gat__store_le64(unsigned char *p, uint64_t v)
{
    gat__store_le32(p, (uint32_t)v);
    gat__store_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
