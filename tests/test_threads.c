/*
 * The thread-count policy (gat_max_threads): counts passed in and
 * OpenMP's default alike are refused above 4 per hardware thread (at most
 * 1024) with a message naming where the count came from, and a team the
 * system cannot start is a status, not OpenMP's abort.
 */
#include "gat.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* Creates a context of `threads` threads; on failure *message says why. */
static gat_status create(int threads, gat_context **ctx, char *message, size_t size)
{
    gat_context_options o;
    gat_context_options_init(&o);
    o.num_threads = threads;
    o.message = message;
    o.message_size = size;
    message[0] = '\0';
    return gat_context_create(ctx, &o);
}

static void expect_refused(int threads, const char *source)
{
    char message[512];
    gat_context *ctx = (gat_context *)&message; /* must be set to NULL */
    cr_assert_eq(create(threads, &ctx, message, sizeof message), GAT_ERR_INVALID,
                 "%d threads accepted", threads);
    cr_expect_null(ctx);
    cr_expect(strstr(message, source) != NULL, "'%s' not in: %s", source, message);
    cr_expect(strstr(message, "more than the limit") != NULL, "%s", message);
}

Test(threads, limit_is_tied_to_the_machine)
{
    const int limit = gat_max_threads();
    cr_expect_geq(limit, 4, "at least 4 per hardware thread");
    cr_expect_leq(limit, 1024);
    cr_expect_eq(limit % 4 == 0 || limit == 1024, true, "4 per hardware thread: %d", limit);
}

Test(threads, counts_above_the_limit_are_refused_naming_them)
{
    char number[32];
    const int limit = gat_max_threads();
    snprintf(number, sizeof number, "num_threads %d", limit + 1);
    expect_refused(limit + 1, number);
    expect_refused(4096, "num_threads 4096");
    expect_refused(100000, "num_threads 100000");
    expect_refused(2147483647, "num_threads 2147483647");

    /* The limit itself is a team that starts, and runs. */
    char message[512];
    gat_context *ctx = NULL;
    cr_assert_eq(create(limit, &ctx, message, sizeof message), GAT_OK, "%s", message);
    cr_expect_eq(gat_context_threads(ctx), limit);
    float x[4] = {1, 2, 3, 4};
    cr_expect_eq(gat_features_normalize_rows(ctx, x, 2, 2), GAT_OK);

    /* set_threads: the same rule; the context keeps its count. */
    cr_expect_eq(gat_context_set_threads(ctx, 4096), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), "num_threads 4096") != NULL, "%s",
              gat_context_message(ctx));
    cr_expect_eq(gat_context_threads(ctx), limit);
    cr_expect_eq(gat_context_set_threads(ctx, 2), GAT_OK);
    cr_expect_eq(gat_context_threads(ctx), 2);
    cr_expect_str_empty(gat_context_message(ctx));
    gat_context_destroy(&ctx);
}

/* The default count comes from OMP_NUM_THREADS, read by OpenMP at start;
 * the test sets both the variable (for the message) and OpenMP's value. */
Test(threads, openmp_default_above_the_limit_is_refused_naming_the_variable)
{
#ifdef _OPENMP
    cr_assert_eq(setenv("OMP_NUM_THREADS", "100000", 1), 0);
    omp_set_num_threads(100000);
    expect_refused(0, "OMP_NUM_THREADS=100000");
    /* A count passed in wins over the variable. */
    char message[512];
    gat_context *ctx = NULL;
    cr_expect_eq(create(2, &ctx, message, sizeof message), GAT_OK, "%s", message);
    cr_expect_eq(gat_context_set_threads(ctx, 0), GAT_ERR_INVALID);
    cr_expect(strstr(gat_context_message(ctx), "OMP_NUM_THREADS=100000") != NULL, "%s",
              gat_context_message(ctx));
    cr_expect_eq(gat_context_threads(ctx), 2);
    gat_context_destroy(&ctx);
#else
    cr_skip_test("built without OpenMP: the default is one thread");
#endif
}

Test(threads, other_bad_options_have_a_message)
{
    char message[512] = "";
    gat_context_options o;
    gat_context_options_init(&o);
    o.message = message;
    o.message_size = sizeof message;
    gat_context *ctx = NULL;
    o.num_threads = -1;
    cr_expect_eq(gat_context_create(&ctx, &o), GAT_ERR_INVALID);
    cr_expect(strstr(message, "num_threads -1") != NULL, "%s", message);
    o.num_threads = 1;
    o.pin = (gat_pin)7;
    cr_expect_eq(gat_context_create(&ctx, &o), GAT_ERR_INVALID);
    cr_expect(strstr(message, "pin 7") != NULL, "%s", message);
    /* A tiny buffer gets a cut, terminated message. */
    char tiny[8];
    o.message = tiny;
    o.message_size = sizeof tiny;
    cr_expect_eq(gat_context_create(&ctx, &o), GAT_ERR_INVALID);
    cr_expect_eq(strlen(tiny), sizeof tiny - 1);
    cr_expect_null(ctx);
}

/* With the address space limited to what the process has now plus 4 MiB,
 * no thread's 8 MiB stack can be mapped: OpenMP would abort ("Thread
 * creation failed"); the library reports it. */
Test(threads, a_team_that_cannot_start_is_an_error)
{
#if !defined(_OPENMP) || defined(UNDER_SANITIZER)
    cr_skip_test("needs OpenMP threads and an address space without sanitizer shadows");
#else
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    cr_assert(f != NULL && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)pages * 4096 + ((rlim_t)4 << 20);
    cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
    char message[512];
    gat_context *ctx = NULL;
    gat_status status = create(4, &ctx, message, sizeof message);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_expect_eq(status, GAT_ERR_NOMEM, "%s", message);
    cr_expect_null(ctx);
    cr_expect(strstr(message, "num_threads 4: cannot start a team of 4 threads") != NULL, "%s",
              message);
    /* With the limit lifted the same team starts. */
    cr_expect_eq(create(4, &ctx, message, sizeof message), GAT_OK, "%s", message);
    gat_context_destroy(&ctx);
#endif
}
