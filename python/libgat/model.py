"""libgat.Model: a stack of PyG GATConv layers run by the engine."""

import collections
import ctypes
import os
import re
import tempfile

import numpy as np

from . import _core, _lib
from .graph import Graph

L = _lib.lib

ACTIVATIONS = ("elu", "relu", "none")  # gat_activation's order
Metrics = collections.namedtuple("Metrics", "loss accuracy")
ForwardTimes = collections.namedtuple("ForwardTimes", "projection edges activation")
_LAYER_KEYS = ("heads", "channels", "out_channels", "concat", "negative_slope",
               "add_self_loops", "bias", "type", "edge_dim", "fill_value", "residual",
               "dst_features", "share_weights")
# gat_layer_type's and gat_fill's order.
LAYER_TYPES = ("gat", "gatv2")
FILL_VALUES = ("mean", "add", "max", "min", "mul")


# gat_preprocess's bits, in the order the library applies them.
PREPROCESSING = {"normalize_rows": 1}


def _preprocess_bits(steps):
    if steps is None or steps == "none":
        return 0
    if isinstance(steps, str):
        steps = [steps]
    bits = 0
    for step in steps:
        if step not in PREPROCESSING:
            raise _core.invalid("preprocess: %r: expected None or some of %s"
                                % (step, ", ".join(PREPROCESSING)))
        bits |= PREPROCESSING[step]
    return bits


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise _core.invalid("%s=%r: expected a positive int" % (name, value))
    return int(value)


def _layer_config(spec, in_features, index):
    """A LayerConfig from "HxC", "HxC:mean", (heads, channels[, concat]) or a
    dict of GATConv's / GATv2Conv's arguments (heads, channels or
    out_channels, concat, negative_slope, add_self_loops, bias, type "gat"
    or "gatv2", edge_dim, fill_value, residual, dst_features,
    share_weights)."""
    where = "layers[%d]" % index
    options = {}
    if isinstance(spec, str):
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*(?::\s*(mean|concat)\s*)?", spec)
        if not match:
            raise _core.invalid("%s=%r: expected 'HEADSxCHANNELS' optionally followed by "
                                "':mean' or ':concat' (e.g. '8x8', '1x7:mean')" % (where, spec))
        heads, channels = int(match.group(1)), int(match.group(2))
        options["concat"] = match.group(3) != "mean"
    elif isinstance(spec, dict):
        unknown = sorted(set(spec) - set(_LAYER_KEYS))
        if unknown:
            raise _core.invalid("%s: unknown key %r (known: %s)"
                                % (where, unknown[0], ", ".join(_LAYER_KEYS)))
        heads = spec.get("heads", 1)
        channels = spec.get("channels", spec.get("out_channels"))
        if channels is None:
            raise _core.invalid("%s: no 'channels' (or 'out_channels')" % where)
        options = {k: spec[k] for k in _LAYER_KEYS[3:] if k in spec}
    elif isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        heads, channels = spec[0], spec[1]
        if len(spec) == 3:
            options["concat"] = spec[2]
    else:
        raise _core.invalid("%s=%r: expected 'HxC', (heads, channels[, concat]) or a dict"
                            % (where, spec))
    config = _lib.LayerConfig()
    L.gat_layer_config_init(ctypes.byref(config), in_features, _positive(where + ".heads", heads),
                            _positive(where + ".channels", channels))
    for key, value in options.items():
        if key == "type":
            if value not in LAYER_TYPES:
                raise _core.invalid("%s.type=%r: expected one of %s" % (where, value, LAYER_TYPES))
            value = LAYER_TYPES.index(value)
        elif key in ("edge_dim", "dst_features"):
            if value is None:
                value = 0
            elif value != 0:
                value = _positive(where + "." + key, value)
        elif key == "fill_value":
            if isinstance(value, str):
                if value not in FILL_VALUES:
                    raise _core.invalid("%s.fill_value=%r: expected one of %s or a number"
                                        % (where, value, FILL_VALUES))
                value = FILL_VALUES.index(value)
            elif isinstance(value, (int, float, np.integer, np.floating)) and \
                    not isinstance(value, bool) and np.isfinite(value):
                config.fill_constant = float(value)
                value = len(FILL_VALUES)  # GAT_FILL_CONSTANT
            else:
                raise _core.invalid("%s.fill_value=%r: expected one of %s or a finite number"
                                    % (where, value, FILL_VALUES))
        elif key == "negative_slope":
            value = float(value)
            if not np.isfinite(value):
                raise _core.invalid("%s.negative_slope=%r: expected a finite number"
                                    % (where, value))
        elif not isinstance(value, (bool, np.bool_)):
            raise _core.invalid("%s.%s=%r: expected True or False" % (where, key, value))
        setattr(config, key, value)
    return config


def _layer_tensors(c, params):
    """{PyG name: (pointer, shape)} of a layer's tensors (gat_layer_params)."""
    hc, width = c.heads * c.channels, c.heads * c.channels if c.concat else c.channels
    f_dst = c.dst_features or c.in_features
    att = (1, c.heads, c.channels)
    if c.type == 0:
        if params.weight_dst:
            shapes = {"lin_src.weight": (params.weight, (hc, c.in_features)),
                      "lin_dst.weight": (params.weight_dst, (hc, f_dst))}
        else:
            shapes = {"lin.weight": (params.weight, (hc, c.in_features))}
        shapes["att_src"] = (params.att_src, att)
        shapes["att_dst"] = (params.att_dst, att)
    else:
        shapes = {"lin_l.weight": (params.weight, (hc, c.in_features))}
        if params.bias_src:
            shapes["lin_l.bias"] = (params.bias_src, (hc,))
        if params.weight_dst:
            shapes["lin_r.weight"] = (params.weight_dst, (hc, f_dst))
        if params.bias_dst:
            shapes["lin_r.bias"] = (params.bias_dst, (hc,))
        shapes["att"] = (params.att, att)
    if params.weight_edge:
        shapes["lin_edge.weight"] = (params.weight_edge, (hc, c.edge_dim))
    if params.att_edge:
        shapes["att_edge"] = (params.att_edge, att)
    if params.weight_res:
        shapes["res.weight"] = (params.weight_res, (width, f_dst))
    if params.bias:
        shapes["bias"] = (params.bias, (width,))
    return shapes


def _is_conv(module):
    """A GATConv (att_src) or GATv2Conv (att beside lin_l) module."""
    return getattr(module, "att_src", None) is not None or (
        getattr(module, "att", None) is not None and getattr(module, "lin_l", None) is not None)


def _activation_code(activation):
    if activation not in ACTIVATIONS:
        raise _core.invalid("activation=%r: expected one of %s" % (activation, ACTIVATIONS))
    return ACTIVATIONS.index(activation)


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2 ** 64:
        raise _core.invalid("seed=%r: expected an int in [0, 2^64)" % (seed,))
    return int(seed)


class Model:
    """A stack of GATConv layers (PyG semantics) with an activation between
    layers. Make one with Model.load, Model.init or Model.from_pyg; run it
    with model(x, graph).

    Each model has its own libgat.Context (threads, pinning) unless given
    one; threads= on a call overrides the context's count for that call."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use libgat.Model.load(path), Model.init(in_features, layers) or "
                        "Model.from_pyg(modules)")

    @classmethod
    def _adopt(cls, context, threads, pin, gemm, make):
        model = cls.__new__(cls)
        model._context = _core.context_for(context, threads, pin, gemm)
        model._handle = ctypes.c_void_p()
        make(model)
        model._describe()
        return model

    def _describe(self):
        self._configs = []
        for i in range(L.gat_model_num_layers(self._handle)):
            config = _lib.LayerConfig()
            _core.Context.check(self._context, L.gat_model_layer_config(
                self._handle, i, ctypes.byref(config)))
            self._configs.append(config)
        self._in = L.gat_model_in_features(self._handle)
        self._out = L.gat_model_out_features(self._handle)

    @classmethod
    def load(cls, path, *, context=None, threads=None, pin="none", gemm="auto"):
        """Reads a libgat safetensors model (gat-train --save, gat-init,
        tools/export_pyg.py, Model.save)."""
        raw = _core.fspath(path)

        def make(model):
            model._context.call(None, L.gat_model_load, ctypes.byref(model._handle), raw)
        return cls._adopt(context, threads, pin, gemm, make)

    @classmethod
    def init(cls, in_features, layers, *, seed=0, activation="elu", preprocess=None,
             context=None, threads=None, pin="none", gemm="auto"):
        """A new model with PyG's reset_parameters: Glorot-uniform weights and
        attention vectors, zero bias, drawn from a stream keyed by seed (the
        same on any machine). layers, first to last: "HxC" or "HxC:mean"
        (as gat-init --layers), (heads, channels[, concat]) or dicts of
        GATConv arguments (heads, channels, concat, negative_slope,
        add_self_loops, bias). The activation runs between layers.
        preprocess: the steps the model records for its raw input
        (model.preprocessing), e.g. "normalize_rows" as gat-train's."""
        width = _positive("in_features", in_features)
        if isinstance(layers, (str, dict)) or not hasattr(layers, "__len__") or not layers:
            raise _core.invalid("layers: expected a non-empty list of layer specs")
        configs = (_lib.LayerConfig * len(layers))()
        for i, spec in enumerate(layers):
            configs[i] = _layer_config(spec, width, i)
            c = configs[i]
            width = c.heads * c.channels if c.concat else c.channels
        code = _activation_code(activation)
        seed = _seed(seed)
        steps = _preprocess_bits(preprocess)

        def make(model):
            model._context.call(None, L.gat_model_create, ctypes.byref(model._handle),
                                len(layers), configs, code)
            model._context.call(None, L.gat_model_init_glorot, model._handle, seed)
            model._context.call(None, L.gat_model_set_preprocessing, model._handle, steps)
        return cls._adopt(context, threads, pin, gemm, make)

    @classmethod
    def from_pyg(cls, modules, *, activation="elu", configs=None, prefixes=None, context=None,
                 threads=None, pin="none", gemm="auto"):
        """A model with the parameters of PyG GATConv / GATv2Conv layers: a
        list of modules (layer i = modules[i]), a module containing them
        (every submodule with att_src, or att beside lin_l, in registration
        order), or a
        state_dict (prefixes as tools/export_pyg.py finds them, configs per
        layer for what a state_dict does not record: concat,
        negative_slope, add_self_loops). What the engine cannot run exactly
        (a bias inside lin, lin_edge or res, a tensor fill_value, non-finite
        values) is refused. Uses
        tools/export_pyg.py's checks (libgat.export_pyg); needs torch."""
        from . import export_pyg
        import torch

        with tempfile.TemporaryDirectory(prefix="libgat-") as folder:
            path = os.path.join(folder, "model.safetensors")
            if isinstance(modules, dict):
                found = prefixes or export_pyg.find_prefixes(modules)
                if not found:
                    raise _core.invalid("from_pyg: no GATConv layers in the state_dict (no key "
                                        "ends in att_src)")
                found = [export_pyg._normal_prefix(p) for p in found]
                try:
                    export_pyg.export_state_dict(modules, found, configs, path, activation)
                except ValueError as error:
                    raise _core.invalid("from_pyg: %s" % error) from None
            else:
                if isinstance(modules, torch.nn.Module):
                    if _is_conv(modules):
                        modules = [modules]
                    else:
                        modules = [m for _, m in modules.named_modules() if _is_conv(m)]
                modules = list(modules)
                if not modules:
                    raise _core.invalid("from_pyg: no GATConv layers found")
                try:
                    export_pyg.export_gat_stack(modules, path, activation)
                except ValueError as error:
                    raise _core.invalid("from_pyg: %s" % error) from None
            return cls.load(path, context=context, threads=threads, pin=pin, gemm=gemm)

    def to_pyg(self, prefixes=None, classes=None):
        """(state_dict, configs, activation) for PyG: torch tensors under
        prefixes (default conv1., conv2., ...) and, per layer, the GATConv
        constructor arguments that take them (GATConv(**configs[i]))."""
        from . import export_pyg

        with tempfile.TemporaryDirectory(prefix="libgat-") as folder:
            path = os.path.join(folder, "model.safetensors")
            self.save(path)
            return export_pyg.import_state_dict(path, prefixes, classes)

    def save(self, path):
        """Writes safetensors (temporary name, then rename), as gat-infer reads."""
        raw = _core.fspath(path)
        self._context.call(None, L.gat_model_save, self._handle, raw)

    # -- shape ---------------------------------------------------------------

    @property
    def num_layers(self):
        return len(self._configs)

    @property
    def in_features(self):
        return self._in

    @property
    def out_features(self):
        return self._out

    @property
    def activation(self):
        return ACTIVATIONS[L.gat_model_activation(self._handle)]

    @property
    def layers(self):
        """Per layer, GATConv's constructor arguments (in_channels,
        out_channels, heads, concat, negative_slope, add_self_loops, bias)."""
        return [{"in_channels": c.in_features, "out_channels": c.channels, "heads": c.heads,
                 "concat": bool(c.concat),
                 "negative_slope": float(repr(np.float32(c.negative_slope))),
                 "add_self_loops": bool(c.add_self_loops), "bias": bool(c.bias)}
                for c in self._configs]

    @property
    def context(self):
        return self._context

    @property
    def preprocessing(self):
        """The steps the model expects applied to its raw features, as its
        file records them (metadata "preprocess"): a tuple of names, e.g.
        ("normalize_rows",) for gat-train's models. The forward does not
        apply them (it takes x as layer 0 sees it): model.preprocess(x)
        does, as gat-infer does by default. Assignable (a name, names or
        None); saved by save()."""
        bits = L.gat_model_preprocessing(self._handle)
        return tuple(name for name, bit in PREPROCESSING.items() if bits & bit)

    @preprocessing.setter
    def preprocessing(self, steps):
        self._context.call(None, L.gat_model_set_preprocessing, self._handle,
                           _preprocess_bits(steps))

    def preprocess(self, x):
        """A float32 copy of the raw features x [N, in_features] with the
        model's preprocessing applied (a plain copy when it has none)."""
        array = _core.float_matrix(x, "x", cols=self._in)
        array = np.array(array, dtype=np.float32, copy=True, order="C")
        self._context.call(None, L.gat_model_preprocess, self._handle, array.ctypes.data,
                           array.shape[0], array.shape[1])
        return array

    # -- parameters ----------------------------------------------------------

    def parameters(self):
        """{name: writable float32 view of the model's memory} under PyG's
        names and shapes per layer i: layers.{i}.lin.weight [H*C, F_in],
        layers.{i}.att_src and att_dst [1, H, C], layers.{i}.bias [H*C] or
        [C] (only with bias). Writes change the model (keep them finite:
        only save() checks). A view keeps the model alive."""
        return self._views(lambda i, params: L.gat_model_layer_params(
            self._handle, i, ctypes.byref(params)), keep=self)

    def _views(self, fill, keep):
        """Views of the per-layer tensors fill(i, LayerParams) points at,
        laid out as gat_layer_params; each view keeps `keep` alive."""
        views = {}
        for i, c in enumerate(self._configs):
            params = _lib.LayerParams()
            self._context.check(fill(i, params))
            for key, (pointer, shape) in _layer_tensors(c, params).items():
                count = int(np.prod(shape))
                buffer = (ctypes.c_float * count).from_address(pointer)
                buffer._owner = keep  # the view's base keeps the owner alive
                views["layers.%d.%s" % (i, key)] = np.frombuffer(
                    buffer, dtype=np.float32).reshape(shape)
        return views

    def state_dict(self, prefixes=None):
        """Copies of the parameters as {prefix + PyG name: ndarray}, with
        prefixes (default "conv1.", "conv2.", ...) as a PyG model would
        name its layers."""
        prefixes = self._prefixes(prefixes)
        return {prefixes[int(name.split(".")[1])] + name.split(".", 2)[2]: array.copy()
                for name, array in self.parameters().items()}

    def load_state_dict(self, state_dict, prefixes=None):
        """Writes parameters from {prefix + PyG name: array or tensor}
        (state_dict's names; every parameter must be present, values
        finite; lin_src.weight is read as lin.weight)."""
        prefixes = self._prefixes(prefixes)
        staged = {}
        for name, view in self.parameters().items():
            layer, key = int(name.split(".")[1]), name.split(".", 2)[2]
            full = prefixes[layer] + key
            value = state_dict.get(full)
            if value is None and key == "lin.weight":
                value = state_dict.get(prefixes[layer] + "lin_src.weight")
            if value is None:
                raise _core.invalid("load_state_dict: no %r" % full)
            array = _core._as_numpy(value, full)
            if array.dtype.kind != "f":
                raise _core.invalid("%s: dtype %s, expected floating point" % (full, array.dtype))
            if array.size != view.size or array.reshape(-1).shape != (view.size,) or \
                    (array.ndim == view.ndim and array.shape != view.shape):
                raise _core.invalid("%s: shape %s, expected %s"
                                    % (full, list(array.shape), list(view.shape)))
            array = array.astype(np.float32).reshape(view.shape)
            if not np.isfinite(array).all():
                raise _core.NonFiniteError("libgat: %s: NaN or infinity" % full)
            staged[name] = array
        views = self.parameters()
        for name, array in staged.items():
            views[name][...] = array

    def _prefixes(self, prefixes):
        if prefixes is None:
            return ["conv%d." % (i + 1) for i in range(self.num_layers)]
        prefixes = [p if p == "" or p.endswith(".") else p + "." for p in prefixes]
        if len(prefixes) != self.num_layers:
            raise _core.invalid("%d prefixes for %d layers" % (len(prefixes), self.num_layers))
        return prefixes

    # -- running -------------------------------------------------------------

    def _inputs(self, x, graph):
        """(x as float32 C-order, Graph, N). An edge_index becomes a graph of
        x's row count, as PyG takes N from x."""
        if isinstance(graph, Graph):
            n = graph.num_nodes
            return _core.float_matrix(x, "x", rows=n, cols=self._in), graph, n
        x = _core.float_matrix(x, "x", cols=self._in)
        return x, Graph(graph, x.shape[0]), x.shape[0]

    def _ctx(self, context):
        if context is None:
            return self._context
        if not isinstance(context, _core.Context):
            raise _core.invalid("context=%r: expected a libgat.Context" % (context,))
        return context

    def _forward_inputs(self, x, graph, x_dst, edge_attr, threads, context, out=None,
                        attention=None):
        """gat_model_forward_inputs: x_dst [N_dst, F_dst] (PyG's x = (x_src,
        x_dst)) and edge_attr [E, D] (rows in the graph's edge order)."""
        first = self._configs[0]
        if isinstance(graph, Graph):
            x = _core.float_matrix(x, "x", cols=self._in)
        else:
            x, graph, _ = self._inputs(x, graph)
        inputs = _lib.Inputs(x.ctypes.data, x.shape[0], self._in)
        keep = [x]
        n = graph.num_nodes
        if x_dst is not None:
            x_dst = _core.float_matrix(x_dst, "x_dst", rows=n,
                                       cols=first.dst_features or first.in_features)
            keep.append(x_dst)
            inputs.x_dst, inputs.num_dst_nodes = x_dst.ctypes.data, x_dst.shape[0]
            inputs.dst_features = x_dst.shape[1]
        if edge_attr is not None:
            edge_attr = _core.float_matrix(edge_attr, "edge_attr", rows=graph.num_edges)
            keep.append(edge_attr)
            inputs.edge_attr, inputs.num_edges = edge_attr.ctypes.data, edge_attr.shape[0]
            inputs.edge_dim = edge_attr.shape[1]
        out = self._output(out, (n, self._out))
        self._ctx(context).call(threads, L.gat_model_forward_inputs, self._handle, graph._handle,
                                ctypes.byref(inputs), out.ctypes.data,
                                None if attention is None else attention.ctypes.data, None)
        return out, graph

    def forward(self, x, graph, threads=None, out=None, times=False, context=None, *,
                x_dst=None, edge_attr=None):
        """The output [N, out_features] float32 of x [N, in_features] on graph
        (a Graph or a [2, E] edge_index). out: an optional C-contiguous
        float32 array to write into (reused between calls). times=True
        returns (out, ForwardTimes) with the seconds per phase. context: run
        with this Context instead of the model's own (the model is only read
        by a forward, so threads with their own contexts run one model at
        once; none of them may overlap fit or parameter writes). x_dst
        [N, F_dst] (PyG's x = (x_src, x_dst)) and edge_attr [E, D] (rows in
        the edge order of graph) are the inputs of layers with a
        destination width of their own and with edge features."""
        if (x_dst is not None or edge_attr is not None) and not times:
            return self._forward_inputs(x, graph, x_dst, edge_attr, threads, context, out)[0]
        x, graph, n = self._inputs(x, graph)
        out = self._output(out, (n, self._out))
        ctx = self._ctx(context)
        if times:
            measured = _lib.ForwardTimes()
            ctx.call(threads, L.gat_model_forward_timed, self._handle, graph._handle,
                     x.ctypes.data, n, self._in, out.ctypes.data, None, ctypes.byref(measured))
            return out, ForwardTimes(measured.projection, measured.edges, measured.activation)
        ctx.call(threads, L.gat_model_forward, self._handle, graph._handle, x.ctypes.data, n,
                 self._in, out.ctypes.data, None)
        return out

    __call__ = forward

    @staticmethod
    def _output(out, shape):
        if out is None:
            return _core.aligned_empty(shape)
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or \
                out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
            raise _core.invalid("out: expected a writable C-contiguous float32 array of shape "
                                "%s" % (list(shape),))
        return out

    def attention(self, x, graph, threads=None, context=None):
        """(edge_index [2, E'] int64, alpha [E', H] float32): the last layer's
        attention coefficients and the edges they belong to, in library
        order (as PyG's return_attention_weights, with its self-loop policy)."""
        return self.forward_with_attention(x, graph, threads, context)[1:]

    def forward_with_attention(self, x, graph, threads=None, context=None, *, x_dst=None,
                               edge_attr=None):
        """(out, edge_index, alpha) from one forward: model(x, graph) and
        attention(x, graph) together."""
        last = self._configs[-1]
        if x_dst is not None or edge_attr is not None:
            if not isinstance(graph, Graph):
                graph = Graph(graph, _core.float_matrix(x, "x", cols=self._in).shape[0])
            alpha = np.empty((graph.num_attention_edges(last.add_self_loops), last.heads),
                             dtype=np.float32)
            out, graph = self._forward_inputs(x, graph, x_dst, edge_attr, threads, context,
                                              attention=alpha)
            return out, graph.edges(last.add_self_loops), alpha
        x, graph, n = self._inputs(x, graph)
        alpha = np.empty((graph.num_attention_edges(last.add_self_loops), last.heads),
                         dtype=np.float32)
        out = _core.aligned_empty((n, self._out))
        self._ctx(context).call(threads, L.gat_model_forward, self._handle, graph._handle,
                                x.ctypes.data, n, self._in, out.ctypes.data, alpha.ctypes.data)
        return out, graph.edges(last.add_self_loops), alpha

    def reference(self, x, graph):
        """The reference twin: the same layers in double precision with a
        plain softmax (slow; for checking the fast forward)."""
        x, graph, n = self._inputs(x, graph)
        out = np.empty((n, self._out), dtype=np.float32)
        self._context.call(None, L.gat_model_forward_reference, self._handle, graph._handle,
                           x.ctypes.data, n, self._in, out.ctypes.data, None)
        return out

    def evaluate(self, x, graph, labels, index, threads=None, context=None):
        """Metrics(loss, accuracy) of the output over the nodes index (ids, or a
        boolean mask over the nodes): mean NLL of log_softmax and the share
        whose argmax is the label."""
        x, graph, n = self._inputs(x, graph)
        labels = _core.int_vector(labels, "labels", length=n)
        index = _core.int_vector(index, "index", mask_length=n)
        metrics = _lib.Metrics()
        self._ctx(context).call(threads, L.gat_model_evaluate, self._handle, graph._handle,
                                x.ctypes.data, n, self._in, labels.ctypes.data,
                                index.ctypes.data, index.shape[0], ctypes.byref(metrics))
        return Metrics(metrics.loss, metrics.accuracy)

    def trim(self):
        """Releases the scratch memory the model's context keeps between
        forwards."""
        self._context.trim()

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value and L is not None:
            L.gat_model_destroy(ctypes.byref(handle))

    def __repr__(self):
        text = ", ".join("%dx%d%s" % (c.heads, c.channels, "" if c.concat else ":mean")
                         for c in self._configs)
        return "libgat.Model(%d -> [%s], activation=%s)" % (self._in, text, self.activation)


def normalize_features(x):
    """A float32 copy of x with each row divided by its sum (PyG's
    NormalizeFeatures; an all-zero row stays), as gat-train --normalize."""
    array = _core.float_matrix(x, "x")
    array = np.array(array, dtype=np.float32, copy=True, order="C")
    context = _core.Context(threads=1)
    context.call(None, L.gat_features_normalize_rows, array.ctypes.data, array.shape[0],
                 array.shape[1])
    return array
