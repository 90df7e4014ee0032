/*
 * The .npy reader and writers: round trips, NumPy's own files (fixtures
 * from tools/make_npy_fixtures.py), np.save's exact bytes, and every way a
 * file can be wrong. Broken files are written by the tests into a fresh
 * temporary directory, so each case shows the bytes it is about.
 */
#include <criterion/criterion.h>

#include "gat.h"
#include "support.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_DATA GAT_TEST_DATA "/npy/"

/* Per test (Criterion runs each test in its own process). */
static char tmpdir[64];
static gat_context *ctx;

static void setup(void)
{
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-npy");
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir);
}

TestSuite(npy, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* A .npy file with the given header text, which is padded as NumPy pads
 * it when `pad` (spaces to a multiple of 64, then '\n'), then data. */
static const char *write_npy_ex(const char *name, int major, int minor, const char *dict, bool pad,
                                const void *data, size_t data_len)
{
    static unsigned char buf[8192];
    size_t len_size = major == 1 ? 2 : 4;
    size_t text = strlen(dict);
    size_t start = 8 + len_size;
    size_t header_len = text;
    if (pad) {
        header_len = text + 1;
        while ((start + header_len) % 64 != 0)
            header_len++;
    }
    cr_assert(start + header_len + data_len <= sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    for (size_t i = 0; i < len_size; i++)
        buf[8 + i] = (unsigned char)(header_len >> (8 * i));
    memcpy(buf + start, dict, text);
    if (pad) {
        memset(buf + start + text, ' ', header_len - text - 1);
        buf[start + header_len - 1] = '\n';
    }
    if (data_len > 0)
        memcpy(buf + start + header_len, data, data_len);
    return test_write_file(tmpdir, name, buf, start + header_len + data_len);
}

static const char *write_npy(const char *name, const char *dict, const void *data, size_t data_len)
{
    return write_npy_ex(name, 1, 0, dict, true, data, data_len);
}

/* A read that must fail with `status`, a message starting with the path
 * and containing `fragment`, and *out set to NULL. */
static void expect_error(const char *path, gat_dtype want, gat_status status, const char *fragment)
{
    gat_array sentinel;
    gat_array *array = &sentinel;
    gat_status got = gat_npy_read(ctx, path, want, &array);
    const char *msg = gat_context_message(ctx);
    cr_expect_eq(got, status, "%s: got %s, expected %s; message: %s", path, gat_status_str(got),
                 gat_status_str(status), msg);
    cr_expect_null(array, "%s: *out not NULL after an error", path);
    cr_expect(strncmp(msg, path, strlen(path)) == 0, "message does not start with the path: %s",
              msg);
    if (fragment != NULL)
        cr_expect(strstr(msg, fragment) != NULL, "message lacks \"%s\": %s", fragment, msg);
}

static gat_array *read_ok(const char *path, gat_dtype want)
{
    gat_array *array = NULL;
    gat_status status = gat_npy_read(ctx, path, want, &array);
    cr_assert_eq(status, GAT_OK, "%s: %s: %s", path, gat_status_str(status),
                 gat_context_message(ctx));
    cr_assert_not_null(array);
    cr_assert_str_empty(gat_context_message(ctx));
    cr_assert_eq(array->dtype, want);
    return array;
}

static void expect_f32(const gat_array *a, int64_t rows, int64_t cols, const float *want)
{
    cr_assert_eq(a->ndim, 2);
    cr_assert_eq(a->shape[0], rows);
    cr_assert_eq(a->shape[1], cols);
    const float *x = a->data;
    for (int64_t k = 0; k < rows * cols; k++) {
        /* Bitwise: -0.0 and subnormals must survive. */
        cr_expect(memcmp(&x[k], &want[k], sizeof(float)) == 0, "element %lld: %a, expected %a",
                  (long long)k, (double)x[k], (double)want[k]);
    }
}

static void expect_i64(const gat_array *a, int64_t n, const int64_t *want)
{
    cr_assert_eq(a->ndim, 1);
    cr_assert_eq(a->shape[0], n);
    cr_assert_eq(a->shape[1], 1);
    const int64_t *x = a->data;
    for (int64_t k = 0; k < n; k++)
        cr_expect_eq(x[k], want[k], "element %lld: %lld, expected %lld", (long long)k,
                     (long long)x[k], (long long)want[k]);
}

/* ------------------------------------------------------------------------ */
/* Round trips and the writers                                              */
/* ------------------------------------------------------------------------ */

Test(npy, roundtrip_f32)
{
    const float x[6] = {1.5f, -0.0f, FLT_MAX, -FLT_MIN, 1e-45f, 3.0f};
    const int64_t shape[2] = {2, 3};
    const char *path = test_path(tmpdir, "x.npy");
    cr_assert_eq(gat_npy_write_f32(ctx, path, x, 2, shape), GAT_OK, "%s",
                 gat_context_message(ctx));
    gat_array *a = read_ok(path, GAT_FLOAT32);
    expect_f32(a, 2, 3, x);
    gat_array_destroy(&a);
    cr_expect_null(a);
    gat_array_destroy(&a); /* a NULL handle is fine */
    gat_array_destroy(NULL);
    cr_expect_eq(test_count_files(tmpdir), 1, "temporary files left behind");
}

Test(npy, roundtrip_i64)
{
    const int64_t v[5] = {0, -1, INT64_MAX, INT64_MIN, 2708};
    const int64_t shape[1] = {5};
    const char *path = test_path(tmpdir, "y.npy");
    cr_assert_eq(gat_npy_write_i64(ctx, path, v, 1, shape), GAT_OK, "%s",
                 gat_context_message(ctx));
    gat_array *a = read_ok(path, GAT_INT64);
    expect_i64(a, 5, v);
    gat_array_destroy(&a);
}

Test(npy, roundtrip_empty)
{
    const int64_t shape2[2] = {0, 7};
    const int64_t shape1[1] = {0};
    const char *p2 = test_path(tmpdir, "e2.npy");
    const char *p1 = test_path(tmpdir, "e1.npy");
    /* No data to point at: NULL is fine for zero elements. */
    cr_assert_eq(gat_npy_write_f32(ctx, p2, NULL, 2, shape2), GAT_OK);
    cr_assert_eq(gat_npy_write_i64(ctx, p1, NULL, 1, shape1), GAT_OK);
    gat_array *a = read_ok(p2, GAT_FLOAT32);
    cr_expect_eq(a->shape[0], 0);
    cr_expect_eq(a->shape[1], 7);
    cr_expect_not_null(a->data);
    gat_array_destroy(&a);
    a = read_ok(p1, GAT_INT64);
    cr_expect_eq(a->shape[0], 0);
    gat_array_destroy(&a);
}

/* A larger array than the streaming buffer, with its end checked. */
Test(npy, roundtrip_large)
{
    const int64_t rows = 1000, cols = 37;
    float *x = malloc((size_t)(rows * cols) * sizeof *x);
    cr_assert_not_null(x);
    for (int64_t k = 0; k < rows * cols; k++)
        x[k] = (float)k * 0.5f - 100.0f;
    const int64_t shape[2] = {rows, cols};
    const char *path = test_path(tmpdir, "big.npy");
    cr_assert_eq(gat_npy_write_f32(ctx, path, x, 2, shape), GAT_OK);
    gat_array *a = read_ok(path, GAT_FLOAT32);
    expect_f32(a, rows, cols, x);
    gat_array_destroy(&a);
    free(x);
}

/* Our writers produce exactly what np.save produces (tools/
 * make_npy_fixtures.py), padding and growth room included. */
Test(npy, writers_match_numpy_bytes)
{
    struct {
        const char *fixture;
        int ndim;
        int64_t shape[2];
        bool is_float;
        float f[6];
        int64_t i[4];
    } cases[] = {
        {"numpy_f32_2x3.npy", 2, {2, 3}, true, {0, -0.25f, -0.5f, 1, 0.75f, 0.5f}, {0}},
        {"numpy_f32_5.npy", 1, {5, 0}, true, {1.5f, -2.0f, 0.0f, 3.25f, 1e-3f}, {0}},
        {"numpy_i64_4.npy", 1, {4, 0}, false, {0}, {3, -1, 0, (int64_t)1 << 50}},
        {"numpy_f32_0x7.npy", 2, {0, 7}, true, {0}, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = test_path(tmpdir, cases[c].fixture);
        gat_status status = cases[c].is_float
                                ? gat_npy_write_f32(ctx, path, cases[c].f, cases[c].ndim,
                                                    cases[c].shape)
                                : gat_npy_write_i64(ctx, path, cases[c].i, cases[c].ndim,
                                                    cases[c].shape);
        cr_assert_eq(status, GAT_OK, "%s", gat_context_message(ctx));
        char fixture[512];
        snprintf(fixture, sizeof fixture, "%s%s", NPY_DATA, cases[c].fixture);
        size_t nw, ng;
        unsigned char *want = test_read_file(fixture, &nw);
        unsigned char *got = test_read_file(path, &ng);
        cr_expect_eq(ng, nw, "%s: %zu bytes, numpy wrote %zu", cases[c].fixture, ng, nw);
        cr_expect(ng == nw && memcmp(got, want, nw) == 0, "%s: bytes differ from np.save's",
                  cases[c].fixture);
        free(want);
        free(got);
    }
}

/* The data start on a 64-byte boundary and the header ends with '\n' for
 * every width of the first dimension (NumPy's growth room depends on it). */
static void check_layout(const char *path, const char *shape_text)
{
    unsigned char buf[256];
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    cr_assert_geq(n, 10);
    size_t header_len = (size_t)buf[8] | (size_t)buf[9] << 8;
    cr_assert_leq(10 + header_len, n);
    cr_expect_eq((10 + header_len) % 64, 0, "%s: data start at byte %zu", shape_text,
                 10 + header_len);
    cr_expect_eq(buf[10 + header_len - 1], '\n');
    cr_expect(buf[6] == 1 && buf[7] == 0, "version %d.%d", buf[6], buf[7]);
    buf[10 + header_len - 1] = '\0';
    const char *text = (const char *)buf + 10;
    cr_expect(strstr(text, shape_text) != NULL, "no %s in %s", shape_text, text);
    cr_expect(strstr(text, "'descr': '<i8'") != NULL, "%s", text);
    cr_expect(strstr(text, "'fortran_order': False") != NULL, "%s", text);
}

Test(npy, writer_header_layout)
{
    const int64_t dims[] = {0, 1, 9, 10, 99999, 123456789012LL, INT64_MAX / 8};
    for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++) {
        char text[64];
        const char *path = test_path(tmpdir, "h.npy");
        /* 2-D with a zero dimension: any first dimension, no data. */
        int64_t shape2[2] = {dims[k], dims[k] == 0 ? 5 : 0};
        cr_assert_eq(gat_npy_write_i64(ctx, path, NULL, 2, shape2), GAT_OK, "%s",
                     gat_context_message(ctx));
        snprintf(text, sizeof text, "'shape': (%lld, %lld)", (long long)shape2[0],
                 (long long)shape2[1]);
        check_layout(path, text);
        if (dims[k] > 99999)
            continue;
        int64_t *v = calloc((size_t)dims[k] + 1, sizeof *v);
        cr_assert_not_null(v);
        v[dims[k] > 0 ? dims[k] - 1 : 0] = 7;
        int64_t shape1[1] = {dims[k]};
        cr_assert_eq(gat_npy_write_i64(ctx, path, v, 1, shape1), GAT_OK);
        snprintf(text, sizeof text, "'shape': (%lld,)", (long long)dims[k]);
        check_layout(path, text);
        gat_array *a = read_ok(path, GAT_INT64);
        expect_i64(a, dims[k], v);
        gat_array_destroy(&a);
        free(v);
    }
}

Test(npy, write_invalid_arguments)
{
    const float x[4] = {1, 2, 3, 4};
    const int64_t ok[2] = {2, 2};
    const int64_t negative[2] = {2, -1};
    const int64_t huge[2] = {INT64_MAX / 2, 3};
    const char *path = test_path(tmpdir, "bad.npy");
    cr_expect_eq(gat_npy_write_f32(NULL, path, x, 2, ok), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_write_f32(ctx, NULL, x, 2, ok), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 0, ok), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 3, ok), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 2, NULL), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 2, negative), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), "negative") != NULL);
    cr_expect_eq(gat_npy_write_f32(ctx, path, NULL, 2, ok), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 2, huge), GAT_ERR_OVERFLOW);
    cr_expect_eq(gat_npy_write_i64(ctx, path, NULL, 1, ok), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    cr_expect_eq(test_count_files(tmpdir), 0, "a failed write left a file");
    /* A success clears the previous message. */
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 2, ok), GAT_OK);
    cr_expect_str_empty(gat_context_message(ctx));
}

Test(npy, write_missing_directory)
{
    const float x[2] = {1, 2};
    const int64_t v[2] = {1, 2};
    const int64_t shape[1] = {2};
    const char *path = test_path(tmpdir, "no/such/dir/x.npy");
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 1, shape), GAT_ERR_IO);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    cr_expect_eq(gat_npy_write_i64(ctx, path, v, 1, shape), GAT_ERR_IO);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    cr_expect_eq(access(path, F_OK), -1);
    cr_expect_eq(test_count_files(tmpdir), 0, "a failed write left a file");
}

/* A write that fails halfway (the file size limit) leaves neither the
 * target nor a temporary file, and an existing target untouched. */
Test(npy, write_failure_leaves_no_partial_file)
{
    const int64_t n = 100000;
    float *x = calloc((size_t)n, sizeof *x);
    cr_assert_not_null(x);
    const int64_t shape[2] = {n / 10, 10};
    const char *path = test_path(tmpdir, "partial.npy");
    const char *kept = test_write_file(tmpdir, "kept.npy", "old", 3);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {4096, 4096};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_expect_eq(gat_npy_write_f32(ctx, path, x, 2, shape), GAT_ERR_IO);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    cr_expect_eq(access(path, F_OK), -1, "a partial file was left");
    cr_expect_eq(gat_npy_write_f32(ctx, kept, x, 2, shape), GAT_ERR_IO);
    size_t size;
    free(test_read_file(kept, &size));
    cr_expect_eq(size, 3, "the existing file was damaged");
    cr_expect_eq(test_count_files(tmpdir), 1, "a temporary file was left");
    free(x);
}

/* ------------------------------------------------------------------------ */
/* NumPy's files                                                            */
/* ------------------------------------------------------------------------ */

Test(npy, read_float64_converted)
{
    gat_array *a = read_ok(NPY_DATA "f8_c.npy", GAT_FLOAT32);
    const float want[6] = {(float)0.1, -2.5f, (float)1e38, -0.0f, (float)1e-40, 7.0f};
    expect_f32(a, 2, 3, want);
    gat_array_destroy(&a);
}

Test(npy, read_big_endian_f4)
{
    gat_array *a = read_ok(NPY_DATA "f4_be.npy", GAT_FLOAT32);
    float want[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            want[i * 4 + j] = (float)i - (float)j / 4;
    expect_f32(a, 3, 4, want);
    gat_array_destroy(&a);
}

Test(npy, read_big_endian_f8)
{
    gat_array *a = read_ok(NPY_DATA "f8_be.npy", GAT_FLOAT32);
    const float want[4] = {0.0f, -0.25f, 1.0f, 0.75f};
    expect_f32(a, 2, 2, want);
    gat_array_destroy(&a);
}

Test(npy, read_version_2)
{
    gat_array *a = read_ok(NPY_DATA "v2_f4.npy", GAT_FLOAT32);
    const float want[6] = {0.0f, -0.25f, -0.5f, 1.0f, 0.75f, 0.5f};
    expect_f32(a, 2, 3, want);
    gat_array_destroy(&a);
}

Test(npy, read_version_3)
{
    gat_array *a = read_ok(NPY_DATA "v3_i8.npy", GAT_INT64);
    const int64_t want[4] = {5, -6, 7, (int64_t)1 << 40};
    expect_i64(a, 4, want);
    gat_array_destroy(&a);
}

Test(npy, read_int32)
{
    gat_array *a = read_ok(NPY_DATA "i4_1d.npy", GAT_INT64);
    const int64_t want[5] = {0, -1, INT32_MAX, INT32_MIN, 42};
    expect_i64(a, 5, want);
    gat_array_destroy(&a);
}

Test(npy, read_big_endian_i8)
{
    gat_array *a = read_ok(NPY_DATA "i8_be.npy", GAT_INT64);
    const int64_t want[3] = {1, -2, ((int64_t)1 << 62) + 3};
    expect_i64(a, 3, want);
    gat_array_destroy(&a);
}

Test(npy, read_fortran_order_rejected)
{
    expect_error(NPY_DATA "fortran_f4.npy", GAT_FLOAT32, GAT_ERR_UNSUPPORTED, "Fortran");
}

/* ------------------------------------------------------------------------ */
/* Headers written by hand: what the grammar accepts                        */
/* ------------------------------------------------------------------------ */

Test(npy, read_header_variants)
{
    const float f[2] = {1.0f, -2.0f};
    const int64_t i[2] = {3, -4};
    struct {
        int major;
        bool pad;
        const char *dict;
        bool is_float;
    } cases[] = {
        {1, true, "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4'}", true},
        {1, true, "{ 'descr' : '<f4' ,\n\t'fortran_order':False,'shape':( 1 , 2 , ) , }", true},
        {1, true, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}", true},
        {1, false, "{'descr': '|f4', 'fortran_order': False, 'shape': (1, 2), }  \n", true},
        {1, true, "{'descr': 'f4', 'fortran_order': False, 'shape': (1, 2), }", true},
        {1, true, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }", true},
        {2, true, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", true},
        {1, true, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", false},
        /* A 1-D array is the same in either order. */
        {1, true, "{'descr': '<i8', 'fortran_order': True, 'shape': (2,), }", false},
        {3, true, "{'descr': '=i8', 'fortran_order': False, 'shape': (2,)}", false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = write_npy_ex("v.npy", cases[c].major, 0, cases[c].dict, cases[c].pad,
                                        cases[c].is_float ? (const void *)f : (const void *)i,
                                        cases[c].is_float ? sizeof f : sizeof i);
        gat_array *a = NULL;
        gat_status status = gat_npy_read(ctx, path, cases[c].is_float ? GAT_FLOAT32 : GAT_INT64,
                                         &a);
        cr_expect_eq(status, GAT_OK, "%s: %s", cases[c].dict, gat_context_message(ctx));
        if (status != GAT_OK)
            continue;
        if (cases[c].is_float)
            expect_f32(a, 1, 2, f);
        else
            expect_i64(a, 2, i);
        gat_array_destroy(&a);
    }
}

/* The format ends the header with '\n'; a header without it (here a
 * dictionary that fills its length exactly, or one padded with spaces
 * only) is refused, naming the header's last byte. */
Test(npy, header_without_closing_newline)
{
    const float f[2] = {1.0f, -2.0f};
    static const char *const dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }     ",
    };
    for (size_t d = 0; d < sizeof dicts / sizeof dicts[0]; d++) {
        const char *path = write_npy_ex("nonl.npy", 1, 0, dicts[d], false, f, sizeof f);
        gat_array *a = NULL;
        cr_expect_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &a), GAT_ERR_FORMAT, "%s", dicts[d]);
        cr_expect_null(a);
        cr_expect(strstr(gat_context_message(ctx), "does not end with a newline") != NULL, "%s",
                  gat_context_message(ctx));
        char at[64];
        snprintf(at, sizeof at, "header at byte %zu", 10 + strlen(dicts[d]) - 1);
        cr_expect(strstr(gat_context_message(ctx), at) != NULL, "'%s' not in: %s", at,
                  gat_context_message(ctx));
    }
}

/* Doubles just under the float32 overflow threshold round to FLT_MAX. */
Test(npy, read_float64_at_float32_limit)
{
    const double d[2] = {(double)FLT_MAX, -0x1.fffffefffffffp+127};
    const char *path = write_npy("limit.npy",
                                 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", d,
                                 sizeof d);
    gat_array *a = read_ok(path, GAT_FLOAT32);
    const float want[2] = {FLT_MAX, -FLT_MAX};
    expect_f32(a, 1, 2, want);
    gat_array_destroy(&a);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

Test(npy, error_arguments)
{
    gat_array *a = NULL;
    const char *path = NPY_DATA "f4_be.npy";
    cr_expect_eq(gat_npy_read(NULL, path, GAT_FLOAT32, &a), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_read(ctx, NULL, GAT_FLOAT32, &a), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_FLOAT32, NULL), GAT_ERR_INVALID);
    cr_expect_eq(gat_npy_read(ctx, path, (gat_dtype)7, &a), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), path) != NULL);
    cr_expect_null(a);
}

Test(npy, error_missing_file)
{
    expect_error(test_path(tmpdir, "missing.npy"), GAT_FLOAT32, GAT_ERR_IO, strerror(ENOENT));
}

Test(npy, error_directory)
{
    expect_error(tmpdir, GAT_FLOAT32, GAT_ERR_IO, "directory");
}

Test(npy, error_empty_file)
{
    const char *path = test_write_file(tmpdir, "empty.npy", "", 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "empty file");
}

Test(npy, error_bad_magic)
{
    const char *path =
        test_write_file(tmpdir, "magic.npy", "\x93NUMPX\x01\x00\x10\x00{}              ", 26);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "bad magic at byte 5");
    path = test_write_file(tmpdir, "text.npy", "0.5 1.5\n", 8);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "not a .npy file");
    /* A short file is judged by the bytes it has. */
    path = test_write_file(tmpdir, "short.npy", "\x93NU", 3);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "truncated header");
}

Test(npy, error_bad_version)
{
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }";
    const float x = 1;
    expect_error(write_npy_ex("v4.npy", 4, 0, dict, true, &x, 4), GAT_FLOAT32, GAT_ERR_FORMAT,
                 "version 4.0");
    expect_error(write_npy_ex("v11.npy", 1, 1, dict, true, &x, 4), GAT_FLOAT32, GAT_ERR_FORMAT,
                 "version 1.1");
    expect_error(write_npy_ex("v0.npy", 0, 0, dict, true, &x, 4), GAT_FLOAT32, GAT_ERR_FORMAT,
                 "header at byte 6");
}

Test(npy, error_truncated_header)
{
    /* The file ends inside the header length... */
    const char *path = test_write_file(tmpdir, "t1.npy", "\x93NUMPY\x01\x00\x40", 9);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "truncated header");
    path = test_write_file(tmpdir, "t2.npy", "\x93NUMPY\x02\x00\x40\x00\x00", 11);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "4-byte header length");
    path = test_write_file(tmpdir, "t3.npy", "\x93NUMPY\x01", 7);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "truncated header");
    /* ...or inside the dictionary the length announced. */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }";
    size_t n;
    unsigned char *full = test_read_file(write_npy("full.npy", dict, "\0\0\0\0", 4), &n);
    cr_assert_gt(n, 40);
    path = test_write_file(tmpdir, "t4.npy", full, 40);
    free(full);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "runs past the end of the file (40 bytes)");
}

Test(npy, error_header_length_beyond_file)
{
    unsigned char buf[128] = "\x93NUMPY\x01\x00";
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}";
    buf[8] = 0xff; /* 65535 bytes of header in a 128-byte file */
    buf[9] = 0xff;
    memcpy(buf + 10, dict, strlen(dict));
    const char *path = test_write_file(tmpdir, "len.npy", buf, sizeof buf);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "header at byte 8: header length 65535");
    /* Version 2.0: a 4 GB header claimed. */
    memcpy(buf, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    test_write_file(tmpdir, "len.npy", buf, sizeof buf);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "header length 4294967295 runs past");
}

/* A header length within the file but beyond any sane header (a sparse
 * 3 MB file, so nothing much is written). */
Test(npy, error_header_too_large)
{
    const char *path =
        test_write_file(tmpdir, "huge_header.npy", "\x93NUMPY\x02\x00\x00\x00\x20\x00{", 13);
    cr_assert_eq(truncate(path, 3 << 20), 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "exceeds the limit");
}

Test(npy, error_truncated_data)
{
    const float x[5] = {1, 2, 3, 4, 5};
    const char *path = write_npy("short.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x,
                                 sizeof x);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "truncated data: shape (2, 3) of '<f4'");
    path = write_npy("short1.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }",
                     x, sizeof x);
    expect_error(path, GAT_INT64, GAT_ERR_FORMAT, "truncated data: shape (6,)");
}

Test(npy, error_trailing_data)
{
    const float x[7] = {1, 2, 3, 4, 5, 6, 7};
    const char *path = write_npy("long.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x,
                                 sizeof x);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "4 unexpected bytes at byte 152");
}

/* A header claiming 40 GB over a file of a few bytes is refused before
 * anything of that size is allocated. */
Test(npy, error_lying_shape_allocates_nothing)
{
    test_counting count;
    gat_context *counted = test_counting_context(&count, 0);
    int64_t live = count.live;
    const char *path = write_npy("lie.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, "
                                 "100000), }",
                                 "\0\0\0\0", 4);
    gat_array *a = NULL;
    cr_expect_eq(gat_npy_read(counted, path, GAT_FLOAT32, &a), GAT_ERR_FORMAT);
    cr_expect(strstr(gat_context_message(counted), "truncated data") != NULL, "%s",
              gat_context_message(counted));
    cr_expect_lt(count.largest, 65536, "allocated %zu bytes", count.largest);
    cr_expect_eq(count.live, live, "leaked %lld blocks", (long long)(count.live - live));
    gat_context_destroy(&counted);
}

Test(npy, error_shape_overflow)
{
    const char *path = write_npy("ovf.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': "
                                 "(4611686018427387904, 8), }",
                                 NULL, 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_OVERFLOW, "more elements than fit in 64 bits");
    /* The element count fits but the bytes do not. */
    path = write_npy("ovf2.npy",
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, "
                     "1), }",
                     NULL, 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_OVERFLOW, "more bytes than fit in 64 bits");
    path = write_npy("ovf3.npy",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, "
                     "2), }",
                     NULL, 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_OVERFLOW, "header at byte 61: dimension");
    /* A zero dimension makes the product zero whatever the others. */
    path = write_npy("zero.npy",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, "
                     "0), }",
                     NULL, 0);
    gat_array *a = read_ok(path, GAT_FLOAT32);
    cr_expect_eq(a->shape[0], INT64_MAX);
    cr_expect_eq(a->shape[1], 0);
    gat_array_destroy(&a);
}

Test(npy, error_wrong_dimensions)
{
    const float x[24] = {0};
    const char *path = write_npy("3d.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                                 x, sizeof x);
    expect_error(path, GAT_FLOAT32, GAT_ERR_UNSUPPORTED,
                 "shape (2, 3, 4) is a 3-D array; a 2-D array is expected");
    path = write_npy("1d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (24,), }", x,
                     sizeof x);
    expect_error(path, GAT_FLOAT32, GAT_ERR_UNSUPPORTED,
                 "shape (24,) is a 1-D array; a 2-D array is expected");
    path = write_npy("0d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", x, 4);
    expect_error(path, GAT_FLOAT32, GAT_ERR_UNSUPPORTED, "shape () is a 0-D array");
    path = write_npy("2d.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 6), }", x,
                     sizeof x);
    expect_error(path, GAT_INT64, GAT_ERR_UNSUPPORTED,
                 "shape (4, 6) is a 2-D array; a 1-D array is expected");
}

Test(npy, error_unsupported_dtypes)
{
    const unsigned char zeros[64] = {0};
    struct {
        const char *descr;
        gat_dtype want;
    } cases[] = {
        {"<f2", GAT_FLOAT32}, {"|b1", GAT_FLOAT32}, {"<c8", GAT_FLOAT32}, {"|O", GAT_FLOAT32},
        {"<U3", GAT_FLOAT32}, {"<i8", GAT_FLOAT32}, {">f16", GAT_FLOAT32}, {"", GAT_FLOAT32},
        {"<f4", GAT_INT64},   {"<i2", GAT_INT64},   {"|u1", GAT_INT64},   {"<u8", GAT_INT64},
        {"<M8[ns]", GAT_INT64},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dict[128], fragment[64];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                 cases[c].descr, cases[c].want == GAT_FLOAT32 ? "2, 2" : "2,");
        snprintf(fragment, sizeof fragment, "header at byte 20: dtype '%s' is not supported",
                 cases[c].descr);
        expect_error(write_npy("dtype.npy", dict, zeros, 8), cases[c].want, GAT_ERR_UNSUPPORTED,
                     fragment);
    }
    const char *path = write_npy("struct.npy",
                                 "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, "
                                 "'shape': (2, 2), }",
                                 zeros, 32);
    expect_error(path, GAT_FLOAT32, GAT_ERR_UNSUPPORTED, "structured dtypes");
}

Test(npy, error_nonfinite)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    x[5] = NAN;
    expect_error(write_npy("nan.npy", dict, x, sizeof x), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "non-finite value (nan) at row 1, column 2");
    x[5] = 6;
    x[1] = INFINITY;
    expect_error(write_npy("inf.npy", dict, x, sizeof x), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "non-finite value (inf) at row 0, column 1");
    x[1] = -INFINITY;
    expect_error(write_npy("ninf.npy", dict, x, sizeof x), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "non-finite value (-inf) at row 0, column 1");

    double d[6] = {1, 2, 3, 4, 5, 6};
    const char *dict8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
    d[2] = NAN;
    expect_error(write_npy("nan8.npy", dict8, d, sizeof d), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "non-finite value (nan) at row 1, column 0");
    /* Big-endian bytes of a NaN, to check the row is found after the swap. */
    const unsigned char be[8] = {0x7f, 0xc0, 0, 0, 0x3f, 0x80, 0, 0};
    expect_error(write_npy("nanbe.npy",
                           "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }", be, 8),
                 GAT_FLOAT32, GAT_ERR_NONFINITE, "(nan) at row 0, column 0");
}

Test(npy, error_float64_overflow)
{
    double d[6] = {1, 2, 3, 4, 5, 1e300};
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
    expect_error(write_npy("big.npy", dict, d, sizeof d), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "at row 2, column 1 is beyond float32's range");
    d[5] = 5;
    d[0] = -0x1.ffffffp+127; /* the first double that rounds to -inf */
    expect_error(write_npy("big2.npy", dict, d, sizeof d), GAT_FLOAT32, GAT_ERR_NONFINITE,
                 "at row 0, column 0 is beyond float32's range (it would become -inf)");
}

Test(npy, error_negative_dimension)
{
    const char *path = write_npy("neg.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2), }",
                                 NULL, 0);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "header at byte 61: negative dimension");
}

/* Headers that are not the dictionary NumPy writes: each names the byte. */
Test(npy, error_garbage_headers)
{
    struct {
        const char *dict;
        const char *fragment;
    } cases[] = {
        {"hello", "header at byte 10: expected '{'"},
        {"", "expected '{' opening the header dictionary, found the end of the header"},
        {"{'bogus': 1, 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}",
         "header at byte 11: unknown key 'bogus'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'extra': 0}",
         "unknown key 'extra'"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (1, 1)}",
         "header at byte 26: expected ',' or '}' after a value, found '''"},
        {"{'descr': '<f4', 'shape': (1, 1)}", "no 'fortran_order' key"},
        {"{'fortran_order': False, 'shape': (1, 1)}", "no 'descr' key"},
        {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
        {"{}", "no 'descr' key"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}",
         "key 'descr' appears twice"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1)}", "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1, 1)}", "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", "is not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [1, 1]}", "expected a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1.5)}", "is not an integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 1)}", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,, 1)}", "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)", "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} x", "found 'x'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}}", "found '}'"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (1, 1)}",
         "header at byte 27: expected ',' or '}' after a value, found 'f'"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (1, 1)}",
         "header at byte 19: expected ':' after the key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x}", "not closed"},
        {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1, 1)}", "escape"},
        {"{'descr': <f4, 'fortran_order': False, 'shape': (1, 1)}", "expected a dtype string"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (1, 1)}", "expected a quoted key"},
    };
    const float x = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = write_npy("garbage.npy", cases[c].dict, &x, 4);
        expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, cases[c].fragment);
    }
    /* Python 2's 1L is taken in formats 1.0 and 2.0 (as NumPy takes it),
     * not in 3.0, which Python 2 never wrote. */
    const char *path = write_npy_ex("long3.npy", 3, 0,
                                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 1)}",
                                    true, &x, 4);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "header at byte 63: dimension in 'shape' "
                                                   "is not an integer");
    /* Raw bytes outside the grammar are shown as bytes, not printed. */
    const char nul[] = "{'descr': '<f4',\0 'fortran_order': False, 'shape': (1, 1)}";
    unsigned char buf[128];
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(sizeof nul - 1);
    buf[9] = 0;
    memcpy(buf + 10, nul, sizeof nul - 1);
    memcpy(buf + 10 + sizeof nul - 1, "\0\0\0\0", 4);
    path = test_write_file(tmpdir, "nul.npy", buf, 10 + sizeof nul - 1 + 4);
    expect_error(path, GAT_FLOAT32, GAT_ERR_FORMAT, "header at byte 26: expected a quoted key or "
                                                   "'}', found byte 0x00");
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* The array and its data come from the context's allocator and go back to
 * it; nothing is kept after a success or any failure. */
Test(npy, memory_through_context_allocator)
{
    test_counting count;
    gat_context *counted = test_counting_context(&count, 0);
    int64_t live = count.live;
    gat_array *a = NULL;
    cr_assert_eq(gat_npy_read(counted, NPY_DATA "f8_c.npy", GAT_FLOAT32, &a), GAT_OK);
    cr_expect_eq(a->allocator_.user, &count);
    cr_expect_eq(count.live, live + 2, "the array and its data");
    gat_array_destroy(&a);
    cr_expect_eq(count.live, live);
    const char *bad[] = {NPY_DATA "fortran_f4.npy", NPY_DATA "i4_1d.npy"};
    for (size_t k = 0; k < 2; k++) {
        cr_expect_neq(gat_npy_read(counted, bad[k], GAT_FLOAT32, &a), GAT_OK);
        cr_expect_eq(count.live, live, "%s: leaked", bad[k]);
    }
    float x[6] = {1, 2, NAN, 4, 5, 6};
    const char *path = write_npy("nan.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x,
                                 sizeof x);
    cr_expect_eq(gat_npy_read(counted, path, GAT_FLOAT32, &a), GAT_ERR_NONFINITE);
    cr_expect_eq(count.live, live, "leaked after a conversion error");
    gat_context_destroy(&counted);
}

/* Every allocation of a read and of a write, failed in turn: a clean
 * GAT_ERR_NOMEM each time, nothing leaked, no file left. */
Test(npy, memory_allocation_failures)
{
    test_counting count;
    gat_context *counted = test_counting_context(&count, 0);
    int64_t live = count.live;
    int failures = 0;
    for (int64_t k = 1; k < 20; k++) {
        test_counting_arm(&count, k);
        gat_array *a = NULL;
        gat_status status = gat_npy_read(counted, NPY_DATA "i8_be.npy", GAT_INT64, &a);
        if (status == GAT_OK) {
            gat_array_destroy(&a);
            break;
        }
        failures++;
        cr_expect_eq(status, GAT_ERR_NOMEM, "allocation %lld: %s", (long long)k,
                     gat_context_message(counted));
        cr_expect_null(a);
        cr_expect_eq(count.live, live, "allocation %lld failed: leaked", (long long)k);
    }
    cr_expect_geq(failures, 3, "the header, the array and its data are allocated");

    const int64_t v[2] = {1, 2};
    const int64_t shape[1] = {2};
    const char *path = test_path(tmpdir, "w.npy");
    test_counting_arm(&count, 1);
    cr_expect_eq(gat_npy_write_i64(counted, path, v, 1, shape), GAT_ERR_NOMEM);
    cr_expect_eq(count.live, live);
    cr_expect_eq(test_count_files(tmpdir), 0);
    gat_context_destroy(&counted);
}
