"""libgat.fit: training with early stopping, as gat-train does it."""

import collections
import ctypes
import numbers

import numpy as np

from . import _core, _lib
from .model import Metrics, Model

L = _lib.lib

EpochReport = collections.namedtuple(
    "EpochReport", "epoch train val seconds saved patience_left")
EpochReport.__doc__ = """One epoch of fit: epoch (1-based), train (Metrics of the
epoch's training forward, dropout on), val (Metrics after the update,
dropout off), seconds (wall time), saved (these parameters became the kept
ones), patience_left."""

FitResult = collections.namedtuple(
    "FitResult", "epochs best_epoch best_val stopped_early history test")
FitResult.__doc__ = """What fit returns: epochs run, best_epoch (whose
parameters the model holds now), best_val (its validation Metrics),
stopped_early (patience ran out), history (the EpochReports), test (Metrics
on test_idx through the trainer, as gat-train's last line, or None)."""

_OPTIMIZERS = {"adam": 0, "sgd": 1}
_INPUTS = {"auto": 0, "dense": 1, "sparse": 2}

# gat-train's defaults (its --preset cora): the paper's Cora settings.
PRESETS = {
    "cora": dict(lr=0.005, weight_decay=5e-4, dropout=0.6, attention_dropout=0.6,
                 projected_dropout=0.6, patience=100),
    "citeseer": dict(lr=0.005, weight_decay=5e-4, dropout=0.6, attention_dropout=0.6,
                     projected_dropout=0.6, patience=100),
    "pubmed": dict(lr=0.01, weight_decay=1e-3, dropout=0.6, attention_dropout=0.6,
                   projected_dropout=0.6, patience=100),
}


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _core.invalid("%s=%r: expected an int >= %d" % (name, value, minimum))
    return int(value)


def _trainer_options(optimizer, lr, weight_decay, beta1, beta2, eps, dropout,
                     attention_dropout, projected_dropout, seed, input):
    """gat_trainer_options from Python values (the library checks ranges)."""
    options = _lib.TrainerOptions()
    L.gat_trainer_options_init(ctypes.byref(options))
    options.optimizer = _core._choice("optimizer", optimizer, _OPTIMIZERS)
    options.input_format = _core._choice("input", input, _INPUTS)
    try:
        options.learning_rate = float(lr)
        options.weight_decay = float(weight_decay)
        options.dropout = float(dropout)
        options.attention_dropout = float(attention_dropout)
        options.projected_dropout = float(projected_dropout)
        options.beta1, options.beta2, options.eps = float(beta1), float(beta2), float(eps)
    except (TypeError, ValueError) as error:
        raise _core.invalid("a hyperparameter is not a number: %s" % error) from None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
            not 0 <= seed < 2 ** 64:
        raise _core.invalid("seed=%r: expected an int in [0, 2^64)" % (seed,))
    options.seed = int(seed)
    return options


class Trainer:
    """The training state of one model, input and graph (gat_trainer), for
    training loops of your own: step() is one optimizer step on the
    classification loss; forward(training=True), backward(d_out) and
    update() make a step of any loss whose gradient you compute.

    Options as fit's, but with the library's defaults (no dropout, lr 0.005,
    no weight decay, seed 0). The model's parameters change in place; the
    trainer holds the model's context (and its lock) per call, and x and
    graph for its life. Use it as a context manager, or close() it, to
    release its memory at once."""

    def __init__(self, model, x, graph, *, optimizer="adam", lr=0.005, weight_decay=0.0,
                 beta1=0.9, beta2=0.999, eps=1e-8, dropout=0.0, attention_dropout=0.0,
                 projected_dropout=0.0, seed=0, input="auto"):
        if not isinstance(model, Model):
            raise _core.invalid("model: expected a libgat.Model, got %s" % type(model).__name__)
        self._handle = ctypes.c_void_p()
        x, graph, n = model._inputs(x, graph)
        options = _trainer_options(optimizer, lr, weight_decay, beta1, beta2, eps, dropout,
                                   attention_dropout, projected_dropout, seed, input)
        self.model, self._x, self.graph, self.num_nodes = model, x, graph, n
        self._context = model.context
        self._context.call(None, L.gat_trainer_create, ctypes.byref(self._handle),
                           model._handle, graph._handle, x.ctypes.data, n, model.in_features,
                           ctypes.byref(options))

    def _indexed(self, labels, index):
        return (_core.int_vector(labels, "labels", length=self.num_nodes),
                _core.int_vector(index, "index", mask_length=self.num_nodes))

    @property
    def steps(self):
        """Updates made so far."""
        return L.gat_trainer_steps(self._live())

    @property
    def sparse_input(self):
        """Whether layer 0's input is held sparse (input="auto" decides)."""
        return bool(L.gat_trainer_sparse_input(self._live()))

    def step(self, labels, index, threads=None):
        """One step on the nodes index (ids or a mask): forward with dropout,
        mean NLL of log_softmax, backward, weight decay, update. Returns the
        Metrics of that forward (parameters before the update)."""
        labels, index = self._indexed(labels, index)
        metrics = _lib.Metrics()
        self._context.call(threads, L.gat_trainer_step, self._live(), labels.ctypes.data,
                           index.ctypes.data, index.shape[0], ctypes.byref(metrics))
        return Metrics(metrics.loss, metrics.accuracy)

    def evaluate(self, labels, index, threads=None):
        """Metrics over index, dropout off, through the trainer's input."""
        labels, index = self._indexed(labels, index)
        metrics = _lib.Metrics()
        self._context.call(threads, L.gat_trainer_evaluate, self._live(), labels.ctypes.data,
                           index.ctypes.data, index.shape[0], ctypes.byref(metrics))
        return Metrics(metrics.loss, metrics.accuracy)

    def forward(self, training=True, threads=None):
        """The output [N, out_features]; training=True applies dropout and
        keeps what backward needs."""
        out = _core.aligned_empty((self.num_nodes, self.model.out_features))
        self._context.call(threads, L.gat_trainer_forward, self._live(), bool(training),
                           out.ctypes.data)
        return out

    def backward(self, d_out, input_gradient=False, threads=None):
        """Gradients of sum(out * d_out) for the last training forward, kept
        in the trainer (gradients()); returns d_x [N, in_features] when
        input_gradient, else None."""
        d_out = _core.float_matrix(d_out, "d_out", rows=self.num_nodes,
                                   cols=self.model.out_features)
        d_x = np.empty((self.num_nodes, self.model.in_features), dtype=np.float32) \
            if input_gradient else None
        self._context.call(threads, L.gat_trainer_backward, self._live(), d_out.ctypes.data,
                           None if d_x is None else d_x.ctypes.data)
        return d_x

    def gradients(self):
        """{name: writable float32 view} of the last backward's parameter
        gradients, named and shaped as Model.parameters() (e.g. to clip)."""
        return self.model._views(lambda i, params: L.gat_trainer_gradients(
            self._live(), i, ctypes.byref(params)), keep=self)

    def update(self, threads=None):
        """Weight decay and one optimizer step with the current gradients."""
        self._context.call(threads, L.gat_trainer_update, self._live())

    def _live(self):
        if not self._handle.value:
            raise _core.invalid("the trainer is closed")
        return self._handle

    def close(self):
        if getattr(self, "_handle", None) is not None and self._handle.value:
            with self._context.lock:
                L.gat_trainer_destroy(ctypes.byref(self._handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value and L is not None:
            L.gat_trainer_destroy(ctypes.byref(handle))


def fit(model, x, graph, labels, train_idx, val_idx, *, test_idx=None, preset="cora",
        lr=None, weight_decay=None, dropout=None, attention_dropout=None,
        projected_dropout=None, patience=None, epochs=1000, optimizer="adam", beta1=0.9,
        beta2=0.999, eps=1e-8, seed=0, input="auto", on_epoch=None, threads=None):
    """Trains model in place on x [N, F] over graph, to early stop, as
    gat-train (gat_trainer_fit): after each epoch's step on train_idx the
    validation loss and accuracy on val_idx are measured; when both match
    or beat their best the parameters are kept; training stops after
    `patience` epochs without either improving (0: never) or after
    `epochs`. At the end the model holds the kept parameters.

    labels: int class ids [N]; train_idx, val_idx, test_idx: node ids or
    boolean masks over the nodes. Hyperparameters default to gat-train's
    for preset ("cora", "citeseer", "pubmed"); any given one overrides it.
    The seed keys the dropout masks (initialise with Model.init(seed=...)).
    on_epoch(report) is called after every epoch with an EpochReport;
    returning False stops training. Exceptions it raises stop training and
    are raised again here. The interpreter lock is released between the
    callbacks. Returns a FitResult (its history lists every report)."""
    if not isinstance(model, Model):
        raise _core.invalid("model: expected a libgat.Model, got %s" % type(model).__name__)
    if preset not in PRESETS:
        raise _core.invalid("preset=%r: expected one of %s" % (preset, ", ".join(PRESETS)))
    hyper = dict(PRESETS[preset])
    for key, value in (("lr", lr), ("weight_decay", weight_decay), ("dropout", dropout),
                       ("attention_dropout", attention_dropout),
                       ("projected_dropout", projected_dropout), ("patience", patience)):
        if value is not None:
            hyper[key] = value
    if on_epoch is not None and not callable(on_epoch):
        raise _core.invalid("on_epoch: expected a callable or None")
    x, graph, n = model._inputs(x, graph)
    labels = _core.int_vector(labels, "labels", length=n)
    train_idx = _core.int_vector(train_idx, "train_idx", mask_length=n)
    val_idx = _core.int_vector(val_idx, "val_idx", mask_length=n)
    if test_idx is not None:
        test_idx = _core.int_vector(test_idx, "test_idx", mask_length=n)
    trainer_options = dict(optimizer=optimizer, lr=hyper["lr"],
                           weight_decay=hyper["weight_decay"], beta1=beta1, beta2=beta2,
                           eps=eps, dropout=hyper["dropout"],
                           attention_dropout=hyper["attention_dropout"],
                           projected_dropout=hyper["projected_dropout"], seed=seed, input=input)

    fit_options = _lib.FitOptions()
    L.gat_fit_options_init(ctypes.byref(fit_options))
    fit_options.max_epochs = _count("epochs", epochs, 0)
    fit_options.patience = _count("patience", hyper["patience"], 0)
    history = []
    raised = []

    def report(pointer, _user):
        r = pointer.contents
        item = EpochReport(r.epoch, Metrics(r.train.loss, r.train.accuracy),
                           Metrics(r.val.loss, r.val.accuracy), r.seconds, bool(r.saved),
                           r.patience_left)
        history.append(item)
        if on_epoch is None:
            return True
        try:
            return on_epoch(item) is not False
        except BaseException as error:  # noqa: BLE001 - re-raised after the C call
            raised.append(error)
            return False

    callback = _lib.ON_EPOCH(report)  # referenced until the call returns
    fit_options.on_epoch = callback
    result = _lib.FitResult()
    test = None
    with Trainer(model, x, graph, **trainer_options) as trainer:
        context = model.context
        with context.lock:
            if threads is not None:
                context.check(L.gat_context_set_threads(context.handle,
                                                        _core._threads_value(threads)))
            try:
                status = L.gat_trainer_fit(
                    context.handle, trainer._handle, labels.ctypes.data, train_idx.ctypes.data,
                    train_idx.shape[0], val_idx.ctypes.data, val_idx.shape[0],
                    ctypes.byref(fit_options), ctypes.byref(result))
                if raised:
                    raise raised[0]
                context.check(status)
            finally:
                if threads is not None:
                    L.gat_context_set_threads(context.handle, context._default_threads)
        if test_idx is not None:
            test = trainer.evaluate(labels, test_idx, threads=threads)
    return FitResult(result.epochs, result.best_epoch,
                     Metrics(result.best_val.loss, result.best_val.accuracy),
                     bool(result.stopped_early), history, test)
