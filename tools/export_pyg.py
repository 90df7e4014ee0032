#!/usr/bin/python3
"""Export a stack of PyTorch Geometric GATConv layers to libgat's safetensors.

The file holds, for layer i = 0, 1, ...:
    layers.{i}.lin.weight  F32 [heads*channels, in_features]
    layers.{i}.att_src     F32 [1, heads, channels]
    layers.{i}.att_dst     F32 [1, heads, channels]
    layers.{i}.bias        F32 [heads*channels] (concat) or [channels]; optional
and string metadata layers.{i}.concat, layers.{i}.negative_slope,
layers.{i}.add_self_loops and activation (applied between layers).
gat_model_load() in libgat reads it.

Only json, struct and torch are used: neither the safetensors package nor
torch_geometric is needed to export (a whole pickled PyG model does need
torch_geometric to unpickle, which torch.load imports on demand).

Usage:
    export_pyg.py MODEL.pt OUT.safetensors [--prefix conv1. --prefix conv2.]
                  [--activation elu] [--concat true,false]
                  [--negative-slope 0.2,0.2] [--add-self-loops true,true]
    export_pyg.py --to-pyg MODEL.safetensors OUT.pt [--prefix conv1 ...]
    export_pyg.py --selftest

A module carries its own options (concat, heads, negative_slope,
add_self_loops, bias); a state_dict does not, so pass them per layer where
PyG's defaults do not hold. What cannot be exported exactly (edge features,
residual connections, bipartite weights, a state_dict whose concat cannot be
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
# Parameters PyG's GATConv may carry that libgat cannot run: refusing them
# beats silently computing something else.
_UNSUPPORTED = {
    "lin.bias": "a bias inside the linear projection",
    "lin_src.bias": "a bias inside the linear projection",
    "att_edge": "edge features (edge_dim)",
    "lin_edge.weight": "edge features (edge_dim)",
    "lin_edge.bias": "edge features (edge_dim)",
    "res.weight": "a residual connection",
    "res.bias": "a residual connection",
}
_KNOWN = ("lin.weight", "lin_src.weight", "lin_dst.weight", "att_src", "att_dst", "bias")


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


def _layer_tensors(index, weight, att_src, att_dst, bias, concat):
    """Checks one layer's shapes and returns its (name, tensor) pairs."""
    name = "layers.%d" % index
    if att_src.dim() == 2:
        att_src = att_src.unsqueeze(0)
    if att_dst.dim() == 2:
        att_dst = att_dst.unsqueeze(0)
    if att_src.dim() != 3 or att_src.shape[0] != 1:
        raise ValueError("%s.att_src: shape %s, expected [1, heads, channels]"
                         % (name, list(att_src.shape)))
    heads, channels = int(att_src.shape[1]), int(att_src.shape[2])
    if list(att_dst.shape) != [1, heads, channels]:
        raise ValueError("%s.att_dst: shape %s, expected %s"
                         % (name, list(att_dst.shape), [1, heads, channels]))
    if weight.dim() != 2 or weight.shape[0] != heads * channels:
        raise ValueError("%s.lin.weight: shape %s, expected [%d, in_features]"
                         % (name, list(weight.shape), heads * channels))
    tensors = [(name + ".lin.weight", weight), (name + ".att_src", att_src),
               (name + ".att_dst", att_dst)]
    if bias is not None:
        width = heads * channels if concat else channels
        if list(bias.shape) != [width]:
            raise ValueError("%s.bias: shape %s, expected [%d] (concat=%s)"
                             % (name, list(bias.shape), width, concat))
        tensors.append((name + ".bias", bias))
    for tensor_name, tensor in tensors:
        if not torch.isfinite(_f32(tensor)).all():
            raise ValueError("%s: NaN or infinity" % tensor_name)
    return tensors, heads * channels if concat else channels


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


def _conv_weight(conv, where):
    lin = getattr(conv, "lin", None)
    if lin is None:
        lin = getattr(conv, "lin_src", None)
        lin_dst = getattr(conv, "lin_dst", None)
        if lin_dst is not None and lin_dst is not lin:
            raise ValueError("%s: separate lin_src and lin_dst (bipartite GATConv) are not "
                             "supported" % where)
    if lin is None or getattr(lin, "weight", None) is None:
        raise ValueError("%s: no lin.weight or lin_src.weight: not a GATConv" % where)
    if getattr(lin, "bias", None) is not None:
        raise ValueError("%s: a bias inside the linear projection is not supported" % where)
    return lin.weight


def export_gat_stack(convs, path, activation="elu"):
    """Exports GATConv-like modules (attributes lin or lin_src, att_src,
    att_dst, bias, concat, negative_slope, add_self_loops), layer i being
    convs[i], to a safetensors file at path."""
    if activation not in ACTIVATIONS:
        raise ValueError("activation %r: expected one of %s" % (activation, ACTIVATIONS))
    tensors = []
    metadata = {"activation": activation, "format": "pt"}
    width = None
    for i, conv in enumerate(convs):
        where = "layer %d (%s)" % (i, type(conv).__name__)
        if getattr(conv, "att_src", None) is None or getattr(conv, "att_dst", None) is None:
            raise ValueError("%s: no att_src/att_dst: not a GATConv" % where)
        if getattr(conv, "lin_edge", None) is not None or getattr(conv, "att_edge", None) \
                is not None:
            raise ValueError("%s: edge features (edge_dim) are not supported" % where)
        if getattr(conv, "res", None) is not None:
            raise ValueError("%s: residual connections are not supported" % where)
        if getattr(conv, "edge_dim", None) is not None:
            raise ValueError("%s: edge features (edge_dim) are not supported" % where)
        if getattr(conv, "residual", False):
            raise ValueError("%s: residual connections are not supported" % where)
        if not hasattr(conv, "concat"):
            raise ValueError("%s: no 'concat' attribute: cannot tell concatenated from "
                             "averaged heads" % where)
        concat = bool(conv.concat)
        weight = _conv_weight(conv, where)
        heads = getattr(conv, "heads", None)
        if heads is not None and int(heads) != int(conv.att_src.shape[-2]):
            raise ValueError("%s: heads = %d but att_src has shape %s"
                             % (where, int(heads), list(conv.att_src.shape)))
        layer, out_width = _layer_tensors(i, weight, conv.att_src, conv.att_dst,
                                          getattr(conv, "bias", None), concat)
        if width is not None and weight.shape[1] != width:
            raise ValueError("%s: in_features %d but the previous layer outputs %d"
                             % (where, weight.shape[1], width))
        width = out_width
        tensors += layer
        metadata["layers.%d.concat" % i] = _bool_text(concat)
        metadata["layers.%d.negative_slope" % i] = _format_float(
            getattr(conv, "negative_slope", 0.2))
        metadata["layers.%d.add_self_loops" % i] = _bool_text(
            getattr(conv, "add_self_loops", True))
    if not tensors:
        raise ValueError("no layers to export")
    write_safetensors(path, tensors, metadata)


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
    """Prefixes of GATConv layers in state_dict order ("conv1.", ...): every
    key ending in "att_src" marks one."""
    return [key[:-len("att_src")] for key in state_dict
            if key.endswith("att_src") and (key == "att_src" or key.endswith(".att_src"))]


def export_state_dict(state_dict, layer_prefixes, configs, path, activation="elu"):
    """Exports the GATConv layers found under layer_prefixes (e.g. "conv1.",
    "conv2.") of a raw state_dict; prefix k becomes layers.k. configs[k] is a
    dict with optional concat, negative_slope, add_self_loops (a state_dict
    does not record them: PyG's defaults apply, and concat is inferred from
    the bias shape when that is unambiguous). Keys outside the prefixes are
    ignored."""
    if activation not in ACTIVATIONS:
        raise ValueError("activation %r: expected one of %s" % (activation, ACTIVATIONS))
    if configs is None:
        configs = [{} for _ in layer_prefixes]
    if len(configs) != len(layer_prefixes):
        raise ValueError("%d configs for %d layer prefixes" % (len(configs), len(layer_prefixes)))
    tensors = []
    metadata = {"activation": activation, "format": "pt"}
    width = None
    for i, (prefix, config) in enumerate(zip(layer_prefixes, configs)):
        own = {key[len(prefix):]: value for key, value in state_dict.items()
               if key.startswith(prefix)}
        if not own:
            raise ValueError("prefix %r: no such keys in the state_dict" % prefix)
        for key in own:
            if key in _UNSUPPORTED:
                raise ValueError("%s%s: %s is not supported" % (prefix, key, _UNSUPPORTED[key]))
            if key not in _KNOWN:
                raise ValueError("%s%s: unknown GATConv parameter" % (prefix, key))
        if "lin.weight" in own and "lin_src.weight" in own:
            raise ValueError("%s: both lin.weight and lin_src.weight" % prefix)
        weight = own.get("lin.weight", own.get("lin_src.weight"))
        if weight is None:
            raise ValueError("%s: no lin.weight or lin_src.weight" % prefix)
        if "lin_dst.weight" in own and not torch.equal(own["lin_dst.weight"], weight):
            raise ValueError("%s: lin_dst.weight differs from lin_src.weight (bipartite "
                             "GATConv) : not supported" % prefix)
        for key in ("att_src", "att_dst"):
            if key not in own:
                raise ValueError("%s: no %s" % (prefix, key))
        bias = own.get("bias")
        concat = config.get("concat")
        if concat is None:
            concat = _concat_from_shapes(prefix, own["att_src"], bias)
        layer, out_width = _layer_tensors(i, weight, own["att_src"], own["att_dst"], bias,
                                          bool(concat))
        if width is not None and weight.shape[1] != width:
            raise ValueError("%s: in_features %d but the previous layer outputs %d"
                             % (prefix, weight.shape[1], width))
        width = out_width
        tensors += layer
        metadata["layers.%d.concat" % i] = _bool_text(concat)
        metadata["layers.%d.negative_slope" % i] = _format_float(
            config.get("negative_slope", 0.2))
        metadata["layers.%d.add_self_loops" % i] = _bool_text(
            config.get("add_self_loops", True))
    if not tensors:
        raise ValueError("no layers to export")
    write_safetensors(path, tensors, metadata)


def import_state_dict(path, prefixes=None):
    """The import direction: reads a libgat model file and returns
    (state_dict, configs, activation). The state_dict holds PyG GATConv
    names under prefixes[i] (default "conv1.", "conv2.", ...); configs[i]
    holds the GATConv constructor arguments that rebuild layer i
    (in_channels, out_channels, heads, concat, negative_slope,
    add_self_loops, bias), so that GATConv(**configs[i]) loads the layer's
    keys with load_state_dict."""
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
        weight = tensors.get(name + "lin.weight", tensors.get(name + "lin_src.weight"))
        if weight is None or name + "att_src" not in tensors or name + "att_dst" not in tensors:
            raise ValueError("%s: layer %d lacks lin.weight, att_src or att_dst" % (path, i))
        att_src, att_dst = tensors[name + "att_src"], tensors[name + "att_dst"]
        heads, channels = int(att_src.shape[-2]), int(att_src.shape[-1])
        concat = _text_bool(path, metadata, name + "concat", True)
        bias = tensors.get(name + "bias")
        state_dict[prefix + "lin.weight"] = weight
        state_dict[prefix + "att_src"] = att_src.reshape(1, heads, channels)
        state_dict[prefix + "att_dst"] = att_dst.reshape(1, heads, channels)
        if bias is not None:
            state_dict[prefix + "bias"] = bias
        known.update(name + k for k in ("lin.weight", "lin_src.weight", "att_src", "att_dst",
                                        "bias"))
        configs.append({
            "in_channels": int(weight.shape[1]), "out_channels": channels, "heads": heads,
            "concat": concat,
            "negative_slope": float(metadata.get(name + "negative_slope", "0.2")),
            "add_self_loops": _text_bool(path, metadata, name + "add_self_loops", True),
            "bias": bias is not None})
    unknown = sorted(set(tensors) - known)
    if unknown:
        raise ValueError("%s: tensor %s is not part of a GATConv stack" % (path, unknown[0]))
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
    state_dict, configs, activation = import_state_dict(args.model, args.prefix)
    torch.save(state_dict, args.out)
    prefixes = [_normal_prefix(p) for p in args.prefix] if args.prefix else \
        ["conv%d." % (i + 1) for i in range(len(configs))]
    for prefix, c in zip(prefixes, configs):
        print("%s GATConv(%d, %d, heads=%d, concat=%s, negative_slope=%s, add_self_loops=%s, "
              "bias=%s)" % (prefix[:-1], c["in_channels"], c["out_channels"], c["heads"],
                            c["concat"], _format_float(c["negative_slope"]),
                            c["add_self_loops"], c["bias"]))
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
    flags = (args.concat, args.negative_slope, args.add_self_loops)
    if isinstance(obj, torch.nn.Module):
        if any(flag is not None for flag in flags):
            raise SystemExit("--concat, --negative-slope and --add-self-loops apply to "
                             "state_dicts only: a module carries its own")
        modules = dict(obj.named_modules())
        if args.prefix:
            names = [p[:-1] if p.endswith(".") else p for p in args.prefix]
            missing = [n for n in names if n not in modules]
            if missing:
                raise SystemExit("no submodule named %s" % ", ".join(missing))
            convs = [modules[n] for n in names]
        else:
            names = [n for n, m in modules.items() if getattr(m, "att_src", None) is not None]
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
        raise SystemExit("%s: no GATConv layers found (no key ends in att_src)" % args.model)
    n = len(prefixes)
    concat = _parse_list(args.concat, bool, n, "--concat")
    slope = _parse_list(args.negative_slope, float, n, "--negative-slope")
    loops = _parse_list(args.add_self_loops, bool, n, "--add-self-loops")
    configs = []
    for i in range(n):
        config = {}
        if concat[i] is not None:
            config["concat"] = concat[i]
        if slope[i] is not None:
            config["negative_slope"] = slope[i]
        if loops[i] is not None:
            config["add_self_loops"] = loops[i]
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
        bad = dict(state)
        bad["conv2.lin_dst.weight"] = torch.zeros_like(state["conv2.lin_dst.weight"])
        raises("bipartite refused",
               lambda: export_state_dict(bad, ["conv2."], [{"concat": False}], path2))
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
