/*
 * The one place that knows whether OpenMP is there, so the library still
 * builds (serially) without it.
 */
#ifndef GAT_PARALLEL_H
#define GAT_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
static inline int gat__thread_id(void) { return omp_get_thread_num(); }
static inline int gat__default_threads(void) { return omp_get_max_threads(); }
static inline void gat__limit_nested_threads(void) { omp_set_num_threads(1); }
#else
static inline void gat__limit_nested_threads(void) {}
static inline int gat__thread_id(void) { return 0; }
static inline int gat__default_threads(void) { return 1; }
#endif

#endif
