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
            "Usage: gat-convert [--to gcsr|edgelist] [--force] [--nodes N] [--src-nodes S]\n"
            "                   [--threads T] [--quiet] IN OUT\n"
            "\n"
            "Converts a graph into the binary .gcsr format, which gat-infer, gat-bench and\n"
            "gat_graph_read() load far faster than text (or back into text).\n"
            "\n"
            "  IN              a text edge list (one 'src dst' line per edge, src sends to\n"
            "                  dst; '#' comments, blank lines and CRLF allowed; .gz read\n"
            "                  too; a pipe or FIFO works) or a .gcsr file; the kind is told\n"
            "                  by the file's content\n"
            "  OUT             the output; its format is --to's, else its extension's:\n"
            "                  .gcsr, or .txt .tsv .edges .el .edgelist for text; another\n"
            "                  name (or a device such as /dev/stdout) needs --to\n"
            "  --to gcsr       the CSR by destination exactly as libgat holds it: a 128-byte\n"
            "                  header, int64 row offsets [N+1], int32 sources [E] and,\n"
            "                  unless the input was already sorted by destination, each\n"
            "                  edge's input position [E] (so that an edge-attribute file\n"
            "                  in the edge list's order still pairs with the .gcsr), each\n"
            "                  64-byte aligned, little-endian, with a checksum\n"
            "                  (docs/formats.md, 'Binary graph files')\n"
            "  --to edgelist   a SNAP text edge list: '# Nodes: N Edges: E', then one\n"
            "                  'src<TAB>dst' line per edge in input order (a .gcsr written\n"
            "                  by an older libgat keeps no positions: then by destination).\n"
            "                  Reading it back with --nodes N gives the same graph\n"
            "                  (trailing nodes without edges need --nodes to survive).\n"
            "                  --to-edgelist is the same\n"
            "  --force         replace an existing OUT that holds the other format (a text\n"
            "                  or gzip file by a .gcsr, a .gcsr or gzip file by text), which\n"
            "                  is refused otherwise as a likely slip of the arguments\n"
            "  --nodes N       the graph has N nodes: an id >= N is an error, and nodes the\n"
            "                  input never names are isolated (default: largest id + 1, or\n"
            "                  a .gcsr's own N; a .gcsr with more than N nodes is an error);\n"
            "                  with --src-nodes, the destination nodes\n"
            "  --src-nodes S   a bipartite graph (PyG's sampled blocks; gat-infer\n"
            "                  --features-src/--features-dst): sources are ids in [0, S),\n"
            "                  destinations ids in [0, N); the .gcsr keeps S (an edge list\n"
            "                  written from it says '# Source nodes: S')\n"
            "  --threads T     OpenMP threads for checksums and checks (default:\n"
            "                  OMP_NUM_THREADS or all cores); the output is the same for any T\n"
            "  --quiet         no progress lines on stderr\n"
            "  --help, --version\n"
            "\n"
            "OUT is never IN (the same file, also through a symlink: refused) and is checked\n"
            "before the input is read. A regular OUT is written to a temporary file beside\n"
            "it (after following symlinks: a link stays, the file it points to is\n"
            "replaced), synced and renamed: it appears complete or not at all. A device or\n"
            "FIFO is written in place, every write checked.\n"
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

/* The edges of g as SNAP text into out, in input order: the order of the
 * edge list g was built from, as far as g knows it (a .gcsr without
 * positions knows only its CSR order), so that the text still pairs with
 * an edge-attribute file. */
static void write_text(gat_context *ctx, gat_output *out, const gat_graph *g, const char *source)
{
    const int64_t n = gat_graph_num_nodes(g), e = gat_graph_num_edges(g);
    const int64_t ns = gat_graph_num_src_nodes(g);
    const size_t slots = (size_t)(e > 0 ? e : 1);
    int64_t *src = malloc(slots * sizeof *src), *dst = malloc(slots * sizeof *dst);
    int64_t *pos = malloc(slots * sizeof *pos), *edge_at = malloc(slots * sizeof *edge_at);
    char *buf = malloc(TEXT_BUFFER);
    if (buf == NULL || src == NULL || dst == NULL || pos == NULL || edge_at == NULL)
        cli_fail(program, "out of memory");
    cli_check(program, ctx, gat_graph_edges(ctx, g, false, src, dst));
    cli_check(program, ctx, gat_graph_edge_positions(ctx, g, false, pos));
    for (int64_t k = 0; k < e; k++)
        edge_at[pos[k]] = k;
    int used = snprintf(buf, TEXT_BUFFER,
                        "# Directed graph written by gat-convert from %s, edges in input "
                        "order\n# Nodes: %lld Edges: %lld\n",
                        source, (long long)n, (long long)e);
    if (ns != n) /* what gat-convert --src-nodes needs to read it back */
        used += snprintf(buf + used, TEXT_BUFFER - (size_t)used, "# Source nodes: %lld\n",
                         (long long)ns);
    used += snprintf(buf + used, TEXT_BUFFER - (size_t)used, "# FromNodeId\tToNodeId\n");
    cli_check(program, ctx, gat_output_write(ctx, out, buf, (size_t)used));
    size_t fill = 0;
    for (int64_t p = 0; p < e; p++) {
        if (fill + 48 > TEXT_BUFFER) {
            cli_check(program, ctx, gat_output_write(ctx, out, buf, fill));
            fill = 0;
        }
        const int64_t k = edge_at[p];
        char digits[24];
        char *end = digits + sizeof digits, *text = format_id(end, (uint64_t)src[k]);
        memcpy(buf + fill, text, (size_t)(end - text));
        fill += (size_t)(end - text);
        buf[fill++] = '\t';
        text = format_id(end, (uint64_t)dst[k]);
        memcpy(buf + fill, text, (size_t)(end - text));
        fill += (size_t)(end - text);
        buf[fill++] = '\n';
    }
    cli_check(program, ctx, gat_output_write(ctx, out, buf, fill));
    free(buf);
    free(src);
    free(dst);
    free(pos);
    free(edge_at);
}

enum { TO_UNSET = -1, TO_GCSR = 0, TO_TEXT = 1 };

/* The format OUT's extension names, or TO_UNSET. */
static int format_of_name(const char *path)
{
    static const char *const text[] = {".txt", ".tsv", ".edges", ".el", ".edgelist"};
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash != NULL ? slash : path, '.');
    if (dot == NULL)
        return TO_UNSET;
    if (strcmp(dot, ".gcsr") == 0)
        return TO_GCSR;
    for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
        if (strcmp(dot, text[k]) == 0)
            return TO_TEXT;
    return TO_UNSET;
}

/* An existing regular OUT holding the other format is refused without
 * --force: `gat-convert x.gcsr edges.txt` with the arguments swapped, say. */
static void check_replaced_kind(const char *path, int to)
{
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size == 0)
        return;
    const char *kind = input_kind(path);
    bool other = to == TO_GCSR ? strcmp(kind, ".gcsr") != 0 : strcmp(kind, "text edge list") != 0;
    if (other)
        cli_fail(program,
                 "%s: exists and holds a %s; writing %s would replace it (--force replaces "
                 "it, or choose another name)",
                 path, kind, to == TO_GCSR ? "a .gcsr" : "a text edge list");
}

int main(int argc, char **argv)
{
    int threads = 0, quiet = 0, to = TO_UNSET, force = 0;
    int64_t nodes = -1, src_nodes = -1;
    static const char *const format_names[] = {"gcsr", "edgelist"};
    static const int format_values[] = {TO_GCSR, TO_TEXT};
    static const struct option options[] = {
        {"to-edgelist", no_argument, NULL, 'x'}, {"nodes", required_argument, NULL, 'n'},
        {"to", required_argument, NULL, 'T'},    {"force", no_argument, NULL, 'f'},
        {"src-nodes", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'x': to = TO_TEXT; break;
        case 'T': to = cli_parse_choice(program, "--to", optarg, format_names, format_values, 2);
                  break;
        case 'f': force = 1; break;
        case 'n': nodes = cli_parse_int(program, "--nodes", optarg, 0, INT32_MAX); break;
        case 's': src_nodes = cli_parse_int(program, "--src-nodes", optarg, 0, INT32_MAX); break;
        case 't': threads = cli_parse_threads(program, "--threads", optarg); break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V':
            cli_print_version(program);
            return 0;
        default:
            cli_unknown_option(program, argv[optind - 1], options);
        }
    }
    if (argc - optind != 2)
        cli_usage_error(program, "expected an input and an output file, got %d argument(s)",
                        argc - optind);
    const char *in_path = argv[optind], *out_path = argv[optind + 1];
    if (to == TO_UNSET)
        to = format_of_name(out_path);
    if (to == TO_UNSET)
        cli_usage_error(program,
                        "%s: cannot tell the output format from the name (.gcsr, or .txt, .tsv, "
                        ".edges, .el, .edgelist for text); give --to gcsr or --to edgelist",
                        out_path);
    if (!force)
        check_replaced_kind(out_path, to);

    gat_context_options copts;
    gat_context_options_init(&copts);
    copts.num_threads = threads;
    gat_context *ctx = cli_context_create(program, &copts);

    gat_output *out = cli_open_output(program, ctx, out_path, &in_path, 1);
    const char *kind = input_kind(in_path);
    double t0 = cli_now();
    gat_graph *g = NULL;
    if (src_nodes >= 0)
        cli_check(program, ctx, gat_graph_read_bipartite(ctx, &g, in_path, src_nodes, nodes));
    else
        cli_check(program, ctx, gat_graph_read(ctx, &g, in_path, nodes));
    double read_s = cli_now() - t0, in_mb = file_megabytes(in_path);
    if (!quiet) {
        fprintf(stderr, "gat-convert: read %s (%s", in_path, kind);
        if (in_mb > 0)
            fprintf(stderr, ", %.1f MB", in_mb);
        fprintf(stderr, "): %lld nodes, ", (long long)gat_graph_num_nodes(g));
        if (gat_graph_num_src_nodes(g) != gat_graph_num_nodes(g))
            fprintf(stderr, "%lld source nodes, ", (long long)gat_graph_num_src_nodes(g));
        fprintf(stderr, "%lld edges in %.3f s", (long long)gat_graph_num_edges(g), read_s);
        if (in_mb > 0 && read_s > 0)
            fprintf(stderr, " (%.0f MB/s of input file)", in_mb / read_s);
        fputc('\n', stderr);
    }

    double t1 = cli_now();
    if (to == TO_TEXT)
        write_text(ctx, out, g, in_path);
    else
        cli_check(program, ctx, gat_graph_save_to(ctx, g, out));
    cli_commit_outputs(program, ctx, &out, 1);
    double write_s = cli_now() - t1, out_mb = file_megabytes(out_path);
    if (!quiet)
        fprintf(stderr, "gat-convert: wrote %s (%s): %.1f MB in %.3f s (%.0f MB/s)\n", out_path,
                to == TO_TEXT ? "text edge list" : ".gcsr", out_mb, write_s,
                write_s > 0 ? out_mb / write_s : 0.0);
    gat_graph_destroy(&g);
    gat_context_destroy(&ctx);
    return 0;
}
