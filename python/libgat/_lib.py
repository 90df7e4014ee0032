"""Finding libgat.so and declaring the C functions of include/gat.h to ctypes.

Why ctypes and not cffi: ctypes is part of the standard library, so the
package needs nothing beyond Debian's python3 and python3-numpy, no compiler
at install or import time (cffi's API mode compiles a module; its ABI mode is
ctypes with a C parser), and a ctypes.CDLL call releases the interpreter lock
for its duration, which is what lets forwards and fits on other models run
in other Python threads meanwhile. The price is that the declarations below
repeat gat.h's signatures and struct layouts by hand; tests/python check
every one through the calls that use them.

Where the library comes from, first found wins:
  1. the file named by the environment variable LIBGAT_LIBRARY;
  2. libgat.so inside this package (copied from a meson build by
     `pip install ./python`, see python/setup.py);
  3. the path meson configured when it installed this package
     (`meson install`, _install_paths.py);
  4. ctypes.util.find_library("gat") (a libgat.so the dynamic linker knows).
"""

import ctypes
import ctypes.util
import os

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_void_p = ctypes.c_void_p


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    env = os.environ.get("LIBGAT_LIBRARY")
    if env:
        # An explicit choice is not second-guessed: it loads or fails.
        return [("LIBGAT_LIBRARY", env)]
    found = []
    bundled = os.path.join(here, "libgat.so")
    if os.path.exists(bundled):
        found.append(("the package", bundled))
    try:
        from . import _install_paths  # written by meson install
        found.append(("meson install", _install_paths.LIBRARY))
    except ImportError:
        pass
    system = ctypes.util.find_library("gat")
    if system:
        found.append(("the dynamic linker", system))
    return found


def _load():
    tried = []
    for where, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as error:
            tried.append("%s (from %s): %s" % (path, where, error))
    raise ImportError(
        "libgat: cannot load libgat.so; tried: %s. Build it with meson and set LIBGAT_LIBRARY "
        "to BUILD/src/libgat.so, or install the package with the library inside it "
        "(docs/python.md)" % ("; ".join(tried) if tried else "nothing found"))


lib, path = _load()


class ContextOptions(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int), ("pin", ctypes.c_int),
                ("allocator", c_void_p), ("gemm", ctypes.c_int), ("message", c_void_p),
                ("message_size", ctypes.c_size_t)]


class LayerConfig(ctypes.Structure):
    _fields_ = [("in_features", ctypes.c_int64), ("heads", ctypes.c_int64),
                ("channels", ctypes.c_int64), ("concat", ctypes.c_bool),
                ("negative_slope", ctypes.c_float), ("add_self_loops", ctypes.c_bool),
                ("bias", ctypes.c_bool), ("type", ctypes.c_int), ("edge_dim", ctypes.c_int64),
                ("fill_value", ctypes.c_int), ("fill_constant", ctypes.c_float),
                ("residual", ctypes.c_bool), ("dst_features", ctypes.c_int64),
                ("share_weights", ctypes.c_bool)]


class LayerParams(ctypes.Structure):
    _fields_ = [("weight", c_void_p), ("att_src", c_void_p), ("att_dst", c_void_p),
                ("bias", c_void_p), ("att", c_void_p), ("weight_dst", c_void_p),
                ("bias_src", c_void_p), ("bias_dst", c_void_p), ("weight_edge", c_void_p),
                ("att_edge", c_void_p), ("weight_res", c_void_p)]


class Inputs(ctypes.Structure):
    _fields_ = [("x", c_void_p), ("num_nodes", ctypes.c_int64), ("in_features", ctypes.c_int64),
                ("x_dst", c_void_p), ("num_dst_nodes", ctypes.c_int64),
                ("dst_features", ctypes.c_int64), ("edge_attr", c_void_p),
                ("num_edges", ctypes.c_int64), ("edge_dim", ctypes.c_int64)]


class ForwardTimes(ctypes.Structure):
    _fields_ = [("projection", ctypes.c_double), ("edges", ctypes.c_double),
                ("activation", ctypes.c_double)]


class Metrics(ctypes.Structure):
    _fields_ = [("loss", ctypes.c_double), ("accuracy", ctypes.c_double)]


class TrainerOptions(ctypes.Structure):
    _fields_ = [("optimizer", ctypes.c_int), ("learning_rate", ctypes.c_double),
                ("weight_decay", ctypes.c_double), ("beta1", ctypes.c_double),
                ("beta2", ctypes.c_double), ("eps", ctypes.c_double),
                ("dropout", ctypes.c_double), ("attention_dropout", ctypes.c_double),
                ("projected_dropout", ctypes.c_double), ("seed", ctypes.c_uint64),
                ("input_format", ctypes.c_int)]


class EpochReport(ctypes.Structure):
    _fields_ = [("epoch", ctypes.c_int64), ("train", Metrics), ("val", Metrics),
                ("seconds", ctypes.c_double), ("saved", ctypes.c_bool),
                ("patience_left", ctypes.c_int64)]


ON_EPOCH = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.POINTER(EpochReport), c_void_p)


class FitOptions(ctypes.Structure):
    _fields_ = [("max_epochs", ctypes.c_int64), ("patience", ctypes.c_int64),
                ("on_epoch", ON_EPOCH), ("user", c_void_p)]


class FitResult(ctypes.Structure):
    _fields_ = [("epochs", ctypes.c_int64), ("best_epoch", ctypes.c_int64),
                ("best_val", Metrics), ("stopped_early", ctypes.c_bool)]


_i64 = ctypes.c_int64
_int = ctypes.c_int
_bool = ctypes.c_bool
_str = ctypes.c_char_p
_P = ctypes.POINTER
_status = ctypes.c_int

# name: (restype, argtypes). Pointers to arrays are c_void_p: callers pass
# numpy's data address, which is the cheapest argument ctypes converts.
_SIGNATURES = {
    "gat_status_str": (_str, [_status]),
    "gat_have_blas": (_bool, []),
    "gat_context_options_init": (None, [_P(ContextOptions)]),
    "gat_context_create": (_status, [_P(c_void_p), _P(ContextOptions)]),
    "gat_context_destroy": (None, [_P(c_void_p)]),
    "gat_context_message": (_str, [c_void_p]),
    "gat_context_threads": (_int, [c_void_p]),
    "gat_context_set_threads": (_status, [c_void_p, _int]),
    "gat_context_topology": (_str, [c_void_p]),
    "gat_context_pin_report": (_str, [c_void_p]),
    "gat_context_trim": (None, [c_void_p]),
    "gat_max_threads": (_int, []),
    "gat_output_open": (_status, [c_void_p, _P(c_void_p), _str, c_void_p, _int]),
    "gat_output_write": (_status, [c_void_p, c_void_p, c_void_p, ctypes.c_size_t]),
    "gat_output_commit": (_status, [c_void_p, _P(c_void_p), _int]),
    "gat_output_discard": (None, [_P(c_void_p)]),
    "gat_graph_create": (_status, [c_void_p, _P(c_void_p), _i64, _i64, c_void_p, c_void_p]),
    "gat_graph_create_bipartite": (_status, [c_void_p, _P(c_void_p), _i64, _i64, _i64, c_void_p,
                                             c_void_p]),
    "gat_graph_num_src_nodes": (_i64, [c_void_p]),
    "gat_graph_destroy": (None, [_P(c_void_p)]),
    "gat_graph_num_nodes": (_i64, [c_void_p]),
    "gat_graph_num_edges": (_i64, [c_void_p]),
    "gat_graph_num_self_loops": (_i64, [c_void_p]),
    "gat_graph_num_attention_edges": (_i64, [c_void_p, _bool]),
    "gat_graph_max_in_degree": (_i64, [c_void_p]),
    "gat_graph_edges": (_status, [c_void_p, c_void_p, _bool, c_void_p, c_void_p]),
    "gat_graph_csr": (None, [c_void_p, _P(c_void_p), _P(c_void_p)]),
    "gat_graph_save": (_status, [c_void_p, c_void_p, _str]),
    "gat_graph_load": (_status, [c_void_p, _P(c_void_p), _str, ctypes.c_uint]),
    "gat_graph_read": (_status, [c_void_p, _P(c_void_p), _str, _i64]),
    "gat_generate_edges": (_status, [c_void_p, _int, _i64, _i64, ctypes.c_uint64, c_void_p,
                                     c_void_p]),
    "gat_graph_reorder": (_status, [c_void_p, c_void_p, _int, _P(c_void_p), c_void_p]),
    "gat_layer_config_init": (None, [_P(LayerConfig), _i64, _i64, _i64]),
    "gat_model_create": (_status, [c_void_p, _P(c_void_p), _int, _P(LayerConfig), _int]),
    "gat_model_destroy": (None, [_P(c_void_p)]),
    "gat_model_num_layers": (_int, [c_void_p]),
    "gat_model_activation": (_int, [c_void_p]),
    "gat_model_layer_config": (_status, [c_void_p, _int, _P(LayerConfig)]),
    "gat_model_layer_params": (_status, [c_void_p, _int, _P(LayerParams)]),
    "gat_model_in_features": (_i64, [c_void_p]),
    "gat_model_out_features": (_i64, [c_void_p]),
    "gat_model_preprocessing": (ctypes.c_uint, [c_void_p]),
    "gat_model_set_preprocessing": (_status, [c_void_p, c_void_p, ctypes.c_uint]),
    "gat_model_preprocess": (_status, [c_void_p, c_void_p, c_void_p, _i64, _i64]),
    "gat_model_init_glorot": (_status, [c_void_p, c_void_p, ctypes.c_uint64]),
    "gat_model_load": (_status, [c_void_p, _P(c_void_p), _str]),
    "gat_model_save": (_status, [c_void_p, c_void_p, _str]),
    "gat_model_forward": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64, _i64,
                                    c_void_p, c_void_p]),
    "gat_model_forward_timed": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64, _i64,
                                          c_void_p, c_void_p, _P(ForwardTimes)]),
    "gat_model_forward_inputs": (_status, [c_void_p, c_void_p, c_void_p, _P(Inputs), c_void_p,
                                           c_void_p, _P(ForwardTimes)]),
    "gat_model_forward_reference": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64,
                                              _i64, c_void_p, c_void_p]),
    "gat_features_normalize_rows": (_status, [c_void_p, c_void_p, _i64, _i64]),
    "gat_model_evaluate": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64, _i64,
                                     c_void_p, c_void_p, _i64, _P(Metrics)]),
    "gat_trainer_options_init": (None, [_P(TrainerOptions)]),
    "gat_trainer_create": (_status, [c_void_p, _P(c_void_p), c_void_p, c_void_p, c_void_p,
                                     _i64, _i64, _P(TrainerOptions)]),
    "gat_trainer_destroy": (None, [_P(c_void_p)]),
    "gat_trainer_steps": (_i64, [c_void_p]),
    "gat_trainer_sparse_input": (_bool, [c_void_p]),
    "gat_trainer_step": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64,
                                   _P(Metrics)]),
    "gat_trainer_evaluate": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64,
                                       _P(Metrics)]),
    "gat_trainer_forward": (_status, [c_void_p, c_void_p, _bool, c_void_p]),
    "gat_trainer_backward": (_status, [c_void_p, c_void_p, c_void_p, c_void_p]),
    "gat_trainer_gradients": (_status, [c_void_p, _int, _P(LayerParams)]),
    "gat_trainer_update": (_status, [c_void_p, c_void_p]),
    "gat_fit_options_init": (None, [_P(FitOptions)]),
    "gat_trainer_fit": (_status, [c_void_p, c_void_p, c_void_p, c_void_p, _i64, c_void_p,
                                  _i64, _P(FitOptions), _P(FitResult)]),
}

for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes
