/* The projection's dense GEMM backends: OpenBLAS, or the built-in kernel. */
#ifndef GAT_GEMM_H
#define GAT_GEMM_H

#include <stdint.h>

/* wt [k, ldw] = w [n, k]^T, columns n..ldw-1 zero; ldw is n rounded up to
 * the kernel's column tile (GAT_GEMM_PACK_COLS). */
#define GAT_GEMM_PACK_COLS 32
void gat__gemm_pack_wt(const float *w, int64_t n, int64_t k, float *wt, int64_t ldw);

/* out [rows, n] = x [rows, k] . w^T, with w^T packed by gat__gemm_pack_wt. */
void gat__gemm_builtin(const float *x, int64_t rows, int64_t k, const float *wt, int64_t n,
                       int64_t ldw, float *out);

#endif
