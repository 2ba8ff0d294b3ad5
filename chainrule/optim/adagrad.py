"""Adagrad: per-coordinate step sizes shrinking with the accumulated squared gradients (Duchi et al., 2011).

PyTorch's update, for each parameter p with gradient g, at step t (counting from 1):

    g <- -g                                   if maximize
    g <- g + weight_decay * p                 if weight_decay
    clr = lr / (1 + (t - 1) * lr_decay)
    s <- s + g * g                            (s starts at initial_accumulator_value)
    p <- p - clr * g / (sqrt(s) + eps)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, check_number


class Adagrad(Optimizer):
    """Adagrad. state[p] holds 'step' and 'sum' (s); as in PyTorch, the state of the parameters given to the
    constructor exists from the start (so state_dict() lists them before the first step)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number("Adagrad", "lr", group["lr"])
        check_number("Adagrad", "lr_decay", group["lr_decay"])
        check_number("Adagrad", "weight_decay", group["weight_decay"])
        check_number("Adagrad", "initial_accumulator_value", group["initial_accumulator_value"])
        check_number("Adagrad", "eps", group["eps"])

    def _init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = 0
        state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
        return state

    def step(self, closure: Any = None) -> Any:
        """One Adagrad update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = float(group["lr_decay"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            maximize = group["maximize"]
            for p, param, grad in self._with_grads(group):  # grad: the user's .grad, never written
                state = self.state[p]
                if len(state) == 0:  # a parameter added by add_param_group after construction
                    state = self._init_state(p, group)
                step = state["step"] + 1
                state["step"] = step

                clr = lr / (1 + (step - 1) * lr_decay)
                for param_piece, grad_piece, state_sum in self._pieces(param, grad, state["sum"]):
                    direction = self._adjusted_grad(param_piece, grad_piece, weight_decay, maximize)
                    work = np.multiply(direction, direction, out=self._scratch(param_piece, 1))
                    state_sum += work
                    std = np.sqrt(state_sum, out=work)
                    std += eps
                    update = np.divide(direction, std, out=std)
                    update *= clr
                    param_piece -= update
        return loss
