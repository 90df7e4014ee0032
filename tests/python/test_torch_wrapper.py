"""libgat.torch.GATConv: PyG's GATConv interface, libgat's forward."""

import numpy as np
import pytest
import torch

import libgat
from conftest import assert_close_to_reference, assert_same_bits
from libgat.export_pyg import _FakeGATConv
from libgat.torch import GATConv


def test_a_stored_reference_through_the_wrapper(example):
    state, configs, _ = libgat.Model.load(example.model_path).to_pyg()
    convs = []
    for i, config in enumerate(configs):
        conv = GATConv(**config).eval()
        prefix = "conv%d." % (i + 1)
        conv.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                              if k.startswith(prefix)})
        convs.append(conv)
    graph = libgat.Graph.load(example.edges, num_nodes=example.x.shape[0])
    edge_index = torch.from_numpy(graph.edges())
    x = torch.from_numpy(example.x)
    h = torch.nn.functional.elu(convs[0](x, edge_index))
    out, (edges, alpha) = convs[1](h, edge_index, return_attention_weights=True)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert_close_to_reference(out.numpy(), example.out, "wrapper")
    assert_close_to_reference(alpha.numpy(), example.attention, "wrapper attention")
    assert edges.shape == (2, alpha.shape[0])


def test_same_bits_as_the_model_and_parameters_follow_the_module():
    torch.manual_seed(1)
    fake = _FakeGATConv(6, 5, heads=3, concat=False, negative_slope=0.3)
    conv = GATConv.from_pyg(fake).eval()
    edge_index = torch.from_numpy(libgat.generate_edges(50, 300, seed=2))
    x = torch.randn(50, 6)
    model = libgat.Model.from_pyg([fake])
    assert_same_bits(conv(x, edge_index).numpy(), model(x, edge_index))
    with torch.no_grad():
        conv.bias += 1.0  # the next forward sees the change
    np.testing.assert_allclose(conv(x, edge_index).numpy(), model(x, edge_index) + 1.0,
                               rtol=1e-6, atol=1e-6)
    fresh = GATConv(6, 5, heads=3)
    assert fresh.lin.weight.shape == (15, 6) and fresh.bias.abs().sum() == 0


def test_refusals():
    with pytest.raises(libgat.InvalidError, match="unknown argument"):
        GATConv(4, 2, fill="mean")
    conv = GATConv(4, 2, dropout=0.5)
    with pytest.raises(libgat.InvalidError, match="eval"):
        conv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))
    conv.eval()
    assert conv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]])).shape == (3, 2)
    with torch.no_grad():
        conv.att_src[0, 0, 0] = float("nan")
    with pytest.raises(libgat.NonFiniteError):
        conv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))


def test_a_new_edge_index_is_never_mistaken_for_the_cached_one():
    torch.manual_seed(2)
    conv = GATConv(4, 3, heads=2).eval()
    x = torch.randn(20, 4)
    model = libgat.Model.from_pyg([conv])
    for seed in range(5):  # new tensors of one shape, old ones freed each time
        edge_index = torch.from_numpy(libgat.generate_edges(20, 60, seed=seed))
        assert_same_bits(conv(x, edge_index).numpy(), model(x, edge_index))
    edge_index[1, :] = edge_index[1, :].flip(0)  # changed in place
    assert_same_bits(conv(x, edge_index).numpy(), model(x, edge_index))
