#!/usr/bin/env bash
# The MPI back end end to end (issue 17; docs/distributed.md): `mpirun -np K
# gat-infer` at K = 1..4 (and more ranks than rows) must write bitwise the
# output and attention of the single-process run, for a model whose layers
# score inside the edge pass and one whose scores travel with the halo, and
# for the GAT family (GATv2, mixed types with residual, share_weights,
# destination features, edge attributes with every fill_value);
# bad input on one rank must end every rank with that rank's message, a
# rank that dies must end the job, and neither may leave an output behind
# or touch an existing one. Every mpirun is bounded in time (a hang fails).
#
#   bash tests/mpi_infer.sh BUILD_DIR        (a build with -Dmpi=enabled)
set -euo pipefail
build=$1
tools=$build/tools
. "$(dirname "$0")/mpi/common.sh" mpi_infer

# A multigraph with a hub, self-loops and isolated nodes (the features have
# more rows than the graph has nodes), plain Python: no numpy needed.
python3 - <<'PY'
import random
from npy_fixture import npy, npy_i64
r = random.Random(7)
n, used, f = 2000, 1900, 24
with open('g.txt', 'w') as out:
    for k in range(12000):
        s, d = r.randrange(used), r.randrange(used)
        out.write('%d %d\n' % (s, 5 if k % 40 == 0 else d))
    for v in (7, 8, 9):
        out.write('%d %d\n' % (v, v))
x = [r.uniform(-1, 1) for _ in range(n * f)]
npy('x.npy', n, f, x)
npy('xd.npy', n, 10, [r.uniform(-1, 1) for _ in range(n * 10)])
ea = [r.uniform(-1, 1) for _ in range(12003 * 5)]
npy('ea.npy', 12003, 5, ea)
ea[11000 * 5 + 2] = float('nan')
npy('bad_ea.npy', 12003, 5, ea)
x[1500 * f + 3] = float('nan')
npy('bad.npy', n, f, x)
npy_i64('labels.npy', [r.randrange(7) for _ in range(n)])
npy_i64('nodes.npy', [r.randrange(n) for _ in range(700)] + [5, 5, n - 1])
npy_i64('bad_nodes.npy', [1, 2, n])
with open('t.txt', 'w') as out:
    out.write('0 1\n1 2\n2 2\n')
npy('tx.npy', 3, f, [r.uniform(-1, 1) for _ in range(3 * f)])
PY
"$tools/gat-convert" --quiet --nodes 1900 g.txt g.gcsr
"$tools/gat-convert" --quiet t.txt t.gcsr
"$tools/gat-init" --in-features 24 --layers 8x8,4x16,1x7:mean m1.safetensors >/dev/null
"$tools/gat-init" --in-features 24 --layers 3x5,2x6:mean --no-self-loops --seed 3 \
    m2.safetensors >/dev/null

same() { # K GRAPH MODEL INPUT-FLAGS...: K ranks against one process
    local k=$1 g=$2 m=$3
    shift 3
    "$tools/gat-infer" --quiet --graph "$g" --weights "$m" --out want.npy \
        --attention want_att.npy "$@"
    mpi "$k" "$tools/gat-infer" --quiet --threads 1 --graph "$g" --weights "$m" \
        --out got.npy --attention got_att.npy "$@" || fail "$k ranks on $g, $m $*"
    cmp -s want.npy got.npy || fail "$k ranks on $g, $m $*: output differs"
    cmp -s want_att.npy got_att.npy || fail "$k ranks on $g, $m $*: attention differs"
    checks=$((checks + 1))
}
for m in m1 m2; do
    for k in 1 2 3 4; do same "$k" g.gcsr $m.safetensors --features x.npy; done
done
# The GAT family: the halo carries the source side's projected rows (GATv2's
# xl); the destination side, residual and self-loop attributes are local.
"$tools/gat-init" --in-features 24 --layers 8x8,4x16,1x7:mean --layer-type gatv2 \
    v2.safetensors >/dev/null
"$tools/gat-init" --in-features 24 --layers 8x8:gatv2,3x5:gat,2x7:mean:gatv2 --residual \
    --seed 2 mix.safetensors >/dev/null
"$tools/gat-init" --in-features 24 --layers 4x8,2x7:mean --layer-type gatv2 --share-weights \
    --seed 3 shared.safetensors >/dev/null
"$tools/gat-init" --in-features 24 --layers 4x8,2x7:mean --dst-features 10 --residual \
    --seed 4 dst.safetensors >/dev/null
for k in 1 2 3 4; do
    for m in v2 mix shared; do same "$k" g.gcsr $m.safetensors --features x.npy; done
    same "$k" g.gcsr dst.safetensors --features-src x.npy --features-dst xd.npy
done
# Edge attributes (rows in the edge list's order, which the .gcsr keeps as
# input positions): each rank reads its edges' rows; the self-loops' fill
# values are local to the row's owner.
seed=10
for fill in mean add max min mul 0.5; do
    for type in gat gatv2; do
        seed=$((seed + 1))
        "$tools/gat-init" --in-features 24 --layers 4x8,2x7:mean --layer-type $type \
            --edge-dim 5 --fill-value $fill --seed $seed e.safetensors >/dev/null
        for k in 2 3; do same "$k" g.gcsr e.safetensors --features x.npy --edge-attr ea.npy; done
    done
done
for k in 1 4; do same "$k" g.gcsr e.safetensors --features x.npy --edge-attr ea.npy; done
# Ranks on the .gcsr give the bits of one process on the text edge list.
"$tools/gat-infer" --quiet --graph g.txt --weights e.safetensors --features x.npy \
    --edge-attr ea.npy --out text.npy
mpi 3 "$tools/gat-infer" --quiet --threads 1 --graph g.gcsr --weights e.safetensors \
    --features x.npy --edge-attr ea.npy --out got.npy || fail "3 ranks, edge attributes"
cmp -s text.npy got.npy || fail "3 ranks on g.gcsr and one process on g.txt differ"
checks=$((checks + 1))
same 5 t.gcsr m1.safetensors --features tx.npy # more ranks than rows: empty ranks
# --labels / --eval-nodes: the metrics line of one process (each owner
# computes its nodes' terms, summed in list order: the same bits).
"$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights mix.safetensors \
    --out want.npy --labels labels.npy --eval-nodes nodes.npy >want.txt
for k in 1 3 4; do
    mpi "$k" "$tools/gat-infer" --quiet --threads 1 --graph g.gcsr --features x.npy \
        --weights mix.safetensors --out got.npy --labels labels.npy --eval-nodes nodes.npy \
        >got.txt || fail "$k ranks, --labels"
    grep -q '^nodes.npy: 703 nodes, loss' got.txt && cmp -s want.txt got.txt ||
        fail "$k ranks, --labels: $(cat got.txt) against $(cat want.txt)"
    cmp -s want.npy got.npy || fail "$k ranks, --labels: output differs"
    checks=$((checks + 1))
done
# Without --attention, and two threads per rank.
"$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights m1.safetensors --out want.npy
mpi 3 "$tools/gat-infer" --quiet --threads 2 --graph g.gcsr --features x.npy \
    --weights m1.safetensors --out got.npy || fail "3 ranks, 2 threads"
cmp -s want.npy got.npy || fail "3 ranks, 2 threads: output differs"
checks=$((checks + 1))
# The per-rank report: a row per rank and the imbalance line.
mpi 2 "$tools/gat-infer" --quiet --report --graph g.gcsr --features x.npy \
    --weights m1.safetensors --out got.npy >report.txt || fail "--report"
[[ $(grep -c '^ *[01] ' report.txt) == 2 ]] && grep -q '^imbalance' report.txt ||
    fail "--report: $(cat report.txt)"
checks=$((checks + 1))
# gat-bench under mpirun: the timing line and the per-rank report.
mpi 3 "$build/benchmarks/gat-bench" --graph g.gcsr --features x.npy --weights m1.safetensors \
    --reps 2 --warmup 0 --threads 1 >bench.txt 2>&1 || fail "gat-bench: $(cat bench.txt)"
grep -q '^distributed: 3 ranks' bench.txt && [[ $(grep -c '^ *[012] ' bench.txt) == 3 ]] &&
    grep -q '^imbalance' bench.txt || fail "gat-bench: $(cat bench.txt)"
checks=$((checks + 1))

# ... and with a model with edge features (--edge-attr).
mpi 2 "$build/benchmarks/gat-bench" --graph g.gcsr --features x.npy --edge-attr ea.npy \
    --weights e.safetensors --reps 1 --warmup 0 --threads 1 >bench.txt 2>&1 ||
    fail "gat-bench --edge-attr: $(cat bench.txt)"
grep -q '^distributed: 2 ranks' bench.txt || fail "gat-bench --edge-attr: $(cat bench.txt)"
checks=$((checks + 1))

# Failures: the existing output stays as it was, no temporary file remains.
echo old >old.npy
failing() { # WHAT EXPECTED-MESSAGE COMMAND...
    local what=$1 expect=$2
    shift 2
    local rc=0
    "$@" >out.txt 2>err.txt || rc=$?
    ((rc != 0 && rc != 124)) || fail "$what: exit $rc (124: timed out)"
    grep -q -- "$expect" err.txt || fail "$what: no '$expect' in: $(cat err.txt)"
    ! grep -q 'of [0-9]*: rank' err.txt || fail "$what: a rank named twice: $(cat err.txt)"
    [[ $(cat old.npy) == old ]] || fail "$what: the old output was changed"
    [[ -z $(ls | grep '\.tmp\.') ]] || fail "$what: temporary files left: $(ls)"
    checks=$((checks + 1))
}
failing "NaN in rank 3's rows" \
    "gat-infer: rank 3 of 4: bad.npy: non-finite value (nan) at row 1500, column 3" \
    mpi 4 "$tools/gat-infer" --quiet --graph g.gcsr --features bad.npy --weights m1.safetensors \
    --out old.npy
failing "fewer feature rows than nodes" "the graph has 1900 nodes, more than the 3 rows" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.gcsr --features tx.npy --weights m1.safetensors \
    --out old.npy
failing "a text edge list" "not a .gcsr graph" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.txt --features x.npy --weights m1.safetensors \
    --out old.npy
failing "an output folder that does not exist" "gat-infer: rank 0 of 2: .*nodir" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights m1.safetensors \
    --out old.npy --attention nodir/a.npy
failing "NaN in rank 3's edge attributes" \
    "gat-infer: rank [0-9] of 4: bad_ea.npy: non-finite value (nan) at row 11000, column 2" \
    mpi 4 "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --edge-attr bad_ea.npy \
    --weights e.safetensors --out old.npy
failing "no edge attributes" "edge features (edge_dim 5) but no edge_attr (--edge-attr)" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights e.safetensors \
    --out old.npy
failing "edge attributes of another width" "xd.npy: 10 columns, but the model's layers have" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --edge-attr xd.npy \
    --weights e.safetensors --out old.npy
failing "a bipartite input" "tx.npy has 3 rows but x.npy has 2000: a bipartite graph" \
    mpi 2 "$tools/gat-infer" --quiet --graph g.gcsr --features-src x.npy --features-dst tx.npy \
    --weights dst.safetensors --out old.npy
failing "an evaluated node outside the graph" "loss: index\[2\] = 2000 is not a node id" \
    mpi 3 "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights m1.safetensors \
    --out old.npy --labels labels.npy --eval-nodes bad_nodes.npy
# Rank 1 dies (SIGABRT) while the others start: mpirun ends the job.
failing "a rank that dies" "the job has been aborted" \
    mpi 3 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then kill -ABRT $$; fi; exec "$0" "$@"' \
    "$tools/gat-infer" --quiet --graph g.gcsr --features x.npy --weights m1.safetensors \
    --out old.npy
echo "mpi_infer: $checks checks passed"
