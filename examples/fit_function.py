"""Fit y = sin(3x) on [-1, 1] with a 1-32-32-1 tanh network, using the engine alone.

Forward pass, mean squared error, backward pass, and plain gradient descent (`w -= lr * grad`), over shuffled
mini-batches, until the loss falls below a target or the epochs run out. Run: `python examples/fit_function.py`.
"""

from __future__ import annotations

import math
import time

import numpy as np

import chainrule as cr


def init_layer(fan_in: int, fan_out: int) -> tuple[cr.Tensor, cr.Tensor]:
    """Weight (out, in) and bias (out,), Xavier-uniform for tanh."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    weight = cr.rand(fan_out, fan_in) * (2 * bound) - bound
    return weight.requires_grad_(), cr.zeros(fan_out, requires_grad=True)


def main(epochs: int = 1000, batch_size: int = 32, lr: float = 0.2, target_loss: float = 1e-3) -> float:
    cr.manual_seed(0)
    x = cr.linspace(-1, 1, 256).reshape(-1, 1)
    y = cr.sin(3 * x)
    params = [*init_layer(1, 32), *init_layer(32, 32), *init_layer(32, 1)]
    w1, b1, w2, b2, w3, b3 = params

    def model(inputs: cr.Tensor) -> cr.Tensor:
        hidden = cr.tanh(inputs @ w1.T + b1)
        hidden = cr.tanh(hidden @ w2.T + b2)
        return hidden @ w3.T + b3

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        for begin in range(0, len(order), batch_size):
            batch = cr.tensor(order[begin : begin + batch_size])
            loss = ((model(x[batch]) - y[batch]) ** 2).mean()
            loss.backward()
            with cr.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None
        with cr.no_grad():
            full_loss = ((model(x) - y) ** 2).mean().item()
        if epoch % 100 == 0 or full_loss < target_loss:
            print(f"epoch {epoch:4d}  mse {full_loss:.5f}")
        if full_loss < target_loss:
            print(f"converged: mse {full_loss:.5f} < {target_loss} after {epoch} epochs")
            break
    else:
        print(f"stopped at the maximum of {epochs} epochs: mse {full_loss:.5f}")
    print(f"{time.perf_counter() - start:.2f} s")
    return full_loss


if __name__ == "__main__":
    main()
