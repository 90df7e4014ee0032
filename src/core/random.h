/*
 * Counter-based randomness: a value is a pure function of (seed, stream,
 * counter), so what a thread draws does not depend on which thread it is
 * or how many there are.
 */
#ifndef GAT_RANDOM_H
#define GAT_RANDOM_H

#include <stdint.h>

/* splitmix64's finalizer: a strong 64-bit mixing function. */
static inline uint64_t gat__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A sequential stream keyed by (seed, stream): splitmix64 from a mixed
 * starting point. */
typedef struct gat__rng {
    uint64_t state;
} gat__rng;

static inline gat__rng gat__rng_stream(uint64_t seed, uint64_t stream)
{
    gat__rng r = {gat__mix64(seed ^ gat__mix64(stream + 0x632BE59BD9B4E019ull))};
    return r;
}

static inline uint64_t gat__rng_next(gat__rng *r)
{
    return gat__mix64(r->state += 0x9E3779B97F4A7C15ull);
}

/* Uniform in [0, 1) with 24 random bits, as a float. */
static inline float gat__rng_float(gat__rng *r)
{
    return (float)(gat__rng_next(r) >> 40) * 0x1.0p-24f;
}

/* Uniform in [0, bound) (bound > 0), by Lemire's multiply-shift; the bias
 * is below 2^-32 for bounds under 2^32. */
static inline uint64_t gat__rng_below(gat__rng *r, uint64_t bound)
{
    return (uint64_t)(((__uint128_t)gat__rng_next(r) * bound) >> 64);
}

#endif
