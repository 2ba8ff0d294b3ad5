"""Shared test helpers: one way to check an op's value and gradient, against finite differences and PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

try:
    import torch
except ImportError:  # the comparisons skip; finite differences still check every gradient
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def random_array(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """A float64 array of uniform values; deterministic per seed."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def check_gradients(fn: Callable[..., cr.Tensor], *arrays: Any, atol: float = 1e-5, rtol: float = 1e-3) -> None:
    """gradcheck `fn` at float64 copies of `arrays` (ndarrays become inputs that require grad; anything
    else is passed through unchanged)."""
    inputs = [
        cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) if isinstance(a, np.ndarray) else a
        for a in arrays
    ]
    assert cr.gradcheck(fn, inputs, atol=atol, rtol=rtol)


def compare_with_torch(
    ours: Callable[..., cr.Tensor],
    theirs: Callable[..., Any],
    *arrays: np.ndarray,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 1,
) -> None:
    """Run `ours` on chainrule tensors and `theirs` on torch tensors made from the same float64 `arrays`;
    assert equal outputs and equal gradients of sum(out * w) for a random w, for every float input."""
    if torch is None:
        pytest.skip("PyTorch is not installed")
    float_inputs = [np.issubdtype(np.asarray(a).dtype, np.floating) for a in arrays]
    ours_in = [cr.tensor(a, requires_grad=f) for a, f in zip(arrays, float_inputs)]
    theirs_in = [torch.tensor(np.asarray(a), requires_grad=f) for a, f in zip(arrays, float_inputs)]
    out = ours(*ours_in)
    ref = theirs(*theirs_in)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=atol, rtol=rtol)
    if not out.requires_grad:
        return
    weights = np.random.default_rng(seed).uniform(-1, 1, size=out.shape)
    (out * cr.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
        if not float_inputs[i]:
            continue
        expected = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad.data
        np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol, err_msg=f"gradient of input {i}")
