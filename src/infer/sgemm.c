/*
 * gat__sgemm: CBLAS where the build has it, else plain loops (see sgemm.h).
 */
#include "sgemm.h"

#include "gat.h"
#include "parallel.h"

#include <string.h>

#if GAT_HAVE_BLAS
#include <cblas.h>

bool gat_have_blas(void)
{
    return true;
}

void gat__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    /* Always on one thread, in a team of its own whose thread-count ICV is
     * 1: OpenBLAS's OpenMP build otherwise splits a call made outside a
     * parallel region over omp_get_max_threads() threads (OMP_NUM_THREADS,
     * not the context's count) and one made inside an active region runs
     * serially, and the two give different bits. The callers parallelise
     * over fixed blocks themselves. */
#ifdef _OPENMP
#pragma omp parallel num_threads(1)
#endif
    {
        gat__limit_nested_threads();
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
    }
}

#else

bool gat_have_blas(void)
{
    return false;
}

/* Row i of c as sum_p op(a)[i, p] * b[p, :] when b is not transposed (a
 * vectorizable multiply-add over the row), else as dot products. */
void gat__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        float *restrict row = c + i * ldc;
        if (!trans_b) {
            memset(row, 0, (size_t)n * sizeof *row);
            for (int64_t p = 0; p < k; p++) {
                const float scale = trans_a ? a[p * lda + i] : a[i * lda + p];
                const float *restrict b_row = b + p * ldb;
                for (int64_t j = 0; j < n; j++)
                    row[j] += scale * b_row[j];
            }
        } else {
            for (int64_t j = 0; j < n; j++) {
                float sum = 0.0f;
                for (int64_t p = 0; p < k; p++)
                    sum += (trans_a ? a[p * lda + i] : a[i * lda + p]) * b[j * ldb + p];
                row[j] = sum;
            }
        }
    }
}
#endif
