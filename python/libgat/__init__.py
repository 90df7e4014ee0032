"""libgat from Python: the Graph Attention Network engine (PyG GATConv
semantics) over NumPy arrays and PyTorch tensors.

    import libgat
    graph = libgat.Graph(edge_index)                 # [2, E], PyG's orientation
    model = libgat.Model.load("model.safetensors")   # or Model.init / Model.from_pyg
    out = model(x, graph)                            # numpy.ndarray [N, out]

The C library is reached through ctypes (libgat._lib says why and where
libgat.so is looked for). Every failure raises a libgat.Error subclass
carrying the library's message. docs/python.md has the whole API.
"""

from ._core import (Context, Error, FormatError, InvalidError, IOError, NoMemoryError,
                    NonFiniteError, OverflowError, RangeError, UnsupportedError)
from ._lib import lib as _clib, path as library_path
from .graph import Graph, generate_edges
from .model import ACTIVATIONS, PREPROCESSING, ForwardTimes, Metrics, Model, normalize_features
from .training import PRESETS, EpochReport, FitResult, Trainer, fit

__version__ = "0.1.0"  # the meson project's version (tests/python check they agree)

__all__ = ["Context", "EpochReport", "Error", "FitResult", "FormatError", "ForwardTimes",
           "Graph", "IOError", "InvalidError", "Metrics", "Model", "NoMemoryError",
           "NonFiniteError", "OverflowError", "PREPROCESSING", "PRESETS", "RangeError",
           "Trainer", "UnsupportedError", "ACTIVATIONS", "fit", "generate_edges", "have_blas", "library_path",
           "normalize_features"]


def have_blas():
    """Whether this build of the library calls a BLAS (gemm="blas" works)."""
    return bool(_clib.gat_have_blas())
