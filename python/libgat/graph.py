"""libgat.Graph: the destination-indexed CSR the engine runs on."""

import ctypes
import zlib

import numpy as np

from . import _core, _lib

L = _lib.lib

_GENERATORS = {"rmat": 0, "uniform": 1}
_ORDERINGS = {"none": 0, "degree": 1, "rcm": 2}
_LOAD_MMAP, _LOAD_NO_VERIFY = 1, 2


def _edge_index(value):
    """Rows (src, dst) of a [2, E] integer array, each C-contiguous int64."""
    array = _core._as_numpy(value, "edge_index")
    if array.ndim != 2 or array.shape[0] != 2:
        raise _core.invalid("edge_index: shape %s, expected [2, E] (row 0 sources, row 1 "
                            "destinations, as PyG's edge_index)" % (list(array.shape),))
    if array.dtype.kind not in "iu":
        raise _core.invalid("edge_index: dtype %s, expected integers" % array.dtype)
    return (_core.int_vector(array[0], "edge_index[0]"),
            _core.int_vector(array[1], "edge_index[1]"))


class Graph:
    """A directed graph; edge (src, dst) carries a message from src to dst.

    Graph(edge_index, num_nodes=None): edge_index is a [2, E] integer array
    or tensor in PyG's orientation (row 0 sources, row 1 destinations);
    num_nodes defaults to the largest id + 1; a pair (N_src, N_dst) makes a
    bipartite graph (PyG's x = (x_src, x_dst) with sources in [0, N_src),
    destinations in [0, N_dst)). Duplicate edges and
    self-loops are kept as given (a layer with add_self_loops replaces the
    self-loops by one per node when it runs)."""

    def __init__(self, edge_index, num_nodes=None, *, context=None, threads=None):
        src, dst = _edge_index(edge_index)
        if isinstance(num_nodes, tuple):  # bipartite: (N_src, N_dst), PyG's size
            sides = [n for n in num_nodes]
            if len(sides) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                      or n < 0 for n in sides):
                raise _core.invalid("num_nodes=%r: expected (N_src, N_dst), non-negative ints"
                                    % (num_nodes,))
            self._init_empty(context, threads)
            self._context.call(None, L.gat_graph_create_bipartite, ctypes.byref(self._handle),
                               int(sides[0]), int(sides[1]), src.shape[0], _core.address(src),
                               _core.address(dst))
            return
        if num_nodes is None:
            num_nodes = int(max(src.max(initial=-1), dst.max(initial=-1))) + 1
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) \
                or num_nodes < 0:
            raise _core.invalid("num_nodes=%r: expected a non-negative int" % (num_nodes,))
        self._init_empty(context, threads)
        self._context.call(None, L.gat_graph_create, ctypes.byref(self._handle),
                           int(num_nodes), src.shape[0], _core.address(src), _core.address(dst))

    def _init_empty(self, context, threads):
        self._context = _core.context_for(context, threads)
        self._handle = ctypes.c_void_p()

    @classmethod
    def _adopt(cls, context, threads, make):
        graph = cls.__new__(cls)
        graph._init_empty(context, threads)
        make(graph)
        return graph

    @classmethod
    def load(cls, path, num_nodes=None, *, mmap=False, verify=True, context=None,
             threads=None):
        """Reads an edge list ('src dst' lines, '#' comments, .gz too) or a
        binary .gcsr file, told apart by its first bytes. num_nodes: the
        file's own N when None; for an edge list every id must be below it.
        mmap=True maps a .gcsr file and uses it in place; verify=False skips
        a .gcsr's checksum (its structure is still checked)."""
        raw = _core.fspath(path)
        n = -1 if num_nodes is None else int(num_nodes)
        flags = (_LOAD_MMAP if mmap else 0) | (0 if verify else _LOAD_NO_VERIFY)

        def make(graph):
            if flags:
                if num_nodes is not None:
                    raise _core.invalid("num_nodes applies to edge lists; a .gcsr loaded "
                                        "with mmap or verify=False has its own")
                graph._context.call(None, L.gat_graph_load, ctypes.byref(graph._handle), raw,
                                    flags)
            else:
                graph._context.call(None, L.gat_graph_read, ctypes.byref(graph._handle), raw,
                                    n)
        return cls._adopt(context, threads, make)

    @classmethod
    def generate(cls, num_nodes, num_edges, kind="rmat", seed=0, *, context=None,
                 threads=None):
        """A random directed multigraph (no self-loops) from the library's
        generator: kind "rmat" (Graph500's R-MAT) or "uniform"; the same seed
        gives the same graph on any thread count."""
        edge_index = generate_edges(num_nodes, num_edges, kind=kind, seed=seed,
                                    threads=threads)
        return cls(edge_index, num_nodes, context=context, threads=threads)

    def save(self, path):
        """Writes the graph: a binary .gcsr when path ends in '.gcsr' (mapped
        in place by Graph.load(mmap=True)), else a text edge list ('src dst'
        per line, gzip-compressed when path ends in '.gz') in library order.
        Either file appears complete or not at all."""
        raw = _core.fspath(path)
        if raw.endswith(b".gcsr"):
            self._context.call(None, L.gat_graph_save, self._handle, raw)
            return
        edges = self.edges(add_self_loops=False)
        gz = zlib.compressobj(6, zlib.DEFLATED, 31) if raw.endswith(b".gz") else None
        output = ctypes.c_void_p()
        with self._context.lock:
            # The library's output file: a temporary name renamed on commit
            # (or a device written in place), as its own writers do.
            self._context.check(L.gat_output_open(self._context.handle, ctypes.byref(output),
                                                  raw, None, 0))
            try:
                def write(data):
                    if gz is not None:
                        data = gz.compress(data)
                    self._context.check(L.gat_output_write(self._context.handle, output, data,
                                                           len(data)))
                write(b"# libgat edge list: %d nodes, %d edges (src dst)\n"
                      % (self.num_nodes, self.num_edges))
                for begin in range(0, edges.shape[1], 1 << 16):
                    chunk = edges[:, begin:begin + (1 << 16)].T.tolist()
                    write("".join("%d %d\n" % (s, d) for s, d in chunk).encode())
                if gz is not None:
                    tail = gz.flush()
                    gz = None
                    write(tail)
            except BaseException:
                L.gat_output_discard(ctypes.byref(output))
                raise
            self._context.check(L.gat_output_commit(self._context.handle,
                                                    ctypes.byref(output), 1))

    @property
    def num_src_nodes(self):
        """Source nodes: N_src of a bipartite graph, else num_nodes."""
        return L.gat_graph_num_src_nodes(self._handle)

    @property
    def num_nodes(self):
        return L.gat_graph_num_nodes(self._handle)

    @property
    def num_edges(self):
        """Edges as given, self-loops included."""
        return L.gat_graph_num_edges(self._handle)

    @property
    def num_self_loops(self):
        return L.gat_graph_num_self_loops(self._handle)

    @property
    def max_in_degree(self):
        return L.gat_graph_max_in_degree(self._handle)

    def num_attention_edges(self, add_self_loops=True):
        """E': the edges attention runs over under that self-loop policy."""
        return L.gat_graph_num_attention_edges(self._handle, bool(add_self_loops))

    def edges(self, add_self_loops=False):
        """The edges in library order as a [2, E'] int64 array (row 0
        sources, row 1 destinations): by destination, input order within a
        destination, with add_self_loops every self-loop replaced by one
        (i, i) closing row i. This is the order of Model.attention's
        coefficients."""
        count = self.num_attention_edges(add_self_loops)
        out = np.empty((2, count), dtype=np.int64)
        self._context.call(None, L.gat_graph_edges, self._handle, bool(add_self_loops),
                           _core.address(out[0]), _core.address(out[1]))
        return out

    @property
    def edge_index(self):
        """edges(add_self_loops=False): the edges as given, in library order."""
        return self.edges(False)

    def csr(self):
        """(row_ptr [N+1] int64, col [E] int32): copies of the CSR by
        destination (row i lists the sources of node i's incoming edges)."""
        row_ptr = ctypes.c_void_p()
        col = ctypes.c_void_p()
        L.gat_graph_csr(self._handle, ctypes.byref(row_ptr), ctypes.byref(col))
        n, e = self.num_nodes, self.num_edges
        rows = np.ctypeslib.as_array(ctypes.cast(row_ptr, ctypes.POINTER(ctypes.c_int64)),
                                     (n + 1,)).copy()
        cols = (np.ctypeslib.as_array(ctypes.cast(col, ctypes.POINTER(ctypes.c_int32)),
                                      (e,)).copy() if e else np.empty(0, np.int32))
        return rows, cols

    def reorder(self, ordering="rcm"):
        """(reordered Graph, new_id): the graph relabelled for locality
        ("degree" or "rcm"; new_id[old] = new). Features permuted with
        x_new[new_id] = x give, un-permuted, the same output bits."""
        kind = _core._choice("ordering", ordering, _ORDERINGS)
        new_id = np.empty(self.num_nodes, dtype=np.int64)

        def make(graph):
            self._context.call(None, L.gat_graph_reorder, self._handle, kind,
                               ctypes.byref(graph._handle), _core.address(new_id))
        return Graph._adopt(None, None, make), new_id

    @property
    def context(self):
        return self._context

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value and L is not None:
            L.gat_graph_destroy(ctypes.byref(handle))

    def __repr__(self):
        return "libgat.Graph(num_nodes=%d, num_edges=%d)" % (self.num_nodes, self.num_edges)


def generate_edges(num_nodes, num_edges, kind="rmat", seed=0, threads=None):
    """A [2, num_edges] int64 edge_index of a random directed multigraph on
    num_nodes nodes (no self-loops): "rmat" (Graph500's a=0.57, b=c=0.19,
    scrambled ids) or "uniform". Deterministic in seed, any thread count."""
    code = _core._choice("kind", kind, _GENERATORS)
    for name, value in (("num_nodes", num_nodes), ("num_edges", num_edges)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise _core.invalid("%s=%r: expected a non-negative int" % (name, value))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2 ** 64:
        raise _core.invalid("seed=%r: expected an int in [0, 2^64)" % (seed,))
    out = np.empty((2, int(num_edges)), dtype=np.int64)
    context = _core.Context(threads=threads)
    context.call(None, L.gat_generate_edges, code, int(num_nodes), int(num_edges), int(seed),
                 _core.address(out[0]), _core.address(out[1]))
    return out
