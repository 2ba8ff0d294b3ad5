"""The recorded computation graph as Graphviz DOT text, for seeing (and teaching) the chain rule.

Every op a tensor went through is recorded as a node `(parents, backward, op name)`; `graph(y)` draws that record:
an ellipse per op, named and with its output's shape; a box per leaf: a parameter (orange, named when `params`
says which is which), another tensor that requires grad (green), data or a constant (dashed: no gradient flows
into it); an arrow from each input to the op that consumed it, numbered by argument position when an op has
several. Backpropagation walks these
arrows backwards, multiplying by each op's local derivative: that is the chain rule.

Draw the graph before `backward()`: backward frees the record as it goes (unless `retain_graph=True`).
`graph(y, path='g.svg')` also renders it with Graphviz's `dot` program, when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

import numpy as np

from chainrule.errors import ArgumentError, BackwardError, MissingDependencyError, shape_str
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["graph", "render_dot"]

_RENDERED = ("svg", "png", "pdf")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _value_text(data: np.ndarray) -> str:
    if data.size == 1:
        return f"{data.item():.4g}" if data.dtype.kind == "f" else str(data.item())
    return ""


def graph(
    tensor: Tensor,
    params: Mapping[str, Tensor] | Module | None = None,
    path: str | os.PathLike[str] | None = None,
    show_values: bool = True,
    name: str = "output",
) -> str:
    """The graph that made `tensor`, as DOT text.

    params: names for leaves: a dict name -> Tensor (e.g. `dict(model.named_parameters())`) or a Module (its
    named parameters). Other leaves are shown as 'input' ('constant' for one-element tensors that do not require
    grad).
    show_values: write the value of one-element tensors (a scalar loss, a bias of one unit) under their shape.
    name: the label of `tensor` itself. path: also write the graph there: '.dot' (or '.gv') writes the text;
    '.svg', '.png' or '.pdf' renders it with Graphviz's `dot` (MissingDependencyError when it is not installed).
    """
    if not isinstance(tensor, Tensor):
        raise ArgumentError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    if isinstance(params, Module):
        params = dict(params.named_parameters())
    names = {}
    for key, value in (params or {}).items():
        if not isinstance(value, Tensor):
            raise ArgumentError(f"graph: params must map names to Tensors, got {type(value).__name__} for {key!r}")
        names[id(value)] = str(key)
    node = tensor._node
    if node is not None and node[0] is None:
        raise BackwardError(
            "graph: the graph of this tensor was freed by backward(); draw it before calling backward(), or call "
            "backward(retain_graph=True)"
        )

    ids: dict[int, str] = {}
    order: list[Tensor] = []
    stack = [tensor]
    ids[id(tensor)] = "t0"
    order.append(tensor)
    edges: list[tuple[str, str, int]] = []
    while stack:
        current = stack.pop()
        node = current._node
        if node is None or node[0] is None:
            continue
        for position, parent in enumerate(node[0]):
            key = id(parent)
            if key not in ids:
                ids[key] = f"t{len(ids)}"
                order.append(parent)
                stack.append(parent)
            edges.append((ids[key], ids[id(current)], position))

    lines = [
        "digraph chainrule {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for item in order:
        ident = ids[id(item)]
        shape = shape_str(item.data.shape)
        value = _value_text(item.data) if show_values else ""
        extra = f"\n{value}" if value else ""
        if item._node is not None:
            label = f"{item._node[2]}\n{shape}{extra}"
            style = 'shape=ellipse, style=filled, fillcolor="#dbe9f6"'
            if item is tensor:
                label = f"{name} = {item._node[2]}\n{shape}{extra}"
                style += ", peripheries=2"
        elif id(item) in names:
            label = f"{names[id(item)]}\n{shape}{extra}"
            style = 'shape=box, style="filled,rounded", fillcolor="#fde2b8"'
        elif item.requires_grad:
            label = f"{name if item is tensor else 'input'}\n{shape}{extra}"
            style = 'shape=box, style="filled,rounded", fillcolor="#e3f1dc"'
        else:  # data or a constant: nothing flows back into it
            kind = name if item is tensor else ("constant" if item.data.size == 1 else "input")
            label = f"{kind}\n{shape}{extra}"
            style = 'shape=box, style="rounded,dashed"'
        lines.append(f"  {ident} [label={_quote(label)}, {style}];")
    inputs_of: dict[str, int] = {}
    for _, target, _ in edges:
        inputs_of[target] = inputs_of.get(target, 0) + 1
    for source, target, position in edges:
        label = f' [label="{position}"]' if inputs_of[target] > 1 else ""
        lines.append(f"  {source} -> {target}{label};")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        _write(text, path)
    return text


def _write(text: str, path: str | os.PathLike[str]) -> None:
    target = os.fspath(path)
    extension = os.path.splitext(target)[1].lower().lstrip(".")
    if extension in ("dot", "gv", ""):
        with open(target, "w") as handle:
            handle.write(text)
        return
    if extension not in _RENDERED:
        raise ArgumentError(f"graph: path must end in .dot, .gv, .svg, .png or .pdf, got {target!r}")
    render_dot(text, target, extension)


def render_dot(text: str, path: str | os.PathLike[str], fmt: str = "svg") -> str:
    """Render DOT `text` to `path` in format `fmt` ('svg', 'png', 'pdf') with Graphviz's `dot` program."""
    if fmt not in _RENDERED:
        raise ArgumentError(f"render_dot: fmt must be one of {_RENDERED}, got {fmt!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise MissingDependencyError(
            "graph: rendering needs Graphviz's `dot` program, which is not installed (apt install graphviz, brew "
            "install graphviz, or conda install graphviz); graph() still returns the DOT text, which any Graphviz "
            "viewer (or an online one) draws"
        )
    target = os.fspath(path)
    completed = subprocess.run([dot, f"-T{fmt}", "-o", target], input=text.encode(), capture_output=True, check=False)
    if completed.returncode != 0:
        raise ArgumentError(f"graph: dot failed ({completed.returncode}): {completed.stderr.decode(errors='replace')}")
    return target
