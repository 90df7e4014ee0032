"""Writes the .npy fixtures of the MPI tests in plain Python (no numpy)."""
import struct


def _write(path, descr, shape, fmt, values):
    dims = '(%d,)' % shape[0] if len(shape) == 1 else '(%s)' % ', '.join(map(str, shape))
    head = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
    head += ' ' * (63 - (10 + len(head)) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(head)) + head.encode())
        f.write(struct.pack('<%d%s' % (len(values), fmt), *values))


def npy(path, rows, cols, values):
    """float32 [rows, cols]"""
    _write(path, '<f4', (rows, cols), 'f', values)


def npy_i64(path, values):
    """int64 [len(values)]"""
    _write(path, '<i8', (len(values),), 'q', values)
