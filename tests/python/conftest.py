"""Shared fixtures of the Python package's tests (tools/python_tests.sh runs
them with PYTHONPATH=python, LIBGAT_LIBRARY and LIBGAT_BUILD_DIR set)."""

import os
import subprocess

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYG = os.path.join(ROOT, "tests", "data", "pyg")
CASES = [line.strip() for line in open(os.path.join(PYG, "cases.txt")) if line.strip()]

# The C suite's tolerance against the plain-torch references (tests/test_pyg.c):
# rtol 1e-4 (the acceptance criterion), atol 1e-5 * max |want|
# (for entries that are sums of cancelling terms). The references are
# float64 computations rounded to float32; libgat computes in float32.
PYG_RTOL = 1e-4
PYG_ATOL_REL = 1e-5


def assert_close_to_reference(got, want, what):
    assert got.shape == want.shape, what
    atol = PYG_ATOL_REL * float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=PYG_RTOL, atol=atol, err_msg=what)


def assert_same_bits(got, want, what=""):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    assert np.array_equal(np.ascontiguousarray(got).view(np.uint8),
                          np.ascontiguousarray(want).view(np.uint8)), what


def build_dir():
    build = os.environ.get("LIBGAT_BUILD_DIR")
    if not build:
        pytest.skip("LIBGAT_BUILD_DIR is not set (tools/python_tests.sh sets it)")
    return build


def tool(name):
    path = os.path.join(build_dir(), "tools", name)
    assert os.path.exists(path), "%s: not built" % path
    return path


def run_tool(name, *args):
    result = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result


class Case:
    def __init__(self, name):
        self.name = name
        self.folder = os.path.join(PYG, name)
        self.edges = os.path.join(self.folder, "edges.txt")
        self.model_path = os.path.join(self.folder, "model.safetensors")
        self.x_path = os.path.join(self.folder, "x.npy")
        self.x = np.load(self.x_path)
        self.out = np.load(os.path.join(self.folder, "out.npy"))
        self.attention = np.load(os.path.join(self.folder, "attention.npy"))


@pytest.fixture(params=CASES)
def case(request):
    return Case(request.param)


@pytest.fixture
def example():
    return Case("example6")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
