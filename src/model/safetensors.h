/*
 * What the safetensors reader and writer agree on: limits, the byte order
 * of the file, and the names of activations in the metadata.
 *
 * File layout: an 8-byte little-endian header length N, N bytes of JSON
 * (tensor name -> {dtype, shape, data_offsets}, plus "__metadata__" of
 * string values), then the data buffer that the offsets index.
 */
#ifndef GAT_SAFETENSORS_H
#define GAT_SAFETENSORS_H

#include "internal.h"

#include <string.h>

/* The reference implementation refuses larger headers; so do we, which
 * also bounds what a hostile length field can make us allocate. */
#define GAT__ST_MAX_HEADER ((uint64_t)100 << 20)

/* Layer parameters are stored as F32, 4 bytes each. */
#define GAT__ST_F32_SIZE 4

static inline bool gat__host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static inline void gat__bswap32_array(void *data, size_t count)
{
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += 4) {
        unsigned char t0 = p[0], t1 = p[1];
        p[0] = p[3];
        p[1] = p[2];
        p[2] = t1;
        p[3] = t0;
    }
}

/* The metadata spelling of an activation; NULL for an unknown value. */
static inline const char *gat__activation_name(gat_activation activation)
{
    switch (activation) {
    case GAT_ACT_ELU: return "elu";
    case GAT_ACT_RELU: return "relu";
    case GAT_ACT_NONE: return "none";
    }
    return NULL;
}

#endif
