"""Train/test splits of arrays: `train_test_split`, scikit-learn's function and rules, seeded the chainrule way."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.data._common import SeedLike, rng_of
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.tensor import Tensor


def train_test_split(
    *arrays: Any,
    test_size: float | int = 0.2,
    seed: SeedLike = None,
    stratify: Any = None,
    shuffle: bool = True,
) -> tuple[Any, ...]:
    """Split arrays of the same length into a training and a test part: (a_train, a_test, b_train, b_test, ...).

    test_size: a fraction in (0, 1) (the test part gets ceil(test_size * n) samples, as scikit-learn) or a
        number of samples. seed: an int, a chainrule.Generator, or None (chainrule's default generator).
    stratify: class labels (N,): each class is split in the same proportion (largest remainders first).
    shuffle: False keeps the order: the test part is the last samples (stratify then is not allowed).
    Each part has the type of its input: a Tensor for a Tensor, an ndarray otherwise.
    """
    op = "train_test_split"
    if not arrays:
        raise ArgumentError(f"{op}: expected at least one array")
    data = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
    for position, array in enumerate(data):
        if array.ndim == 0:
            raise ShapeError(f"{op}: array {position} is a scalar; expected arrays with a first (sample) dimension")
    sizes = [a.shape[0] for a in data]
    if len(set(sizes)) > 1:
        shapes = ", ".join(shape_str(a.shape) for a in data)
        raise ShapeError(f"{op}: the arrays have different numbers of samples {sizes} (shapes {shapes})")
    labels = None
    if stratify is not None:
        labels = stratify.data if isinstance(stratify, Tensor) else np.asarray(stratify)
        if labels.shape != (sizes[0],):
            raise ShapeError(f"{op}: stratify must have shape ({sizes[0]},), got {shape_str(labels.shape)}")
    train, test = split_indices(sizes[0], test_size, rng_of(seed, op), labels, shuffle, op)
    parts: list[Any] = []
    for original, array in zip(arrays, data):
        for index in (train, test):
            part = array[index]
            parts.append(Tensor._wrap(part) if isinstance(original, Tensor) else part)
    return tuple(parts)


def held_out_count(n: int, test_size: float | int, op: str) -> int:
    """The number of test samples for `test_size` (a fraction or a count) of n; both parts non-empty."""
    if isinstance(test_size, bool) or not isinstance(test_size, int | float | np.integer | np.floating):
        raise ArgumentError(f"{op}: test_size must be a fraction in (0, 1) or a number of samples, got {test_size!r}")
    if isinstance(test_size, float | np.floating):
        if not 0.0 < test_size < 1.0:
            raise ArgumentError(f"{op}: a fractional test_size must lie in (0, 1), got {test_size}")
        count = math.ceil(float(test_size) * n)
    else:
        count = int(test_size)
    if not 0 < count < n:
        raise ArgumentError(
            f"{op}: test_size={test_size!r} of {n} samples leaves {n - count} for training and {count} for testing; "
            "each part needs at least one sample"
        )
    return count


def split_indices(
    n: int,
    test_size: float | int,
    rng: np.random.Generator,
    labels: np.ndarray | None = None,
    shuffle: bool = True,
    op: str = "train_test_split",
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of n samples, int64, drawn from `rng`."""
    n_test = held_out_count(n, test_size, op)
    if not shuffle:
        if labels is not None:
            raise ArgumentError(f"{op}: stratify needs shuffle=True")
        return np.arange(n - n_test, dtype=np.int64), np.arange(n - n_test, n, dtype=np.int64)
    if labels is None:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    classes, codes = np.unique(labels, return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < 2:
        rare = classes[np.argmin(counts)]
        raise ArgumentError(f"{op}: class {rare!r} of stratify has only 1 sample; each class needs at least 2")
    if n_test < len(classes) or n - n_test < len(classes):
        raise ArgumentError(
            f"{op}: a stratified split of {len(classes)} classes needs at least {len(classes)} samples in each part; "
            f"got {n - n_test} for training and {n_test} for testing"
        )
    exact = counts * (n_test / n)
    per_class = np.floor(exact).astype(np.int64)
    remainder = exact - per_class
    for c in np.argsort(-remainder, kind="stable")[: n_test - per_class.sum()]:
        per_class[c] += 1
    train_parts, test_parts = [], []
    for c in range(len(classes)):
        members = np.flatnonzero(codes == c)
        members = members[rng.permutation(len(members))]
        test_parts.append(members[: per_class[c]])
        train_parts.append(members[per_class[c] :])
    train = np.concatenate(train_parts)
    test = np.concatenate(test_parts)
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]
