#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: one per parser) with clang, ASan
# and UBSan in their own build folder, and runs each for a bounded time, one
# after the other. Prints executions per target and every finding; exits 1
# if any target found something (the input is kept, see below).
#
#   bash tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; TARGET is any of edgelist, edgelist_gz,
# npy, safetensors, gcsr (default: all). Installs clang and its fuzzer
# runtime with apt-get when missing (as tools/run.sh does for the rest).
#
# FUZZ_BUILD_DIR overrides the build folder (default: build-fuzz). Inputs
# the fuzzer finds interesting accumulate in FUZZ_BUILD_DIR/fuzz-corpus/
# (the seeds in tests/fuzz/corpus/ are only read); crashing inputs land in
# FUZZ_BUILD_DIR/fuzz-artifacts/. Reproduce one with
#   FUZZ_BUILD_DIR/tests/fuzz/fuzz_TARGET FILE
# and, once fixed, add it to tests/fuzz/corpus/TARGET/ as a regression seed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-60}
shift || true
all_targets=(edgelist edgelist_gz npy safetensors gcsr)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) ||
    { echo "fuzz.sh: SECONDS_PER_TARGET must be a positive number, got '$seconds'" >&2; exit 2; }
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] ||
        { echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

# What the library needs, plus clang and its runtimes.
# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"

install_missing fuzz.sh "${build_packages[@]}" "${clang_packages[@]}"
mkdir -p "$build"
log=$build/fuzz-sh.log
# -Dnative=false: the findings must reproduce on any x86-64.
if [[ -f $build/build.ninja ]]; then
    meson setup --reconfigure "$build" "$root" -Dfuzz=true -Dnative=false >"$log" 2>&1 ||
        { cat "$log"; exit 1; }
else
    CC=clang meson setup "$build" "$root" -Dfuzz=true -Dnative=false >"$log" 2>&1 ||
        { cat "$log"; exit 1; }
fi
ninja -C "$build" fuzz >"$log" 2>&1 || { cat "$log"; exit 1; }

# One thread for OpenBLAS (the targets also ask for it); leaks are checked
# at exit of each input by libFuzzer's own LeakSanitizer pass.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$build/fuzz-artifacts"
failed=()
printf 'fuzz.sh: %s s per target: %s\n' "$seconds" "${targets[*]}"
for t in "${targets[@]}"; do
    work=$build/fuzz-corpus/$t
    mkdir -p "$work"
    out=$build/fuzz-$t.log
    rc=0
    "$build/tests/fuzz/fuzz_$t" "$work" "$root/tests/fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$t-" >"$out" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
    units=$(find "$work" -type f | wc -l)
    if ((rc == 0)); then
        printf 'fuzz.sh: %-12s %10s executions (%s/s), corpus %s inputs, no findings\n' \
            "$t" "${runs:-?}" "${rate:-?}" "$units"
    else
        failed+=("$t")
        printf 'fuzz.sh: %-12s FINDING after %s executions (exit %d):\n' "$t" "${runs:-?}" "$rc"
        grep -E 'ERROR:|SUMMARY:|runtime error|Test unit written|artifact_prefix' "$out" |
            sed 's/^/    /' | head -20
        echo "    full log: $out"
    fi
done
if ((${#failed[@]} > 0)); then
    echo "fuzz.sh: findings in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: no findings"
