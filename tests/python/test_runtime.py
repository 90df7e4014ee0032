"""Memory, threads, the interpreter lock, and installing the package."""

import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import libgat
from conftest import ROOT, assert_same_bits, build_dir, rss_bytes


def _setup(nodes=3000, edges=30000, seed=1, features=16, layers=("4x8", "1x8:mean")):
    graph = libgat.Graph.generate(nodes, edges, seed=seed)
    x = np.random.default_rng(seed).standard_normal((nodes, features)).astype(np.float32)
    model = libgat.Model.init(features, list(layers), seed=seed)
    return model, graph, x


def test_no_leak_over_1000_forwards():
    model, graph, x = _setup()
    small = libgat.generate_edges(300, 2000, seed=4)

    def rounds(count):
        for _ in range(count):
            model(x, graph)
            model.attention(x[:300], libgat.Graph(small, 300))
    rounds(100)  # warm: scratch, allocator pools
    before = rss_bytes()
    rounds(1000)
    grown = rss_bytes() - before
    # Each round allocates a 96 KiB output, a 2000-edge graph with its own
    # context and an attention array: a leak of any of them would add
    # >= 100 MiB over 1000 rounds. 8 MiB allows for allocator noise.
    assert grown < 8 << 20, "resident memory grew by %d KiB" % (grown >> 10)


def test_two_threads_on_two_models_at_once():
    first, graph_a, xa = _setup(seed=1)
    second, graph_b, xb = _setup(seed=2, layers=("2x16", "2x4"))
    want_a, want_b = first(xa, graph_a), second(xb, graph_b)
    errors = []

    def work(model, x, graph, want):
        try:
            for _ in range(40):
                assert_same_bits(model(x, graph, threads=1), want)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
    threads = [threading.Thread(target=work, args=a)
               for a in ((first, xa, graph_a, want_a), (second, xb, graph_b, want_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_one_model_from_two_threads_takes_turns():
    model, graph, x = _setup()
    want = model(x, graph)
    outs = []
    threads = [threading.Thread(target=lambda: outs.extend(model(x, graph) for _ in range(20)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 40 and all(np.array_equal(o, want) for o in outs)


def test_one_model_from_two_threads_with_their_own_contexts():
    # A forward only reads the model (gat.h), so threads with their own
    # contexts run it at once, with the serial call's bits.
    model, graph, x = _setup()
    want = model(x, graph)
    errors = []

    def work():
        context = libgat.Context(threads=1)
        try:
            for _ in range(20):
                assert_same_bits(model(x, graph, context=context), want)
                edges, alpha = model.attention(x, graph, context=context)
                assert alpha.shape == (edges.shape[1], 1)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with pytest.raises(libgat.InvalidError, match="context"):
        model(x, graph, context=1)


def test_the_interpreter_lock_is_released_during_a_call():
    # One long C call (the reference twin on a larger graph); a Python
    # thread that only counts keeps running meanwhile. Holding the lock it
    # would stall for the whole call.
    model, graph, x = _setup(nodes=60000, edges=600000, features=32,
                             layers=("8x16", "8x16", "1x8:mean"))
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.02)
    start = time.perf_counter()
    model.reference(x, graph)
    end = time.perf_counter()
    stop.set()
    ticker.join()
    during = [t for t in ticks if start <= t <= end]
    assert end - start > 0.1, "the call was too short to tell (%.3f s)" % (end - start)
    assert len(during) >= 10, "%d ticks during a %.3f s call" % (len(during), end - start)


def _run_python(code, env, cwd):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, check=False)


def test_pip_install_bundles_the_library(tmp_path):
    build = build_dir()
    target = tmp_path / "site"
    # pip builds in the source folder: build a copy (python/ and the file
    # its export_pyg.py links to), not the checkout.
    source = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "python"), source / "python", symlinks=True,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    (source / "tools").mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "export_pyg.py"), source / "tools")
    env = dict(os.environ, LIBGAT_BUILD_DIR=build)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index",
         "--no-deps", "--quiet", "--target", str(target), str(source / "python")],
        capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("LIBGAT_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    code = ("import libgat, sys; print(libgat.__version__); print(libgat.library_path); "
            "import libgat.export_pyg")
    result = _run_python(code, env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    version, path = result.stdout.split()
    assert version == libgat.__version__
    assert path == str(target / "libgat" / "libgat.so")


def test_a_bad_library_path_fails_on_import(tmp_path):
    env = dict(os.environ, LIBGAT_LIBRARY=str(tmp_path / "nothing.so"))
    result = _run_python("import libgat", env, cwd=str(tmp_path))
    assert result.returncode != 0 and "cannot load libgat.so" in result.stderr
    assert "LIBGAT_LIBRARY" in result.stderr


@pytest.mark.parametrize("script, args", [
    ("python_overhead.py", ["--nodes", "500", "--edges", "3000", "--reps", "3"]),
    ("python_side_by_side.py", ["--nodes", "300", "--edges", "2000", "--reps", "2"])])
def test_the_benchmark_scripts_run(script, args):
    # Small sizes: they must keep working, not measure anything here.
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "R-MAT" in result.stdout


def test_the_package_works_without_torch(tmp_path):
    # torch is optional: only from_pyg, to_pyg and libgat.torch need it.
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, libgat\n"
            "m = libgat.Model.init(4, ['2x2'])\n"
            "print(m(np.ones((3, 4)), [[0, 1], [1, 2]]).shape)\n"
            "try:\n"
            "    libgat.Model.from_pyg([])\n"
            "except ImportError:\n"
            "    print('no torch')\n")
    result = _run_python(code, dict(os.environ), cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["(3, 4)", "no torch"]
