/* The SNAP-style edge list reader: valid layouts, gzip, every error with its
 * file and line, lines longer than the read buffer, allocation failures. */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#ifndef GAT_TEST_DATA
#define GAT_TEST_DATA "tests/data"
#endif

/* Larger than the reader's 4 MiB chunk. */
#define LONG_LINE ((size_t)5 << 20)

static char tmpdir[64];
static gat_context *ctx;

static void setup(void)
{
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-edgelist");
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir);
}

TestSuite(edgelist, .init = setup, .fini = teardown);

static const char *write_bytes(const char *name, const void *data, size_t len)
{
    return test_write_file(tmpdir, name, data, len);
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = test_path(tmpdir, name);
    gzFile gz = gzopen(path, "wb");
    cr_assert_not_null(gz);
    cr_assert_eq(gzwrite(gz, data, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(gz), Z_OK);
    return path;
}

/* Reads path and compares with the expected COO and largest id. */
static void expect_edges(const char *path, int64_t num_nodes, const int64_t *src,
                         const int64_t *dst, int64_t n, int64_t max_id)
{
    int64_t *s = NULL, *d = NULL, count = -7, max = -7;
    gat_status status = gat_edgelist_read(ctx, path, num_nodes, &s, &d, &count, &max);
    cr_assert_eq(status, GAT_OK, "%s: %s", path, gat_context_message(ctx));
    cr_assert_str_empty(gat_context_message(ctx));
    cr_assert_not_null(s);
    cr_assert_not_null(d);
    cr_assert_eq(count, n, "%s: %" PRId64 " edges, expected %" PRId64, path, count, n);
    cr_assert_eq(max, max_id);
    for (int64_t k = 0; k < n; k++) {
        cr_assert_eq(s[k], src[k], "edge %" PRId64 ": src %" PRId64 ", expected %" PRId64, k,
                     s[k], src[k]);
        cr_assert_eq(d[k], dst[k], "edge %" PRId64 ": dst %" PRId64 ", expected %" PRId64, k,
                     d[k], dst[k]);
    }
    gat_free(ctx, s);
    gat_free(ctx, d);
}

/* Reads path expecting `want`, a message naming the file and "LINE:" (line
 * <= 0: no line), containing `needle` when not NULL, and empty outputs. */
static void expect_error(const char *path, int64_t num_nodes, gat_status want, int64_t line,
                         const char *needle)
{
    int64_t *s = (int64_t *)1, *d = (int64_t *)1, count = -7, max = -7;
    gat_status status = gat_edgelist_read(ctx, path, num_nodes, &s, &d, &count, &max);
    const char *msg = gat_context_message(ctx);
    cr_assert_eq(status, want, "status %d (%s), expected %d: %s", status,
                 gat_status_str(status), want, msg);
    cr_assert_null(s);
    cr_assert_null(d);
    cr_assert_eq(count, 0);
    cr_assert_eq(max, -1);
    cr_assert_not_null(strstr(msg, path), "message does not name the file: %s", msg);
    if (line > 0) {
        char where[600];
        snprintf(where, sizeof where, "%s:%" PRId64 ": ", path, line);
        cr_assert_not_null(strstr(msg, where), "message is not at line %" PRId64 ": %s", line,
                           msg);
    }
    if (needle != NULL)
        cr_assert_not_null(strstr(msg, needle), "message lacks \"%s\": %s", needle, msg);
}

/* ------------------------------------------------------------------------ */
/* Valid files                                                              */
/* ------------------------------------------------------------------------ */

Test(edgelist, basic)
{
    const char *path = write_text("basic.txt", "0 1\n1 2\n2 0\n");
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 0};
    expect_edges(path, -1, src, dst, 3, 2);
    expect_edges(path, 3, src, dst, 3, 2);
    expect_edges(path, 1000, src, dst, 3, 2);
}

Test(edgelist, comments_and_blank_lines)
{
    const char *path = write_text("comments.txt", "# header\n"
                                                  "# Nodes: 4 Edges: 3\n"
                                                  "0 1\n"
                                                  "\n"
                                                  "# between\n"
                                                  "   # indented comment 7 8\n"
                                                  "1 2\n"
                                                  "   \n"
                                                  "\t\n"
                                                  "#\n"
                                                  "3 0\n"
                                                  "\n");
    const int64_t src[] = {0, 1, 3}, dst[] = {1, 2, 0};
    expect_edges(path, -1, src, dst, 3, 3);
}

Test(edgelist, crlf)
{
    const char *path = write_text("crlf.txt", "# c\r\n0 1\r\n\r\n1 2 \r\n  \r\n2\t3\r\n");
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 3};
    expect_edges(path, -1, src, dst, 3, 3);
}

Test(edgelist, tabs_and_spaces)
{
    const char *path =
        write_text("ws.txt", "  0\t1  \n3 \t 4\t\n\t\t5     6\n7\t\t\t8 \t \n009 0010\n");
    const int64_t src[] = {0, 3, 5, 7, 9}, dst[] = {1, 4, 6, 8, 10};
    expect_edges(path, -1, src, dst, 5, 10);
}

Test(edgelist, no_final_newline)
{
    const int64_t src[] = {0, 2}, dst[] = {1, 3};
    expect_edges(write_text("a.txt", "0 1\n2 3"), -1, src, dst, 2, 3);
    expect_edges(write_text("b.txt", "0 1\r\n2 3\r"), -1, src, dst, 2, 3);
    expect_edges(write_text("c.txt", "0 1\n2 3\n# last"), -1, src, dst, 2, 3);
    expect_edges(write_text("d.txt", "0 1\n2 3\n   "), -1, src, dst, 2, 3);
}

Test(edgelist, empty_and_comments_only)
{
    expect_edges(write_text("empty.txt", ""), -1, NULL, NULL, 0, -1);
    expect_edges(write_text("comments.txt", "# a\n# b\n\n   \n#"), -1, NULL, NULL, 0, -1);
    expect_edges(write_text("newlines.txt", "\n\n\r\n"), 0, NULL, NULL, 0, -1);
    expect_edges(write_gz("empty.txt.gz", "", 0), -1, NULL, NULL, 0, -1);
}

Test(edgelist, duplicates_and_self_loops_in_order)
{
    const char *path = write_text("dup.txt", "1 1\n0 1\n0 1\n1 1\n2 2\n0 1\n");
    const int64_t src[] = {1, 0, 0, 1, 2, 0}, dst[] = {1, 1, 1, 1, 2, 1};
    expect_edges(path, -1, src, dst, 6, 2);
}

Test(edgelist, largest_id)
{
    const int64_t src[] = {2147483647, 0}, dst[] = {0, 2147483647};
    const char *path = write_text("big.txt", "2147483647 0\n0 002147483647\n");
    expect_edges(path, -1, src, dst, 2, 2147483647);
    /* Readable as a COO, but a graph cannot hold 2^31 nodes. */
    gat_graph *graph = (gat_graph *)1;
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, path, -1), GAT_ERR_UNSUPPORTED);
    cr_assert_null(graph);
    cr_assert_not_null(strstr(gat_context_message(ctx), path));
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, path, (int64_t)1 << 31),
                 GAT_ERR_UNSUPPORTED);
    cr_assert_null(graph);
}

Test(edgelist, gzip_written_by_zlib)
{
    const char text[] = "# gz\n0 1\n1 2\r\n\n2 0";
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 0};
    expect_edges(write_gz("edges.txt.gz", text, strlen(text)), -1, src, dst, 3, 2);
    /* The name does not matter: content decides. */
    expect_edges(write_gz("edges.txt", text, strlen(text)), -1, src, dst, 3, 2);
    /* Concatenated gzip members are one stream. */
    size_t len1, len2;
    void *a = test_read_file(write_gz("a.gz", "0 1\n1 ", 6), &len1);
    void *b = test_read_file(write_gz("b.gz", "2\n2 0\n", 6), &len2);
    char *both = malloc(len1 + len2);
    cr_assert_not_null(both);
    memcpy(both, a, len1);
    memcpy(both + len1, b, len2);
    expect_edges(write_bytes("ab.gz", both, len1 + len2), -1, src, dst, 3, 2);
    free(a);
    free(b);
    free(both);
}

Test(edgelist, stored_fixtures)
{
    const int64_t src[] = {0, 0, 1, 2, 3, 4}, dst[] = {1, 2, 2, 0, 3, 2};
    expect_edges(GAT_TEST_DATA "/edgelist/snap.txt", -1, src, dst, 6, 4);
    expect_edges(GAT_TEST_DATA "/edgelist/snap.txt.gz", -1, src, dst, 6, 4);
    expect_edges(GAT_TEST_DATA "/edgelist/snap.txt.gz", 5, src, dst, 6, 4);
}

Test(edgelist, graph_rows_in_input_order)
{
    const char *path = write_text("g.txt", "3 1\n0 1\n# x\n2 0\n1 1\n0 1\n4 0\n");
    gat_graph *graph = NULL;
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, path, -1), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(gat_graph_num_nodes(graph), 5); /* max id + 1 */
    cr_assert_eq(gat_graph_num_edges(graph), 6);
    cr_assert_eq(gat_graph_num_self_loops(graph), 1);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(graph, &row_ptr, &col);
    const int64_t want_ptr[] = {0, 2, 6, 6, 6, 6};
    const int32_t want_col[] = {2, 4, 3, 0, 1, 0};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(row_ptr[i], want_ptr[i], "row_ptr[%d]", i);
    for (int k = 0; k < 6; k++)
        cr_assert_eq(col[k], want_col[k], "col[%d]", k);
    gat_graph_destroy(&graph);

    /* An explicit num_nodes keeps trailing isolated nodes. */
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, path, 9), GAT_OK);
    cr_assert_eq(gat_graph_num_nodes(graph), 9);
    cr_assert_eq(gat_graph_num_edges(graph), 6);
    gat_graph_destroy(&graph);

    /* An empty list with no num_nodes is an empty graph. */
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, write_text("e.txt", "# none\n"), -1),
                 GAT_OK);
    cr_assert_eq(gat_graph_num_nodes(graph), 0);
    cr_assert_eq(gat_graph_num_edges(graph), 0);
    gat_graph_destroy(&graph);

    /* Errors come through, and leave no graph. */
    graph = (gat_graph *)1;
    cr_assert_eq(gat_graph_read_edgelist(ctx, &graph, path, 4), GAT_ERR_RANGE);
    cr_assert_null(graph);
    cr_assert_not_null(strstr(gat_context_message(ctx), ":7: "), "%s",
                       gat_context_message(ctx));
}

/* Many lines of varied shape, so that lines straddle the 4 MiB chunks. */
static char *many_lines(int64_t n, size_t *len, int64_t *src, int64_t *dst)
{
    size_t cap = (size_t)n * 40 + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t pos = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t s = (k * 7919) % 1000003, d = (k * 104729 + 17) % 65536;
        src[k] = s;
        dst[k] = d;
        if (k % 1000 == 0)
            pos += (size_t)snprintf(text + pos, cap - pos, "# comment %" PRId64 "\n", k);
        static const char *const layouts[4] = {
            "%" PRId64 " %" PRId64 "\n",
            "%" PRId64 "\t%" PRId64 "\r\n",
            "  %" PRId64 "   %" PRId64 " \n\n",
            "%07" PRId64 " %" PRId64 "\n",
        };
        pos += (size_t)snprintf(text + pos, cap - pos, layouts[k % 4], s, d);
    }
    *len = pos;
    return text;
}

Test(edgelist, many_chunks_plain_and_gzip)
{
    const int64_t n = 1000000;
    int64_t *src = malloc((size_t)n * sizeof *src), *dst = malloc((size_t)n * sizeof *dst);
    cr_assert(src != NULL && dst != NULL);
    size_t len;
    char *text = many_lines(n, &len, src, dst);
    cr_assert_gt(len, (size_t)3 * (4 << 20));
    int64_t max_id = 0;
    for (int64_t k = 0; k < n; k++) {
        max_id = src[k] > max_id ? src[k] : max_id;
        max_id = dst[k] > max_id ? dst[k] : max_id;
    }
    expect_edges(write_bytes("many.txt", text, len), -1, src, dst, n, max_id);
    expect_edges(write_gz("many.txt.gz", text, len), -1, src, dst, n, max_id);

    /* Line numbers stay right across chunks: lines = n + n/1000 + n/4. */
    int64_t lines = n + n / 1000 + n / 4;
    memcpy(text + len, "5 x\n", 4);
    expect_error(write_bytes("bad.txt", text, len + 4), -1, GAT_ERR_FORMAT, lines + 1, "'x'");
    free(text);
    free(src);
    free(dst);
}

Test(edgelist, lines_longer_than_the_buffer)
{
    size_t len = LONG_LINE + 64;
    char *text = malloc(len + 64);
    cr_assert_not_null(text);

    /* A 5 MB comment. */
    size_t pos = (size_t)sprintf(text, "0 1\n# ");
    memset(text + pos, 'c', LONG_LINE);
    pos += LONG_LINE;
    pos += (size_t)sprintf(text + pos, "\n2 3\n");
    const int64_t src[] = {0, 2}, dst[] = {1, 3};
    expect_edges(write_bytes("comment.txt", text, pos), -1, src, dst, 2, 3);
    expect_edges(write_gz("comment.txt.gz", text, pos), -1, src, dst, 2, 3);
    pos += (size_t)sprintf(text + pos, "4 five\n");
    expect_error(write_bytes("comment_bad.txt", text, pos), -1, GAT_ERR_FORMAT, 4, "'five'");
    /* ... also as the last line, with no '\n'. */
    expect_edges(write_bytes("comment_last.txt", text, 4 + 2 + LONG_LINE), -1, src, dst, 1, 1);

    /* 5 MB of blanks before, between and after the ids of a line. */
    const char *layouts[] = {"B2 3\n", "2B3\n", "2 3B\r\n", "2 B3\n", "2 000B3\n"};
    for (int i = 0; i < 5; i++) {
        pos = (size_t)sprintf(text, "0 1\n");
        for (const char *c = layouts[i]; *c != '\0'; c++) {
            if (*c == 'B') {
                for (size_t j = 0; j < LONG_LINE; j++)
                    text[pos++] = j % 2 ? ' ' : '\t';
            } else {
                text[pos++] = *c;
            }
        }
        char name[32];
        snprintf(name, sizeof name, "blank%d.txt", i);
        if (i == 4) /* "2 000 3": three columns */
            expect_error(write_bytes(name, text, pos), -1, GAT_ERR_FORMAT, 2, "third column");
        else
            expect_edges(write_bytes(name, text, pos), -1, src, dst, 2, 3);
    }

    /* 5 MB of leading zeros: still id 7. */
    pos = (size_t)sprintf(text, "0 1\n6 ");
    memset(text + pos, '0', LONG_LINE);
    pos += LONG_LINE;
    pos += (size_t)sprintf(text + pos, "7\n");
    const int64_t src7[] = {0, 6}, dst7[] = {1, 7};
    expect_edges(write_bytes("zeros.txt", text, pos), -1, src7, dst7, 2, 7);

    /* Errors inside the first 4 MiB of a long line are found there. */
    pos = (size_t)sprintf(text, "0 1\n2 ");
    memset(text + pos, '9', LONG_LINE);
    pos += LONG_LINE;
    text[pos++] = '\n';
    expect_error(write_bytes("digits.txt", text, pos), -1, GAT_ERR_RANGE, 2, "64-bit");
    pos = (size_t)sprintf(text, "0 1\n2 3 ");
    memset(text + pos, 'w', LONG_LINE);
    pos += LONG_LINE;
    expect_error(write_bytes("third.txt", text, pos), -1, GAT_ERR_FORMAT, 2, "third column");
    pos = (size_t)sprintf(text, "0 1\n");
    memset(text + pos, 'z', LONG_LINE);
    pos += LONG_LINE;
    expect_error(write_bytes("garbage.txt", text, pos), -1, GAT_ERR_FORMAT, 2, "'zzzz");
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

Test(edgelist, non_numeric)
{
    expect_error(write_text("e.txt", "0 1\n# c\nabc 2\n"), -1, GAT_ERR_FORMAT, 3,
                 "expected a source node id (a non-negative decimal integer), found 'abc'");
    expect_error(write_text("e2.txt", "0 1\n1 2x\n"), -1, GAT_ERR_FORMAT, 2,
                 "destination node id (a non-negative decimal integer), found '2x'");
    expect_error(write_text("e3.txt", "+1 2\n"), -1, GAT_ERR_FORMAT, 1, "'+1'");
    expect_error(write_text("e4.txt", "0 1\n0x10 2"), -1, GAT_ERR_FORMAT, 2, "'0x10'");
    expect_error(write_text("e5.txt", "1,2\n"), -1, GAT_ERR_FORMAT, 1, "'1,2'");
    expect_error(write_text("e6.txt", "1 \xc3\xa9\n"), -1, GAT_ERR_FORMAT, 1, "'\\xc3\\xa9'");
    expect_error(write_text("e7.txt", "1\r2\n"), -1, GAT_ERR_FORMAT, 1, "'1\\r2'");
    expect_error(write_text("e8.txt", "1 2\r\r\n"), -1, GAT_ERR_FORMAT, 1, "'2\\r'");
    expect_error(write_text("e9.txt", "1\v2\n"), -1, GAT_ERR_FORMAT, 1, NULL);
}

Test(edgelist, negative)
{
    expect_error(write_text("neg.txt", "0 1\n\n-1 2\n"), -1, GAT_ERR_FORMAT, 3,
                 "expected a non-negative source node id, found '-1'");
    expect_error(write_text("neg2.txt", "3 -0"), -1, GAT_ERR_FORMAT, 1, "'-0'");
}

Test(edgelist, fractional)
{
    expect_error(write_text("frac.txt", "0 1\n1.5 2\n"), -1, GAT_ERR_FORMAT, 2,
                 "expected an integer source node id, found '1.5'");
    expect_error(write_text("frac2.txt", "0 2.0\n"), -1, GAT_ERR_FORMAT, 1, "'2.0'");
    expect_error(write_text("frac3.txt", "1e5 2\n"), -1, GAT_ERR_FORMAT, 1, "integer");
}

Test(edgelist, int64_overflow)
{
    expect_error(write_text("ovf.txt", "0 1\n1 99999999999999999999\n"), -1, GAT_ERR_RANGE, 2,
                 "'99999999999999999999' does not fit in a 64-bit integer");
    expect_error(write_text("ovf2.txt", "9223372036854775808 1\n"), -1, GAT_ERR_RANGE, 1,
                 "64-bit");
    /* INT64_MAX itself fits in 64 bits but not in 31. */
    expect_error(write_text("ovf3.txt", "9223372036854775807 1\n"), -1, GAT_ERR_RANGE, 1,
                 "2^31");
}

Test(edgelist, id_of_2_pow_31)
{
    expect_error(write_text("big.txt", "0 1\n2147483648 0\n"), -1, GAT_ERR_RANGE, 2,
                 "source node id 2147483648 is too large: node ids must be < 2^31");
    expect_error(write_text("big2.txt", "0 4294967296\n"), -1, GAT_ERR_RANGE, 1,
                 "destination node id 4294967296");
    /* The 31-bit limit holds whatever num_nodes says. */
    expect_error(write_text("big3.txt", "2147483648 0\n"), INT64_MAX, GAT_ERR_RANGE, 1, "2^31");
}

Test(edgelist, one_column)
{
    expect_error(write_text("one.txt", "0 1\n7\n"), -1, GAT_ERR_FORMAT, 2,
                 "expected exactly two node ids (src dst), found one: '7'");
    expect_error(write_text("one2.txt", "0 1\n  7  \r\n"), -1, GAT_ERR_FORMAT, 2, "'7'");
    expect_error(write_text("one3.txt", "0 1\n7"), -1, GAT_ERR_FORMAT, 2, "found one");
}

Test(edgelist, three_columns)
{
    expect_error(write_text("three.txt", "0 1\n1 2 0.5\n"), -1, GAT_ERR_FORMAT, 2,
                 "expected exactly two node ids (src dst), found a third column '0.5'");
    expect_error(write_text("three2.txt", "1 2 3 4\n"), -1, GAT_ERR_FORMAT, 1, "'3'");
    expect_error(write_text("three3.txt", "1 2 # trailing comment\n"), -1, GAT_ERR_FORMAT, 1,
                 "own line");
}

Test(edgelist, binary_garbage)
{
    const char nul[] = "0 1\n1 2\n3\0 4\n";
    expect_error(write_bytes("nul.txt", nul, sizeof nul - 1), -1, GAT_ERR_FORMAT, 3, "NUL");
    const char nul_comment[] = "0 1\n# abc\0def\n1 2\n";
    expect_error(write_bytes("nulc.txt", nul_comment, sizeof nul_comment - 1), -1,
                 GAT_ERR_FORMAT, 2, "NUL");
    const char nul_line[] = "0 1\n\0\0\0\0\n";
    expect_error(write_bytes("nul2.txt", nul_line, sizeof nul_line - 1), -1, GAT_ERR_FORMAT, 2,
                 "NUL");
    const unsigned char elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, '\n'};
    expect_error(write_bytes("elf.bin", elf, sizeof elf), -1, GAT_ERR_FORMAT, 1, "NUL");
    const unsigned char noise[] = {0xff, 0xfe, 0x80, 0x01, ' ', '1'};
    expect_error(write_bytes("noise.bin", noise, sizeof noise), -1, GAT_ERR_FORMAT, 1,
                 "'\\xff\\xfe\\x80\\x01'");
}

Test(edgelist, id_not_below_num_nodes)
{
    const char *path = write_text("range.txt", "0 1\n1 2\n2 5\n");
    expect_error(path, 5, GAT_ERR_RANGE, 3,
                 "destination node id 5 is out of range: num_nodes is 5");
    expect_error(path, 2, GAT_ERR_RANGE, 2, "num_nodes is 2");
    expect_error(path, 0, GAT_ERR_RANGE, 1, "source node id 0");
    const int64_t src[] = {0, 1, 2}, dst[] = {1, 2, 5};
    expect_edges(path, 6, src, dst, 3, 5);
}

Test(edgelist, missing_file)
{
    const char *path = test_path(tmpdir, "no-such-file.txt");
    expect_error(path, -1, GAT_ERR_IO, 0, strerror(ENOENT));
    expect_error(tmpdir, -1, GAT_ERR_IO, 0, NULL); /* a directory */
}

Test(edgelist, corrupt_gzip)
{
    /* A gzip header, then a deflate block of the invalid type 3. */
    const unsigned char bad[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const char *path = write_bytes("bad.gz", bad, sizeof bad);
    expect_error(path, -1, GAT_ERR_FORMAT, 0, "corrupt gzip");

    /* A valid file cut short, and one with a wrong CRC. */
    size_t n = 200000, len;
    char *text = malloc(n * 16);
    cr_assert_not_null(text);
    size_t pos = 0;
    for (size_t k = 0; k < n; k++)
        pos += (size_t)sprintf(text + pos, "%zu %zu\n", k, (k * 31) % n);
    unsigned char *gz = test_read_file(write_gz("good.gz", text, pos), &len);
    cr_assert_gt(len, 1000);
    expect_error(write_bytes("cut.gz", gz, len / 2), -1, GAT_ERR_FORMAT, 0, "truncated");
    expect_error(write_bytes("cut2.gz", gz, len - 4), -1, GAT_ERR_FORMAT, 0, "truncated");
    expect_error(write_bytes("head.gz", gz, 12), -1, GAT_ERR_FORMAT, 0, NULL);
    gz[len - 8] ^= 0x55;
    expect_error(write_bytes("crc.gz", gz, len), -1, GAT_ERR_FORMAT, 0, "corrupt gzip");
    free(gz);
    free(text);
}

Test(edgelist, null_arguments)
{
    int64_t *s, *d, n, m;
    const char *path = write_text("x.txt", "0 1\n");
    cr_assert_eq(gat_edgelist_read(NULL, path, -1, &s, &d, &n, &m), GAT_ERR_INVALID);
    cr_assert_eq(gat_edgelist_read(ctx, NULL, -1, &s, &d, &n, &m), GAT_ERR_INVALID);
    cr_assert_eq(gat_edgelist_read(ctx, path, -1, NULL, &d, &n, &m), GAT_ERR_INVALID);
    cr_assert_eq(gat_edgelist_read(ctx, path, -1, &s, &d, &n, NULL), GAT_ERR_INVALID);
    gat_graph *g;
    cr_assert_eq(gat_graph_read_edgelist(ctx, NULL, path, -1), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_read_edgelist(ctx, &g, NULL, -1), GAT_ERR_INVALID);
    cr_assert_null(g);
}

/* ------------------------------------------------------------------------ */
/* Allocation failures                                                      */
/* ------------------------------------------------------------------------ */

Test(edgelist, allocation_failures_leak_nothing)
{
    /* Enough edges to grow the arrays a few times. */
    size_t cap = 20000 * 16, pos = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int k = 0; k < 20000; k++)
        pos += (size_t)sprintf(text + pos, "%d %d\n", k, k / 2);
    const char *path = write_bytes("alloc.txt", text, pos);
    free(text);

    test_counting c;
    gat_context *actx = test_counting_context(&c, 0);
    int64_t base = c.live;
    bool succeeded = false;
    /* Fail each allocation in turn, until a run makes no more of them. */
    for (int64_t fail_at = 1; fail_at <= 1000 && !succeeded; fail_at++) {
        test_counting_arm(&c, fail_at);
        gat_graph *graph = NULL;
        gat_status status = gat_graph_read_edgelist(actx, &graph, path, -1);
        c.fail_at = 0;
        if (c.calls < fail_at) {
            cr_assert_eq(status, GAT_OK, "%s", gat_context_message(actx));
            succeeded = true;
        }
        if (status == GAT_OK) {
            cr_assert_eq(gat_graph_num_edges(graph), 20000);
            gat_graph_destroy(&graph);
        } else {
            cr_assert_eq(status, GAT_ERR_NOMEM, "allocation %" PRId64 ": %s", fail_at,
                         gat_context_message(actx));
            cr_assert_null(graph);
        }
        cr_assert_eq(c.live, base, "allocation %" PRId64 ": %" PRId64 " blocks leaked", fail_at,
                     c.live - base);
    }
    cr_assert(succeeded);
    gat_context_destroy(&actx);
    cr_assert_eq(c.live, 0);
}
