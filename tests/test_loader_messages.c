/*
 * Loader errors found or checked by the hardening work (issue 5) that the
 * loaders' own suites (test_edgelist.c, test_npy.c, test_safetensors.c,
 * test_graph_binary.c) do not cover: every cut of a gzip edge list is an
 * error, including the cut zlib's gzread let through; trailing bytes after
 * gzip data; the sniffing reader on near-magic bytes. Every error must name
 * the file and say what was expected.
 */
#include <criterion/criterion.h>

#include "gat.h"
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char tmpdir[64];
static gat_context *ctx;

static void setup(void)
{
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-msg");
    ctx = test_context(1, NULL);
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir);
}

TestSuite(loader_messages, .init = setup, .fini = teardown);

static const char *write_bytes(const char *name, const void *data, size_t size)
{
    return test_write_file(tmpdir, name, data, size);
}

/* gzip of text, with a sync flush after the first `split` bytes: *flushed
 * is the compressed size up to the end of that flush. */
static unsigned char *gzip_split(const char *text, size_t len, size_t split, size_t *size,
                                 size_t *flushed)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    cr_assert_not_null(out);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)split;
    cr_assert_eq(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    *flushed = z.total_out;
    z.avail_in = (uInt)(len - split);
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *size = z.total_out;
    deflateEnd(&z);
    return out;
}

static void expect_read_error(const char *path, gat_status want, const char *needle)
{
    int64_t *src = NULL, *dst = NULL, count = 0, max_id = 0;
    gat_status status = gat_edgelist_read(ctx, path, -1, &src, &dst, &count, &max_id);
    const char *message = gat_context_message(ctx);
    cr_assert_eq(status, want, "%s: got %s (%lld edges), want %s: %s", path,
                 gat_status_str(status), (long long)count, gat_status_str(want), message);
    cr_assert_null(src);
    cr_assert(strstr(message, path) != NULL, "message lacks the path: %s", message);
    if (needle != NULL)
        cr_assert(strstr(message, needle) != NULL, "message lacks '%s': %s", needle, message);
}

/* The reader asks for 4 MiB of text at a time. A .gz cut just after 4 MiB
 * of text, where the compressed stream happens to end on a block boundary,
 * made zlib's gzread fill the request exactly and then report a clean end
 * of file: the truncated file read as a valid, shorter edge list. */
Test(loader_messages, gzip_cut_where_the_text_fills_a_read_exactly)
{
    const size_t chunk = (size_t)4 << 20;
    size_t len = chunk + 4096, at = 0;
    char *text = malloc(len + 32);
    cr_assert_not_null(text);
    /* Lines of exactly 16 bytes, so that 4 MiB is a whole number of lines. */
    for (int64_t k = 0; at < len; k++)
        at += (size_t)snprintf(text + at, 32, "%07lld %07lld\n", (long long)(k % 9999991),
                               (long long)(k % 999983));
    size_t size, flushed;
    unsigned char *gz = gzip_split(text, len, chunk, &size, &flushed);
    /* Cuts around the flush point, inside the 4-byte empty stored block the
     * flush ends with and on either side of it. */
    for (size_t cut = flushed - 6; cut <= flushed + 2; cut++) {
        char name[32];
        snprintf(name, sizeof name, "cut%zu.gz", cut);
        expect_read_error(write_bytes(name, gz, cut), GAT_ERR_FORMAT, "truncated gzip file");
    }
    /* The whole file reads. */
    int64_t *src = NULL, *dst = NULL, count = 0, max_id = 0;
    cr_assert_eq(gat_edgelist_read(ctx, write_bytes("whole.gz", gz, size), -1, &src, &dst,
                                   &count, &max_id),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(count, (int64_t)(len / 16));
    gat_free(ctx, src);
    gat_free(ctx, dst);
    free(gz);
    free(text);
}

/* Every proper prefix of a .gz is an error naming the file, never a
 * shorter list. */
Test(loader_messages, every_cut_of_a_gzip_file_is_an_error)
{
    char text[4096];
    size_t len = 0;
    for (int k = 0; len + 16 < sizeof text; k++)
        len += (size_t)snprintf(text + len, 16, "%d %d\n", k % 97, (k * 7) % 101);
    size_t size, flushed;
    unsigned char *gz = gzip_split(text, len, len / 2, &size, &flushed);
    /* One byte (0x1f) cannot be told from text, and is a bad text line. */
    expect_read_error(write_bytes("one.gz", gz, 1), GAT_ERR_FORMAT, ":1: expected a source");
    for (size_t cut = 2; cut < size; cut++) {
        int64_t *src = NULL, *dst = NULL, count = 0, max_id = 0;
        const char *path = write_bytes("cut.gz", gz, cut);
        gat_status status = gat_edgelist_read(ctx, path, -1, &src, &dst, &count, &max_id);
        const char *message = gat_context_message(ctx);
        cr_assert_eq(status, GAT_ERR_FORMAT, "cut at %zu of %zu: %s (%lld edges): %s", cut, size,
                     gat_status_str(status), (long long)count, message);
        cr_assert(strstr(message, path) != NULL && strstr(message, "gzip") != NULL,
                  "cut at %zu: %s", cut, message);
    }
    free(gz);
}

/* Bytes after the last gzip member are neither text nor another member. */
Test(loader_messages, gzip_with_trailing_bytes)
{
    const char text[] = "0 1\n1 2\n";
    size_t size, flushed;
    unsigned char *gz = gzip_split(text, sizeof text - 1, 4, &size, &flushed);
    unsigned char *more = malloc(size + 8);
    cr_assert_not_null(more);
    memcpy(more, gz, size);
    memcpy(more + size, "3 4\n", 4);
    expect_read_error(write_bytes("tail.gz", more, size + 4), GAT_ERR_FORMAT,
                      "after the end of the gzip stream (expected another gzip member or the end "
                      "of the file)");
    /* Two members, the second empty: valid (as gzip -d reads it). */
    size_t size2, flushed2;
    unsigned char *empty = gzip_split("", 0, 0, &size2, &flushed2);
    unsigned char *both = malloc(size + size2);
    cr_assert_not_null(both);
    memcpy(both, gz, size);
    memcpy(both + size, empty, size2);
    int64_t *src = NULL, *dst = NULL, count = 0, max_id = 0;
    cr_assert_eq(gat_edgelist_read(ctx, write_bytes("two.gz", both, size + size2), -1, &src,
                                   &dst, &count, &max_id),
                 GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(count, 2);
    gat_free(ctx, src);
    gat_free(ctx, dst);
    free(both);
    free(empty);
    free(more);
    free(gz);
}

/* gat_graph_read tells the formats apart by their first bytes: a text
 * file, a gzip file, or something that starts like the .gcsr magic. */
Test(loader_messages, sniffing_reader_names_what_it_expected)
{
    gat_graph *g = NULL;
    /* A prefix of the .gcsr magic goes to the binary loader... */
    const char *path = write_bytes("almost.gcsr", "\x89GATC", 5);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert_null(g);
    const char *message = gat_context_message(ctx);
    cr_assert(strstr(message, path) != NULL && strstr(message, "gcsr") != NULL, "%s", message);
    /* ...a near miss is text, whose first token is wrong. */
    path = write_bytes("near.gcsr", "\x89GATCSX\n0 1\n", 12);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert(strstr(gat_context_message(ctx), ":1: expected a source node id") != NULL, "%s",
              gat_context_message(ctx));
    /* Only the first byte of the magic: still a (truncated) .gcsr. */
    path = write_bytes("first.gcsr", "\x89", 1);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert(strstr(gat_context_message(ctx), path) != NULL, "%s", gat_context_message(ctx));
    /* The gzip magic alone: a truncated gzip file. */
    path = write_bytes("magic.gz", "\x1f\x8b", 2);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert(strstr(gat_context_message(ctx), "truncated gzip") != NULL, "%s",
              gat_context_message(ctx));
    /* 0x1f then text: plain text, whose first token is wrong. */
    path = write_bytes("us.txt", "\x1f 1\n", 4);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert(strstr(gat_context_message(ctx), ":1: expected a source node id") != NULL, "%s",
              gat_context_message(ctx));
    /* A single byte file and an empty file are text: one bad line, and no
     * edges at all. */
    path = write_bytes("one.txt", "7", 1);
    cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
    cr_assert(strstr(gat_context_message(ctx), "found one: '7'") != NULL, "%s",
              gat_context_message(ctx));
    path = write_bytes("empty.txt", "", 0);
    cr_assert_eq(gat_graph_read(ctx, &g, path, 3), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_graph_num_nodes(g), 3);
    cr_assert_eq(gat_graph_num_edges(g), 0);
    gat_graph_destroy(&g);
}
