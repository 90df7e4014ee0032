/*
 * A stand-in for <criterion/criterion.h>, enough of it to compile the suites
 * ThreadSanitizer runs (tests/meson.build lists them) into one program that
 * runs its tests in its own process, one after the other (tests/tsan/runner.c).
 * Criterion 2.4 cannot start under ThreadSanitizer: its sandbox's shared
 * arena collides with the sanitizer's memory map ("Could not initialize
 * inheritable arena", or a SEGV in criterion_run_all_tests; Snaipe/Criterion
 * issue 274). Only what those suites use is here; a missing macro is a
 * compile error, not a silent pass.
 */
#ifndef GAT_TSAN_CRITERION_H
#define GAT_TSAN_CRITERION_H

#include <stdbool.h>
#include <stddef.h>

struct shim_test {
    const char *test_suite, *test_name; /* not suite, name: Test's parameters */
    void (*body)(void);
    /* Criterion's .init, .fini, .description and .timeout (not enforced). */
    void (*init)(void), (*fini)(void);
    const char *description;
    double timeout;
    struct shim_test *next;
};

void shim_register(struct shim_test *test);
/* A failed check: says where and why; a fatal one ends the process. */
void shim_check_failed(bool fatal, const char *file, int line, const char *expression,
                       const char *format, ...) __attribute__((format(printf, 5, 6)));

#define Test(suite, name, ...)                                                                 \
    static void suite##_##name##_run(void);                                                    \
    static struct shim_test suite##_##name##_test = {                                          \
        .test_suite = #suite, .test_name = #name, .body = suite##_##name##_run, __VA_ARGS__};             \
    __attribute__((constructor)) static void suite##_##name##_register(void)                  \
    {                                                                                          \
        shim_register(&suite##_##name##_test);                                                 \
    }                                                                                          \
    static void suite##_##name##_run(void)

/* The message arguments are optional, as in Criterion: "" pastes onto the
 * format string when there is one. */
#define shim_check(fatal, ok, expression, ...)                                                 \
    do {                                                                                       \
        if (!(ok))                                                                             \
            shim_check_failed(fatal, __FILE__, __LINE__, expression, "" __VA_ARGS__);          \
    } while (0)

#define cr_assert(c, ...) shim_check(true, c, #c, __VA_ARGS__)
#define cr_expect(c, ...) shim_check(false, c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) shim_check(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) shim_check(true, false, "cr_assert_fail", __VA_ARGS__)
#define shim_compare(fatal, a, op, b, ...) shim_check(fatal, (a)op(b), #a " " #op " " #b, __VA_ARGS__)
#define cr_assert_eq(a, b, ...) shim_compare(true, a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) shim_compare(true, a, !=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) shim_compare(true, a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) shim_compare(true, a, <=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) shim_compare(true, a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) shim_compare(true, a, >=, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) shim_compare(false, a, ==, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) shim_compare(false, a, !=, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) shim_compare(false, a, <, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) shim_compare(false, a, <=, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) shim_compare(false, a, >, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) shim_compare(false, a, >=, b, __VA_ARGS__)
#define cr_assert_null(p, ...) shim_compare(true, (const void *)(p), ==, NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) shim_compare(true, (const void *)(p), !=, NULL, __VA_ARGS__)
#define cr_expect_null(p, ...) shim_compare(false, (const void *)(p), ==, NULL, __VA_ARGS__)
#define cr_expect_not_null(p, ...) shim_compare(false, (const void *)(p), !=, NULL, __VA_ARGS__)
#define cr_log_info(...) ((void)0)

#endif
