#!/usr/bin/python3
"""Generate libgat's training reference vectors (tests/data/train).

Run from anywhere, with Debian's Python (it has torch and numpy):

    /usr/bin/python3 tools/make_train_reference.py            # writes tests/data/train
    /usr/bin/python3 tools/make_train_reference.py --out DIR  # writes elsewhere

PyTorch Geometric is not a dependency: the forward pass is the plain-torch
GATConv of tools/pyg_gat.py (through tools/make_pyg_reference.py, so both
follow the same semantics: PyG's self-loop handling, the max-shifted softmax
with the max detached, concat or mean of heads, bias), and torch's autograd
differentiates it. A case is a model (2 or 3 layers, ELU between them),
a graph, features x, labels and a set of training nodes; the loss is PyG's
GAT example's, F.nll_loss(F.log_softmax(out, -1)[train], y[train]), with
dropout off (libgat's masks come from its own counter-based generator, by
design not torch's RNG), except in one case: "projected_dropout" has the
GAT authors' dropout of the projected features (libgat's trainer option
projected_dropout; PyG has none), with the mask libgat draws. That mask is
a pure function of (seed, step, layer, element), re-implemented here
(dropout_keep below, a copy of src/dropout.h), so the reference applies
the same masks at each of its three steps: x' = x W^T feeds the attention
scores as it is and the aggregation as x' * mask / (1 - p).

Everything runs in float64 on the float32 values stored in the files, so
the expected values are the exact mathematics; the C test compares its
float32 results with a stated tolerance.

Each case directory tests/data/train/<case>/ holds
  edges.txt          SNAP text "src dst", input order (loops and duplicates as given)
  x.npy              float32 [N, F]
  labels.npy         int64 [N]
  train.npy          int64 [T] training node ids (one repeated: it counts twice)
  hyper.txt          "lr weight_decay" of torch.optim.Adam (betas 0.9/0.999, eps 1e-8),
                     then "projected_dropout seed" when that dropout is on
  model.safetensors  the parameters before training (libgat's format)
  loss.npy           float32 [3, 1]: the loss at steps 1, 2, 3 (before each update)
  grads.safetensors  d loss / d parameter at step 1, same names and metadata
                     as the model (so gat_model_load reads it)
  dx.npy             float32 [N, F]: d loss / d x at step 1
  adam1.safetensors  the parameters after one Adam step (weight decay included)
and tests/data/train/cases.txt lists the case names, one per line.

The output is deterministic: a re-run writes the same bytes.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pyg_reference as pyg  # noqa: E402  (the GATConv layout and writer)
import pyg_gat  # noqa: E402  (the GAT family in plain torch, graphs)

torch.set_num_threads(1)


def build_cases():
    """name, seed, N, F, graph spec, layer specs, classes, train size, lr, wd, features."""
    cases = []

    def add(name, seed, n, f, graph, specs, num_train, lr, wd, features, projected=0.0,
            mask_seed=0):
        rng = np.random.default_rng(seed)
        src, dst = pyg_gat.random_multigraph(rng, n, **graph)
        if features == "bag_of_words":
            # Binary, ~15% non-zero, then row-normalised as gat-train does:
            # the sparse input path sees a realistic input.
            x = (rng.random((n, f)) < 0.15).astype(np.float64)
            x[0, :] = 0.0  # an all-zero row stays zero
            s = x.sum(axis=1, keepdims=True)
            x = np.where(s > 0, x / np.where(s > 0, s, 1.0), 0.0)
        else:
            x = rng.standard_normal((n, f))
        x = pyg_gat.f32(x)
        layers, classes = pyg.make_layers(rng, f, specs)
        labels = rng.integers(0, classes, n).astype(np.int64)
        train = np.sort(rng.choice(n, num_train, replace=False)).astype(np.int64)
        train = np.concatenate([train, train[:1]])  # a repeated node counts twice
        cases.append(dict(name=name, x=x, src=src, dst=dst, layers=layers, labels=labels,
                          train=train, lr=lr, wd=wd, projected=projected,
                          mask_seed=mask_seed))

    # The paper's Cora architecture, scaled down: heads concatenated, ELU,
    # one output head; bag-of-words input (exercises the sparse path).
    add("cora_like", 4101, 40, 24,
        dict(num_edges=150, no_in=3, no_edges=2, num_loops=4, num_dups=10),
        [dict(heads=4, channels=3), dict(heads=1, channels=5, concat=False)],
        num_train=12, lr=0.005, wd=5e-4, features="bag_of_words")
    # Pubmed's: output heads averaged; larger lr and weight decay; dense input.
    add("mean_heads", 4202, 36, 10,
        dict(num_edges=130, no_in=2, no_edges=2, num_loops=3, num_dups=8),
        [dict(heads=3, channels=4), dict(heads=3, channels=3, concat=False)],
        num_train=10, lr=0.01, wd=1e-3, features="normal")
    # Three layers, no self-loops added in the middle one, no bias in the last.
    add("three_layers", 4303, 32, 8,
        dict(num_edges=110, no_in=3, no_edges=1, num_loops=3, num_dups=8),
        [dict(heads=2, channels=4), dict(heads=2, channels=3, add_self_loops=False),
         dict(heads=2, channels=4, concat=False, bias=False)],
        num_train=10, lr=0.005, wd=5e-4, features="normal")
    # The authors' projected-feature dropout in both layers (masks: libgat's).
    add("projected_dropout", 4404, 40, 24,
        dict(num_edges=150, no_in=3, no_edges=2, num_loops=4, num_dups=10),
        [dict(heads=4, channels=3), dict(heads=1, channels=5, concat=False)],
        num_train=12, lr=0.005, wd=5e-4, features="bag_of_words", projected=0.5,
        mask_seed=11)
    # The paper's shape itself (8 heads x 8 channels, then 1 x 7), with its
    # projected dropout: libgat runs fixed-shape kernels there.
    add("paper_shape", 4505, 48, 40,
        dict(num_edges=200, no_in=3, no_edges=2, num_loops=4, num_dups=10),
        [dict(heads=8, channels=8), dict(heads=1, channels=7, concat=False)],
        num_train=14, lr=0.005, wd=5e-4, features="bag_of_words", projected=0.6,
        mask_seed=12)
    return cases


# libgat's dropout masks (src/dropout.h): splitmix64's finalizer over
# (seed, step, layer, site), one 64-bit hash per four elements, element e
# dropped when its 16-bit lane is below round(rate * 2^16).
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def projected_dropout_factors(rate, seed, step, layer, count):
    """[count] float64: 0 or libgat's 1 / (1 - rate) for elements 0..count-1
    of the projected-feature site (element = node * H*C + head * C + channel)."""
    rate32 = float(np.float32(rate))  # the trainer takes the rate as a float
    threshold = min(max(int(np.floor(rate32 * 65536.0 + 0.5)), 1), 65535)  # lround
    scale = float(np.float32(1.0 / (1.0 - rate32)))
    k = mix64(seed ^ 0xD1B54A32D192ED03)
    k = mix64(k + step)
    key = mix64(mix64(k ^ 0x94D049BB133111EB) + layer)
    out = np.empty(count)
    for e in range(count):
        lane = (mix64(key + (e >> 2) * GOLDEN) >> (16 * (e & 3))) & 0xFFFF
        out[e] = scale if lane >= threshold else 0.0
    return out


PARAM_KEYS = ("weight", "att_src", "att_dst", "bias")


def torch_layers(layers):
    """float64 leaf tensors (requires_grad) for every parameter."""
    out = []
    for layer in layers:
        l64 = dict(layer)
        for key in PARAM_KEYS:
            if layer[key] is not None:
                l64[key] = torch.tensor(np.asarray(layer[key], dtype=np.float64),
                                        requires_grad=True)
        out.append(l64)
    return out


def parameters(layers):
    return [l[k] for l in layers for k in PARAM_KEYS if l[k] is not None]


def loss_of(x, layers, case, step):
    """The loss of the forward at `step` (updates so far: it keys the masks)."""
    factors = None
    if case["projected"] > 0.0:  # x' * mask / (1 - p) in the aggregation, not the scores
        factors = [projected_dropout_factors(case["projected"], case["mask_seed"], step, k,
                                             x.shape[0] * layer["heads"] * layer["channels"])
                   for k, layer in enumerate(layers)]
    out, _, _, _ = pyg.forward_sparse(x, layers, "elu", case["src"], case["dst"], factors)
    y = torch.from_numpy(case["labels"])
    idx = torch.from_numpy(case["train"])
    return F.nll_loss(F.log_softmax(out, dim=-1)[idx], y[idx])


def as_float32_layers(layers, values):
    """Copies of the layer dicts with parameters replaced by float32 arrays."""
    it = iter(values)
    out = []
    for layer in layers:
        l2 = dict(layer)
        for key in PARAM_KEYS:
            if layer[key] is not None:
                l2[key] = pyg_gat.f32(next(it).detach().numpy().reshape(np.shape(layer[key])))
        out.append(l2)
    return out


def run_case(case):
    layers = torch_layers(case["layers"])
    params = parameters(layers)
    x = torch.tensor(case["x"].astype(np.float64), requires_grad=True)

    loss = loss_of(x, layers, case, 0)
    loss.backward()
    grads = [p.grad.detach().clone() for p in params]
    dx = x.grad.detach().clone()

    opt = torch.optim.Adam(params, lr=case["lr"], weight_decay=case["wd"])
    losses = [float(loss)]
    opt.step()
    after_one = [p.detach().clone() for p in params]
    for step in (1, 2):
        opt.zero_grad()
        loss = loss_of(x.detach(), layers, case, step)
        losses.append(float(loss))
        loss.backward()
        opt.step()
    return losses, grads, dx, after_one


def main():
    out_dir = pyg_gat.out_dir_argument(__doc__, "train")
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for case in build_cases():
        losses, grads, dx, after_one = run_case(case)
        cdir = pyg_gat.fresh_dir(os.path.join(out_dir, case["name"]))
        n = case["x"].shape[0]
        pyg_gat.write_edges(os.path.join(cdir, "edges.txt"), case["src"], case["dst"],
                            case["name"], n)
        np.save(os.path.join(cdir, "x.npy"), case["x"])
        np.save(os.path.join(cdir, "labels.npy"), case["labels"])
        np.save(os.path.join(cdir, "train.npy"), case["train"])
        with open(os.path.join(cdir, "hyper.txt"), "w", encoding="ascii", newline="\n") as fh:
            if case["projected"] > 0.0:
                fh.write("%r %r %r %d\n" % (case["lr"], case["wd"], case["projected"],
                                             case["mask_seed"]))
            else:
                fh.write("%r %r\n" % (case["lr"], case["wd"]))
        pyg.write_safetensors(os.path.join(cdir, "model.safetensors"), case["layers"], "elu")
        np.save(os.path.join(cdir, "loss.npy"), pyg_gat.f32(np.array(losses).reshape(3, 1)))
        pyg.write_safetensors(os.path.join(cdir, "grads.safetensors"),
                              as_float32_layers(case["layers"], grads), "elu")
        np.save(os.path.join(cdir, "dx.npy"), pyg_gat.f32(dx.numpy()))
        pyg.write_safetensors(os.path.join(cdir, "adam1.safetensors"),
                              as_float32_layers(case["layers"], after_one), "elu")
        names.append(case["name"])
        print("%-17s N=%d F=%d layers=%d train=%d losses %s" %
              (case["name"], n, case["x"].shape[1], len(case["layers"]), len(case["train"]),
               " ".join("%.6f" % v for v in losses)))
    pyg_gat.write_case_list(out_dir, names)
    print("wrote %s" % out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
