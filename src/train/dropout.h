/*
 * Dropout masks from a counter-based hash: whether element e is kept is a
 * pure function of (seed, step, layer, site, e), so a mask does not depend
 * on the thread count, on the order elements are visited, or on whether
 * the input is held dense or sparse.
 *
 * One splitmix64 output serves four consecutive elements: element e uses
 * the 16-bit lane e % 4 of the hash of e / 4, and is dropped when that lane
 * is below round(rate * 2^16). The keep probability is therefore
 * 1 - round(rate * 65536) / 65536 (0.6 -> 0.399994), and hashing costs a
 * quarter of a 64-bit mix per element.
 */
#ifndef GAT_DROPOUT_H
#define GAT_DROPOUT_H

#include "edge_row.h"
#include "random.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum gat__dropout_site {
    GAT__DROP_INPUT = 0,     /* a layer's input features, element = row * F + column */
    GAT__DROP_ATTENTION = 1, /* attention coefficients, element = edge * H + head */
    /* a layer's projected features as the aggregation reads them (the GAT
     * authors' code), element = row * H*C + head * C + channel (head-major,
     * PyG's layout, whatever order the trainer stores them in) */
    GAT__DROP_PROJECTED = 2
} gat__dropout_site;

typedef struct gat__dropout {
    uint64_t key;       /* the mask's stream */
    uint32_t threshold; /* drop when the element's 16 bits are below it; 0: keep all */
    float scale;        /* 1 / (1 - rate): what kept elements are multiplied by */
} gat__dropout;

#define GAT__DROPOUT_GOLDEN 0x9E3779B97F4A7C15ull

/* rate in [0, 1). */
static inline gat__dropout gat__dropout_make(uint64_t seed, int64_t step, int layer,
                                             gat__dropout_site site, float rate)
{
    gat__dropout d = {0, 0, 1.0f};
    if (!(rate > 0.0f))
        return d;
    uint64_t k = gat__mix64(seed ^ 0xD1B54A32D192ED03ull);
    k = gat__mix64(k + (uint64_t)step);
    /* A stream of its own for the projected features: (layer << 1 | site)
     * would be the next layer's input mask; the old sites keep their keys. */
    if (site == GAT__DROP_PROJECTED)
        d.key = gat__mix64(gat__mix64(k ^ 0x94D049BB133111EBull) + (uint64_t)layer);
    else
        d.key = gat__mix64(k + ((uint64_t)layer << 1 | (uint64_t)site));
    long t = lround(ldexp((double)rate, 16));
    d.threshold = t > 65535 ? 65535u : t < 1 ? 1u : (uint32_t)t;
    d.scale = (float)(1.0 / (1.0 - (double)rate));
    return d;
}

static inline bool gat__dropout_active(const gat__dropout *d) { return d->threshold != 0; }

/* Whether element `element` is kept. */
static inline bool gat__dropout_keep(const gat__dropout *d, uint64_t element)
{
    uint64_t r = gat__mix64(d->key + (element >> 2) * GAT__DROPOUT_GOLDEN);
    return ((uint32_t)(r >> (16 * (element & 3))) & 0xFFFFu) >= d->threshold;
}

/* Attention-dropout masks are kept as bits per slot: gat__mask_bytes
 * (edge_row.h, which reads them in the row kernels). */

/* The factor element `element` is multiplied by: 0 or 1 / (1 - rate). */
static inline float gat__dropout_scale(const gat__dropout *d, uint64_t element)
{
    return gat__dropout_keep(d, element) ? d->scale : 0.0f;
}

#endif
