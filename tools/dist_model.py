#!/usr/bin/env python3
"""Time per layer of a distributed forward at P ranks, modelled from the
partition tables gat-bench --partitions prints (docs/distributed.md).

    python3 tools/dist_model.py TABLE.txt --layer-ms 225 [--gbps 100]
        [--latency-us 1.5] [--speedup 1]

TABLE.txt is gat-bench --partitions output; --layer-ms the measured
single-process time of one layer on one rank's hardware (projection + edge
pass); --speedup how much faster one rank computes than that (a socket
against the measuring machine). Per P:
    compute = layer_ms / speedup * imbalance / P
    comm    = MB/layer_max / bandwidth + neighbours * latency
    layer   = compute + comm     (no credit for the overlap with interior rows)
"""
import argparse
import sys


def rows(path):
    header = None
    with open(path) as f:
        for line in f:
            words = line.split()
            if words[:2] == ["parts", "rows_max"]:
                header = words
            elif header and words and words[0].isdigit() and len(words) == len(header):
                yield dict(zip(header, (float(w) for w in words)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tables", nargs="+")
    p.add_argument("--layer-ms", type=float, required=True)
    p.add_argument("--gbps", type=float, default=100.0)
    p.add_argument("--latency-us", type=float, default=1.5)
    p.add_argument("--speedup", type=float, default=1.0)
    a = p.parse_args()
    bytes_per_ms = a.gbps / 8 * 1e6  # bytes per millisecond
    one = a.layer_ms / a.speedup
    print("%6s %11s %9s %9s %9s %8s %12s" % ("ranks", "compute_ms", "comm_ms", "layer_ms",
                                            "speedup", "comm_%", "rank_MB_max"))
    seen = {}
    for path in a.tables:
        for r in rows(path):
            seen[int(r["parts"])] = r
    for parts in sorted(seen):
        r = seen[parts]
        compute = one * r["imbalance"] / parts
        comm = r["MB/layer_max"] * 1e6 / bytes_per_ms + r["neigh"] * a.latency_us / 1e3
        layer = compute + comm
        print("%6d %11.2f %9.2f %9.2f %8.1fx %7.0f%% %12.0f" % (
            parts, compute, comm, layer, one / layer, 100 * comm / layer, r["rank_MB_max"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
