/*
 * Runs the tests registered by the stand-in <criterion/criterion.h> (see
 * there) in this process, one after the other, for ThreadSanitizer:
 *
 *   gat-tests-tsan [--filter SUITE/NAME-PATTERN] [any Criterion option, ignored]
 *
 * The pattern is matched with fnmatch, as Criterion's --filter is. Prints
 * one line per test and ends with a line in the form of Criterion's
 * synthesis; exits 1 when a test failed or when no test matched (a filter
 * that selects nothing tests nothing). A fatal check ends the process at
 * once, so later tests do not run.
 */
#include <criterion/criterion.h>

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct shim_test *registered; /* in reverse order of registration */
static int failed_checks;            /* of the test running now */

void shim_register(struct shim_test *test)
{
    test->next = registered;
    registered = test;
}

void shim_check_failed(bool fatal, const char *file, int line, const char *expression,
                       const char *format, ...)
{
    fprintf(stderr, "[FAIL] %s:%d: %s", file, line, expression);
    if (format[0] != '\0') {
        va_list args;
        va_start(args, format);
        fputs(": ", stderr);
        vfprintf(stderr, format, args);
        va_end(args);
    }
    fputc('\n', stderr);
    failed_checks++;
    if (fatal) {
        fprintf(stderr, "[====] Synthesis: a fatal check failed (the tests after it did not run)\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *filter = "*";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--filter") == 0)
            filter = argv[++i];
    /* Registration order reversed back: the order of the source files. */
    struct shim_test *order = NULL;
    while (registered != NULL) {
        struct shim_test *t = registered;
        registered = t->next;
        t->next = order;
        order = t;
    }
    int tested = 0, failing = 0;
    for (struct shim_test *t = order; t != NULL; t = t->next) {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", t->test_suite, t->test_name);
        if (fnmatch(filter, full, 0) != 0)
            continue;
        failed_checks = 0;
        if (t->init != NULL)
            t->init();
        t->body();
        if (t->fini != NULL)
            t->fini();
        tested++;
        failing += failed_checks > 0;
        printf("[%s] %s\n", failed_checks > 0 ? "FAIL" : "PASS", full);
        fflush(stdout);
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n", tested,
           tested - failing, failing);
    return tested > 0 && failing == 0 ? 0 : 1;
}
