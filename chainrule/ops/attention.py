"""Scaled dot-product attention, as one fused op (torch.nn.functional.scaled_dot_product_attention).

Forward, for query Q (*, L, E), key K (*, S, E), value V (*, S, Ev) and an optional mask M:

    A = scale * Q K^T + M        (*, L, S)   a bool mask sets the blocked scores to -inf instead
    P = softmax(A, dim=-1)       (*, L, S)   a row whose scores are all -inf gives P = 0 (see below)
    P' = P * D                   (*, L, S)   D: the inverted-dropout mask (0 or 1 / (1 - p)), or 1
    O = P' V                     (*, L, Ev)

Backward, from dO, in closed form (no graph of small ops): dV = P'^T dO; dP = (dO V^T) * D; the softmax
backward dA = P * (dP - sum(dP * P, -1)); dM = dA (summed over broadcast dims); dQ = scale * dA K;
dK = scale * dA^T Q. Batch dims broadcast between the operands and the mask; each gradient is summed back to
its operand's shape.

Fully masked rows: when every key of a query row is blocked (a bool mask all False, or a float mask all -inf
on that row), the row of P is all zeros, so the output row is 0 and no gradient flows through it. PyTorch
2.13's scaled_dot_product_attention does the same (its "safe softmax"); a plain softmax would give NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import grad_mode
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.ops._util import unbroadcast
from chainrule.ops.dropout import check_probability
from chainrule.random import numpy_generator
from chainrule.tensor import Tensor, as_tensor_arg, result

__all__ = ["attention", "scaled_dot_product_attention"]

_OP = "scaled_dot_product_attention"


def _operand(value: Any, name: str, op: str) -> Tensor:
    x = value if isinstance(value, Tensor) else as_tensor_arg(value)
    if x.data.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be a floating-point tensor, got dtype {x.data.dtype}")
    if x.data.ndim < 2:
        raise ShapeError(
            f"{op}: {name} must have at least 2 dims (*, sequence, features), got shape {shape_str(x.data.shape)}"
        )
    return x


def _mask_operand(attn_mask: Any, dtype: np.dtype, op: str) -> Tensor:
    mask = attn_mask if isinstance(attn_mask, Tensor) else as_tensor_arg(attn_mask)
    kind = mask.data.dtype
    if kind != np.bool_ and kind != dtype:
        raise DTypeError(
            f"{op}: attn_mask must be bool (True = take part) or a float mask of the query's dtype {dtype} "
            f"(added to the scores), got dtype {kind}"
        )
    return mask


def _repeat_heads(array: np.ndarray, groups: int) -> np.ndarray:
    """Grouped-query attention: each key/value head serves `groups` consecutive query heads."""
    return array if groups == 1 else np.repeat(array, groups, axis=-3)


def _fold_heads(grad: np.ndarray, groups: int) -> np.ndarray:
    """The inverse of `_repeat_heads` for a gradient: sum over each group of query heads."""
    if groups == 1:
        return grad
    shape = grad.shape
    return grad.reshape(*shape[:-3], shape[-3] // groups, groups, *shape[-2:]).sum(axis=-3)


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    """softmax along the last dim, in place; a row of only -inf becomes zeros (not NaN)."""
    if scores.shape[-1] == 0:
        return scores
    row_max = scores.max(axis=-1, keepdims=True)
    dead = np.isneginf(row_max)
    any_dead = dead.any()
    if any_dead:
        row_max[dead] = 0.0  # exp(-inf - 0) = 0, instead of exp(-inf + inf) = NaN
    scores -= row_max
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    if any_dead:
        total[dead] = 1.0  # 0 / 1: the fully masked row stays 0
    scores /= total
    return scores


def attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    need_weights: bool = False,
    op: str = _OP,
) -> tuple[Tensor, Tensor | None]:
    """scaled_dot_product_attention that can also return the attention weights P' (after dropout) as a
    second, differentiable tensor of shape (*, L, S) (None unless need_weights). Both outputs share one
    forward pass; MultiheadAttention uses this for its `need_weights=True`. `op` names the caller in errors."""
    q = _operand(query, "query", op)
    k = _operand(key, "key", op)
    v = _operand(value, "value", op)
    Q, K, V = q.data, k.data, v.data  # noqa: N806 (matrices)
    dtype = Q.dtype
    if K.dtype != dtype or V.dtype != dtype:
        raise DTypeError(f"{op}: query, key and value must have the same dtype, got {Q.dtype}, {K.dtype} and {V.dtype}")
    L, E = Q.shape[-2:]  # noqa: N806
    S = K.shape[-2]  # noqa: N806
    if K.shape[-1] != E:
        raise ShapeError(
            f"{op}: query and key must have the same feature size (last dim), got query {shape_str(Q.shape)} and "
            f"key {shape_str(K.shape)}"
        )
    if V.shape[-2] != S:
        raise ShapeError(
            f"{op}: key and value must have the same sequence length (second-to-last dim), got key "
            f"{shape_str(K.shape)} and value {shape_str(V.shape)}"
        )
    groups = 1
    if enable_gqa:
        if Q.ndim < 3 or K.ndim < 3 or V.ndim < 3:
            raise ShapeError(f"{op}: enable_gqa needs query, key and value of shape (*, heads, sequence, features)")
        heads_q, heads_k = Q.shape[-3], K.shape[-3]
        if V.shape[-3] != heads_k or heads_k == 0 or heads_q % heads_k:
            raise ShapeError(
                f"{op}: with enable_gqa, key and value must have the same number of heads, dividing the query's; "
                f"got {heads_q} query, {heads_k} key and {V.shape[-3]} value heads"
            )
        groups = heads_q // heads_k
        K = _repeat_heads(K, groups)  # noqa: N806
        V = _repeat_heads(V, groups)  # noqa: N806
    try:
        batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"{op}: the batch dims of query {shape_str(Q.shape)}, key {shape_str(K.shape)} and value "
            f"{shape_str(V.shape)} do not broadcast"
        ) from None
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ArgumentError(f"{op}: pass attn_mask or is_causal=True, not both (is_causal builds its own mask)")
        mask = _mask_operand(attn_mask, dtype, op)
        try:
            np.broadcast_shapes(mask.data.shape, (*batch, L, S))
            if mask.data.ndim < 2:
                raise ValueError
        except ValueError:
            raise ShapeError(
                f"{op}: attn_mask of shape {shape_str(mask.data.shape)} does not broadcast to the scores' shape "
                f"{shape_str((*batch, L, S))} (*batch, L, S)"
            ) from None
    p = check_probability(dropout_p, op)
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else 1.0
    elif isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating):
        raise ArgumentError(f"{op}: scale must be a number or None, got {scale!r}")
    scale = float(scale)

    scores = np.matmul(Q, np.swapaxes(K, -1, -2))
    scores *= scale
    if mask is not None:
        M = mask.data  # noqa: N806
        if M.dtype == np.bool_:
            if M.all():
                pass  # every key takes part: nothing to block
            elif np.broadcast_shapes(M.shape, scores.shape) == scores.shape:
                np.copyto(scores, -np.inf, where=~M)
            else:
                scores = np.where(M, scores, -np.inf)
        elif np.broadcast_shapes(M.shape, scores.shape) == scores.shape:
            scores += M
        else:
            scores = scores + M
    elif is_causal:
        # Top-left aligned, as PyTorch: query i sees keys 0..i (when L != S as well).
        np.copyto(scores, -np.inf, where=np.triu(np.ones((L, S), dtype=bool), 1))
    probs = _softmax_rows(scores)
    drop = None
    if p > 0.0:
        if p == 1.0:
            drop = np.zeros(probs.shape, dtype=dtype)
        else:
            drop = numpy_generator().random(probs.shape, dtype=dtype if dtype.itemsize >= 4 else np.float32)
            np.greater_equal(drop, p, out=drop)
            drop *= 1.0 / (1.0 - p)
            if drop.dtype != dtype:
                drop = drop.astype(dtype)
        kept = probs * drop
    else:
        kept = probs
    out = np.matmul(kept, V)

    float_mask = mask if mask is not None and mask.data.dtype != np.bool_ else None
    parents = (q, k, v) if float_mask is None else (q, k, v, float_mask)
    recording = grad_mode.enabled and any(t.requires_grad for t in parents)
    if not recording:
        out_tensor = result(out, parents, None, op)
        return out_tensor, (result(kept, parents, None, "attention_weights") if need_weights else None)

    Q_shape = q.data.shape  # noqa: N806

    def score_grads(d_p: np.ndarray) -> tuple:
        """From d(loss)/dP (a fresh array, overwritten), the gradients of query, key and the float mask."""
        row = np.einsum("...s,...s->...", d_p, probs)[..., None]
        d_p -= row
        d_p *= probs  # now d(loss)/dA, A = scale * Q K^T + M
        grad_q = grad_k = grad_m = None
        if float_mask is not None and float_mask.requires_grad:
            grad_m = unbroadcast(d_p, float_mask.data.shape)
            if grad_m is d_p:
                grad_m = d_p.copy()
        if q.requires_grad:
            grad_q = np.matmul(d_p, K)
            grad_q *= scale
            grad_q = unbroadcast(grad_q, Q_shape)
        if k.requires_grad:
            grad_k = np.matmul(np.swapaxes(d_p, -1, -2), Q)
            grad_k *= scale
            grad_k = _fold_heads(unbroadcast(grad_k, K.shape), groups)
        return grad_q, grad_k, grad_m

    def backward(grad: np.ndarray) -> tuple:
        grad_v = grad_q = grad_k = grad_m = None
        if v.requires_grad:
            weights = probs if drop is None else probs * drop
            grad_v = _fold_heads(unbroadcast(np.matmul(np.swapaxes(weights, -1, -2), grad), V.shape), groups)
        if q.requires_grad or k.requires_grad or (float_mask is not None and float_mask.requires_grad):
            d_p = np.matmul(grad, np.swapaxes(V, -1, -2))
            if drop is not None:
                d_p *= drop
            grad_q, grad_k, grad_m = score_grads(d_p)
        if float_mask is None:
            return grad_q, grad_k, grad_v
        return grad_q, grad_k, grad_v, grad_m

    out_tensor = result(out, parents, backward, op)
    if not need_weights:
        return out_tensor, None

    def weights_backward(grad: np.ndarray) -> tuple:
        d_p = grad * drop if drop is not None else grad.copy()
        grad_q, grad_k, grad_m = score_grads(d_p)
        if float_mask is None:
            return grad_q, grad_k, None  # the weights do not depend on value
        return grad_q, grad_k, None, grad_m

    return out_tensor, result(kept, parents, weights_backward, "attention_weights")


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, fused (torch.nn.functional.scaled_dot_product_attention).

    query: (*, L, E); key: (*, S, E); value: (*, S, Ev) -> (*, L, Ev), batch dims broadcast together.
    attn_mask: broadcastable to (*, L, S); bool (True = the key takes part, False = blocked) or a float mask
    of the query's dtype, added to the scores (-inf blocks). is_causal: query i attends to keys 0..i (top-left
    aligned; cannot be combined with attn_mask). scale: defaults to 1 / sqrt(E). dropout_p: dropout on the
    attention weights, applied whenever it is > 0 (pass 0.0 in evaluation, as with PyTorch), drawn from
    chainrule.random. enable_gqa: key and value may have fewer heads (dim -3) than query, each serving a group
    of consecutive query heads.

    A query row whose keys are all blocked gives an output row of zeros (and zero gradients), as PyTorch.
    """
    return attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)[0]
