#!/usr/bin/env bash
# Holds the source tree to its layers (src/meson.build lists them, lowest
# first): a file in src/LAYER may include headers of its own layer and of
# layers below it; tools/ and benchmarks/ may include only the public
# include/gat.h and their own helpers' headers; and no header may reach
# itself through its includes (a circle). Prints every violation and exits
# 1 if there is one.
#
#   bash tools/check_layers.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"

layers=(core simd graph io model infer train dist)
declare -A rank=() home=()
for i in "${!layers[@]}"; do
    rank[${layers[$i]}]=$i
done
bad=0
complain() { echo "check_layers: $*" >&2; bad=1; }

# Where each header name lives; a name in two places would make an include
# mean different files to different layers.
for f in include/*.h src/*/*.h tools/*.h benchmarks/*.h; do
    [[ -e $f ]] || continue
    name=${f##*/}
    [[ -z ${home[$name]:-} ]] || complain "$name exists as ${home[$name]} and as $f"
    home[$name]=$f
done
for d in src/*/; do
    d=${d%/}; d=${d#src/}
    [[ -n ${rank[$d]:-} ]] || complain "src/$d is not a layer (add it to tools/check_layers.sh and src/meson.build)"
done
[[ -z $(find src -maxdepth 1 -name '*.[ch]' -print -quit) ]] ||
    complain "source files directly in src/: $(find src -maxdepth 1 -name '*.[ch]' | tr '\n' ' ')"

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r f; do
    dir=${f%/*}
    while IFS=: read -r line name; do
        target=${home[$name]:-}
        if [[ -z $target ]]; then
            complain "$f:$line includes \"$name\", which is no header of the tree"
            continue
        fi
        echo "$f $target" >>"$edges"
        case $dir in
        src/*)
            own=${dir#src/}
            case $target in
            include/*) ;;
            src/*)
                to=${target#src/}; to=${to%%/*}
                if ((${rank[$to]:-99} > ${rank[$own]:-0})); then
                    complain "$f:$line includes $target: layer $own may not see layer $to above it"
                fi ;;
            *) complain "$f:$line includes $target from outside the library" ;;
            esac ;;
        tools | benchmarks)
            case $target in
            include/gat.h | tools/* | benchmarks/*) ;;
            *) complain "$f:$line includes $target: tools and benchmarks see only include/gat.h" ;;
            esac ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
             sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/' | sed -E 's#:.*/#:#')
done < <(find src tools benchmarks include -name '*.[ch]' | sort)

# tsort reports a loop in the include graph (self-edges are fine for it,
# so a file including itself is caught here).
if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
    complain "include circle: $(grep -v 'input contains a loop' "$edges.err" | sed 's/^tsort: //' | tr '\n' ' ')"
fi
rm -f "$edges.err"
awk '$1 == $2 { print "check_layers: " $1 " includes itself" > "/dev/stderr"; bad = 1 } END { exit bad }' "$edges" || bad=1

if ((bad)); then
    echo "check_layers: FAILED" >&2
    exit 1
fi
echo "check_layers: $(wc -l <"$edges") includes within the layers (${layers[*]}), no circle"
