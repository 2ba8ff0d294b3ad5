"""RMSprop: gradients divided by a running root-mean-square of their recent magnitudes (Hinton's lecture 6e).

PyTorch's update, for each parameter p with gradient g:

    g <- -g                                            if maximize
    g <- g + weight_decay * p                          if weight_decay
    v <- alpha * v + (1 - alpha) * g * g
    a <- a + (1 - alpha) * (g - a),  avg = sqrt(v - a * a) + eps     if centered
    avg = sqrt(v) + eps                                              otherwise
    buf <- momentum * buf + g / avg,  p <- p - lr * buf              if momentum > 0
    p <- p - lr * g / avg                                            otherwise
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.adam import _lerp_
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number


class RMSprop(Optimizer):
    """RMSprop. state[p] holds 'step', 'square_avg' (v), and 'momentum_buffer' when momentum > 0 and
    'grad_avg' (a) when centered."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number("RMSprop", "lr", group["lr"])
        check_number("RMSprop", "eps", group["eps"])
        check_number("RMSprop", "momentum", group["momentum"])
        check_number("RMSprop", "weight_decay", group["weight_decay"])
        check_number("RMSprop", "alpha", group["alpha"])

    def step(self, closure: Any = None) -> Any:
        """One RMSprop update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            momentum = float(group["momentum"])
            centered = group["centered"]
            maximize = group["maximize"]
            for p, param, grad in self._with_grads(group):  # grad: the user's .grad, never written
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(param)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(param)
                    if centered:
                        state["grad_avg"] = np.zeros_like(param)
                state["step"] += 1
                if momentum > 0 and state.get("momentum_buffer") is None:  # momentum was switched on mid-run
                    state["momentum_buffer"] = np.zeros_like(param)
                if centered and state.get("grad_avg") is None:  # centered was switched on mid-run
                    state["grad_avg"] = np.zeros_like(param)
                arrays = (param, grad, state["square_avg"])
                if momentum > 0:
                    arrays += (state["momentum_buffer"],)
                if centered:
                    arrays += (state["grad_avg"],)
                for piece in self._pieces(*arrays):
                    param_piece, grad_piece, square_avg = piece[:3]
                    direction = self._adjusted_grad(param_piece, grad_piece, weight_decay, maximize)

                    avg = self._scratch(param_piece, 1)
                    square_avg *= alpha
                    np.multiply(direction, 1.0 - alpha, out=avg)
                    avg *= direction
                    square_avg += avg

                    if centered:
                        grad_avg = piece[-1]
                        _lerp_(grad_avg, direction, 1.0 - alpha, avg)
                        np.multiply(grad_avg, grad_avg, out=avg)
                        np.subtract(square_avg, avg, out=avg)
                        np.sqrt(avg, out=avg)
                    else:
                        np.sqrt(square_avg, out=avg)
                    avg += eps

                    if momentum > 0:
                        buf = piece[3]
                        buf *= momentum
                        buf += np.divide(direction, avg, out=avg)
                        param_piece -= np.multiply(buf, lr, out=avg)
                    else:
                        update = np.divide(direction, avg, out=avg)
                        update *= lr
                        param_piece -= update
        return loss
