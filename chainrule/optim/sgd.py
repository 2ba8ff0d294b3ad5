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
                owned = False  # whether `grad` is now a scratch array that may be overwritten
                if weight_decay != 0:
                    decayed = np.multiply(param, weight_decay, out=self._scratch(param, 0))
                    grad = np.subtract(decayed, grad, out=decayed) if maximize else np.add(decayed, grad, out=decayed)
                    owned = True
                elif maximize:
                    grad = np.negative(grad, out=self._scratch(param, 0))
                    owned = True

                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = np.array(grad, dtype=param.dtype, copy=True)
                        state["momentum_buffer"] = buf
                    else:
                        buf *= momentum
                        if dampening == 0:
                            buf += grad
                        else:
                            buf += np.multiply(grad, 1.0 - dampening, out=self._scratch(param, 1))
                    if nesterov:
                        ahead = np.multiply(buf, momentum, out=self._scratch(param, 1))
                        grad = np.add(grad, ahead, out=ahead)
                        owned = True
                    else:
                        grad = buf
                        owned = False

                param -= np.multiply(grad, lr, out=grad if owned else self._scratch(param, 0))
        return loss
