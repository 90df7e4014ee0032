#!/usr/bin/python3
"""Generate the GAT family's reference vectors (tests/data/family).

    /usr/bin/python3 tools/make_family_reference.py            # writes tests/data/family
    /usr/bin/python3 tools/make_family_reference.py --out DIR  # writes elsewhere

PyTorch Geometric cannot be installed here, so this script transcribes the
forward passes of torch_geometric.nn.GATConv and GATv2Conv (PyG 2.6/2.7) in
plain torch, float64, step by step:

  GATConv    h_src = x_src lin_src^T (lin when shared), h_dst = x_dst lin_dst^T;
             a_src = (h_src * att_src).sum(-1), a_dst likewise;
             e = a_src[j] + a_dst[i] (+ (lin_edge(attr_e) * att_edge).sum(-1));
             e = leaky_relu(e); message h_src[j]
  GATv2Conv  xl = lin_l(x_src) (with bias), xr = lin_r(x_dst) (lin_l when
             share_weights); e = (leaky_relu(xl[j] + xr[i] (+ lin_edge(attr_e)))
             * att).sum(-1); message xl[j]
  both       add_self_loops: remove_self_loops (with their attributes), then
             one loop per node i < min(N_src, N_dst) appended, its attribute
             from fill_value as torch_geometric.utils.add_self_loops computes
             it (scatter over the destinations of the remaining edges: mean
             (count clamped to 1), add, max / min (0 without edges), mul (1
             without edges), or a constant);
             softmax per destination (max subtracted, sum + 1e-16);
             out = scatter-add of alpha * message; concat or mean of heads;
             + res(x_dst) (residual); + bias. Layers are joined by the
             activation (ELU, ReLU or none).

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

import argparse
import json
import os
import shutil
import struct
import sys
import warnings

import numpy as np
import torch

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="scatter_reduce.*beta")
F = torch.nn.functional


def remove_and_add_loops(src, dst, attr, num_loops, fill):
    """PyG's remove_self_loops + add_self_loops(fill_value=fill, num_nodes=num_loops)."""
    keep = src != dst
    src, dst = src[keep], dst[keep]
    if attr is not None:
        attr = attr[keep]
    loops = torch.arange(num_loops, dtype=torch.int64)
    if attr is not None:
        d = attr.shape[1]
        idx = dst.view(-1, 1).expand(-1, d)
        if isinstance(fill, str):
            assert bool((dst < num_loops).all()), "PyG's scatter needs dst < num_nodes"
            if fill in ("mean", "add"):
                loop_attr = torch.zeros(num_loops, d, dtype=attr.dtype).scatter_add(0, idx, attr)
                if fill == "mean":
                    count = torch.zeros(num_loops, dtype=attr.dtype).scatter_add(
                        0, dst, torch.ones(dst.shape[0], dtype=attr.dtype)).clamp(min=1)
                    loop_attr = loop_attr / count.view(-1, 1)
            elif fill in ("max", "min"):
                loop_attr = torch.zeros(num_loops, d, dtype=attr.dtype).scatter_reduce(
                    0, idx, attr, reduce="a" + fill, include_self=False)
            else:
                assert fill == "mul"
                loop_attr = torch.ones(num_loops, d, dtype=attr.dtype).scatter_reduce(
                    0, idx, attr, reduce="prod", include_self=True)
        else:
            loop_attr = torch.full((num_loops, d), float(fill), dtype=attr.dtype)
        attr = torch.cat([attr, loop_attr], 0)
    return torch.cat([src, loops]), torch.cat([dst, loops]), attr


def softmax(e, index, n):
    heads = e.shape[1]
    idx = index.view(-1, 1).expand(-1, heads)
    e_max = torch.full((n, heads), float("-inf"), dtype=e.dtype).scatter_reduce(
        0, idx, e, reduce="amax", include_self=True)
    out = (e - e_max.index_select(0, index)).exp()
    s = torch.zeros((n, heads), dtype=e.dtype).scatter_add(0, idx, out) + 1e-16
    return out / s.index_select(0, index)


def linear(x, w, b=None):
    out = x @ w.t()
    return out + b if b is not None else out


def conv(layer, x_src, x_dst, src, dst, attr):
    """One layer; returns (out [N_dst, W], alpha [E', H], src', dst')."""
    p, h, c = layer["params"], layer["heads"], layer["channels"]
    n_src, n_dst = x_src.shape[0], x_dst.shape[0]
    if layer["add_self_loops"]:
        src, dst, attr = remove_and_add_loops(src, dst, attr, min(n_src, n_dst),
                                              layer["fill_value"])
    if layer["edge_dim"] == 0:
        attr = None
    if layer["type"] == "gat":
        w_src = p.get("lin.weight", p.get("lin_src.weight"))
        w_dst = p.get("lin_dst.weight", w_src)
        hs = linear(x_src, w_src).view(-1, h, c)
        hd = linear(x_dst, w_dst).view(-1, h, c)
        e = (hs * p["att_src"]).sum(-1)[src] + (hd * p["att_dst"]).sum(-1)[dst]
        if attr is not None:
            ea = linear(attr, p["lin_edge.weight"]).view(-1, h, c)
            e = e + (ea * p["att_edge"]).sum(-1)
        e = F.leaky_relu(e, layer["negative_slope"])
        msg = hs
    else:
        xl = linear(x_src, p["lin_l.weight"], p.get("lin_l.bias")).view(-1, h, c)
        if layer["share_weights"]:
            xr = linear(x_dst, p["lin_l.weight"], p.get("lin_l.bias")).view(-1, h, c)
        else:
            xr = linear(x_dst, p["lin_r.weight"], p.get("lin_r.bias")).view(-1, h, c)
        z = xl[src] + xr[dst]
        if attr is not None:
            z = z + linear(attr, p["lin_edge.weight"]).view(-1, h, c)
        e = (F.leaky_relu(z, layer["negative_slope"]) * p["att"]).sum(-1)
        msg = xl
    alpha = softmax(e, dst, n_dst)
    out = torch.zeros((n_dst, h, c), dtype=x_src.dtype).index_add(
        0, dst, alpha.unsqueeze(-1) * msg[src])
    out = out.reshape(n_dst, h * c) if layer["concat"] else out.mean(dim=1)
    if "res.weight" in p:
        out = out + linear(x_dst, p["res.weight"])
    if "bias" in p:
        out = out + p["bias"]
    return out, alpha, src, dst


def activate(x, activation):
    if activation == "elu":
        return F.elu(x)
    if activation == "relu":
        return torch.relu(x)
    return x


def forward(case):
    x = torch.from_numpy(case["x"]).double()
    x_dst = torch.from_numpy(case["x_dst"]).double() if case.get("x_dst") is not None else x
    attr = case.get("edge_attr")
    attr = torch.from_numpy(attr).double() if attr is not None else None
    src = torch.from_numpy(case["src"])
    dst = torch.from_numpy(case["dst"])
    for k, layer in enumerate(case["layers"]):
        if k > 0:
            x = activate(x, case["activation"])
            x_dst = x
        x, alpha, s, d = conv(layer, x, x_dst, src, dst, attr)
    return x, alpha, s.numpy(), d.numpy()


# ---------------------------------------------------------------------------
# Parameters and graphs
# ---------------------------------------------------------------------------


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def glorot(rng, shape, scale=1.0):
    lim = np.sqrt(6.0 / (shape[-2] + shape[-1]))
    return torch.from_numpy(f32(scale * rng.uniform(-lim, lim, shape))).double()


def make_layer(rng, kind, f_in, heads, channels, concat=True, bias=True, slope=0.2,
               loops=True, edge_dim=0, fill="mean", residual=False, f_dst=None,
               share=False, att_scale=1.0, shared_lin=True):
    """float32-valued parameters (random non-zero biases so they are tested)."""
    hc = heads * channels
    width = hc if concat else channels
    f_dst = f_in if f_dst is None else f_dst
    p = {}
    if kind == "gat":
        if f_dst != f_in or not shared_lin:
            p["lin_src.weight"] = glorot(rng, (hc, f_in))
            p["lin_dst.weight"] = glorot(rng, (hc, f_dst))
        else:
            p["lin.weight"] = glorot(rng, (hc, f_in))
        p["att_src"] = glorot(rng, (1, heads, channels), att_scale)
        p["att_dst"] = glorot(rng, (1, heads, channels), att_scale)
        if edge_dim:
            p["lin_edge.weight"] = glorot(rng, (hc, edge_dim))
            p["att_edge"] = glorot(rng, (1, heads, channels), att_scale)
    else:
        p["lin_l.weight"] = glorot(rng, (hc, f_in))
        if bias:
            p["lin_l.bias"] = glorot(rng, (1, hc)).view(-1)
        if not share:
            p["lin_r.weight"] = glorot(rng, (hc, f_dst))
            if bias:
                p["lin_r.bias"] = glorot(rng, (1, hc)).view(-1)
        p["att"] = glorot(rng, (1, heads, channels), att_scale)
        if edge_dim:
            p["lin_edge.weight"] = glorot(rng, (hc, edge_dim))
    if residual:
        p["res.weight"] = glorot(rng, (width, f_dst))
    if bias:
        p["bias"] = glorot(rng, (1, width)).view(-1)
    return {"type": kind, "heads": heads, "channels": channels, "concat": concat,
            "negative_slope": slope, "add_self_loops": loops, "edge_dim": edge_dim,
            "fill_value": fill, "share_weights": share, "params": p, "width": width}


def random_edges(rng, n_src, n_dst, num_edges, isolated=2, num_loops=3, num_dups=4):
    """Edges with isolated destinations, input self-loops (one node twice)
    and duplicates scattered through the list."""
    receivers = rng.permutation(n_dst)[isolated:]
    edges = []
    while len(edges) < num_edges:
        s, t = int(rng.integers(0, n_src)), int(rng.choice(receivers))
        if s != t:
            edges.append((s, t))
    loop_nodes = [int(v) for v in receivers if v < n_src][:max(num_loops - 1, 0)]
    for k, v in enumerate(loop_nodes + loop_nodes[:1]):
        edges.insert(int(rng.integers(0, len(edges) + 1)), (v, v))
    for _ in range(num_dups):
        e = edges[int(rng.integers(0, len(edges)))]
        edges.insert(int(rng.integers(0, len(edges) + 1)), e)
    return (np.array([e[0] for e in edges], dtype=np.int64),
            np.array([e[1] for e in edges], dtype=np.int64))


def make_case(seed, layers_spec, n=16, n_dst=None, f=5, f_dst=None, edge_dim=0, edges=40,
              activation="elu", x_scale=1.0):
    rng = np.random.default_rng(seed)
    bipartite = n_dst is not None
    n_dst = n if n_dst is None else n_dst
    src, dst = random_edges(rng, n, n_dst, edges)
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


def write_npy(path, a):
    np.save(path, a, allow_pickle=False)


def write_safetensors(path, case):
    tensors, meta, offset, blobs = {}, {}, 0, []
    for i, layer in enumerate(case["layers"]):
        for name, value in layer["params"].items():
            data = f32(value.numpy()).tobytes()
            tensors["layers.%d.%s" % (i, name)] = {
                "dtype": "F32", "shape": list(value.shape),
                "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
        meta["layers.%d.type" % i] = layer["type"]
        meta["layers.%d.concat" % i] = "true" if layer["concat"] else "false"
        meta["layers.%d.negative_slope" % i] = repr(float(layer["negative_slope"]))
        meta["layers.%d.add_self_loops" % i] = "true" if layer["add_self_loops"] else "false"
        if layer["edge_dim"]:
            fill = layer["fill_value"]
            meta["layers.%d.fill_value" % i] = fill if isinstance(fill, str) else repr(float(fill))
        if layer["type"] == "gatv2":
            meta["layers.%d.share_weights" % i] = "true" if layer["share_weights"] else "false"
    meta["activation"] = case["activation"]
    meta["format"] = "pt"
    tensors["__metadata__"] = meta
    header = json.dumps(tensors, sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)))
        fh.write(header)
        for blob in blobs:
            fh.write(blob)


def library_order(s, d):
    """Indices of PyG's edge list in libgat's order: by destination, stable
    (input order within a row; PyG appends the loops, so they come last)."""
    return np.argsort(d, kind="stable")


def write_case(root, name, case):
    path = os.path.join(root, name)
    os.makedirs(path)
    with open(os.path.join(path, "edges.txt"), "w") as fh:
        for s, t in zip(case["src"], case["dst"]):
            fh.write("%d %d\n" % (s, t))
    write_npy(os.path.join(path, "x.npy"), case["x"])
    if case["x_dst"] is not None:
        write_npy(os.path.join(path, "x_dst.npy"), case["x_dst"])
    if case["edge_attr"] is not None:
        write_npy(os.path.join(path, "edge_attr.npy"), case["edge_attr"])
    write_safetensors(os.path.join(path, "model.safetensors"), case)
    out, alpha, s, d = forward(case)
    write_npy(os.path.join(path, "out.npy"), f32(out.numpy()))
    write_npy(os.path.join(path, "attention.npy"), f32(alpha.numpy()[library_order(s, d)]))
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "tests", "data", "family"))
    args = parser.parse_args()
    root = os.path.abspath(args.out)
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    names = []
    for name, case in cases():
        out = write_case(root, name, case)
        names.append(name)
        print("%-24s out %s, max |out| %.3g" % (name, list(out.shape), float(out.abs().max())))
    with open(os.path.join(root, "cases.txt"), "w") as fh:
        fh.write("\n".join(names) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
