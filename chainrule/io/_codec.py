"""Nested Python data with arrays in it <-> JSON text plus named arrays, exactly and without pickle.

A checkpoint's optimizer state, scheduler state, history and extras are trees of dicts, lists, tuples, numbers,
strings and arrays. The arrays go into the safetensors file as tensors, named after where they sit in the tree
(`optimizer.state.0.exp_avg`); the rest becomes strict JSON in the file's metadata. JSON alone would lose types
that matter to a resumed run, so those are written as small tagged objects {"__type__": ...}:

    tuple            {"__type__": "tuple", "items": [...]}          (Adam's betas)
    dict             {"__type__": "dict", "items": [[k, v], ...]}   when a key is not a str (the optimizer state's
                     integer indices), or for OrderedDict and Counter (MultiStepLR's milestones), named in "class"
    set, frozenset   {"__type__": "set" | "frozenset", "items": [...]}
    inf, -inf, nan   {"__type__": "float", "value": "inf"}          (strict JSON has no such numbers)
    NumPy scalar     {"__type__": "scalar", "dtype": "float32", "value": ...}
    ndarray, Tensor  {"__type__": "array" | "tensor", "key": "<tensor name in the file>"}

Python ints of any size stay ints (a generator's 128-bit state), floats keep every bit (JSON floats are written with
`repr`), and an array referenced twice is stored once and comes back as one object.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError
from chainrule.io.weights import storable_array
from chainrule.tensor import Tensor

TYPE = "__type__"
_DICT_CLASSES: dict[str, type] = {"OrderedDict": OrderedDict, "Counter": Counter}


class Encoder:
    """Turns trees into JSON data, collecting their arrays in `arrays` (tensor name -> C-contiguous ndarray)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.arrays: dict[str, np.ndarray] = {}
        self._stored: dict[int, dict[str, str]] = {}  # id of an array or Tensor -> its tag, for shared arrays

    def encode(self, value: Any, path: tuple[Any, ...]) -> Any:
        """JSON data for `value`, found at `path` (its arrays are named by joining the path with dots)."""
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, Tensor):
            return self.array(value, path, "tensor")
        if isinstance(value, np.ndarray):
            return self.array(value, path, "array")
        if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
            return self._scalar(value, path)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {TYPE: "float", "value": repr(float(value))}
        if isinstance(value, list):
            return [self.encode(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return {TYPE: "tuple", "items": [self.encode(item, (*path, i)) for i, item in enumerate(value)]}
        if isinstance(value, Mapping):
            return self._mapping(value, path)
        if isinstance(value, set | frozenset):
            kind = "frozenset" if isinstance(value, frozenset) else "set"
            return {TYPE: kind, "items": [self.encode(item, (*path, i)) for i, item in enumerate(value)]}
        raise ArgumentError(
            f"{self.owner}: cannot store {_label(path)}, a {_type_name(value)}: a checkpoint holds numbers, "
            "strings, None, lists, tuples, dicts, sets, NumPy arrays and scalars, and Tensors (no pickled objects); "
            "convert it to one of those"
        )

    def array(self, value: Tensor | np.ndarray, path: tuple[Any, ...], kind: str) -> dict[str, str]:
        """Store an array as a tensor of the file; the tag that refers to it."""
        tag = self._stored.get(id(value))
        if tag is not None:
            return tag
        name = ".".join(str(part) for part in path)
        if name in self.arrays:  # keys holding dots can make two paths read alike
            suffix = 1
            while f"{name}#{suffix}" in self.arrays:
                suffix += 1
            name = f"{name}#{suffix}"
        self.arrays[name] = storable_array(value, _label(path), self.owner)
        tag = {TYPE: kind, "key": name}
        self._stored[id(value)] = tag
        return tag

    def _scalar(self, value: np.generic, path: tuple[Any, ...]) -> dict[str, Any]:
        if value.dtype.kind not in "biuf" or value.dtype.itemsize > 8:
            raise ArgumentError(
                f"{self.owner}: cannot store {_label(path)}, a NumPy scalar of dtype {value.dtype}; use a bool, "
                "int or float (or an array)"
            )
        # .item() is exact: a float16/32 value is representable as a Python float, and ints keep every digit.
        return {TYPE: "scalar", "dtype": value.dtype.name, "value": self.encode(value.item(), path)}

    def _mapping(self, value: Mapping[Any, Any], path: tuple[Any, ...]) -> Any:
        kind = type(value).__name__ if type(value) in (OrderedDict, Counter) else None
        if kind is None and TYPE not in value and all(isinstance(key, str) for key in value):
            return {key: self.encode(item, (*path, key)) for key, item in value.items()}
        items = [[self.encode(key, (*path, key)), self.encode(item, (*path, key))] for key, item in value.items()]
        tagged: dict[str, Any] = {TYPE: "dict", "items": items}
        if kind is not None:
            tagged["class"] = kind
        return tagged


def decode(data: Any, fetch: Callable[[str], np.ndarray], owner: str) -> Any:
    """The tree that `Encoder.encode` turned into `data`; `fetch(name)` reads a tensor of the file."""
    restored: dict[tuple[str, str], Any] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        kind = node.get(TYPE)
        if kind is None:
            return {key: walk(item) for key, item in node.items()}
        if kind in ("array", "tensor"):
            ident = (kind, node["key"])
            if ident not in restored:
                array = fetch(node["key"])
                restored[ident] = Tensor(array) if kind == "tensor" else array
            return restored[ident]
        if kind == "tuple":
            return tuple(walk(item) for item in node["items"])
        if kind == "dict":
            cls = _DICT_CLASSES.get(node.get("class"), dict)
            mapping = cls()  # filled key by key: Counter(pairs) would count the pairs
            for key, item in node["items"]:
                mapping[walk(key)] = walk(item)
            return mapping
        if kind in ("set", "frozenset"):
            items = (walk(item) for item in node["items"])
            return set(items) if kind == "set" else frozenset(items)
        if kind == "float":
            return float(node["value"])
        if kind == "scalar":
            return np.dtype(node["dtype"]).type(walk(node["value"]))
        raise ArgumentError(f"{owner}: unknown entry {kind!r} in the checkpoint (written by a newer chainrule?)")

    return walk(data)


def _label(path: tuple[Any, ...]) -> str:
    head, *rest = path
    return str(head) + "".join(f"[{part!r}]" for part in rest)


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
