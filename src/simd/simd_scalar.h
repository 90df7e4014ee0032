/*
 * The scalar back end of the vector vocabulary (simd.h): one lane, the
 * operations of simd_scalar_ops.h's gat_sf_ set, so a kernel written over
 * the vocabulary computes exactly what its plain loop does. Selected for
 * compilers without GNU C vectors, and forced with -DGAT_SIMD_SCALAR
 * (e.g. meson setup -Dnative=false -Dc_args=-DGAT_SIMD_SCALAR) to test it.
 */
#ifndef GAT_SIMD_SCALAR_H
#define GAT_SIMD_SCALAR_H

#include "simd_scalar_ops.h"

#include <stdbool.h>
#include <stdint.h>

#define GAT_V_LANES 1
#define GAT_V_BACKEND "scalar"

typedef float gat_v;
typedef bool gat_vm;
typedef uint32_t gat_vu;

static inline gat_v gat_v_load(const float *p) { return *p; }
static inline void gat_v_store(float *p, gat_v v) { *p = v; }
static inline gat_v gat_v_splat(float x) { return x; }
static inline gat_v gat_v_zero(void) { return 0.0f; }
static inline gat_v gat_v_fma(gat_v a, gat_v b, gat_v c) { return gat_sf_fma(a, b, c); }
static inline gat_v gat_v_max(gat_v a, gat_v b) { return a > b ? a : b; }
static inline gat_vm gat_v_gt(gat_v a, gat_v b) { return a > b; }
static inline gat_vm gat_v_ge(gat_v a, gat_v b) { return a >= b; }
static inline gat_vm gat_v_lt(gat_v a, gat_v b) { return a < b; }
static inline gat_vm gat_v_ne(gat_v a, gat_v b) { return a != b; }
static inline gat_vm gat_vm_or(gat_vm a, gat_vm b) { return a || b; }
static inline bool gat_vm_any(gat_vm m) { return m; }
static inline gat_v gat_v_select(gat_vm where, gat_v a, gat_v b) { return where ? a : b; }
static inline gat_vu gat_v_bits(gat_v v) { return gat_sf_bits(v); }
static inline gat_v gat_v_from_bits(gat_vu u) { return gat_sf_from_bits(u); }
static inline gat_v gat_v_load_u8(const uint8_t *p) { return (float)p[0]; }

/* ---- 8 heads (see simd.h): register hr is head hr ---- */

static inline gat_v gat_v_load_heads8(const float *p, int hr) { return p[hr]; }
static inline void gat_v_store_heads8(float *p, gat_v v, int hr) { p[hr] = v; }
static inline gat_vm gat_v_head_bits8(unsigned bits, int hr) { return (bits >> hr) & 1u; }
static inline gat_v gat_v_spread_heads8(const gat_v *h, int u) { return h[u / 8]; }
static inline gat_v gat_v_channel_heads8(const gat_v *row, int c, int hr)
{
    return row[c * 8 + hr];
}

static inline void gat_v_transpose8(const gat_v *in, gat_v *out)
{
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            out[c * 8 + r] = in[r * 8 + c];
}

/* ---- rows of any head count (see simd.h): register h is head h ---- */

static inline gat_v gat_v_load_first(const float *p, int n) { (void)n; return p[0]; }
static inline void gat_v_store_first(float *p, gat_v v, int n) { (void)n; p[0] = v; }
static inline gat_v gat_v_lane(const gat_v *p, int h) { return p[h]; }
static inline void gat_v_stream(float *p, gat_v v) { *p = v; }
static inline void gat_v_stream_fence(void) {}
/* Never called: groups of one lane have nothing to fold. */
static inline gat_v gat__fold_level(gat_v a, gat_v b, int width)
{
    (void)b;
    (void)width;
    return a;
}

#endif
