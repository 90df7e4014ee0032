/*
 * The general matrix products training needs besides the forward's
 * projection (dW = dP^T X, dX = dP W, and the projection itself when the
 * built-in kernel is not chosen): through the CBLAS library the build
 * found, or, in builds without one (-Dblas=disabled, or none installed),
 * through a plain loop with a fixed summation order, so the library builds
 * and gives deterministic results anywhere.
 */
#ifndef GAT_SGEMM_H
#define GAT_SGEMM_H

#include <stdbool.h>
#include <stdint.h>

/* c [m, n] = op(a) [m, k] . op(b) [k, n], all row-major; op(a) is a^T
 * when trans_a (a is then [k, m] with leading dimension lda), likewise b.
 * Sizes must fit in an int (the callers split work into blocks that do). */
void gat__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

#endif
