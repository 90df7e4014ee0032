"""libgat.torch.GATv2Conv and GATConv's family options (edge_dim, fill_value,
residual, pair in_channels, bipartite inputs) against tools/pyg_gat.py, the
plain-torch transcription of PyG 2.6/2.7 the C suite's references come from."""

import os
import sys

import numpy as np
import pytest
import torch

import libgat
from conftest import ROOT, assert_close_to_reference, assert_same_bits
from libgat.torch import GATConv, GATv2Conv

sys.path.insert(0, os.path.join(ROOT, "tools"))
import pyg_gat  # noqa: E402  (tools/ is not a package)


def _graph(rng, n_src, n_dst, e):
    """src, dst with duplicates and input self-loops (for n_src == n_dst)."""
    src = rng.integers(0, n_src, e)
    dst = rng.integers(0, n_dst - 1, e)  # the last destination receives nothing
    src[::9] = dst[::9] % n_src          # self-loops (src == dst)
    src[5], dst[5] = src[2], dst[2]      # a duplicate
    return src, dst


def _reference(conv, kind, options, x, x_dst, src, dst, edge_attr):
    """pyg_gat.conv on the module's parameters, float64."""
    layer = {"type": kind, "heads": conv.heads, "channels": conv.out_channels,
             "concat": conv.concat, "negative_slope": conv.negative_slope,
             "add_self_loops": conv.add_self_loops, "edge_dim": conv.edge_dim or 0,
             "fill_value": options.get("fill_value", "mean"),
             "share_weights": options.get("share_weights", False)}
    p = {k: v.detach().double() for k, v in conv.state_dict().items()}
    if options.get("share_weights"):
        p = {k: v for k, v in p.items() if not k.startswith("lin_r.")}
    out, _, _, _ = pyg_gat.conv(
        layer, p, torch.from_numpy(x).double(),
        None if x_dst is None else torch.from_numpy(x_dst).double(), src, dst,
        None if edge_attr is None else torch.from_numpy(edge_attr).double())
    return out.numpy().astype(np.float32)


CASES = [
    ("gatv2", {}, False),
    ("gatv2", {"concat": False, "heads": 3}, False),
    ("gatv2", {"share_weights": True, "bias": False}, False),
    ("gatv2", {"edge_dim": 3, "fill_value": "max", "residual": True}, False),
    ("gatv2", {"edge_dim": 2, "fill_value": 0.5, "add_self_loops": True}, False),
    ("gatv2", {"add_self_loops": False, "residual": True, "concat": False}, False),
    ("gatv2", {"edge_dim": 3, "residual": True}, True),   # bipartite block
    ("gat", {"edge_dim": 3}, False),
    ("gat", {"edge_dim": 2, "fill_value": "mul", "residual": True, "concat": False}, False),
    ("gat", {"residual": True}, True),
]


@pytest.mark.parametrize("kind,options,bipartite", CASES)
def test_family_modules_match_the_plain_torch_transcription(kind, options, bipartite):
    rng = np.random.default_rng(len(str(options)) + 7 * bipartite)
    torch.manual_seed(int(rng.integers(1 << 30)))
    n_src, n_dst, f_src, f_dst, e = 23, (17 if bipartite else 23), 6, (4 if bipartite else 6), 90
    heads = options.pop("heads", 2)
    in_channels = (f_src, f_dst) if bipartite else f_src
    cls = GATv2Conv if kind == "gatv2" else GATConv
    conv = cls(in_channels, 5, heads=heads, **options).eval()
    options["heads"] = heads
    with torch.no_grad():  # biases too, not PyG's zeros
        for name, tensor in conv.named_parameters():
            if name.endswith("bias"):
                tensor.uniform_(-0.5, 0.5)
    src, dst = _graph(rng, n_src, n_dst, e)
    x = rng.standard_normal((n_src, f_src)).astype(np.float32)
    x_dst = rng.standard_normal((n_dst, f_dst)).astype(np.float32) if bipartite else None
    d = conv.edge_dim
    edge_attr = rng.standard_normal((e, d)).astype(np.float32) if d else None
    edge_index = torch.from_numpy(np.stack([src, dst]))
    inp = (torch.from_numpy(x), torch.from_numpy(x_dst)) if bipartite else torch.from_numpy(x)
    got = conv(inp, edge_index, None if edge_attr is None else torch.from_numpy(edge_attr))
    want = _reference(conv, kind, options, x, x_dst, src, dst, edge_attr)
    assert got.shape == want.shape
    assert_close_to_reference(got.numpy(), want, "%s %s" % (kind, options))
    # The attention output: one coefficient per attention edge and head,
    # summing to 1 over each destination's edges.
    out2, (edges, alpha) = conv(inp, edge_index,
                                None if edge_attr is None else torch.from_numpy(edge_attr),
                                return_attention_weights=True)
    assert_same_bits(out2.numpy(), got.numpy())
    sums = np.zeros((n_dst, heads))
    np.add.at(sums, edges[1].numpy(), alpha.numpy())
    has_edges = np.isin(np.arange(n_dst), edges[1].numpy())
    np.testing.assert_allclose(sums[has_edges], 1.0, rtol=1e-5)


def test_state_dict_names_are_pygs_and_load_into_the_module():
    conv = GATv2Conv(6, 4, heads=2, edge_dim=3, residual=True)
    assert sorted(conv.state_dict()) == ["att", "bias", "lin_edge.weight", "lin_l.bias",
                                         "lin_l.weight", "lin_r.bias", "lin_r.weight",
                                         "res.weight"]
    shared = GATv2Conv(6, 4, heads=2, share_weights=True, bias=False)
    assert shared.lin_r is shared.lin_l
    assert sorted(dict(shared.named_parameters())) == ["att", "lin_l.weight"]
    gat = GATConv((6, 3), 4, heads=2, edge_dim=2)
    assert sorted(gat.state_dict()) == ["att_dst", "att_edge", "att_src", "bias",
                                        "lin_dst.weight", "lin_edge.weight", "lin_src.weight"]
    # A second module loads the first's state_dict and gives its bits.
    torch.manual_seed(3)
    a = GATv2Conv(6, 4, heads=2, edge_dim=3, residual=True).eval()
    b = GATv2Conv(6, 4, heads=2, edge_dim=3, residual=True).eval()
    b.load_state_dict(a.state_dict())
    edge_index = torch.from_numpy(libgat.generate_edges(30, 120, seed=4))
    x, attr = torch.randn(30, 6), torch.randn(120, 3)
    assert_same_bits(a(x, edge_index, attr).numpy(), b(x, edge_index, attr).numpy())


def test_family_refusals():
    conv = GATv2Conv(4, 2, edge_dim=3).eval()
    edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(libgat.InvalidError, match="edge_attr is required"):
        conv(torch.randn(3, 4), edge_index)
    with pytest.raises(libgat.InvalidError, match="no edge_dim"):
        GATv2Conv(4, 2).eval()(torch.randn(3, 4), edge_index, torch.randn(2, 3))
    with pytest.raises(libgat.InvalidError, match="share_weights"):
        GATv2Conv((4, 5), 2, share_weights=True)
    with pytest.raises(libgat.InvalidError, match="eval"):
        GATv2Conv(4, 2, dropout=0.5)(torch.randn(3, 4), edge_index)
    with torch.no_grad():
        conv.att[0, 0, 0] = float("nan")
    with pytest.raises(libgat.NonFiniteError, match="att"):
        conv(torch.randn(3, 4), edge_index, torch.randn(2, 3))


def test_from_pyg_and_model_from_pyg_take_gatv2_modules():
    torch.manual_seed(5)
    conv = GATv2Conv(6, 4, heads=2, edge_dim=3, fill_value="min", residual=True,
                     concat=False).eval()
    edge_index = torch.from_numpy(libgat.generate_edges(30, 120, seed=6))
    x, attr = torch.randn(30, 6), torch.randn(120, 3)
    model = libgat.Model.from_pyg(conv)
    assert_same_bits(conv(x, edge_index, attr).numpy(), model(x, edge_index, edge_attr=attr))
    copy = GATv2Conv.from_pyg(conv).eval()
    assert copy.edge_dim == 3 and copy.fill_value == "min" and copy.residual
    assert_same_bits(conv(x, edge_index, attr).numpy(), copy(x, edge_index, attr).numpy())
    with pytest.raises(libgat.InvalidError, match="GATv2Conv"):
        GATConv.from_pyg(conv)
