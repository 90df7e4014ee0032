#!/usr/bin/python3
"""Export a stack of PyTorch Geometric GATConv / GATv2Conv layers to libgat's safetensors.

The file holds, for layer i = 0, 1, ..., PyG's own parameter names under
"layers.{i}." (docs/formats.md):
    GATConv    lin.weight (or lin_src.weight + lin_dst.weight for a tuple
               in_channels), att_src, att_dst [1, H, C], with edge_dim
               lin_edge.weight [H*C, D] and att_edge [1, H, C]
    GATv2Conv  lin_l.weight, lin_l.bias, lin_r.weight, lin_r.bias (absent
               with share_weights), att [1, H, C], with edge_dim
               lin_edge.weight [H*C, D]
    both       res.weight [W, F_dst] (residual=True), bias [W]
and string metadata layers.{i}.type ("gatv2"; "gat" is the default),
layers.{i}.concat, layers.{i}.negative_slope, layers.{i}.add_self_loops,
layers.{i}.fill_value (with edge features), layers.{i}.share_weights (GATv2)
and activation (applied between layers). gat_model_load() in libgat reads it.

Only json, struct and torch are used: neither the safetensors package nor
torch_geometric is needed to export (a whole pickled PyG model does need
torch_geometric to unpickle, which torch.load imports on demand).

Usage:
    export_pyg.py MODEL.pt OUT.safetensors [--prefix conv1. --prefix conv2.]
                  [--activation elu] [--concat true,false]
                  [--negative-slope 0.2,0.2] [--add-self-loops true,true]
                  [--fill-value mean,max]
    export_pyg.py --to-pyg MODEL.safetensors OUT.pt [--prefix conv1 ...]
    export_pyg.py --selftest

A module carries its own options (concat, heads, negative_slope,
add_self_loops, fill_value, share_weights, bias); a state_dict does not, so
pass them per layer where PyG's defaults do not hold (share_weights is seen
from lin_r equal to lin_l). What cannot be exported exactly (a bias inside
lin/lin_edge/res, a tensor fill_value, a state_dict whose concat cannot be
told from its shapes) is refused with a one-line error, exit 1.
Installed by `meson install` as gat-export-pyg.
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile

import torch

ACTIVATIONS = ("elu", "relu", "none")
# Parameters a layer may carry that libgat cannot run: refusing them beats
# silently computing something else.
_UNSUPPORTED = {
    "lin.bias": "a bias inside GATConv's linear projection",
    "lin_src.bias": "a bias inside GATConv's linear projection",
    "lin_dst.bias": "a bias inside GATConv's linear projection",
    "lin_edge.bias": "a bias inside lin_edge",
    "res.bias": "a bias inside the residual projection",
}
_KNOWN = {
    "gat": ("lin.weight", "lin_src.weight", "lin_dst.weight", "att_src", "att_dst",
            "lin_edge.weight", "att_edge", "res.weight", "bias"),
    "gatv2": ("lin_l.weight", "lin_l.bias", "lin_r.weight", "lin_r.bias", "att",
              "lin_edge.weight", "res.weight", "bias"),
}
_FILLS = ("mean", "add", "max", "min", "mul")


def _f32(tensor):
    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _f32_bytes(tensor):
    values = _f32(tensor).reshape(-1).tolist()
    return struct.pack("<%df" % len(values), *values)


def _format_float(value):
    """The shortest decimal (6 to 9 digits) that reads back as the same
    float32, the precision libgat keeps the slope in."""
    single = struct.pack("<f", float(value))
    for digits in range(6, 10):
        text = "%.*g" % (digits, struct.unpack("<f", single)[0])
        if struct.pack("<f", float(text)) == single:
            return text
    return text


def _bool_text(value):
    return "true" if value else "false"


def _layer_type(own):
    return "gatv2" if any(k in own for k in ("att", "lin_l.weight", "lin_r.weight")) else "gat"


def _as_att(where, name, tensor, shape=None):
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 3 or tensor.shape[0] != 1 or (shape and list(tensor.shape) != shape):
        raise ValueError("%s.%s: shape %s, expected %s" % (
            where, name, list(tensor.shape), shape or "[1, heads, channels]"))
    return tensor


def _fill_text(where, fill):
    if isinstance(fill, str):
        if fill not in _FILLS:
            raise ValueError("%s: fill_value %r: expected one of %s or a number"
                             % (where, fill, ", ".join(_FILLS)))
        return fill
    if isinstance(fill, torch.Tensor):
        if fill.numel() != 1:
            raise ValueError("%s: a tensor fill_value is not supported" % where)
        fill = float(fill)
    if not math.isfinite(float(fill)):
        raise ValueError("%s: fill_value %r is not finite" % (where, fill))
    return _format_float(fill)


def _layer_tensors(index, own, config, where):
    """One layer's parameters own ({PyG name: tensor}) checked against each
    other: (the (name, tensor) pairs to write, output width, metadata)."""
    for key in own:
        if key in _UNSUPPORTED:
            raise ValueError("%s.%s: %s is not supported" % (where, key, _UNSUPPORTED[key]))
    kind = config.get("type") or _layer_type(own)
    if kind not in _KNOWN:
        raise ValueError("%s: type %r: expected gat or gatv2" % (where, kind))
    for key in own:
        if key not in _KNOWN[kind]:
            raise ValueError("%s.%s: unknown %s parameter" % (
                where, key, "GATConv" if kind == "gat" else "GATv2Conv"))
    own = dict(own)
    share = False
    if kind == "gat":
        if "lin.weight" in own and "lin_src.weight" in own:
            raise ValueError("%s: both lin.weight and lin_src.weight" % where)
        # PyG 2.3-2.4 register one Linear as lin_src and lin_dst: two equal copies.
        if "lin_src.weight" in own and "lin_dst.weight" in own and \
                torch.equal(own["lin_src.weight"], own["lin_dst.weight"]):
            own["lin.weight"] = own.pop("lin_src.weight")
            del own["lin_dst.weight"]
        if "lin_src.weight" in own and "lin_dst.weight" not in own:
            own["lin.weight"] = own.pop("lin_src.weight")
        weight = own.get("lin.weight", own.get("lin_src.weight"))
        if weight is None:
            raise ValueError("%s: no lin.weight or lin_src.weight" % where)
        for key in ("att_src", "att_dst"):
            if key not in own:
                raise ValueError("%s: no %s" % (where, key))
        att = own["att_src"] = _as_att(where, "att_src", own["att_src"])
        dst = own.get("lin_dst.weight")
    else:
        weight = own.get("lin_l.weight")
        if weight is None or "att" not in own:
            raise ValueError("%s: a GATv2 layer needs lin_l.weight and att" % where)
        att = own["att"] = _as_att(where, "att", own["att"])
        # share_weights: PyG's state_dict lists the one Linear twice.
        if "lin_r.weight" in own and torch.equal(own["lin_r.weight"], weight) and \
                ("lin_r.bias" in own) == ("lin_l.bias" in own) and \
                ("lin_r.bias" not in own or torch.equal(own["lin_r.bias"], own["lin_l.bias"])):
            del own["lin_r.weight"]
            own.pop("lin_r.bias", None)
        share = "lin_r.weight" not in own
        dst = own.get("lin_r.weight")
    heads, channels = int(att.shape[1]), int(att.shape[2])
    hc = heads * channels
    bias = own.get("bias")
    concat = config.get("concat")
    if concat is None:
        res = own.get("res.weight")
        if res is not None and res.dim() == 2 and res.shape[0] in (hc, channels) and \
                hc != channels:
            concat = res.shape[0] == hc
        else:
            concat = _concat_from_shapes(where, att, bias)
    width = hc if concat else channels
    if weight.dim() != 2 or weight.shape[0] != hc:
        raise ValueError("%s: projection weight shape %s, expected [%d, in_features]"
                         % (where, list(weight.shape), hc))
    f_dst = int(dst.shape[1]) if dst is not None and dst.dim() == 2 else int(weight.shape[1])
    want = {"lin_dst.weight": [hc, f_dst], "lin_r.weight": [hc, f_dst], "lin_l.bias": [hc],
            "lin_r.bias": [hc], "bias": [width], "res.weight": [width, f_dst]}
    if kind == "gat":
        own["att_dst"] = _as_att(where, "att_dst", own["att_dst"], [1, heads, channels])
        if ("lin_edge.weight" in own) != ("att_edge" in own):
            raise ValueError("%s: GATConv's edge features need both lin_edge.weight and "
                             "att_edge" % where)
        if "att_edge" in own:
            own["att_edge"] = _as_att(where, "att_edge", own["att_edge"], [1, heads, channels])
    edge = own.get("lin_edge.weight")
    if edge is not None and (edge.dim() != 2 or edge.shape[0] != hc):
        raise ValueError("%s.lin_edge.weight: shape %s, expected [%d, edge_dim]"
                         % (where, list(edge.shape), hc))
    for key, shape in want.items():
        if key in own and list(own[key].shape) != shape:
            raise ValueError("%s.%s: shape %s, expected %s (concat=%s)"
                             % (where, key, list(own[key].shape), shape, concat))
    name = "layers.%d." % index
    tensors = [(name + key, own[key]) for key in _KNOWN[kind] if key in own]
    for tensor_name, tensor in tensors:
        if not torch.isfinite(_f32(tensor)).all():
            raise ValueError("%s: NaN or infinity" % tensor_name)
    meta = {name + "concat": _bool_text(concat),
            name + "negative_slope": _format_float(config.get("negative_slope", 0.2)),
            name + "add_self_loops": _bool_text(config.get("add_self_loops", True))}
    if kind == "gatv2":
        meta[name + "type"] = "gatv2"
        meta[name + "share_weights"] = _bool_text(share)
    if edge is not None:
        meta[name + "fill_value"] = _fill_text(where, config.get("fill_value", "mean"))
    return tensors, width, int(weight.shape[1]), meta


def write_safetensors(path, tensors, metadata):
    """Writes (name, tensor) pairs as F32 with string metadata. The file
    appears complete or not at all (temporary name, then rename)."""
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors:
        blob = _f32_bytes(tensor)
        header[name] = {"dtype": "F32", "shape": [int(d) for d in tensor.shape],
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    # Spaces to a multiple of 8, as the reference writer pads, so the data
    # starts aligned.
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=directory)
    try:
        # mkstemp makes the file private; give it the mode open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as out:
            out.write(struct.pack("<Q", len(text)))
            out.write(text)
            for blob in blobs:
                out.write(blob)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def read_safetensors(path):
    """Reads a file of F32 tensors: ({name: torch tensor}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise ValueError("%s: dtype %s, expected F32" % (name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        count = (end - begin) // 4
        values = struct.unpack("<%df" % count, data[begin:end])
        tensors[name] = torch.tensor(values, dtype=torch.float32).reshape(entry["shape"])
    return tensors, metadata


def _is_conv(module):
    return isinstance(getattr(module, "att_src", None), torch.Tensor) or (
        isinstance(getattr(module, "att", None), torch.Tensor) and
        getattr(module, "lin_l", None) is not None)


def _write_layers(layers, path, activation):
    """layers: (where, own, config) per layer; checks the widths chain."""
    if activation not in ACTIVATIONS:
        raise ValueError("activation %r: expected one of %s" % (activation, ACTIVATIONS))
    tensors = []
    metadata = {"activation": activation, "format": "pt"}
    width = None
    for i, (where, own, config) in enumerate(layers):
        layer, out_width, in_width, meta = _layer_tensors(i, own, config, where)
        if width is not None and in_width != width:
            raise ValueError("%s: in_features %d but the previous layer outputs %d"
                             % (where, in_width, width))
        width = out_width
        tensors += layer
        metadata.update(meta)
    if not tensors:
        raise ValueError("no layers to export")
    write_safetensors(path, tensors, metadata)


def export_gat_stack(convs, path, activation="elu"):
    """Exports GATConv / GATv2Conv-like modules (their parameters under
    PyG's names and the attributes concat, negative_slope, add_self_loops,
    fill_value), layer i being convs[i], to a safetensors file at path."""
    layers = []
    for i, conv in enumerate(convs):
        where = "layer %d (%s)" % (i, type(conv).__name__)
        if not _is_conv(conv):
            raise ValueError("%s: no att_src/att_dst or lin_l/att: not a GATConv or GATv2Conv"
                             % where)
        if not hasattr(conv, "concat"):
            raise ValueError("%s: no 'concat' attribute: cannot tell concatenated from "
                             "averaged heads" % where)
        # named_parameters lists a shared Linear once (lin_r is lin_l).
        own = {name: p for name, p in conv.named_parameters() if p is not None}
        heads = getattr(conv, "heads", None)
        att = own.get("att_src", own.get("att"))
        if heads is not None and att is not None and int(heads) != int(att.shape[-2]):
            raise ValueError("%s: heads = %d but the attention vector has shape %s"
                             % (where, int(heads), list(att.shape)))
        config = {"concat": bool(conv.concat),
                  "negative_slope": getattr(conv, "negative_slope", 0.2),
                  "add_self_loops": getattr(conv, "add_self_loops", True),
                  "fill_value": getattr(conv, "fill_value", "mean"),
                  "type": "gatv2" if "att" in own else "gat"}
        layers.append((where, own, config))
    _write_layers(layers, path, activation)


def _concat_from_shapes(prefix, att_src, bias):
    """Whether a state_dict layer concatenates its heads, as far as its
    shapes tell: a bias of H*C (concat) or C (mean) entries does; with one
    head both mean the same; otherwise it cannot be told, and guessing
    would export a model of another output width."""
    heads_channels = att_src.numel()
    channels = att_src.shape[-1]
    if heads_channels == channels:
        return True
    if bias is not None and bias.numel() in (heads_channels, channels):
        return bias.numel() == heads_channels
    raise ValueError("%s: a state_dict does not say whether the %d heads are concatenated or "
                     "averaged (no bias to tell by): pass --concat (or config 'concat')"
                     % (prefix, heads_channels // channels))


def find_prefixes(state_dict):
    """Prefixes of GATConv / GATv2Conv layers in state_dict order ("conv1.",
    ...): every key ending in "att_src" (GATConv) or "att" beside a
    "lin_l.weight" (GATv2Conv) marks one."""
    out = []
    for key in state_dict:
        for tail in ("att_src", "att"):
            if key == tail or key.endswith("." + tail):
                prefix = key[:-len(tail)]
                if tail == "att_src" or prefix + "lin_l.weight" in state_dict:
                    out.append(prefix)
    return out


def export_state_dict(state_dict, layer_prefixes, configs, path, activation="elu"):
    """Exports the layers found under layer_prefixes (e.g. "conv1.",
    "conv2.") of a raw state_dict; prefix k becomes layers.k. configs[k] is a
    dict with optional concat, negative_slope, add_self_loops, fill_value
    (a state_dict does not record them: PyG's defaults apply, and concat is
    inferred from the shapes when that is unambiguous). Keys outside the
    prefixes are ignored."""
    if configs is None:
        configs = [{} for _ in layer_prefixes]
    if len(configs) != len(layer_prefixes):
        raise ValueError("%d configs for %d layer prefixes" % (len(configs), len(layer_prefixes)))
    layers = []
    for prefix, config in zip(layer_prefixes, configs):
        own = {key[len(prefix):]: value for key, value in state_dict.items()
               if key.startswith(prefix)}
        if not own:
            raise ValueError("prefix %r: no such keys in the state_dict" % prefix)
        layers.append((prefix[:-1] if prefix.endswith(".") else prefix, own, config))
    _write_layers(layers, path, activation)


def import_state_dict(path, prefixes=None, classes=None):
    """The import direction: reads a libgat model file and returns
    (state_dict, configs, activation). The state_dict holds PyG's names
    under prefixes[i] (default "conv1.", "conv2.", ...); configs[i] holds
    the constructor arguments that rebuild it (in_channels, an int or PyG's
    tuple, out_channels, heads, concat, negative_slope, add_self_loops,
    bias; edge_dim and fill_value with edge features, residual when set,
    share_weights for GATv2Conv), so that cls(**configs[i]) loads the
    layer's keys with load_state_dict. classes, if a list, receives each
    layer's class name ("GATConv" or "GATv2Conv")."""
    tensors, metadata = read_safetensors(path)
    count = 0
    while any(name.startswith("layers.%d." % count) for name in tensors):
        count += 1
    if count == 0:
        raise ValueError("%s: no layers.0.* tensors: not a libgat model" % path)
    if prefixes is None:
        prefixes = ["conv%d." % (i + 1) for i in range(count)]
    prefixes = [_normal_prefix(p) for p in prefixes]
    if len(prefixes) != count:
        raise ValueError("%s: %d layers but %d prefixes" % (path, count, len(prefixes)))
    activation = metadata.get("activation", "elu")
    if activation not in ACTIVATIONS:
        raise ValueError("%s: activation %r: expected one of %s" % (path, activation, ACTIVATIONS))
    known = set()
    state_dict, configs = {}, []
    for i, prefix in enumerate(prefixes):
        name = "layers.%d." % i
        own = {k[len(name):]: v for k, v in tensors.items() if k.startswith(name)}
        known.update(name + k for k in own)
        kind = metadata.get(name + "type") or _layer_type(own)
        kind = {"gatconv": "gat", "gatv2conv": "gatv2"}.get(kind, kind)
        if kind not in _KNOWN:
            raise ValueError("%s: layer %d: type %r" % (path, i, kind))
        unknown = sorted(set(own) - set(_KNOWN[kind]))
        if unknown:
            raise ValueError("%s: tensor %s%s is not part of a %s layer"
                             % (path, name, unknown[0], kind))
        att = own.get("att_src" if kind == "gat" else "att")
        weight = own.get("lin.weight", own.get("lin_src.weight", own.get("lin_l.weight")))
        if weight is None or att is None:
            raise ValueError("%s: layer %d lacks its projection weight or attention vector"
                             % (path, i))
        heads, channels = int(att.shape[-2]), int(att.shape[-1])
        if kind == "gat" and "lin_src.weight" in own and "lin_dst.weight" not in own:
            own["lin.weight"] = own.pop("lin_src.weight")
        dst = own.get("lin_dst.weight", own.get("lin_r.weight"))
        tuple_in = dst is not None and (kind == "gat" or dst.shape[1] != weight.shape[1])
        share = kind == "gatv2" and "lin_r.weight" not in own
        if share:  # PyG's state_dict lists the shared Linear under both names
            own["lin_r.weight"] = own["lin_l.weight"]
            if "lin_l.bias" in own:
                own["lin_r.bias"] = own["lin_l.bias"]
        for key, value in own.items():
            if key in ("att_src", "att_dst", "att_edge", "att"):
                value = value.reshape(1, heads, channels)
            state_dict[prefix + key] = value
        fill = metadata.get(name + "fill_value", "mean")
        if fill not in _FILLS:
            fill = float(fill)
        args = {"in_channels": (int(weight.shape[1]), int(dst.shape[1])) if tuple_in
                else int(weight.shape[1]),
                "out_channels": channels, "heads": heads,
                "concat": _text_bool(path, metadata, name + "concat", True),
                "negative_slope": float(metadata.get(name + "negative_slope", "0.2")),
                "add_self_loops": _text_bool(path, metadata, name + "add_self_loops", True),
                "bias": "bias" in own}
        if "lin_edge.weight" in own:
            args["edge_dim"] = int(own["lin_edge.weight"].shape[1])
            args["fill_value"] = fill
        if "res.weight" in own:
            args["residual"] = True
        if kind == "gatv2":
            args["share_weights"] = share
        configs.append(args)
        if classes is not None:
            classes.append("GATConv" if kind == "gat" else "GATv2Conv")
    unknown = sorted(set(tensors) - known)
    if unknown:
        raise ValueError("%s: tensor %s is not part of a GAT stack" % (path, unknown[0]))
    return state_dict, configs, activation


def _text_bool(path, metadata, key, default):
    text = metadata.get(key)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise ValueError("%s: metadata %s is %r, expected \"true\" or \"false\"" % (path, key, text))
    return text == "true"


# ---------------------------------------------------------------------------
# Command line


def _parse_list(text, kind, count, option):
    if text is None:
        return [None] * count
    items = text.split(",")
    if len(items) != count:
        raise SystemExit("%s: %d values for %d layers" % (option, len(items), count))
    values = []
    for item in items:
        item = item.strip()
        if kind is bool:
            if item.lower() not in ("true", "false"):
                raise SystemExit("%s: %r: expected true or false" % (option, item))
            values.append(item.lower() == "true")
        else:
            try:
                value = float(item)
            except ValueError:
                raise SystemExit("%s: %r: expected a number" % (option, item))
            if not math.isfinite(value):
                raise SystemExit("%s: %r: expected a finite number" % (option, item))
            values.append(value)
    return values


def _load(path, allow_pickle):
    if not os.path.exists(path):
        raise SystemExit("%s: no such file" % path)
    if os.path.isdir(path):
        raise SystemExit("%s: a folder, not a saved model" % path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # a torch older than 1.13, without weights_only
        if not allow_pickle:
            raise SystemExit("%s: this torch cannot load weights only; pass --allow-pickle "
                             "if you trust the file" % path)
        return torch.load(path, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - torch raises several kinds
        if not allow_pickle:
            raise SystemExit("%s: not a plain state_dict (%s); a whole pickled module needs "
                             "--allow-pickle, which runs code from the file: only for files "
                             "you trust" % (path, str(error).splitlines()[0]))
    return torch.load(path, map_location="cpu", weights_only=False)


def _normal_prefix(prefix):
    """'conv1' and 'conv1.' both name the layer whose keys start 'conv1.'."""
    return prefix if prefix == "" or prefix.endswith(".") else prefix + "."


def _unwrap_state_dict(obj):
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _to_pyg(args):
    if not os.path.isfile(args.model):
        raise SystemExit("%s: no such file" % args.model)
    classes = []
    state_dict, configs, activation = import_state_dict(args.model, args.prefix, classes)
    torch.save(state_dict, args.out)
    prefixes = [_normal_prefix(p) for p in args.prefix] if args.prefix else \
        ["conv%d." % (i + 1) for i in range(len(configs))]
    for prefix, cls, c in zip(prefixes, classes, configs):
        args = ", ".join("%s=%r" % (k, v) for k, v in c.items()
                         if k not in ("in_channels", "out_channels"))
        print("%s %s(%r, %d, %s)" % (prefix[:-1], cls, c["in_channels"], c["out_channels"],
                                     args))
    print("activation between layers: %s" % activation)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", help="torch.save'd state_dict or module")
    parser.add_argument("out", nargs="?", help="output .safetensors")
    parser.add_argument("--prefix", action="append",
                        help="key prefix of a GATConv layer, in layer order (repeat); "
                             "default: every prefix with an att_src, in file order")
    parser.add_argument("--activation", default="elu", choices=ACTIVATIONS)
    parser.add_argument("--concat", help="per layer, comma-separated true/false")
    parser.add_argument("--negative-slope", help="per layer, comma-separated")
    parser.add_argument("--add-self-loops", help="per layer, comma-separated true/false")
    parser.add_argument("--fill-value", help="per layer with edge features, comma-separated: "
                                             "mean, add, max, min, mul or a number")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load a whole pickled module (runs code from the file)")
    parser.add_argument("--to-pyg", action="store_true",
                        help="the other direction: MODEL is a libgat .safetensors file, OUT a "
                             "torch.save'd state_dict with PyG names under the prefixes "
                             "(default conv1., conv2., ...); prints each layer's GATConv(...)")
    parser.add_argument("--selftest", action="store_true", help="run the self-test and exit")
    args = parser.parse_args(argv)
    if args.selftest:
        return selftest()
    if args.model is None or args.out is None:
        parser.error("MODEL and OUT are required")
    if args.to_pyg:
        return _to_pyg(args)

    obj = _unwrap_state_dict(_load(args.model, args.allow_pickle))
    flags = (args.concat, args.negative_slope, args.add_self_loops, args.fill_value)
    if isinstance(obj, torch.nn.Module):
        if any(flag is not None for flag in flags):
            raise SystemExit("--concat, --negative-slope, --add-self-loops and --fill-value "
                             "apply to state_dicts only: a module carries its own")
        modules = dict(obj.named_modules())
        if args.prefix:
            names = [p[:-1] if p.endswith(".") else p for p in args.prefix]
            missing = [n for n in names if n not in modules]
            if missing:
                raise SystemExit("no submodule named %s" % ", ".join(missing))
            convs = [modules[n] for n in names]
        else:
            names = [n for n, m in modules.items() if _is_conv(m)]
            convs = [modules[n] for n in names]
        if not convs:
            raise SystemExit("%s: no GATConv layers found" % args.model)
        print("layers: %s" % ", ".join("%d=%s" % (i, n or "<root>") for i, n in enumerate(names)),
              file=sys.stderr)
        export_gat_stack(convs, args.out, args.activation)
        return 0
    if not isinstance(obj, dict):
        raise SystemExit("%s: neither a state_dict nor a module (%s)"
                         % (args.model, type(obj).__name__))
    prefixes = [_normal_prefix(p) for p in args.prefix] if args.prefix else find_prefixes(obj)
    if not prefixes:
        raise SystemExit("%s: no GATConv or GATv2Conv layers found (no key ends in att_src, "
                         "or in att beside lin_l.weight)" % args.model)
    n = len(prefixes)
    concat = _parse_list(args.concat, bool, n, "--concat")
    slope = _parse_list(args.negative_slope, float, n, "--negative-slope")
    loops = _parse_list(args.add_self_loops, bool, n, "--add-self-loops")
    fills = args.fill_value.split(",") if args.fill_value else [None] * n
    if len(fills) != n:
        raise SystemExit("--fill-value: %d values for %d layers" % (len(fills), n))
    configs = []
    for i in range(n):
        config = {}
        if concat[i] is not None:
            config["concat"] = concat[i]
        if slope[i] is not None:
            config["negative_slope"] = slope[i]
        if loops[i] is not None:
            config["add_self_loops"] = loops[i]
        if fills[i] is not None:
            fill = fills[i].strip()
            config["fill_value"] = fill if fill in _FILLS else \
                _parse_list(fill, float, 1, "--fill-value")[0]
        configs.append(config)
    print("layers: %s" % ", ".join("%d=%s" % (i, p) for i, p in enumerate(prefixes)),
          file=sys.stderr)
    export_state_dict(obj, prefixes, configs, args.out, args.activation)
    return 0


# ---------------------------------------------------------------------------
# Self-test: fake GATConv-shaped modules, exported and read back.


class _FakeGATConv(torch.nn.Module):
    """The parameters and attributes of PyG's GATConv, nothing else."""

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2,
                 add_self_loops=True, bias=True, old_names=False):
        super().__init__()
        lin = torch.nn.Linear(in_channels, heads * out_channels, bias=False)
        if old_names:  # PyG 2.3-2.4: one Linear registered twice
            self.lin_src = lin
            self.lin_dst = lin
        else:
            self.lin = lin
        self.att_src = torch.nn.Parameter(torch.randn(1, heads, out_channels))
        self.att_dst = torch.nn.Parameter(torch.randn(1, heads, out_channels))
        width = heads * out_channels if concat else out_channels
        self.bias = torch.nn.Parameter(torch.randn(width)) if bias else None
        self.concat = concat
        self.negative_slope = negative_slope
        self.add_self_loops = add_self_loops


def selftest():
    torch.manual_seed(0)
    passed = failed = 0

    def check(name, condition):
        nonlocal passed, failed
        if condition:
            passed += 1
        else:
            failed += 1
            print("FAIL: %s" % name, file=sys.stderr)

    def raises(name, function):
        try:
            function()
        except ValueError:
            check(name, True)
            return
        check(name + " (no error)", False)

    conv1 = _FakeGATConv(5, 4, heads=3, concat=True, negative_slope=0.1)
    conv2 = _FakeGATConv(12, 3, heads=2, concat=False, add_self_loops=False, bias=False,
                         old_names=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stack.safetensors")
        export_gat_stack([conv1, conv2], path, activation="relu")
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
        check("header padded to 8", length % 8 == 0)
        tensors, meta = read_safetensors(path)
        check("tensor names", sorted(tensors) == sorted([
            "layers.0.lin.weight", "layers.0.att_src", "layers.0.att_dst", "layers.0.bias",
            "layers.1.lin.weight", "layers.1.att_src", "layers.1.att_dst"]))
        check("weight 0", torch.equal(tensors["layers.0.lin.weight"], conv1.lin.weight.detach()))
        check("att_src 0", torch.equal(tensors["layers.0.att_src"], conv1.att_src.detach()))
        check("att_dst 0", torch.equal(tensors["layers.0.att_dst"], conv1.att_dst.detach()))
        check("bias 0", torch.equal(tensors["layers.0.bias"], conv1.bias.detach()))
        check("weight 1 (lin_src)",
              torch.equal(tensors["layers.1.lin.weight"], conv2.lin_src.weight.detach()))
        check("att_dst 1", torch.equal(tensors["layers.1.att_dst"], conv2.att_dst.detach()))
        check("metadata", meta == {
            "activation": "relu", "format": "pt",
            "layers.0.concat": "true", "layers.0.negative_slope": _format_float(0.1),
            "layers.0.add_self_loops": "true",
            "layers.1.concat": "false", "layers.1.negative_slope": _format_float(0.2),
            "layers.1.add_self_loops": "false"})
        check("slope text reads back",
              struct.pack("<f", float(meta["layers.0.negative_slope"])) ==
              struct.pack("<f", 0.1))

        # A model's state_dict under its own attribute names.
        model = torch.nn.Module()
        model.conv1 = conv1
        model.conv2 = conv2
        model.head = torch.nn.Linear(3, 2)
        state = model.state_dict()
        check("prefixes found", find_prefixes(state) == ["conv1.", "conv2."])
        path2 = os.path.join(tmp, "state.safetensors")
        export_state_dict(state, ["conv1.", "conv2."],
                          [{"negative_slope": 0.1},
                           {"concat": False, "add_self_loops": False}],
                          path2, activation="relu")
        tensors2, meta2 = read_safetensors(path2)
        check("state_dict tensors", sorted(tensors2) == sorted(tensors) and all(
            torch.equal(tensors2[k], tensors[k]) for k in tensors))
        check("state_dict metadata", meta2 == meta)

        # concat inferred from the bias shape when no config says it.
        conv3 = _FakeGATConv(12, 3, heads=2, concat=False)
        path3 = os.path.join(tmp, "infer.safetensors")
        export_state_dict({"c." + k: v for k, v in conv3.state_dict().items()}, ["c."], None,
                          path3)
        check("concat inferred", read_safetensors(path3)[1]["layers.0.concat"] == "false")

        bad = dict(state)
        bad["conv1.lin.bias"] = torch.zeros(12)
        raises("lin.bias refused",
               lambda: export_state_dict(bad, ["conv1."], None, path2))
        tuple_in = dict(state)
        tuple_in["conv2.lin_dst.weight"] = torch.zeros_like(state["conv2.lin_dst.weight"])
        export_state_dict(tuple_in, ["conv2."], [{"concat": False}], path2)
        check("separate lin_src and lin_dst kept",
              "layers.0.lin_dst.weight" in read_safetensors(path2)[0])
        raises("width chain checked",
               lambda: export_gat_stack([conv2, conv1], path2))
        conv_nan = _FakeGATConv(2, 2)
        with torch.no_grad():
            conv_nan.att_src[0, 0, 0] = float("nan")
        raises("NaN refused", lambda: export_gat_stack([conv_nan], path2))
        raises("bad activation", lambda: export_gat_stack([conv1], path2, activation="tanh"))
        check("no temp files left", sorted(os.listdir(tmp)) ==
              ["infer.safetensors", "stack.safetensors", "state.safetensors"])

        # The command line on a saved state_dict.
        saved = os.path.join(tmp, "model.pt")
        torch.save(state, saved)
        path4 = os.path.join(tmp, "cli.safetensors")
        main([saved, path4, "--activation", "relu", "--concat", "true,false",
              "--negative-slope", "0.1,0.2", "--add-self-loops", "true,false"])
        tensors4, meta4 = read_safetensors(path4)
        check("cli tensors", all(torch.equal(tensors4[k], tensors[k]) for k in tensors))
        check("cli metadata", meta4 == meta)

    print("selftest: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as error:
        print("export_pyg: %s" % error, file=sys.stderr)
        sys.exit(1)
