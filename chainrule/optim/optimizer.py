"""Optimizer: the base of every optimizer. Parameter groups, per-parameter state, zero_grad, state_dict.

An optimizer holds `param_groups`, a list of dicts each with 'params' (a list of Tensors) and that group's
hyper-parameters (lr, momentum ...), and `state`, a dict from each parameter to its buffers (NumPy arrays of
the parameter's dtype, and a 'step' count where the algorithm has one). `step()` updates `param.data` in
place with NumPy, outside the graph; parameters whose `.grad` is None are skipped. `state_dict()` uses
PyTorch's layout: state keyed by the parameter's integer index in group order, and groups whose 'params' are
lists of those indices, so a checkpoint round trip continues the run exactly.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from numbers import Real
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.tensor import Tensor

PIECE = 1 << 15
"""Values per piece of an update (see Optimizer._pieces): 128 KB of float32, so a parameter's piece, its
gradient's and its state's stay in L2 cache across the update's passes."""

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
"""What an optimizer takes: Tensors, (name, Tensor) pairs as from `named_parameters()`, or param-group dicts."""


def check_number(
    owner: str,
    name: str,
    value: Any,
    low: float | None = 0.0,
    high: float | None = None,
    high_inclusive: bool = True,
) -> None:
    """Raise ArgumentError unless `value` is a real number in [low, high] (or [low, high) when not
    `high_inclusive`). `owner` names the optimizer or scheduler in the message."""
    valid = isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)
    if valid and low is not None and value < low:
        valid = False
    if valid and high is not None and (value > high or (not high_inclusive and value == high)):
        valid = False
    if valid:
        return
    if low is not None and high is not None:
        expected = f"a number in [{low}, {high}{']' if high_inclusive else ')'}"
    elif low is not None:
        expected = f"a number >= {low}"
    else:
        expected = "a number"
    raise ArgumentError(f"{owner}: {name} must be {expected}, got {value!r}")


class Optimizer:
    """Base class of the optimizers.

    params: an iterable of Tensors, of (name, Tensor) pairs, or of dicts (parameter groups) holding 'params'
    and any hyper-parameters that override `defaults` for that group.
    defaults: the hyper-parameters of every group that does not set its own.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch_buffers: dict[tuple[np.dtype, int], np.ndarray] = {}
        if isinstance(params, Tensor) or not isinstance(params, Iterable):
            raise ArgumentError(
                f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), such as "
                f"model.parameters(), got {type(params).__name__}"
            )
        if isinstance(params, dict):
            raise ArgumentError(
                f"{name}: params is a single dict; pass parameter groups as a list of dicts: [{{'params': ...}}]"
            )
        if isinstance(params, set):
            raise ArgumentError(
                f"{name}: params must be an ordered collection (a list, or model.parameters()), not a set: the "
                "order of a set changes between runs and state_dict() identifies parameters by their position"
            )
        groups = list(params)
        if len(groups) == 0:
            raise ArgumentError(f"{name}: got an empty parameter list; pass model.parameters() or a list of Tensors")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups -------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones are taken from `defaults`).

        Useful to unfreeze layers mid-training. A parameter may belong to one group only.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise ArgumentError(f"{name}.add_param_group: expected a dict with a 'params' key, got {param_group!r}")
        if "params" not in param_group:
            raise ArgumentError(f"{name}.add_param_group: the group has no 'params' key: {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise ArgumentError(
                f"{name}: a parameter group's 'params' must be an ordered collection (a list), not a set: the "
                "order of a set changes between runs and state_dict() identifies parameters by their position"
            )
        else:
            params = list(params)

        tensors: list[Tensor] = []
        names: list[str] = []
        for param in params:
            if isinstance(param, tuple) and len(param) == 2 and isinstance(param[0], str):
                names.append(param[0])
                param = param[1]
            tensors.append(param)
        if names and len(names) != len(tensors):
            raise ArgumentError(
                f"{name}: give every parameter of a group a name, or none: {len(names)} of {len(tensors)} are named"
            )
        for index, param in enumerate(tensors):
            label = names[index] if names else f"parameter {index}"
            if not isinstance(param, Tensor):
                raise ArgumentError(f"{name}: can only optimize Tensors, but {label} is a {type(param).__name__}")
            if param.data.dtype.kind != "f":
                raise ArgumentError(
                    f"{name}: can only optimize floating-point tensors, but {label} has dtype {param.data.dtype}"
                )
            if not param.is_leaf:
                raise ArgumentError(
                    f"{name}: can't optimize a non-leaf tensor ({label} is the result of op '{param.grad_fn}'); "
                    "optimize the leaves it was computed from, or .detach() it and set requires_grad"
                )
        if len({id(p) for p in tensors}) != len(tensors):
            raise ArgumentError(f"{name}: a parameter group lists the same parameter more than once")
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in existing for p in tensors):
            raise ArgumentError(f"{name}: some parameters appear in more than one parameter group")
        for group in self.param_groups:
            if ("param_names" in group) != bool(names):
                raise ArgumentError(
                    f"{name}: all parameter groups must be with names or all without; cannot add a group "
                    f"{'with' if names else 'without'} names"
                )

        group = {key: value for key, value in param_group.items() if key != "params"}
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyper-parameters; subclasses raise ArgumentError for values out of range."""

    # -- gradients and steps -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to None (the default, cheaper), or to zeros in place."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    if set_to_none:
                        param.grad = None
                    else:
                        param.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once from their `.grad`. `closure`, when given, re-evaluates the model
        (zero_grad, forward, backward) and returns the loss, which `step` returns."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _evaluate(self, closure: Callable[[], Any] | None) -> Any:
        """Run `closure` with grad mode on (step may be called under no_grad), as PyTorch does."""
        if closure is None:
            return None
        with autograd.enable_grad():
            return closure()

    def _with_grads(self, group: dict[str, Any]) -> Iterator[tuple[Tensor, np.ndarray, np.ndarray]]:
        """(parameter, its array, its gradient's array) for each parameter of `group` that has a gradient."""
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.data.shape != p.data.shape:
                raise ShapeError(
                    f"{type(self).__name__}.step: a parameter of shape {shape_str(p.data.shape)} has a .grad of "
                    f"shape {shape_str(grad.data.shape)}; a gradient must have its parameter's shape"
                )
            yield p, p.data, grad.data

    def _pieces(self, *arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        """Matching pieces of same-shaped arrays (a parameter, its gradient, its state): flat slices of at most
        PIECE values each, or the arrays whole when they are small or not all C-contiguous.

        An update is a handful of elementwise passes. Over whole arrays, each pass streams every array from
        memory again (a weight of W1's first layer is 800 KB, and the GEMMs before the step have evicted it);
        piece by piece, the arrays are read from memory once and the later passes find the piece in cache:
        SGD with momentum ran about a fifth faster so on W1's parameters. Each piece is updated exactly as the
        whole array would be, value for value.
        """
        size = arrays[0].size
        if size <= PIECE or not all(array.flags.c_contiguous for array in arrays):
            yield arrays
            return
        flats = [array.reshape(-1) for array in arrays]
        for start in range(0, size, PIECE):
            yield tuple(flat[start : start + PIECE] for flat in flats)

    def _adjusted_grad(self, param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool) -> np.ndarray:
        """The gradient the update follows: negated with `maximize`, plus weight_decay * param (the L2 penalty,
        coupled). In scratch slot 0 when it differs from `grad`, which is never written."""
        if weight_decay != 0:
            decayed = np.multiply(param, weight_decay, out=self._scratch(param, 0))
            return np.subtract(decayed, grad, out=decayed) if maximize else np.add(decayed, grad, out=decayed)
        if maximize:
            return np.negative(grad, out=self._scratch(param, 0))
        return grad

    def _scratch(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A reusable work array of `like`'s shape and dtype (contents undefined).

        One flat buffer per (dtype, slot), grown to the largest parameter, so a step allocates nothing.
        Two arrays of the same slot share memory: a step uses distinct slots for values alive together.
        """
        key = (like.dtype, slot)
        flat = self._scratch_buffers.get(key)
        size = like.size
        if flat is None or flat.size < size:
            flat = np.empty(size, dtype=like.dtype)
            self._scratch_buffers[key] = flat
        return flat[:size].reshape(like.shape)

    # -- state_dict ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        {'state': {index: {'step': ..., 'exp_avg': ndarray, ...}}, 'param_groups': [{'lr': ..., 'params':
        [index, ...]}, ...]}: a parameter's index is its position counting through the groups in order. As in
        PyTorch, the state's arrays are the optimizer's own (not copies): `copy.deepcopy` the result to keep a
        snapshot while training goes on.
        """
        indices: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                indices.setdefault(id(param), len(indices))
            packed["params"] = [indices[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            (indices[id(key)] if isinstance(key, Tensor) else key): value
            for key, value in self.state.items()
            if not isinstance(key, Tensor) or id(key) in indices
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from `state_dict()` (ours, or PyTorch's with its tensors): the groups must match this
        optimizer's in number and size. Arrays are copied and cast to their parameter's dtype."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ArgumentError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups', as from state_dict()"
            )
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ArgumentError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, this optimizer has "
                f"{len(self.param_groups)}"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ArgumentError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters in the "
                    f"state and {len(group['params'])} in this optimizer"
                )
        id_map = {
            saved_id: param
            for group, saved in zip(self.param_groups, saved_groups)
            for saved_id, param in zip(saved["params"], group["params"])
        }

        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = {k: _restore(v, k, param.data.dtype) for k, v in value.items()}
            else:
                state[key] = copy.deepcopy(value)

        param_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            if isinstance(saved.get("betas"), list):  # formats that store tuples as lists (JSON)
                saved["betas"] = tuple(saved["betas"])
            param_groups.append(saved)
        self.state = state
        self.param_groups = param_groups

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch_buffers = {}

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key not in ("params", "param_names"))
        lines.append(")")
        return "\n".join(lines)


def _restore(value: Any, key: str, dtype: np.dtype) -> Any:
    """A loaded state value as the optimizer keeps it: arrays (ours, Tensors, torch tensors) become owned
    ndarrays of the parameter's dtype; 'step' becomes a Python number."""
    if isinstance(value, Tensor):
        value = value.data
    if key == "step":
        step = float(np.asarray(value)) if not isinstance(value, int | float) else value
        return int(step) if float(step).is_integer() else step
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        array = np.asarray(value)  # not np.array(copy=True): torch tensors' __array__ takes no copy argument
        if array.dtype.kind == "f" and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy()
    return copy.deepcopy(value)
