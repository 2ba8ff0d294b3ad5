"""What the data modules share: the (X, y) pair with its names, seeding, label encoding, the optional-extra error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, MissingDependencyError  # noqa: F401 (re-exported)
from chainrule.random import Generator, numpy_generator

SeedLike = int | Generator | None
"""An int (a fresh, reproducible stream), a chainrule.Generator (drawn from, advancing it), or None (chainrule's
default generator, so `chainrule.manual_seed` governs it)."""


class LabeledData(tuple):
    """A pair (X, y) that unpacks as one (`X, y = digits()`), and carries names besides.

    feature_names: one name per column of X, or None. target_name: the target column's name, or None.
    classes: for class labels read as strings (or given as non-integers), the original labels, so that
    `classes[k]` is the label encoded as k; None when the labels were integers already or the target is real.
    """

    def __new__(
        cls,
        X: np.ndarray,  # noqa: N803 (the usual name)
        y: np.ndarray | None,
        feature_names: Sequence[str] | None = None,
        target_name: str | None = None,
        classes: Sequence[Any] | None = None,
    ) -> LabeledData:
        pair = super().__new__(cls, (X, y))
        pair.feature_names = None if feature_names is None else [str(name) for name in feature_names]
        pair.target_name = target_name
        pair.classes = None if classes is None else list(classes)
        return pair

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the usual name)
        return self[0]

    @property
    def y(self) -> np.ndarray | None:
        return self[1]

    def __repr__(self) -> str:
        y = self[1]
        y_text = "None" if y is None else f"{y.dtype}{tuple(y.shape)}"
        classes = "" if self.classes is None else f", classes={self.classes!r}"
        return f"LabeledData(X={self[0].dtype}{tuple(self[0].shape)}, y={y_text}{classes})"

    def __reduce__(self) -> tuple:
        return (LabeledData, (self[0], self[1], self.feature_names, self.target_name, self.classes))


def rng_of(seed: SeedLike, op: str) -> np.random.Generator:
    """The NumPy generator `seed` stands for (see SeedLike)."""
    if seed is None or isinstance(seed, Generator):
        return numpy_generator(seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ArgumentError(f"{op}: seed must be a non-negative int, a chainrule.Generator or None, got {seed!r}")
    return np.random.Generator(np.random.PCG64(int(seed)))


def encode_labels(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """(codes int64, classes): classes sorted, codes[i] the position of values[i] in them."""
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64).reshape(values.shape), [c.item() if hasattr(c, "item") else c for c in classes]


def is_integral(values: np.ndarray) -> bool:
    """Whether a numeric array holds only whole numbers (so it can be class labels)."""
    if values.dtype.kind in "iub":
        return True
    return values.dtype.kind == "f" and bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))


def check_choice(value: Any, name: str, choices: Sequence[Any], op: str) -> None:
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        listed = ", ".join(repr(c) for c in choices)
        raise ArgumentError(f"{op}: {name} must be one of {listed}; got {value!r}")
