#!/usr/bin/python3
"""A PyG-style torch GATConv and libgat on the same graph, in one Python
process: the same parameters, the same input, interleaved timings, medians,
and how far the outputs are apart.

    PYTHONPATH=python LIBGAT_LIBRARY=build/src/libgat.so \\
        /usr/bin/python3 benchmarks/python_side_by_side.py [--nodes 100000]
        [--edges 1000000] [--in 128] [--heads 8] [--channels 8] [--threads 2]
        [--reps 10] [--cora DIR]

The torch side is compare_peer.py's peer (PyG's GATConv computed in plain
torch: projection, scores, gather, scatter softmax, index_add) over the
edges with one self-loop per node added, as PyG's add_self_loops does; the
libgat side is libgat.torch.GATConv (the drop-in module, tensors in and out)
and Model.__call__ (NumPy in and out). Both use `--threads` threads. With
--cora DIR the graph and features are Cora's. PyTorch here is Debian's build
in this process, not compare_peer.py's tuned child (OpenBLAS, jemalloc), so
its times are the ones a plain script sees.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch

import libgat
from libgat.torch import GATConv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_peer import peer_layer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100000)
    parser.add_argument("--edges", type=int, default=1000000)
    parser.add_argument("--in", dest="in_features", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--cora", help="Cora's folder: its graph and features instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message="scatter_reduce")  # torch 1.13: "in beta"

    if args.cora:
        x = libgat.normalize_features(np.load(os.path.join(args.cora, "features.npy")))
        graph = libgat.Graph.load(os.path.join(args.cora, "edges.txt"), num_nodes=x.shape[0])
        name = "Cora"
    else:
        graph = libgat.Graph.generate(args.nodes, args.edges, seed=1, threads=args.threads)
        x = np.random.default_rng(1).standard_normal((args.nodes, args.in_features),
                                                    dtype=np.float32)
        name = "R-MAT"
    n, f = x.shape
    edge_index = torch.from_numpy(graph.edges())
    # PyG's add_self_loops: existing loops removed, one per node appended.
    with_loops = torch.from_numpy(graph.edges(add_self_loops=True))
    src, dst = with_loops[0].contiguous(), with_loops[1].contiguous()
    xt = torch.from_numpy(x)

    conv = GATConv(f, args.channels, heads=args.heads, threads=args.threads).eval()
    model = libgat.Model.from_pyg([conv], threads=args.threads)
    params = [conv.lin.weight, conv.att_src, conv.att_dst, conv.bias]

    runs = {
        "torch (PyG's GATConv in plain torch)": lambda: peer_layer(xt, *params, src, dst),
        "libgat.torch.GATConv": lambda: conv(xt, edge_index),
        "libgat Model(x, graph)": lambda: model(x, graph),
    }
    outputs = {}
    times = {key: [] for key in runs}
    with torch.no_grad():
        for key, run in runs.items():  # warm, and keep one output of each
            outputs[key] = np.asarray(run())
        for rep in range(args.reps):
            for key in (list(runs) if rep % 2 == 0 else list(reversed(runs))):
                start = time.perf_counter()
                runs[key]()
                times[key].append(time.perf_counter() - start)

    reference = outputs["torch (PyG's GATConv in plain torch)"]
    torch_median = statistics.median(times["torch (PyG's GATConv in plain torch)"])
    print("%s: %d nodes, %d edges (+ a self-loop per node), %d -> %d x %d; %d thread(s), "
          "%d interleaved reps; load average %.1f"
          % (name, n, graph.num_edges, f, args.heads, args.channels, args.threads, args.reps,
             os.getloadavg()[0]))
    print("  %-38s %10s %10s %9s %14s" % ("", "median", "min", "speed-up", "max |diff|"))
    for key, values in times.items():
        median = statistics.median(values)
        diff = float(np.abs(outputs[key] - reference).max())
        print("  %-38s %7.2f ms %7.2f ms %8.1fx %14.3g"
              % (key, 1e3 * median, 1e3 * min(values), torch_median / median, diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
