#!/usr/bin/python3
"""Generate libgat's PyTorch Geometric reference vectors (tests/data/pyg).

Run from anywhere, with Debian's Python (it has torch and numpy):

    /usr/bin/python3 tools/make_pyg_reference.py            # writes tests/data/pyg
    /usr/bin/python3 tools/make_pyg_reference.py --out DIR  # writes elsewhere

PyTorch Geometric itself is not a dependency: the forward pass is
tools/pyg_gat.py's plain-torch transcription of torch_geometric.nn.GATConv
(v2.x), here without edge features, following its semantics step by step:

  * x' = lin(x) (lin.weight [H*C, F_in], no bias), viewed [N, H, C];
  * alpha_src = (x' * att_src).sum(-1), alpha_dst likewise ([N, H]);
  * add_self_loops: remove_self_loops (every edge with src == dst is
    dropped), then add_self_loops (edges (i, i) for i = 0..N-1 appended at
    the end of edge_index);
  * per edge j -> i: e = leaky_relu(alpha_src[j] + alpha_dst[i], slope);
  * torch_geometric.utils.softmax grouped by destination: the group maximum
    is subtracted, exp, divided by (scatter-sum + 1e-16);
  * out_i = sum_j alpha_ij * x'_j (scatter-add: a destination without edges
    gets 0); concat -> [N, H*C], else the mean over heads -> [N, C]; + bias.
  * a stack of layers has the activation (ELU by default, or ReLU, or none)
    between layers and nothing after the last.

The reference runs in float64 on float32 inputs and parameters (the values
stored in x.npy / model.safetensors, cast up), and the expected results are
stored rounded to float32.

Self-check: every case is computed a second, independent way (a dense N x N
masked formulation per head, where an edge counts with its multiplicity, a
missing edge is -inf and rows are soft-maxed directly) and both must agree to
1e-9 (relative to the array's scale), or the script fails without writing.

Each case directory tests/data/pyg/<case>/ holds
  edges.txt          SNAP text, "src dst" per line, in the input order
                     (self-loops and duplicate edges included as given);
                     N is the number of rows of x.npy
  x.npy              float32 [N, F]
  model.safetensors  the layers' parameters and options (libgat's format)
  out.npy            float32 [N, out_features]
  attention.npy      float32 [E', H_last]: the last layer's coefficients in
                     libgat's library order (destination-major, input order
                     within a row, the added self-loop last in its row)
and tests/data/pyg/cases.txt lists the case names, one per line.

The output is deterministic: a re-run writes the same bytes.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyg_gat  # noqa: E402  (the GAT family in plain torch, writers, graphs)

f32 = pyg_gat.f32

# ---------------------------------------------------------------------------
# Reference GATConv (PyG semantics, sparse, float64)
# ---------------------------------------------------------------------------


def gat_params(layer):
    """A layer's parameters under PyG's names (the tensors themselves)."""
    return {"lin.weight": layer["weight"], "att_src": layer["att_src"],
            "att_dst": layer["att_dst"], "bias": layer["bias"]}


def pyg_edge_index(src, dst, num_nodes, add_self_loops):
    """The edge list GATConv's propagate sees, in PyG's order (numpy)."""
    s, d, _ = pyg_gat.propagate_edges({"add_self_loops": add_self_loops}, src, dst, None,
                                      num_nodes, num_nodes)
    return s.numpy(), d.numpy()


def forward_sparse(x, layers, activation, src, dst, value_factors=None):
    """The stack's (out [N, out], last alpha [E', H], src', dst' (numpy));
    value_factors as pyg_gat.forward's."""
    out, alpha, s, d = pyg_gat.forward(layers, [gat_params(layer) for layer in layers], x,
                                       None, src, dst, None, activation, value_factors)
    return out, alpha, s.numpy(), d.numpy()


# ---------------------------------------------------------------------------
# Second formulation for the self-check: dense, masked, per head
# ---------------------------------------------------------------------------


def gatconv_dense(x, layer, src, dst):
    """Returns (out, per-edge alpha for the edges of pyg_edge_index)."""
    n = x.shape[0]
    h, c = layer["heads"], layer["channels"]
    x = x.numpy()
    w = layer["weight"].numpy()
    att_s = layer["att_src"].numpy().reshape(h, c)
    att_d = layer["att_dst"].numpy().reshape(h, c)
    count = np.zeros((n, n))  # count[i, j]: edges j -> i, with multiplicity
    for j, i in zip(src, dst):
        count[i, j] += 1
    if layer["add_self_loops"]:
        np.fill_diagonal(count, 1.0)  # input loops dropped, one loop added
    s, d = pyg_edge_index(src, dst, n, layer["add_self_loops"])
    outs = []
    alpha_edges = np.zeros((len(s), h))
    for head in range(h):
        w_h = w[head * c:(head + 1) * c, :]  # [C, F]
        xp = np.einsum("nf,cf->nc", x, w_h)
        score = (xp @ att_s[head])[None, :] + (xp @ att_d[head])[:, None]  # [i, j]
        score = np.where(score > 0, score, layer["negative_slope"] * score)
        masked = np.where(count > 0, score, -np.inf)
        has = count.sum(axis=1) > 0
        row_max = np.where(has, masked.max(axis=1, initial=-np.inf), 0.0)
        p = np.where(count > 0, np.exp(np.where(count > 0, score, 0.0) - row_max[:, None]), 0.0)
        z = (count * p).sum(axis=1)
        a = np.zeros((n, n))
        a[has] = p[has] / z[has][:, None]
        outs.append((count * a) @ xp)  # [N, C]
        alpha_edges[:, head] = a[d, s]
    out = np.stack(outs, axis=1)  # [N, H, C]
    out = out.reshape(n, h * c) if layer["concat"] else out.mean(axis=1)
    if layer["bias"] is not None:
        out = out + layer["bias"].numpy()
    return torch.from_numpy(out), alpha_edges


def forward_dense(x, layers, activation, src, dst):
    alpha = None
    for k, layer in enumerate(layers):
        if k > 0:
            x = pyg_gat.activate(x, activation)
        x, alpha = gatconv_dense(x, layer, src, dst)
    return x.numpy(), alpha


# ---------------------------------------------------------------------------
# Case generation
# ---------------------------------------------------------------------------


def example6_graph():
    """The 6-node example: a[i][j] = 1 means an edge j -> i (diagonal ones
    are given as input self-loops)."""
    a = [[1, 1, 1, 0, 0, 0],
         [1, 1, 1, 0, 0, 0],
         [1, 1, 1, 0, 1, 1],
         [0, 0, 0, 1, 0, 1],
         [0, 0, 1, 0, 1, 1],
         [0, 0, 1, 1, 1, 1]]
    src, dst = [], []
    for i in range(6):
        for j in range(6):
            if a[i][j]:
                src.append(j)
                dst.append(i)
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)


def make_layer(rng, f_in, heads, channels, concat=True, bias=True, negative_slope=0.2,
               add_self_loops=True, att_scale=1.0):
    """float32 parameters: glorot-uniform weights and attention vectors (as
    PyG's reset_parameters), a random (non-zero) bias so it is tested."""
    layer = {"type": "gat", "heads": heads, "channels": channels, "concat": concat,
             "negative_slope": negative_slope, "add_self_loops": add_self_loops, "edge_dim": 0,
             "bias": bias, "residual": False, "separate": False, "att_scale": att_scale}
    p, _ = pyg_gat.make_params(rng, layer, f_in, None)
    layer.update(weight=p["lin.weight"], att_src=p["att_src"], att_dst=p["att_dst"],
                 bias=p.get("bias"))
    return layer


def out_width(layer):
    return layer["heads"] * layer["channels"] if layer["concat"] else layer["channels"]


def make_layers(rng, f, specs):
    """Layers from specs (make_layer's arguments, heads and channels
    included) on f input features: (layers, output width)."""
    layers = []
    for spec in specs:
        spec = dict(spec)
        layer = make_layer(rng, f, spec.pop("heads"), spec.pop("channels"), **spec)
        layers.append(layer)
        f = out_width(layer)
    return layers, f


def build_cases():
    """Every case: name, x, edges, layers, activation. Seeds are fixed; the
    values are whatever they draw (nothing tuned)."""
    cases = []

    def add(name, seed, n, f, graph, specs, activation="elu", x_scale=1.0):
        rng = np.random.default_rng(seed)
        if graph == "example6":
            src, dst = example6_graph()
        elif graph == "empty":
            src = np.zeros(0, dtype=np.int64)
            dst = np.zeros(0, dtype=np.int64)
        else:
            src, dst = pyg_gat.random_multigraph(rng, n, **graph)
        x = f32(x_scale * rng.standard_normal((n, f)))
        layers, _ = make_layers(rng, f, specs)
        cases.append({"name": name, "x": x, "src": src, "dst": dst, "layers": layers,
                      "activation": activation})

    # The 6-node example graph (its input self-loops are dropped and re-added).
    add("example6", 101, 6, 5, "example6",
        [dict(heads=2, channels=4), dict(heads=1, channels=3, concat=False)])
    # One layer, concatenated heads, on a multigraph with everything awkward.
    add("multigraph_concat", 202, 40, 12,
        dict(num_edges=150, no_in=3, no_edges=2, num_loops=4, num_dups=12),
        [dict(heads=4, channels=5)])
    # Three layers: 12 -> 4 x 5 concat -> 3 x 4 mean -> 2 x 3 concat.
    add("three_layers", 303, 60, 12,
        dict(num_edges=260, no_in=4, no_edges=3, num_loops=5, num_dups=20),
        [dict(heads=4, channels=5), dict(heads=3, channels=4, concat=False),
         dict(heads=2, channels=3)])
    # Mean over heads, no bias anywhere.
    add("mean_nobias", 404, 30, 16,
        dict(num_edges=110, no_in=2, no_edges=2, num_loops=3, num_dups=8),
        [dict(heads=3, channels=4, bias=False),
         dict(heads=2, channels=3, concat=False, bias=False)])
    # Raw attention scores in the thousands: only the max subtraction keeps
    # exp() finite.
    add("large_logits", 505, 36, 8,
        dict(num_edges=120, no_in=2, no_edges=1, num_loops=3, num_dups=10),
        [dict(heads=2, channels=4, att_scale=600.0)], x_scale=2.0)
    # No self-loops added: input loops are ordinary edges, isolated rows
    # output exactly the bias.
    add("no_self_loops", 606, 32, 10,
        dict(num_edges=90, no_in=4, no_edges=2, num_loops=4, num_dups=8),
        [dict(heads=3, channels=4, add_self_loops=False),
         dict(heads=2, channels=5, concat=False, add_self_loops=False)])
    # Mixed policy: loops added in layer 0, not in layer 1 (last).
    add("mixed_self_loops", 707, 28, 9,
        dict(num_edges=80, no_in=3, no_edges=1, num_loops=3, num_dups=6),
        [dict(heads=2, channels=6), dict(heads=2, channels=4, add_self_loops=False)])
    # negative_slope 0.1 and ReLU between layers.
    add("slope01_relu", 808, 44, 14,
        dict(num_edges=170, no_in=3, no_edges=2, num_loops=4, num_dups=12),
        [dict(heads=3, channels=5, negative_slope=0.1),
         dict(heads=4, channels=3, negative_slope=0.1, concat=False)],
        activation="relu")
    # No activation between layers.
    add("activation_none", 909, 24, 7,
        dict(num_edges=70, no_in=2, no_edges=1, num_loops=2, num_dups=6),
        [dict(heads=2, channels=3), dict(heads=1, channels=4)],
        activation="none")
    # Zero edges with self-loops on: every row attends only to itself.
    add("empty_edges", 1010, 10, 6, "empty",
        [dict(heads=2, channels=3), dict(heads=3, channels=2, concat=False)])
    return cases


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def write_safetensors(path, layers, activation):
    tensors, metadata = [], {}
    for k, layer in enumerate(layers):
        for name, key in (("lin.weight", "weight"), ("att_src", "att_src"),
                          ("att_dst", "att_dst"), ("bias", "bias")):
            if layer[key] is not None:
                tensors.append(("layers.%d.%s" % (k, name), layer[key]))
        metadata["layers.%d.concat" % k] = "true" if layer["concat"] else "false"
        metadata["layers.%d.negative_slope" % k] = repr(float(layer["negative_slope"]))
        metadata["layers.%d.add_self_loops" % k] = "true" if layer["add_self_loops"] else "false"
    metadata["activation"] = activation
    pyg_gat.write_safetensors(path, tensors, metadata, sort_keys=False)


# ---------------------------------------------------------------------------


def scale_close(got, want, tol):
    """max |got - want| <= tol * max(1, max |want|)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, float("inf")
    if want.size == 0:
        return True, 0.0
    err = float(np.max(np.abs(got - want)))
    return err <= tol * max(1.0, float(np.max(np.abs(want)))), err


def float32_margin(case, want_out, want_att):
    """How a float32 evaluation of the same reference (PyTorch's own
    precision) fares against the C test's tolerance: the largest
    |got - want| / (atol + rtol |want|), which must stay below 1."""
    def to32(layer):
        l2 = dict(layer)
        for key in ("weight", "att_src", "att_dst", "bias"):
            if l2[key] is not None:
                l2[key] = torch.from_numpy(np.array(l2[key], dtype=np.float32))
        return l2
    out, alpha, s, d = forward_sparse(torch.from_numpy(case["x"]),
                                      [to32(l) for l in case["layers"]],
                                      case["activation"], case["src"], case["dst"])
    perm = pyg_gat.library_order(d)
    worst = 0.0
    for got, want in ((out.numpy(), want_out), (alpha.numpy()[perm], want_att)):
        if want.size == 0:
            continue
        want = want.astype(np.float64)
        tol = 1e-5 * np.max(np.abs(want)) + 1e-4 * np.abs(want)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want) / tol)))
    return worst


def lib_order(src, dst, n, add_self_loops):
    """libgat's order written out directly (gat.h, "Edge order"), to check
    the permutation: row by row, the row's edges in input order (input
    self-loops dropped when loops are added), then the added loop."""
    edges = []
    for i in range(n):
        edges += [(j, i) for j, t in zip(src, dst) if t == i and not (add_self_loops and j == i)]
        if add_self_loops:
            edges.append((i, i))
    return edges


def run_case(case):
    x64 = torch.from_numpy(case["x"].astype(np.float64))
    layers64 = []
    for layer in case["layers"]:
        l64 = dict(layer)
        for key in ("weight", "att_src", "att_dst", "bias"):
            if l64[key] is not None:
                l64[key] = torch.from_numpy(layer[key].astype(np.float64))
        layers64.append(l64)
    out, alpha, s, d = forward_sparse(x64, layers64, case["activation"], case["src"], case["dst"])
    out = out.numpy()
    alpha = alpha.numpy()
    if not (np.all(np.isfinite(out)) and np.all(np.isfinite(alpha))):
        raise SystemExit("%s: non-finite reference" % case["name"])

    # Self-check against the dense formulation.
    out_d, alpha_d = forward_dense(x64, layers64, case["activation"], case["src"], case["dst"])
    ok_o, err_o = scale_close(out, out_d, 1e-9)
    ok_a, err_a = scale_close(alpha, alpha_d, 1e-9)
    if not (ok_o and ok_a):
        raise SystemExit("%s: sparse and dense references disagree (out %.3g, alpha %.3g)"
                         % (case["name"], err_o, err_a))

    # PyG order -> library order: a stable sort by destination. In PyG's
    # order the added loops come after every input edge, so each lands last
    # in its row; without added loops the rows keep the input order.
    perm = pyg_gat.library_order(d)
    att = alpha[perm]
    assert lib_order(case["src"], case["dst"], case["x"].shape[0],
                     case["layers"][-1]["add_self_loops"]) == list(zip(s[perm], d[perm]))
    return out, att, max(err_o, err_a)


def main():
    out_dir = pyg_gat.out_dir_argument(__doc__, "pyg")

    cases = build_cases()
    results = []
    for case in cases:
        out, att, err = run_case(case)
        margin = float32_margin(case, out.astype(np.float32), att.astype(np.float32))
        results.append((case, out, att))
        print("%-18s N=%3d E=%4d layers=%d heads_last=%d E'=%4d  dense-vs-sparse %.1e  "
              "float32/tolerance %.3f" % (case["name"], case["x"].shape[0], len(case["src"]),
                                          len(case["layers"]), case["layers"][-1]["heads"],
                                          att.shape[0], err, margin))

    os.makedirs(out_dir, exist_ok=True)
    names = []
    for case, out, att in results:
        cdir = pyg_gat.fresh_dir(os.path.join(out_dir, case["name"]))
        pyg_gat.write_edges(os.path.join(cdir, "edges.txt"), case["src"], case["dst"],
                            case["name"], case["x"].shape[0])
        np.save(os.path.join(cdir, "x.npy"), case["x"])
        write_safetensors(os.path.join(cdir, "model.safetensors"), case["layers"],
                          case["activation"])
        np.save(os.path.join(cdir, "out.npy"), f32(out))
        np.save(os.path.join(cdir, "attention.npy"), f32(att))
        names.append(case["name"])
    pyg_gat.write_case_list(out_dir, names)
    print("self-check passed: sparse and dense formulations agree to 1e-9 in %d cases; wrote %s"
          % (len(names), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
