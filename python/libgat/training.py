"""libgat.fit: training with early stopping, as gat-train does it."""

import collections
import ctypes
import numbers

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

    options = _lib.TrainerOptions()
    L.gat_trainer_options_init(ctypes.byref(options))
    options.optimizer = _core._choice("optimizer", optimizer, _OPTIMIZERS)
    options.input_format = _core._choice("input", input, _INPUTS)
    try:
        options.learning_rate = float(hyper["lr"])
        options.weight_decay = float(hyper["weight_decay"])
        options.dropout = float(hyper["dropout"])
        options.attention_dropout = float(hyper["attention_dropout"])
        options.projected_dropout = float(hyper["projected_dropout"])
        options.beta1, options.beta2, options.eps = float(beta1), float(beta2), float(eps)
    except (TypeError, ValueError) as error:
        raise _core.invalid("a hyperparameter is not a number: %s" % error) from None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
            not 0 <= seed < 2 ** 64:
        raise _core.invalid("seed=%r: expected an int in [0, 2^64)" % (seed,))
    options.seed = int(seed)

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
    trainer = ctypes.c_void_p()
    context = model.context
    test = None
    with context.lock:
        if threads is not None:
            context.check(L.gat_context_set_threads(context.handle,
                                                    _core._threads_value(threads)))
        try:
            context.check(L.gat_trainer_create(
                context.handle, ctypes.byref(trainer), model._handle, graph._handle,
                x.ctypes.data, n, model.in_features, ctypes.byref(options)))
            status = L.gat_trainer_fit(
                context.handle, trainer, labels.ctypes.data, train_idx.ctypes.data,
                train_idx.shape[0], val_idx.ctypes.data, val_idx.shape[0],
                ctypes.byref(fit_options), ctypes.byref(result))
            if raised:
                raise raised[0]
            context.check(status)
            if test_idx is not None:
                metrics = _lib.Metrics()
                context.check(L.gat_trainer_evaluate(
                    context.handle, trainer, labels.ctypes.data, test_idx.ctypes.data,
                    test_idx.shape[0], ctypes.byref(metrics)))
                test = Metrics(metrics.loss, metrics.accuracy)
        finally:
            L.gat_trainer_destroy(ctypes.byref(trainer))
            if threads is not None:
                L.gat_context_set_threads(context.handle, context._default_threads)
    return FitResult(result.epochs, result.best_epoch,
                     Metrics(result.best_val.loss, result.best_val.accuracy),
                     bool(result.stopped_early), history, test)
