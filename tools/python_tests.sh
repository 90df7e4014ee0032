#!/usr/bin/env bash
# The Python package's tests (tests/python, pytest) against a meson build:
#
#   bash tools/python_tests.sh BUILD_DIR [pytest arguments]
#
# Installs the Debian packages they need if missing (python3-pytest,
# python3-numpy, python3-torch, python3-setuptools, python3-pip), builds
# BUILD_DIR (ninja) and points the package at it without installing
# anything: PYTHONPATH=python (the package's sources) and
# LIBGAT_LIBRARY=BUILD_DIR/src/libgat.so; LIBGAT_BUILD_DIR tells the tests
# where gat-infer, gat-init and gat-train are. Runs Debian's /usr/bin/python3
# (PYTHON overrides). The exit code is pytest's, except that "no tests
# collected" (5) is a failure (1) too.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if (($# < 1)); then
    echo "usage: tools/python_tests.sh BUILD_DIR [pytest arguments]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
python=${PYTHON:-/usr/bin/python3}

# shellcheck source=tools/deps.sh
source "$root/tools/deps.sh"
install_missing python_tests.sh python3-pytest python3-numpy python3-torch python3-setuptools \
    python3-pip
ninja -C "$build" >/dev/null
if [[ ! -e $build/src/libgat.so ]]; then
    echo "python_tests.sh: $build/src/libgat.so not found (not a libgat meson build?)" >&2
    exit 1
fi

export LIBGAT_LIBRARY=$build/src/libgat.so LIBGAT_BUILD_DIR=$build
export PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
cd "$root"
rc=0
"$python" -m pytest -p no:cacheprovider -q tests/python "$@" || rc=$?
if ((rc == 5)); then
    echo "python_tests.sh: no tests collected" >&2
    exit 1
fi
exit "$rc"
