"""libgat.Model: loading, forward against gat-infer's bits and the
plain-torch references, attention, parameters, PyG interchange, errors."""

import os

import numpy as np
import pytest
import torch

import libgat
from conftest import (CASES, ROOT, Case, assert_close_to_reference, assert_same_bits,
                      run_tool)


def _graph(case):
    return libgat.Graph.load(case.edges, num_nodes=case.x.shape[0])


def test_forward_equals_gat_infer_bits(case, tmp_path):
    out_path, att_path = tmp_path / "out.npy", tmp_path / "att.npy"
    run_tool("gat-infer", "--graph", case.edges, "--features", case.x_path, "--weights",
             case.model_path, "--out", out_path, "--attention", att_path, "--quiet")
    model = libgat.Model.load(case.model_path)
    graph = _graph(case)
    assert_same_bits(model(case.x, graph), np.load(out_path), case.name)
    edges, alpha = model.attention(case.x, graph)
    assert_same_bits(alpha, np.load(att_path), case.name)
    assert edges.shape == (2, alpha.shape[0])


def test_forward_matches_the_plain_torch_reference(case):
    model = libgat.Model.load(case.model_path)
    graph = _graph(case)
    out, edges, alpha = model.forward_with_attention(case.x, graph)
    assert_close_to_reference(out, case.out, case.name)
    assert_close_to_reference(alpha, case.attention, case.name)
    assert_close_to_reference(model.reference(case.x, graph), case.out, case.name)
    # Attention sums to one over each destination's edges (a node with none
    # has no coefficients).
    sums = np.zeros((graph.num_nodes, alpha.shape[1]))
    np.add.at(sums, edges[1], alpha)
    has = np.bincount(edges[1], minlength=graph.num_nodes) > 0
    np.testing.assert_allclose(sums[has], 1.0, rtol=1e-5)


def test_same_bits_for_any_thread_count_and_input_form(example):
    model = libgat.Model.load(example.model_path, threads=1)
    graph = _graph(example)
    want = model(example.x, graph)
    assert_same_bits(model(example.x, graph, threads=2), want)
    assert model.context.threads == 1  # threads= lasts one call
    x = example.x
    for form in (torch.from_numpy(x), torch.from_numpy(x).requires_grad_(),
                 x.astype(np.float64), np.asfortranarray(x), x.tolist(),
                 np.repeat(x, 2, axis=1)[:, ::2]):
        assert_same_bits(model(form, graph), want)
    # An edge_index instead of a Graph.
    edge_index = graph.edges()
    assert_same_bits(model(x, torch.from_numpy(edge_index)), want)
    out = np.empty_like(want)
    assert model(x, graph, out=out) is out
    assert_same_bits(out, want)
    timed, times = model.forward(x, graph, times=True)
    assert_same_bits(timed, want)
    assert times.projection >= 0 and times.edges >= 0


def test_wrong_inputs_are_refused_clearly(example):
    model = libgat.Model.load(example.model_path)
    graph = _graph(example)
    x = example.x
    cases = [
        (x.astype(np.int32), "dtype int32, expected floating point"),
        (x[:, :3], "3 columns, expected 5"),
        (x[:4], "4 rows, expected 6"),
        (x[None], "3 dimensions"),
        (np.array(["a"]), "dtype <U1"),
    ]
    for bad, text in cases:
        with pytest.raises(libgat.InvalidError, match=text) as info:
            model(bad, graph)
        assert isinstance(info.value, (ValueError, TypeError))
    with pytest.raises(libgat.InvalidError, match="out"):
        model(x, graph, out=np.empty((6, 3), dtype=np.float64))
    with pytest.raises(libgat.InvalidError, match="threads"):
        model(x, graph, threads=0)
    with pytest.raises(libgat.InvalidError, match="expected \\[2, E\\]"):
        model(x, np.zeros(5))


def test_load_errors_carry_the_library_message(tmp_path):
    with pytest.raises(libgat.IOError, match="nothing.safetensors") as info:
        libgat.Model.load(tmp_path / "nothing.safetensors")
    assert info.value.status == -3 and isinstance(info.value, OSError)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(libgat.FormatError, match="bad.safetensors") as info:
        libgat.Model.load(bad)
    assert info.value.message == str(info.value)
    with pytest.raises(libgat.InvalidError, match="NUL"):
        libgat.Model.load("a\0b")
    with pytest.raises(TypeError):
        libgat.Model()


def test_every_status_has_its_class():
    names = {-1: "InvalidError", -2: "NoMemoryError", -3: "IOError", -4: "FormatError",
             -5: "RangeError", -6: "NonFiniteError", -7: "UnsupportedError",
             -8: "OverflowError"}
    for status, name in names.items():
        error = libgat._core.error_for(status, "")
        assert type(error) is getattr(libgat, name) and error.status == status
        assert str(error).startswith("GAT_ERR_")


def test_save_round_trip_and_parameters(example, tmp_path):
    model = libgat.Model.load(example.model_path)
    path = tmp_path / "copy.safetensors"
    model.save(path)
    again = libgat.Model.load(path)
    graph = _graph(example)
    assert_same_bits(again(example.x, graph), model(example.x, graph))
    assert model.layers == again.layers and model.activation == "elu"
    assert (model.num_layers, model.in_features, model.out_features) == (2, 5, 3)
    params = model.parameters()
    assert params["layers.0.lin.weight"].shape == (8, 5)
    assert params["layers.0.att_src"].shape == (1, 2, 4)
    assert params["layers.1.bias"].shape == (3,)
    # Views write through; they keep the model alive.
    params["layers.1.bias"][:] += 1.0
    np.testing.assert_allclose(model(example.x, graph), again(example.x, graph) + 1.0,
                               rtol=1e-6, atol=1e-6)
    del model
    view = params["layers.0.lin.weight"]
    assert np.isfinite(view).all()
    # state_dict copies under PyG prefixes; load_state_dict writes back.
    state = again.state_dict()
    assert sorted(state) == sorted(["conv1.lin.weight", "conv1.att_src", "conv1.att_dst",
                                    "conv1.bias", "conv2.lin.weight", "conv2.att_src",
                                    "conv2.att_dst", "conv2.bias"])
    fresh = libgat.Model.init(5, ["2x4", "1x3:mean"], seed=1)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    assert_same_bits(fresh(example.x, graph), again(example.x, graph))
    state["conv2.bias"] = np.zeros(4)
    with pytest.raises(libgat.InvalidError, match="conv2.bias: shape"):
        fresh.load_state_dict(state)
    state["conv2.bias"] = np.array([np.nan, 0, 0], dtype=np.float32)
    with pytest.raises(libgat.NonFiniteError):
        fresh.load_state_dict(state)
    del state["conv2.bias"]
    with pytest.raises(libgat.InvalidError, match="no 'conv2.bias'"):
        fresh.load_state_dict(state)
    fresh.parameters()["layers.0.att_src"][0, 0, 0] = np.inf
    with pytest.raises(libgat.NonFiniteError, match="att_src"):
        fresh.save(tmp_path / "inf.safetensors")


@pytest.mark.parametrize("layers, extra", [
    ("8x8,1x7:mean", []), ("4x16,2x3", ["--activation", "relu", "--no-bias"]),
    ("3x5", ["--no-self-loops"])])
def test_init_equals_gat_init_bytes(tmp_path, layers, extra):
    want = tmp_path / "want.safetensors"
    run_tool("gat-init", "--in-features", 12, "--layers", layers, "--seed", 9, *extra, want)
    specs = []
    for spec in layers.split(","):
        heads, rest = spec.split("x")
        channels, _, mode = rest.partition(":")
        specs.append({"heads": int(heads), "channels": int(channels), "concat": mode != "mean",
                      "bias": "--no-bias" not in extra,
                      "add_self_loops": "--no-self-loops" not in extra})
    activation = extra[1] if "--activation" in extra else "elu"
    got = tmp_path / "got.safetensors"
    libgat.Model.init(12, specs, seed=9, activation=activation).save(got)
    assert got.read_bytes() == want.read_bytes()
    if not extra:  # the gat-init spelling of layers gives the same model
        libgat.Model.init(12, layers.split(","), seed=9).save(got)
        assert got.read_bytes() == want.read_bytes()


def test_init_refuses_bad_specs():
    for layers, text in ((["8y8"], "HEADSxCHANNELS"), ([], "non-empty"),
                         ([{"heads": 2}], "channels"), ([(0, 3)], "heads"),
                         ([{"channels": 2, "color": 1}], "unknown key"),
                         ([{"channels": 2, "concat": "yes"}], "True or False")):
        with pytest.raises(libgat.InvalidError, match=text):
            libgat.Model.init(4, layers)
    with pytest.raises(libgat.InvalidError, match="activation"):
        libgat.Model.init(4, ["1x2"], activation="tanh")
    with pytest.raises(libgat.InvalidError, match="seed"):
        libgat.Model.init(4, ["1x2"], seed=-1)


def test_from_pyg_and_to_pyg_round_trip(example):
    from libgat.export_pyg import _FakeGATConv

    torch.manual_seed(0)
    conv1 = _FakeGATConv(5, 4, heads=2, concat=True, negative_slope=0.1)
    conv2 = _FakeGATConv(8, 3, heads=2, concat=False, add_self_loops=False, old_names=True)
    stack = torch.nn.Module()
    stack.conv1, stack.conv2 = conv1, conv2
    graph = _graph(example)
    from_list = libgat.Model.from_pyg([conv1, conv2], activation="relu")
    from_module = libgat.Model.from_pyg(stack, activation="relu")
    from_state = libgat.Model.from_pyg(stack.state_dict(), activation="relu",
                                       configs=[{"negative_slope": 0.1},
                                                {"concat": False, "add_self_loops": False}])
    want = from_list(example.x, graph)
    assert_same_bits(from_module(example.x, graph), want)
    assert_same_bits(from_state(example.x, graph), want)
    assert from_list.layers[0]["negative_slope"] == pytest.approx(0.1)
    assert from_list.layers[1]["add_self_loops"] is False
    assert np.array_equal(from_list.parameters()["layers.1.lin.weight"],
                          conv2.lin_src.weight.detach().numpy())
    state, configs, activation = from_list.to_pyg()
    assert activation == "relu" and configs[1]["concat"] is False
    assert torch.equal(state["conv1.att_src"], conv1.att_src.detach())
    conv_bad = _FakeGATConv(5, 4)
    conv_bad.res = torch.nn.Linear(5, 4)
    with pytest.raises(libgat.InvalidError, match="residual"):
        libgat.Model.from_pyg([conv_bad])
    with pytest.raises(libgat.InvalidError, match="no GATConv"):
        libgat.Model.from_pyg(torch.nn.Linear(2, 2))


def test_evaluate(example):
    model = libgat.Model.load(example.model_path)
    graph = _graph(example)
    labels = np.array([0, 1, 2, 0, 1, 2])
    out = model(example.x, graph)
    metrics = model.evaluate(example.x, graph, labels, [0, 2, 5])
    logp = torch.log_softmax(torch.from_numpy(out).double(), dim=1).numpy()
    idx = np.array([0, 2, 5])
    assert metrics.loss == pytest.approx(-logp[idx, labels[idx]].mean(), rel=1e-5)
    assert metrics.accuracy == pytest.approx((out[idx].argmax(1) == labels[idx]).mean())
    mask = np.zeros(6, dtype=bool)
    mask[idx] = True
    assert model.evaluate(example.x, graph, labels, mask) == metrics
    with pytest.raises(libgat.RangeError):
        model.evaluate(example.x, graph, labels, [0, 6])
    with pytest.raises(libgat.RangeError):
        model.evaluate(example.x, graph, [0, 1, 2, 0, 1, 3], [5])
    with pytest.raises(libgat.InvalidError, match="labels: 2 entries"):
        model.evaluate(example.x, graph, [0, 1], [0])
    with pytest.raises(libgat.InvalidError):
        model.evaluate(example.x, graph, labels, [])


def test_version_matches_meson():
    text = open(os.path.join(ROOT, "meson.build")).read()
    assert "version : '%s'" % libgat.__version__ in text
    assert isinstance(libgat.have_blas(), bool)


def test_contexts():
    context = libgat.Context(threads=2, pin="compact", gemm="builtin")
    assert context.threads == 2
    context.threads = 1
    assert context.threads == 1
    assert isinstance(context.topology(), str) and isinstance(context.pin_report(), str)
    case = Case(CASES[0])
    a = libgat.Model.load(case.model_path, context=context)
    b = libgat.Model.load(case.model_path, gemm="builtin")
    assert a.context is context and b.context is not context
    with pytest.raises(libgat.InvalidError, match="pin"):
        libgat.Context(pin="everywhere")
    with pytest.raises(libgat.InvalidError, match="context"):
        libgat.Model.load(case.model_path, context="mine")


def test_float32_inputs_are_not_copied():
    from libgat import _core

    array = np.ones((4, 3), dtype=np.float32)
    tensor = torch.ones(4, 3)
    assert np.shares_memory(_core.float_matrix(array, "x"), array)
    assert np.shares_memory(_core.float_matrix(tensor, "x"), tensor.numpy())
    assert not np.shares_memory(_core.float_matrix(array.T.copy().T, "x"), array)
    ids = torch.arange(5)
    assert np.shares_memory(_core.int_vector(ids, "ids"), ids.numpy())
