# Sourced by tests/mpi_infer.sh and tests/mpi_train.sh: the scratch folder
# (removed on exit, made the working directory), Open MPI's settings for
# CI containers, a time-bounded mpirun and the failure report.
#   . tests/mpi/common.sh NAME      (NAME prefixes the folder and messages)
name=$1
# The fixture scripts import npy_fixture (plain Python: no numpy needed).
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gat-$name.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
# Open MPI refuses root unless told (CI containers run as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Every mpirun is bounded (a hang fails) and its ranks yield while they
# wait: these tests run more ranks than the machine has cores.
mpi() { timeout "${MPI_TIMEOUT:-120}" mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np "$@"; }
fail() { echo "$name: FAILED: $*" >&2; exit 1; }
checks=0
