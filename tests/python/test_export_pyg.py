"""tools/export_pyg.py against the C suite's stored PyTorch references
(tests/data/pyg/*/model.safetensors): libgat file -> state_dict -> libgat
file gives the same tensors and metadata, and what it cannot export exactly
is refused with one line, never a traceback."""

import glob
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "export_pyg.py")
spec = importlib.util.spec_from_file_location("export_pyg", SCRIPT)
export_pyg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export_pyg)

MODELS = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "pyg", "*", "model.safetensors")))
# GATv2, edge features, residual, bipartite (tools/make_family_reference.py).
FAMILY = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "family", "*",
                                       "model.safetensors")))


def _canonical(tensors):
    """Tensor names as the importer reads them (PyG 2.3's lin_src = lin,
    unless a separate lin_dst makes it a tuple layer)."""
    return {k.replace(".lin_src.weight", ".lin.weight")
            if k.replace(".lin_src.", ".lin_dst.") not in tensors else k: v
            for k, v in tensors.items()}


@pytest.mark.parametrize("path", MODELS + FAMILY,
                         ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_round_trip_through_a_state_dict(path, tmp_path):
    state_dict, configs, activation = export_pyg.import_state_dict(path)
    prefixes = ["conv%d." % (i + 1) for i in range(len(configs))]
    out = str(tmp_path / "back.safetensors")
    export_pyg.export_state_dict(state_dict, prefixes, configs, out, activation)
    want_tensors, want_meta = export_pyg.read_safetensors(path)
    got_tensors, got_meta = export_pyg.read_safetensors(out)
    want_tensors = _canonical(want_tensors)
    assert sorted(got_tensors) == sorted(want_tensors)
    for name, tensor in want_tensors.items():
        # Bitwise: the values only move between containers.
        assert torch.equal(got_tensors[name], tensor.reshape(got_tensors[name].shape)), name
    for key, value in want_meta.items():
        if key.endswith("negative_slope"):
            assert float(got_meta[key]) == pytest.approx(float(value), rel=0, abs=0), key
        elif key not in ("format", "layers.0.type", "layers.1.type", "layers.2.type") or \
                value != "gat":  # "gat" is the default type
            assert got_meta.get(key, value) == value, key


def test_state_dict_with_averaged_heads_and_no_bias_needs_concat(tmp_path):
    sd = {"c.lin.weight": torch.randn(6, 4), "c.att_src": torch.randn(1, 2, 3),
          "c.att_dst": torch.randn(1, 2, 3)}
    with pytest.raises(ValueError, match="concatenated or averaged"):
        export_pyg.export_state_dict(sd, ["c."], None, str(tmp_path / "m.safetensors"))
    export_pyg.export_state_dict(sd, ["c."], [{"concat": False}], str(tmp_path / "m.safetensors"))
    assert export_pyg.read_safetensors(str(tmp_path / "m.safetensors"))[1][
        "layers.0.concat"] == "false"


def test_module_with_averaged_heads_and_no_bias(tmp_path):
    conv = export_pyg._FakeGATConv(4, 3, heads=2, concat=False, bias=False)
    path = str(tmp_path / "m.safetensors")
    export_pyg.export_gat_stack([conv], path)
    assert export_pyg.read_safetensors(path)[1]["layers.0.concat"] == "false"


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          check=False)


def test_command_line_errors_are_one_line(tmp_path):
    r = _run(str(tmp_path / "missing.pt"), str(tmp_path / "out.safetensors"))
    assert r.returncode != 0 and "no such file" in r.stderr and "Traceback" not in r.stderr
    conv = export_pyg._FakeGATConv(4, 3, heads=2, concat=True)
    model = torch.nn.Module()
    model.conv1 = conv
    saved = str(tmp_path / "model.pt")
    torch.save(model.state_dict(), saved)
    r = _run(saved, str(tmp_path / "out.safetensors"), "--prefix", "conv1")
    assert r.returncode == 0, r.stderr
    r = _run(saved, str(tmp_path / "out2.safetensors"), "--prefix", "conv9")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "conv9" in r.stderr
    assert not os.path.exists(str(tmp_path / "out2.safetensors"))


def test_to_pyg_command_line(tmp_path):
    out = str(tmp_path / "sd.pt")
    r = _run("--to-pyg", MODELS[0], out)
    assert r.returncode == 0, r.stderr
    assert "GATConv(" in r.stdout
    state_dict = torch.load(out)
    assert any(k.endswith("att_src") for k in state_dict)


def test_gatv2_shared_and_edge_modules(tmp_path):
    """Modules shaped like PyG's GATv2Conv (share_weights: lin_r is lin_l)
    and GATConv with edge_dim and residual export with their options."""
    class V2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin_l = torch.nn.Linear(4, 6)
            self.lin_r = self.lin_l
            self.att = torch.nn.Parameter(torch.randn(1, 2, 3))
            self.lin_edge = torch.nn.Linear(2, 6, bias=False)
            self.bias = torch.nn.Parameter(torch.randn(6))
            self.concat, self.negative_slope, self.add_self_loops = True, 0.2, True
            self.fill_value = "max"

    class G(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 4, bias=False)
            self.att_src = torch.nn.Parameter(torch.randn(1, 2, 2))
            self.att_dst = torch.nn.Parameter(torch.randn(1, 2, 2))
            self.lin_edge = torch.nn.Linear(2, 4, bias=False)
            self.att_edge = torch.nn.Parameter(torch.randn(1, 2, 2))
            self.res = torch.nn.Linear(6, 2, bias=False)
            self.bias = torch.nn.Parameter(torch.randn(2))
            self.concat, self.negative_slope, self.add_self_loops = False, 0.2, True
            self.fill_value = 0.5

    path = str(tmp_path / "m.safetensors")
    export_pyg.export_gat_stack([V2(), G()], path)
    tensors, meta = export_pyg.read_safetensors(path)
    assert "layers.0.lin_r.weight" not in tensors and "layers.0.lin_l.bias" in tensors
    assert meta["layers.0.type"] == "gatv2" and meta["layers.0.share_weights"] == "true"
    assert meta["layers.0.fill_value"] == "max" and meta["layers.1.fill_value"] == "0.5"
    assert "layers.1.res.weight" in tensors and meta["layers.1.concat"] == "false"
    classes = []
    state_dict, configs, _ = export_pyg.import_state_dict(path, None, classes)
    assert classes == ["GATv2Conv", "GATConv"] and configs[0]["share_weights"]
    assert torch.equal(state_dict["conv1.lin_r.weight"], state_dict["conv1.lin_l.weight"])
    assert configs[1]["edge_dim"] == 2 and configs[1]["residual"] and \
        configs[1]["fill_value"] == 0.5
