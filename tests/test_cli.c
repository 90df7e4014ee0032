/*
 * The command-line tools as a user meets them: exit codes, one clear line
 * on stderr per error, no signal, no partial output file.
 */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYG_CASE GAT_TEST_DATA "/pyg/example6"

typedef struct run_result {
    int exit_code; /* -1 when killed by a signal */
    char err[4096];
    int err_lines;
} run_result;

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gat-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return stat(path, &st) == 0;
}

static int count_files(void)
{
    return test_count_entries(tmpdir, NULL);
}

/* Runs `args` (a shell fragment after the tool's path) in tmpdir. */
static run_result run(const char *tool, const char *args)
{
    run_result r = {0};
    char cmd[2048], errpath[512];
    snprintf(errpath, sizeof errpath, "%s/.stderr", tmpdir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >/dev/null 2>'%s'", tmpdir, tool, args,
             errpath);
    int status = system(cmd);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    FILE *f = fopen(errpath, "r");
    size_t len = f ? fread(r.err, 1, sizeof r.err - 1, f) : 0;
    if (f)
        fclose(f);
    r.err[len] = '\0';
    for (size_t k = 0; k < len; k++)
        r.err_lines += r.err[k] == '\n';
    unlink(errpath);
    /* The shell reports a signal as 128 + n. */
    if (r.exit_code > 128)
        r.exit_code = -1;
    return r;
}

static void expect_one_line_error(run_result r, const char *needle)
{
    cr_assert_eq(r.exit_code, 1, "exit %d, stderr: %s", r.exit_code, r.err);
    cr_assert_eq(r.err_lines, 1, "expected one line, got: %s", r.err);
    cr_assert(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
}

#define INFER_OK_ARGS                                                                          \
    "--graph " PYG_CASE "/edges.txt --features " PYG_CASE "/x.npy --weights " PYG_CASE        \
    "/model.safetensors --quiet"

Test(cli, infer_runs_and_writes_outputs, .init = make_tmpdir, .fini = remove_tmpdir)
{
    run_result r = run(GAT_INFER, INFER_OK_ARGS " --out y.npy --attention a.npy "
                                                "--attention-edges e.npy --threads 2");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    gat_array *y = NULL, *want = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/y.npy", tmpdir);
    cr_assert_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &y), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(gat_npy_read(ctx, PYG_CASE "/out.npy", GAT_FLOAT32, &want), GAT_OK);
    cr_assert_eq(y->shape[0], want->shape[0]);
    cr_assert_eq(y->shape[1], want->shape[1]);
    cr_assert(exists("a.npy") && exists("e.npy"));
    gat_array_destroy(&y);
    gat_array_destroy(&want);
    gat_context_destroy(&ctx);
}

Test(cli, infer_help_and_usage_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    cr_assert_eq(run(GAT_INFER, "--help").exit_code, 0);
    run_result r = run(GAT_INFER, "--graph x");
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "required") != NULL, "%s", r.err);
    cr_assert_eq(run(GAT_INFER, "--bogus").exit_code, 2);
    cr_assert_eq(run(GAT_INFER, INFER_OK_ARGS " --out y.npy --threads zero").exit_code, 2);
}

Test(cli, infer_bad_inputs_fail_with_one_line_and_no_output, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    write_file("bad_edges.txt", "0 1\n1 two\n");
    expect_one_line_error(run(GAT_INFER, "--graph bad_edges.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE
                                         "/model.safetensors --out y.npy"),
                          "bad_edges.txt:2");
    write_file("far_edges.txt", "0 1\n1 6\n");
    expect_one_line_error(run(GAT_INFER, "--graph far_edges.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE
                                         "/model.safetensors --out y.npy"),
                          "far_edges.txt:2");
    write_file("bad.npy", "\x93NUMPY garbage");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features bad.npy "
                                         "--weights " PYG_CASE "/model.safetensors --out y.npy"),
                          "bad.npy");
    write_file("bad.safetensors", "short");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                                         "/x.npy --weights bad.safetensors --out y.npy"),
                          "bad.safetensors");
    expect_one_line_error(run(GAT_INFER, "--graph missing.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE
                                         "/model.safetensors --out y.npy"),
                          "missing.txt");
    /* A model whose input width does not match the features. */
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " GAT_TEST_DATA
                                         "/pyg/three_layers/x.npy --weights " PYG_CASE
                                         "/model.safetensors --out y.npy"),
                          "input features");
    /* An output folder that does not exist: no stray temporary file. */
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out nowhere/y.npy"), "nowhere/y.npy");
    cr_assert(!exists("y.npy"));
    cr_assert_eq(count_files(), 4, "only the four input files may remain");
}

/* ------------------------------------------------------------------------ */
/* gat-convert, gat-train and gat-bench (issue 5): every error exits 1 with  */
/* one line naming the file, never by a signal, and leaves no output file   */
/* (the tools write through gat_npy_write_*, gat_model_save, gat_graph_save */
/* or a temporary file renamed into place).                                 */
/* ------------------------------------------------------------------------ */

#define TRAIN_CASE GAT_TEST_DATA "/train/cora_like"

/* The other tools sit beside gat-infer (tools/) or in benchmarks/. */
static const char *tool(const char *name)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    const char *slash = strrchr(GAT_INFER, '/');
    int dir = (int)(slash - GAT_INFER);
    if (strcmp(name, "gat-bench") == 0)
        snprintf(path, sizeof paths[0], "%.*s/../benchmarks/%s", dir, GAT_INFER, name);
    else
        snprintf(path, sizeof paths[0], "%.*s/%s", dir, GAT_INFER, name);
    return path;
}

/* Exit 1, no signal, and the error (the last line; progress lines may come
 * before it) names `needle`. */
static void expect_error_line(run_result r, const char *needle)
{
    cr_assert_eq(r.exit_code, 1, "exit %d, stderr: %s", r.exit_code, r.err);
    cr_assert_geq(r.err_lines, 1);
    const char *last = r.err + strlen(r.err) - 1; /* the final '\n' */
    while (last > r.err && last[-1] != '\n')
        last--;
    cr_assert(strstr(last, needle) != NULL, "'%s' not in the error line: %s", needle, last);
}

static void copy_file(const char *from, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", from, tmpdir, name);
    cr_assert_eq(system(cmd), 0);
}

Test(cli, convert_errors_fail_with_one_line_and_no_output, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    const char *convert = tool("gat-convert");
    write_file("bad.txt", "0 1\n1 two\n");
    write_file("far.txt", "0 1\n1 9\n");
    expect_one_line_error(run(convert, "--quiet bad.txt out.gcsr"), "bad.txt:2");
    expect_one_line_error(run(convert, "--quiet --nodes 5 far.txt out.gcsr"), "far.txt:2");
    expect_one_line_error(run(convert, "--quiet missing.txt out.gcsr"), "missing.txt");
    expect_one_line_error(run(convert, "--quiet " PYG_CASE "/edges.txt nowhere/out.gcsr"),
                          "nowhere/out.gcsr");
    /* A .gcsr cut short and one with a flipped byte. */
    cr_assert_eq(run(convert, "--quiet " PYG_CASE "/edges.txt good.gcsr").exit_code, 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && head -c 200 good.gcsr > cut.gcsr && cp good.gcsr flip.gcsr && "
             "printf x | dd of=flip.gcsr bs=1 seek=150 conv=notrunc 2>/dev/null",
             tmpdir);
    cr_assert_eq(system(cmd), 0);
    expect_one_line_error(run(convert, "--quiet --to-edgelist cut.gcsr back.txt"), "cut.gcsr");
    expect_one_line_error(run(convert, "--quiet --to-edgelist flip.gcsr back.txt"),
                          "checksum mismatch");
    expect_one_line_error(run(convert, "--quiet --to-edgelist good.gcsr nowhere/back.txt"),
                          "nowhere/back.txt");
    cr_assert(!exists("out.gcsr") && !exists("back.txt"));
    cr_assert_eq(count_files(), 5, "only bad.txt, far.txt, good.gcsr, cut.gcsr, flip.gcsr");
    cr_assert_eq(run(convert, "").exit_code, 2);
}

Test(cli, train_errors_fail_with_one_line_and_no_output, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    test_deadline(60);
    const char *train = tool("gat-train");
    expect_one_line_error(run(train, "--data nowhere --progress none"), "nowhere/");
    /* A data folder missing one file after another. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir '%s/ds'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    copy_file(TRAIN_CASE "/edges.txt", "ds/edges.txt");
    expect_one_line_error(run(train, "--data ds --progress none"), "ds/features.npy");
    copy_file(TRAIN_CASE "/x.npy", "ds/features.npy");
    expect_one_line_error(run(train, "--data ds --progress none"), "ds/labels.npy");
    copy_file(TRAIN_CASE "/labels.npy", "ds/labels.npy");
    expect_one_line_error(run(train, "--data ds --progress none"), "ds/train.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/train.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/val.npy");
    /* Labels given as features: wrong dtype and rank, named. */
    copy_file(TRAIN_CASE "/x.npy", "ds/test.npy");
    expect_one_line_error(run(train, "--data ds --progress none"), "ds/test.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/test.npy");
    /* An edge naming a node the features do not have. */
    write_file("ds/edges.txt", "0 1\n1 40\n");
    expect_one_line_error(run(train, "--data ds --progress none"), "ds/edges.txt:2");
    copy_file(TRAIN_CASE "/edges.txt", "ds/edges.txt");
    /* Saving into a missing folder fails before training (a run that long
     * would time the test out), leaving nothing. */
    expect_error_line(run(train, "--data ds --progress none --epochs 100000000 --patience "
                                 "100000000 --save nowhere/m.safetensors"),
                      "folder nowhere does not exist");
    /* And works: the saved model runs in gat-infer. */
    cr_assert_eq(run(train, "--data ds --progress none --epochs 2 --save m.safetensors")
                     .exit_code,
                 0);
    cr_assert(exists("m.safetensors"));
    run_result r = run(GAT_INFER, "--graph ds/edges.txt --features ds/features.npy "
                                  "--weights m.safetensors --out y.npy --quiet");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(count_files(), 3, "ds, m.safetensors and y.npy only");
    cr_assert_eq(run(train, "--data ds --epochs zero").exit_code, 2);
    cr_assert_eq(run(train, "--data ds --projected-dropout 1").exit_code, 2);
    cr_assert_eq(run(train, "--data ds --progress none --epochs 2 --projected-dropout 0")
                     .exit_code,
                 0);
}

/* The GAT family's flags: every layer kind trains from the command line,
 * and wrong combinations fail with one line. */
Test(cli, train_family_flags, .init = make_tmpdir, .fini = remove_tmpdir)
{
    test_deadline(60);
    const char *train = tool("gat-train");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir '%s/ds'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    copy_file(TRAIN_CASE "/edges.txt", "ds/edges.txt");
    copy_file(TRAIN_CASE "/x.npy", "ds/features.npy");
    copy_file(TRAIN_CASE "/labels.npy", "ds/labels.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/train.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/val.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/test.npy");
    /* Edge attributes [E, 2] in the edge list's order, and one row short. */
    gat_context *ctx = test_context(1, NULL);
    int64_t *src, *dst, edges, max_id;
    cr_assert_eq(gat_edgelist_read(ctx, TRAIN_CASE "/edges.txt", -1, &src, &dst, &edges, &max_id),
                 GAT_OK);
    float *attr = calloc((size_t)(2 * edges), sizeof *attr);
    test_fill_uniform(attr, 2 * edges, -1.0f, 1.0f, 7);
    const int64_t shape[2] = {edges, 2}, short_shape[2] = {edges - 1, 2};
    cr_assert_eq(gat_npy_write_f32(ctx, test_path(tmpdir, "ea.npy"), attr, 2, shape), GAT_OK);
    cr_assert_eq(gat_npy_write_f32(ctx, test_path(tmpdir, "short.npy"), attr, 2, short_shape),
                 GAT_OK);
    free(attr);
    gat_free(ctx, src);
    gat_free(ctx, dst);
    gat_context_destroy(&ctx);
    cr_assert_eq(run(train, "--data ds --progress none --epochs 2 --layer-type gatv2 "
                            "--share-weights --residual --edge-attr ea.npy --fill-value max")
                     .exit_code,
                 0);
    cr_assert_eq(run(train, "--data ds --progress none --epochs 2 --edge-attr ea.npy "
                            "--fill-value 0.5 --save m.safetensors")
                     .exit_code,
                 0);
    expect_one_line_error(run(train, "--data ds --progress none --edge-attr short.npy"),
                          "short.npy has");
    cr_assert_eq(run(train, "--data ds --progress none --epochs 2 --layer-type gatv2 "
                            "--residual --projected-dropout 0.5")
                     .exit_code,
                 0);
    cr_assert_eq(run(train, "--data ds --share-weights").exit_code, 2);
    cr_assert_eq(run(train, "--data ds --fill-value max").exit_code, 2);
    cr_assert_eq(run(train, "--data ds --edge-attr ea.npy --fill-value often").exit_code, 2);
    cr_assert_eq(run(train, "--data ds --layer-type gatv3").exit_code, 2);
}

Test(cli, bench_errors_fail_with_one_line_and_no_output, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    const char *bench = tool("gat-bench");
    write_file("bad.txt", "0 1\n1 two\n");
    write_file("bad.npy", "\x93NUMPY garbage");
    expect_error_line(run(bench, "--no-probe --graph bad.txt"), "bad.txt:2");
    expect_error_line(run(bench, "--no-probe --graph missing.txt"), "missing.txt");
    expect_error_line(run(bench, "--no-probe --dataset nowhere"), "nowhere/edges.txt");
    expect_error_line(run(bench, "--no-probe --graph " PYG_CASE "/edges.txt --features bad.npy"),
                      "bad.npy");
    /* Features with fewer rows than the graph has nodes. */
    expect_error_line(run(bench, "--no-probe --graph " TRAIN_CASE "/edges.txt --features " PYG_CASE
                                 "/x.npy"),
                      "edges.txt");
    const char *small = "--no-probe --gen uniform --nodes 200 --edges 2000 --reps 1 --warmup 0 "
                        "--in 8 --heads 2 --channels 4";
    char args[1024];
    snprintf(args, sizeof args, "%s --json nowhere/b.json", small);
    expect_error_line(run(bench, args), "nowhere/b.json");
    snprintf(args, sizeof args, "%s --export-edges nowhere/e.npy", small);
    expect_error_line(run(bench, args), "nowhere/e.npy");
    cr_assert_eq(count_files(), 2, "no output or temporary file may remain");
    cr_assert_eq(run(bench, "--no-probe --reps 0").exit_code, 2);

    /* A good run: the JSON is complete and has the documented keys. */
    snprintf(args, sizeof args, "%s --json b.json --check", small);
    run_result r = run(bench, args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char path[512];
    snprintf(path, sizeof path, "%s/b.json", tmpdir);
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    cr_assert_not_null(root, "b.json: %s", error.text);
    static const char *const keys[] = {"nodes", "edges", "threads", "forward_ms_median",
                                       "peak_rss_bytes", "runs"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        cr_expect_not_null(json_object_get(root, keys[k]), "b.json has no '%s'", keys[k]);
    cr_expect_eq(json_integer_value(json_object_get(root, "nodes")), 200);
    json_decref(root);
    cr_assert_eq(count_files(), 3, "b.json and no temporary file");
}

Test(cli, infer_more_bad_inputs, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const char *convert = tool("gat-convert");
    write_file("empty.npy", "");
    write_file("empty.safetensors", "");
    cr_assert_eq(run(convert, "--quiet " PYG_CASE "/edges.txt g.gcsr").exit_code, 0);
    /* The binary graph gives the text graph's output. */
    cr_assert_eq(run(GAT_INFER, INFER_OK_ARGS " --out y.npy").exit_code, 0);
    run_result r = run(GAT_INFER, "--graph g.gcsr --features " PYG_CASE "/x.npy --weights " PYG_CASE
                                  "/model.safetensors --quiet --out y2.npy");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/y.npy' '%s/y2.npy'", tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0, "gat-infer on .gcsr and on text differ");
    snprintf(cmd, sizeof cmd, "cd '%s' && head -c 100 g.gcsr > cut.gcsr && rm y.npy y2.npy",
             tmpdir);
    cr_assert_eq(system(cmd), 0);
    expect_one_line_error(run(GAT_INFER, "--graph cut.gcsr --features " PYG_CASE "/x.npy --weights "
                                         PYG_CASE "/model.safetensors --out y.npy"),
                          "cut.gcsr");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features empty.npy "
                                         "--weights " PYG_CASE "/model.safetensors --out y.npy"),
                          "empty.npy: empty file");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                                         "/x.npy --weights empty.safetensors --out y.npy"),
                          "empty.safetensors");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features . "
                                         "--weights " PYG_CASE "/model.safetensors --out y.npy"),
                          "is a directory");
    /* The output is a directory: the temporary file is removed. */
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out ."), ".");
    /* The attention output cannot be written: all outputs or none, so the
     * main output is not written either; no temporary file stays. */
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out y.npy --attention nowhere/a.npy"),
                          "nowhere");
    cr_assert_eq(count_files(), 4, "g.gcsr, cut.gcsr and the two empty inputs");
}

Test(cli, init_writes_a_model_gat_infer_runs, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const char *init = tool("gat-init");
    run_result r = run(init, "--in-features 5 --layers 3x2,2x5:mean --seed 7 a.safetensors");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(run(init, "--in-features 5 --layers 3x2,2x5:mean --seed 7 b.safetensors")
                     .exit_code, 0);
    char path[512], cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/a.safetensors' '%s/b.safetensors'", tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0, "the same seed must give the same file");
    snprintf(path, sizeof path, "%s/a.safetensors", tmpdir);
    gat_context *ctx = NULL;
    gat_model *m = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    cr_assert_eq(gat_model_load(ctx, &m, path), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(gat_model_num_layers(m), 2);
    cr_assert_eq(gat_model_in_features(m), 5);
    cr_assert_eq(gat_model_out_features(m), 5);
    gat_layer_config c;
    cr_assert_eq(gat_model_layer_config(m, 1, &c), GAT_OK);
    cr_assert(!c.concat && c.heads == 2 && c.channels == 5 && c.in_features == 6);
    gat_model_destroy(&m);
    gat_context_destroy(&ctx);
    r = run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                       "/x.npy --weights a.safetensors --quiet --out y.npy");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(exists("y.npy"));
}

Test(cli, init_usage_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const char *init = tool("gat-init");
    cr_assert_eq(run(init, "--help").exit_code, 0);
    cr_assert_eq(run(init, "--layers 8x8 m.safetensors").exit_code, 2);
    cr_assert_eq(run(init, "--in-features 4 m.safetensors").exit_code, 2);
    cr_assert_eq(run(init, "--in-features 4 --layers 8y8 m.safetensors").exit_code, 2);
    cr_assert_eq(run(init, "--in-features 4 --layers 8x8,1x7:avg m.safetensors").exit_code, 2);
    cr_assert_eq(run(init, "--in-features 4 --layers 8x8,,1x7 m.safetensors").exit_code, 2);
    cr_assert_eq(run(init, "--in-features 4 --layers 8x8").exit_code, 2);
    expect_one_line_error(run(init, "--in-features 4 --layers 8x8 nowhere/m.safetensors"),
                          "nowhere/m.safetensors");
    cr_assert_eq(count_files(), 0);
}

/* ------------------------------------------------------------------------ */
/* Thread counts (issue 13): --threads and OMP_NUM_THREADS under one policy */

/* Exit 2 (a usage error), no signal, one line naming the option and count. */
static void expect_usage_error(run_result r, const char *needle)
{
    cr_assert_eq(r.exit_code, 2, "exit %d, stderr: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
}

Test(cli, absurd_thread_counts_are_refused_by_every_tool, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    static const char *const tools[] = {"gat-infer", "gat-train", "gat-convert", "gat-bench"};
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir ds && cp " TRAIN_CASE "/edges.txt ds/ && cp " TRAIN_CASE
             "/x.npy ds/features.npy && cp " TRAIN_CASE "/labels.npy ds/ && for s in train val "
             "test; do cp " TRAIN_CASE "/train.npy ds/$s.npy; done",
             tmpdir);
    cr_assert_eq(system(cmd), 0);
    for (size_t t = 0; t < sizeof tools / sizeof tools[0]; t++) {
        const char *path = tool(tools[t]);
        expect_usage_error(run(path, "--threads 4096"), "--threads 4096: more than");
        expect_usage_error(run(path, "--threads 0"), "--threads");
#ifdef _OPENMP /* a serial build (-Dopenmp=disabled) reads no OMP_NUM_THREADS */
        /* OpenMP's default from the environment: refused, named, no signal
         * (before, SIGSEGV: libgomp's team start overflowed the stack). */
        char args[1024];
        const char *rest = strcmp(tools[t], "gat-infer") == 0 ? INFER_OK_ARGS " --out y.npy"
                           : strcmp(tools[t], "gat-train") == 0
                               ? "--data ds --progress none --epochs 1"
                           : strcmp(tools[t], "gat-convert") == 0
                               ? "--quiet " PYG_CASE "/edges.txt g.gcsr"
                               : "--no-probe --nodes 100 --edges 300 --reps 1";
        snprintf(args, sizeof args, "OMP_NUM_THREADS=100000 '%s' %s", path, rest);
        run_result r = run("/usr/bin/env", args);
        expect_one_line_error(r, "OMP_NUM_THREADS=100000");
        cr_expect(strstr(r.err, "more than the limit") != NULL, "%s: %s", tools[t], r.err);
        /* A count given on the command line is the one used. */
        snprintf(args, sizeof args, "OMP_NUM_THREADS=100000 '%s' %s --threads 2", path, rest);
        r = run("/usr/bin/env", args);
        cr_expect_eq(r.exit_code, 0, "%s: %s", tools[t], r.err);
#endif
    }
#ifdef _OPENMP
    cr_expect(exists("y.npy") && exists("g.gcsr"), "the runs with --threads 2 wrote");
#endif
}

Test(cli, bench_thread_lists_are_strict, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const char *bench = tool("gat-bench");
    expect_usage_error(run(bench, "--threads 1,,2"), "empty count");
    expect_usage_error(run(bench, "--threads 1,"), "empty count");
    expect_usage_error(run(bench, "--threads ,1"), "empty count");
    expect_usage_error(run(bench, "--threads 1,4096"), "--threads 4096");
    cr_expect_eq(run(bench, "--no-probe --nodes 100 --edges 300 --reps 1 --warmup 0 "
                            "--threads 1,2")
                     .exit_code,
                 0);
}

/* gat-bench --partitions: the partition table without MPI (issue 17); the
 * list is as strict as --threads'. */
Test(cli, bench_partitions_print_one_line_per_count, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    const char *bench = tool("gat-bench");
    expect_usage_error(run(bench, "--partitions 2,,3"), "empty count");
    expect_usage_error(run(bench, "--partitions 0"), "--partitions");
    char cmd[1024], text[4096] = "";
    snprintf(cmd, sizeof cmd, "'%s' --nodes 500 --edges 3000 --partitions 1,3,700 2>/dev/null",
             bench);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    cr_assert_eq(pclose(f), 0);
    text[len] = '\0';
    cr_expect(strstr(text, "\n     1 ") != NULL && strstr(text, "\n     3 ") != NULL &&
                  strstr(text, "\n   700 ") != NULL,
              "%s", text);
}

/* ------------------------------------------------------------------------ */
/* Outputs and inputs of the tools (issue 13): devices stay devices, write  */
/* errors are reported, several outputs appear all or none, gat-convert     */
/* writes over neither its input nor a file of the other format, a FIFO     */
/* input never blocks, non-finite outputs are counted and refused.          */
/* ------------------------------------------------------------------------ */

Test(cli, infer_outputs_to_devices_all_or_none, .init = make_tmpdir, .fini = remove_tmpdir)
{
    cr_assert_eq(run(GAT_INFER, INFER_OK_ARGS " --out /dev/null --attention /dev/null").exit_code,
                 0);
    struct stat info;
    cr_assert_eq(stat("/dev/null", &info), 0);
    cr_assert(S_ISCHR(info.st_mode), "/dev/null is no longer a character device");
    /* The second output hits a full device: the first is not written. */
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out y.npy --attention /dev/full"),
                          "/dev/full: cannot write: No space left on device");
    expect_one_line_error(
        run(GAT_INFER, INFER_OK_ARGS " --out y.npy --attention-edges nowhere/e.npy"),
        "folder nowhere does not exist");
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out y.npy --attention y.npy"),
                          "same file");
    expect_one_line_error(run(GAT_INFER, INFER_OK_ARGS " --out " PYG_CASE "/x.npy"),
                          "is the input");
    cr_assert_eq(count_files(), 0, "no output and no temporary file");
    cr_assert_eq(stat("/dev/full", &info), 0);
    cr_assert(S_ISCHR(info.st_mode));
}

Test(cli, fifo_input_without_writer_fails_at_once, .init = make_tmpdir, .fini = remove_tmpdir)
{
    test_deadline(20);
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/in.fifo", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_one_line_error(run(GAT_INFER, "--graph in.fifo --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE
                                         "/model.safetensors --quiet --out y.npy"),
                          "no process had it open for writing");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features in.fifo "
                                         "--weights " PYG_CASE "/model.safetensors --quiet "
                                         "--out y.npy"),
                          "must be a regular file");
    /* A pipe with a writer works: edge lists stream. */
    run_result r = run("/bin/sh", "-c \"cat " PYG_CASE "/edges.txt | '" GAT_INFER
                                  "' --graph /dev/stdin --features " PYG_CASE
                                  "/x.npy --weights " PYG_CASE
                                  "/model.safetensors --quiet --out y.npy\"");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(count_files(), 2, "in.fifo and y.npy");
}

Test(cli, convert_refuses_its_input_and_the_other_format, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    const char *convert = tool("gat-convert");
    copy_file(PYG_CASE "/edges.txt", "e.txt");
    char path[512];
    snprintf(path, sizeof path, "%s/e_link.txt", tmpdir);
    cr_assert_eq(symlink("e.txt", path), 0);
    expect_one_line_error(run(convert, "--quiet e.txt e.txt"), "is the input");
    expect_one_line_error(run(convert, "--quiet e_link.txt e.txt"), "is the input");
    expect_one_line_error(run(convert, "--quiet --to edgelist e.txt e_link.txt"),
                          "is the input");
    cr_assert_eq(run(convert, "--quiet e.txt g.gcsr").exit_code, 0);
    /* A text file is not replaced by a .gcsr, nor a .gcsr by text, unless
     * --force says so. */
    copy_file(PYG_CASE "/edges.txt", "old.txt");
    expect_one_line_error(run(convert, "--quiet --to gcsr e.txt old.txt"),
                          "holds a text edge list");
    copy_file(PYG_CASE "/edges.txt", "expected.txt");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/old.txt' '%s/expected.txt'", tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0, "old.txt changed");
    expect_one_line_error(run(convert, "--quiet --to edgelist e.txt g.gcsr"), "holds a .gcsr");
    cr_assert_eq(run(convert, "--quiet --force --to gcsr e.txt old.txt").exit_code, 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s/old.txt' '%s/g.gcsr'", tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0, "--force did not write the .gcsr");
    /* The format comes from the extension (the forgotten --to-edgelist of
     * issue 13 writes text), else --to is needed. */
    cr_assert_eq(run(convert, "--quiet g.gcsr back.txt").exit_code, 0);
    snprintf(cmd, sizeof cmd, "head -c 1 '%s/back.txt' | grep -q '#'", tmpdir);
    cr_assert_eq(system(cmd), 0, "back.txt is not text");
    cr_assert_eq(run(convert, "--quiet g.gcsr noext").exit_code, 2);
    cr_assert_eq(run(convert, "--quiet --to edgelist g.gcsr /dev/null").exit_code, 0);
    cr_assert_eq(count_files(), 6, "e.txt, e_link.txt, g.gcsr, old.txt, expected.txt, back.txt");
}

/* Weights of 3e38 are finite, but the output they give is not. */
Test(cli, infer_counts_nonfinite_rows, .init = make_tmpdir, .fini = remove_tmpdir)
{
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    gat_layer_config config;
    gat_layer_config_init(&config, 5, 2, 3);
    gat_model *model = NULL;
    cr_assert_eq(gat_model_create(ctx, &model, 1, &config, GAT_ACT_NONE), GAT_OK);
    gat_layer_params p;
    cr_assert_eq(gat_model_layer_params(model, 0, &p), GAT_OK);
    for (int k = 0; k < 2 * 3 * 5; k++)
        p.weight[k] = k % 2 ? 3e38f : -3e38f;
    for (int k = 0; k < 2 * 3; k++)
        p.att_src[k] = p.att_dst[k] = 1.0f;
    char path[512];
    snprintf(path, sizeof path, "%s/huge.safetensors", tmpdir);
    cr_assert_eq(gat_model_save(ctx, model, path), GAT_OK, "%s", gat_context_message(ctx));
    gat_model_destroy(&model);
    gat_context_destroy(&ctx);
    static const char args[] = "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                               "/x.npy --weights huge.safetensors --quiet --out y.npy";
    expect_one_line_error(run(GAT_INFER, args), "non-finite values (NaN or infinite) in 6 of 6 rows");
    cr_assert(!exists("y.npy"));
    run_result r = run(GAT_INFER, "--allow-nonfinite --attention a.npy --attention-edges e.npy "
                                  "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                                  "/x.npy --weights huge.safetensors --quiet --out y.npy");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "warning: the output has non-finite values") != NULL, "%s", r.err);
    cr_assert(exists("y.npy") && exists("a.npy") && exists("e.npy"));
}

/* A data set folder as gat-train reads it: non-negative bag-of-words-like
 * features (so row normalisation changes them), planted classes, a
 * homophilous random graph, and a 60 / 90 / rest split. */
static void write_dataset(const char *dir, int64_t n, int64_t f, int64_t classes)
{
    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    const int64_t e = 6 * n;
    int64_t *src = malloc(sizeof *src * (size_t)e), *dst = malloc(sizeof *dst * (size_t)e);
    int64_t *labels = malloc(sizeof *labels * (size_t)n), *ids = malloc(sizeof *ids * (size_t)n);
    float *x = malloc(sizeof *x * (size_t)(n * f));
    cr_assert_eq(gat_generate_edges(ctx, GAT_GEN_UNIFORM, n, e, 11, src, dst), GAT_OK);
    uint64_t state = 17;
    for (int64_t i = 0; i < n; i++) {
        labels[i] = i % classes;
        ids[i] = i;
        for (int64_t k = 0; k < f; k++)
            x[i * f + k] = (float)((test_next(&state) >> 60) % 3) + (k % classes == labels[i]);
    }
    for (int64_t k = 0; k < e; k++)
        if (k % 4 != 0) /* three edges in four join nodes of one class */
            src[k] = src[k] - src[k] % classes + labels[dst[k]] < n
                         ? src[k] - src[k] % classes + labels[dst[k]]
                         : dst[k];
    char path[600];
    snprintf(path, sizeof path, "%s/edges.txt", dir);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    for (int64_t k = 0; k < e; k++)
        fprintf(fp, "%lld %lld\n", (long long)src[k], (long long)dst[k]);
    fclose(fp);
    snprintf(path, sizeof path, "%s/features.npy", dir);
    cr_assert_eq(gat_npy_write_f32(ctx, path, x, 2, (int64_t[]){n, f}), GAT_OK);
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    cr_assert_eq(gat_npy_write_i64(ctx, path, labels, 1, (int64_t[]){n}), GAT_OK);
    const char *split[3] = {"train.npy", "val.npy", "test.npy"};
    const int64_t begin[4] = {0, 60, 150, n};
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, split[s]);
        cr_assert_eq(gat_npy_write_i64(ctx, path, ids + begin[s], 1,
                                       (int64_t[]){begin[s + 1] - begin[s]}),
                     GAT_OK);
    }
    free(src);
    free(dst);
    free(labels);
    free(ids);
    free(x);
    gat_context_destroy(&ctx);
}

/* Train -> save -> infer: gat-infer applies the normalisation training
 * recorded, so the saved model's logits give gat-train's test loss and
 * accuracy (compared at the 4 decimals gat-train prints: its evaluation
 * reads the sparse input, which can differ from gat_model_forward's dense
 * one in the last bits). */
Test(cli, train_save_infer_reproduces_test_metrics, .init = make_tmpdir, .fini = remove_tmpdir)
{
    enum { NODES = 400, FEATS = 24, CLASSES = 4 };
    write_dataset(tmpdir, NODES, FEATS, CLASSES);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' --data . --preset cora --epochs 60 --seed 3 --progress none "
             "--save m.safetensors 2>&1",
             tmpdir, tool("gat-train"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512];
    double want_loss = -1, want_acc = -1;
    while (fgets(line, sizeof line, p) != NULL) {
        const char *at = strstr(line, "test loss ");
        if (at != NULL)
            want_loss = atof(at + strlen("test loss "));
        if (strncmp(line, "test accuracy: ", 15) == 0)
            want_acc = atof(line + 15);
    }
    cr_assert_eq(pclose(p), 0);
    cr_assert(want_loss >= 0 && want_acc >= 0, "gat-train printed no test metrics");
    run_result r = run(GAT_INFER, "--graph edges.txt --features features.npy --weights "
                                  "m.safetensors --quiet --out y.npy");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    r = run(GAT_INFER, "--graph edges.txt --features features.npy --weights m.safetensors "
                       "--no-preprocess --out raw.npy");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "normalisation") != NULL, "no note on --no-preprocess: %s", r.err);

    gat_context *ctx = NULL;
    cr_assert_eq(gat_context_create(&ctx, NULL), GAT_OK);
    gat_array *y = NULL, *raw = NULL, *labels = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/y.npy", tmpdir);
    cr_assert_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &y), GAT_OK);
    snprintf(path, sizeof path, "%s/raw.npy", tmpdir);
    cr_assert_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &raw), GAT_OK);
    snprintf(path, sizeof path, "%s/labels.npy", tmpdir);
    cr_assert_eq(gat_npy_read(ctx, path, GAT_INT64, &labels), GAT_OK);
    const float *logits = y->data;
    const int64_t *label = labels->data;
    double loss = 0.0;
    int64_t right = 0, count = 0;
    for (int64_t i = 150; i < NODES; i++, count++) {
        const float *row = logits + i * CLASSES;
        int64_t best = 0;
        double max = row[0], sum = 0.0;
        for (int c = 1; c < CLASSES; c++)
            if (row[c] > row[best])
                best = c, max = row[c];
        for (int c = 0; c < CLASSES; c++)
            sum += exp((double)row[c] - max);
        loss += -((double)row[label[i]] - max - log(sum));
        right += best == label[i];
    }
    cr_assert(fabs(loss / (double)count - want_loss) <= 0.5e-4 + 1e-9,
              "test loss %.6f from gat-infer's output, gat-train printed %.4f",
              loss / (double)count, want_loss);
    cr_assert(fabs((double)right / (double)count - want_acc) <= 0.5e-4 + 1e-9,
              "test accuracy %.6f from gat-infer's output, gat-train printed %.4f",
              (double)right / (double)count, want_acc);
    /* gat-infer's own report of them. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' --graph edges.txt --features features.npy --weights m.safetensors "
             "--quiet --out y2.npy --labels labels.npy --eval-nodes test.npy",
             tmpdir, GAT_INFER);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    char want_line[128], got_line[512] = "";
    snprintf(want_line, sizeof want_line, "test.npy: %d nodes, loss %.4f, accuracy %.4f\n",
             NODES - 150, want_loss, want_acc);
    cr_assert_not_null(fgets(got_line, sizeof got_line, p));
    cr_assert_eq(pclose(p), 0);
    cr_assert_str_eq(got_line, want_line);
    cr_assert(memcmp(y->data, raw->data, sizeof(float) * NODES * CLASSES) != 0,
              "the recorded normalisation changed nothing: the test proves nothing");
    gat_array_destroy(&y);
    gat_array_destroy(&raw);
    gat_array_destroy(&labels);
    gat_context_destroy(&ctx);
}

/* Messages that point at the cause: the nearest option for a misspelt one,
 * a missing value, another kind of file given as the model, and where the
 * node count an edge id broke came from. */
Test(cli, messages_point_at_the_cause, .init = make_tmpdir, .fini = remove_tmpdir)
{
    run_result r = run(GAT_INFER, "--grpah edges.txt");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "did you mean '--graph'?") != NULL, "%s", r.err);
    r = run(tool("gat-train"), "--presets cora");
    cr_assert(strstr(r.err, "did you mean '--preset'?") != NULL, "%s", r.err);
    r = run(GAT_INFER, "--weights");
    cr_assert(strstr(r.err, "option '--weights' needs a value") != NULL, "%s", r.err);
    r = run(GAT_INFER, "--quiet=yes");
    cr_assert(strstr(r.err, "option '--quiet' takes no value") != NULL, "%s", r.err);
    r = run(GAT_INFER, "--xyzzy");
    cr_assert(strstr(r.err, "unknown or incomplete option '--xyzzy'") != NULL, "%s", r.err);
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE "/edges.txt --out y.npy"),
                          "not a safetensors file (it starts with text");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE "/x.npy --out y.npy"),
                          "not a safetensors file (it starts with NumPy's .npy magic");
    write_file("far.txt", "0 1\n1 9\n");
    expect_one_line_error(run(GAT_INFER, "--graph far.txt --features " PYG_CASE
                                         "/x.npy --weights " PYG_CASE "/model.safetensors --out y.npy"),
                          "(N is the row count of " PYG_CASE "/x.npy)");
    cr_assert_eq(count_files(), 1); /* far.txt */
}

/* gat-train's output is open (its temporary file made) from the start: a
 * SIGTERM during training removes it, then ends the process as SIGTERM. */
Test(cli, train_interrupted_leaves_no_temporary_file, .init = make_tmpdir, .fini = remove_tmpdir)
{
    test_deadline(30);
    const char *train = tool("gat-train");
    char data[512];
    snprintf(data, sizeof data, "%s/ds", tmpdir);
    cr_assert_eq(mkdir(data, 0755), 0);
    copy_file(TRAIN_CASE "/edges.txt", "ds/edges.txt");
    copy_file(TRAIN_CASE "/x.npy", "ds/features.npy");
    copy_file(TRAIN_CASE "/labels.npy", "ds/labels.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/train.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/val.npy");
    copy_file(TRAIN_CASE "/train.npy", "ds/test.npy");
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(tmpdir) != 0 || freopen("/dev/null", "w", stdout) == NULL ||
            freopen("/dev/null", "w", stderr) == NULL)
            _exit(3);
        execl(train, train, "--data", "ds", "--progress", "none", "--epochs", "100000000",
              "--patience", "100000000", "--save", "m.safetensors", (char *)NULL);
        _exit(4);
    }
    /* Wait for the temporary file (the run has started), then interrupt. */
    int status;
    for (int k = 0; k < 1000 && test_count_entries(tmpdir, ".tmp.") == 0; k++) {
        cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "gat-train ended: status %d", status);
        usleep(10000);
    }
    cr_assert_eq(test_count_entries(tmpdir, ".tmp."), 1, "no temporary file appeared");
    usleep(50000);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %d", status);
    cr_assert_eq(count_files(), 1, "the temporary file stayed (ds is the only entry left)");
}

/* ------------------------------------------------------------------------ */
/* The GAT family (issue 15): gat-init's layer options, gat-infer's edge    */
/* attributes and bipartite features                                        */

#define FAMILY_CASE GAT_TEST_DATA "/family"

Test(cli, family_init_and_infer, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const char *init = tool("gat-init");
    run_result r = run(init, "--in-features 5 --layers 2x3,1x2:mean:gat --layer-type gatv2 "
                             "--edge-dim 2 --fill-value 0.5 --residual --seed 3 m.safetensors");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    gat_context *ctx = test_context(1, NULL);
    gat_model *m = NULL;
    cr_assert_eq(gat_model_load(ctx, &m, path), GAT_OK, "%s", gat_context_message(ctx));
    gat_layer_config c;
    gat_model_layer_config(m, 0, &c);
    cr_assert(c.type == GAT_LAYER_GATV2 && c.edge_dim == 2 && c.residual &&
              c.fill_value == GAT_FILL_CONSTANT && c.fill_constant == 0.5f);
    gat_model_layer_config(m, 1, &c);
    cr_assert(c.type == GAT_LAYER_GAT && !c.concat && c.edge_dim == 2);
    gat_model_destroy(&m);
    gat_context_destroy(&ctx);

    /* edge_attr of three_layers_mixed: 47 edges x 2. */
    copy_file(FAMILY_CASE "/three_layers_mixed/edge_attr.npy", "a.npy");
    copy_file(FAMILY_CASE "/three_layers_mixed/edges.txt", "e.txt");
    copy_file(FAMILY_CASE "/three_layers_mixed/x.npy", "x16.npy");
    expect_one_line_error(run(GAT_INFER, "--graph e.txt --features x16.npy --weights "
                                         "m.safetensors --out y.npy --quiet"),
                          "--edge-attr is required");
    r = run(init, "--in-features 5 --layers 2x3 --edge-dim 3 m3.safetensors");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    expect_one_line_error(run(GAT_INFER, "--graph e.txt --features x16.npy --weights "
                                         "m3.safetensors --edge-attr a.npy --out y.npy --quiet"),
                          "a.npy: 2 columns, but m3.safetensors's layers have edge_dim 3");
    expect_one_line_error(run(GAT_INFER, "--graph " PYG_CASE "/edges.txt "
                                         "--features x16.npy --weights m.safetensors "
                                         "--edge-attr a.npy --out y.npy --quiet"),
                          "a.npy: 47 rows, but");
    cr_assert_eq(count_files(), 5);
    r = run(GAT_INFER, "--graph e.txt --features x16.npy --weights m.safetensors "
                       "--edge-attr a.npy --out y.npy --attention att.npy --quiet");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(exists("y.npy") && exists("att.npy"));
}

/* A bipartite case through the tool gives the stored PyTorch results. */
Test(cli, family_bipartite_infer, .init = make_tmpdir, .fini = remove_tmpdir)
{
    run_result r = run(GAT_INFER, "--graph " FAMILY_CASE "/bipartite_gat/edges.txt "
                                  "--features-src " FAMILY_CASE "/bipartite_gat/x.npy "
                                  "--features-dst " FAMILY_CASE "/bipartite_gat/x_dst.npy "
                                  "--edge-attr " FAMILY_CASE "/bipartite_gat/edge_attr.npy "
                                  "--weights " FAMILY_CASE "/bipartite_gat/model.safetensors "
                                  "--out y.npy --quiet");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char path[512];
    snprintf(path, sizeof path, "%s/y.npy", tmpdir);
    gat_context *ctx = test_context(1, NULL);
    gat_array *got = NULL, *want = NULL;
    cr_assert_eq(gat_npy_read(ctx, path, GAT_FLOAT32, &got), GAT_OK);
    cr_assert_eq(gat_npy_read(ctx, FAMILY_CASE "/bipartite_gat/out.npy", GAT_FLOAT32, &want),
                 GAT_OK);
    cr_assert(got->shape[0] == 12 && got->shape[1] == want->shape[1]);
    /* 1e-4 relative: the reference tests' tolerance (tests/test_family_pyg.c). */
    test_compare_reference("bipartite_gat", "gat-infer out", got->data, want->data, 12,
                           want->shape[1], 1e-4, 1e-5);
    gat_array_destroy(&got);
    gat_array_destroy(&want);
    gat_context_destroy(&ctx);
    expect_usage_error(run(GAT_INFER, "--graph e.txt --features-src x.npy --weights m "
                                      "--out y.npy"),
                       "--features-src and --features-dst go together");
}

/* A .gcsr keeps each edge's input position and a bipartite graph's source
 * count: gat-infer with --edge-attr in edge-list order gives the text
 * graph's bits, for a graph and a bipartite block. */
Test(cli, gcsr_pairs_edge_attributes_and_keeps_bipartite_graphs, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    const char *convert = tool("gat-convert");
#define FAM GAT_TEST_DATA "/family/"
    const char *cases[] = {"edge_mean_mixed", "bipartite_gatv2"}; /* 20 -> 15 nodes */
    for (int c = 0; c < 2; c++) {
        const bool bip = c == 1;
        char args[1024], cmd[2048];
        if (!bip)
            snprintf(args, sizeof args, "--quiet " FAM "%s/edges.txt g%d.gcsr", cases[c], c);
        else
            snprintf(args, sizeof args, "--quiet --src-nodes 20 --nodes 15 " FAM "%s/edges.txt "
                     "g%d.gcsr", cases[c], c);
        run_result r = run(convert, args);
        cr_assert_eq(r.exit_code, 0, "%s", r.err);
        for (int g = 0; g < 2; g++) {
            char graph[512], features[1024];
            if (g == 0)
                snprintf(graph, sizeof graph, FAM "%s/edges.txt", cases[c]);
            else
                snprintf(graph, sizeof graph, "g%d.gcsr", c);
            if (bip)
                snprintf(features, sizeof features, "--features-src " FAM "%s/x.npy "
                         "--features-dst " FAM "%s/x_dst.npy", cases[c], cases[c]);
            else
                snprintf(features, sizeof features, "--features " FAM "%s/x.npy", cases[c]);
            snprintf(cmd, sizeof cmd, "--quiet --graph %s %s --weights " FAM "%s/model.safetensors"
                     " --edge-attr " FAM "%s/edge_attr.npy --out y%d.npy", graph, features,
                     cases[c], cases[c], g);
            r = run(GAT_INFER, cmd);
            cr_assert_eq(r.exit_code, 0, "%s: %s", cmd, r.err);
        }
        snprintf(cmd, sizeof cmd, "cmp -s '%s/y0.npy' '%s/y1.npy'", tmpdir, tmpdir);
        cr_assert_eq(system(cmd), 0, "%s: gat-infer on .gcsr and on text differ", cases[c]);
        /* Back to text: the input order, so the attributes still pair. */
        snprintf(cmd, sizeof cmd, "cd '%s' && grep -v '^#' " FAM
                 "%s/edges.txt | tr ' ' '\\t' > want.txt", tmpdir, cases[c]);
        cr_assert_eq(system(cmd), 0);
        snprintf(args, sizeof args, "--quiet --to-edgelist g%d.gcsr back.txt", c);
        cr_assert_eq(run(convert, args).exit_code, 0);
        snprintf(cmd, sizeof cmd, "cd '%s' && grep -v '^#' back.txt | cmp -s - want.txt", tmpdir);
        cr_assert_eq(system(cmd), 0, "%s: --to-edgelist is not in input order", cases[c]);
    }
    /* A bipartite layer needs both feature files. */
    expect_one_line_error(run(GAT_INFER, "--quiet --graph g1.gcsr --features " FAM
                                         "bipartite_gatv2/x.npy "
                                         "--weights " FAM "bipartite_gatv2/model.safetensors "
                                         "--edge-attr " FAM "bipartite_gatv2/edge_attr.npy "
                                         "--out z.npy"),
                          "x_dst is required");
    expect_one_line_error(run(convert, "--quiet --src-nodes 5 " FAM "bipartite_gatv2/edges.txt "
                                       "b.gcsr"),
                          "sources must be in [0, 5)");
#undef FAM
}
