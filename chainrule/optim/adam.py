"""Adam and AdamW: adaptive moment estimation, with L2 (Adam) or decoupled (AdamW) weight decay, and AMSGrad.

PyTorch's update, for each parameter p with gradient g, at step t (counting from 1):

    g <- -g                                                  if maximize
    p <- p * (1 - lr * weight_decay)                         if weight_decay, decoupled (AdamW)
    g <- g + weight_decay * p                                if weight_decay, not decoupled (Adam)
    m <- m + (1 - beta1) * (g - m)                           (a lerp: beta1 * m + (1 - beta1) * g)
    v <- beta2 * v + (1 - beta2) * g * g
    v_max <- max(v_max, v), and v_max replaces v below       if amsgrad
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ArgumentError
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number


class Adam(Optimizer):
    """Adam. state[p] holds 'step' (an int), 'exp_avg' (m), 'exp_avg_sq' (v) and, with amsgrad,
    'max_exp_avg_sq'. decoupled_weight_decay=True makes it AdamW."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"])
        check_number(name, "eps", group["eps"])
        check_number(name, "weight_decay", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ArgumentError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_number(name, "betas[0]", betas[0], 0.0, 1.0, high_inclusive=False)
        check_number(name, "betas[1]", betas[1], 0.0, 1.0, high_inclusive=False)

    def step(self, closure: Any = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p, param, grad in self._with_grads(group):  # grad: the user's .grad, never written
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param)
                    state["exp_avg_sq"] = np.zeros_like(param)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(param)
                step = state["step"] + 1
                state["step"] = step
                bias_correction1 = 1.0 - beta1**step
                bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
                arrays = (param, grad, state["exp_avg"], state["exp_avg_sq"])
                if amsgrad:
                    arrays += (state["max_exp_avg_sq"],)
                for piece in self._pieces(*arrays):
                    param_piece, grad_piece, exp_avg, exp_avg_sq = piece[:4]
                    if weight_decay != 0 and decoupled:
                        param_piece *= 1.0 - lr * weight_decay
                    direction = self._adjusted_grad(param_piece, grad_piece, 0 if decoupled else weight_decay, maximize)

                    work = self._scratch(param_piece, 1)
                    _lerp_(exp_avg, direction, 1.0 - beta1, work)
                    exp_avg_sq *= beta2
                    np.multiply(direction, 1.0 - beta2, out=work)
                    work *= direction
                    exp_avg_sq += work

                    second = np.maximum(piece[4], exp_avg_sq, out=piece[4]) if amsgrad else exp_avg_sq
                    denom = np.sqrt(second, out=work)
                    denom /= bias_correction2_sqrt
                    denom += eps
                    update = np.divide(exp_avg, denom, out=work)
                    update *= lr / bias_correction1
                    param_piece -= update
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p <- p * (1 - lr * weight_decay) before the
    Adam step, so the decay does not pass through the moment estimates. weight_decay defaults to 1e-2."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, work: np.ndarray) -> None:
    """start <- start + weight * (end - start), in place, computed as PyTorch's lerp does (from the nearer end
    when weight >= 0.5) so the rounding matches. `work` is a scratch array of start's shape."""
    diff = np.subtract(end, start, out=work)
    if weight < 0.5:
        diff *= weight
        start += diff
    else:
        # end - (end - start) * (1 - weight)
        diff *= 1 - work.dtype.type(weight)  # 1 - weight in the array's precision, as PyTorch's kernel does
        np.subtract(end, diff, out=start)
