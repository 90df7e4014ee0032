/* The .gcsr binary graph format: round trips in copy and mapped mode, the
 * documented layout and checksum (recomputed here from the spec alone),
 * gat_graph_read's sniffing, every malformed-file error, and forward
 * passes on loaded graphs. */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static gat_context *ctx;

static void setup(void)
{
    test_make_temp_dir(tmpdir, sizeof tmpdir, "gat-gcsr");
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    test_remove_dir(tmpdir); /* one test makes a subdirectory */
}

TestSuite(graph_binary, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static const char *write_bytes(const char *name, const void *data, size_t len)
{
    return test_write_file(tmpdir, name, data, len);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | p[b];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

/* A multigraph with duplicate edges, self-loops and isolated nodes. */
static gat_graph *random_graph(gat_context *c, int64_t n, int64_t e, uint64_t seed)
{
    int64_t *src = malloc((size_t)(e > 0 ? e : 1) * sizeof *src);
    int64_t *dst = malloc((size_t)(e > 0 ? e : 1) * sizeof *dst);
    cr_assert(src != NULL && dst != NULL);
    uint64_t state = seed;
    for (int64_t k = 0; k < e; k++) {
        uint64_t r = test_next(&state);
        if (k > 0 && r % 10 == 0) { /* a duplicate of an earlier edge */
            int64_t j = (int64_t)((r >> 8) % (uint64_t)k);
            src[k] = src[j];
            dst[k] = dst[j];
        } else {
            /* Nodes in the top tenth receive nothing: isolated rows. */
            dst[k] = (int64_t)(test_next(&state) % (uint64_t)(n - n / 10));
            src[k] = r % 7 == 0 ? dst[k] : (int64_t)(test_next(&state) % (uint64_t)n);
        }
    }
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(c, &g, n, e, src, dst), GAT_OK, "%s", gat_context_message(c));
    free(src);
    free(dst);
    return g;
}

static void assert_same_graph(const gat_graph *a, const gat_graph *b, const char *what)
{
    cr_assert_eq(gat_graph_num_nodes(a), gat_graph_num_nodes(b), "%s: nodes", what);
    cr_assert_eq(gat_graph_num_edges(a), gat_graph_num_edges(b), "%s: edges", what);
    cr_assert_eq(gat_graph_num_self_loops(a), gat_graph_num_self_loops(b), "%s: loops", what);
    cr_assert_eq(gat_graph_max_in_degree(a), gat_graph_max_in_degree(b), "%s: degree", what);
    const int64_t *ra, *rb;
    const int32_t *ca, *cb;
    gat_graph_csr(a, &ra, &ca);
    gat_graph_csr(b, &rb, &cb);
    int64_t n = gat_graph_num_nodes(a), e = gat_graph_num_edges(a);
    cr_assert_eq(memcmp(ra, rb, (size_t)(n + 1) * sizeof *ra), 0, "%s: row_ptr differs", what);
    if (e > 0)
        cr_assert_eq(memcmp(ca, cb, (size_t)e * sizeof *ca), 0, "%s: col differs", what);
}

static const unsigned modes[] = {0,
                                 GAT_LOAD_MMAP,
                                 GAT_LOAD_NO_VERIFY,
                                 GAT_LOAD_MMAP | GAT_LOAD_NO_VERIFY,
                                 GAT_LOAD_TRUSTED,
                                 GAT_LOAD_MMAP | GAT_LOAD_TRUSTED};
#define NUM_MODES (sizeof modes / sizeof modes[0])
/* The modes documented as safe on any file. */
static const unsigned safe_modes[] = {0, GAT_LOAD_MMAP, GAT_LOAD_NO_VERIFY,
                                      GAT_LOAD_MMAP | GAT_LOAD_NO_VERIFY};

static void round_trip(const gat_graph *g, const char *name)
{
    const char *path = test_path(tmpdir, name);
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK, "%s", gat_context_message(ctx));
    for (size_t m = 0; m < NUM_MODES; m++) {
        gat_graph *loaded = NULL;
        cr_assert_eq(gat_graph_load(ctx, &loaded, path, modes[m]), GAT_OK, "%s, flags %u: %s",
                     name, modes[m], gat_context_message(ctx));
        char what[128];
        snprintf(what, sizeof what, "%s, flags %u", name, modes[m]);
        assert_same_graph(g, loaded, what);
        gat_graph_destroy(&loaded);
        cr_assert_null(loaded);
    }
}

/* ------------------------------------------------------------------------ */
/* The checksum, written from the format's documentation alone              */
/* ------------------------------------------------------------------------ */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= P2;
    x ^= x >> 29;
    x *= P3;
    x ^= x >> 32;
    return x;
}

/* One block, word by word: word w goes to lane w % 4. */
static uint64_t spec_block(const unsigned char *p, uint64_t len)
{
    uint64_t acc[4] = {P1, 2 * P1, 3 * P1, 4 * P1};
    uint64_t padded = (len + 31) / 32 * 32;
    for (uint64_t at = 0; at < padded; at += 8) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--)
            w = w << 8 | (at + (uint64_t)b < len ? p[at + (uint64_t)b] : 0);
        int j = (int)(at / 8 % 4);
        acc[j] = rotl(acc[j] + w * P2, 31) * P1;
    }
    uint64_t h = rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18);
    return fmix(h ^ len);
}

static uint64_t spec_fold(uint64_t h, const unsigned char *p, uint64_t len)
{
    for (uint64_t at = 0; at < len; at += (uint64_t)1 << 20) {
        uint64_t n = len - at < ((uint64_t)1 << 20) ? len - at : (uint64_t)1 << 20;
        h = rotl(h ^ spec_block(p + at, n), 27) * P1 + P3;
    }
    return h;
}

/* The checksum of a whole file image, from its own header's offsets: the
 * header, row_ptr, col and (version 2) positions. */
static uint64_t spec_checksum(const unsigned char *file)
{
    unsigned char header[128];
    memcpy(header, file, 128);
    memset(header + 88, 0, 8);
    uint64_t h = spec_fold(0, header, 128);
    h = spec_fold(h, file + get64(file + 48), get64(file + 56));
    h = spec_fold(h, file + get64(file + 64), get64(file + 72));
    if (file[8] == 2)
        h = spec_fold(h, file + get64(file + 104), get64(file + 112));
    return fmix(h);
}

/* After an edit: a fresh checksum, so that only the edit is wrong. An edit
 * that moves a section outside the image is refused before any checksum is
 * computed, and hashing it here would read outside the buffer (AddressSanitizer
 * caught that): such a checksum is left as it was. */
static void reseal(unsigned char *file, size_t len)
{
    for (int s = 0; s < 3; s++) {
        const size_t field = s < 2 ? 48 + 16 * (size_t)s : 104;
        uint64_t at = get64(file + field), bytes = get64(file + field + 8);
        if (s == 2 && file[8] != 2)
            break;
        if (at > len || bytes > len - at)
            return;
    }
    put64(file + 88, spec_checksum(file));
}

/* ------------------------------------------------------------------------ */
/* Round trips and layout                                                   */
/* ------------------------------------------------------------------------ */

Test(graph_binary, round_trip_multigraph_every_mode)
{
    gat_graph *g = random_graph(ctx, 1000, 20000, 1);
    cr_assert_gt(gat_graph_num_self_loops(g), 0);
    round_trip(g, "multi.gcsr");
    gat_graph_destroy(&g);
}

Test(graph_binary, round_trip_empty_and_edgeless_graphs)
{
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 0, 0, NULL, NULL), GAT_OK);
    round_trip(g, "empty.gcsr");
    gat_graph_destroy(&g);
    cr_assert_eq(gat_graph_create(ctx, &g, 7, 0, NULL, NULL), GAT_OK);
    round_trip(g, "edgeless.gcsr");
    gat_graph_destroy(&g);
    const int64_t loop[] = {2};
    cr_assert_eq(gat_graph_create(ctx, &g, 3, 1, loop, loop), GAT_OK);
    round_trip(g, "one_loop.gcsr");
    gat_graph_destroy(&g);
}

Test(graph_binary, layout_and_checksum_match_the_documentation)
{
    gat_graph *g = random_graph(ctx, 101, 333, 2); /* 808 + 1332 bytes: padding */
    const char *path = test_path(tmpdir, "layout.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK, "%s", gat_context_message(ctx));
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    cr_assert_eq(memcmp(f, "\x89GATCSR\n", 8), 0);
    cr_assert_eq(f[8], 2, "version 2: the input was not sorted, so positions are kept");
    cr_assert_eq(get64(f + 8) >> 32, 0, "flags");
    cr_assert_eq(get64(f + 16), 101);
    cr_assert_eq(get64(f + 24), 333);
    cr_assert_eq(get64(f + 32), (uint64_t)gat_graph_num_self_loops(g));
    cr_assert_eq(get64(f + 40), (uint64_t)gat_graph_max_in_degree(g));
    cr_assert_eq(get64(f + 48), 128);
    cr_assert_eq(get64(f + 56), 8 * 102);
    cr_assert_eq(get64(f + 64), (128 + 8 * 102 + 63) / 64 * 64);
    cr_assert_eq(get64(f + 72), 4 * 333);
    const uint64_t col_end = (get64(f + 64) + 4 * 333 + 63) / 64 * 64;
    cr_assert_eq(get64(f + 96), 101, "num_src_nodes");
    cr_assert_eq(get64(f + 104), col_end, "positions after col");
    cr_assert_eq(get64(f + 112), 4 * 333, "uint32 positions");
    cr_assert_eq(get64(f + 80), len);
    cr_assert_eq(len, (col_end + 4 * 333 + 63) / 64 * 64);
    for (int i = 120; i < 128; i++)
        cr_assert_eq(f[i], 0, "reserved byte %d", i);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    for (int64_t i = 0; i <= 101; i++)
        cr_assert_eq((int64_t)get64(f + 128 + 8 * i), row_ptr[i]);
    uint64_t col_at = get64(f + 64);
    for (int64_t k = 0; k < 333; k++) {
        const unsigned char *p = f + col_at + 4 * (uint64_t)k;
        uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        cr_assert_eq((int32_t)v, col[k]);
    }
    for (uint64_t at = 128 + 8 * 102; at < col_at; at++)
        cr_assert_eq(f[at], 0, "padding byte %" PRIu64, at);
    for (uint64_t at = col_at + 4 * 333; at < col_end; at++)
        cr_assert_eq(f[at], 0, "padding byte %" PRIu64, at);
    int64_t *want = malloc(333 * sizeof *want);
    cr_assert_eq(gat_graph_edge_positions(ctx, g, false, want), GAT_OK);
    for (int64_t k = 0; k < 333; k++) {
        const unsigned char *p = f + col_end + 4 * (uint64_t)k;
        uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        cr_assert_eq((int64_t)v, want[k], "position %" PRId64, k);
    }
    free(want);
    for (uint64_t at = col_end + 4 * 333; at < len; at++)
        cr_assert_eq(f[at], 0, "padding byte %" PRIu64, at);
    cr_assert_eq(get64(f + 88), spec_checksum(f), "stored 0x%016" PRIx64 ", spec 0x%016" PRIx64,
                 get64(f + 88), spec_checksum(f));
    free(f);
    gat_graph_destroy(&g);
}

/* Sections of several checksum blocks, hashed by 1, 2 and 3 threads: the
 * same file, the same checksum as the serial spec. */
Test(graph_binary, multi_block_files_are_the_same_at_any_thread_count)
{
    gat_graph *g = random_graph(ctx, 200000, 700000, 3); /* 1.6 MB + 2.8 MB */
    unsigned char *first = NULL;
    size_t first_len = 0;
    for (int threads = 1; threads <= 3; threads++) {
        gat_context *c = test_context(threads, NULL);
        const char *path = test_path(tmpdir, "blocks.gcsr");
        cr_assert_eq(gat_graph_save(c, g, path), GAT_OK, "%s", gat_context_message(c));
        size_t len;
        unsigned char *f = test_read_file(path, &len);
        if (first == NULL) {
            first = f;
            first_len = len;
            cr_assert_eq(get64(f + 88), spec_checksum(f));
        } else {
            cr_assert_eq(len, first_len);
            cr_assert_eq(memcmp(f, first, len), 0, "%d threads wrote other bytes", threads);
            free(f);
        }
        for (size_t m = 0; m < 2; m++) {
            gat_graph *loaded = NULL;
            cr_assert_eq(gat_graph_load(c, &loaded, path, modes[m]), GAT_OK, "%s",
                         gat_context_message(c));
            assert_same_graph(g, loaded, "multi-block");
            gat_graph_destroy(&loaded);
        }
        gat_context_destroy(&c);
    }
    free(first);
    gat_graph_destroy(&g);
}

Test(graph_binary, mapped_graph_survives_the_file_being_replaced)
{
    gat_graph *g = random_graph(ctx, 300, 2000, 4);
    gat_graph *other = random_graph(ctx, 50, 100, 5);
    const char *path = test_path(tmpdir, "replaced.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    gat_graph *mapped = NULL;
    cr_assert_eq(gat_graph_load(ctx, &mapped, path, GAT_LOAD_MMAP), GAT_OK);
    cr_assert_eq(gat_graph_save(ctx, other, path), GAT_OK); /* rename over it */
    assert_same_graph(g, mapped, "mapped, file replaced");
    cr_assert_eq(unlink(path), 0);
    assert_same_graph(g, mapped, "mapped, file removed");
    gat_graph_destroy(&mapped);
    gat_graph_destroy(&other);
    gat_graph_destroy(&g);
}

/* ------------------------------------------------------------------------ */
/* gat_graph_read                                                           */
/* ------------------------------------------------------------------------ */

Test(graph_binary, read_sniffs_text_gzip_and_binary)
{
    const char *text = "# a comment\n3 0\n1 2\n2 2\n0 2\n3 0\n1 4\n";
    const char *text_path = write_bytes("g.txt", text, strlen(text));
    gat_graph *from_text = NULL, *from_binary = NULL, *direct = NULL;
    cr_assert_eq(gat_graph_read(ctx, &from_text, text_path, -1), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(gat_graph_read_edgelist(ctx, &direct, text_path, -1), GAT_OK);
    assert_same_graph(direct, from_text, "text via gat_graph_read");
    const char *bin_path = test_path(tmpdir, "g.gcsr");
    cr_assert_eq(gat_graph_save(ctx, from_text, bin_path), GAT_OK);
    cr_assert_eq(gat_graph_read(ctx, &from_binary, bin_path, -1), GAT_OK, "%s",
                 gat_context_message(ctx));
    assert_same_graph(from_text, from_binary, "binary via gat_graph_read");
    gat_graph_destroy(&from_binary);
    cr_assert_eq(gat_graph_read(ctx, &from_binary, bin_path, 5), GAT_OK);
    assert_same_graph(from_text, from_binary, "binary, num_nodes = N");
    gat_graph_destroy(&from_binary);

    /* More nodes than the file: isolated nodes appended, exactly as the
     * edge-list reader does. */
    gat_graph_destroy(&direct);
    cr_assert_eq(gat_graph_read_edgelist(ctx, &direct, text_path, 9), GAT_OK);
    cr_assert_eq(gat_graph_read(ctx, &from_binary, bin_path, 9), GAT_OK, "%s",
                 gat_context_message(ctx));
    assert_same_graph(direct, from_binary, "binary, num_nodes > N");
    gat_graph_destroy(&from_binary);

    /* Fewer: the file's ids would be out of range. */
    cr_assert_eq(gat_graph_read(ctx, &from_binary, bin_path, 4), GAT_ERR_RANGE);
    cr_assert_null(from_binary);
    cr_assert_not_null(strstr(gat_context_message(ctx), bin_path));
    /* The mapped loader cannot append nodes. */
    cr_assert_eq(gat_graph_load(ctx, &from_binary, bin_path, GAT_LOAD_MMAP), GAT_OK);
    gat_graph_destroy(&from_binary);

    /* A binary file given to the text reader is a clean error. */
    cr_assert_eq(gat_graph_read_edgelist(ctx, &from_binary, bin_path, -1), GAT_ERR_FORMAT);
    /* A text file given to the binary loader too. */
    cr_assert_eq(gat_graph_load(ctx, &from_binary, text_path, 0), GAT_ERR_FORMAT);
    cr_assert_not_null(strstr(gat_context_message(ctx), "magic"), "%s",
                       gat_context_message(ctx));
    cr_assert_null(from_binary);
    gat_graph_destroy(&direct);
    gat_graph_destroy(&from_text);
}

/* ------------------------------------------------------------------------ */
/* Malformed files                                                          */
/* ------------------------------------------------------------------------ */

/* Every safe mode must fail on path with `want`, a message naming the file
 * and containing needle, and no graph. */
static void expect_load_error(const char *path, gat_status want, const char *needle,
                              size_t num_modes)
{
    for (size_t m = 0; m < num_modes; m++) {
        gat_graph *g = (gat_graph *)&g; /* must be reset to NULL */
        gat_status status = gat_graph_load(ctx, &g, path, safe_modes[m]);
        const char *msg = gat_context_message(ctx);
        cr_assert_eq(status, want, "flags %u: status %d (%s), expected %d: %s", safe_modes[m],
                     status, gat_status_str(status), want, msg);
        cr_assert_null(g);
        cr_assert_not_null(strstr(msg, path), "message does not name the file: %s", msg);
        cr_assert_not_null(strstr(msg, needle), "flags %u: message lacks \"%s\": %s",
                           safe_modes[m], needle, msg);
    }
}

#define ALL_SAFE (sizeof safe_modes / sizeof safe_modes[0])
#define CHECKSUMMED 2 /* the first two safe modes verify the checksum */

/* A valid file image of a small multigraph, for editing. */
static unsigned char *valid_image(size_t *len)
{
    gat_graph *g = random_graph(ctx, 40, 300, 6);
    const char *path = test_path(tmpdir, "valid.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    gat_graph_destroy(&g);
    return test_read_file(path, len);
}

Test(graph_binary, missing_empty_and_foreign_files)
{
    const char *missing = test_path(tmpdir, "missing.gcsr");
    expect_load_error(missing, GAT_ERR_IO, "cannot open", ALL_SAFE);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_read(ctx, &g, missing, -1), GAT_ERR_IO);
    cr_assert_not_null(strstr(gat_context_message(ctx), missing));

    expect_load_error(write_bytes("empty.gcsr", "", 0), GAT_ERR_FORMAT, "empty", ALL_SAFE);
    expect_load_error(write_bytes("text.gcsr", "0 1\n", 4), GAT_ERR_FORMAT, "magic", ALL_SAFE);
    expect_load_error(write_bytes("npy.gcsr", "\x93NUMPY\x01\x00", 8), GAT_ERR_FORMAT, "magic",
                      ALL_SAFE);
    const char *dir = test_path(tmpdir, "a_directory");
    cr_assert_eq(mkdir(dir, 0700), 0);
    expect_load_error(dir, GAT_ERR_IO, "not a regular file", ALL_SAFE);
}

Test(graph_binary, truncated_at_many_lengths)
{
    size_t len;
    unsigned char *f = valid_image(&len);
    const size_t cuts[] = {1, 4, 7, 8, 12, 64, 127, 128, 129, 200, len / 2, len - 64, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%zu.gcsr", cuts[i]);
        const char *path = write_bytes(name, f, cuts[i]);
        expect_load_error(path, GAT_ERR_FORMAT, "truncated", ALL_SAFE);
        /* The sniffing reader recognises even a few bytes of the magic. */
        gat_graph *g = NULL;
        cr_assert_eq(gat_graph_read(ctx, &g, path, -1), GAT_ERR_FORMAT);
        cr_assert_not_null(strstr(gat_context_message(ctx), "truncated"), "%zu bytes: %s",
                           cuts[i], gat_context_message(ctx));
    }
    /* Extra bytes are an error too. */
    unsigned char *longer = calloc(len + 64, 1);
    memcpy(longer, f, len);
    expect_load_error(write_bytes("longer.gcsr", longer, len + 64), GAT_ERR_FORMAT,
                      "unexpected bytes", ALL_SAFE);
    free(longer);
    free(f);
}

/* Writes an edited copy of the valid image; the edit is made by `edit`
 * at `at` with `value` (8 or 4 bytes). reseal: refresh the checksum. */
static const char *edited(const unsigned char *f, size_t len, const char *name, size_t at,
                          uint64_t value, int bytes, bool seal)
{
    unsigned char *copy = malloc(len);
    memcpy(copy, f, len);
    if (bytes == 8)
        put64(copy + at, value);
    else
        put32(copy + at, (uint32_t)value);
    if (seal)
        reseal(copy, len);
    const char *path = write_bytes(name, copy, len);
    free(copy);
    return path;
}

Test(graph_binary, bad_headers)
{
    size_t len;
    unsigned char *f = valid_image(&len);
    uint64_t col_at = get64(f + 64), file_size = get64(f + 80);
    expect_load_error(edited(f, len, "version.gcsr", 8, 3, 4, true), GAT_ERR_UNSUPPORTED,
                      "version 3", ALL_SAFE);
    expect_load_error(edited(f, len, "flags.gcsr", 12, 4, 4, true), GAT_ERR_UNSUPPORTED,
                      "flags 0x4", ALL_SAFE);
    expect_load_error(edited(f, len, "reserved.gcsr", 120, 1, 8, true), GAT_ERR_FORMAT,
                      "reserved header byte 120", ALL_SAFE);
    expect_load_error(edited(f, len, "negative.gcsr", 16, (uint64_t)-5, 8, true),
                      GAT_ERR_FORMAT, "negative", ALL_SAFE);
    expect_load_error(edited(f, len, "huge_n.gcsr", 16, (uint64_t)1 << 31, 8, true),
                      GAT_ERR_UNSUPPORTED, "31 bits", ALL_SAFE);
    expect_load_error(edited(f, len, "huge_e.gcsr", 24, (uint64_t)1 << 62, 8, true),
                      GAT_ERR_OVERFLOW, "overflow", ALL_SAFE);
    expect_load_error(edited(f, len, "loops.gcsr", 32, 301, 8, true), GAT_ERR_FORMAT,
                      "exceed", ALL_SAFE);
    expect_load_error(edited(f, len, "more_n.gcsr", 16, 41, 8, true), GAT_ERR_FORMAT,
                      "row_ptr section size", ALL_SAFE);
    expect_load_error(edited(f, len, "more_e.gcsr", 24, 299, 8, true), GAT_ERR_FORMAT,
                      "col section size", ALL_SAFE);
    expect_load_error(edited(f, len, "size.gcsr", 80, file_size + 64, 8, true), GAT_ERR_FORMAT,
                      "truncated", ALL_SAFE);
    expect_load_error(edited(f, len, "misaligned.gcsr", 64, col_at + 4, 8, true),
                      GAT_ERR_FORMAT, "multiple of 64", ALL_SAFE);
    expect_load_error(edited(f, len, "in_header.gcsr", 48, 64, 8, true), GAT_ERR_FORMAT,
                      "header", ALL_SAFE);
    expect_load_error(edited(f, len, "beyond.gcsr", 64, file_size, 8, true), GAT_ERR_FORMAT,
                      "past the end", ALL_SAFE);
    expect_load_error(edited(f, len, "far.gcsr", 64, UINT64_MAX - 63, 8, true), GAT_ERR_FORMAT,
                      "past the end", ALL_SAFE);
    expect_load_error(edited(f, len, "overlap.gcsr", 64, 128, 8, true), GAT_ERR_FORMAT,
                      "overlap", ALL_SAFE);
    free(f);
}

Test(graph_binary, flipped_bits_fail_the_checksum)
{
    size_t len;
    unsigned char *f = valid_image(&len);
    uint64_t col_at = get64(f + 64);
    /* Header bytes whose flip the header checks cannot see (counts that
     * stay plausible), row offsets, sources. */
    const size_t places[] = {32, 40, 128 + 9, (size_t)col_at + 5, (size_t)col_at + 4 * 299};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, f, len);
        copy[places[i]] ^= 0x10;
        char name[64];
        snprintf(name, sizeof name, "flip%zu.gcsr", places[i]);
        const char *path = write_bytes(name, copy, len);
        free(copy);
        expect_load_error(path, GAT_ERR_FORMAT, "checksum mismatch: file is corrupt",
                          CHECKSUMMED);
    }
    /* Padding is outside the checksum: ignored. */
    unsigned char *copy = malloc(len);
    memcpy(copy, f, len);
    copy[len - 1] = 0xff;
    const char *path = write_bytes("padding.gcsr", copy, len);
    free(copy);
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_load(ctx, &g, path, 0), GAT_OK, "%s", gat_context_message(ctx));
    gat_graph_destroy(&g);
    free(f);
}

/* Structurally wrong files: with a valid checksum every safe mode reports
 * them; without one (an unsealed edit) the modes that skip the checksum
 * still do. Never a crash. */
static void expect_structure_error(const unsigned char *f, size_t len, const char *name,
                                   size_t at, uint64_t value, int bytes, const char *needle)
{
    expect_load_error(edited(f, len, name, at, value, bytes, true), GAT_ERR_FORMAT, needle,
                      ALL_SAFE);
    const char *unsealed = edited(f, len, "unsealed.gcsr", at, value, bytes, false);
    expect_load_error(unsealed, GAT_ERR_FORMAT, "checksum mismatch", CHECKSUMMED);
    for (size_t m = CHECKSUMMED; m < ALL_SAFE; m++) {
        gat_graph *g = NULL;
        cr_assert_eq(gat_graph_load(ctx, &g, unsealed, safe_modes[m]), GAT_ERR_FORMAT,
                     "%s, flags %u: %s", name, safe_modes[m], gat_context_message(ctx));
        cr_assert_not_null(strstr(gat_context_message(ctx), needle), "%s",
                           gat_context_message(ctx));
    }
}

Test(graph_binary, bad_structure_is_caught_with_or_without_checksum)
{
    size_t len;
    unsigned char *f = valid_image(&len);
    const uint64_t row_at = 128, col_at = get64(f + 64);
    const int64_t e = 300;
    expect_structure_error(f, len, "first.gcsr", row_at, 1, 8, "row_ptr[0] is 1");
    expect_structure_error(f, len, "last.gcsr", row_at + 8 * 40, 299, 8, "row_ptr[N = 40]");
    /* row 5 starts before row 4 */
    int64_t r4 = (int64_t)get64(f + row_at + 8 * 4);
    expect_structure_error(f, len, "decreasing.gcsr", row_at + 8 * 5, (uint64_t)(r4 - 1), 8,
                           "must not decrease");
    expect_structure_error(f, len, "negative.gcsr", row_at + 8 * 3, (uint64_t)INT64_MIN, 8,
                           "row_ptr[");
    expect_structure_error(f, len, "past_e.gcsr", row_at + 8 * 20, (uint64_t)e + 1000, 8,
                           "row_ptr[");
    expect_structure_error(f, len, "col_n.gcsr", col_at + 4 * 17, 40, 4,
                           "col[17] = 40 is not a node id");
    expect_structure_error(f, len, "col_neg.gcsr", col_at + 4 * 299, (uint32_t)-1, 4,
                           "col[299] = -1");
    expect_structure_error(f, len, "col_max.gcsr", col_at, (uint32_t)INT32_MAX, 4, "col[0]");
    expect_structure_error(f, len, "loops.gcsr", 32, get64(f + 32) + 1, 8, "self-loops");
    expect_structure_error(f, len, "degree.gcsr", 40, get64(f + 40) - 1, 8, "in-degree");
    free(f);
}

Test(graph_binary, bad_arguments)
{
    gat_graph *g = random_graph(ctx, 10, 20, 7);
    const char *path = test_path(tmpdir, "args.gcsr");
    cr_assert_eq(gat_graph_save(NULL, g, path), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_save(ctx, NULL, path), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_save(ctx, g, NULL), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    gat_graph *out = NULL;
    cr_assert_eq(gat_graph_load(NULL, &out, path, 0), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_load(ctx, NULL, path, 0), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_load(ctx, &out, NULL, 0), GAT_ERR_INVALID);
    cr_assert_eq(gat_graph_load(ctx, &out, path, 8), GAT_ERR_INVALID);
    cr_assert_not_null(strstr(gat_context_message(ctx), "flags"));
    cr_assert_eq(gat_graph_read(ctx, &out, NULL, -1), GAT_ERR_INVALID);
    cr_assert_null(out);
    /* A folder that does not exist: an I/O error, no file left behind. */
    const char *nowhere = test_path(tmpdir, "no/such/dir/g.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, nowhere), GAT_ERR_IO);
    cr_assert_not_null(strstr(gat_context_message(ctx), nowhere));
    gat_graph_destroy(&g);
}

/* ------------------------------------------------------------------------ */
/* Using loaded graphs                                                      */
/* ------------------------------------------------------------------------ */

Test(graph_binary, forward_on_loaded_graphs_gives_identical_bits)
{
    const int64_t n = 500, f_in = 6;
    gat_graph *g = random_graph(ctx, n, 4000, 8);
    const char *path = test_path(tmpdir, "forward.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    gat_layer_config c[2];
    gat_layer_config_init(&c[0], f_in, 3, 4);
    gat_layer_config_init(&c[1], 12, 2, 5);
    c[1].concat = false;
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 2, c, GAT_ACT_ELU), GAT_OK);
    test_randomize_model(model, 0.7f, 9);
    float *x = malloc((size_t)(n * f_in) * sizeof *x);
    test_fill_uniform(x, n * f_in, -1, 1, 10);
    const int64_t att = gat_graph_num_attention_edges(g, true), width = 5;
    float *want = malloc((size_t)(n * width) * sizeof *want);
    float *want_att = malloc((size_t)(att * 2) * sizeof *want_att);
    float *got = malloc((size_t)(n * width) * sizeof *got);
    float *got_att = malloc((size_t)(att * 2) * sizeof *got_att);
    cr_assert_eq(gat_model_forward(ctx, model, g, x, n, f_in, want, want_att), GAT_OK, "%s",
                 gat_context_message(ctx));
    for (size_t m = 0; m < NUM_MODES; m++) {
        gat_graph *loaded = NULL;
        cr_assert_eq(gat_graph_load(ctx, &loaded, path, modes[m]), GAT_OK);
        cr_assert_eq(gat_graph_num_attention_edges(loaded, true), att);
        memset(got, 0xff, (size_t)(n * width) * sizeof *got);
        cr_assert_eq(gat_model_forward(ctx, model, loaded, x, n, f_in, got, got_att), GAT_OK,
                     "%s", gat_context_message(ctx));
        cr_assert_eq(memcmp(got, want, (size_t)(n * width) * sizeof *got), 0, "flags %u",
                     modes[m]);
        cr_assert_eq(memcmp(got_att, want_att, (size_t)(att * 2) * sizeof *got_att), 0,
                     "flags %u: attention", modes[m]);
        gat_graph_destroy(&loaded);
    }
    free(x);
    free(want);
    free(want_att);
    free(got);
    free(got_att);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
}

/* ------------------------------------------------------------------------ */
/* Allocation failures                                                      */
/* ------------------------------------------------------------------------ */

Test(graph_binary, allocation_failures_leak_nothing)
{
    test_counting c;
    gat_context *actx = test_counting_context(&c, 0);
    gat_graph *g = random_graph(actx, 300, 3000, 11);
    const char *path = test_path(tmpdir, "alloc.gcsr");
    const int64_t base = c.live;
    /* 0-2: load in each mode; 3: save. Fail each allocation in turn. */
    for (int what = 0; what < 4; what++) {
        bool succeeded = false;
        for (int64_t fail_at = 1; fail_at <= 100 && !succeeded; fail_at++) {
            if (what < 3)
                cr_assert_eq(gat_graph_save(actx, g, path), GAT_OK);
            test_counting_arm(&c, fail_at);
            gat_graph *loaded = NULL;
            gat_status status;
            if (what == 3)
                status = gat_graph_save(actx, g, path);
            else if (what == 2)
                status = gat_graph_read(actx, &loaded, path, 400);
            else
                status = gat_graph_load(actx, &loaded, path, what == 1 ? GAT_LOAD_MMAP : 0);
            c.fail_at = 0;
            if (c.calls < fail_at) {
                cr_assert_eq(status, GAT_OK, "%s", gat_context_message(actx));
                succeeded = true;
            } else {
                cr_assert_eq(status, GAT_ERR_NOMEM, "case %d, allocation %" PRId64 ": %s", what,
                             fail_at, gat_context_message(actx));
                cr_assert_null(loaded);
            }
            gat_graph_destroy(&loaded);
            cr_assert_eq(c.live, base, "case %d, allocation %" PRId64 ": %" PRId64 " leaked",
                         what, fail_at, c.live - base);
        }
        cr_assert(succeeded);
    }
    gat_graph_destroy(&g);
    gat_context_destroy(&actx);
    cr_assert_eq(c.live, 0);
}

/* ------------------------------------------------------------------------ */
/* Version 2: input positions and bipartite graphs                          */
/* ------------------------------------------------------------------------ */

static void assert_same_positions(const gat_graph *a, const gat_graph *b, const char *what)
{
    const int64_t e = gat_graph_num_edges(a);
    int64_t *pa = malloc((size_t)(e + 1) * sizeof *pa), *pb = malloc((size_t)(e + 1) * sizeof *pb);
    cr_assert_eq(gat_graph_edge_positions(ctx, a, false, pa), GAT_OK);
    cr_assert_eq(gat_graph_edge_positions(ctx, b, false, pb), GAT_OK);
    cr_assert_eq(memcmp(pa, pb, (size_t)e * sizeof *pa), 0, "%s: positions differ", what);
    free(pa);
    free(pb);
}

/* path loaded with flags, checked equal to g, positions included. */
static gat_graph *load_same(const char *path, unsigned flags, const gat_graph *g, const char *what)
{
    gat_graph *loaded = NULL;
    cr_assert_eq(gat_graph_load(ctx, &loaded, path, flags), GAT_OK, "%s", gat_context_message(ctx));
    assert_same_graph(g, loaded, what);
    assert_same_positions(g, loaded, what);
    return loaded;
}

Test(graph_binary, positions_survive_every_mode_and_pair_edge_attributes)
{
    const int64_t n = 300, e = 2500, f_in = 5, d = 3;
    gat_graph *g = random_graph(ctx, n, e, 21);
    const char *path = test_path(tmpdir, "positions.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK, "%s", gat_context_message(ctx));
    gat_layer_config c;
    gat_layer_config_init(&c, f_in, 2, 4);
    c.edge_dim = d;
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 1, &c, GAT_ACT_ELU), GAT_OK);
    test_randomize_model(model, 0.7f, 22);
    float *x = malloc((size_t)(n * f_in) * sizeof *x), *attr = malloc((size_t)(e * d) * sizeof *attr);
    test_fill_uniform(x, n * f_in, -1, 1, 23);
    test_fill_uniform(attr, e * d, -1, 1, 24);
    gat_inputs in;
    gat_inputs_init(&in, x, n, f_in);
    in.edge_attr = attr;
    in.num_edges = e;
    in.edge_dim = d;
    const int64_t att = gat_graph_num_attention_edges(g, true), width = 8;
    float *want = malloc((size_t)(n * width) * sizeof *want), *got = malloc((size_t)(n * width) * sizeof *got);
    float *want_att = malloc((size_t)(att * 2) * sizeof *want_att), *got_att = malloc((size_t)(att * 2) * sizeof *got_att);
    cr_assert_eq(gat_model_forward_inputs(ctx, model, g, &in, want, want_att, NULL), GAT_OK, "%s",
                 gat_context_message(ctx));
    for (size_t m = 0; m < NUM_MODES; m++) {
        gat_graph *loaded = load_same(path, modes[m], g, "positions");
        cr_assert_eq(gat_model_forward_inputs(ctx, model, loaded, &in, got, got_att, NULL), GAT_OK,
                     "%s", gat_context_message(ctx));
        cr_assert_eq(memcmp(got, want, (size_t)(n * width) * sizeof *got), 0, "flags %u", modes[m]);
        cr_assert_eq(memcmp(got_att, want_att, (size_t)(att * 2) * sizeof *got_att), 0,
                     "flags %u: attention", modes[m]);
        gat_graph_destroy(&loaded);
    }
    /* gat_graph_read appending nodes keeps them too. */
    gat_graph *more = NULL;
    cr_assert_eq(gat_graph_read(ctx, &more, path, n + 5), GAT_OK);
    assert_same_positions(g, more, "appended nodes");
    gat_graph_destroy(&more);
    free(x);
    free(attr);
    free(want);
    free(got);
    free(want_att);
    free(got_att);
    gat_model_destroy(&model);
    gat_graph_destroy(&g);
}

Test(graph_binary, version_1_files_still_load)
{
    /* An input sorted by destination needs no positions: version 1, the
     * bytes an older libgat wrote and reads. */
    const int64_t src[] = {1, 2, 0, 2, 2, 0}, dst[] = {0, 0, 1, 1, 2, 3};
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create(ctx, &g, 4, 6, src, dst), GAT_OK);
    const char *path = test_path(tmpdir, "v1.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    cr_assert_eq(f[8], 1);
    for (int i = 96; i < 128; i++)
        cr_assert_eq(f[i], 0, "version 1 reserved byte %d", i);
    cr_assert_eq(get64(f + 88), spec_checksum(f));
    free(f);
    round_trip(g, "v1_again.gcsr");
    gat_graph_destroy(&g);

    /* A version 2 image made version 1 by hand (as an older libgat wrote
     * an unsorted input: CSR, no positions): loads, in CSR order. */
    g = random_graph(ctx, 40, 300, 6);
    unsigned char *v2 = valid_image(&len);
    cr_assert_eq(v2[8], 2);
    v2[8] = 1;
    memset(v2 + 96, 0, 32);
    reseal(v2, len);
    path = write_bytes("old.gcsr", v2, len);
    free(v2);
    for (size_t m = 0; m < NUM_MODES; m++) {
        gat_graph *loaded = NULL;
        cr_assert_eq(gat_graph_load(ctx, &loaded, path, modes[m]), GAT_OK, "%s",
                     gat_context_message(ctx));
        assert_same_graph(g, loaded, "version 1");
        cr_assert_eq(gat_graph_num_src_nodes(loaded), 40);
        int64_t pos[300];
        cr_assert_eq(gat_graph_edge_positions(ctx, loaded, false, pos), GAT_OK);
        for (int64_t k = 0; k < 300; k++)
            cr_assert_eq(pos[k], k, "a version 1 file is in its own CSR order");
        gat_graph_destroy(&loaded);
    }
    gat_graph_destroy(&g);

    /* The files of the fuzz corpus, written before version 2. */
    const char *names[] = {"cora_like", "example6", "isolated", "no_edges", "snap"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char old[512];
        snprintf(old, sizeof old, "%s/../fuzz/corpus/gcsr/%s.gcsr", GAT_TEST_DATA, names[i]);
        gat_graph *loaded = NULL;
        cr_assert_eq(gat_graph_load(ctx, &loaded, old, 0), GAT_OK, "%s", gat_context_message(ctx));
        gat_graph_destroy(&loaded);
    }
}

Test(graph_binary, bipartite_graphs_round_trip)
{
    const int64_t ns = 30, nd = 12, e = 200;
    int64_t src[200], dst[200];
    uint64_t state = 31;
    for (int64_t k = 0; k < e; k++) {
        src[k] = (int64_t)(test_next(&state) % (uint64_t)ns);
        dst[k] = (int64_t)(test_next(&state) % (uint64_t)(nd - 2)); /* 2 isolated rows */
    }
    gat_graph *g = NULL;
    cr_assert_eq(gat_graph_create_bipartite(ctx, &g, ns, nd, e, src, dst), GAT_OK);
    const char *path = test_path(tmpdir, "bipartite.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK, "%s", gat_context_message(ctx));
    for (size_t m = 0; m < NUM_MODES; m++) {
        gat_graph *loaded = load_same(path, modes[m], g, "bipartite");
        cr_assert_eq(gat_graph_num_src_nodes(loaded), ns);
        cr_assert_eq(gat_graph_num_attention_edges(loaded, true),
                     gat_graph_num_attention_edges(g, true));
        gat_graph_destroy(&loaded);
    }
    /* gat_graph_read_bipartite: exact sides, larger ones (isolated nodes
     * appended), smaller ones refused, for the .gcsr and its text. */
    gat_graph *r = NULL;
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, path, ns, nd), GAT_OK);
    assert_same_graph(g, r, "read_bipartite");
    gat_graph_destroy(&r);
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, path, ns + 3, nd + 4), GAT_OK);
    cr_assert_eq(gat_graph_num_src_nodes(r), ns + 3);
    cr_assert_eq(gat_graph_num_nodes(r), nd + 4);
    gat_graph_destroy(&r);
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, path, ns - 1, nd), GAT_ERR_RANGE);
    cr_assert_not_null(strstr(gat_context_message(ctx), "source nodes"));
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, path, ns, nd - 1), GAT_ERR_RANGE);
    cr_assert_null(r);
    char text[8192];
    size_t used = 0;
    for (int64_t k = 0; k < e; k++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%lld %lld\n",
                                 (long long)src[k], (long long)dst[k]);
    const char *text_path = write_bytes("bipartite.txt", text, used);
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, text_path, ns, nd), GAT_OK, "%s",
                 gat_context_message(ctx));
    assert_same_graph(g, r, "read_bipartite, text");
    assert_same_positions(g, r, "read_bipartite, text");
    gat_graph_destroy(&r);
    cr_assert_eq(gat_graph_read_bipartite(ctx, &r, text_path, ns, 5), GAT_ERR_RANGE);
    cr_assert_not_null(strstr(gat_context_message(ctx), text_path));
    gat_graph_destroy(&g);
}

Test(graph_binary, bad_positions_and_source_counts)
{
    size_t len;
    unsigned char *f = valid_image(&len); /* 40 nodes, 300 edges, uint32 positions */
    const uint64_t col_at = get64(f + 64), pos_at = get64(f + 104), file_size = get64(f + 80);
    cr_assert_eq(f[8], 2);
    cr_assert_eq(get64(f + 112), 4 * 300);
    /* Header fields. */
    expect_load_error(edited(f, len, "pos_size.gcsr", 112, 4 * 299, 8, true), GAT_ERR_FORMAT,
                      "position section size 1196", ALL_SAFE);
    expect_load_error(edited(f, len, "pos_orphan.gcsr", 112, 0, 8, true), GAT_ERR_FORMAT,
                      "without a size", ALL_SAFE);
    expect_load_error(edited(f, len, "pos_misaligned.gcsr", 104, pos_at + 4, 8, true),
                      GAT_ERR_FORMAT, "position section offset", ALL_SAFE);
    expect_load_error(edited(f, len, "pos_beyond.gcsr", 104, file_size, 8, true), GAT_ERR_FORMAT,
                      "position section", ALL_SAFE);
    expect_load_error(edited(f, len, "pos_wide.gcsr", 112, 8 * 300, 8, true), GAT_ERR_FORMAT,
                      "past the end", ALL_SAFE);
    expect_load_error(edited(f, len, "pos_overlap.gcsr", 104, col_at, 8, true), GAT_ERR_FORMAT,
                      "overlap", ALL_SAFE);
    expect_load_error(edited(f, len, "src_neg.gcsr", 96, (uint64_t)-1, 8, true), GAT_ERR_FORMAT,
                      "num_src_nodes -1", ALL_SAFE);
    expect_load_error(edited(f, len, "src_huge.gcsr", 96, (uint64_t)1 << 31, 8, true),
                      GAT_ERR_UNSUPPORTED, "31 bits", ALL_SAFE);
    /* Truncated inside the positions. */
    expect_load_error(write_bytes("pos_cut.gcsr", f, pos_at + 100), GAT_ERR_FORMAT,
                      "position section is cut short", ALL_SAFE);
    /* Contents, sealed and unsealed: out of range, repeated. */
    expect_structure_error(f, len, "pos_range.gcsr", pos_at + 4 * 7, 300, 4,
                           "position[7] = 300 is outside [0, E = 300)");
    const uint32_t p0 = (uint32_t)get64(f + pos_at) & 0xffffffffu;
    expect_structure_error(f, len, "pos_repeat.gcsr", pos_at + 4 * 250, p0, 4,
                           "position[250]");
    /* Fewer sources than a col names: a bipartite file's check. */
    expect_structure_error(f, len, "src_few.gcsr", 96, 3, 8, "is not a source node id in [0, 3)");
    free(f);
}

/* Positions checked in parallel chunks: a repeat far apart (and an
 * out-of-range one) gives the same first bad entry at any thread count. */
Test(graph_binary, bad_positions_across_chunks_same_message_at_any_thread_count)
{
    const int64_t e = 300000;
    gat_graph *g = random_graph(ctx, 5000, e, 41);
    const char *path = test_path(tmpdir, "many.gcsr");
    cr_assert_eq(gat_graph_save(ctx, g, path), GAT_OK);
    gat_graph_destroy(&g);
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    const uint64_t pos_at = get64(f + 104);
    cr_assert_eq(get64(f + 112), 4 * (uint64_t)e);
    const struct {
        int64_t at;
        uint32_t value;
        const char *needle;
    } edits[] = {{250000, 0, "position[250000]"}, {123457, (uint32_t)e + 5, "position[123457]"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, f, len);
        uint32_t value = edits[i].value;
        if (value == 0) /* repeat the position of edge 3 */
            value = (uint32_t)get64(f + pos_at + 4 * 3);
        put32(copy + pos_at + 4 * (uint64_t)edits[i].at, value);
        reseal(copy, len);
        const char *bad = write_bytes("many_bad.gcsr", copy, len);
        free(copy);
        for (int threads = 1; threads <= 3; threads++) {
            gat_context *c = test_context(threads, NULL);
            gat_graph *loaded = NULL;
            cr_assert_eq(gat_graph_load(c, &loaded, bad, 0), GAT_ERR_FORMAT);
            cr_assert_not_null(strstr(gat_context_message(c), edits[i].needle), "%d threads: %s",
                               threads, gat_context_message(c));
            gat_context_destroy(&c);
        }
    }
    free(f);
}
