"""libgat.torch.GATConv: a torch.nn.Module with PyG GATConv's constructor,
parameters and forward(x, edge_index), run by libgat (inference only).

An existing PyG inference script swaps one import:

    from libgat.torch import GATConv   # instead of torch_geometric.nn's

and loads the same state_dict (lin.weight, att_src, att_dst, bias). The
output carries no autograd history: train with libgat.fit or with PyG.
"""

import math

import numpy as np
import torch

from . import _core
from .graph import Graph
from .model import Model


class GATConv(torch.nn.Module):
    """PyG's GATConv(in_channels, out_channels, heads=1, concat=True,
    negative_slope=0.2, dropout=0.0, add_self_loops=True, bias=True) for
    inference. Edge features, residual connections and bipartite inputs
    are refused (libgat does not run them). threads: libgat's threads
    (None: OpenMP's default)."""

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2,
                 dropout=0.0, add_self_loops=True, edge_dim=None, fill_value="mean",
                 bias=True, residual=False, threads=None, **kwargs):
        super().__init__()
        if not isinstance(in_channels, int):
            raise _core.invalid("GATConv: in_channels=%r: bipartite (tuple) inputs are not "
                                "supported" % (in_channels,))
        if edge_dim is not None:
            raise _core.invalid("GATConv: edge_dim: edge features are not supported")
        if residual:
            raise _core.invalid("GATConv: residual connections are not supported")
        unknown = sorted(set(kwargs) - {"aggr", "node_dim", "flow"})
        if unknown:
            raise _core.invalid("GATConv: unknown argument %r" % unknown[0])
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.concat, self.negative_slope = bool(concat), float(negative_slope)
        self.dropout, self.add_self_loops = float(dropout), bool(add_self_loops)
        self.threads = threads
        self.lin = torch.nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        width = heads * out_channels if concat else out_channels
        self.bias = torch.nn.Parameter(torch.empty(width)) if bias else None
        self._model = Model.init(in_channels, [{
            "heads": heads, "channels": out_channels, "concat": self.concat,
            "negative_slope": self.negative_slope, "add_self_loops": self.add_self_loops,
            "bias": bool(bias)}], threads=threads)
        self._graph_key = None
        self._graph = None
        self.reset_parameters()

    @classmethod
    def from_pyg(cls, conv, threads=None):
        """A libgat GATConv with the options and parameters of a PyG GATConv."""
        model = Model.from_pyg([conv])  # its checks refuse what libgat cannot run
        layer = model.layers[0]
        new = cls(layer["in_channels"], layer["out_channels"], heads=layer["heads"],
                  concat=layer["concat"], negative_slope=layer["negative_slope"],
                  add_self_loops=layer["add_self_loops"], bias=layer["bias"], threads=threads)
        new.load_state_dict({k[len("conv1."):]: torch.from_numpy(v)
                             for k, v in model.state_dict().items()})
        return new

    def reset_parameters(self):
        # PyG's: glorot on lin.weight and the attention vectors, zero bias.
        for tensor in (self.lin.weight, self.att_src, self.att_dst):
            fan = tensor.size(-2) + tensor.size(-1)
            bound = math.sqrt(6.0 / fan)
            torch.nn.init.uniform_(tensor, -bound, bound)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def _graph_for(self, edge_index, num_nodes):
        # The CSR is built once per edge_index: the same tensor object, not
        # changed in place since (its version counter) and the same node
        # count give the cached graph. The key holds the tensor itself, so
        # its memory cannot be freed and reused by another edge_index that
        # would then look the same.
        key = (edge_index, edge_index._version, num_nodes)
        cached = self._graph_key
        if cached is None or cached[0] is not edge_index or cached[1:] != key[1:]:
            self._graph = Graph(edge_index, num_nodes)
            self._graph_key = key
        return self._graph

    def forward(self, x, edge_index, return_attention_weights=None):
        if self.training and self.dropout > 0:
            raise _core.invalid("libgat.torch.GATConv runs inference only: call .eval() "
                                "(dropout=%g is for training)" % self.dropout)
        if isinstance(x, (tuple, list)):
            raise _core.invalid("GATConv: bipartite (x_src, x_dst) inputs are not supported")
        if not isinstance(edge_index, torch.Tensor):
            raise _core.invalid("GATConv: edge_index: expected a [2, E] tensor (a SparseTensor "
                                "is not supported)")
        graph = self._graph_for(edge_index, x.size(0))
        params = self._model.parameters()
        with torch.no_grad():
            params["layers.0.lin.weight"][...] = self.lin.weight.detach().cpu().numpy()
            params["layers.0.att_src"][...] = self.att_src.detach().cpu().numpy()
            params["layers.0.att_dst"][...] = self.att_dst.detach().cpu().numpy()
            if self.bias is not None:
                params["layers.0.bias"][...] = self.bias.detach().cpu().numpy()
        for name, value in params.items():
            if not np.isfinite(value).all():
                raise _core.NonFiniteError("libgat: GATConv: %s has NaN or infinity" % name)
        if return_attention_weights:
            out, edges, alpha = self._model.forward_with_attention(x, graph, self.threads)
            return (torch.from_numpy(out).to(x.device),
                    (torch.from_numpy(edges).to(x.device), torch.from_numpy(alpha).to(x.device)))
        return torch.from_numpy(self._model(x, graph, threads=self.threads)).to(x.device)

    def extra_repr(self):
        return "%d, %d, heads=%d (libgat)" % (self.in_channels, self.out_channels, self.heads)
