/* Shared test helpers: deterministic random data, tolerant comparison, and
 * the dense masked-attention reference twin. */
#ifndef GAT_TEST_SUPPORT_H
#define GAT_TEST_SUPPORT_H

#include "gat.h"

#include <stdint.h>

/* Lets every parallel loop use all of ctx's threads however small its
 * work (the library runs small loops on one thread, see
 * GAT_PARALLEL_MIN_WORK), so that the tests' small problems exercise the
 * parallel paths and their thread-count independence. */
void test_parallel_always(gat_context *ctx);

/* splitmix64: a tiny seeded generator, so test data needs no files. */
uint64_t test_next(uint64_t *state);
float test_uniform(uint64_t *state, float lo, float hi);
void test_fill_uniform(float *values, int64_t n, float lo, float hi, uint64_t seed);

/* Fills every parameter of a model with U(-scale, scale), bias included. */
void test_randomize_model(gat_model *model, float scale, uint64_t seed);

/* Index of the first i with |got - want| > atol + rtol * |want|, or -1. */
int64_t test_first_mismatch(const float *got, const double *want, int64_t n, double rtol,
                            double atol);
double test_max_abs(const double *values, int64_t n);

/* Dense masked formulation of a whole model, double precision: for every
 * layer all N x N logits, masked to -inf where no edge (a count matrix
 * carries duplicate edges), softmax along each row. out [N, out width];
 * attention, when not NULL, is the last layer's dense [H, N, N] matrix
 * of per-pair coefficient mass (count * alpha). Never used by the library. */
void test_dense_forward(const gat_model *model, int64_t n, int64_t num_edges,
                        const int64_t *src, const int64_t *dst, const float *x, double *out,
                        double *attention);

#endif
