/* Shared test helpers: deterministic random data, tolerant comparison, the
 * dense masked-attention reference twin, a counting allocator, and
 * temporary directories and files. */
#ifndef GAT_TEST_SUPPORT_H
#define GAT_TEST_SUPPORT_H

#include "gat.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lets every parallel loop use all of ctx's threads however small its
 * work (the library runs small loops on one thread, see
 * GAT_PARALLEL_MIN_WORK), so that the tests' small problems exercise the
 * parallel paths and their thread-count independence. */
void test_parallel_always(gat_context *ctx);

/* Makes this context's projections write their output with streaming
 * stores whatever its size (the library does from
 * GAT_PROJECTION_STREAM_MIN_BYTES), to test them on small cases. */
void test_stream_projection_always(gat_context *ctx);
/* The edge kernels' plain twins instead of the register kernels (or back). */
void test_plain_kernels(gat_context *ctx, bool plain);

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

/* A context with `threads` threads (0: the library's default) on
 * `allocator` (NULL: the library's); asserts success. */
gat_context *test_context(int threads, const gat_allocator *allocator);

/* An allocator that counts live blocks and calls, remembers the largest
 * request, and can refuse one call, every call from one on, or every
 * request above a size: for leak checks, allocation-failure sweeps, and
 * checks that nothing huge was asked for. Every field is atomic because
 * the library may allocate from inside its parallel regions; the tests
 * still read and set them with plain expressions (atomic in C11). */
typedef struct test_counting {
    _Atomic int64_t calls;   /* allocation calls, refused ones included */
    _Atomic int64_t live;    /* blocks handed out and not yet freed */
    _Atomic int64_t failed;  /* calls refused */
    atomic_size_t largest;   /* largest request, refused or not */
    _Atomic int64_t fail_at; /* 1-based call (counted in `calls`) that fails; 0: none */
    atomic_bool sticky;      /* with fail_at: every later call fails too */
    atomic_size_t cap;       /* requests above this many bytes fail; 0: no cap */
} test_counting;

/* Everything zero: counts nothing yet, refuses nothing. */
void test_counting_init(test_counting *c);
/* An allocator over c (c must outlive every context made with it). */
gat_allocator test_counting_allocator(test_counting *c);
/* Initialises c and makes a context on it with `threads` threads (0: the
 * library's default); asserts success. The context's own block is live. */
gat_context *test_counting_context(test_counting *c, int threads);
/* Restarts the count of calls and refusals and fails call `fail_at` from
 * now (1-based; 0 disarms). */
void test_counting_arm(test_counting *c, int64_t fail_at);

/* A test that could hang (a FIFO, a process waited for) ends by SIGALRM
 * after `seconds`, reported as a crash. Not Criterion's .timeout: with
 * --jobs 2 it left a runner block that LeakSanitizer reports. */
void test_deadline(unsigned seconds);

/* Entries of dir (not "." and ".."), only those whose name holds part
 * unless part is NULL. */
int test_count_entries(const char *dir, const char *part);

/* Makes a fresh directory /tmp/<prefix>-XXXXXX and puts its path in dir
 * (asserts success). */
void test_make_temp_dir(char *dir, size_t size, const char *prefix);
/* Removes dir and everything below it, subdirectories included, without a
 * shell; expects it gone afterwards. An empty dir (never made) is skipped. */
void test_remove_dir(const char *dir);
/* Removes everything below dir and keeps dir; expects it empty afterwards. */
void test_clear_dir(const char *dir);
/* dir/name, in one of 8 buffers used in turn: the last 8 stay valid. */
const char *test_path(const char *dir, const char *name);
/* Writes `size` bytes to dir/name (asserts success); returns the path as
 * test_path does. */
const char *test_write_file(const char *dir, const char *name, const void *bytes, size_t size);
/* A whole file in malloc'd memory, with a NUL after its *size bytes so
 * text can be searched (asserts success). */
unsigned char *test_read_file(const char *path, size_t *size);
/* Entries in dir other than . and .. (asserts dir opens): what a write
 * left behind, temporary files included. */
int test_count_files(const char *dir);

/* Reads a case list (one name per line; blank and '#' lines skipped) into
 * names, one every `stride` bytes (a name must be shorter). Returns the
 * count, or -1 when the file cannot be read or is malformed. */
int test_read_cases(const char *path, char *names, size_t stride, int max_cases);

/* Fails unless |got - want| <= atol_rel * max |want| + rtol * |want| for
 * each of rows * cols values, naming case, array, the first mismatch
 * (row, column) and the worst ratio to the allowance. */
void test_compare_reference(const char *name, const char *what, const float *got,
                            const float *want, int64_t rows, int64_t cols, double rtol,
                            double atol_rel);

/* Fails naming the first float of got that differs bitwise from ref. */
void test_same_bits(const char *name, const char *what, int threads, const float *got,
                    const float *ref, int64_t count);

/* Runs gat_model_forward_inputs at 1 thread and compares out [rows, width]
 * and attention [num_att, heads] with the wanted ones (as
 * test_compare_reference), then at 2, 4 and 1 threads again, each bitwise
 * equal to the first. */
void test_forward_against(gat_context *ctx, const char *name, const gat_model *model,
                          const gat_graph *graph, const gat_inputs *in, const float *want_out,
                          const float *want_att, int64_t rows, int64_t width, int64_t num_att,
                          int64_t heads, double rtol, double atol_rel);

#endif
