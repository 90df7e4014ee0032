"""libgat.fit against gat-train: same model bytes, same epochs, same test
accuracy, on a small generated data set; callbacks, stopping, errors."""

import re

import numpy as np
import pytest

import libgat
from conftest import run_tool

N, F, K = 300, 40, 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A gat-train data folder: R-MAT edges, sparse non-negative features,
    labels that depend on the features (so training learns something)."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(5)
    edges = libgat.generate_edges(N, 2400, seed=5)
    x = (rng.random((N, F)) < 0.08).astype(np.float32)
    labels = (x[:, :K] * [1, 2, 3]).sum(1).astype(np.int64) % K
    labels[:K] = np.arange(K)
    order = rng.permutation(N)
    train, val, test = order[:60], order[60:120], order[120:220]
    with open(folder / "edges.txt", "w") as f:
        for s, d in edges.T:
            f.write("%d %d\n" % (s, d))
    for name, array in (("features", x), ("labels", labels), ("train", train), ("val", val),
                        ("test", test)):
        np.save(folder / (name + ".npy"), array)
    return folder, x, labels, train, val, test


def _epoch_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("epoch")]


@pytest.mark.parametrize("extra", [[], ["--patience", "5", "--input", "dense"]])
def test_fit_equals_gat_train(data, tmp_path, extra):
    folder, x, labels, train, val, test = data
    want = tmp_path / "want.safetensors"
    result = run_tool("gat-train", "--data", folder, "--seed", 3, "--epochs", 25,
                      "--save", want, "--progress", "lines", "--threads", 2, *extra)
    lines = _epoch_lines(result.stdout)
    test_line = result.stdout.strip().splitlines()[-1]

    graph = libgat.Graph.load(folder / "edges.txt", num_nodes=N)
    model = libgat.Model.init(F, ["8x8", "1x%d:mean" % K], seed=3, preprocess="normalize_rows")
    reports = []
    patience = int(extra[1]) if extra else 100
    assert np.array_equal(model.preprocess(x), libgat.normalize_features(x))
    fitted = libgat.fit(model, model.preprocess(x), graph, labels, train, val,
                        test_idx=test, seed=3, epochs=25, patience=patience,
                        input=extra[3] if extra else "auto", on_epoch=reports.append,
                        threads=1)
    got = tmp_path / "got.safetensors"
    model.save(got)
    assert got.read_bytes() == want.read_bytes()
    assert fitted.epochs == len(lines) == len(reports) and fitted.history == reports
    for line, report in zip(lines, reports):
        numbers = re.findall(r"[-\d.]+", line)
        assert int(numbers[0]) == report.epoch
        assert numbers[1:5] == ["%.4f" % v for v in (report.train.loss, report.train.accuracy,
                                                     report.val.loss, report.val.accuracy)]
        assert line.endswith("*") == report.saved
    assert test_line == "test accuracy: %.4f" % fitted.test.accuracy
    assert 1 <= fitted.best_epoch <= fitted.epochs
    assert fitted.stopped_early == (fitted.epochs < 25)


def test_fit_gatv2_equals_gat_train(data, tmp_path):
    """A GATv2 model trains through the family trainer with the preset's
    dropouts (the projected-feature one included) and a sparse x (auto: 8%
    non-zero), as gat-train --layer-type gatv2 does, byte for byte."""
    folder, x, labels, train, val, test = data
    want = tmp_path / "want.safetensors"
    result = run_tool("gat-train", "--data", folder, "--seed", 3, "--epochs", 15,
                      "--layer-type", "gatv2", "--save", want, "--progress", "none",
                      "--threads", 2)
    assert "(sparse input)" in result.stderr
    graph = libgat.Graph.load(folder / "edges.txt", num_nodes=N)
    model = libgat.Model.init(F, [dict(type="gatv2", heads=8, channels=8),
                                  dict(type="gatv2", heads=1, channels=K, concat=False)],
                              seed=3, preprocess="normalize_rows")
    fitted = libgat.fit(model, model.preprocess(x), graph, labels, train, val, test_idx=test,
                        seed=3, epochs=15, threads=1)
    got = tmp_path / "got.safetensors"
    model.save(got)
    assert got.read_bytes() == want.read_bytes()
    assert result.stdout.strip().splitlines()[-1] == \
        "test accuracy: %.4f" % fitted.test.accuracy


def test_callback_stops_and_exceptions_propagate(data):
    folder, x, labels, train, val, _ = data
    graph = libgat.Graph.load(folder / "edges.txt", num_nodes=N)
    model = libgat.Model.init(F, ["2x4", "1x3:mean"], seed=1)
    result = libgat.fit(model, x, graph, labels, train, val, epochs=50,
                        on_epoch=lambda r: r.epoch < 4)
    assert result.epochs == 4 and not result.stopped_early
    assert [r.epoch for r in result.history] == [1, 2, 3, 4]

    def boom(report):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        libgat.fit(model, x, graph, labels, train, val, epochs=50, on_epoch=boom)
    # The model is usable afterwards (the lock was released).
    assert model(x, graph).shape == (N, K)
    # Boolean masks and PyG-style tensors work too.
    import torch
    mask = np.zeros(N, dtype=bool)
    mask[train] = True
    result = libgat.fit(model, torch.from_numpy(x), graph, torch.from_numpy(labels),
                        torch.from_numpy(mask), val, epochs=2, optimizer="sgd", lr=0.1)
    assert result.epochs == 2


def test_fit_errors(data):
    folder, x, labels, train, val, _ = data
    graph = libgat.Graph.load(folder / "edges.txt", num_nodes=N)
    model = libgat.Model.init(F, ["2x4", "1x3:mean"], seed=1)
    with pytest.raises(libgat.InvalidError, match="dropout|rate|\\[0, 1\\)"):
        libgat.fit(model, x, graph, labels, train, val, dropout=1.5)
    with pytest.raises(libgat.RangeError):
        libgat.fit(model, x, graph, labels, np.array([0, N]), val, epochs=1)
    with pytest.raises(libgat.InvalidError, match="preset"):
        libgat.fit(model, x, graph, labels, train, val, preset="reddit")
    with pytest.raises(libgat.InvalidError, match="expected a libgat.Model"):
        libgat.fit("model", x, graph, labels, train, val)
    with pytest.raises(libgat.InvalidError, match="epochs"):
        libgat.fit(model, x, graph, labels, train, val, epochs=-1)
    with pytest.raises(libgat.InvalidError, match="on_epoch"):
        libgat.fit(model, x, graph, labels, train, val, on_epoch=3)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(libgat.NonFiniteError):
        libgat.fit(model, bad, graph, labels, train, val, epochs=1)


def test_preprocessing_is_recorded(tmp_path):
    model = libgat.Model.init(2, ["1x2"])
    assert model.preprocessing == ()
    x = np.array([[1, 3], [0, 0]], dtype=np.float32)
    assert np.array_equal(model.preprocess(x), x)
    model.preprocessing = "normalize_rows"
    assert model.preprocessing == ("normalize_rows",)
    assert model.preprocess(x).tolist() == [[0.25, 0.75], [0, 0]]
    model.save(tmp_path / "m.safetensors")
    assert libgat.Model.load(tmp_path / "m.safetensors").preprocessing == ("normalize_rows",)
    model.preprocessing = None
    assert model.preprocessing == ()
    with pytest.raises(libgat.InvalidError, match="standardize"):
        model.preprocessing = "standardize"
    with pytest.raises(libgat.InvalidError, match="3 columns"):
        model.preprocess(np.ones((2, 3)))


def test_normalize_features():
    x = np.array([[1, 3], [0, 0]], dtype=np.float64)
    out = libgat.normalize_features(x)
    assert out.dtype == np.float32 and out.tolist() == [[0.25, 0.75], [0, 0]]
    assert x.tolist() == [[1, 3], [0, 0]]  # a copy


def test_the_readme_example_runs(data, tmp_path, monkeypatch, capsys):
    """README's "From Python" example, on the generated data set instead of
    Cora (same file layout), equals gat-train's model."""
    import os
    from conftest import ROOT

    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## From Python"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", 10)]
    folder = data[0]
    assert '"/path/to/Cora"' in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace('"/path/to/Cora"', repr(str(folder))), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("best epoch ")
    run_tool("gat-train", "--data", folder, "--seed", 1, "--save", tmp_path / "c.safetensors",
             "--progress", "none")
    assert (tmp_path / "cora.safetensors").read_bytes() == \
        (tmp_path / "c.safetensors").read_bytes()


def _nll_gradient(out, labels, index):
    """d(mean NLL of log_softmax over index)/d out, in float64."""
    logits = out.astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = np.zeros_like(p)
    for i in index:  # repeats count repeatedly, as the library's loss
        grad[i] += p[i]
        grad[i, labels[i]] -= 1.0
    return (grad / len(index)).astype(np.float32)


def test_trainer_pieces_make_the_same_step_as_step(data):
    folder, x, labels, train, val, _ = data
    graph = libgat.Graph.load(folder / "edges.txt", num_nodes=N)
    x = libgat.normalize_features(x)
    a = libgat.Model.init(F, ["4x4", "1x3:mean"], seed=2)
    b = libgat.Model.init(F, ["4x4", "1x3:mean"], seed=2)
    options = dict(lr=0.01, weight_decay=5e-4, dropout=0.3, attention_dropout=0.3, seed=4)
    with libgat.Trainer(a, x, graph, **options) as ta, \
            libgat.Trainer(b, x, graph, **options) as tb:
        assert ta.sparse_input and ta.steps == 0
        for _ in range(3):
            metrics = ta.step(labels, train)
            out = tb.forward(training=True)  # the same dropout masks as ta's step
            d_x = tb.backward(_nll_gradient(out, labels, train), input_gradient=True)
            grads = tb.gradients()
            assert grads["layers.0.lin.weight"].shape == (16, F) and d_x.shape == (N, F)
            tb.update()
            assert np.isfinite(metrics.loss)
        assert ta.steps == tb.steps == 3
        # float32 loss gradients computed two ways: close, not equal bits.
        for name, value in a.parameters().items():
            np.testing.assert_allclose(b.parameters()[name], value, rtol=1e-4, atol=1e-6,
                                       err_msg=name)
        evaluation = ta.evaluate(labels, val)
        inference = ta.forward(training=False)
        np.testing.assert_allclose(inference, a(x, graph), rtol=1e-5, atol=1e-6)
        assert evaluation.loss == pytest.approx(a.evaluate(x, graph, labels, val).loss,
                                                rel=1e-5)
        with pytest.raises(libgat.InvalidError):
            ta.update()  # no backward since the last update
        with pytest.raises(libgat.InvalidError, match="d_out"):
            tb.backward(np.zeros((N, 2)))
    with pytest.raises(libgat.InvalidError, match="closed"):
        ta.step(labels, train)
