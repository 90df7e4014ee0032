#!/usr/bin/python3
"""Generate libgat's training references for the GAT family (tests/data/family_train).

Run from anywhere, with Debian's Python (it has torch and numpy):

    /usr/bin/python3 tools/make_family_train_reference.py            # writes tests/data/family_train
    /usr/bin/python3 tools/make_family_train_reference.py --out DIR  # writes elsewhere

PyTorch Geometric is not a dependency: the layers below transcribe, in plain
torch, the forward of torch_geometric.nn.GATConv and GATv2Conv (PyG 2.6/2.7),
and torch's autograd differentiates them:

  GATConv   x_s = lin(x_src) (or lin_src(x_src)), x_d = lin(x_dst) (or
            lin_dst(x_dst)), viewed [N, H, C]; a_s = sum_c x_s * att_src,
            a_d = sum_c x_d * att_dst; per edge j -> i
            e = LeakyReLU(a_s[j] + a_d[i] + sum_c lin_edge(edge_attr_e) * att_edge);
            messages alpha * x_s[j].
  GATv2Conv xl = lin_l(x_src) (weight and bias), xr = lin_r(x_dst) (lin_r is
            lin_l with share_weights); per edge
            e = sum_c att * LeakyReLU(xl[j] + xr[i] (+ lin_edge(edge_attr_e)));
            messages alpha * xl[j].
  Both:     self-loops (add_self_loops): every input edge with src == dst is
            removed with its attribute, then one loop (i, i) appended for
            i < min(N_src, N_dst), its attribute fill_value: "mean" / "add" /
            "max" / "min" / "mul" of the attributes of the edges into i (what
            is left after the removal; PyG's scatter: 0 for a node without
            such edges, except "mul", which starts from 1), or a constant;
            softmax by destination (max shifted, the max detached, + 1e-16);
            concat or mean of the heads; + res(x_dst) (residual, no bias);
            + bias. Layers are separated by ELU, nothing after the last.

Everything runs in float64 on the float32 values stored in the files. The
loss is L = sum(out * R) for a stored random R [N_dst, out]. For every case
the script stores the gradient of L with respect to every parameter, the
node features and the edge attributes, and the parameters after one step of
torch.optim.Adam(lr=0.01, weight_decay=5e-4) (betas 0.9/0.999, eps 1e-8).

Self-checks (the script fails without writing if one fails): a case without
any of the new options agrees with tools/make_pyg_reference.py's GATConv to
1e-12, and torch.autograd.gradcheck passes on the fill-value and GATv2 terms
of a tiny graph (so the scatter max/min/prod backward used is what
finite differences say).

Each case directory tests/data/family_train/<case>/ holds
  case.txt           "key value" lines: layers, nodes (N_src), nodes_dst
                     (N_dst; equal to nodes for an ordinary graph), bipartite
                     (0/1), edge_dim (0 without), lr, weight_decay
  edges.txt          SNAP text "src dst", input order (loops and duplicates as given)
  x.npy              float32 [N, F] (ordinary graph), or
  x_src.npy, x_dst.npy  float32 [N_src, F_src], [N_dst, F_dst] (bipartite, one layer)
  edge_attr.npy      float32 [E, D], row e the attribute of the e-th edge of
                     edges.txt (only when a layer has edge_dim)
  r.npy              float32 [N_dst, out]: the loss weights R
  model.safetensors  the parameters, PyG's names under layers.{i}. (lin.weight,
                     lin_src.weight, lin_dst.weight, att_src, att_dst, lin_l.weight,
                     lin_l.bias, lin_r.weight, lin_r.bias, att, lin_edge.weight,
                     att_edge, res.weight, bias) and metadata (type, concat,
                     negative_slope, add_self_loops, fill_value, share_weights,
                     residual, activation). With share_weights only lin_l.* is stored.
  out.npy            float32 [N_dst, out]: the forward output
  grads.safetensors  dL / d parameter, same names and metadata as the model
  dx.npy             float32 dL / dx (dx_src.npy and dx_dst.npy when bipartite)
  d_edge_attr.npy    float32 [E, D]: dL / d edge_attr, in edges.txt order
                     (input self-loops get 0 when loops are added: they are removed)
  adam1.safetensors  the parameters after one Adam step
and tests/data/family_train/cases.txt lists the case names, one per line.

The output is deterministic: a re-run writes the same bytes.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pyg_reference as pyg  # noqa: E402  (random graphs, softmax, edge writer)

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="scatter_reduce.*beta")

LR = 0.01
WEIGHT_DECAY = 5e-4
FILLS = ("mean", "add", "max", "min", "mul")
# The metadata value of a layer's type (docs/formats.md).
TYPE_NAMES = {"gat": "gat", "gatv2": "gatv2"}


# ---------------------------------------------------------------------------
# Layers (float64 torch, PyG semantics)
# ---------------------------------------------------------------------------


def loop_attr(edge_attr, dst, num_loops, num_dst, fill):
    """PyG's add_self_loops attribute of the loops (i, i), i < num_loops,
    from the attributes of the edges left after remove_self_loops."""
    d = edge_attr.shape[1]
    if not isinstance(fill, str):
        return torch.full((num_loops, d), float(fill), dtype=edge_attr.dtype)
    idx = dst.view(-1, 1).expand(-1, d)
    if fill in ("add", "mean"):
        out = torch.zeros((num_dst, d), dtype=edge_attr.dtype).scatter_add(0, idx, edge_attr)
        if fill == "mean":
            count = torch.zeros(num_dst, dtype=edge_attr.dtype).scatter_add(
                0, dst, torch.ones(dst.shape[0], dtype=edge_attr.dtype)).clamp(min=1)
            out = out / count.view(-1, 1)
    elif fill in ("max", "min"):
        out = torch.zeros((num_dst, d), dtype=edge_attr.dtype).scatter_reduce(
            0, idx, edge_attr, reduce="a" + fill, include_self=False)
    else:
        assert fill == "mul"
        out = torch.ones((num_dst, d), dtype=edge_attr.dtype).scatter_reduce(
            0, idx, edge_attr, reduce="prod", include_self=True)
    return out[:num_loops]


def attention_edges(layer, src, dst, edge_attr, n_src, n_dst):
    """(src, dst, edge_attr) as the layer's propagate sees them."""
    s = torch.from_numpy(np.asarray(src, dtype=np.int64))
    d = torch.from_numpy(np.asarray(dst, dtype=np.int64))
    if not layer["add_self_loops"]:
        return s, d, edge_attr
    keep = torch.from_numpy(np.asarray(src) != np.asarray(dst))
    s, d = s[keep], d[keep]
    loops = min(n_src, n_dst)
    ar = torch.arange(loops, dtype=torch.int64)
    if edge_attr is not None:
        ea = edge_attr[keep]
        edge_attr = torch.cat([ea, loop_attr(ea, d, loops, n_dst, layer["fill_value"])])
    return torch.cat([s, ar]), torch.cat([d, ar]), edge_attr


def lin(x, p, name):
    y = x @ p[name + ".weight"].t()
    if p.get(name + ".bias") is not None:
        y = y + p[name + ".bias"]
    return y


def layer_forward(layer, p, x_src, x_dst, src, dst, edge_attr):
    """One GATConv / GATv2Conv. x_dst None: an ordinary graph (x = x_src)."""
    h, c = layer["heads"], layer["channels"]
    n_src = x_src.shape[0]
    xd_in = x_src if x_dst is None else x_dst
    n_dst = xd_in.shape[0]
    uses_edges = layer["edge_dim"] > 0
    s, d, ea = attention_edges(layer, src, dst, edge_attr if uses_edges else None, n_src, n_dst)
    if layer["type"] == "gat":
        if "lin.weight" in p:
            xs = lin(x_src, p, "lin")
            xd = xs if x_dst is None else lin(x_dst, p, "lin")
        else:
            xs = lin(x_src, p, "lin_src")
            xd = lin(xd_in, p, "lin_dst")
        xs = xs.view(n_src, h, c)
        xd = xd.view(n_dst, h, c)
        a_s = (xs * p["att_src"]).sum(-1)
        a_d = (xd * p["att_dst"]).sum(-1)
        e = a_s.index_select(0, s) + a_d.index_select(0, d)
        if uses_edges:
            ee = lin(ea, p, "lin_edge").view(-1, h, c)
            e = e + (ee * p["att_edge"]).sum(-1)
        e = F.leaky_relu(e, layer["negative_slope"])
        values = xs
    else:
        xl = lin(x_src, p, "lin_l").view(n_src, h, c)
        if layer["share_weights"]:
            xr = xl if x_dst is None else lin(x_dst, p, "lin_l").view(n_dst, h, c)
        else:
            xr = lin(xd_in, p, "lin_r").view(n_dst, h, c)
        z = xl.index_select(0, s) + xr.index_select(0, d)
        if uses_edges:
            z = z + lin(ea, p, "lin_edge").view(-1, h, c)
        z = F.leaky_relu(z, layer["negative_slope"])
        e = (z * p["att"]).sum(-1)
        values = xl
    alpha = pyg.pyg_softmax(e, d, n_dst)
    msg = alpha.unsqueeze(-1) * values.index_select(0, s)
    out = torch.zeros((n_dst, h, c), dtype=x_src.dtype).index_add(0, d, msg)
    out = out.reshape(n_dst, h * c) if layer["concat"] else out.mean(dim=1)
    if layer["residual"]:
        out = out + xd_in @ p["res.weight"].t()
    if p.get("bias") is not None:
        out = out + p["bias"]
    return out


def model_forward(case, params, x_src, x_dst, edge_attr):
    out = x_src
    for k, layer in enumerate(case["layers"]):
        if k > 0:
            out = F.elu(out)
        out = layer_forward(layer, params[k], out, x_dst if k == 0 else None, case["src"],
                            case["dst"], edge_attr)
    return out


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def glorot(rng, shape, fan_in, fan_out, scale=1.0):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return pyg.f32(scale * rng.uniform(-lim, lim, shape))


def make_layer(rng, f_src, f_dst, spec):
    """A layer's options and float32 parameters (PyG names). f_dst None: an
    ordinary graph; otherwise the layer is bipartite."""
    layer = dict(type="gat", heads=1, channels=4, concat=True, negative_slope=0.2,
                 add_self_loops=True, bias=True, edge_dim=0, fill_value="mean",
                 residual=False, share_weights=False, separate=False, att_scale=1.0)
    layer.update(spec)
    h, c = layer["heads"], layer["channels"]
    hc = h * c
    width = hc if layer["concat"] else c
    f_in_dst = f_src if f_dst is None else f_dst
    p = {}
    if layer["type"] == "gat":
        if layer["separate"]:
            p["lin_src.weight"] = glorot(rng, (hc, f_src), f_src, hc)
            p["lin_dst.weight"] = glorot(rng, (hc, f_in_dst), f_in_dst, hc)
        else:
            assert f_in_dst == f_src
            p["lin.weight"] = glorot(rng, (hc, f_src), f_src, hc)
        p["att_src"] = glorot(rng, (1, h, c), 1, c, layer["att_scale"])
        p["att_dst"] = glorot(rng, (1, h, c), 1, c, layer["att_scale"])
        if layer["edge_dim"]:
            p["lin_edge.weight"] = glorot(rng, (hc, layer["edge_dim"]), layer["edge_dim"], hc)
            p["att_edge"] = glorot(rng, (1, h, c), 1, c, layer["att_scale"])
    else:
        p["lin_l.weight"] = glorot(rng, (hc, f_src), f_src, hc)
        if layer["bias"]:
            p["lin_l.bias"] = pyg.f32(rng.uniform(-0.5, 0.5, hc))
        if not layer["share_weights"]:
            p["lin_r.weight"] = glorot(rng, (hc, f_in_dst), f_in_dst, hc)
            if layer["bias"]:
                p["lin_r.bias"] = pyg.f32(rng.uniform(-0.5, 0.5, hc))
        else:
            assert f_in_dst == f_src
        p["att"] = glorot(rng, (1, h, c), 1, c, layer["att_scale"])
        if layer["edge_dim"]:
            p["lin_edge.weight"] = glorot(rng, (hc, layer["edge_dim"]), layer["edge_dim"], hc)
    if layer["residual"]:
        p["res.weight"] = glorot(rng, (width, f_in_dst), f_in_dst, width)
    if layer["bias"]:
        p["bias"] = pyg.f32(rng.uniform(-0.5, 0.5, width))
    return layer, p, width


def bipartite_graph(rng, n_src, n_dst, num_edges, num_loops, num_dups):
    """Edges src in [0, n_src) -> dst in [0, n_dst), some with src == dst
    (PyG removes those when it adds loops), duplicates, a destination
    without edges."""
    lonely = int(rng.integers(0, n_dst))
    edges = []
    while len(edges) < num_edges:
        s, t = int(rng.integers(0, n_src)), int(rng.integers(0, n_dst))
        if t != lonely and s != t:
            edges.append((s, t))
    for _ in range(num_loops):
        v = int(rng.integers(0, min(n_src, n_dst)))
        if v != lonely:
            edges.insert(int(rng.integers(0, len(edges) + 1)), (v, v))
    for _ in range(num_dups):
        edges.insert(int(rng.integers(0, len(edges) + 1)), edges[int(rng.integers(0, len(edges)))])
    return (np.array([e[0] for e in edges], dtype=np.int64),
            np.array([e[1] for e in edges], dtype=np.int64))


def build_cases():
    cases = []

    def add(name, seed, n, f, specs, graph=None, bipartite=None, edge_dim=0, attr_kind="normal"):
        """bipartite: (n_dst, f_dst) for a one-layer bipartite case."""
        rng = np.random.default_rng(seed)
        if bipartite is None:
            src, dst = pyg.random_multigraph(rng, n, **graph)
            x_src, x_dst = pyg.f32(rng.standard_normal((n, f))), None
            n_dst = n
        else:
            n_dst, f_dst = bipartite
            src, dst = bipartite_graph(rng, n, n_dst, **graph)
            x_src = pyg.f32(rng.standard_normal((n, f)))
            x_dst = pyg.f32(rng.standard_normal((n_dst, f_dst)))
        edge_attr = None
        if edge_dim:
            if attr_kind == "positive":  # "mul" multiplies many: keep them near 1
                edge_attr = pyg.f32(rng.uniform(0.5, 1.5, (len(src), edge_dim)))
            else:
                edge_attr = pyg.f32(rng.standard_normal((len(src), edge_dim)))
        layers, params = [], []
        f_in = f
        for k, spec in enumerate(specs):
            spec = dict(spec)
            if spec.get("edge_dim") is True:
                spec["edge_dim"] = edge_dim
            layer, p, f_in = make_layer(rng, f_in, bipartite[1] if bipartite and k == 0 else None,
                                        spec)
            layers.append(layer)
            params.append(p)
        r = pyg.f32(rng.standard_normal((n_dst, f_in)))
        cases.append(dict(name=name, src=src, dst=dst, x_src=x_src, x_dst=x_dst,
                          edge_attr=edge_attr, layers=layers, params=params, r=r,
                          n_dst=n_dst, edge_dim=edge_dim))

    g = dict(num_edges=70, no_in=2, no_edges=1, num_loops=3, num_dups=6)
    # GATv2, two layers, concat then mean, lin_l / lin_r with biases.
    add("v2_basic", 5101, 24, 7, [dict(type="gatv2", heads=3, channels=4),
                                  dict(type="gatv2", heads=2, channels=3, concat=False)], g)
    # share_weights (lin_r is lin_l), no bias in the first layer (nor in lin_l).
    add("v2_shared", 5202, 22, 6, [dict(type="gatv2", heads=2, channels=3, share_weights=True,
                                        bias=False),
                                   dict(type="gatv2", heads=2, channels=4, share_weights=True)], g)
    # GATv2 with edge features in both layers, "mean" loops, slope 0.1.
    add("v2_edge_mean", 5303, 24, 6, [dict(type="gatv2", heads=2, channels=4, edge_dim=True,
                                           negative_slope=0.1),
                                      dict(type="gatv2", heads=1, channels=5, edge_dim=True,
                                           concat=False)], g, edge_dim=3)
    # GATConv edge features, "max" then "min" loops.
    add("gat_edge_max_min", 5404, 24, 6, [dict(heads=3, channels=3, edge_dim=True, fill_value="max"),
                                          dict(heads=2, channels=3, edge_dim=True, fill_value="min",
                                               concat=False)], g, edge_dim=4)
    # GATConv edge features, "add" then "mul" loops (attributes near 1).
    add("gat_edge_add_mul", 5505, 22, 5, [dict(heads=2, channels=4, edge_dim=True, fill_value="add"),
                                          dict(heads=2, channels=3, edge_dim=True, fill_value="mul")],
        g, edge_dim=2, attr_kind="positive")
    # A constant fill (GATv2) feeding a GATConv with "mean" loops: types mixed.
    add("mixed_edge_const", 5606, 24, 6, [dict(type="gatv2", heads=2, channels=3, edge_dim=True,
                                               fill_value=0.5),
                                          dict(heads=2, channels=3, edge_dim=True, concat=False)],
        g, edge_dim=3)
    # Residual connections: GATConv concat, GATv2 mean.
    add("residual", 5707, 24, 7, [dict(heads=2, channels=4, residual=True),
                                  dict(type="gatv2", heads=3, channels=3, concat=False,
                                       residual=True)], g)
    # Three layers mixing every option, no loops added in the middle one
    # (input loops are then ordinary edges with their attributes).
    add("three_layers", 5808, 20, 5, [dict(type="gatv2", heads=2, channels=3, edge_dim=True,
                                           residual=True),
                                      dict(heads=2, channels=3, edge_dim=True,
                                           add_self_loops=False, fill_value="max"),
                                      dict(type="gatv2", heads=2, channels=2, concat=False,
                                           share_weights=True, bias=False)], g, edge_dim=2)
    # Large logits: attention vectors scaled up, the softmax saturates.
    add("v2_large_logits", 5909, 20, 6, [dict(type="gatv2", heads=2, channels=3, att_scale=40.0,
                                              edge_dim=True)], g, edge_dim=2)
    bg = dict(num_edges=60, num_loops=3, num_dups=5)
    # Bipartite GATConv: lin_src / lin_dst, edge features, residual.
    add("bip_gat", 6010, 26, 6, [dict(heads=2, channels=3, separate=True, edge_dim=True,
                                      residual=True)], bg, bipartite=(16, 4), edge_dim=3)
    # Bipartite GATConv with one shared lin, more destinations than sources
    # (loops only for the first N_src), no edge features, mean of heads.
    add("bip_gat_shared", 6111, 12, 5, [dict(heads=2, channels=3, concat=False)], bg,
        bipartite=(18, 5))
    # Bipartite GATv2: lin_l / lin_r of different widths, edges, residual mean.
    add("bip_v2", 6212, 24, 7, [dict(type="gatv2", heads=2, channels=4, edge_dim=True,
                                     fill_value="min", residual=True, concat=False)], bg,
        bipartite=(15, 3), edge_dim=2)
    return cases


# ---------------------------------------------------------------------------
# Running and writing
# ---------------------------------------------------------------------------


def torch_params(case):
    out = []
    for p in case["params"]:
        out.append({k: torch.tensor(v.astype(np.float64), requires_grad=True)
                    for k, v in p.items()})
    return out


def run_case(case):
    params = torch_params(case)
    x_src = torch.tensor(case["x_src"].astype(np.float64), requires_grad=True)
    x_dst = None
    if case["x_dst"] is not None:
        x_dst = torch.tensor(case["x_dst"].astype(np.float64), requires_grad=True)
    edge_attr = None
    if case["edge_attr"] is not None:
        edge_attr = torch.tensor(case["edge_attr"].astype(np.float64), requires_grad=True)
    out = model_forward(case, params, x_src, x_dst, edge_attr)
    if not torch.all(torch.isfinite(out)):
        raise SystemExit("%s: non-finite output" % case["name"])
    loss = (out * torch.from_numpy(case["r"].astype(np.float64))).sum()
    loss.backward()
    flat = [t for p in params for t in p.values()]
    grads = [{k: v.grad.detach().numpy().copy() for k, v in p.items()} for p in params]
    res = dict(out=out.detach().numpy(), grads=grads, dx_src=x_src.grad.numpy().copy(),
               dx_dst=None if x_dst is None else x_dst.grad.numpy().copy(),
               d_edge_attr=None if edge_attr is None else edge_attr.grad.numpy().copy())
    opt = torch.optim.Adam(flat, lr=LR, weight_decay=WEIGHT_DECAY)
    opt.step()
    res["adam1"] = [{k: v.detach().numpy().copy() for k, v in p.items()} for p in params]
    return res


def metadata(case):
    meta = {"activation": "elu", "format": "pt"}
    for k, layer in enumerate(case["layers"]):
        pre = "layers.%d." % k
        meta[pre + "type"] = TYPE_NAMES[layer["type"]]
        meta[pre + "concat"] = "true" if layer["concat"] else "false"
        meta[pre + "negative_slope"] = repr(float(layer["negative_slope"]))
        meta[pre + "add_self_loops"] = "true" if layer["add_self_loops"] else "false"
        if layer["edge_dim"]:
            fv = layer["fill_value"]
            meta[pre + "fill_value"] = fv if isinstance(fv, str) else repr(float(fv))
        if layer["type"] == "gatv2":
            meta[pre + "share_weights"] = "true" if layer["share_weights"] else "false"
        if layer["residual"]:
            meta[pre + "residual"] = "true"
    return meta


def write_safetensors(path, params, meta):
    header = {}
    blobs = []
    offset = 0
    for k, p in enumerate(params):
        for name in sorted(p):
            data = np.ascontiguousarray(p[name], dtype="<f4").tobytes()
            header["layers.%d.%s" % (k, name)] = {
                "dtype": "F32", "shape": list(np.shape(p[name])),
                "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)


def as_f32(params):
    return [{k: pyg.f32(v) for k, v in p.items()} for p in params]


def self_check_plain():
    """A plain GATConv stack here equals make_pyg_reference's GATConv."""
    rng = np.random.default_rng(7001)
    src, dst = pyg.random_multigraph(rng, 20, 60, 2, 1, 3, 5)
    x = torch.from_numpy(rng.standard_normal((20, 5)))
    old = pyg.make_layer(rng, 5, 3, 2)
    layer, _, _ = make_layer(rng, 5, None, dict(heads=3, channels=2))
    p = {"lin.weight": torch.from_numpy(old["weight"].astype(np.float64)),
         "att_src": torch.from_numpy(old["att_src"].astype(np.float64)),
         "att_dst": torch.from_numpy(old["att_dst"].astype(np.float64)),
         "bias": torch.from_numpy(old["bias"].astype(np.float64))}
    old64 = dict(old)
    for key in ("weight", "att_src", "att_dst", "bias"):
        old64[key] = p["lin.weight" if key == "weight" else key]
    want, _, _, _ = pyg.gatconv_sparse(x, old64, src, dst)
    got = layer_forward(layer, p, x, None, src, dst, None)
    err = float(torch.max(torch.abs(got - want)))
    if err > 1e-12:
        raise SystemExit("self-check: plain GATConv differs from make_pyg_reference (%.3g)" % err)


def self_check_gradcheck():
    """gradcheck of the new terms (every fill, GATv2, residual, bipartite)
    on a tiny graph: torch's scatter max/min/prod backward is what finite
    differences say."""
    rng = np.random.default_rng(7002)
    src, dst = bipartite_graph(rng, 7, 5, 14, 2, 2)
    for fill in FILLS + (0.25,):
        for kind in ("gat", "gatv2"):
            layer, p, _ = make_layer(rng, 3, 2, dict(type=kind, heads=2, channels=2, edge_dim=2,
                                                     fill_value=fill, residual=True,
                                                     separate=True))
            names = sorted(p)
            xs = torch.from_numpy(rng.standard_normal((7, 3))).requires_grad_()
            xd = torch.from_numpy(rng.standard_normal((5, 2))).requires_grad_()
            ea = torch.from_numpy(rng.uniform(0.5, 1.5, (len(src), 2))).requires_grad_()
            ts = [torch.from_numpy(p[k].astype(np.float64)).requires_grad_() for k in names]

            def f(xs, xd, ea, *ts):
                return layer_forward(layer, dict(zip(names, ts)), xs, xd, src, dst, ea)

            if not torch.autograd.gradcheck(f, (xs, xd, ea, *ts), eps=1e-6, atol=1e-7):
                raise SystemExit("self-check: gradcheck failed (%s, %r)" % (kind, fill))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "family_train"))
    args = parser.parse_args()
    out_dir = os.path.normpath(args.out)
    self_check_plain()
    self_check_gradcheck()
    cases = build_cases()
    results = [run_case(c) for c in cases]
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for case, res in zip(cases, results):
        cdir = os.path.join(out_dir, case["name"])
        if os.path.isdir(cdir):
            shutil.rmtree(cdir)
        os.makedirs(cdir)
        n = case["x_src"].shape[0]
        bip = case["x_dst"] is not None
        with open(os.path.join(cdir, "case.txt"), "w", encoding="ascii", newline="\n") as fh:
            fh.write("layers %d\nnodes %d\nnodes_dst %d\nbipartite %d\nedge_dim %d\n"
                     "lr %r\nweight_decay %r\n" % (len(case["layers"]), n, case["n_dst"],
                                                   int(bip), case["edge_dim"], LR, WEIGHT_DECAY))
        pyg.write_edges(os.path.join(cdir, "edges.txt"), case["name"], n, case["src"], case["dst"])
        if bip:
            np.save(os.path.join(cdir, "x_src.npy"), case["x_src"])
            np.save(os.path.join(cdir, "x_dst.npy"), case["x_dst"])
            np.save(os.path.join(cdir, "dx_src.npy"), pyg.f32(res["dx_src"]))
            np.save(os.path.join(cdir, "dx_dst.npy"), pyg.f32(res["dx_dst"]))
        else:
            np.save(os.path.join(cdir, "x.npy"), case["x_src"])
            np.save(os.path.join(cdir, "dx.npy"), pyg.f32(res["dx_src"]))
        if case["edge_attr"] is not None:
            np.save(os.path.join(cdir, "edge_attr.npy"), case["edge_attr"])
            np.save(os.path.join(cdir, "d_edge_attr.npy"), pyg.f32(res["d_edge_attr"]))
        np.save(os.path.join(cdir, "r.npy"), case["r"])
        np.save(os.path.join(cdir, "out.npy"), pyg.f32(res["out"]))
        meta = metadata(case)
        write_safetensors(os.path.join(cdir, "model.safetensors"), case["params"], meta)
        write_safetensors(os.path.join(cdir, "grads.safetensors"), as_f32(res["grads"]), meta)
        write_safetensors(os.path.join(cdir, "adam1.safetensors"), as_f32(res["adam1"]), meta)
        names.append(case["name"])
        print("%-18s N=%d N_dst=%d E=%d D=%d layers=%s" % (
            case["name"], n, case["n_dst"], len(case["src"]), case["edge_dim"],
            ",".join(l["type"] for l in case["layers"])))
    with open(os.path.join(out_dir, "cases.txt"), "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(n + "\n" for n in names))
    print("self-checks passed; wrote %d cases to %s" % (len(names), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
