#!/usr/bin/env bash
# One entry point for a fresh Debian machine (as root): installs what is
# missing, configures and builds, then runs the benchmark or the tests.
#
#   bash tools/run.sh bench [gat-bench options]   # main job (embedded default graph)
#   bash tools/run.sh test [gat-tests options]    # the whole test suite
#   bash tools/run.sh build                       # only install + build
#
# Idempotent: packages already present are not reinstalled, an existing
# build folder is reused. BUILD_DIR overrides the folder (default: build);
# the other builds of `test` live beside it (BUILD_DIR-v3, BUILD_DIR-asan...).
#
# `test` (what CI runs; docs/builds.md) checks the layering, then builds and
# tests each of these, all of which must pass:
#   v3      gcc -Dnative=false -Dc_args=-march=x86-64-v3: the AVX2 + FMA paths
#   x86-64  gcc -Dnative=false: baseline x86-64 (SSE2, no FMA)
#   serial  gcc -Dopenmp=disabled: the library without OpenMP
#   scalar  gcc -Dnative=false -Dc_args=-DGAT_SIMD_SCALAR: the scalar back end
#   mpi     gcc -Dmpi=enabled: the MPI back end; the suite, then
#           tests/mpi_infer.sh (mpirun -np 1..5 gat-infer against one process)
#           and tests/mpi_train.sh (gradients and gat-train at 1..4 ranks)
#           and tools/check_install.sh on it (gat.pc brings the MPI library)
#   clang   clang, -march=native
#   asan    gcc, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan    clang, ThreadSanitizer, -Dopenmp=disabled: the tests TSAN_FILTER
#           selects, run in one process by tests/tsan/runner.c
#   fuzz    tools/fuzz.sh: each libFuzzer target for GAT_FUZZ_SECONDS (20) s
#   native  gcc, -march=native (BUILD_DIR)
#   python  tools/python_tests.sh: the Python package's pytest suite, on the
#           native build
#   install tools/check_install.sh: a staged install of the native build,
#           every program in examples/ built against it through pkg-config
#           (--libs and --static) and run
#   bits    tools/check_builds.sh: the builds that promise the same bits give
#           them, the others hold their tolerance
# The whole suite runs in every build but tsan. A sanitizer's report fails
# its build even when Criterion counted the test as passed (a leak is found
# when the test's process exits). A failing build is named at once and at
# the end, and fails the command; the builds after it still run. The output
# ends with one summary line per build (name, tests passed, seconds), then
# the native suite's Criterion synthesis line, which CI reads.
# GAT_QUICK=1 builds and tests only the native build (a developer's run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
mode=${1:-bench}
shift || true

# What ThreadSanitizer runs, of the suites tests/meson.build compiles into
# gat-tests-tsan (tsan_suites): the concurrent forwards on one shared model.
TSAN_FILTER=${TSAN_FILTER:-concurrency/*}

# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"

summary=()     # one line per build, printed at the end
failed=()      # the names of the builds that failed
suite_args=()  # the test command's own arguments, for every whole suite
build_start=0  # when the build being made began (SECONDS)

# record NAME WHAT START EXIT_CODE LOG: one summary line; a failure is said
# at once, naming the build, and again at the end.
record() {
    local status=ok
    if (($4 != 0)); then
        status="FAILED (exit $4; $5)"
        failed+=("$1")
        echo "run.sh: the $1 build FAILED (exit $4; $5)" >&2
    fi
    summary+=("$(printf '%-7s %-26s %5d s  %s' "$1" "$2" $((SECONDS - $3)) "$status")")
}

# configure_and_build DIR CC [MESON OPTION...]: configures DIR (the first
# time; later runs reconfigure it) and builds it, quietly unless it fails.
configure_and_build() {
    local dir=$1 cc=$2
    shift 2
    mkdir -p "$dir"
    local log=$dir/run-sh.log setup=(meson setup)
    [[ -f $dir/build.ninja ]] && setup+=(--reconfigure)
    CC=$cc "${setup[@]}" "$dir" "$root" "$@" >"$log" 2>&1 &&
        ninja -C "$dir" >>"$log" 2>&1 || { tail -40 "$log"; return 1; }
}

# compile NAME DIR CC [MESON OPTION...]: configure_and_build, a failure
# recorded as the build's. Its summary line counts from here.
compile() {
    local name=$1 dir=$2
    build_start=$SECONDS
    echo "run.sh: the $name build ($dir)"
    configure_and_build "$dir" "${@:3}" && return 0
    record "$name" "does not build" "$build_start" 1 "$dir/run-sh.log"
    return 1
}

# run_suite NAME DIR PROGRAM REPORT_PATTERN [option...]: DIR/tests/PROGRAM
# (the options, or else suite_args), its output in DIR/suite.log (and on the
# terminal for the native build). Fails on a failing test, on no test run (a
# filter that selects nothing tests nothing) and, if REPORT_PATTERN is not
# empty, on a line matching it.
run_suite() {
    local name=$1 dir=$2 program=$3 pattern=$4
    shift 4
    (($# > 0)) || set -- "${suite_args[@]}"
    local out=$dir/suite.log rc=0 synthesis tested passed
    "$dir/tests/$program" --jobs "$(nproc)" "$@" >"$out" 2>&1 || rc=$?
    [[ $name != native ]] || cat "$out"
    synthesis=$(grep 'Synthesis:' "$out" | tail -1 || true)
    tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$synthesis")
    passed=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$synthesis")
    ((rc != 0 || ${tested:-0} > 0)) || rc=1
    if ((rc == 0)) && [[ -n $pattern ]] && grep -qE "$pattern" "$out"; then
        grep -E -A12 "$pattern" "$out" | head -60
        rc=1
    fi
    record "$name" "${passed:-0} of ${tested:-0} tests passed" "$build_start" "$rc" "$out"
}

# One function per build kind.

# gcc_build NAME [MESON OPTION...]: the whole suite in gcc's BUILD_DIR-NAME.
gcc_build() {
    compile "$1" "$build-$1" gcc "${@:2}" && run_suite "$1" "$build-$1" gat-tests ''
}

clang_build() {
    compile clang "$build-clang" clang && run_suite clang "$build-clang" gat-tests ''
}

# debugoptimized (-O2 -g) for the sanitizers: their reports name lines.
asan_build() {
    compile asan "$build-asan" gcc -Db_sanitize=address,undefined -Db_lundef=false \
        --buildtype=debugoptimized || return 0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite asan "$build-asan" gat-tests 'ERROR: (Address|Leak)Sanitizer|runtime error:'
}

# Without OpenMP: libgomp is not instrumented, so TSan would take its
# barriers for races; the threads are the tests' own. OpenBLAS (not
# instrumented either) kept to one thread.
tsan_build() {
    compile tsan "$build-tsan" clang -Db_sanitize=thread -Db_lundef=false -Dopenmp=disabled \
        --buildtype=debugoptimized || return 0
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1 \
        run_suite tsan "$build-tsan" gat-tests-tsan 'ThreadSanitizer' --filter "$TSAN_FILTER"
}

# The MPI back end: the suite in a build with it, then the mpirun runs.
mpi_build() {
    compile mpi "$build-mpi" gcc -Dmpi=enabled || return 0
    run_suite mpi "$build-mpi" gat-tests ''
    tool_step mpirun "mpirun -np 1..5 gat-infer" bash "$root/tests/mpi_infer.sh" "$build-mpi"
    tool_step mpirun-train "mpirun -np 1..4 training" bash "$root/tests/mpi_train.sh" "$build-mpi"
    tool_step mpi-install "install the mpi build, link the examples" \
        bash "$root/tools/check_install.sh" "$build-mpi"
}

native_build() {
    compile native "$build" gcc && run_suite native "$build" gat-tests ''
}

# tool_step NAME WHAT COMMAND...: a step that is a script of its own.
tool_step() {
    local start=$SECONDS rc=0
    "${@:3}" || rc=$?
    record "$1" "$2" "$start" "$rc" "its output above"
}

case $mode in
bench | build)
    install_missing run.sh "${build_packages[@]}"
    configure_and_build "$build" gcc || exit 1
    [[ $mode == build ]] && { echo "run.sh: built in $build"; exit 0; }
    exec "$build/benchmarks/gat-bench" "$@" ;;
test)
    install_missing run.sh "${build_packages[@]}" "${test_packages[@]}" "${clang_packages[@]}" \
        "${mpi_packages[@]}"
    bash "$root/tools/check_layers.sh" "$root"
    suite_args=("$@")
    if [[ ${GAT_QUICK:-0} != 1 ]]; then
        gcc_build v3 -Dnative=false -Dc_args=-march=x86-64-v3
        gcc_build x86-64 -Dnative=false
        gcc_build serial -Dopenmp=disabled
        gcc_build scalar -Dnative=false -Dc_args=-DGAT_SIMD_SCALAR
        mpi_build
        clang_build
        asan_build
        tsan_build
        tool_step fuzz "libFuzzer targets" env FUZZ_BUILD_DIR="${FUZZ_BUILD_DIR:-$build-fuzz}" \
            bash "$root/tools/fuzz.sh" "${GAT_FUZZ_SECONDS:-20}"
    fi
    native_build
    # The Python package against the native build, and an install of it
    # that every example program links against through pkg-config.
    tool_step python "tests/python (pytest)" bash "$root/tools/python_tests.sh" "$build"
    tool_step install "install, link the examples" bash "$root/tools/check_install.sh" "$build"
    [[ ${GAT_QUICK:-0} == 1 ]] ||
        tool_step bits "same bits across builds" bash "$root/tools/check_builds.sh" "$build"
    printf 'run.sh: %s\n' "${summary[@]}" "all: $SECONDS s"
    if ((${#failed[@]} > 0)); then
        echo "run.sh: FAILED: ${failed[*]}" >&2
        exit 1
    fi
    # The closing line CI reads: the native suite's Criterion synthesis.
    grep 'Synthesis:' "$build/suite.log" | tail -1 ;;
*) echo "run.sh: unknown mode '$mode' (bench, test or build)" >&2; exit 2 ;;
esac
