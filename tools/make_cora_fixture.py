#!/usr/bin/env python3
"""Rebuild the Cora dataset folder from tests/data/cora (no numpy needed).

The repository keeps Cora small: the edge list gzipped and the 0/1 bag-of-words
features as one line of non-zero column indices per node. This writes the
folder gat-train --data reads (edges.txt, features.npy as float32 [2708, 1433],
labels/train/val/test.npy as stored) and checks the rebuilt files against the
sha256 sums of the Planetoid export they came from, so a test never runs on a
silently different Cora.

    python3 tools/make_cora_fixture.py OUT_DIR
"""
import gzip
import hashlib
import os
import shutil
import struct
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "cora")
SHA256 = {
    "edges.txt": "607dfe2eb87efd6fe21e680981164e2f56a1aee1d3d8f167de86c3e5d89daf44",
    "features.npy": "661aad5fb47f2eeb3656963355d56796912c34558f29eb58f2bde960f1fc8e86",
    "labels.npy": "0efe1a4b4d5e9887da16e8103c198807160d407846e329a8b16b3b7acc278304",
    "train.npy": "6070f6fb2f1f1151a40b49d270368a3b3bf518d3c09b18ef4faf1c4dcd515b7b",
    "val.npy": "7aae9df250556c7d49380f56d7a8468b1a52d1c77daed933795ae305ec881efa",
    "test.npy": "75770f49be1b027b1be8f0ef2ad355468ced2be81e277f3aaee56b7da5772396",
}
COLUMNS = 1433


def write_features(path):
    with gzip.open(os.path.join(HERE, "features_rows.txt.gz"), "rt") as f:
        rows = [line.split() for line in f]
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), COLUMNS)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    zero, one = struct.pack("<f", 0.0), struct.pack("<f", 1.0)
    with open(path, "wb") as out:
        out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for number, row in enumerate(rows):
            values = [zero] * COLUMNS
            for column in row:
                c = int(column)
                if not 0 <= c < COLUMNS:
                    sys.exit(f"features_rows.txt.gz: line {number + 1}: column {c} out of range")
                values[c] = one
            out.write(b"".join(values))


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[-1].strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(HERE, "edges.txt.gz"), "rb") as src, \
            open(os.path.join(out, "edges.txt"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    write_features(os.path.join(out, "features.npy"))
    for name in ("labels", "train", "val", "test"):
        shutil.copyfile(os.path.join(HERE, name + ".npy"), os.path.join(out, name + ".npy"))
    for name, want in SHA256.items():
        with open(os.path.join(out, name), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != want:
            sys.exit(f"{os.path.join(out, name)}: sha256 {got}, expected {want}")


if __name__ == "__main__":
    main()
