"""The engine: grad mode, the node record, and `backward` in reverse topological order.

A Tensor made by an op carries `_node = (parents, backward, op_name)`. `backward(grad_out)` is the op's
closure: it returns one gradient (an ndarray, or None) per parent, already summed back to that parent's
shape. A leaf has `_node = None`. That is the whole record; this file walks it.

The walk is iterative (a 10,000-op chain needs no recursion) and uses Kahn's order: first count, for each
tensor, how many recorded ops consume it; then start at the root and hand a tensor's gradient to its op only
when every consumer has contributed to it. Each gradient is dropped as soon as it has been used, and each
node's closure is released unless `retain_graph=True`, so memory falls as the walk proceeds.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from chainrule.errors import BackwardError, ShapeError, shape_str

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode:
    """Whether ops record the graph. One flag for the process, as the library runs on one thread."""

    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = True


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return grad_mode.enabled


class set_grad_enabled:  # noqa: N801 (PyTorch's name)
    """Set grad mode on or off: as a call, a context manager (restoring the previous mode) or a decorator."""

    def __init__(self, mode: bool) -> None:
        self.previous = grad_mode.enabled
        self.mode = bool(mode)
        grad_mode.enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        grad_mode.enabled = self.previous

    def __call__(self, fn: F) -> F:
        grad_mode.enabled = self.previous  # as a decorator, the constructor call must not change the mode
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _GradModeContext:
    mode = True

    def __init__(self) -> None:
        self.previous: list[bool] = []

    def __enter__(self) -> None:
        self.previous.append(grad_mode.enabled)
        grad_mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        grad_mode.enabled = self.previous.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):  # noqa: N801 (PyTorch's name)
    """Ops inside record nothing: for evaluation and for parameter updates. Context manager or decorator."""

    mode = False


class enable_grad(_GradModeContext):  # noqa: N801 (PyTorch's name)
    """Turn recording back on inside a `no_grad` block. Context manager or decorator."""

    mode = True


def _raise_freed(op: str) -> None:
    raise BackwardError(
        f"backward through the graph a second time: the saved values of op '{op}' were freed by the first "
        "backward(); pass retain_graph=True to the first call if you need to backward twice"
    )


# -- who holds a gradient ------------------------------------------------------------------------------------
# The walk below hands each gradient array to one function at a time and keeps no other reference to it. When
# nothing else holds the array either (no other gradient in flight, no hook, no closure, no view of it), the
# function it is handed to may keep it (a leaf's .grad, without a copy) or overwrite it (an op's backward,
# writing its result into the gradient's own memory, which is still in cache, instead of a fresh array: relu's
# backward runs twice as fast so on LeNet's first layer). sys.getrefcount tells: its count for an array that
# only the walk holds is measured below on this interpreter, through the same calls, rather than assumed (what
# a call adds to the count differs between Python versions). Any other holder adds at least one reference, so
# the check can only err towards copying.


def _references_in_callee(array: np.ndarray) -> int:
    return sys.getrefcount(array)


def _references_two_calls_down(array: np.ndarray) -> int:
    return _references_in_callee(array)


def _unshared_references() -> tuple[int, int]:
    """(count seen by a function the walk calls with its local, count seen by a function that an op's
    backward calls with its argument) for an array held by nothing else."""
    array = np.empty(1)
    return _references_in_callee(array), _references_two_calls_down(array)


_UNSHARED_IN_LEAF, _UNSHARED_IN_OP = _unshared_references()


def owns(grad: np.ndarray) -> bool:
    """Whether an op's backward, called by `backward` below, may overwrite the gradient `grad` it was handed
    and return it as (part of) its result. Call it directly from the backward closure, on its argument."""
    return grad.base is None and grad.flags.writeable and sys.getrefcount(grad) <= _UNSHARED_IN_OP


def _accumulate_leaf(leaf: Any, grad: np.ndarray) -> None:
    """Add `grad` into `leaf.grad`, as PyTorch does. Take the array without a copy when nobody else holds it."""
    if grad.dtype != leaf.data.dtype:
        grad = grad.astype(leaf.data.dtype)
    current = leaf.grad
    if current is None:
        # Held by nothing but the walk: it can become the leaf's .grad without a copy. Otherwise copy, or an
        # in-place edit of one leaf's grad (clipping, accumulation) would change another's.
        if grad.base is not None or sys.getrefcount(grad) > _UNSHARED_IN_LEAF or not grad.flags.writeable:
            grad = np.array(grad, copy=True)
        leaf.grad = leaf._wrap(grad)
    elif current.data.shape == grad.shape:
        current.data += grad
    else:
        raise ShapeError(
            f"backward: the existing .grad of a leaf has shape {shape_str(current.data.shape)} but the new "
            f"gradient has shape {shape_str(grad.shape)}"
        )


def count_consumers(root: Any) -> dict[int, int]:
    """{id(tensor): how many recorded ops consume it} for every tensor that requires grad in root's graph
    (root: 0). The first pass of any reverse walk in Kahn's order (backward's, the doctor's NaN search)."""
    consumers: dict[int, int] = {id(root): 0}
    stack = [root]
    while stack:
        node = stack.pop()._node
        if node is None or node[0] is None:
            continue
        for parent in node[0]:
            if parent.requires_grad:
                key = id(parent)
                if key in consumers:
                    consumers[key] += 1
                else:
                    consumers[key] = 1
                    stack.append(parent)
    return consumers


def backward(root: Any, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into every leaf's `.grad` that requires grad.

    root: the Tensor to differentiate. gradient: d(loss)/d(root) with root's shape; may be omitted when root
    holds a single element (it is then 1). retain_graph: keep the closures so the graph can be walked again.
    """
    if not root.requires_grad:
        raise BackwardError(
            "backward: the tensor does not require grad and has no recorded op; "
            "did an input have requires_grad=True, and was grad mode on (not inside no_grad())?"
        )
    data = root.data
    if gradient is None:
        if data.size != 1:
            raise BackwardError(
                f"backward: a gradient can be implied only for a tensor of one element; this one has shape "
                f"{shape_str(data.shape)}: pass gradient= with that shape (or reduce it to a scalar first)"
            )
        grad = np.array(1, dtype=data.dtype).reshape(data.shape)  # np.ones costs 4x more on a scalar
    else:
        raw = gradient if isinstance(gradient, np.ndarray) else getattr(gradient, "data", gradient)
        grad = np.asarray(raw, dtype=data.dtype)
        if grad.shape != data.shape:
            raise ShapeError(
                f"backward: gradient= must have the tensor's shape {shape_str(data.shape)}, got {shape_str(grad.shape)}"
            )

    consumers = count_consumers(root)  # pass 1

    # Pass 2: Kahn's order from the root; a tensor is processed once all its consumers have handed it theirs.
    # Most tensors have one consumer: their gradient goes straight onto the ready stack. Only tensors with
    # several consumers park partial sums in `partial` until the last one has contributed.
    partial: dict[int, np.ndarray] = {}
    ready = [(root, grad)]
    del grad
    while ready:
        tensor, grad = ready.pop()
        hooks = tensor._hooks
        if hooks is not None:
            for hook in hooks:
                replaced = hook(grad)
                if replaced is not None:
                    grad = replaced
        node = tensor._node
        if node is None:
            _accumulate_leaf(tensor, grad)
            continue
        parents, backward_fn, op = node
        if parents is None:
            _raise_freed(op)
        parent_grads = backward_fn(grad)
        del grad
        if not retain_graph:
            tensor._node = (None, None, op)
        parent_grad = None
        for parent, parent_grad in zip(parents, parent_grads):
            if not parent.requires_grad:
                continue
            key = id(parent)
            remaining = consumers[key] - 1
            consumers[key] = remaining
            if remaining:
                if parent_grad is not None:
                    earlier = partial.get(key)
                    partial[key] = parent_grad if earlier is None else earlier + parent_grad
                continue
            if partial:
                earlier = partial.pop(key, None)
                if earlier is not None:
                    parent_grad = earlier if parent_grad is None else earlier + parent_grad
            if parent_grad is None:  # every consumer passed None: the gradient is zero
                parent_grad = np.zeros(parent.data.shape, dtype=parent.data.dtype)
            ready.append((parent, parent_grad))
        del parent_grads, parent_grad
