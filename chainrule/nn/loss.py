"""Loss modules, as in `torch.nn`: each holds its settings and calls the fused functional loss of
`chainrule.ops.loss` in `forward(input, target)`.

Constructor arguments follow PyTorch's, in its order (the deprecated `size_average` / `reduce` included).
Class weights (`weight`, and `pos_weight` of BCEWithLogitsLoss) are registered as buffers, as in PyTorch, so
`state_dict()` has the same keys and `to(dtype)` converts them with the rest of the model.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops import loss as F
from chainrule.tensor import Tensor, as_tensor_arg

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
]


def _optional_tensor(value: Any) -> Tensor | None:
    return None if value is None else as_tensor_arg(value)


class _Loss(Module):
    """A loss with a reduction ('mean' | 'sum' | 'none'), checked when the module is built."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F.resolve_reduction(reduction, size_average, reduce, type(self).__name__)


class _WeightedLoss(_Loss):
    """A loss with an optional `weight` tensor, registered as a buffer (a state_dict entry when given)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _optional_tensor(weight))


class MSELoss(_Loss):
    """Mean squared error: input and target of the same shape (any); a scalar, or that shape for 'none'."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: input and target of the same shape (any); a scalar, or that shape for 'none'."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Huber loss with threshold `delta`: quadratic within delta of the target, linear beyond it."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss with threshold `beta` (huber_loss / beta; beta = 0 is L1)."""

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (input, after a sigmoid) and targets in [0, 1]; same shapes.
    weight broadcasts to the input's shape."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable op, on logits; same shapes. pos_weight (e.g. (C,), one per
    class along the last dim) weights the positive examples; weight broadcasts to the input's shape."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _optional_tensor(weight))
        self.register_buffer("pos_weight", _optional_tensor(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy on logits (N, C) / (C,) / (N, C, d1, ...), with class-index targets (N) / () /
    (N, d1, ...) or class-probability targets of the input's shape. weight: (C,). Samples whose target is
    ignore_index count for nothing; label_smoothing mixes the target with the uniform distribution."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C) / (C,) / (N, C, d1, ...) at class-index targets
    (N) / () / (N, d1, ...). weight: (C,). Samples whose target is ignore_index count for nothing."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)
