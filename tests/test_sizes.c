/*
 * 64-bit sizes without 2^31 real edges: every path where a count beyond
 * 32 bits, or a byte count beyond 64 bits, could wrap is driven with
 * headers, arguments or sparse files that claim such sizes. Each must end in
 * a clean status (FORMAT, OVERFLOW, UNSUPPORTED, INVALID or NOMEM), with
 * the exact 64-bit number in the message where one is shown, without a
 * huge allocation and without leaking. The allocator used here refuses any
 * request over 256 MiB, as a machine without that memory would.
 */
#include <criterion/criterion.h>

#include "gat.h"
#include "internal.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAP ((size_t)256 << 20)

/* Per test (Criterion runs each test in its own process). */
static test_counting mem; /* refuses any request over CAP */
static gat_context *ctx;
static int64_t base_live;
static char tmpdir[64];

static void setup(void)
{
    ctx = test_counting_context(&mem, 1);
    mem.cap = CAP;
    base_live = mem.live; /* the context's own block */
    mem.largest = 0;
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-sizes");
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir);
}

TestSuite(sizes, .init = setup, .fini = teardown);

static void expect_message_has(const char *needle)
{
    const char *message = gat_context_message(ctx);
    cr_expect(strstr(message, needle) != NULL, "'%s' not in the message: %s", needle, message);
}

/* Nothing of the claimed size was asked for, and nothing was kept. */
static void expect_small_and_clean(void)
{
    cr_expect_lt(mem.largest, (size_t)1 << 20, "a %zu-byte allocation was attempted",
                 mem.largest);
    cr_expect_eq(mem.live, base_live, "%lld blocks leaked", (long long)(mem.live - base_live));
}

/* ------------------------------------------------------------------------ */
/* Checked allocation                                                       */
/* ------------------------------------------------------------------------ */

Test(sizes, alloc_array_refuses_counts_that_wrap)
{
    static const struct {
        int64_t count;
        size_t elem;
    } wrap[] = {
        {-1, 1},
        {INT64_MIN, 8},
        {(int64_t)1 << 61, 8},        /* 2^64 bytes: wraps size_t to 0 */
        {((int64_t)1 << 61) + 1, 8},  /* wraps to 8 */
        {(int64_t)1 << 62, 2},        /* 2^63 bytes: beyond int64 */
        {INT64_MAX, 2},
        {INT64_MAX, SIZE_MAX},
        {2, SIZE_MAX / 2 + 1},
    };
    for (size_t k = 0; k < sizeof wrap / sizeof wrap[0]; k++) {
        for (int zeroed = 0; zeroed < 2; zeroed++) {
            gat_status status = GAT_OK;
            void *p = zeroed ? gat__calloc_array(ctx, wrap[k].count, wrap[k].elem, "probe",
                                                 &status)
                             : gat__alloc_array(ctx, wrap[k].count, wrap[k].elem, "probe",
                                                &status);
            cr_expect_null(p);
            cr_expect_eq(status, GAT_ERR_OVERFLOW, "count %lld x %zu: %s",
                         (long long)wrap[k].count, wrap[k].elem, gat_status_str(status));
            expect_message_has("probe");
        }
    }
    cr_expect_eq(mem.largest, 0, "nothing may be requested for a size that wraps");
    /* Large but representable: asked for, refused by the allocator. */
    gat_status status = GAT_OK;
    void *p = gat__alloc_array(ctx, (int64_t)1 << 40, sizeof(float), "big", &status);
    cr_expect_null(p);
    cr_expect_eq(status, GAT_ERR_NOMEM);
    cr_expect_eq(mem.largest, (size_t)1 << 42);
    expect_message_has("4398046511104 bytes");
    cr_expect_eq(mem.live, base_live);
}

/* ------------------------------------------------------------------------ */
/* Graphs of more than 2^31 - 1 nodes                                       */
/* ------------------------------------------------------------------------ */

Test(sizes, graph_create_beyond_31_bit_ids)
{
    gat_graph *g = (gat_graph *)&mem; /* must be reset to NULL */
    cr_expect_eq(gat_graph_create(ctx, &g, (int64_t)INT32_MAX + 1, 0, NULL, NULL),
                 GAT_ERR_UNSUPPORTED);
    cr_expect_null(g);
    expect_message_has("2147483648 nodes");
    cr_expect_eq(gat_graph_create(ctx, &g, INT64_MAX, 0, NULL, NULL), GAT_ERR_UNSUPPORTED);
    expect_small_and_clean();
    /* The largest legal graph: its 16 GiB of row offsets are asked for
     * (and refused here), not miscomputed. */
    cr_expect_eq(gat_graph_create(ctx, &g, INT32_MAX, 0, NULL, NULL), GAT_ERR_NOMEM, "%s",
                 gat_context_message(ctx));
    cr_expect_null(g);
    cr_expect_eq(mem.largest, (size_t)8 * ((size_t)INT32_MAX + 1));
    cr_expect_eq(mem.live, base_live);
}

Test(sizes, edge_list_ids_at_the_31_bit_limit)
{
    gat_graph *g = NULL;
    /* Largest id 2^31 - 1: N = 2^31 nodes, one too many. */
    const char *path = test_write_file(tmpdir, "top.txt", "0 2147483647\n", 13);
    cr_expect_eq(gat_graph_read_edgelist(ctx, &g, path, -1), GAT_ERR_UNSUPPORTED);
    expect_message_has("2147483648 nodes");
    cr_expect_null(g);
    /* Largest id 2^31 - 2: a legal N whose row offsets take 16 GiB. */
    path = test_write_file(tmpdir, "below.txt", "2147483646 0\n", 13);
    cr_expect_eq(gat_graph_read_edgelist(ctx, &g, path, -1), GAT_ERR_NOMEM, "%s",
                 gat_context_message(ctx));
    cr_expect_null(g);
    cr_expect_eq(mem.live, base_live);
    /* A caller's N beyond 31 bits. */
    cr_expect_eq(gat_graph_read_edgelist(ctx, &g, path, (int64_t)1 << 40), GAT_ERR_UNSUPPORTED);
    expect_message_has("1099511627776");
    cr_expect_eq(gat_graph_read(ctx, &g, path, (int64_t)1 << 40), GAT_ERR_UNSUPPORTED);
    cr_expect_eq(mem.live, base_live);
}

/* A .gcsr header for N nodes and no edges, the file extended (sparse) to
 * its full size: a 2^31 - 1 node graph without 16 GiB of memory or disk. */
static const char *sparse_gcsr(int64_t n)
{
    unsigned char h[128] = {0};
    memcpy(h, "\x89GATCSR\n", 8);
    const uint64_t row_bytes = 8 * (uint64_t)(n + 1);
    const uint64_t col_offset = (128 + row_bytes + 63) / 64 * 64;
    const uint64_t fields[][2] = {
        {16, (uint64_t)n}, {48, 128}, {56, row_bytes}, {64, col_offset}, {80, col_offset}};
    h[8] = 1; /* version */
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (int b = 0; b < 8; b++)
            h[fields[f][0] + (uint64_t)b] = (unsigned char)(fields[f][1] >> (8 * b));
    const char *path = test_path(tmpdir, "huge.gcsr");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, h, sizeof h), (ssize_t)sizeof h);
    cr_assert_eq(ftruncate(fd, (off_t)col_offset), 0, "ftruncate: %s", strerror(errno));
    close(fd);
    return path;
}

/* The forward pass's workspace for 2^31 - 1 nodes (N x H*C floats, 64 GiB
 * here) is computed in 64 bits and asked for whole; refused, the call fails
 * cleanly and the model stays usable. */
Test(sizes, forward_on_a_graph_of_2_pow_31_minus_1_nodes)
{
    const int64_t n = INT32_MAX;
    const char *path = sparse_gcsr(n);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_load(ctx, &g, path, GAT_LOAD_MMAP | GAT_LOAD_TRUSTED), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(gat_graph_num_nodes(g), n);
    cr_expect_eq(gat_graph_num_attention_edges(g, true), n);

    gat_layer_config config;
    gat_layer_config_init(&config, 4, 2, 4);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 1, &config, GAT_ACT_ELU), GAT_OK);
    const int64_t live = mem.live;
    /* x and out are never reached: the workspace is sized (and refused)
     * before any row is read, which is what this checks. */
    float x[4] = {0}, out[8] = {0};
    cr_expect_eq(gat_model_forward(ctx, m, g, x, n, 4, out, NULL), GAT_ERR_NOMEM, "%s",
                 gat_context_message(ctx));
    cr_expect_eq(mem.largest, (size_t)n * 8 * sizeof(float), "largest request %zu",
                 mem.largest);
    cr_expect_eq(mem.live, live, "a failed forward keeps nothing");
    /* Rows claimed beyond the graph: refused before anything is sized. */
    mem.largest = 0;
    cr_expect_eq(gat_model_forward(ctx, m, g, x, (int64_t)1 << 40, 4, out, NULL),
                 GAT_ERR_INVALID);
    expect_message_has("1099511627776 rows");
    cr_expect_eq(mem.largest, 0);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    cr_expect_eq(mem.live, base_live);
}

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

Test(sizes, model_shapes_beyond_the_limits)
{
    gat_model *m = NULL;
    gat_layer_config c;
    /* heads * channels = 2^48: each factor is legal, the product is not. */
    gat_layer_config_init(&c, 16, (int64_t)1 << 24, (int64_t)1 << 24);
    cr_expect_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_ERR_INVALID);
    gat_layer_config_init(&c, 16, INT64_MAX, INT64_MAX);
    cr_expect_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_ERR_INVALID);
    gat_layer_config_init(&c, INT64_MIN, 1, 1);
    cr_expect_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_ERR_INVALID);
    cr_expect_eq(mem.largest, 0);
    /* A weight of 2^24 x 2^24 = 2^48 floats: legal, computed in 64 bits,
     * refused by the allocator, nothing kept. */
    gat_layer_config_init(&c, (int64_t)1 << 24, (int64_t)1 << 12, (int64_t)1 << 12);
    cr_expect_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_ERR_NOMEM, "%s",
                 gat_context_message(ctx));
    cr_expect_null(m);
    cr_expect_eq(mem.largest, (size_t)1 << 50);
    cr_expect_eq(mem.live, base_live);
}

Test(sizes, forward_shape_mismatches)
{
    const int64_t src[3] = {0, 1, 2}, dst[3] = {1, 2, 0};
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 3, 3, src, dst), GAT_OK);
    gat_layer_config c;
    gat_layer_config_init(&c, 4, 2, 3);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_create(ctx, &m, 1, &c, GAT_ACT_ELU), GAT_OK);
    float x[12] = {0}, out[18];
    mem.largest = 0;
    /* Row counts that are the graph's plus 2^32: a 32-bit comparison
     * would call them equal. */
    cr_expect_eq(gat_model_forward(ctx, m, g, x, 3 + ((int64_t)1 << 32), 4, out, NULL),
                 GAT_ERR_INVALID);
    expect_message_has("4294967299 rows");
    cr_expect_eq(gat_model_forward(ctx, m, g, x, 3, 4 + ((int64_t)1 << 32), out, NULL),
                 GAT_ERR_INVALID);
    expect_message_has("4294967300 columns");
    cr_expect_eq(gat_model_forward(ctx, m, g, x, -1, 4, out, NULL), GAT_ERR_INVALID);
    cr_expect_eq(mem.largest, 0);
    cr_expect_eq(gat_model_forward(ctx, m, g, x, 3, 4, out, NULL), GAT_OK);
    gat_model_destroy(&m);
    gat_graph_destroy(&g);
    gat_context_trim(ctx); /* the forward's scratch stays in the context until then */
    cr_expect_eq(mem.live, base_live);
}

Test(sizes, permute_and_write_sizes_that_wrap)
{
    float in[4] = {0}, out[4] = {0};
    int64_t id[2] = {1, 0};
    cr_expect_eq(gat_permute_rows(ctx, in, (int64_t)1 << 40, (int64_t)1 << 40, id, false, out),
                 GAT_ERR_OVERFLOW);
    cr_expect_eq(gat_permute_rows(ctx, in, (int64_t)1 << 31, (int64_t)1 << 31, id, false, out),
                 GAT_ERR_OVERFLOW); /* 2^62 floats: the byte count wraps */
    const char *path = test_path(tmpdir, "w.npy");
    int64_t shape[2] = {(int64_t)1 << 62, 2};
    cr_expect_eq(gat_npy_write_f32(ctx, path, in, 2, shape), GAT_ERR_OVERFLOW);
    int64_t shape1[1] = {(int64_t)1 << 61};
    cr_expect_eq(gat_npy_write_i64(ctx, path, id, 1, shape1), GAT_ERR_OVERFLOW);
    cr_expect_eq(access(path, F_OK), -1, "no file for a refused write");
    expect_small_and_clean();
}

/* ------------------------------------------------------------------------ */
/* File headers that claim more than 2^31 elements                          */
/* ------------------------------------------------------------------------ */

/* A version 1.0 .npy with the given header dictionary and data bytes. */
static const char *npy_file(const char *name, const char *dict, size_t data_bytes)
{
    unsigned char buf[512] = {0};
    size_t len = strlen(dict);
    size_t header_len = (10 + len + 1 + 63) / 64 * 64 - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)header_len;
    buf[9] = (unsigned char)(header_len >> 8);
    memcpy(buf + 10, dict, len);
    memset(buf + 10 + len, ' ', header_len - len - 1);
    buf[10 + header_len - 1] = '\n';
    cr_assert_leq(10 + header_len + data_bytes, sizeof buf);
    return test_write_file(tmpdir, name, buf, 10 + header_len + data_bytes);
}

Test(sizes, npy_shapes_beyond_32_bits)
{
    gat_array *a = NULL;
    /* 2^31 + 1 rows: 8589934596 bytes claimed, 8 present. */
    const char *path = npy_file("rows.npy", "{'descr': '<f4', 'fortran_order': False, "
                                            "'shape': (2147483649, 1), }", 8);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &a), GAT_ERR_FORMAT);
    expect_message_has("needs 8589934596 bytes");
    /* 65536 x 65537 = 4295032832 elements (beyond 2^32) of 8 bytes. */
    path = npy_file("wide.npy", "{'descr': '<f8', 'fortran_order': False, "
                                "'shape': (65536, 65537), }", 16);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &a), GAT_ERR_FORMAT);
    expect_message_has("needs 34360262656 bytes");
    /* sqrt(2^63) rounded up, squared: the element count itself overflows. */
    path = npy_file("square.npy", "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (3037000500, 3037000500), }", 0);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &a), GAT_ERR_OVERFLOW);
    expect_message_has("64 bits");
    /* 2^61 int64 elements: the count fits, the byte count does not. */
    path = npy_file("ids.npy", "{'descr': '<i8', 'fortran_order': False, "
                               "'shape': (2305843009213693952,), }", 8);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_INT64, &a), GAT_ERR_OVERFLOW);
    expect_message_has("bytes");
    /* 2^32 int32 elements in 4 bytes. */
    path = npy_file("ids4.npy", "{'descr': '<i4', 'fortran_order': False, "
                                "'shape': (4294967296,), }", 4);
    cr_expect_eq(gat_npy_read(ctx, path, GAT_INT64, &a), GAT_ERR_FORMAT);
    expect_message_has("needs 17179869184 bytes");
    cr_expect_null(a);
    expect_small_and_clean();
}

/* A safetensors file of one tensor entry (JSON given) and data bytes. */
static const char *st_file(const char *name, const char *json, size_t data_bytes)
{
    unsigned char buf[1024] = {0};
    size_t len = strlen(json);
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)((uint64_t)len >> (8 * b));
    memcpy(buf + 8, json, len);
    cr_assert_leq(8 + len + data_bytes, sizeof buf);
    return test_write_file(tmpdir, name, buf, 8 + len + data_bytes);
}

Test(sizes, safetensors_shapes_beyond_32_bits)
{
    gat_model *m = NULL;
    const char *path = st_file(
        "rows.safetensors",
        "{\"layers.0.lin.weight\":{\"dtype\":\"F32\",\"shape\":[2147483649,1],"
        "\"data_offsets\":[0,8]}}",
        8);
    cr_expect_eq(gat_model_load(ctx, &m, path), GAT_ERR_FORMAT);
    expect_message_has("2147483649 elements of F32 need 8589934596");
    /* 2^32 x 2^32 = 2^64 elements. */
    path = st_file("square.safetensors",
                   "{\"layers.0.att_src\":{\"dtype\":\"F32\",\"shape\":[1,4294967296,"
                   "4294967296],\"data_offsets\":[0,4]}}",
                   4);
    cr_expect_eq(gat_model_load(ctx, &m, path), GAT_ERR_OVERFLOW);
    expect_message_has("overflows 64 bits");
    /* 2^62 elements: the count fits, 4 bytes each do not. */
    path = st_file("bytes.safetensors",
                   "{\"layers.0.att_dst\":{\"dtype\":\"F32\",\"shape\":[1,2,"
                   "2305843009213693952],\"data_offsets\":[0,4]}}",
                   4);
    cr_expect_eq(gat_model_load(ctx, &m, path), GAT_ERR_OVERFLOW);
    expect_message_has("byte size overflows 64 bits");
    /* Offsets beyond 2^63 (JSON integers that do not fit int64). */
    path = st_file("offsets.safetensors",
                   "{\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[0,18446744073709551615]}}",
                   4);
    cr_expect_eq(gat_model_load(ctx, &m, path), GAT_ERR_FORMAT);
    /* Header length field of 2^64 - 1. */
    unsigned char huge[16];
    memset(huge, 0xff, 8);
    memcpy(huge + 8, "{}      ", 8);
    path = test_write_file(tmpdir, "length.safetensors", huge, sizeof huge);
    cr_expect_eq(gat_model_load(ctx, &m, path), GAT_ERR_FORMAT);
    expect_message_has("18446744073709551615");
    cr_expect_null(m);
    expect_small_and_clean();
}
