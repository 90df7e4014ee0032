/*
 * The command-line tools as a user meets them: exit codes, one clear line
 * on stderr per error, no signal, no partial output file.
 */
#include "gat.h"

#include <criterion/criterion.h>
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
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", tmpdir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    cr_assert_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
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
