#!/usr/bin/python3
"""Writes pyg_2layer.safetensors with tools/export_pyg.py, from a state_dict
shaped like a two-layer PyG model (conv1 in PyG 2.5+ naming, conv2 in PyG
2.3-2.4 naming with lin_src/lin_dst, plus a non-GAT head that is ignored).

Values follow a formula that tests/test_safetensors.c recomputes, all exact
in float32: tensor t of layer l (t = 0 lin.weight, 1 att_src, 2 att_dst,
3 bias) holds element k = (((k + 1) * (2 * (4 * l + t) + 3)) % 29 - 14) / 8.

Run from anywhere: /usr/bin/python3 tests/data/safetensors/make_fixtures.py
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
import export_pyg  # noqa: E402


def values(layer, tensor, shape):
    seed = 4 * layer + tensor
    count = 1
    for d in shape:
        count *= d
    data = [(((k + 1) * (2 * seed + 3)) % 29 - 14) / 8.0 for k in range(count)]
    return torch.tensor(data, dtype=torch.float32).reshape(shape)


def main():
    lin2 = values(1, 0, [6, 12])
    state = {
        "conv1.lin.weight": values(0, 0, [12, 5]),
        "conv1.att_src": values(0, 1, [1, 3, 4]),
        "conv1.att_dst": values(0, 2, [1, 3, 4]),
        "conv1.bias": values(0, 3, [12]),
        "conv2.lin_src.weight": lin2,
        "conv2.lin_dst.weight": lin2,
        "conv2.att_src": values(1, 1, [1, 2, 3]),
        "conv2.att_dst": values(1, 2, [1, 2, 3]),
        "conv2.bias": values(1, 3, [3]),
        "head.weight": torch.ones(2, 3),
    }
    configs = [{}, {"concat": False, "negative_slope": 0.1, "add_self_loops": False}]
    export_pyg.export_state_dict(state, ["conv1.", "conv2."], configs,
                                 os.path.join(HERE, "pyg_2layer.safetensors"), "elu")


if __name__ == "__main__":
    main()
