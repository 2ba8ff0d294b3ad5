"""Optimizers update large parameters piece by piece (Optimizer._pieces, for cache locality): the result must be
exactly the whole-array update, value for value, for every optimizer and option."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import optimizer as optimizer_module

PIECE = optimizer_module.PIECE

CONFIGS = [
    (optim.SGD, {"lr": 0.1}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "maximize": True}),
    (optim.Adam, {"lr": 0.01}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    (optim.AdamW, {"lr": 0.01, "maximize": True}),
    (optim.RMSprop, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
]


def trajectory(optimizer_class, options, steps: int = 4, transposed_grad: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(300, 250), (7,), (3 * PIECE + 5,)]  # pieces: 3, 1 (small), 4 with a short last one
    params = [cr.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True) for shape in shapes]
    optimizer = optimizer_class(params, **options)
    for _ in range(steps):
        for param in params:
            grad = rng.standard_normal(param.shape).astype(np.float32)
            if transposed_grad and grad.ndim == 2:
                grad = np.ascontiguousarray(grad.T).T  # same values, not C-contiguous: updated whole
            param.grad = cr.tensor(grad)
        optimizer.step()
    return [param.data.copy() for param in params]


@pytest.mark.parametrize(("optimizer_class", "options"), CONFIGS)
def test_piecewise_updates_equal_whole_array_updates(optimizer_class, options, monkeypatch):
    pieces = trajectory(optimizer_class, options)
    transposed = trajectory(optimizer_class, options, transposed_grad=True)
    monkeypatch.setattr(optimizer_module, "PIECE", 10**9)
    whole = trajectory(optimizer_class, options)
    for got, expected in zip(pieces, whole):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(transposed, whole):
        np.testing.assert_array_equal(got, expected)


def test_a_large_parameter_follows_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    start = rng.standard_normal((400, 300)).astype(np.float32)
    grads = [rng.standard_normal((400, 300)).astype(np.float32) for _ in range(5)]
    ours = cr.tensor(start.copy(), requires_grad=True)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    our_optimizer = optim.Adam([ours], lr=0.01, weight_decay=0.1, amsgrad=True)
    their_optimizer = torch.optim.Adam([theirs], lr=0.01, weight_decay=0.1, amsgrad=True)
    for grad in grads:
        ours.grad = cr.tensor(grad)
        theirs.grad = torch.from_numpy(grad)
        our_optimizer.step()
        their_optimizer.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
