"""graph(): the recorded computation graph as DOT text, for teaching the chain rule."""

from __future__ import annotations

import re
import shutil

import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import graph
from chainrule.errors import ArgumentError, BackwardError, MissingDependencyError


def nodes_and_edges(dot: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """{node id: its label} and {(source label's first line, target label's first line)}."""
    labels = {ident: label for ident, label in re.findall(r'^  (t\d+) \[label="([^"]*)"', dot, flags=re.M)}
    first = {ident: label.split("\\n")[0] for ident, label in labels.items()}
    edges = {(first[a], first[b]) for a, b in re.findall(r"^  (t\d+) -> (t\d+)", dot, flags=re.M)}
    return labels, edges


def test_a_tiny_expression_shows_its_ops_leaves_and_the_arrows_between_them():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor(3.0, requires_grad=True)
    y = (x * w + 1.0).sum()
    dot = graph(y, params={"w": w})
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    labels, edges = nodes_and_edges(dot)
    assert sorted(label.split("\\n")[0] for label in labels.values()) == sorted(
        ["output = sum", "add", "mul", "input", "w", "constant"]
    )
    assert edges == {("add", "output = sum"), ("mul", "add"), ("constant", "add"), ("input", "mul"), ("w", "mul")}
    assert "w\\n()\\n3" in dot  # a named parameter with its shape and value
    assert "output = sum\\n()\\n11" in dot  # sum(x * 3 + 1) = 11
    assert "input\\n(2)" in dot
    assert re.search(r'-> t\d+ \[label="1"\]', dot)  # an op with two inputs numbers its arrows


def test_a_module_names_its_parameters():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = model(cr.randn(5, 3)).pow(2).mean()
    labels, edges = nodes_and_edges(graph(loss, params=model))
    names = {label.split("\\n")[0] for label in labels.values()}
    assert {"0.weight", "0.bias", "2.weight", "2.bias", "linear", "relu", "pow", "output = mean"} <= names
    assert ("0.weight", "linear") in edges and ("relu", "linear") in edges
    assert graph(loss, params=dict(model.named_parameters())) == graph(loss, params=model)


def test_a_graph_freed_by_backward_cannot_be_drawn():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(BackwardError, match="draw it before calling backward"):
        graph(y)
    z = (x * x).sum()
    z.backward(retain_graph=True)
    assert "mul" in graph(z)


def test_paths_write_dot_text_or_render_with_graphviz(tmp_path, monkeypatch):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    text = graph(y, path=tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == text
    with pytest.raises(ArgumentError, match="must end in"):
        graph(y, path=tmp_path / "g.txt")
    if shutil.which("dot") is not None:
        graph(y, path=tmp_path / "g.svg")
        assert "<svg" in (tmp_path / "g.svg").read_text()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="Graphviz"):
        graph(y, path=tmp_path / "g.svg")


def test_it_refuses_what_is_not_a_tensor():
    with pytest.raises(ArgumentError, match="expected a Tensor"):
        graph([1.0])
    with pytest.raises(ArgumentError, match="params must map names to Tensors"):
        graph(cr.tensor([1.0], requires_grad=True) * 2, params={"w": 3})
