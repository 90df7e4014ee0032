#!/usr/bin/env python3
"""Writes the .npy fixtures of tests/test_npy.c into tests/data/npy/.

Each is a few hundred bytes, written by NumPy itself so that the reader is
tested against the real format (byte orders, versions, dtypes, Fortran
order) and the writers against np.save's exact bytes. The values are
restated in tests/test_npy.c; change both together.

Usage: python3 tools/make_npy_fixtures.py [output_dir]
"""
import os
import sys

import numpy as np
from numpy.lib import format as npformat

# x[i, j] = i - j / 4: exact in float32 and float64.
def ramp(rows, cols, dtype):
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return (i - j / 4).astype(dtype)


FIXTURES = {
    # float64, C order: converted to float32 (0.1 rounds; 1e38 still fits).
    "f8_c.npy": (np.array([[0.1, -2.5, 1e38], [-0.0, 1e-40, 7.0]], dtype="<f8"), None),
    # big-endian float32 and float64
    "f4_be.npy": (ramp(3, 4, ">f4"), None),
    "f8_be.npy": (ramp(2, 2, ">f8"), None),
    # format 2.0 (4-byte header length) and 3.0 (utf8 header)
    "v2_f4.npy": (ramp(2, 3, "<f4"), (2, 0)),
    "v3_i8.npy": (np.array([5, -6, 7, 1 << 40], dtype="<i8"), (3, 0)),
    # int32 and big-endian int64, 1-D
    "i4_1d.npy": (np.array([0, -1, 2147483647, -2147483648, 42], dtype="<i4"), None),
    "i8_be.npy": (np.array([1, -2, (1 << 62) + 3], dtype=">i8"), None),
    # Fortran order: rejected
    "fortran_f4.npy": (np.asfortranarray(ramp(3, 2, "<f4")), None),
    # np.save's own output, compared byte for byte with our writers'
    "numpy_f32_2x3.npy": (ramp(2, 3, "<f4"), None),
    "numpy_f32_5.npy": (np.array([1.5, -2.0, 0.0, 3.25, 1e-3], dtype="<f4"), None),
    "numpy_i64_4.npy": (np.array([3, -1, 0, 1 << 50], dtype="<i8"), None),
    "numpy_f32_0x7.npy": (np.zeros((0, 7), dtype="<f4"), None),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data", "npy")
    out = os.path.normpath(out)
    os.makedirs(out, exist_ok=True)
    for name, (array, version) in FIXTURES.items():
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            if version is None:
                np.save(f, array)
            else:
                npformat.write_array(f, array, version=version)
        size = os.path.getsize(path)
        assert size < 4096, (name, size)
        print(f"{path}: {array.dtype.str} {array.shape} {size} bytes")


if __name__ == "__main__":
    main()
