/*
 * A register-blocked SGEMM for the projection's shape (many rows, a few
 * hundred input features, H*C = 16..512 outputs): out = x . W^T with W^T
 * packed once per call. Written so the compiler vectorizes the column
 * loop and keeps the 8 x 32 accumulator tile in registers; the comparison
 * with OpenBLAS is in the README. Each output element is a sum over k in
 * increasing order, whatever the blocking, so its bits do not depend on
 * the thread count.
 */
#include "fma.h"
#include "gemm.h"
#include "internal.h" /* GAT_ALWAYS_INLINE */
#include "simd.h"

#include <stdint.h>
#include <string.h>

/* The accumulator tile fills the registers: 8 x 32 is 16 of AVX-512's 32
 * (two vectors a row); with 16 registers (AVX2, SSE, NEON's 32 narrow
 * ones), 6 rows of two vectors leave room for the W^T row and the
 * broadcast. The tile does not change a sum (see above). */
#if GAT_V_LANES >= 16
#define TILE_ROWS 8
#else
#define TILE_ROWS 6
#endif
#define TILE_COLS (2 * GAT_V_LANES)

void gat__gemm_pack_wt(const float *restrict w, int64_t n, int64_t k, float *restrict wt,
                       int64_t ldw)
{
    for (int64_t kk = 0; kk < k; kk++) {
        for (int64_t o = 0; o < n; o++)
            wt[kk * ldw + o] = w[o * k + kk];
        for (int64_t o = n; o < ldw; o++)
            wt[kk * ldw + o] = 0.0f;
    }
}

/* A tile of `rows` rows (a constant at each call) and TILE_COLS columns
 * (two registers), in the vocabulary's registers (simd.h): as plain
 * arrays, gcc 12 kept the 6 x 16 tile of the 8-lane builds in memory. */
static GAT_ALWAYS_INLINE void tile_rows(const float *restrict x, int64_t k,
                                        const float *restrict wt, int64_t ldw,
                                        float *restrict out, int64_t ldo, const int rows,
                                        bool stream)
{
    gat_v acc[TILE_ROWS][2];
    for (int r = 0; r < rows; r++)
        acc[r][0] = acc[r][1] = gat_v_zero();
    for (int64_t kk = 0; kk < k; kk++) {
        const float *restrict wrow = wt + kk * ldw;
        const gat_v w0 = gat_v_load(wrow), w1 = gat_v_load(wrow + GAT_V_LANES);
        for (int r = 0; r < rows; r++) {
            const gat_v xv = gat_v_splat(x[r * k + kk]);
            acc[r][0] = gat_v_fma(xv, w0, acc[r][0]);
            acc[r][1] = gat_v_fma(xv, w1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        if (stream) {
            gat_v_stream(out + r * ldo, acc[r][0]);
            gat_v_stream(out + r * ldo + GAT_V_LANES, acc[r][1]);
        } else {
            gat_v_store(out + r * ldo, acc[r][0]);
            gat_v_store(out + r * ldo + GAT_V_LANES, acc[r][1]);
        }
    }
}

static void tile_full(const float *restrict x, int64_t k, const float *restrict wt, int64_t ldw,
                      float *restrict out, int64_t ldo, bool stream)
{
    tile_rows(x, k, wt, ldw, out, ldo, TILE_ROWS, stream);
}

/* The last rows of a block (1024 rows leave 4 at 6 a tile) with full
 * columns: in registers too, where the scalar tile_partial below took
 * 6% of the AVX2 build's projection time. */
static void tile_short(const float *restrict x, int64_t k, const float *restrict wt, int64_t ldw,
                       float *restrict out, int64_t ldo, int rows)
{
    switch (rows) {
#define ROWS(R)                                                                                   case R: tile_rows(x, k, wt, ldw, out, ldo, R, false); return;
        ROWS(1)
        ROWS(2)
        ROWS(3)
        ROWS(4)
        ROWS(5)
#if TILE_ROWS > 6
        ROWS(6)
        ROWS(7)
#endif
#undef ROWS
    default: return; /* rows < TILE_ROWS <= 8 */
    }
}

/* Edge tiles (fewer rows or columns): the same sums in the same order. */
static void tile_partial(const float *restrict x, int64_t k, const float *restrict wt,
                         int64_t ldw, float *restrict out, int64_t ldo, int rows, int cols)
{
    float acc[TILE_ROWS][TILE_COLS];
    memset(acc, 0, sizeof acc);
    for (int64_t kk = 0; kk < k; kk++) {
        const float *restrict wrow = wt + kk * ldw;
        for (int r = 0; r < rows; r++) {
            const float xv = x[r * k + kk];
            for (int c = 0; c < TILE_COLS; c++)
                acc[r][c] = GAT_FMA(xv, wrow[c], acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            out[r * ldo + c] = acc[r][c];
}

/* Outputs of at most NARROW_COLS columns (a classifier layer: 7 for Cora)
 * take tiles of NARROW_ROWS rows by one vector of columns: the wide tiles
 * would compute 32 columns for 7. */
#define NARROW_ROWS 16
#define NARROW_COLS 16
/* The accumulators stay in registers only with the row loop unrolled,
 * which GCC 12 does not do on its own at 16 (clang does). */
#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL_ROWS _Pragma("GCC unroll 16")
#else
#define UNROLL_ROWS
#endif

static GAT_ALWAYS_INLINE void tile_narrow(const float *restrict x, int64_t k,
                                          const float *restrict wt, int64_t ldw,
                                          float *restrict out, int64_t ldo, const int rows,
                                          const int cols, const int nv)
{
    /* In the vocabulary's registers (simd.h), as many a row as the columns
     * need: written as a plain [16][16] array the accumulators went through
     * memory, and as 16-float vectors on narrower machines too. */
    enum { VECS = NARROW_COLS / GAT_V_LANES };
    gat_v acc[NARROW_ROWS][VECS];
    for (int r = 0; r < NARROW_ROWS; r++)
        for (int v = 0; v < VECS; v++)
            acc[r][v] = gat_v_zero();
    for (int64_t kk = 0; kk < k; kk++) {
        gat_v w[VECS];
        for (int v = 0; v < nv; v++)
            w[v] = gat_v_load(wt + kk * ldw + v * GAT_V_LANES);
        UNROLL_ROWS
        for (int r = 0; r < rows; r++) {
            const gat_v xv = gat_v_splat(x[r * k + kk]);
            for (int v = 0; v < nv; v++)
                acc[r][v] = gat_v_fma(xv, w[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; r++) {
        float row[NARROW_COLS];
        for (int v = 0; v < nv; v++)
            gat_v_store(row + v * GAT_V_LANES, acc[r][v]);
        for (int c = 0; c < cols; c++)
            out[r * ldo + c] = row[c];
    }
}

/* nv, the registers a row's columns take, a constant in each call. */
static void tile_narrow_full(const float *restrict x, int64_t k, const float *restrict wt,
                             int64_t ldw, float *restrict out, int64_t ldo, int cols)
{
    if (cols <= GAT_V_LANES)
        tile_narrow(x, k, wt, ldw, out, ldo, NARROW_ROWS, cols, 1);
    else
        tile_narrow(x, k, wt, ldw, out, ldo, NARROW_ROWS, cols, NARROW_COLS / GAT_V_LANES);
}

static void tile_narrow_partial(const float *restrict x, int64_t k, const float *restrict wt,
                                int64_t ldw, float *restrict out, int64_t ldo, int rows, int cols)
{
    tile_narrow(x, k, wt, ldw, out, ldo, rows, cols, NARROW_COLS / GAT_V_LANES);
}

/* How many slabs of x ahead are prefetched (into L2). The kernel walks a
 * slab's rows side by side (one line of each of 8 rows, then the next),
 * which the hardware prefetchers follow poorly: streamed from memory, x
 * ran at about half the kernel's in-cache speed (1 thread: 104 against
 * 180 GFLOP/s; 122-130 with the prefetch). R-MAT 1M, 128 -> 64, 2
 * threads: projection 83-85 -> 72-73 ms. */
#define PREFETCH_SLABS 2

/* Part `part` of `parts` of the slab's cache lines: spread over the
 * slab's column tiles, as one burst of a whole slab's lines (64 at 8 rows
 * of 128 floats) filled the load miss queue and stalled on the prefetch
 * itself, which took 15-25% of the kernel's CPU time (perf cpu-clock
 * samples on the prefetch loop, R-MAT 131k, 128 -> 64). */
static inline void prefetch_slab(const float *x, int64_t rows, int64_t k, int64_t r0, int64_t part,
                                 int64_t parts)
{
#if defined(__GNUC__)
    if (r0 >= rows)
        return;
    /* Every cache line the slab touches, whatever x's alignment. */
    const float *slab = x + r0 * k;
    const uintptr_t first = (uintptr_t)slab & ~(uintptr_t)63;
    const uintptr_t end = (uintptr_t)(slab + (rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS) * k);
    const uintptr_t lines = (end - first + 63) / 64;
    const uintptr_t from = first + 64 * (lines * (uintptr_t)part / (uintptr_t)parts);
    const uintptr_t to = first + 64 * (lines * (uintptr_t)(part + 1) / (uintptr_t)parts);
    for (uintptr_t line = from; line < to; line += 64)
        __builtin_prefetch((const void *)line, 0, 2);
#else
    (void)x, (void)rows, (void)k, (void)r0, (void)part, (void)parts;
#endif
}

void gat__gemm_builtin(const float *x, int64_t rows, int64_t k, const float *wt, int64_t n,
                       int64_t ldw, float *out, bool stream)
{
    /* Whole lines only: every full tile's rows then start on a line. */
    stream = stream && ((uintptr_t)out % 64) == 0 && n % 16 == 0;
    if (n <= NARROW_COLS) {
        for (int64_t r0 = 0; r0 < rows; r0 += NARROW_ROWS) {
            const int tile_rows = rows - r0 < NARROW_ROWS ? (int)(rows - r0) : NARROW_ROWS;
            if (tile_rows == NARROW_ROWS)
                tile_narrow_full(x + r0 * k, k, wt, ldw, out + r0 * n, n, (int)n);
            else
                tile_narrow_partial(x + r0 * k, k, wt, ldw, out + r0 * n, n, tile_rows, (int)n);
        }
        return;
    }
    /* Rows outside, columns inside: a slab of TILE_ROWS rows of x (a few
     * KiB) is read from memory once and reused from L1 for every column
     * tile, while the packed W^T stays in L1/L2 throughout. */
    for (int64_t r0 = 0; r0 < rows; r0 += TILE_ROWS) {
        const int tile_rows = rows - r0 < TILE_ROWS ? (int)(rows - r0) : TILE_ROWS;
        for (int64_t c0 = 0; c0 < n; c0 += TILE_COLS) {
            const int cols = n - c0 < TILE_COLS ? (int)(n - c0) : TILE_COLS;
            prefetch_slab(x, rows, k, r0 + PREFETCH_SLABS * TILE_ROWS, c0 / TILE_COLS,
                          (n + TILE_COLS - 1) / TILE_COLS);
            if (tile_rows == TILE_ROWS && cols == TILE_COLS)
                tile_full(x + r0 * k, k, wt + c0, ldw, out + r0 * n + c0, n, stream);
            else if (cols == TILE_COLS)
                tile_short(x + r0 * k, k, wt + c0, ldw, out + r0 * n + c0, n, tile_rows);
            else
                tile_partial(x + r0 * k, k, wt + c0, ldw, out + r0 * n + c0, n, tile_rows, cols);
        }
    }
    if (stream) /* streaming stores are weakly ordered: done before anyone reads */
        gat_v_stream_fence();
}
