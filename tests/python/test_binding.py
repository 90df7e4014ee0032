"""The hand-written ctypes declarations (python/libgat/_lib.py) against
include/gat.h: every struct's fields in order and every function's
parameter count. A field added to a struct in gat.h that the binding lacks
would let the library write past a Python-allocated struct."""

import os
import re

import pytest

from conftest import ROOT
from libgat import _lib

HEADER = open(os.path.join(ROOT, "include", "gat.h")).read()
CODE = re.sub(r"/\*.*?\*/", " ", HEADER, flags=re.S)
CODE = re.sub(r"//[^\n]*", " ", CODE)

STRUCTS = {
    "gat_context_options": _lib.ContextOptions, "gat_layer_config": _lib.LayerConfig,
    "gat_layer_params": _lib.LayerParams, "gat_forward_times": _lib.ForwardTimes,
    "gat_metrics": _lib.Metrics, "gat_trainer_options": _lib.TrainerOptions,
    "gat_epoch_report": _lib.EpochReport, "gat_fit_options": _lib.FitOptions,
    "gat_fit_result": _lib.FitResult, "gat_inputs": _lib.Inputs,
}


def _header_fields(name):
    match = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), CODE, flags=re.S)
    assert match, "%s not found in gat.h" % name
    fields = []
    for declaration in match.group(1).split(";"):
        declaration = " ".join(declaration.split())
        if not declaration:
            continue
        pointer = re.search(r"\(\s*\*\s*(\w+)\s*\)", declaration)
        if pointer:  # a function pointer
            fields.append(pointer.group(1))
            continue
        first, *rest = declaration.split(",")
        fields.append(re.findall(r"\w+", first)[-1])
        fields += [re.findall(r"\w+", item)[-1] for item in rest]
    return fields


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_struct_fields_match_the_header(name):
    assert [f[0] for f in STRUCTS[name]._fields_] == _header_fields(name)


@pytest.mark.parametrize("name", sorted(_lib._SIGNATURES))
def test_function_parameter_counts_match_the_header(name):
    match = re.search(r"\b%s\s*\(([^)]*)\)\s*;" % name, CODE)
    assert match, "%s not declared in gat.h" % name
    params = match.group(1).strip()
    count = 0 if params in ("", "void") else params.count(",") + 1
    assert count == len(_lib._SIGNATURES[name][1]), name
