"""MNIST-1D (Greydanus, "Scaling down deep learning", 2020): 1-D signals of ten digits, generated offline.

Each sample is one of ten hand-drawn 12-point templates, padded with zeros, stretched, scaled, translated
(circularly), filled with correlated noise where it is zero, given white noise, sheared, and resampled to 40 points;
the whole set is then shuffled and standardized with its own mean and standard deviation. A linear model gets about
a third of the test set right, a small CNN over 90%: small, fast, and it tells models apart.

This is the reference generator (the `mnist1d` package's `make_dataset` and `transform`) rewritten in NumPy: no
scipy, no download, no pickle. It draws from NumPy's legacy `RandomState(seed)` with the same calls in the same
order, and repeats scipy's arithmetic (np.interp is what interp1d(kind='linear') runs on 1-D float64 data; the
Gaussian filter sums in scipy's order), so for any seed and arguments it generates what the reference's
`make_dataset` does, bit for bit in float64 before the cast to float32 (checked against mnist1d 0.0.2.post1 with
scipy 1.17 for several seeds and arguments). The published pickle was made in 2020 with older scipy; it was not
compared.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from chainrule.data._common import LabeledData, check_choice
from chainrule.errors import ArgumentError

_OP = "mnist1d"
_SPLITS = ("all", "train", "test")

# The ten digits' outlines, as drawn in the reference (mnist1d/data.py, get_templates), before whitening.
_DIGIT_OUTLINES = (
    (5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5),
    (5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5),
    (5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5),
    (5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5),
    (5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5),
    (5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5),
    (5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5),
    (5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5),
    (5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5),
    (5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5),
)
_EPS = 1e-8  # added to the template before padding, so that no template point counts as "empty" (zero)
_NOISE_SIGMA = 2.0  # the correlated noise is white noise under a Gaussian filter of this width (in samples)


def mnist1d(
    split: str = "all",
    seed: int = 42,
    num_samples: int = 5000,
    train_split: float = 0.8,
    template_len: int = 12,
    padding: tuple[int, int] = (36, 60),
    scale_coeff: float = 0.4,
    max_translation: int = 48,
    corr_noise_scale: float = 0.25,
    iid_noise_scale: float = 2e-2,
    shear_scale: float = 0.75,
    final_seq_length: int = 40,
    shuffle_seq: bool = False,
) -> LabeledData:
    """MNIST-1D: X (N, final_seq_length) float32 (standardized over the whole set), y (N,) int64 digits 0..9.

    N is 10 * (num_samples // 10) for split='all' (5,000 by default); 'train' is the first
    int(N * train_split) samples (4,000), 'test' the rest (1,000), as in the reference.
    seed: an int in [0, 2**32): the dataset is a function of it (42 is the reference's default).
    The other arguments are the reference's `get_dataset_args()`, with its defaults: padding (low, high) is the
    range of zeros appended to a template before it is stretched to template_len + high points; scale_coeff the
    spread of the random scale factor around 1; max_translation the bound (exclusive) of the circular shift;
    corr_noise_scale and iid_noise_scale the standard deviations of the correlated and white noise; shear_scale
    the spread of the linear tilt; final_seq_length the number of points of each signal; shuffle_seq permutes the
    points of every signal the same way (the paper's test of spatial inductive bias).

    Generating the default set takes 0.1 to 0.2 s; it is kept in memory for the next call with the same arguments.
    """
    check_choice(split, "split", _SPLITS, _OP)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ArgumentError(f"{_OP}: seed must be an int in [0, 2**32) (the dataset is a function of it), got {seed!r}")
    _check_int(num_samples, "num_samples", 10)
    if isinstance(train_split, bool) or not isinstance(train_split, int | float) or not 0 <= train_split <= 1:
        raise ArgumentError(f"{_OP}: train_split must be a fraction in [0, 1], got {train_split!r}")
    _check_int(template_len, "template_len", 1)
    padding = _check_padding(padding)
    if template_len + padding[1] < 2:
        raise ArgumentError(
            f"{_OP}: template_len + padding[1] (the stretched template's length) must be at least 2, "
            f"got {template_len} + {padding[1]}"
        )
    _check_int(max_translation, "max_translation", 1)
    _check_int(final_seq_length, "final_seq_length", 1)
    for name, value in (
        ("scale_coeff", scale_coeff),
        ("corr_noise_scale", corr_noise_scale),
        ("iid_noise_scale", iid_noise_scale),
        ("shear_scale", shear_scale),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 or math.isinf(value):
            raise ArgumentError(f"{_OP}: {name} must be a finite number >= 0, got {value!r}")
    if not isinstance(shuffle_seq, bool):
        raise ArgumentError(f"{_OP}: shuffle_seq must be a bool, got {shuffle_seq!r}")

    x, y = _generate(
        int(seed),
        int(num_samples),
        int(template_len),
        padding,
        float(scale_coeff),
        int(max_translation),
        float(corr_noise_scale),
        float(iid_noise_scale),
        float(shear_scale),
        int(final_seq_length),
        shuffle_seq,
    )
    cut = int(len(y) * train_split)
    rows = {"all": slice(None), "train": slice(None, cut), "test": slice(cut, None)}[split]
    names = [f"x{i}" for i in range(x.shape[1])]
    # copies: the cached arrays are shared by every call and must not be edited through a result
    return LabeledData(x[rows].copy(), y[rows].copy(), names, "digit")


def mnist1d_templates() -> LabeledData:
    """The ten templates MNIST-1D's samples are made from: X (10, 12) float32 (whitened, starting and ending at 0,
    scaled by 1/6), y (10,) int64 the digits 0..9. The reference plots them against t = linspace(-5, 5, 12) / 6."""
    return LabeledData(_templates().astype(np.float32), np.arange(10, dtype=np.int64), None, "digit")


def _check_int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ArgumentError(f"{_OP}: {name} must be an int >= {minimum}, got {value!r}")


def _check_padding(padding: Any) -> tuple[int, int]:
    ok = isinstance(padding, tuple | list) and len(padding) == 2
    ok = ok and all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in padding)
    if not ok or not 0 <= padding[0] <= padding[1]:
        raise ArgumentError(f"{_OP}: padding must be a pair (low, high) of ints with 0 <= low <= high, got {padding!r}")
    return int(padding[0]), int(padding[1])


def _templates() -> np.ndarray:
    """(10, 12) float64: the outlines whitened, shifted to start (and end) at 0, and scaled by 1/6."""
    x = np.array(_DIGIT_OUTLINES, dtype=np.float64)
    x -= x.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


@functools.lru_cache(maxsize=8)
def _generate(
    seed: int,
    num_samples: int,
    template_len: int,
    padding: tuple[int, int],
    scale_coeff: float,
    max_translation: int,
    corr_noise_scale: float,
    iid_noise_scale: float,
    shear_scale: float,
    final_seq_length: int,
    shuffle_seq: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset, (X float32 (N, final_seq_length), y int64 (N,)), read-only: the reference's make_dataset.

    The reference transforms one sample at a time; here only the random draws are made one sample at a time (in
    the reference's order: they define the dataset), and the arithmetic runs on all samples at once, with the
    same floating-point operations, so that the result is identical.
    """
    templates = _templates()
    per_class = num_samples // len(templates)
    n = per_class * len(templates)
    low, high = padding
    length = template_len + high  # every padded template is stretched to this many points

    rng = np.random.RandomState(seed)  # the reference seeds the legacy global generator
    pads = np.empty(n, dtype=np.int64)
    scales = np.empty(n)
    shifts = np.empty(n, dtype=np.int64)
    corr_noise = np.empty((n, length))
    iid_noise = np.empty((n, length))
    shears = np.empty(n)
    for i in range(n):
        pads[i] = low + int(rng.rand() * (high - low + 1))
        scales[i] = 1 + scale_coeff * (rng.rand() - 0.5)
        shifts[i] = rng.randint(0, max_translation)  # the reference's rng.choice(max_translation), faster
        corr_noise[i] = rng.randn(length)
        iid_noise[i] = rng.randn(length)
        shears[i] = shear_scale * (rng.rand() - 0.5)
    labels = np.repeat(np.arange(len(templates), dtype=np.int64), per_class)

    # pad and stretch: the result depends only on (digit, number of zeros), so each pair is computed once
    stretched_grid = np.linspace(0, 1, length)
    stretched = np.empty((len(templates), high - low + 1, length))
    for p in np.unique(pads).tolist():
        grid = np.linspace(0, 1, templates.shape[1] + p)
        for digit, template in enumerate(templates + _EPS):
            stretched[digit, p - low] = np.interp(stretched_grid, grid, np.concatenate([template, np.zeros(p)]))
    x = stretched[labels, pads - low] * scales[:, None]

    # translate: the reference's concatenate([x[-k:], x[:-k]]) is a circular shift by k, and no shift for k > length
    shifts = np.where(shifts > length, 0, shifts) % length
    x = np.take_along_axis(x, (np.arange(length) - shifts[:, None]) % length, axis=1)

    x = np.where(x != 0, x, _gaussian_filter(corr_noise_scale * corr_noise, _NOISE_SIGMA))
    x = x + iid_noise_scale * iid_noise
    x = x - shears[:, None] * np.linspace(-0.5, 0.5, length)

    final_grid = np.linspace(0, 1, final_seq_length)
    xs = np.empty((n, final_seq_length))
    for i in range(n):  # np.interp is 1-D; it is what scipy's linear interp1d calls for 1-D float64 data
        xs[i] = np.interp(final_grid, stretched_grid, x[i])

    order = rng.permutation(n)
    xs = xs[order]
    ys = labels[order]
    if shuffle_seq:
        xs = xs[..., rng.permutation(final_seq_length)]
    xs = (xs - xs.mean()) / xs.std()

    xs = xs.astype(np.float32)
    xs.flags.writeable = False  # cached: shared by every call
    ys.flags.writeable = False
    return xs, ys


def _gaussian_filter(noise: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d(noise, sigma, axis=-1) in its default 'reflect' mode, row by row of
    noise (N, L), with scipy's kernel and scipy's order of summation (so the result is the same to the bit)."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    weights = weights / weights.sum()
    length = noise.shape[-1]
    # scipy's 'reflect' repeats the edge sample (d c b a | a b c d | d c b a): NumPy's 'symmetric'
    padded = np.pad(noise, [(0, 0), (radius, radius)], mode="symmetric")
    out = padded[:, radius : radius + length] * weights[radius]
    # scipy's loop over a symmetric kernel: the outermost pair of neighbours first
    for j in range(radius, 0, -1):
        out += (padded[:, radius - j : radius - j + length] + padded[:, radius + j : radius + j + length]) * weights[
            radius - j
        ]
    return out
