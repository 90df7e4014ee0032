#!/usr/bin/env bash
# Installs a built tree into a staging folder (meson install --destdir, as
# a package build does), then compiles every program in examples/ against
# the staged copy through pkg-config, once with `pkg-config --libs gat` and
# once with `--static`, and runs each; so is a program calling the
# distributed entry points (in a -Dmpi=enabled build libgat.a calls MPI, so
# gat.pc must bring its library). Proves that gat.pc names no path of the
# build machine and that the README's link lines work.
#
#   bash tools/check_install.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: check_install.sh BUILD_DIR}
work=$(mktemp -d /tmp/gat-install.XXXXXX)
trap 'rm -rf "$work"' EXIT

meson install -C "$build" --destdir "$work/stage" --quiet >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; echo "check_install: meson install failed" >&2; exit 1; }
pc=$(find "$work/stage" -name gat.pc -print -quit)
[[ -n $pc ]] || { echo "check_install: no gat.pc was installed" >&2; exit 1; }
if grep -q "$build\|$root" "$pc"; then
    echo "check_install: $pc names a build path:" >&2
    cat "$pc" >&2
    exit 1
fi
export PKG_CONFIG_PATH=${pc%/*}
cc=${CC:-cc}
example6=$root/tests/data/pyg/example6
run_example() { # NAME ARGS...
    local name=$1
    shift
    "$work/$name" "$@" >"$work/$name.out" 2>&1 ||
        { cat "$work/$name.out"; echo "check_install: example $name failed" >&2; exit 1; }
}
# The distributed entry points (src/dist): with a NULL context every build
# returns an error at once, but the call must link.
cat >"$work/dist_link.c" <<'C'
#include <gat.h>
#include <stdio.h>
int main(void)
{
    gat_dist_infer_options options;
    gat_dist_infer_options_init(&options);
    gat_status status = gat_dist_infer(NULL, NULL, &options, NULL);
    printf("mpi %d, gat_dist_infer(NULL): %d\n", (int)gat_have_mpi(), (int)status);
    return status == GAT_OK;
}
C
count=0
for kind in shared-deps static; do
    flags=(--libs)
    [[ $kind == static ]] && flags=(--static --libs)
    for src in "$root"/examples/*.c "$work/dist_link.c"; do
        name=$(basename "$src" .c)
        # shellcheck disable=SC2046 # pkg-config's words are meant to split
        "$cc" -std=c11 -Wall -Wextra -Werror -O2 "$src" -o "$work/$name" \
            $(pkg-config --cflags gat) $(pkg-config "${flags[@]}" gat) ||
            { echo "check_install: $name.c did not build with pkg-config ${flags[*]} gat" >&2; exit 1; }
        case $name in
        infer) run_example infer "$example6/edges.txt" "$example6/x.npy" \
                   "$example6/model.safetensors" "$work/y.npy" ;;
        build_model) run_example build_model "$work/model.safetensors" ;;
        train) run_example train 1000 ;;
        *) run_example "$name" ;;
        esac
        count=$((count + 1))
    done
done
for tool in gat-infer gat-train gat-convert gat-init gat-bench gat-export-pyg; do
    [[ -x $(find "$work/stage" -name "$tool" -type f -print -quit) ]] ||
        { echo "check_install: $tool was not installed" >&2; exit 1; }
done
echo "check_install: staged install OK; $count example builds (pkg-config --libs and --static) ran"
