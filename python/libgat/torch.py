"""libgat.torch.GATConv and GATv2Conv: torch.nn.Modules with PyG's
constructors, parameters and forward(x, edge_index, edge_attr=None), run by
libgat (inference only).

An existing PyG inference script swaps one import:

    from libgat.torch import GATConv, GATv2Conv   # instead of torch_geometric.nn's

and loads the same state_dict (lin.weight, att_src, att_dst, bias; lin_l.*,
lin_r.*, att; lin_edge.weight, att_edge, res.weight). The output carries no
autograd history: train with libgat.fit or with PyG.
"""

import math

import numpy as np
import torch

from . import _core
from .graph import Graph
from .model import Model


def _glorot(tensor):
    fan = tensor.size(-2) + tensor.size(-1)
    bound = math.sqrt(6.0 / fan)
    torch.nn.init.uniform_(tensor, -bound, bound)


def _widths(name, in_channels):
    """(F_src, F_dst, tuple given) of PyG's in_channels: an int or a pair."""
    if isinstance(in_channels, (tuple, list)):
        if len(in_channels) != 2:
            raise _core.invalid("%s: in_channels=%r: expected an int or a pair"
                                % (name, in_channels))
        return int(in_channels[0]), int(in_channels[1]), True
    return int(in_channels), int(in_channels), False


class _LibgatConv(torch.nn.Module):
    """What GATConv and GATv2Conv share: the one-layer libgat model, the
    cached graph, the copy of the module's parameters into the model and
    the forward."""

    _name = "conv"

    def _common(self, in_channels, out_channels, heads, concat, negative_slope, dropout,
                add_self_loops, edge_dim, bias, residual, threads, kwargs):
        unknown = sorted(set(kwargs) - {"aggr", "node_dim", "flow"})
        if unknown:
            raise _core.invalid("%s: unknown argument %r" % (self._name, unknown[0]))
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.concat, self.negative_slope = bool(concat), float(negative_slope)
        self.dropout, self.add_self_loops = float(dropout), bool(add_self_loops)
        self.edge_dim, self.residual = edge_dim, bool(residual)
        self.threads = threads
        self._f_src, self._f_dst, self._pair = _widths(self._name, in_channels)
        width = heads * out_channels if concat else out_channels
        self.lin_edge = (torch.nn.Linear(edge_dim, heads * out_channels, bias=False)
                         if edge_dim is not None else None)
        self.res = torch.nn.Linear(self._f_dst, width, bias=False) if residual else None
        self.bias = torch.nn.Parameter(torch.empty(width)) if bias else None
        self._graph_key = None
        self._graph = None
        return width

    def _make_model(self, spec):
        spec.update(heads=self.heads, channels=self.out_channels, concat=self.concat,
                    negative_slope=self.negative_slope, add_self_loops=self.add_self_loops,
                    bias=self.bias is not None, edge_dim=self.edge_dim or 0,
                    fill_value=self.fill_value, residual=self.residual,
                    dst_features=self._f_dst if self._pair and not self._shared() else 0)
        self._model = Model.init(self._f_src, [spec], threads=self.threads)

    def _shared(self):
        return getattr(self, "share_weights", False)

    def _graph_for(self, edge_index, size):
        # The CSR is built once per edge_index: the same tensor object, not
        # changed in place since (its version counter) and the same node
        # counts give the cached graph. The key holds the tensor itself, so
        # its memory cannot be freed and reused by another edge_index that
        # would then look the same.
        key = (edge_index, edge_index._version, size)
        cached = self._graph_key
        if cached is None or cached[0] is not edge_index or cached[1:] != key[1:]:
            self._graph = Graph(edge_index, size if size[0] != size[1] else size[0])
            self._graph_key = key
        return self._graph

    def forward(self, x, edge_index, edge_attr=None, return_attention_weights=None):
        if self.training and self.dropout > 0:
            raise _core.invalid("libgat.torch.%s runs inference only: call .eval() "
                                "(dropout=%g is for training)" % (self._name, self.dropout))
        x_dst = None
        if isinstance(x, (tuple, list)):
            x, x_dst = x
        if not isinstance(edge_index, torch.Tensor):
            raise _core.invalid("%s: edge_index: expected a [2, E] tensor (a SparseTensor is "
                                "not supported)" % self._name)
        if (edge_attr is not None) != (self.lin_edge is not None):
            raise _core.invalid("%s: edge_attr %s" % (
                self._name, "given, but the layer has no edge_dim" if edge_attr is not None
                else "is required: the layer has edge_dim=%d" % self.edge_dim))
        if edge_attr is not None and edge_attr.dim() == 1:
            edge_attr = edge_attr.view(-1, 1)
        device = x.device
        size = (x.size(0), x_dst.size(0) if x_dst is not None else x.size(0))
        graph = self._graph_for(edge_index, size)
        tensors = dict(self.named_parameters())
        params = self._model.parameters()
        with torch.no_grad():
            for name, view in params.items():
                view[...] = tensors[name.split(".", 2)[2]].detach().cpu().numpy()
        for name, value in params.items():
            if not np.isfinite(value).all():
                raise _core.NonFiniteError("libgat: %s: %s has NaN or infinity"
                                           % (self._name, name.split(".", 2)[2]))
        inputs = {}
        if x_dst is not None:
            inputs["x_dst"] = x_dst.detach().cpu().numpy()
        if edge_attr is not None:
            inputs["edge_attr"] = edge_attr.detach().cpu().numpy()
        x = x.detach().cpu().numpy()
        if return_attention_weights:
            out, edges, alpha = self._model.forward_with_attention(x, graph, self.threads,
                                                                   **inputs)
            return (torch.from_numpy(out).to(device),
                    (torch.from_numpy(edges).to(device), torch.from_numpy(alpha).to(device)))
        return torch.from_numpy(self._model(x, graph, threads=self.threads, **inputs)).to(device)

    @classmethod
    def from_pyg(cls, conv, threads=None):
        """A libgat module with the options and parameters of a PyG GATConv
        (GATConv.from_pyg) or GATv2Conv (GATv2Conv.from_pyg)."""
        model = Model.from_pyg([conv])  # its checks refuse what libgat cannot run
        classes = []
        state, configs, _ = model.to_pyg(classes=classes)
        if classes[0] != cls._name:
            raise _core.invalid("%s.from_pyg: the module is a %s" % (cls._name, classes[0]))
        new = cls(**configs[0], threads=threads)
        new.load_state_dict({k[len("conv1."):]: v for k, v in state.items()})
        return new

    def extra_repr(self):
        return "%s, %d, heads=%d (libgat)" % (self.in_channels, self.out_channels, self.heads)


class GATConv(_LibgatConv):
    """PyG's GATConv(in_channels, out_channels, heads=1, concat=True,
    negative_slope=0.2, dropout=0.0, add_self_loops=True, edge_dim=None,
    fill_value="mean", bias=True, residual=False) for inference; a pair
    in_channels gives lin_src and lin_dst and takes x = (x_src, x_dst).
    threads: libgat's threads (None: OpenMP's default)."""

    _name = "GATConv"

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2,
                 dropout=0.0, add_self_loops=True, edge_dim=None, fill_value="mean",
                 bias=True, residual=False, threads=None, **kwargs):
        super().__init__()
        self.fill_value = fill_value
        self._common(in_channels, out_channels, heads, concat, negative_slope, dropout,
                     add_self_loops, edge_dim, bias, residual, threads, kwargs)
        hc = heads * out_channels
        if self._pair:
            self.lin_src = torch.nn.Linear(self._f_src, hc, bias=False)
            self.lin_dst = torch.nn.Linear(self._f_dst, hc, bias=False)
        else:
            self.lin = torch.nn.Linear(self._f_src, hc, bias=False)
        self.att_src = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_edge = (torch.nn.Parameter(torch.empty(1, heads, out_channels))
                         if edge_dim is not None else None)
        self._make_model({"type": "gat"})
        self.reset_parameters()

    def reset_parameters(self):
        # PyG's: glorot on the weights and the attention vectors, zero bias.
        for name in ("lin", "lin_src", "lin_dst", "lin_edge", "res"):
            if getattr(self, name, None) is not None:
                _glorot(getattr(self, name).weight)
        for tensor in (self.att_src, self.att_dst, self.att_edge):
            if tensor is not None:
                _glorot(tensor)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)


class GATv2Conv(_LibgatConv):
    """PyG's GATv2Conv(in_channels, out_channels, heads=1, concat=True,
    negative_slope=0.2, dropout=0.0, add_self_loops=True, edge_dim=None,
    fill_value="mean", bias=True, share_weights=False, residual=False) for
    inference: lin_l and lin_r (with biases when bias=True; lin_r is lin_l
    with share_weights), att, lin_edge, res, bias under PyG's names; a pair
    in_channels takes x = (x_src, x_dst). threads: libgat's threads."""

    _name = "GATv2Conv"

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2,
                 dropout=0.0, add_self_loops=True, edge_dim=None, fill_value="mean",
                 bias=True, share_weights=False, residual=False, threads=None, **kwargs):
        super().__init__()
        self.fill_value, self.share_weights = fill_value, bool(share_weights)
        self._common(in_channels, out_channels, heads, concat, negative_slope, dropout,
                     add_self_loops, edge_dim, bias, residual, threads, kwargs)
        hc = heads * out_channels
        self.lin_l = torch.nn.Linear(self._f_src, hc, bias=bias)
        if share_weights:
            if self._f_dst != self._f_src:
                raise _core.invalid("GATv2Conv: share_weights needs one input width, got %r"
                                    % (in_channels,))
            self.lin_r = self.lin_l
        else:
            self.lin_r = torch.nn.Linear(self._f_dst, hc, bias=bias)
        self.att = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self._make_model({"type": "gatv2", "share_weights": self.share_weights})
        self.reset_parameters()

    def reset_parameters(self):
        # PyG's: glorot weights and att, zero biases.
        for name in ("lin_l", "lin_r", "lin_edge", "res"):
            module = getattr(self, name, None)
            if module is not None:
                _glorot(module.weight)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
        _glorot(self.att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
