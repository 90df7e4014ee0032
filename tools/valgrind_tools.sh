#!/usr/bin/env bash
# Runs every command-line tool under valgrind's memcheck on small cases, the
# successful paths and a few failing ones, and reports each run as clean or
# not. Memcheck cannot decode every instruction -march=native may emit, so
# the tools are built in their own tree with -Dnative=false.
#
#   bash tools/valgrind_tools.sh
#
# VG_BUILD_DIR overrides the build folder (default: build-vg). A run is
# clean when memcheck finds no invalid access, no use of uninitialised
# memory and no definite or indirect leak (memory still reachable at exit,
# such as OpenMP's thread pool, is not a leak). Exits 1 if any run is not
# clean; the full reports are in VG_BUILD_DIR/valgrind/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${VG_BUILD_DIR:-$root/build-vg}
data=$root/tests/data

command -v valgrind >/dev/null || {
    echo "valgrind_tools.sh: installing valgrind" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq valgrind >/dev/null
}
# The compiler, meson and the libraries come from tools/run.sh (run it once).
command -v meson >/dev/null || { echo "valgrind_tools.sh: run tools/run.sh build first" >&2; exit 1; }
mkdir -p "$build"
log=$build/valgrind-sh.log
if [[ -f $build/build.ninja ]]; then
    meson setup --reconfigure "$build" "$root" -Dnative=false >"$log" 2>&1 || { cat "$log"; exit 1; }
else
    meson setup "$build" "$root" -Dnative=false >"$log" 2>&1 || { cat "$log"; exit 1; }
fi
ninja -C "$build" >"$log" 2>&1 || { cat "$log"; exit 1; }

reports=$build/valgrind
work=$(mktemp -d /tmp/gat-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$reports"
mkdir -p "$reports"
mkdir -p "$work/ds"
cp "$data/train/cora_like/edges.txt" "$work/ds/edges.txt"
cp "$data/train/cora_like/x.npy" "$work/ds/features.npy"
cp "$data/train/cora_like/labels.npy" "$work/ds/labels.npy"
for split in train val test; do cp "$data/train/cora_like/train.npy" "$work/ds/$split.npy"; done
printf '0 1\n1 two\n' >"$work/bad.txt"

bad=0
n=0
# vg NAME WANT_EXIT TOOL ARGS...: one run; WANT_EXIT is the tool's own exit
# status (0 or 1); memcheck's findings exit 99.
vg() {
    local name=$1 want=$2 exe=$3
    shift 3
    local rc=0
    n=$((n + 1))
    (cd "$work" && OMP_NUM_THREADS=2 valgrind --tool=memcheck --error-exitcode=99 \
        --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect --track-origins=yes \
        --log-file="$reports/$name.txt" "$exe" "$@" >/dev/null 2>"$reports/$name.stderr") ||
        rc=$?
    local summary
    summary=$(grep -E 'ERROR SUMMARY' "$reports/$name.txt" | sed 's/==[0-9]*== //')
    if ((rc == want)); then
        printf 'valgrind_tools.sh: %-26s clean (exit %d; %s)\n' "$name" "$rc" "$summary"
    else
        bad=$((bad + 1))
        printf 'valgrind_tools.sh: %-26s NOT CLEAN (exit %d, expected %d; %s): %s\n' \
            "$name" "$rc" "$want" "$summary" "$reports/$name.txt"
    fi
}

infer=$build/tools/gat-infer
case6=$data/pyg/example6
vg infer 0 "$infer" --graph "$case6/edges.txt" --features "$case6/x.npy" \
    --weights "$case6/model.safetensors" --out y.npy --attention a.npy \
    --attention-edges e.npy --threads 2 --quiet
vg infer-three-layers 0 "$infer" --graph "$data/pyg/three_layers/edges.txt" \
    --features "$data/pyg/three_layers/x.npy" --weights "$data/pyg/three_layers/model.safetensors" \
    --out y3.npy --quiet
vg infer-bad-graph 1 "$infer" --graph bad.txt --features "$case6/x.npy" \
    --weights "$case6/model.safetensors" --out y.npy
vg infer-bad-output 1 "$infer" --graph "$case6/edges.txt" --features "$case6/x.npy" \
    --weights "$case6/model.safetensors" --out nowhere/y.npy

convert=$build/tools/gat-convert
vg convert 0 "$convert" --quiet "$data/train/cora_like/edges.txt" g.gcsr
vg convert-back 0 "$convert" --quiet --to-edgelist g.gcsr back.txt
vg convert-gzip 0 "$convert" --quiet "$data/edgelist/snap.txt.gz" snap.gcsr
vg convert-bad 1 "$convert" --quiet bad.txt bad.gcsr

bench=$build/benchmarks/gat-bench
vg bench 0 "$bench" --gen rmat --nodes 300 --edges 3000 --in 16 --heads 2 --channels 4 \
    --reps 1 --warmup 0 --threads 1,2 --no-probe --check --json b.json
vg bench-graph 0 "$bench" --graph g.gcsr --reps 1 --warmup 0 --in 8 --heads 2 --channels 4 \
    --layers 2 --reorder rcm --no-probe
vg bench-bad 1 "$bench" --graph bad.txt --no-probe

train=$build/tools/gat-train
vg train 0 "$train" --data ds --epochs 3 --progress none --threads 2 --save m.safetensors
vg train-missing 1 "$train" --data nowhere --progress none

echo "valgrind_tools.sh: $((n - bad)) of $n runs clean"
((bad == 0))
