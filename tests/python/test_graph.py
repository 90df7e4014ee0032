"""libgat.Graph: construction from edge_index, files, counts, errors."""

import gzip
import os

import numpy as np
import pytest
import torch

import libgat
from conftest import PYG

EDGES = np.array([[0, 1, 2, 2, 3, 3], [1, 2, 0, 2, 1, 1]])  # one self-loop, one duplicate


def test_counts_and_library_order():
    g = libgat.Graph(EDGES)
    assert (g.num_nodes, g.num_edges, g.num_self_loops, g.max_in_degree) == (4, 6, 1, 3)
    assert g.num_attention_edges(True) == 6 - 1 + 4
    assert g.num_attention_edges(False) == 6
    # By destination, input order within a destination.
    assert g.edges().tolist() == [[2, 0, 3, 3, 1, 2], [0, 1, 1, 1, 2, 2]]
    # With loops: the input loop (2, 2) dropped, one loop closing every row.
    assert g.edges(add_self_loops=True).tolist() == [[2, 0, 0, 3, 3, 1, 1, 2, 3],
                                                      [0, 0, 1, 1, 1, 1, 2, 2, 3]]
    row_ptr, col = g.csr()
    assert row_ptr.tolist() == [0, 1, 4, 6, 6] and col.tolist() == [2, 0, 3, 3, 1, 2]
    assert "num_nodes=4" in repr(g)


@pytest.mark.parametrize("convert", [
    lambda e: e.astype(np.int32), lambda e: e.astype(np.uint16), lambda e: np.asfortranarray(e),
    lambda e: torch.from_numpy(e), lambda e: torch.from_numpy(e).int(), lambda e: e.tolist(),
    lambda e: np.repeat(e, 2, axis=1)[:, ::2]])
def test_edge_index_types_and_layouts(convert):
    assert libgat.Graph(convert(EDGES)).edges().tolist() == libgat.Graph(EDGES).edges().tolist()


def test_num_nodes_adds_isolated_nodes_and_empty_graphs():
    g = libgat.Graph(EDGES, num_nodes=10)
    assert g.num_nodes == 10 and g.num_attention_edges(True) == 5 + 10
    empty = libgat.Graph(np.zeros((2, 0), dtype=np.int64), num_nodes=3)
    assert (empty.num_nodes, empty.num_edges) == (3, 0)
    assert libgat.Graph(np.zeros((2, 0), dtype=np.int64)).num_nodes == 0


@pytest.mark.parametrize("bad, error, text", [
    (np.zeros((3, 4), dtype=np.int64), libgat.InvalidError, "expected [2, E]"),
    (np.zeros((2, 4), dtype=np.float32), libgat.InvalidError, "expected integers"),
    (np.array([[0, -1], [1, 0]]), libgat.RangeError, ""),
    ("not an array", libgat.InvalidError, ""),
])
def test_bad_edge_index(bad, error, text):
    with pytest.raises(error, match=text.replace("[", r"\[")):
        libgat.Graph(bad)


def test_id_beyond_num_nodes_is_a_range_error_naming_the_edge():
    with pytest.raises(libgat.RangeError) as info:
        libgat.Graph(EDGES, num_nodes=3)
    assert isinstance(info.value, libgat.Error) and info.value.status == -5
    assert "3" in str(info.value)
    with pytest.raises(libgat.InvalidError):
        libgat.Graph(EDGES, num_nodes=-1)


@pytest.mark.parametrize("name", ["g.gcsr", "g.txt", "g.txt.gz"])
def test_save_and_load_round_trip(tmp_path, name):
    g = libgat.Graph(EDGES, num_nodes=5)
    path = tmp_path / name
    g.save(path)
    back = libgat.Graph.load(path, num_nodes=None if name.endswith("gcsr") else 5)
    assert back.num_nodes == 5
    assert back.edges().tolist() == g.edges().tolist()
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left
    if name.endswith(".gz"):
        assert gzip.open(path).read().startswith(b"#")


def test_gcsr_mapped_and_unverified(tmp_path):
    g = libgat.Graph(EDGES)
    g.save(str(tmp_path / "g.gcsr"))
    for kwargs in ({"mmap": True}, {"verify": False}, {"mmap": True, "verify": False}):
        assert libgat.Graph.load(tmp_path / "g.gcsr", **kwargs).edges().tolist() == \
            g.edges().tolist()


def test_file_errors(tmp_path):
    with pytest.raises(libgat.IOError, match="missing"):
        libgat.Graph.load(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1\n1 x\n")
    with pytest.raises(libgat.FormatError, match="bad.txt:2: ") as info:
        libgat.Graph.load(bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(libgat.RangeError):
        libgat.Graph.load(os.path.join(PYG, "example6", "edges.txt"), num_nodes=2)
    corrupt = tmp_path / "c.gcsr"
    libgat.Graph(EDGES).save(corrupt)
    corrupt.write_bytes(corrupt.read_bytes()[:100])  # truncated
    with pytest.raises(libgat.FormatError, match="c.gcsr"):
        libgat.Graph.load(corrupt)
    with pytest.raises(libgat.IOError):
        libgat.Graph(EDGES).save(tmp_path / "no" / "such" / "folder.gcsr")


def test_generator_is_deterministic_and_thread_count_free():
    a = libgat.generate_edges(1000, 5000, seed=7, threads=1)
    b = libgat.generate_edges(1000, 5000, seed=7, threads=2)
    assert a.shape == (2, 5000) and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < 1000 and not (a[0] == a[1]).any()
    assert not np.array_equal(a, libgat.generate_edges(1000, 5000, seed=8))
    g = libgat.Graph.generate(1000, 5000, kind="uniform", seed=1)
    assert (g.num_nodes, g.num_edges) == (1000, 5000)
    with pytest.raises(libgat.InvalidError, match="kind"):
        libgat.generate_edges(10, 10, kind="kronecker")


def test_reorder_keeps_the_edges():
    g = libgat.Graph(libgat.generate_edges(200, 1000, seed=3))
    for ordering in ("degree", "rcm"):
        h, new_id = g.reorder(ordering)
        assert sorted(new_id.tolist()) == list(range(200))
        old = g.edges()
        mapped = sorted(zip(new_id[old[0]].tolist(), new_id[old[1]].tolist()))
        assert sorted(map(tuple, h.edges().T.tolist())) == mapped
