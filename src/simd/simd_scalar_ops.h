/*
 * The vocabulary's operations on one float (see simd.h), in two sets:
 * gat_sf_ multiplies-adds as GAT_FMA does (fused where the hardware has
 * FMA), gat_sp_ always unfused. They are what the plain loops compute, so
 * the exp polynomial written once over a set (fast_exp.h) gives the plain
 * loops their exp, and the scalar back end (simd_scalar.h) is gat_sf_.
 */
#ifndef GAT_SIMD_SCALAR_OPS_H
#define GAT_SIMD_SCALAR_OPS_H

#include "fma.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline float gat_sf_splat(float x) { return x; }
static inline float gat_sf_fma(float a, float b, float c) { return GAT_FMA(a, b, c); }
static inline bool gat_sf_ge(float a, float b) { return a >= b; }
static inline bool gat_sf_lt(float a, float b) { return a < b; }
static inline float gat_sf_select(bool where, float a, float b) { return where ? a : b; }

static inline uint32_t gat_sf_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float gat_sf_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define GAT_SF_FUSED GAT_FMA_FUSED

#define gat_sp_splat gat_sf_splat
#define gat_sp_ge gat_sf_ge
#define gat_sp_lt gat_sf_lt
#define gat_sp_select gat_sf_select
#define gat_sp_bits gat_sf_bits
#define gat_sp_from_bits gat_sf_from_bits
static inline float gat_sp_fma(float a, float b, float c) { return a * b + c; }
#define GAT_SP_FUSED 0

#endif
