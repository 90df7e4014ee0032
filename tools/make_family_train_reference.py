#!/usr/bin/python3
"""Generate libgat's training references for the GAT family (tests/data/family_train).

Run from anywhere, with Debian's Python (it has torch and numpy):

    /usr/bin/python3 tools/make_family_train_reference.py            # writes tests/data/family_train
    /usr/bin/python3 tools/make_family_train_reference.py --out DIR  # writes elsewhere

PyTorch Geometric is not a dependency: the layers are tools/pyg_gat.py's
plain-torch transcription of torch_geometric.nn.GATConv and GATv2Conv
(PyG 2.6/2.7; edge features with every fill_value, residual, bipartite
inputs, share_weights), ELU between layers, and torch's autograd
differentiates them.

Everything runs in float64 on the float32 values stored in the files. The
loss is L = sum(out * R) for a stored random R [N_dst, out]. The "*_projected"
cases add the GAT authors' dropout of the projected features (libgat's
trainer option projected_dropout; PyG has none): the messages are scaled by
the mask libgat draws for the first training forward (step 0), drawn by
tools/make_train_reference.py's copy of libgat's hash; the scores read the
features undropped. For every case
the script stores the gradient of L with respect to every parameter, the
node features and the edge attributes, and the parameters after one step of
torch.optim.Adam(lr=0.01, weight_decay=5e-4) (betas 0.9/0.999, eps 1e-8).

Self-check (the script fails without writing if it fails):
torch.autograd.gradcheck passes on the fill-value and GATv2 terms of a tiny
graph (so the scatter max/min/prod backward used is what finite differences
say).

Each case directory tests/data/family_train/<case>/ holds
  case.txt           "key value" lines: layers, nodes (N_src), nodes_dst
                     (N_dst; equal to nodes for an ordinary graph), bipartite
                     (0/1), edge_dim (0 without), lr, weight_decay, and
                     projected_dropout, seed (the mask's) where that dropout is on
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

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyg_gat  # noqa: E402  (the GAT family in plain torch, writers, graphs)
import make_train_reference  # noqa: E402  (libgat's projected-dropout masks)

LR = 0.01
WEIGHT_DECAY = 5e-4
FILLS = ("mean", "add", "max", "min", "mul")


def model_forward(case, params, x_src, x_dst, edge_attr):
    factors = None
    if case["projected"] > 0.0:  # every layer's sources: x_src's rows, then the nodes
        factors = [make_train_reference.projected_dropout_factors(
            case["projected"], case["mask_seed"], 0, k,
            x_src.shape[0] * layer["heads"] * layer["channels"])
            for k, layer in enumerate(case["layers"])]
    out, _, _, _ = pyg_gat.forward(case["layers"], params, x_src, x_dst, case["src"],
                                   case["dst"], edge_attr, "elu", factors)
    return out


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def make_layer(rng, f_src, f_dst, spec):
    """A layer's options and float32 parameters (PyG names). f_dst None: an
    ordinary graph; otherwise the layer is bipartite."""
    layer = dict(type="gat", heads=1, channels=4, concat=True, negative_slope=0.2,
                 add_self_loops=True, bias=True, edge_dim=0, fill_value="mean",
                 residual=False, share_weights=False, separate=False, att_scale=1.0)
    layer.update(spec)
    p, width = pyg_gat.make_params(rng, layer, f_src, f_dst)
    return layer, p, width


def build_cases():
    cases = []

    def add(name, seed, n, f, specs, graph=None, bipartite=None, edge_dim=0, attr_kind="normal",
            projected=0.0):
        """bipartite: (n_dst, f_dst) for a one-layer bipartite case;
        projected: the projected-feature dropout's rate (its mask keyed by seed)."""
        rng = np.random.default_rng(seed)
        if bipartite is None:
            src, dst = pyg_gat.random_multigraph(rng, n, **graph)
            x_src, x_dst = pyg_gat.f32(rng.standard_normal((n, f))), None
            n_dst = n
        else:
            n_dst, f_dst = bipartite
            src, dst = pyg_gat.bipartite_graph(rng, n, n_dst, **graph)
            x_src = pyg_gat.f32(rng.standard_normal((n, f)))
            x_dst = pyg_gat.f32(rng.standard_normal((n_dst, f_dst)))
        edge_attr = None
        if edge_dim:
            if attr_kind == "positive":  # "mul" multiplies many: keep them near 1
                edge_attr = pyg_gat.f32(rng.uniform(0.5, 1.5, (len(src), edge_dim)))
            else:
                edge_attr = pyg_gat.f32(rng.standard_normal((len(src), edge_dim)))
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
        r = pyg_gat.f32(rng.standard_normal((n_dst, f_in)))
        cases.append(dict(name=name, src=src, dst=dst, x_src=x_src, x_dst=x_dst,
                          edge_attr=edge_attr, layers=layers, params=params, r=r,
                          n_dst=n_dst, edge_dim=edge_dim, projected=projected,
                          mask_seed=seed))

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
    # The projected-feature dropout: GATv2 with edges and residual, then
    # share_weights (xr is xl); GATConv with edges and residual, then mean;
    # a bipartite GATv2 (the mask over x_src's rows).
    add("v2_projected", 6313, 24, 6, [dict(type="gatv2", heads=3, channels=4, edge_dim=True,
                                           residual=True),
                                      dict(type="gatv2", heads=2, channels=3, concat=False,
                                           share_weights=True)], g, edge_dim=2, projected=0.5)
    add("gat_projected", 6414, 24, 6, [dict(heads=2, channels=4, edge_dim=True, residual=True,
                                            fill_value="max"),
                                       dict(heads=2, channels=3, concat=False)], g, edge_dim=3,
        projected=0.5)
    add("bip_v2_projected", 6515, 20, 5, [dict(type="gatv2", heads=2, channels=3)], bg,
        bipartite=(14, 4), projected=0.4)
    # GATConv at 8 x 8 (the shape of the register kernels) with edges, then GATv2.
    add("gat8_projected", 6616, 24, 6, [dict(heads=8, channels=8, edge_dim=True),
                                        dict(type="gatv2", heads=1, channels=4)], g, edge_dim=2,
        projected=0.5)
    # GATv2 at 8 x 8 with edges and residual, then GATConv.
    add("v2_8_projected", 6717, 24, 6, [dict(type="gatv2", heads=8, channels=8, edge_dim=True,
                                             residual=True),
                                        dict(heads=1, channels=4, concat=False)], g, edge_dim=2,
        projected=0.5)
    # 8 heads x 8 channels (the paper's hidden shape, the trainer's register
    # kernels): GATConv and GATv2 with edge features, then GATv2 averaged.
    add("wide_8x8", 6313, 30, 6, [dict(heads=8, channels=8, edge_dim=True),
                                  dict(type="gatv2", heads=8, channels=8, edge_dim=True,
                                       fill_value="add"),
                                  dict(type="gatv2", heads=8, channels=8, concat=False)],
        dict(num_edges=110, no_in=2, no_edges=1, num_loops=3, num_dups=6), edge_dim=3)
    # Plain GATv2 at 8 x 8 into an averaged, residual GATConv at 8 x 8.
    add("eight_heads", 6818, 16, 5, [dict(type="gatv2", heads=8, channels=8),
                                     dict(heads=8, channels=8, concat=False, residual=True)],
        dict(num_edges=40, no_in=2, no_edges=1, num_loops=3, num_dups=4))
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


def write_params(path, case, params):
    pyg_gat.write_safetensors(path, pyg_gat.layer_tensors(params, sort_names=True),
                              pyg_gat.family_metadata(case["layers"], "elu", mark_residual=True))


def self_check_gradcheck():
    """gradcheck of the new terms (every fill, GATv2, residual, bipartite)
    on a tiny graph: torch's scatter max/min/prod backward is what finite
    differences say."""
    rng = np.random.default_rng(7002)
    src, dst = pyg_gat.bipartite_graph(rng, 7, 5, 14, 2, 2)
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
                return pyg_gat.conv(layer, dict(zip(names, ts)), xs, xd, src, dst, ea)[0]

            if not torch.autograd.gradcheck(f, (xs, xd, ea, *ts), eps=1e-6, atol=1e-7):
                raise SystemExit("self-check: gradcheck failed (%s, %r)" % (kind, fill))


def main():
    out_dir = pyg_gat.out_dir_argument(__doc__, "family_train")
    self_check_gradcheck()
    cases = build_cases()
    results = [run_case(c) for c in cases]
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for case, res in zip(cases, results):
        cdir = pyg_gat.fresh_dir(os.path.join(out_dir, case["name"]))
        n = case["x_src"].shape[0]
        bip = case["x_dst"] is not None
        with open(os.path.join(cdir, "case.txt"), "w", encoding="ascii", newline="\n") as fh:
            fh.write("layers %d\nnodes %d\nnodes_dst %d\nbipartite %d\nedge_dim %d\n"
                     "lr %r\nweight_decay %r\n" % (len(case["layers"]), n, case["n_dst"],
                                                   int(bip), case["edge_dim"], LR, WEIGHT_DECAY))
            if case["projected"] > 0.0:
                fh.write("projected_dropout %r\nseed %d\n" % (case["projected"],
                                                               case["mask_seed"]))
        pyg_gat.write_edges(os.path.join(cdir, "edges.txt"), case["src"], case["dst"],
                            case["name"], n)
        if bip:
            np.save(os.path.join(cdir, "x_src.npy"), case["x_src"])
            np.save(os.path.join(cdir, "x_dst.npy"), case["x_dst"])
            np.save(os.path.join(cdir, "dx_src.npy"), pyg_gat.f32(res["dx_src"]))
            np.save(os.path.join(cdir, "dx_dst.npy"), pyg_gat.f32(res["dx_dst"]))
        else:
            np.save(os.path.join(cdir, "x.npy"), case["x_src"])
            np.save(os.path.join(cdir, "dx.npy"), pyg_gat.f32(res["dx_src"]))
        if case["edge_attr"] is not None:
            np.save(os.path.join(cdir, "edge_attr.npy"), case["edge_attr"])
            np.save(os.path.join(cdir, "d_edge_attr.npy"), pyg_gat.f32(res["d_edge_attr"]))
        np.save(os.path.join(cdir, "r.npy"), case["r"])
        np.save(os.path.join(cdir, "out.npy"), pyg_gat.f32(res["out"]))
        write_params(os.path.join(cdir, "model.safetensors"), case, case["params"])
        write_params(os.path.join(cdir, "grads.safetensors"), case, res["grads"])
        write_params(os.path.join(cdir, "adam1.safetensors"), case, res["adam1"])
        names.append(case["name"])
        print("%-18s N=%d N_dst=%d E=%d D=%d layers=%s" % (
            case["name"], n, case["n_dst"], len(case["src"]), case["edge_dim"],
            ",".join(l["type"] for l in case["layers"])))
    pyg_gat.write_case_list(out_dir, names)
    print("self-checks passed; wrote %d cases to %s" % (len(names), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
