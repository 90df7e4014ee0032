/*
 * Output files (issue 13): where the data goes for every kind of target,
 * every write error reported, several outputs all or none, a process killed
 * while writing leaving the old or the new file, and inputs that never
 * block (a FIFO with no writer).
 */
#include "gat.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static gat_context *ctx;

static void setup(void)
{
    test_make_temp_dir(dir, sizeof dir, "gat-outputs");
    ctx = test_context(1, NULL);
}

static void teardown(void)
{
    gat_context_destroy(&ctx);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

/* Files in folder whose name holds ".tmp.": temporary files left behind. */
static int temporaries(const char *folder)
{
    return test_count_entries(folder, ".tmp.");
}

/* An [rows, 4] float32 array of `value` to path. */
static gat_status write_filled(const char *path, int64_t rows, float value)
{
    float *data = malloc((size_t)rows * 4 * sizeof *data);
    cr_assert_not_null(data);
    for (int64_t k = 0; k < rows * 4; k++)
        data[k] = value;
    const int64_t shape[2] = {rows, 4};
    gat_status status = gat_npy_write_f32(ctx, path, data, 2, shape);
    free(data);
    return status;
}

/* path holds a complete [rows, 4] array whose values are all one number;
 * returns it. */
static float read_filled(const char *path, int64_t rows)
{
    gat_array *a = NULL;
    gat_status status = gat_npy_read(ctx, path, GAT_FLOAT32, &a);
    cr_assert_eq(status, GAT_OK, "%s: %s", path, gat_context_message(ctx));
    cr_assert_eq(a->shape[0], rows);
    const float *v = a->data;
    for (int64_t k = 1; k < rows * 4; k++)
        cr_assert_eq(v[k], v[0], "%s: value %lld is %g, value 0 is %g: a mix of two writes",
                     path, (long long)k, v[k], v[0]);
    float value = v[0];
    gat_array_destroy(&a);
    return value;
}

static void expect_failure(gat_status status, gat_status want, const char *needle)
{
    const char *msg = gat_context_message(ctx);
    cr_assert_eq(status, want, "status %s, message: %s", gat_status_str(status), msg);
    cr_assert_not_null(strstr(msg, needle), "'%s' not in: %s", needle, msg);
}

Test(outputs, full_device_fails_and_null_stays_a_device, .init = setup, .fini = teardown)
{
    expect_failure(write_filled("/dev/full", 10, 1.0f), GAT_ERR_IO, "No space left");
    struct stat info;
    cr_assert_eq(stat("/dev/full", &info), 0);
    cr_assert(S_ISCHR(info.st_mode), "/dev/full is no longer a device");
    cr_assert_eq(write_filled("/dev/null", 10, 1.0f), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_eq(stat("/dev/null", &info), 0);
    cr_assert(S_ISCHR(info.st_mode), "/dev/null is no longer a character device");
    cr_assert_eq(temporaries("/dev"), 0);
}

/* A small tmpfs fills up (root); elsewhere the file-size limit stands in
 * for a full file system: writes past it fail with EFBIG in a child. */
Test(outputs, full_file_system_keeps_the_old_file, .init = setup, .fini = teardown)
{
    const char *mnt = in_dir("small");
    cr_assert_eq(mkdir(mnt, 0755), 0);
    const char *target = in_dir("small/y.npy");
    if (mount("none", mnt, "tmpfs", 0, "size=64k") == 0) {
        cr_assert_eq(write_filled(target, 16, 7.0f), GAT_OK); /* the old file */
        expect_failure(write_filled(target, 8192, 8.0f), GAT_ERR_IO, "No space left");
        cr_assert_eq(read_filled(target, 16), 7.0f);
        cr_assert_eq(temporaries(mnt), 0);
        cr_assert_eq(umount(mnt), 0);
        return;
    }
    cr_assert_eq(write_filled(target, 16, 7.0f), GAT_OK);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &limit);
        gat_status status = write_filled(target, 8192, 8.0f);
        _exit(status == GAT_ERR_IO && strstr(gat_context_message(ctx), "too large") ? 0 : 1);
    }
    int wstatus;
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    cr_assert_eq(read_filled(target, 16), 7.0f);
    cr_assert_eq(temporaries(mnt), 0);
}

Test(outputs, symlink_stays_and_its_target_gets_the_data, .init = setup, .fini = teardown)
{
    cr_assert_eq(mkdir(in_dir("data"), 0755), 0);
    cr_assert_eq(write_filled(in_dir("data/y.npy"), 3, 1.0f), GAT_OK);
    /* Relative links, resolved from the link's own folder, two in a row. */
    cr_assert_eq(symlink("data/y.npy", in_dir("link.npy")), 0);
    cr_assert_eq(symlink("link.npy", in_dir("link2.npy")), 0);
    cr_assert_eq(write_filled(in_dir("link2.npy"), 5, 2.0f), GAT_OK, "%s",
                 gat_context_message(ctx));
    struct stat info;
    cr_assert_eq(lstat(in_dir("link.npy"), &info), 0);
    cr_assert(S_ISLNK(info.st_mode), "the link was replaced");
    cr_assert_eq(lstat(in_dir("link2.npy"), &info), 0);
    cr_assert(S_ISLNK(info.st_mode), "the link was replaced");
    cr_assert_eq(read_filled(in_dir("data/y.npy"), 5), 2.0f);
    /* A dangling link: the file is made where it points. */
    cr_assert_eq(symlink("data/new.npy", in_dir("dangling.npy")), 0);
    cr_assert_eq(write_filled(in_dir("dangling.npy"), 2, 3.0f), GAT_OK);
    cr_assert_eq(lstat(in_dir("dangling.npy"), &info), 0);
    cr_assert(S_ISLNK(info.st_mode));
    cr_assert_eq(read_filled(in_dir("data/new.npy"), 2), 3.0f);
    cr_assert_eq(temporaries(dir), 0);
    cr_assert_eq(temporaries(in_dir("data")), 0);
}

typedef struct fifo_reader {
    int fd;
    char *data;
    size_t size;
} fifo_reader;

static void *read_fifo(void *arg)
{
    fifo_reader *r = arg;
    size_t cap = 1 << 20;
    r->data = malloc(cap);
    for (;;) {
        ssize_t n = read(r->fd, r->data + r->size, cap - r->size);
        if (n <= 0)
            break;
        r->size += (size_t)n;
    }
    return NULL;
}

Test(outputs, fifo_output_is_written_in_place, .init = setup, .fini = teardown)
{
    test_deadline(10);
    const char *fifo = in_dir("out.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* Nobody reads it: an error at once, not a wait. */
    expect_failure(write_filled(fifo, 3, 1.0f), GAT_ERR_IO, "no process is reading");

    /* A reader (opened without waiting for a writer) reads while 40 KB go
     * out, more than a pipe holds. */
    fifo_reader r = {open(fifo, O_RDONLY | O_NONBLOCK), NULL, 0};
    cr_assert_geq(r.fd, 0);
    gat_output *out = NULL;
    cr_assert_eq(gat_output_open(ctx, &out, fifo, NULL, 0), GAT_OK, "%s",
                 gat_context_message(ctx));
    cr_assert_eq(fcntl(r.fd, F_SETFL, 0), 0); /* the writer is there: reads may wait */
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, read_fifo, &r), 0);
    static float data[10000][4];
    for (int k = 0; k < 10000; k++)
        data[k][0] = data[k][1] = data[k][2] = data[k][3] = 5.0f;
    const int64_t shape[2] = {10000, 4};
    cr_assert_eq(gat_npy_write_f32_to(ctx, out, &data[0][0], 2, shape), GAT_OK);
    cr_assert_eq(gat_output_commit(ctx, &out, 1), GAT_OK, "%s", gat_context_message(ctx));
    cr_assert_null(out);
    pthread_join(thread, NULL);
    close(r.fd);
    /* What came through is the same file a regular target gets. */
    cr_assert_eq(write_filled(in_dir("y.npy"), 10000, 5.0f), GAT_OK);
    struct stat info;
    cr_assert_eq(stat(in_dir("y.npy"), &info), 0);
    cr_assert_eq((off_t)r.size, info.st_size);
    FILE *f = fopen(in_dir("y.npy"), "rb");
    char *want = malloc(r.size);
    cr_assert_eq(fread(want, 1, r.size, f), r.size);
    fclose(f);
    cr_assert_eq(memcmp(want, r.data, r.size), 0);
    free(want);
    free(r.data);
    cr_assert_eq(stat(fifo, &info), 0);
    cr_assert(S_ISFIFO(info.st_mode));
}

Test(outputs, fifo_input_without_writer_never_blocks, .init = setup, .fini = teardown)
{
    test_deadline(10);
    const char *fifo = in_dir("in.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    gat_graph *g = NULL;
    expect_failure(gat_graph_read(ctx, &g, fifo, 4), GAT_ERR_IO, "no process had it open");
    expect_failure(gat_graph_read_edgelist(ctx, &g, fifo, 4), GAT_ERR_IO,
                   "no process had it open");
    gat_array *a = NULL;
    expect_failure(gat_npy_read(ctx, fifo, GAT_FLOAT32, &a), GAT_ERR_IO,
                   "must be a regular file");
    gat_model *m = NULL;
    expect_failure(gat_model_load(ctx, &m, fifo), GAT_ERR_IO, "must be a regular file");
    expect_failure(gat_graph_load(ctx, &g, fifo, 0), GAT_ERR_IO, "must be a regular file");
}

Test(outputs, several_outputs_commit_all_or_none, .init = setup, .fini = teardown)
{
    const float values[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {1, 4};
    gat_output *outs[2] = {NULL, NULL};
    cr_assert_eq(gat_output_open(ctx, &outs[0], in_dir("a.npy"), NULL, 0), GAT_OK);
    cr_assert_eq(gat_output_open(ctx, &outs[1], "/dev/full", NULL, 0), GAT_OK);
    cr_assert_eq(gat_npy_write_f32_to(ctx, outs[0], values, 2, shape), GAT_OK);
    cr_assert_eq(gat_npy_write_f32_to(ctx, outs[1], values, 2, shape), GAT_OK);
    expect_failure(gat_output_commit(ctx, outs, 2), GAT_ERR_IO, "/dev/full");
    cr_assert_null(outs[0]);
    cr_assert_null(outs[1]);
    cr_assert_neq(access(in_dir("a.npy"), F_OK), 0, "a.npy was written although /dev/full failed");
    cr_assert_eq(temporaries(dir), 0);

    /* Two names of one file are refused before anything is written. */
    cr_assert_eq(symlink("b.npy", in_dir("b_link.npy")), 0);
    cr_assert_eq(gat_output_open(ctx, &outs[0], in_dir("b.npy"), NULL, 0), GAT_OK);
    cr_assert_eq(gat_output_open(ctx, &outs[1], in_dir("b_link.npy"), NULL, 0), GAT_OK);
    expect_failure(gat_output_check_distinct(ctx, outs, 2), GAT_ERR_INVALID, "same file");
    gat_output_discard(&outs[0]);
    gat_output_discard(&outs[1]);
    cr_assert_eq(temporaries(dir), 0);
}

Test(outputs, refused_targets, .init = setup, .fini = teardown)
{
    gat_output *out = NULL;
    /* An input, also named through a symlink. */
    cr_assert_eq(write_filled(in_dir("x.npy"), 2, 1.0f), GAT_OK);
    cr_assert_eq(symlink("x.npy", in_dir("x_link.npy")), 0);
    const char *inputs[2] = {in_dir("other.npy"), in_dir("x_link.npy")};
    expect_failure(gat_output_open(ctx, &out, in_dir("x.npy"), inputs, 2), GAT_ERR_INVALID,
                   "is the input");
    cr_assert_null(out);
    /* A missing folder, a directory, a socket nobody holds. */
    expect_failure(gat_output_open(ctx, &out, in_dir("nowhere/y.npy"), NULL, 0), GAT_ERR_IO,
                   "does not exist");
    expect_failure(gat_output_open(ctx, &out, dir, NULL, 0), GAT_ERR_IO, "directory");
    cr_assert_eq(temporaries(dir), 0);
    cr_assert_eq(read_filled(in_dir("x.npy"), 2), 1.0f);
}

/* An existing writable file in a folder the user cannot write: the message
 * blames the folder (where the temporary file goes), not the file. Root
 * writes anywhere, so the check runs as nobody in a child. */
Test(outputs, unwritable_folder_is_blamed, .init = setup, .fini = teardown)
{
    const char *ro = in_dir("ro");
    cr_assert_eq(mkdir(ro, 0755), 0);
    cr_assert_eq(write_filled(in_dir("ro/y.npy"), 2, 1.0f), GAT_OK);
    cr_assert_eq(chmod(in_dir("ro/y.npy"), 0666), 0);
    cr_assert_eq(chmod(ro, 0555), 0);
    cr_assert_eq(chmod(dir, 0755), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(2);
        gat_status status = write_filled(in_dir("ro/y.npy"), 2, 2.0f);
        const char *msg = gat_context_message(ctx);
        ssize_t written = write(fds[1], msg, strlen(msg));
        _exit(status == GAT_ERR_IO && written > 0 ? 0 : 1);
    }
    close(fds[1]);
    char msg[1024] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    msg[n > 0 ? n : 0] = '\0';
    int wstatus;
    cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
    cr_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "child: %s", msg);
    cr_assert_not_null(strstr(msg, "temporary file in the folder"), "%s", msg);
    cr_assert_not_null(strstr(msg, "Permission denied"), "%s", msg);
    cr_assert_eq(chmod(ro, 0755), 0);
    cr_assert_eq(read_filled(in_dir("ro/y.npy"), 2), 1.0f);
}

/* kill -9 at a random moment while a child writes the target over and
 * over, each time with another value: afterwards the target is a complete
 * file of one value (the old one or one of the new ones), never a part. */
Test(outputs, killed_writer_leaves_old_or_new_file, .init = setup, .fini = teardown)
{
    test_deadline(60);
    const char *target = in_dir("y.npy");
    const int64_t rows = 1 << 15; /* 512 KiB */
    cr_assert_eq(write_filled(target, rows, -1.0f), GAT_OK);
    uint64_t seed = (uint64_t)time(NULL);
    int changed = 0, mid_write = 0;
    for (int trial = 0; trial < 20; trial++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 1;; k++)
                write_filled(target, rows, (float)(trial * 1000 + k));
        }
        struct timespec pause = {0, (long)(test_next(&seed) % 30000000)}; /* 0-30 ms */
        nanosleep(&pause, NULL);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int wstatus;
        cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
        float value = read_filled(target, rows);
        changed += value >= (float)(trial * 1000);
        mid_write += temporaries(dir) > 0;
        /* What a killed writer leaves is its temporary file, never the target. */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*.tmp.*", dir);
        cr_assert_eq(system(cmd), 0);
    }
    cr_log_info("killed writer: %d of 20 kills mid-write, the target changed in %d (seed %llu)",
                mid_write, changed, (unsigned long long)seed);
}
