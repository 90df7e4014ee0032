/* The projection's dense GEMM backends: OpenBLAS, or the built-in kernel. */
#ifndef GAT_GEMM_H
#define GAT_GEMM_H

#include <stdbool.h>
#include <stdint.h>

/* wt [k, ldw] = w [n, k]^T, columns n..ldw-1 zero; ldw is n rounded up to
 * the kernel's column tile (GAT_GEMM_PACK_COLS). */
#define GAT_GEMM_PACK_COLS 32
void gat__gemm_pack_wt(const float *w, int64_t n, int64_t k, float *wt, int64_t ldw);

/* out [rows, n] = x [rows, k] . w^T, with w^T packed by gat__gemm_pack_wt.
 * stream: write out with streaming stores where it can (out 64-byte
 * aligned, n a multiple of 16), for an output too large to stay cached
 * until it is read (see GAT_PROJECTION_STREAM_MIN_BYTES); same values. */
void gat__gemm_builtin(const float *x, int64_t rows, int64_t k, const float *wt, int64_t n,
                       int64_t ldw, float *out, bool stream);


#endif
