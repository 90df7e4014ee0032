#!/usr/bin/env bash
# One entry point for a fresh Debian machine (as root): installs what is
# missing, configures and builds, then runs the benchmark or the tests.
#
#   bash tools/run.sh bench [gat-bench options]   # main job (embedded default graph)
#   bash tools/run.sh test                        # the whole test suite
#   bash tools/run.sh build                       # only install + build
#
# Idempotent: packages already present are not reinstalled, an existing
# build folder is reused. BUILD_DIR overrides the folder (default: build).
#
# `test` (what CI runs) does three things, each of which must pass:
#   1. the suite again in a second tree built with AddressSanitizer and
#      UndefinedBehaviorSanitizer (BUILD_DIR-asan; any sanitizer report
#      fails the step, even one printed by a test that Criterion counted as
#      passing, such as a leak found when the test's process exits);
#   2. a fuzz smoke: tools/fuzz.sh runs every libFuzzer target for
#      GAT_FUZZ_SECONDS (default 20) seconds (BUILD_DIR-fuzz, clang);
#   3. the suite in the normal tree, last, so that the output ends with its
#      Criterion synthesis line.
# GAT_QUICK=1 skips 1 and 2 (a developer's quick run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
mode=${1:-bench}
shift || true

# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"

configure_and_build() {
    mkdir -p "$build"
    local log=$build/run-sh.log
    if [[ -f $build/build.ninja ]]; then
        meson setup --reconfigure "$build" "$root" >"$log" 2>&1 || { cat "$log"; exit 1; }
    else
        meson setup "$build" "$root" >"$log" 2>&1 || { cat "$log"; exit 1; }
    fi
    ninja -C "$build" >"$log" 2>&1 || { cat "$log"; exit 1; }
}

install_missing run.sh "${build_packages[@]}"
configure_and_build
# The suite under ASan + UBSan. Criterion reports a test as passed before
# its process exits, where LeakSanitizer runs, so the log is searched too.
sanitized_suite() {
    local asan=${ASAN_BUILD_DIR:-$build-asan} log
    mkdir -p "$asan"
    log=$asan/run-sh.log
    if [[ -f $asan/build.ninja ]]; then
        meson setup --reconfigure "$asan" "$root" >"$log" 2>&1 || { cat "$log"; exit 1; }
    else
        # debugoptimized: -O2 -g, so that reports name files and lines.
        meson setup "$asan" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
            --buildtype=debugoptimized >"$log" 2>&1 || { cat "$log"; exit 1; }
    fi
    ninja -C "$asan" >"$log" 2>&1 || { cat "$log"; exit 1; }
    echo "run.sh: the suite under AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
    local out=$asan/suite.log rc=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$asan/tests/gat-tests" --jobs "$(nproc)" "$@" 2>&1 | tee "$out" || rc=$?
    if ((rc != 0)) || grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out"; then
        grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out" | head -60 || true
        echo "run.sh: the sanitized suite failed (exit $rc; full log: $out)" >&2
        exit 1
    fi
}

case $mode in
bench) exec "$build/benchmarks/gat-bench" "$@" ;;
test)
    bash "$root/tools/check_layers.sh" "$root"
    if [[ ${GAT_QUICK:-0} != 1 ]]; then
        sanitized_suite "$@"
        FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$build-fuzz} bash "$root/tools/fuzz.sh" \
            "${GAT_FUZZ_SECONDS:-20}"
        echo "run.sh: the suite ($build)"
    fi
    exec "$build/tests/gat-tests" --jobs "$(nproc)" "$@" ;;
build) echo "run.sh: built in $build" ;;
*) echo "run.sh: unknown mode '$mode' (bench, test or build)" >&2; exit 2 ;;
esac
