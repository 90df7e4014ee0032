"""Errors, contexts and the conversion of arrays for the C calls."""

import ctypes
import os
import threading

import numpy as np

from . import _lib

L = _lib.lib


# ---------------------------------------------------------------------------
# Errors: one class per gat_status, each also a subclass of the built-in
# exception a Python caller would expect, so `except ValueError` still works.


class Error(Exception):
    """A libgat call failed. `status` is the gat_status (negative int),
    `message` the library's one-line message naming file and place."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidError(Error, ValueError, TypeError):
    """GAT_ERR_INVALID: a bad argument (NULL, wrong shape or dtype, bad option)."""
    status = -1


class NoMemoryError(Error, MemoryError):
    """GAT_ERR_NOMEM: an allocation failed."""
    status = -2


class IOError(Error, OSError):  # noqa: A001 - libgat.IOError, as the status is named
    """GAT_ERR_IO: a file could not be opened, read or written."""
    status = -3


class FormatError(Error, ValueError):
    """GAT_ERR_FORMAT: a file's content is malformed or truncated."""
    status = -4


class RangeError(Error, IndexError):
    """GAT_ERR_RANGE: a node id or index is out of range."""
    status = -5


class NonFiniteError(Error, ValueError):
    """GAT_ERR_NONFINITE: NaN or infinity where finite numbers are due."""
    status = -6


class UnsupportedError(Error, NotImplementedError):
    """GAT_ERR_UNSUPPORTED: well-formed but not supported."""
    status = -7


class OverflowError(Error, ArithmeticError):  # noqa: A001
    """GAT_ERR_OVERFLOW: a size does not fit in 64 bits or in memory."""
    status = -8


_BY_STATUS = {cls.status: cls for cls in (InvalidError, NoMemoryError, IOError, FormatError,
                                          RangeError, NonFiniteError, UnsupportedError,
                                          OverflowError)}


def error_for(status, message):
    """The exception for a status, carrying message (or the status's name)."""
    if not message:
        message = L.gat_status_str(status).decode("utf-8", "replace")
    cls = _BY_STATUS.get(status, Error)
    return cls(message, status)


def invalid(message):
    return InvalidError("libgat: " + message)


# ---------------------------------------------------------------------------
# Contexts


_PINS = {"none": 0, "compact": 1, "scatter": 2}
_GEMMS = {"auto": 0, "blas": 1, "builtin": 2}


def _choice(name, value, choices):
    if isinstance(value, str) and value.lower() in choices:
        return choices[value.lower()]
    raise invalid("%s=%r: expected one of %s" % (name, value, ", ".join(sorted(choices))))


def _default_threads():
    """threads=None: OMP_NUM_THREADS when set, else every CPU this process
    may run on. Not OpenMP's own default, because importing torch lowers
    that for the whole process (torch.set_num_threads shares the OpenMP
    runtime), which would make libgat's speed depend on an import."""
    if os.environ.get("OMP_NUM_THREADS"):
        return 0  # the C library's default, which reads it
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _threads_value(threads):
    if threads is None:
        return _default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise invalid("threads=%r: expected a positive int or None (OpenMP's default)"
                      % (threads,))
    return int(threads)


class Context:
    """A gat_context: threads, pinning, GEMM choice and the last message.

    Every Graph and Model makes its own unless given one. A context is used by
    one thread at a time (gat.h): each C call made with it holds its lock, so
    objects sharing a context take turns, and objects with their own run at
    the same time in different Python threads (the C calls release the
    interpreter lock)."""

    def __init__(self, threads=None, pin="none", gemm="auto"):
        """threads: None takes OMP_NUM_THREADS when set, else all the CPUs
        this process may use; pin: "none", "compact" or "scatter"; gemm:
        "auto", "blas" or "builtin" (gat.h's gat_context_options)."""
        options = _lib.ContextOptions()
        L.gat_context_options_init(ctypes.byref(options))
        options.num_threads = _threads_value(threads)
        options.pin = _choice("pin", pin, _PINS)
        options.gemm = _choice("gemm", gemm, _GEMMS)
        message = ctypes.create_string_buffer(512)
        options.message = ctypes.addressof(message)
        options.message_size = len(message)
        handle = ctypes.c_void_p()
        status = L.gat_context_create(ctypes.byref(handle), ctypes.byref(options))
        if status != 0:
            raise error_for(status, "libgat: cannot create a context: %s"
                            % message.value.decode("utf-8", "replace"))
        self._handle = handle
        self._default_threads = options.num_threads
        self.lock = threading.Lock()

    @property
    def handle(self):
        return self._handle

    @property
    def threads(self):
        """Threads parallel work uses (>= 1)."""
        with self.lock:
            return L.gat_context_threads(self._handle)

    @threads.setter
    def threads(self, value):
        value = _threads_value(value)
        with self.lock:
            self.check(L.gat_context_set_threads(self._handle, value))
            self._default_threads = value

    def topology(self):
        """hwloc's description of the machine and of how threads were bound."""
        with self.lock:
            return L.gat_context_topology(self._handle).decode("utf-8", "replace")

    def pin_report(self):
        with self.lock:
            return (L.gat_context_pin_report(self._handle) or b"").decode("utf-8", "replace")

    def trim(self):
        """Releases the scratch memory kept between forwards (allocated
        again by the next one)."""
        with self.lock:
            L.gat_context_trim(self._handle)

    def check(self, status):
        """Raises the Error of a failed call made with this context (called
        with the lock held, so the message is that call's)."""
        if status != 0:
            raise error_for(status, L.gat_context_message(self._handle).decode("utf-8",
                                                                                "replace"))

    def call(self, threads, function, *args):
        """function(ctx, *args) under the lock, with threads for this call
        only (None: the context's own setting)."""
        with self.lock:
            if threads is None:
                return self.check(function(self._handle, *args))
            value = _threads_value(threads)
            self.check(L.gat_context_set_threads(self._handle, value))
            try:
                return self.check(function(self._handle, *args))
            finally:
                L.gat_context_set_threads(self._handle, self._default_threads)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value and _lib is not None and L is not None:
            L.gat_context_destroy(ctypes.byref(handle))

    def __repr__(self):
        return "libgat.Context(threads=%d)" % self.threads


def context_for(context, threads, pin="none", gemm="auto"):
    if context is not None:
        if not isinstance(context, Context):
            raise invalid("context=%r: expected a libgat.Context" % (context,))
        return context
    return Context(threads=threads, pin=pin, gemm=gemm)


# ---------------------------------------------------------------------------
# Arrays: numpy arrays, torch tensors and anything numpy converts.


def _as_numpy(value, what):
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        # Without a copy when the tensor is on the CPU in a dtype numpy has:
        # Tensor.numpy() shares the memory (DLPack would too; this also
        # works for tensors that require grad, once detached).
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        try:
            return tensor.numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            return tensor.float().numpy()
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as error:  # noqa: BLE001 - numpy raises several kinds
        raise invalid("%s: cannot be read as an array (%s)" % (what, error)) from None


def float_matrix(value, what, rows=None, cols=None):
    """A C-contiguous float32 [rows, cols] view of value, copied only when
    its dtype or layout needs it. Floats of other widths are converted;
    integers, booleans and objects are refused (they are rarely meant as
    features, and a silent cast hides the mistake)."""
    array = _as_numpy(value, what)
    if array.dtype.kind != "f":
        raise invalid("%s: dtype %s, expected floating point (float32 is used as is, other "
                      "float widths are converted)" % (what, array.dtype))
    if array.ndim != 2:
        raise invalid("%s: %d dimensions (shape %s), expected 2: [nodes, features]"
                      % (what, array.ndim, list(array.shape)))
    if rows is not None and array.shape[0] != rows:
        raise invalid("%s: %d rows, expected %d (one per node)" % (what, array.shape[0], rows))
    if cols is not None and array.shape[1] != cols:
        raise invalid("%s: %d columns, expected %d" % (what, array.shape[1], cols))
    return np.ascontiguousarray(array, dtype=np.float32)


def int_vector(value, what, length=None, mask_length=None):
    """A C-contiguous int64 [n] copy-if-needed of value. A boolean vector of
    mask_length entries is taken as a mask (PyG's train_mask) and becomes
    the indices of its True entries."""
    array = _as_numpy(value, what)
    if array.ndim != 1:
        raise invalid("%s: %d dimensions (shape %s), expected 1"
                      % (what, array.ndim, list(array.shape)))
    if array.dtype.kind == "b":
        if mask_length is None:
            raise invalid("%s: booleans, expected integer ids" % what)
        if array.shape[0] != mask_length:
            raise invalid("%s: a mask of %d entries, expected %d (one per node)"
                          % (what, array.shape[0], mask_length))
        return np.flatnonzero(array).astype(np.int64)
    if array.dtype.kind not in "iu":
        raise invalid("%s: dtype %s, expected integers" % (what, array.dtype))
    if length is not None and array.shape[0] != length:
        raise invalid("%s: %d entries, expected %d" % (what, array.shape[0], length))
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise invalid("%s: an id beyond int64" % what)
    return np.ascontiguousarray(array, dtype=np.int64)


def aligned_empty(shape, dtype=np.float32, alignment=64):
    """np.empty whose data starts on a 64-byte boundary (the forward writes
    such an output with streaming stores on large graphs)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def address(array):
    """The data address of a C-contiguous array (None for an empty one is
    not needed: the library takes any pointer with a zero count)."""
    return array.ctypes.data


def fspath(path, what="path"):
    try:
        path = os.fspath(path)
    except TypeError:
        raise invalid("%s=%r: expected a str or os.PathLike" % (what, path)) from None
    if isinstance(path, str):
        path = path.encode()
    if b"\0" in path:
        raise invalid("%s: contains a NUL byte" % what)
    return path
