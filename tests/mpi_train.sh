#!/usr/bin/env bash
# Distributed training (issue 17; docs/distributed.md, "Training"): one
# training step's loss and gradients from `mpirun -np K` at K = 1..4 must
# be bitwise those of one process (gat_trainer_step), for a dense and a
# sparse (Cora-like) input, with and without dropout, two model shapes;
# and `mpirun -np K gat-train` must save the single process's model byte
# for byte, with its evaluation, early stop and test accuracy. Bad input
# on one rank ends every rank with that rank's message and no model file.
# Every mpirun is bounded in time (a hang fails).
#
#   bash tests/mpi_train.sh BUILD_DIR        (a build with -Dmpi=enabled)
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tools=$build/tools
check=$build/tests/mpi-train-check
. "$here/mpi/common.sh" mpi_train

# 3000 nodes (12 reduction blocks, so 4 ranks own several each), a hub,
# self-loops, isolated nodes; dense features (24 columns) and sparse 0/1
# ones (300 columns, ~1.5% non-zero: the trainer's sparse input).
python3 - <<'PY'
import random, struct
from npy_fixture import npy, npy_i64
r = random.Random(11)
n, used = 3000, 2900
with open('g.txt', 'w') as out:
    for k in range(16000):
        s, d = r.randrange(used), r.randrange(used)
        out.write('%d %d\n' % (s, 17 if k % 50 == 0 else d))
    for v in (7, 8, 9):
        out.write('%d %d\n' % (v, v))
npy('x.npy', n, 24, [r.uniform(-1, 1) for _ in range(n * 24)])
npy('xs.npy', n, 300, [1.0 if r.random() < 0.015 else 0.0 for _ in range(n * 300)])
# 600 nodes: three reduction blocks, so 4 and 5 ranks leave ranks empty.
with open('s.txt', 'w') as out:
    for k in range(3000):
        out.write('%d %d\n' % (r.randrange(580), r.randrange(580)))
npy('sx.npy', 600, 24, [r.uniform(-1, 1) for _ in range(600 * 24)])
# A data folder for gat-train: the sparse features, 5 classes, splits.
import os
os.makedirs('d', exist_ok=True)
os.link('xs.npy', 'd/features.npy')
os.link('g.txt', 'd/edges.txt')
xs = struct.unpack('<%df' % (n * 300), open('xs.npy', 'rb').read()[128:])
def label(i): # learnable: the group of the row's first non-zero column
    for c in range(300):
        if xs[i * 300 + c] != 0.0:
            return c // 60
    return i % 5
npy_i64('d/labels.npy', [label(i) for i in range(n)])
npy_i64('d/train.npy', list(range(0, n, 20)))
npy_i64('d/val.npy', list(range(5, n, 12)))
npy_i64('d/test.npy', list(range(7, n, 6)))
x = list(struct.unpack('<%df' % (n * 300), open('xs.npy', 'rb').read()[128:]))
x[2500 * 300 + 3] = float('nan')
os.makedirs('bad', exist_ok=True)
npy('bad/features.npy', n, 300, x)
for f in ('edges.txt', 'labels.npy', 'train.npy', 'val.npy', 'test.npy'):
    os.link('d/' + f, 'bad/' + f)
PY
"$tools/gat-convert" --quiet --nodes 2900 g.txt g.gcsr
"$tools/gat-convert" --quiet --nodes 580 s.txt s.gcsr
cp g.gcsr d/edges.gcsr
cp g.gcsr bad/edges.gcsr
"$tools/gat-init" --in-features 24 --layers 8x8,1x7:mean m1.safetensors >/dev/null
"$tools/gat-init" --in-features 24 --layers 3x5,2x6:mean --no-self-loops --seed 3 \
    m2.safetensors >/dev/null
"$tools/gat-init" --in-features 300 --layers 8x8,1x7:mean --seed 5 m3.safetensors >/dev/null

same() { # X MODEL DROPOUT
    "$check" g.gcsr "$1" "$2" want.bin "$3" >/dev/null
    for k in 1 2 3 4; do
        mpi "$k" "$check" g.gcsr "$1" "$2" got.bin "$3" >/dev/null ||
            fail "$k ranks, $1 $2 dropout $3: the run failed"
        cmp -s want.bin got.bin || fail "$k ranks, $1 $2 dropout $3: gradients differ"
        checks=$((checks + 1))
    done
}
same x.npy m1.safetensors 0
same x.npy m1.safetensors 0.6
same x.npy m2.safetensors 0.6
same xs.npy m3.safetensors 0
same xs.npy m3.safetensors 0.6
# Ranks owning no rows (more ranks than blocks of 256 rows).
"$check" s.gcsr sx.npy m1.safetensors want.bin 0.6 >/dev/null
for k in 4 5; do
    mpi "$k" "$check" s.gcsr sx.npy m1.safetensors got.bin 0.6 >/dev/null ||
        fail "$k ranks on 600 nodes: the run failed"
    cmp -s want.bin got.bin || fail "$k ranks on 600 nodes: gradients differ"
    checks=$((checks + 1))
done

# gat-train at 1-4 ranks against one process: the saved model and the
# printed metrics (not the timings). $1 names the run in messages, $2 is the
# prefix of its files (PREFIX_want.* made by one process); the rest are
# gat-train's options.
same_training() {
    local name=$1 prefix=$2
    shift 2
    for k in 1 2 3 4; do
        rm -f "${prefix}_got.safetensors"
        mpi "$k" "$tools/gat-train" "$@" --save "${prefix}_got.safetensors" \
            >"${prefix}_got.txt" 2>err.txt || fail "$k ranks, $name: $(cat err.txt)"
        cmp -s "${prefix}_want.safetensors" "${prefix}_got.safetensors" ||
            fail "$k ranks, $name: the models differ"
        diff <(sed 's/ in [0-9.]* s ([0-9.]* ms\/epoch)//; /^saved/d' "${prefix}_want.txt") \
             <(sed 's/ in [0-9.]* s ([0-9.]* ms\/epoch)//; /^saved/d' "${prefix}_got.txt") \
             >/dev/null || fail "$k ranks, $name: the printed metrics differ"
        checks=$((checks + 1))
    done
}

# Whole training runs on the fixture.
train=(--data d --preset cora --seed 1 --lr 0.05 --epochs 100 --patience 10 --threads 1
       --progress none)
"$tools/gat-train" "${train[@]}" --save fixture_want.safetensors >fixture_want.txt 2>/dev/null
# It learns, and keeps an epoch before the last (the early-stopping rule's
# copy restored; the Cora run below checks early stopping itself).
grep -q "after 100 epochs.*kept epoch [1-9][0-9]:.*val acc 0.[5-9]" fixture_want.txt ||
    fail "the fixture should learn and keep an earlier epoch: $(head -1 fixture_want.txt)"
same_training "gat-train" fixture "${train[@]}"

# The whole Cora run of the paper's preset (sparse input, dropout 0.6, early
# stopping after 729 epochs). Cora is rebuilt from tests/data/cora (sha256
# checked); 4 ranks sharing 2 cores take longer than the other runs.
python3 "$here/../tools/make_cora_fixture.py" cora
"$tools/gat-convert" --quiet cora/edges.txt cora/edges.gcsr
cora=(--data cora --preset cora --seed 1 --threads 1 --progress none)
"$tools/gat-train" "${cora[@]}" --save cora_want.safetensors >cora_want.txt 2>/dev/null
grep -q "stopped early after 729 epochs" cora_want.txt ||
    fail "Cora should stop early after 729 epochs: $(head -1 cora_want.txt)"
MPI_TIMEOUT=300 same_training Cora cora "${cora[@]}"

# A NaN in the features of rank 3's rows (row 2500 of 3000): every rank
# ends, rank 0 prints rank 3's message, no model is written.
rm -f got.safetensors
if mpi 4 "$tools/gat-train" --data bad --preset cora --seed 1 --epochs 5 --threads 1 \
        --progress none --save got.safetensors >/dev/null 2>err.txt; then
    fail "a NaN in one rank's features: the run succeeded"
fi
grep -q "rank 3 of 4: .*features.npy.*row 2500" err.txt ||
    fail "a NaN in one rank's features: unexpected message: $(cat err.txt)"
[ ! -e got.safetensors ] || fail "a NaN in one rank's features: a model was written"
checks=$((checks + 1))
# Layers the distributed trainer does not run are refused with the reason.
if mpi 2 "$tools/gat-train" --data d --layer-type gatv2 --epochs 1 --progress none \
        >/dev/null 2>err.txt; then
    fail "gatv2 under mpirun: the run succeeded"
fi
grep -q "plain GAT layers only" err.txt || fail "gatv2 under mpirun: $(cat err.txt)"
checks=$((checks + 1))
# gat-bench --mode train under mpirun: the step's timing line and the
# per-rank report of the last step (a row per rank, halo traffic, the
# imbalance line); the loss after the same steps is the one-rank run's.
for k in 1 3; do
    mpi "$k" "$build/benchmarks/gat-bench" --mode train --graph g.gcsr --features x.npy \
        --weights m1.safetensors --reps 3 --warmup 1 --threads 1 >bench$k.txt 2>&1 ||
        fail "gat-bench --mode train at $k ranks: $(cat bench$k.txt)"
    grep -q "^distributed: $k ranks.*training step.*median" bench$k.txt &&
        [[ $(grep -c '^ *[0-9] ' bench$k.txt) == "$k" ]] && grep -q '^imbalance' bench$k.txt ||
        fail "gat-bench --mode train at $k ranks: $(cat bench$k.txt)"
    checks=$((checks + 1))
done
grep -q '^ *2 .* [1-9][0-9]*/[1-9][0-9]* ' bench3.txt ||
    fail "gat-bench --mode train: rank 2 reports no halo traffic: $(cat bench3.txt)"
[[ $(grep -o 'last loss [^)]*' bench1.txt) == $(grep -o 'last loss [^)]*' bench3.txt) ]] ||
    fail "gat-bench --mode train: the loss differs between 1 and 3 ranks"
checks=$((checks + 1))
echo "mpi_train: $checks checks passed"
