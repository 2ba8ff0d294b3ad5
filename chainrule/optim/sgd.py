"""SGD: stochastic gradient descent, with optional momentum (heavy-ball or Nesterov), dampening and weight decay.

PyTorch's update, for each parameter p with gradient g:

    g <- -g                                  if maximize
    g <- g + weight_decay * p                if weight_decay
    buf <- g  (first step),  buf <- momentum * buf + (1 - dampening) * g  (later steps)
    g <- g + momentum * buf  (nesterov),  g <- buf  (otherwise)          if momentum
    p <- p - lr * g
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ArgumentError
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number


class SGD(Optimizer):
    """Stochastic gradient descent. state[p]['momentum_buffer'] holds the velocity when momentum != 0."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number("SGD", "lr", group["lr"])
        check_number("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"], low=None)
        check_number("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ArgumentError(
                f"SGD: nesterov=True requires momentum > 0 and dampening = 0, got momentum={group['momentum']!r} "
                f"and dampening={group['dampening']!r}"
            )

    def step(self, closure: Any = None) -> Any:
        """One SGD update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p, param, grad in self._with_grads(group):  # grad: the user's .grad, never written
                buf = None
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = state["momentum_buffer"] = np.empty_like(param)  # filled piece by piece below
                for piece in self._pieces(param, grad) if buf is None else self._pieces(param, grad, buf):
                    param_piece = piece[0]
                    direction = self._adjusted_grad(param_piece, piece[1], weight_decay, maximize)
                    owned = direction is not piece[1]  # a scratch array, which may be overwritten
                    if buf is not None:
                        velocity = piece[2]
                        if first:
                            np.copyto(velocity, direction)
                        else:
                            velocity *= momentum
                            if dampening == 0:
                                velocity += direction
                            else:
                                velocity += np.multiply(direction, 1.0 - dampening, out=self._scratch(param_piece, 1))
                        if nesterov:
                            ahead = np.multiply(velocity, momentum, out=self._scratch(param_piece, 1))
                            direction = np.add(direction, ahead, out=ahead)
                            owned = True
                        else:
                            direction = velocity
                            owned = False
                    param_piece -= np.multiply(direction, lr, out=direction if owned else self._scratch(param_piece, 0))
        return loss
