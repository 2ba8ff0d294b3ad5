"""Where a NaN or an Inf first appears: the op, and the layer whose forward ran that op.

The forward case walks the recorded graph of a non-finite result and finds the op whose output is not finite
while all its inputs are (an input or a parameter may be the origin too). The backward case walks the graph in
reverse as `chainrule.autograd.backward` does and finds the op whose backward turned a finite incoming gradient
into a non-finite one. To name the layer, the forward is run again with a forward hook on every module that
labels the ops recorded since the module's inputs with the module's name (the innermost module wins).

These run only after something went wrong, so they may take their time; they leave the model's parameters,
buffers, gradients and the default random generator as they found them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.autograd import count_consumers, enable_grad
from chainrule.diagnostics.layers import tensors_in
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["Origin", "backward_origin", "forward_origin", "locate_in_backward", "locate_in_forward"]


@dataclass
class Origin:
    """Where a non-finite value appeared. what: 'input', 'parameter' or 'op'; op: the op's name ('log', 'div'
    ...); layer: the dotted module name ('' for the model's own forward, None outside the model: in the loss);
    layer_kind: the module's class name; parameter: the parameter's name; value: 'NaN' or 'Inf'; stage:
    'forward' or 'backward'."""

    what: str
    op: str | None = None
    layer: str | None = None
    layer_kind: str | None = None
    parameter: str | None = None
    value: str = "NaN"
    stage: str = "forward"

    def describe(self) -> str:
        if self.what == "parameter":
            return f"parameter '{self.parameter}' already holds {self.value}"
        if self.what == "input":
            return f"an input of the batch already holds {self.value}"
        where = ""
        if self.layer is not None:
            where = " in layer " + (f"'{self.layer}' ({self.layer_kind})" if self.layer else "the model's forward")
        elif self.what == "op":
            where = " outside the model (in the loss function)"
        return f"op '{self.op}'{where}"


def _finite(array: np.ndarray) -> bool:
    if array.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(array).all())


def _kind_of(array: np.ndarray) -> str:
    return "NaN" if np.isnan(array).any() else "Inf"


def _graph(root: Tensor) -> list[Tensor]:
    """Every tensor reachable from `root` through recorded ops (root included), each once."""
    seen = {id(root)}
    order = [root]
    stack = [root]
    while stack:
        node = stack.pop()._node
        if node is None or node[0] is None:
            continue
        for parent in node[0]:
            if id(parent) not in seen:
                seen.add(id(parent))
                order.append(parent)
                stack.append(parent)
    return order


# -- labels: which module ran which op ---------------------------------------------------------------------


class Labels:
    """id(tensor) -> dotted module name for the ops recorded during a forward pass with `labelled(model)`; also
    keeps the module names in call order and a name for each parameter."""

    def __init__(self, model: Module) -> None:
        self.model = model
        self.names = {id(module): name for name, module in model.named_modules()}
        self.kinds = {name: type(module).__name__ for name, module in model.named_modules()}
        self.parameters = {id(p): name for name, p in model.named_parameters()}
        self.of: dict[int, str] = {}
        self.order: list[str] = []
        self.keep: list[Tensor] = []  # the labelled tensors stay alive, so their ids stay theirs

    def hook(self, module: Module, args: Any, output: Any) -> None:
        name = self.names.get(id(module))
        if name is None:
            return
        if name not in self.order:
            self.order.append(name)
        stop = {id(t) for t in tensors_in(args)}
        stack = [t for t in tensors_in(output)]
        while stack:
            tensor = stack.pop()
            key = id(tensor)
            if key in stop or key in self.of or tensor._node is None or tensor._node[0] is None:
                continue
            self.of[key] = name
            self.keep.append(tensor)
            stack.extend(tensor._node[0])

    def layer(self, tensor: Tensor) -> tuple[str | None, str | None]:
        name = self.of.get(id(tensor))
        return (name, None if name is None else self.kinds.get(name))

    def rank(self, name: str | None) -> int:
        return self.order.index(name) if name in self.order else len(self.order)


@contextmanager
def labelled(model: Module) -> Iterator[Labels]:
    """Forward hooks on every module of `model` that label the ops their forward records (removed on exit)."""
    labels = Labels(model)
    handles = [module.register_forward_hook(labels.hook) for _, module in model.named_modules()]
    try:
        yield labels
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _preserved(model: Module) -> Iterator[None]:
    """Parameters, buffers, gradients, mode and the default generator are put back as they were."""
    state = {key: np.array(value.data, copy=True) for key, value in model.state_dict().items()}
    grads = [(p, p.grad) for p in model.parameters()]
    rng = _random.get_rng_state()
    training = model.training
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        model.load_state_dict(state)
        for param, grad in grads:
            param.grad = grad
        _random.set_rng_state(rng)
        model.train(training)


# -- the searches -----------------------------------------------------------------------------------------


def forward_origin(root: Tensor, labels: Labels | None = None) -> Origin | None:
    """The first place a non-finite value appears in the graph that made `root`: an op whose inputs are finite
    and output is not, else a parameter or an input that is not finite. None when everything is finite."""
    candidates: list[tuple[int, Origin]] = []
    parameters = labels.parameters if labels is not None else {}
    for tensor in _graph(root):
        data = tensor.data
        if _finite(data):
            continue
        node = tensor._node
        if node is None or node[0] is None:
            if id(tensor) in parameters:
                origin = Origin("parameter", parameter=parameters[id(tensor)], value=_kind_of(data))
                candidates.append((-1, origin))
            else:
                candidates.append((-1, Origin("input", value=_kind_of(data))))
            continue
        if all(_finite(parent.data) for parent in node[0]):
            layer, kind = labels.layer(tensor) if labels is not None else (None, None)
            origin = Origin("op", op=node[2], layer=layer, layer_kind=kind, value=_kind_of(data))
            candidates.append((labels.rank(layer) if labels is not None else 0, origin))
    if not candidates:
        return None
    candidates.sort(key=lambda item: item[0])
    return candidates[0][1]


def backward_origin(root: Tensor, labels: Labels | None = None) -> Origin | None:
    """Walk the graph of `root` (a scalar) in reverse, as backward does, without storing gradients; the op whose
    backward first turns a finite gradient into a non-finite one. None when every gradient stays finite."""
    consumers = count_consumers(root)
    partial: dict[int, np.ndarray] = {}
    ready = [(root, np.ones(root.data.shape, dtype=root.data.dtype))]
    while ready:
        tensor, grad = ready.pop()
        node = tensor._node
        if node is None or node[0] is None:
            continue
        parents, backward_fn, op = node
        incoming_finite = _finite(grad)  # before the call: a backward may overwrite the gradient (autograd.owns)
        grads = backward_fn(grad)
        for parent, parent_grad in zip(parents, grads):
            if not parent.requires_grad:
                continue
            if parent_grad is not None and incoming_finite and not _finite(parent_grad):
                layer, kind = labels.layer(tensor) if labels is not None else (None, None)
                return Origin("op", op=op, layer=layer, layer_kind=kind, value=_kind_of(parent_grad), stage="backward")
            key = id(parent)
            consumers[key] -= 1
            if parent_grad is not None:
                earlier = partial.get(key)
                partial[key] = parent_grad if earlier is None else earlier + parent_grad
            if consumers[key] == 0:
                total = partial.pop(key, None)
                if total is None:
                    total = np.zeros(parent.data.shape, dtype=parent.data.dtype)
                ready.append((parent, total))
    return None


def locate_in_forward(model: Module, inputs: tuple[Any, ...], loss_fn: Callable | None, target: Any) -> Origin | None:
    """Run the forward (and the loss, when `loss_fn` is given) of one batch again with labelling hooks and find
    where the first non-finite value appears. The model and the generator are left as they were."""
    with _preserved(model), enable_grad(), labelled(model) as labels:
        output = model(*inputs)
        origin = None
        for tensor in tensors_in(output):
            origin = forward_origin(tensor, labels)
            if origin is not None:
                return origin
        if loss_fn is not None and isinstance(output, Tensor):
            loss = loss_fn(output, target)
            if isinstance(loss, Tensor):
                origin = forward_origin(loss, labels)
        return origin


def locate_in_backward(model: Module, inputs: tuple[Any, ...], loss_fn: Callable, target: Any) -> Origin | None:
    """Run one batch's forward and loss again with labelling hooks, then walk its backward: the op whose backward
    first made a gradient non-finite. The model, its gradients and the generator are left as they were."""
    with _preserved(model), enable_grad(), labelled(model) as labels:
        output = model(*inputs)
        loss = loss_fn(output, target)
        if not isinstance(loss, Tensor) or not loss.requires_grad or loss.data.size != 1:
            return None
        origin = forward_origin(loss, labels)
        if origin is not None:  # the rerun's loss is not finite (the batch draws other random numbers)
            return origin
        return backward_origin(loss, labels)
