#!/usr/bin/python3
"""Generate the GAT family's reference vectors (tests/data/family).

    /usr/bin/python3 tools/make_family_reference.py            # writes tests/data/family
    /usr/bin/python3 tools/make_family_reference.py --out DIR  # writes elsewhere

PyTorch Geometric cannot be installed here: the forward passes are
tools/pyg_gat.py's plain-torch transcription of torch_geometric.nn.GATConv
and GATv2Conv (PyG 2.6/2.7), in float64 (edge features with every
fill_value, residual, bipartite inputs, share_weights).

Each case directory tests/data/family/<case>/ holds
  edges.txt          "src dst" per line in input order
  x.npy              float32 [N_src, F]
  x_dst.npy          float32 [N_dst, F_dst] (bipartite cases only)
  edge_attr.npy      float32 [E, D] (cases with edge features), row k for
                     the k-th line of edges.txt
  model.safetensors  PyG's state_dict names and the metadata libgat reads
  out.npy            float32 [N_dst, out]
  attention.npy      float32 [E', H]: the last layer's coefficients in
                     libgat's library order (destination-major, input order
                     in a row, the added loop last)
and cases.txt lists them. Deterministic: a re-run writes the same bytes.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyg_gat  # noqa: E402  (the GAT family in plain torch, writers, graphs)

f32 = pyg_gat.f32


def forward(case):
    def t(a):
        return None if a is None else torch.from_numpy(a).double()
    params = [{k: t(v) for k, v in layer["params"].items()} for layer in case["layers"]]
    out, alpha, s, d = pyg_gat.forward(case["layers"], params, t(case["x"]), t(case["x_dst"]),
                                       case["src"], case["dst"], t(case["edge_attr"]),
                                       case["activation"])
    return out, alpha, s.numpy(), d.numpy()


# ---------------------------------------------------------------------------
# Parameters and graphs
# ---------------------------------------------------------------------------


def make_layer(rng, kind, f_in, heads, channels, concat=True, bias=True, slope=0.2,
               loops=True, edge_dim=0, fill="mean", residual=False, f_dst=None,
               share=False, att_scale=1.0, shared_lin=True):
    """float32-valued parameters (random non-zero biases so they are tested)."""
    f_dst = f_in if f_dst is None else f_dst
    layer = {"type": kind, "heads": heads, "channels": channels, "concat": concat,
             "negative_slope": slope, "add_self_loops": loops, "edge_dim": edge_dim,
             "fill_value": fill, "share_weights": share, "bias": bias, "residual": residual,
             "separate": f_dst != f_in or not shared_lin, "att_scale": att_scale}
    # glorot over an attention vector's last two sizes, biases glorot too
    layer["params"], layer["width"] = pyg_gat.make_params(
        rng, layer, f_in, f_dst, att_fans=lambda h, c: (h, c),
        bias_init=lambda rng, n: pyg_gat.glorot(rng, (n,), 1, n))
    return layer


def make_case(seed, layers_spec, n=16, n_dst=None, f=5, f_dst=None, edge_dim=0, edges=40,
              activation="elu", x_scale=1.0):
    rng = np.random.default_rng(seed)
    bipartite = n_dst is not None
    n_dst = n if n_dst is None else n_dst
    src, dst = pyg_gat.receiver_graph(rng, n, n_dst, edges)
    case = {"src": src, "dst": dst, "activation": activation, "layers": [],
            "x": f32(x_scale * rng.uniform(-1, 1, (n, f))), "x_dst": None, "edge_attr": None}
    if bipartite:
        case["x_dst"] = f32(x_scale * rng.uniform(-1, 1, (n_dst, f_dst or f)))
    if edge_dim:
        case["edge_attr"] = f32(rng.uniform(-1, 2, (len(src), edge_dim)))
    width, width_dst = f, (f_dst or f)
    for k, spec in enumerate(layers_spec):
        spec = dict(spec)
        kind = spec.pop("kind")
        heads, channels = spec.pop("heads"), spec.pop("channels")
        layer = make_layer(rng, kind, width, heads, channels, f_dst=width_dst if k == 0 else None,
                           **spec)
        case["layers"].append(layer)
        width = width_dst = layer["width"]
    return case


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def write_case(root, name, case):
    path = os.path.join(root, name)
    os.makedirs(path)
    pyg_gat.write_edges(os.path.join(path, "edges.txt"), case["src"], case["dst"])
    np.save(os.path.join(path, "x.npy"), case["x"])
    if case["x_dst"] is not None:
        np.save(os.path.join(path, "x_dst.npy"), case["x_dst"])
    if case["edge_attr"] is not None:
        np.save(os.path.join(path, "edge_attr.npy"), case["edge_attr"])
    layers = case["layers"]
    pyg_gat.write_safetensors(
        os.path.join(path, "model.safetensors"),
        pyg_gat.layer_tensors([layer["params"] for layer in layers], sort_names=False),
        pyg_gat.family_metadata(layers, case["activation"], mark_residual=False))
    out, alpha, s, d = forward(case)
    np.save(os.path.join(path, "out.npy"), f32(out.numpy()))
    np.save(os.path.join(path, "attention.npy"), f32(alpha.numpy()[pyg_gat.library_order(d)]))
    return out


def cases():
    g, v2 = "gat", "gatv2"
    yield "gatv2_basic", make_case(1, [dict(kind=v2, heads=3, channels=4)])
    yield "gatv2_two_layers", make_case(2, [dict(kind=v2, heads=2, channels=4),
                                            dict(kind=v2, heads=3, channels=3, concat=False,
                                                 share=True, bias=False)])
    yield "edge_mean_mixed", make_case(3, [dict(kind=g, heads=2, channels=3, edge_dim=3),
                                           dict(kind=v2, heads=2, channels=2, edge_dim=3,
                                                concat=False)], edge_dim=3)
    fills = [("add", v2), ("max", g), ("min", v2), ("mul", g), (0.75, v2), (-1.5, g)]
    for k, (fill, kind) in enumerate(fills):
        name = "fill_%s_%s" % (fill if isinstance(fill, str) else
                               ("const%d" % k), kind)
        yield name, make_case(10 + k, [dict(kind=kind, heads=2, channels=3, edge_dim=2,
                                            fill=fill)], edge_dim=2)
    yield "residual_mixed", make_case(20, [dict(kind=g, heads=2, channels=3, residual=True),
                                           dict(kind=v2, heads=2, channels=2, residual=True,
                                                concat=False)], activation="relu")
    yield "bipartite_gat", make_case(21, [dict(kind=g, heads=2, channels=3, edge_dim=2,
                                               residual=True)],
                                     n=20, n_dst=12, f=5, f_dst=4, edge_dim=2)
    yield "bipartite_gat_shared", make_case(22, [dict(kind=g, heads=2, channels=2)],
                                            n=18, n_dst=10, f=4, f_dst=4)
    yield "bipartite_gatv2", make_case(23, [dict(kind=v2, heads=2, channels=4, edge_dim=3,
                                                 fill="max", residual=True, concat=False)],
                                       n=20, n_dst=15, f=6, f_dst=3, edge_dim=3)
    yield "gatv2_large_logits", make_case(24, [dict(kind=v2, heads=2, channels=4,
                                                    att_scale=30.0)], x_scale=3.0)
    yield "three_layers_mixed", make_case(25, [dict(kind=g, heads=2, channels=4),
                                               dict(kind=v2, heads=2, channels=3, edge_dim=2),
                                               dict(kind=g, heads=1, channels=3, edge_dim=2,
                                                    concat=False, fill="min")],
                                          edge_dim=2, activation="relu")
    yield "no_self_loops_edges", make_case(26, [dict(kind=v2, heads=2, channels=3, edge_dim=2,
                                                     loops=False, slope=0.1)], edge_dim=2)
    yield "gat_tuple_same_width", make_case(27, [dict(kind=g, heads=2, channels=3,
                                                      shared_lin=False)], n=14, n_dst=14)


def main():
    root = pyg_gat.fresh_dir(pyg_gat.out_dir_argument(__doc__, "family"))
    names = []
    for name, case in cases():
        out = write_case(root, name, case)
        names.append(name)
        print("%-24s out %s, max |out| %.3g" % (name, list(out.shape), float(out.abs().max())))
    pyg_gat.write_case_list(root, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
