#!/usr/bin/env bash
# Distributed training (issue 17; docs/distributed.md, "Training"): one
# training step's loss and gradients from `mpirun -np K` at K = 1..4 must
# be bitwise those of one process (gat_trainer_step), for a dense and a
# sparse (Cora-like) input, with and without dropout, two model shapes.
# Every mpirun is bounded in time (a hang fails).
#
#   bash tests/mpi_train.sh BUILD_DIR        (a build with -Dmpi=enabled)
set -euo pipefail
build=$1
tools=$build/tools
check=$build/tests/mpi-train-check
dir=$(mktemp -d "${TMPDIR:-/tmp}/gat-mpi-train.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { timeout 120 mpirun --oversubscribe -np "$@"; }
fail() { echo "mpi_train: FAILED: $*" >&2; exit 1; }
checks=0

# 3000 nodes (12 reduction blocks, so 4 ranks own several each), a hub,
# self-loops, isolated nodes; dense features (24 columns) and sparse 0/1
# ones (300 columns, ~1.5% non-zero: the trainer's sparse input).
python3 - <<'PY'
import random, struct
def npy(path, rows, cols, values):
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    head += ' ' * (63 - (10 + len(head)) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(head)) + head.encode())
        f.write(struct.pack('<%df' % len(values), *values))
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
PY
"$tools/gat-convert" --quiet --nodes 2900 g.txt g.gcsr
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
echo "mpi_train: $checks checks passed"
