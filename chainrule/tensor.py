"""Tensor: an ndarray, its gradient, and the operator methods.

The methods are thin: each is one of the functions in `chainrule.ops`, bound at the bottom of this file, so
`a + b` and `chainrule.add(a, b)` run the same code. Ops build their results with `result()`, which records
the graph node only when grad mode is on and some input requires grad.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ArgumentError, BackwardError, DimError, DTypeError, ShapeError

_grad_mode = autograd.grad_mode
_new = object.__new__

DTypeLike = Any
"""A NumPy dtype, a dtype name ('float32'), or a chainrule dtype alias (`chainrule.float32`)."""


def is_floating(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def as_dtype(dtype: DTypeLike, argument: str = "dtype") -> np.dtype:
    """Resolve a user's dtype (numpy dtype, name, Python type) to a numpy dtype, or raise DTypeError."""
    if dtype is float:
        return np.dtype(np.float32)  # Python floats become float32, the library default
    if dtype is int:
        return np.dtype(np.int64)
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise DTypeError(f"{argument}: expected a dtype such as chainrule.float32, got {dtype!r}") from error
    if resolved.kind not in "fiub":
        raise DTypeError(f"{argument}: chainrule supports float, int and bool dtypes, got {resolved}")
    return resolved


def as_array(data: Any, dtype: DTypeLike | None = None) -> np.ndarray:
    """An ndarray for `data`, following the dtype policy.

    Python floats (and lists of them) become float32; Python ints int64; bools bool. A NumPy array keeps its
    dtype (float64 stays float64). `dtype`, when given, wins.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=as_dtype(dtype))
    if isinstance(data, np.ndarray | np.generic):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
    if array.dtype.kind not in "fiub":
        raise DTypeError(f"tensor: expected numbers or booleans, got an array of dtype {array.dtype}")
    return array


class Tensor:
    """An n-dimensional array that records the ops applied to it, for reverse-mode differentiation.

    data: the values, an `np.ndarray`. grad: a Tensor of the same shape, accumulated by `backward()` on
    leaves that require grad, else None. requires_grad: whether ops on it are recorded.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_hooks", "__weakref__")
    # ndarray (op) Tensor would otherwise be computed by NumPy elementwise; this sends it to our reflected op.
    __array_ufunc__ = None

    data: np.ndarray
    grad: Tensor | None
    requires_grad: bool

    def __init__(self, data: Any, requires_grad: bool = False, dtype: DTypeLike | None = None) -> None:
        self.data = as_array(data, dtype)
        self.grad = None
        self.requires_grad = False
        self._node = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(data: np.ndarray) -> Tensor:
        """A plain Tensor leaf around an ndarray, no checks, no copy: the fast path for library code."""
        tensor = _new(Tensor)
        tensor.data = data
        tensor.grad = None
        tensor.requires_grad = False
        tensor._node = None
        tensor._hooks = None
        return tensor

    # -- attributes -------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (and for results of ops that nothing required grad of)."""
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """The name of the op that made this tensor, or None for a leaf."""
        return None if self._node is None else self._node[2]

    @property
    def T(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """The dimensions reversed (a transpose for 2-D)."""
        return self.permute(*range(self.data.ndim - 1, -1, -1))

    @property
    def mT(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """The last two dimensions swapped (a batched matrix transpose)."""
        return self.transpose(-2, -1)

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or its size along `dim`."""
        if dim is None:
            return self.data.shape
        from chainrule.ops._util import normalize_dim

        return self.data.shape[normalize_dim(dim, self.data.ndim, "size")]

    def numel(self) -> int:
        return self.data.size

    def element_size(self) -> int:
        return self.data.itemsize

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # Identity hashing in C (not a Python-level __hash__): tensors are dict keys in optimizer state and hooks.
    __hash__ = object.__hash__

    # -- conversions ------------------------------------------------------------------------------------
    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ArgumentError(
                f"item(): only a tensor of one element converts to a Python number; this one has shape "
                f"{tuple(self.data.shape)}"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None or np.dtype(dtype) == self.data.dtype:
            return self.data.copy() if copy else self.data
        return self.data.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ArgumentError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.data.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be converted to an index")
        return int(self.data.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.data.dtype != np.float32 and self.data.dtype != np.int64 and self.data.dtype != np.bool_:
            extras.append(f"dtype={self.data.dtype}")
        elif self.data.size == 0:
            extras.append(f"size={tuple(self.data.shape)}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node[2]}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # -- autograd -------------------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into the `.grad` of every leaf it depends on.

        gradient: d(loss)/d(self), of self's shape; optional when self holds one element.
        retain_graph: keep the graph so that backward can be called through it again.
        """
        autograd.backward(self, gradient, retain_graph)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` in place; only floating-point tensors can require grad."""
        if requires_grad and not is_floating(self.data.dtype):
            raise DTypeError(
                f"requires_grad: only floating-point tensors can require gradients, this one is {self.data.dtype}"
            )
        if not requires_grad and self._node is not None:
            raise BackwardError("requires_grad_(False) on a non-leaf tensor: use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """The same data (shared), cut from the graph, not requiring grad."""
        return Tensor._wrap(self.data)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in `.grad` during backward."""
        if self._node is None:
            return  # leaves keep their gradient anyway

        def store(grad: np.ndarray) -> None:
            if self.grad is None:
                self.grad = Tensor._wrap(np.array(grad, copy=True))
            else:
                self.grad.data += grad

        self.register_hook(store)

    def register_hook(self, hook: Callable[[np.ndarray], np.ndarray | None]) -> Callable[[], None]:
        """Call `hook(grad)` with this tensor's gradient (an ndarray) during backward; a returned array
        replaces the gradient. Returns a function that removes the hook."""
        if not self.requires_grad:
            raise BackwardError("register_hook: the tensor does not require grad, so it never gets a gradient")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove

    # -- in-place edits, outside the graph ---------------------------------------------------------------
    def _check_inplace(self, name: str) -> None:
        if self.requires_grad and _grad_mode.enabled:
            raise BackwardError(
                f"{name}: an in-place edit of a tensor that requires grad would corrupt its gradient; "
                "wrap the update in `with chainrule.no_grad():` (as optimizers do) or use the out-of-place op"
            )

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value: float) -> Tensor:
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, source: Any) -> Tensor:
        """Copy values from `source` (broadcast to this shape) into this tensor's array."""
        self._check_inplace("copy_")
        values = source.data if isinstance(source, Tensor) else np.asarray(source)
        from chainrule.ops._util import check_broadcast

        check_broadcast(values.shape, self.data.shape, "copy_")
        np.copyto(self.data, values, casting="unsafe")
        return self

    def _inplace(self, name: str, other: Any, ufunc: np.ufunc) -> Tensor:
        self._check_inplace(name)
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data, casting="same_kind")
        except (ValueError, TypeError) as error:
            shape = np.shape(value)
            raise ArgumentError(
                f"{name}: cannot update a {self.data.dtype} tensor of shape {tuple(self.data.shape)} in place "
                f"with a value of shape {tuple(shape)} and dtype {np.result_type(value)}: {error}"
            ) from None
        return self

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        if alpha != 1.0:
            other = (other.data if isinstance(other, Tensor) else np.asarray(other)) * alpha
        return self._inplace("add_", other, np.add)

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        if alpha != 1.0:
            other = (other.data if isinstance(other, Tensor) else np.asarray(other)) * alpha
        return self._inplace("sub_", other, np.subtract)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", other, np.multiply)

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", other, np.divide)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        self._check_inplace("clamp_")
        np.clip(self.data, min, max, out=self.data)
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace("+=", other, np.add)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace("-=", other, np.subtract)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace("*=", other, np.multiply)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace("/=", other, np.divide)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("index assignment")
        from chainrule.ops.indexing import normalize_index

        try:
            self.data[normalize_index(index)] = value.data if isinstance(value, Tensor) else value
        except IndexError as error:
            raise DimError(f"index assignment: {error} (tensor shape {tuple(self.data.shape)})") from None
        except ValueError as error:
            raise ShapeError(
                f"index assignment: a value of shape {np.shape(value)} does not fit the indexed part of a tensor "
                f"of shape {tuple(self.data.shape)}: {error}"
            ) from None

    # -- dtype conversions ----------------------------------------------------------------------------------
    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type(self, dtype: DTypeLike) -> Tensor:
        return self.to(dtype)

    def to(self, dtype: DTypeLike | str | None = None, *args: Any, **kwargs: Any) -> Tensor:
        """A tensor of `dtype` (self when it has it already); a device of 'cpu' is accepted and ignored."""
        target = kwargs.pop("dtype", dtype)
        if isinstance(target, str) and target == "cpu":
            target = args[0] if args else None
        if target is None:
            return self
        from chainrule.ops.elementwise import cast

        return cast(self, target)

    def cpu(self) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        """A copy of the data; the gradient flows back to self."""
        from chainrule.ops.elementwise import clone

        return clone(self)


def result(data: np.ndarray, parents: tuple[Tensor, ...], backward: Callable, op: str) -> Tensor:
    """The output Tensor of an op: records `(parents, backward, op)` when grad mode is on and some parent
    requires grad. `backward(grad_out)` returns one gradient (or None) per parent, in the parents' shapes."""
    if data.__class__ is not np.ndarray:
        data = np.asarray(data)  # NumPy returns scalars, not 0-d arrays, from ufuncs on 0-d inputs
    tensor = _new(Tensor)
    tensor.data = data
    tensor.grad = None
    tensor._hooks = None
    if _grad_mode.enabled:
        for parent in parents:
            if parent.requires_grad:
                tensor.requires_grad = True
                tensor._node = (parents, backward, op)
                return tensor
    tensor.requires_grad = False
    tensor._node = None
    return tensor


def constant(data: np.ndarray) -> Tensor:
    """A result that is never part of the graph: integer outputs, comparisons, argmax."""
    return Tensor._wrap(data)


def as_tensor_arg(value: Any, like: np.ndarray | None = None) -> Tensor:
    """A Tensor for an op's operand: Tensors pass through; arrays and numbers are wrapped as constants.

    Python numbers take `like`'s dtype when it is floating, so `x32 * 2.0` stays float32.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    if like is not None and isinstance(value, int | float | bool) and like.dtype.kind == "f":
        return Tensor._wrap(np.asarray(value, dtype=like.dtype))
    return Tensor._wrap(as_array(value))


def tensors_of(values: Sequence[Any], op: str) -> list[Tensor]:
    """Check that a sequence argument (cat, stack) holds tensors, and return them as a list."""
    if isinstance(values, Tensor) or not isinstance(values, Sequence):
        raise ArgumentError(f"{op}: expected a list or tuple of tensors, got {type(values).__name__}")
    if len(values) == 0:
        raise ArgumentError(f"{op}: expected a non-empty list of tensors, got an empty one")
    return [as_tensor_arg(v) for v in values]


from chainrule import _methods  # noqa: E402,F401  (binds the op methods onto Tensor)
