"""PyTorch Geometric's GAT family in plain torch, for the reference generators.

PyTorch Geometric cannot be installed here, so tools/make_pyg_reference.py,
make_train_reference.py, make_family_reference.py and
make_family_train_reference.py all compute through this one transcription
of torch_geometric.nn.GATConv and GATv2Conv (PyG 2.6/2.7), in float64 on the
float32 values stored in the files, step by step:

  GATConv    x_s = lin(x_src) (lin_src when the layer has one), x_d =
             lin(x_dst) (or lin_dst), viewed [N, H, C]; a_s = sum_c x_s *
             att_src, a_d likewise; per edge j -> i
             e = leaky_relu(a_s[j] + a_d[i] (+ sum_c lin_edge(attr_e) * att_edge));
             message x_s[j]
  GATv2Conv  xl = lin_l(x_src) (with bias), xr = lin_r(x_dst) (lin_l with
             share_weights); e = sum_c att * leaky_relu(xl[j] + xr[i]
             (+ lin_edge(attr_e))); message xl[j]
  both       add_self_loops: remove_self_loops (with their attributes), then
             one loop (i, i) per i < min(N_src, N_dst) appended, its attribute
             from fill_value as torch_geometric.utils.add_self_loops computes
             it (scatter over the destinations of the remaining edges: mean
             (count clamped to 1), add, max / min (0 without edges), mul (1
             without edges), or a constant);
             softmax per destination (max subtracted and detached, sum + 1e-16);
             out = scatter-add of alpha * message; concat or mean of heads;
             + res(x_dst) (residual, no bias); + bias. Layers are joined by
             the activation (ELU, ReLU or none), nothing after the last.

Also here: glorot initialisation, the parameters of a layer under PyG's
names, the random graph makers and the safetensors / edge list writers the
scripts share. Torch autograd differentiates the forward for the training
references; the order of every operation is part of the stored bits.
"""

import argparse
import json
import os
import shutil
import struct
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
# Tensor.scatter_reduce is "beta" in torch 1.13; its amax/amin/prod are what we need.
warnings.filterwarnings("ignore", message="scatter_reduce.*beta")


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


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


def propagate_edges(layer, src, dst, edge_attr, n_src, n_dst):
    """(src, dst, edge_attr) as the layer's propagate sees them, in PyG's
    order (int64 tensors; the added loops last)."""
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


def pyg_softmax(e, index, num_nodes):
    """torch_geometric.utils.softmax(e, index, num_nodes=N) along dim 0."""
    heads = e.shape[1]
    idx = index.view(-1, 1).expand(-1, heads)
    # scatter max; rows without edges are never gathered, their value is moot
    e_max = torch.full((num_nodes, heads), float("-inf"), dtype=e.dtype)
    e_max = e_max.scatter_reduce(0, idx, e.detach(), reduce="amax", include_self=True)
    out = (e - e_max.index_select(0, index)).exp()
    out_sum = torch.zeros((num_nodes, heads), dtype=e.dtype).scatter_add(0, idx, out) + 1e-16
    return out / out_sum.index_select(0, index)


def lin(x, p, name):
    y = x @ p[name + ".weight"].t()
    if p.get(name + ".bias") is not None:
        y = y + p[name + ".bias"]
    return y


def conv(layer, p, x_src, x_dst, src, dst, edge_attr, value_factors=None):
    """One GATConv / GATv2Conv: (out [N_dst, W], alpha [E', H], src', dst').

    p maps PyG's parameter names to tensors; x_dst None is an ordinary graph
    (x = x_src). value_factors [N_src * H * C] (the projected-feature dropout
    of tools/make_train_reference.py) scales the messages, not the scores."""
    h, c = layer["heads"], layer["channels"]
    n_src = x_src.shape[0]
    xd_in = x_src if x_dst is None else x_dst
    n_dst = xd_in.shape[0]
    uses_edges = layer["edge_dim"] > 0
    s, d, ea = propagate_edges(layer, src, dst, edge_attr if uses_edges else None, n_src, n_dst)
    if layer["type"] == "gat":
        if "lin.weight" in p:
            xs = lin(x_src, p, "lin")
            xd = xs if x_dst is None else lin(x_dst, p, "lin")
        else:
            xs = lin(x_src, p, "lin_src")
            xd = lin(xd_in, p, "lin_dst")
        # Two views of one projection: the order autograd sums their
        # gradients in is part of the stored bits.
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
    alpha = pyg_softmax(e, d, n_dst)
    if value_factors is not None:
        values = values * torch.from_numpy(value_factors).view(n_src, h, c)
    msg = alpha.unsqueeze(-1) * values.index_select(0, s)
    out = torch.zeros((n_dst, h, c), dtype=x_src.dtype).index_add(0, d, msg)
    out = out.reshape(n_dst, h * c) if layer["concat"] else out.mean(dim=1)
    if p.get("res.weight") is not None:
        out = out + xd_in @ p["res.weight"].t()
    if p.get("bias") is not None:
        out = out + p["bias"]
    return out, alpha, s, d


def activate(x, activation):
    if activation == "elu":
        return F.elu(x)
    if activation == "relu":
        return torch.relu(x)
    assert activation == "none"
    return x


def forward(layers, params, x_src, x_dst, src, dst, edge_attr, activation, value_factors=None):
    """A stack of layers; x_dst (None: an ordinary graph) feeds the first.
    value_factors: one array (or None) per layer, see conv. Returns the last
    layer's (out, alpha, src', dst')."""
    out = x_src
    for k, layer in enumerate(layers):
        if k > 0:
            out = activate(out, activation)
        out, alpha, s, d = conv(layer, params[k], out, x_dst if k == 0 else None, src, dst,
                                edge_attr, value_factors[k] if value_factors else None)
    return out, alpha, s, d


def library_order(dst):
    """Indices of PyG's edge list in libgat's order: by destination, stable
    (input order within a row; PyG appends the loops, so they come last)."""
    return np.argsort(np.asarray(dst), kind="stable")


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


def glorot(rng, shape, fan_in, fan_out, scale=1.0):
    """float32 uniform in +-sqrt(6 / (fan_in + fan_out)) (times scale)."""
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return f32(scale * rng.uniform(-lim, lim, shape))


def older_att_fans(h, c):
    """The glorot fans the older references drew attention vectors with."""
    return 1, c


def uniform_bias(rng, n):
    """A random non-zero bias, so that it is tested."""
    return f32(rng.uniform(-0.5, 0.5, n))


def make_params(rng, layer, f_src, f_dst, att_fans=older_att_fans, bias_init=uniform_bias):
    """float32 parameters of a layer under PyG's names, drawn in the order
    the reference data was made with.

    layer: type, heads, channels, concat, bias, edge_dim, residual,
    share_weights, separate (GATConv's lin_src / lin_dst), att_scale.
    f_dst None: an ordinary graph. att_fans(h, c) gives the glorot fans of
    an attention vector [1, H, C]; bias_init(rng, n) draws a bias [n].
    Returns (params, output width)."""
    h, c = layer["heads"], layer["channels"]
    hc = h * c
    width = hc if layer["concat"] else c
    f_in_dst = f_src if f_dst is None else f_dst
    edge_dim = layer["edge_dim"]

    def att():
        return glorot(rng, (1, h, c), *att_fans(h, c), layer["att_scale"])

    p = {}
    if layer["type"] == "gat":
        if layer["separate"]:
            p["lin_src.weight"] = glorot(rng, (hc, f_src), f_src, hc)
            p["lin_dst.weight"] = glorot(rng, (hc, f_in_dst), f_in_dst, hc)
        else:
            assert f_in_dst == f_src
            p["lin.weight"] = glorot(rng, (hc, f_src), f_src, hc)
        p["att_src"] = att()
        p["att_dst"] = att()
        if edge_dim:
            p["lin_edge.weight"] = glorot(rng, (hc, edge_dim), edge_dim, hc)
            p["att_edge"] = att()
    else:
        p["lin_l.weight"] = glorot(rng, (hc, f_src), f_src, hc)
        if layer["bias"]:
            p["lin_l.bias"] = bias_init(rng, hc)
        if not layer["share_weights"]:
            p["lin_r.weight"] = glorot(rng, (hc, f_in_dst), f_in_dst, hc)
            if layer["bias"]:
                p["lin_r.bias"] = bias_init(rng, hc)
        else:
            assert f_in_dst == f_src
        p["att"] = att()
        if edge_dim:
            p["lin_edge.weight"] = glorot(rng, (hc, edge_dim), edge_dim, hc)
    if layer["residual"]:
        p["res.weight"] = glorot(rng, (width, f_in_dst), f_in_dst, width)
    if layer["bias"]:
        p["bias"] = bias_init(rng, width)
    return p, width


# ---------------------------------------------------------------------------
# Random graphs
# ---------------------------------------------------------------------------


def random_multigraph(rng, n, num_edges, no_in, no_edges, num_loops, num_dups):
    """Random src -> dst edges over n nodes.

    no_in nodes receive no edge (they may send), no_edges nodes touch no edge
    at all; num_loops input self-loops (one node gets two) and num_dups
    repeats of existing edges are scattered through the list."""
    perm = rng.permutation(n)
    isolated = perm[:no_edges]
    sink_free = perm[no_edges:no_edges + no_in]
    senders = np.setdiff1d(np.arange(n), isolated)
    receivers = np.setdiff1d(senders, sink_free)
    edges = []
    while len(edges) < num_edges:
        s = int(rng.choice(senders))
        t = int(rng.choice(receivers))
        if s != t:
            edges.append((s, t))
    first_loop = None
    for k in range(num_loops):
        v = int(rng.choice(receivers))
        if k == 1:
            v = first_loop  # a node with two input self-loops
        first_loop = v if k == 0 else first_loop
        edges.insert(int(rng.integers(0, len(edges) + 1)), (v, v))
    add_duplicates(rng, edges, num_dups)
    return edge_arrays(edges)


def receiver_graph(rng, n_src, n_dst, num_edges, isolated=2, num_loops=3, num_dups=4):
    """Edges src in [0, n_src) -> dst in [0, n_dst): `isolated` destinations
    without edges, input self-loops (one node twice) and duplicates scattered
    through the list."""
    receivers = rng.permutation(n_dst)[isolated:]
    edges = []
    while len(edges) < num_edges:
        s, t = int(rng.integers(0, n_src)), int(rng.choice(receivers))
        if s != t:
            edges.append((s, t))
    loop_nodes = [int(v) for v in receivers if v < n_src][:max(num_loops - 1, 0)]
    for v in loop_nodes + loop_nodes[:1]:
        edges.insert(int(rng.integers(0, len(edges) + 1)), (v, v))
    add_duplicates(rng, edges, num_dups)
    return edge_arrays(edges)


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
    for _ in range(num_dups):  # the place drawn before the edge, unlike add_duplicates
        edges.insert(int(rng.integers(0, len(edges) + 1)), edges[int(rng.integers(0, len(edges)))])
    return edge_arrays(edges)


def add_duplicates(rng, edges, num_dups):
    """Inserts num_dups repeats of existing edges at random places."""
    for _ in range(num_dups):
        e = edges[int(rng.integers(0, len(edges)))]
        edges.insert(int(rng.integers(0, len(edges) + 1)), e)


def edge_arrays(edges):
    return (np.array([e[0] for e in edges], dtype=np.int64),
            np.array([e[1] for e in edges], dtype=np.int64))


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def family_metadata(layers, activation, mark_residual):
    """libgat's string metadata of a GATConv / GATv2Conv stack
    (docs/formats.md); mark_residual adds layers.{i}.residual."""
    meta = {"activation": activation, "format": "pt"}
    for k, layer in enumerate(layers):
        pre = "layers.%d." % k
        meta[pre + "type"] = layer["type"]
        meta[pre + "concat"] = "true" if layer["concat"] else "false"
        meta[pre + "negative_slope"] = repr(float(layer["negative_slope"]))
        meta[pre + "add_self_loops"] = "true" if layer["add_self_loops"] else "false"
        if layer["edge_dim"]:
            fv = layer["fill_value"]
            meta[pre + "fill_value"] = fv if isinstance(fv, str) else repr(float(fv))
        if layer["type"] == "gatv2":
            meta[pre + "share_weights"] = "true" if layer["share_weights"] else "false"
        if mark_residual and layer["residual"]:
            meta[pre + "residual"] = "true"
    return meta


def layer_tensors(params, sort_names):
    """[(layers.{i}.name, array)] of per-layer parameter dicts, the names of
    a layer sorted or in the dict's order."""
    return [("layers.%d.%s" % (k, name), p[name])
            for k, p in enumerate(params) for name in (sorted(p) if sort_names else p)]


def write_safetensors(path, tensors, meta, sort_keys=True):
    """tensors: [(name, array)] stored as little-endian float32 in that order;
    the JSON header's keys sorted, or in that order then __metadata__."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        arr = np.asarray(arr)
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":"), sort_keys=sort_keys).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)


def write_edges(path, src, dst, name=None, num_nodes=None):
    """SNAP text "src dst" per line in input order, after a comment line
    naming the case when name is given."""
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        if name is not None:
            fh.write("# libgat PyG reference case %s: %d nodes, %d edges (src dst, input order)\n"
                     % (name, num_nodes, len(src)))
        for s, d in zip(src, dst):
            fh.write("%d %d\n" % (s, d))


def out_dir_argument(doc, data_name):
    """The --out folder of a generator (default tests/data/<data_name>)."""
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "data", data_name))
    return os.path.normpath(parser.parse_args().out)


def fresh_dir(path):
    """An empty folder at path (what was there is removed)."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def write_case_list(out_dir, names):
    with open(os.path.join(out_dir, "cases.txt"), "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(n + "\n" for n in names))
