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
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
mode=${1:-bench}
shift || true

packages=(gcc libc6-dev pkg-config meson ninja-build libhwloc-dev libopenblas-openmp-dev
          libjansson-dev zlib1g-dev libcriterion-dev)

install_missing() {
    local missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "run.sh: installing ${missing[*]}" >&2
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

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

install_missing
configure_and_build
case $mode in
bench) exec "$build/benchmarks/gat-bench" "$@" ;;
test) exec "$build/tests/gat-tests" --jobs "$(nproc)" "$@" ;;
build) echo "run.sh: built in $build" ;;
*) echo "run.sh: unknown mode '$mode' (bench, test or build)" >&2; exit 2 ;;
esac
