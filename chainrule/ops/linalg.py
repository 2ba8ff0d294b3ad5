"""Matrix products: `matmul` for 1-D, 2-D and batched N-D operands, `dot`, and the fused `linear`.

For out = a @ b the gradients are grad_a = grad @ b^T and grad_b = a^T @ grad, each summed back over the batch
dims that broadcasting stretched. A gradient is computed only for an operand that requires grad: a network's
input batch never does, which saves one of the two GEMMs of every layer's backward.

Operands must share a dtype (PyTorch refuses float32 @ float64 rather than promoting a model to float64).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import DTypeError, ShapeError, shape_str
from chainrule.ops._util import column_sums, unbroadcast
from chainrule.tensor import Tensor, as_tensor_arg, result


def _operand(value: Any, other: Any) -> Tensor:
    """A Tensor for a matmul operand; a list or number takes the other operand's float dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    like = other.data if isinstance(other, Tensor) else None
    if like is not None and like.dtype.kind == "f":
        return Tensor._wrap(np.asarray(value, dtype=like.dtype))
    return as_tensor_arg(value)


def _rows(array: np.ndarray, columns: int) -> np.ndarray:
    """`array` as (rows, columns), its leading dims folded (a view when it is contiguous); a zero `columns`
    needs the row count spelled out, which -1 cannot infer."""
    if columns:
        return array.reshape(-1, columns)
    return array.reshape(math.prod(array.shape[:-1]), 0)


def _check_dtypes(op: str, *arrays: np.ndarray) -> None:
    first = arrays[0].dtype
    for array in arrays[1:]:
        if array.dtype != first:
            names = " and ".join(str(a.dtype) for a in arrays)
            raise DTypeError(
                f"{op}: operands must have the same dtype, got {names}; convert one (e.g. x.float() or "
                "x.double()) first"
            )


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product with torch.matmul's rules.

    1-D @ 1-D: (k,) @ (k,) -> () (the dot product). 2-D @ 2-D: (n, k) @ (k, m) -> (n, m).
    1-D @ N-D: (k,) is read as (1, k) and the 1 is dropped from the result; N-D @ 1-D: (k,) is read as
    (k, 1) and the 1 is dropped. N-D @ N-D: (*batch_a, n, k) @ (*batch_b, k, m) -> (*batch, n, m) with
    the batch dims broadcast together; the backward sums each gradient back over its broadcast dims.
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = _operand(a, b), _operand(b, a)
    A = a.data  # noqa: N806 (matrices)
    B = b.data  # noqa: N806
    if A.ndim == 0 or B.ndim == 0:
        raise ShapeError(
            f"matmul: both operands need at least 1 dimension, got shapes {shape_str(A.shape)} and "
            f"{shape_str(B.shape)} (use mul for a product with a scalar)"
        )
    inner_b = B.shape[0] if B.ndim == 1 else B.shape[-2]
    if A.shape[-1] != inner_b:
        which = "size" if B.ndim == 1 else "second-to-last dim"
        raise ShapeError(
            f"matmul: shapes {shape_str(A.shape)} and {shape_str(B.shape)} cannot be multiplied: the last dim "
            f"of the first ({A.shape[-1]}) must equal the {which} of the second ({inner_b})"
        )
    if A.dtype != B.dtype:
        _check_dtypes("matmul", A, B)

    if A.ndim == 2 and B.ndim == 2:
        return _matmul_2d(a, b)
    if B.ndim == 2 and A.ndim > 2:
        return _matmul_folded(a, b)
    if A.ndim == 1 and B.ndim == 1:
        return _dot(a, b, "matmul")

    batch_a = A.shape[:-2]
    batch_b = B.shape[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise ShapeError(
            f"matmul: the batch dims of shapes {shape_str(A.shape)} and {shape_str(B.shape)}, "
            f"{shape_str(batch_a)} and {shape_str(batch_b)}, do not broadcast (each must be equal or 1)"
        ) from None
    out = np.matmul(A, B)
    # A 1-D operand is a (1, k) row or a (k, 1) column for the backward; the product's dim it drops comes back.
    a_vector, b_vector = A.ndim == 1, B.ndim == 1
    A2 = A[None, :] if a_vector else A  # noqa: N806
    B2 = B[:, None] if b_vector else B  # noqa: N806

    def backward(grad: np.ndarray) -> tuple:
        if a_vector:
            grad = grad[..., None, :]
        elif b_vector:
            grad = grad[..., None]
        grad_a = grad_b = None
        if a.requires_grad:
            grad_a = unbroadcast(np.matmul(grad, np.swapaxes(B2, -1, -2)), A2.shape).reshape(A.shape)
        if b.requires_grad:
            grad_b = unbroadcast(np.matmul(np.swapaxes(A2, -1, -2), grad), B2.shape).reshape(B.shape)
        return grad_a, grad_b

    return result(out, (a, b), backward, "matmul")


def _matmul_2d(a: Tensor, b: Tensor) -> Tensor:
    """(n, k) @ (k, m): one GEMM forward, at most two backward."""
    A = a.data  # noqa: N806
    B = b.data  # noqa: N806
    out = np.matmul(A, B)

    def backward(grad: np.ndarray) -> tuple:
        return (
            np.matmul(grad, B.T) if a.requires_grad else None,
            np.matmul(A.T, grad) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "matmul")


def _matmul_folded(a: Tensor, b: Tensor) -> Tensor:
    """(*batch, n, k) @ (k, m): the batch folded into the rows, so each product is one GEMM rather than one
    per batch item, and b's gradient is summed over the batch by the GEMM itself."""
    A = a.data  # noqa: N806
    B = b.data  # noqa: N806
    k, m = B.shape
    A2 = _rows(A, k)  # noqa: N806
    out = np.matmul(A2, B).reshape(*A.shape[:-1], m)

    def backward(grad: np.ndarray) -> tuple:
        grad2 = _rows(grad, m)
        return (
            np.matmul(grad2, B.T).reshape(A.shape) if a.requires_grad else None,
            np.matmul(A2.T, grad2) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "matmul")


def _dot(a: Tensor, b: Tensor, op: str) -> Tensor:
    """(k,) . (k,) -> (): the 0-d sum of products. d/da = grad * b, d/db = grad * a."""
    A = a.data  # noqa: N806
    B = b.data  # noqa: N806
    out = np.asarray(np.dot(A, B))  # np.dot of vectors returns a NumPy scalar, not an array

    def backward(grad: np.ndarray) -> tuple:
        return (
            grad * B if a.requires_grad else None,
            grad * A if b.requires_grad else None,
        )

    return result(out, (a, b), backward, op)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The dot product of two 1-D tensors of the same size and dtype: (k,), (k,) -> () (as torch.dot)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = _operand(a, b), _operand(b, a)
    if a.data.ndim != 1 or b.data.ndim != 1:
        raise ShapeError(
            f"dot: expected two 1-D tensors, got shapes {shape_str(a.data.shape)} and {shape_str(b.data.shape)} "
            "(use matmul for matrices)"
        )
    if a.data.shape[0] != b.data.shape[0]:
        raise ShapeError(f"dot: the two vectors must have the same size, got {a.data.shape[0]} and {b.data.shape[0]}")
    _check_dtypes("dot", a.data, b.data)
    return _dot(a, b, "dot")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias, fused (torch.nn.functional.linear).

    x: (*, in_features); weight: (out_features, in_features); bias: (out_features,) or None.
    Returns (*, out_features). The leading dims of x are folded into one (a view for a contiguous x), so
    the forward is one GEMM and the backward at most two GEMMs and a column sum:
    grad_x = grad @ weight, grad_weight = grad2d^T @ x2d, grad_bias = grad2d.sum(0).
    """
    if not isinstance(x, Tensor):
        x = _operand(x, weight)
    if not isinstance(weight, Tensor):
        weight = _operand(weight, x)
    X = x.data  # noqa: N806
    W = weight.data  # noqa: N806
    if W.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got shape {shape_str(W.shape)}")
    out_features, in_features = W.shape
    if X.ndim == 0 or X.shape[-1] != in_features:
        raise ShapeError(
            f"linear: expected input of shape (*, in_features={in_features}) for a weight of shape "
            f"{shape_str(W.shape)}, got input of shape {shape_str(X.shape)}"
        )
    if X.dtype != W.dtype:
        _check_dtypes("linear", X, W)
    X2 = X if X.ndim == 2 else _rows(X, in_features)  # noqa: N806
    out = np.matmul(X2, W.T)
    if bias is not None:
        if not isinstance(bias, Tensor):
            bias = _operand(bias, x)
        if bias.data.shape != (out_features,):
            raise ShapeError(
                f"linear: bias must have shape {shape_str((out_features,))} (out_features), got "
                f"{shape_str(bias.data.shape)}"
            )
        if bias.data.dtype != W.dtype:
            _check_dtypes("linear", X, W, bias.data)
        out += bias.data  # in place on the fresh product: no second output-sized array
    if X.ndim != 2:
        out = out.reshape(*X.shape[:-1], out_features)

    def backward(grad: np.ndarray) -> tuple:
        grad2 = grad if grad.ndim == 2 else _rows(grad, out_features)
        grad_x = grad_w = None
        if x.requires_grad:
            grad_x = np.matmul(grad2, W)
            if X.ndim != 2:
                grad_x = grad_x.reshape(X.shape)
        if weight.requires_grad:
            grad_w = np.matmul(grad2.T, X2)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, (column_sums(grad2) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return result(out, parents, backward, "linear")
