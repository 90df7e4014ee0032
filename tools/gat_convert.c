/*
 * gat-convert: turns a text edge list into a .gcsr binary CSR file (parse
 * once, then load at memory speed), and a .gcsr back into text so that a
 * round trip can be checked with diff.
 */
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const program = "gat-convert";

/* Text output goes out in buffers this large. */
#define TEXT_BUFFER ((size_t)1 << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gat-convert [--nodes N] [--threads T] [--quiet] IN OUT.gcsr\n"
            "       gat-convert --to-edgelist [--nodes N] [--threads T] [--quiet] IN OUT.txt\n"
            "\n"
            "Converts a graph into the binary .gcsr format, which gat-infer, gat-bench and\n"
            "gat_graph_read() load far faster than text (or back into text).\n"
            "\n"
            "  IN              a text edge list (one 'src dst' line per edge, src sends to\n"
            "                  dst; '#' comments, blank lines and CRLF allowed; .gz read\n"
            "                  too) or a .gcsr file; the kind is told by the file's content\n"
            "  OUT.gcsr        the CSR by destination exactly as libgat holds it: a 128-byte\n"
            "                  header, int64 row offsets [N+1], int32 sources [E], each\n"
            "                  64-byte aligned, little-endian, with a checksum (README,\n"
            "                  'Binary graph files'); written under a temporary name and\n"
            "                  renamed, so it appears complete or not at all\n"
            "  --to-edgelist   write OUT as a SNAP text edge list instead: '# Nodes: N\n"
            "                  Edges: E', then one 'src<TAB>dst' line per edge in library\n"
            "                  order (by destination; input order within a destination).\n"
            "                  Reading it back with --nodes N gives the same CSR (trailing\n"
            "                  nodes without edges need --nodes to survive)\n"
            "  --nodes N       the graph has N nodes: an id >= N is an error, and nodes the\n"
            "                  input never names are isolated (default: largest id + 1, or\n"
            "                  a .gcsr's own N; a .gcsr with more than N nodes is an error)\n"
            "  --threads T     OpenMP threads for checksums and checks (default:\n"
            "                  OMP_NUM_THREADS or all cores); the output is the same for any T\n"
            "  --quiet         no progress lines on stderr\n"
            "  --help, --version\n"
            "\n"
            "Progress goes to stderr: what was read (and the parser's MB/s of input file),\n"
            "what was written. A .gcsr input is fully verified (checksum and structure).\n"
            "Every error ends with one line on stderr naming the file and place, exit 1;\n"
            "usage errors exit 2.\n");
}

/* What the first bytes say the input is, for the progress line only. A
 * pipe is not peeked at: what this read would be lost to the reader. */
static const char *input_kind(const char *path)
{
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode))
        return "stream";
    unsigned char first[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return "graph";
    size_t got = fread(first, 1, sizeof first, f);
    fclose(f);
    if (got >= 1 && first[0] == 0x89)
        return ".gcsr";
    if (got == 2 && first[0] == 0x1f && first[1] == 0x8b)
        return "gzip edge list";
    return "text edge list";
}

static double file_megabytes(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 ? (double)info.st_size / 1e6 : 0.0;
}

/* Decimal digits of v at the end of buf[0..20); returns the first one. */
static char *format_id(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* The edges of g in library order as SNAP text into f. false on a write
 * error (errno set). */
static int write_text(FILE *f, const gat_graph *g, const char *source)
{
    const int64_t n = gat_graph_num_nodes(g), e = gat_graph_num_edges(g);
    const int64_t *row_ptr;
    const int32_t *col;
    gat_graph_csr(g, &row_ptr, &col);
    if (fprintf(f,
                "# Directed graph written by gat-convert from %s, edges in library order\n"
                "# Nodes: %lld Edges: %lld\n# FromNodeId\tToNodeId\n",
                source, (long long)n, (long long)e) < 0)
        return 0;
    char *buf = malloc(TEXT_BUFFER);
    if (buf == NULL) {
        errno = ENOMEM;
        return 0;
    }
    size_t used = 0;
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        char digits[24];
        char *dst_end = digits + sizeof digits;
        char *dst_text = format_id(dst_end, (uint64_t)i);
        size_t dst_len = (size_t)(dst_end - dst_text);
        for (int64_t k = row_ptr[i]; k < row_ptr[i + 1]; k++) {
            if (used + 48 > TEXT_BUFFER) {
                ok = fwrite(buf, 1, used, f) == used;
                used = 0;
                if (!ok)
                    break;
            }
            char src_digits[24];
            char *src_end = src_digits + sizeof src_digits;
            char *src_text = format_id(src_end, (uint64_t)col[k]);
            memcpy(buf + used, src_text, (size_t)(src_end - src_text));
            used += (size_t)(src_end - src_text);
            buf[used++] = '\t';
            memcpy(buf + used, dst_text, dst_len);
            used += dst_len;
            buf[used++] = '\n';
        }
    }
    if (ok && used > 0)
        ok = fwrite(buf, 1, used, f) == used;
    free(buf);
    return ok;
}

/* Text output that appears complete or not at all, like the library's:
 * a temporary file beside the target, renamed over it at the end. */
static void save_text(const gat_graph *g, const char *path, const char *source)
{
    size_t len = strlen(path);
    char *temp = malloc(len + 16);
    if (temp == NULL)
        cli_fail(program, "out of memory");
    snprintf(temp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(temp);
    if (fd < 0)
        cli_fail(program, "%s: cannot create: %s", path, strerror(errno));
    /* mkstemp makes the file 0600; give it the mode a plain open would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    int ok = f != NULL && write_text(f, g, source);
    int err = errno;
    if (f != NULL) {
        ok = fflush(f) == 0 && ok;
        err = ok ? 0 : errno;
        ok = fclose(f) == 0 && ok;
    } else {
        close(fd);
    }
    if (ok && rename(temp, path) != 0) {
        err = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(temp);
        cli_fail(program, "%s: cannot write: %s", path, strerror(err != 0 ? err : EIO));
    }
    free(temp);
}

int main(int argc, char **argv)
{
    int threads = 0, quiet = 0, to_text = 0;
    int64_t nodes = -1;
    static const struct option options[] = {
        {"to-edgelist", no_argument, NULL, 'x'}, {"nodes", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'x': to_text = 1; break;
        case 'n': nodes = cli_parse_int(program, "--nodes", optarg, 0, INT32_MAX); break;
        case 't': threads = cli_parse_threads(program, "--threads", optarg); break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V':
            cli_print_version(program);
            return 0;
        default:
            cli_usage_error(program, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        cli_usage_error(program, "expected an input and an output file, got %d argument(s)",
                        argc - optind);
    const char *in_path = argv[optind], *out_path = argv[optind + 1];

    gat_context_options copts;
    gat_context_options_init(&copts);
    copts.num_threads = threads;
    gat_context *ctx = cli_context_create(program, &copts);

    const char *kind = input_kind(in_path);
    double t0 = cli_now();
    gat_graph *g = NULL;
    cli_check(program, ctx, gat_graph_read(ctx, &g, in_path, nodes));
    double read_s = cli_now() - t0, in_mb = file_megabytes(in_path);
    if (!quiet) {
        fprintf(stderr, "gat-convert: read %s (%s", in_path, kind);
        if (in_mb > 0)
            fprintf(stderr, ", %.1f MB", in_mb);
        fprintf(stderr, "): %lld nodes, %lld edges in %.3f s", (long long)gat_graph_num_nodes(g),
                (long long)gat_graph_num_edges(g), read_s);
        if (in_mb > 0 && read_s > 0)
            fprintf(stderr, " (%.0f MB/s of input file)", in_mb / read_s);
        fputc('\n', stderr);
    }

    double t1 = cli_now();
    if (to_text)
        save_text(g, out_path, in_path);
    else
        cli_check(program, ctx, gat_graph_save(ctx, g, out_path));
    double write_s = cli_now() - t1, out_mb = file_megabytes(out_path);
    if (!quiet)
        fprintf(stderr, "gat-convert: wrote %s (%s): %.1f MB in %.3f s (%.0f MB/s)\n", out_path,
                to_text ? "text edge list" : ".gcsr", out_mb, write_s,
                write_s > 0 ? out_mb / write_s : 0.0);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    return 0;
}
