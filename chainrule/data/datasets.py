"""Built-in datasets, ready for training, and a registry of them by name.

Every function returns a `LabeledData` pair (X, y) of NumPy arrays:
- X: float32 (N, num_features);
- y: int64 (N,) class labels 0 .. num_classes - 1 for classification (for `nn.CrossEntropyLoss`), float32 (N, 1)
  for regression (the shape of a model's single output, for `nn.MSELoss`).

All take `split`: 'all' (every sample), 'train' or 'test', with `test_size` (a fraction or a count) and `seed`:
calls with the same seed and test_size give complementary parts. Classification splits are stratified.
`seed` is an int, a chainrule.Generator, or None (chainrule's default generator); a split is reproducible across
calls only with an int seed.

- scikit-learn's bundled tables (no download; needs the optional extra `pip install "chainrule[datasets]"`):
  `digits` (8x8 images of digits, 10 classes), `iris` (3), `wine` (3), `breast_cancer` (2), `diabetes`
  (regression). `normalize=True` standardizes each feature (and diabetes's target) with the mean and standard
  deviation of the training part, so the test part holds no information about itself.
- synthetic, pure NumPy: `two_moons`, `spirals`, `regression`.

`get_dataset(name, **kw)` calls one by its name; `available_datasets()` and `dataset_info(name, **kw)` say what
each is: classification or regression, the number of classes and of input features.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.data._common import LabeledData, MissingDependencyError, SeedLike, check_choice, rng_of
from chainrule.data.mnist1d import mnist1d
from chainrule.data.split import split_indices
from chainrule.errors import ArgumentError

_SPLITS = ("all", "train", "test")


# -- scikit-learn's bundled tables ---------------------------------------------------------------------------


def digits(split: str = "all", test_size: float | int = 0.2, seed: SeedLike = 0, normalize: bool = True) -> LabeledData:
    """1,797 8x8 grey-level images of handwritten digits, flattened: X (N, 64) float32 (pixel values 0..16, or
    standardized), y (N,) int64 in 0..9."""
    return _sklearn_table("digits", split, test_size, seed, normalize)


def iris(split: str = "all", test_size: float | int = 0.2, seed: SeedLike = 0, normalize: bool = True) -> LabeledData:
    """150 iris flowers: X (N, 4) float32 (sepal and petal lengths and widths), y (N,) int64, 3 species."""
    return _sklearn_table("iris", split, test_size, seed, normalize)


def wine(split: str = "all", test_size: float | int = 0.2, seed: SeedLike = 0, normalize: bool = True) -> LabeledData:
    """178 wines: X (N, 13) float32 (chemical analysis), y (N,) int64, 3 cultivars."""
    return _sklearn_table("wine", split, test_size, seed, normalize)


def breast_cancer(
    split: str = "all", test_size: float | int = 0.2, seed: SeedLike = 0, normalize: bool = True
) -> LabeledData:
    """569 breast tumours: X (N, 30) float32 (cell-nucleus measurements), y (N,) int64: 0 malignant, 1 benign."""
    return _sklearn_table("breast_cancer", split, test_size, seed, normalize)


def diabetes(
    split: str = "all", test_size: float | int = 0.2, seed: SeedLike = 0, normalize: bool = True
) -> LabeledData:
    """442 diabetes patients: X (N, 10) float32 (age, sex, BMI, blood pressure, six blood serum measurements),
    y (N, 1) float32: disease progression one year later (standardized when normalize, else 25 .. 346)."""
    return _sklearn_table("diabetes", split, test_size, seed, normalize)


_SKLEARN_LOADERS = {
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}


@functools.cache
def _sklearn_raw(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[Any, ...] | None]:
    try:
        from sklearn import datasets as sklearn_datasets
    except ImportError:
        raise MissingDependencyError(
            f'{name}: this dataset comes with scikit-learn, an optional extra: pip install "chainrule[datasets]"'
        ) from None
    loader = getattr(sklearn_datasets, _SKLEARN_LOADERS[name])
    bunch = loader(scaled=False) if name == "diabetes" else loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    x.flags.writeable = False  # cached: shared by every call
    y.flags.writeable = False
    target_names = getattr(bunch, "target_names", None)
    classes = None if target_names is None else tuple(np.asarray(target_names).tolist())
    return x, y, tuple(str(f) for f in bunch.feature_names), classes


def _sklearn_table(name: str, split: str, test_size: float | int, seed: SeedLike, normalize: bool) -> LabeledData:
    check_choice(split, "split", _SPLITS, name)
    if not isinstance(normalize, bool):
        raise ArgumentError(f"{name}: normalize must be a bool, got {normalize!r}")
    x, y, feature_names, classes = _sklearn_raw(name)
    regression = name == "diabetes"
    rows, stats_rows = _rows(len(x), split, test_size, rng_of(seed, name), None if regression else y, name)
    if normalize:
        x = _standardize(x, stats_rows)
    if regression:
        target = y.astype(np.float64).reshape(-1, 1)
        if normalize:
            target = _standardize(target, stats_rows)
        return LabeledData(x[rows].astype(np.float32), target[rows].astype(np.float32), feature_names, "target")
    return LabeledData(x[rows].astype(np.float32), y[rows].astype(np.int64), feature_names, "target", classes)


def _rows(
    n: int, split: str, test_size: float | int, rng: np.random.Generator, labels: np.ndarray | None, op: str
) -> tuple[Any, Any]:
    """(the rows of the split, the rows whose statistics may be used: the training part's)."""
    if split == "all":
        return slice(None), slice(None)
    train, test = split_indices(n, test_size, rng, labels, True, op)
    return (train if split == "train" else test), train


def _standardize(values: np.ndarray, stats_rows: Any) -> np.ndarray:
    """(values - mean) / std per column, with the statistics of `stats_rows`; constant columns are only centred."""
    mean = values[stats_rows].mean(axis=0)
    std = values[stats_rows].std(axis=0)
    std[std == 0] = 1.0
    return (values - mean) / std


# -- synthetic ----------------------------------------------------------------------------------------------


def two_moons(
    n: int = 1000, noise: float = 0.1, seed: SeedLike = 0, split: str = "all", test_size: float | int = 0.2
) -> LabeledData:
    """Two interleaving half circles (scikit-learn's make_moons): X (n, 2) float32, y (n,) int64 in {0, 1}.

    The upper moon (class 0) gets n // 2 points, the lower one the rest; `noise` is the standard deviation of the
    Gaussian noise added to every coordinate.
    """
    op = "two_moons"
    _check_synthetic(n, noise, split, op)
    rng = rng_of(seed, op)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = np.linspace(0.0, math.pi, n_upper)
    t_lower = np.linspace(0.0, math.pi, n_lower)
    x = np.empty((n, 2))
    x[:n_upper, 0] = np.cos(t_upper)
    x[:n_upper, 1] = np.sin(t_upper)
    x[n_upper:, 0] = 1.0 - np.cos(t_lower)
    x[n_upper:, 1] = 0.5 - np.sin(t_lower)
    y = np.repeat(np.arange(2, dtype=np.int64), (n_upper, n_lower))
    order = rng.permutation(n)
    x, y = x[order], y[order]
    x += rng.normal(scale=noise, size=x.shape)
    return _synthetic_split(x, y, split, test_size, rng, op, classification=True)


def spirals(
    n: int = 1000,
    classes: int = 3,
    noise: float = 0.2,
    seed: SeedLike = 0,
    split: str = "all",
    test_size: float | int = 0.2,
) -> LabeledData:
    """`classes` interleaved spiral arms around the origin (CS231n's toy problem): X (n, 2) float32, y (n,) int64.

    Arm k holds n // classes points (the first n % classes arms one more), at radius r from 0 to 1 and angle
    4 r + 2 pi k / classes + noise * (a standard normal): not linearly separable, easy for a small MLP.
    """
    op = "spirals"
    _check_synthetic(n, noise, split, op)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ArgumentError(f"{op}: classes must be an int >= 2, got {classes!r}")
    if n < classes:
        raise ArgumentError(f"{op}: n={n} is fewer samples than classes={classes}")
    rng = rng_of(seed, op)
    counts = [n // classes + (k < n % classes) for k in range(classes)]
    radius = np.concatenate([np.linspace(0.0, 1.0, count) for count in counts])
    y = np.repeat(np.arange(classes, dtype=np.int64), counts)
    angle = 4.0 * radius + (2.0 * math.pi / classes) * y + noise * rng.standard_normal(n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    order = rng.permutation(n)
    return _synthetic_split(x[order], y[order], split, test_size, rng, op, classification=True)


def regression(
    n: int = 1000,
    features: int = 10,
    noise: float = 0.1,
    seed: SeedLike = 0,
    split: str = "all",
    test_size: float | int = 0.2,
) -> LabeledData:
    """A linear regression problem: X (n, features) float32 standard normal, y (n, 1) float32 = X w + noise * e,
    with weights w drawn from N(0, 1 / features) (so y's variance is about 1 + noise^2) and e standard normal."""
    op = "regression"
    _check_synthetic(n, noise, split, op)
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ArgumentError(f"{op}: features must be a positive int, got {features!r}")
    rng = rng_of(seed, op)
    x = rng.standard_normal((n, features))
    weights = rng.standard_normal(features) / math.sqrt(features)
    y = (x @ weights + noise * rng.standard_normal(n)).reshape(n, 1)
    return _synthetic_split(x, y, split, test_size, rng, op, classification=False)


def _check_synthetic(n: Any, noise: Any, split: Any, op: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ArgumentError(f"{op}: n must be a positive int, got {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0 or math.isinf(noise):
        raise ArgumentError(f"{op}: noise must be a finite number >= 0, got {noise!r}")
    check_choice(split, "split", _SPLITS, op)


def _synthetic_split(
    x: np.ndarray,
    y: np.ndarray,
    split: str,
    test_size: float | int,
    rng: np.random.Generator,
    op: str,
    classification: bool,
) -> LabeledData:
    rows, _ = _rows(len(x), split, test_size, rng, y if classification else None, op)
    target = y[rows].astype(np.int64 if classification else np.float32)
    names = [f"x{i}" for i in range(x.shape[1])]
    return LabeledData(x[rows].astype(np.float32), target, names, "y")


# -- the registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """What a built-in dataset is, for building a model and choosing a loss for it.

    task: 'classification' or 'regression'. num_features: the width of X. num_classes: the number of classes,
    None for regression. num_samples: N with split='all'. source: 'scikit-learn' (needs the datasets extra) or
    'synthetic'.
    """

    name: str
    task: str
    num_features: int
    num_classes: int | None
    num_samples: int
    source: str
    description: str

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    @property
    def num_outputs(self) -> int:
        """The width of a model's output: one logit per class, or 1 for regression."""
        return 1 if self.num_classes is None else self.num_classes


def _fixed(name: str, task: str, features: int, classes: int | None, samples: int, text: str) -> Callable[..., Any]:
    return lambda **kw: DatasetInfo(name, task, features, classes, samples, "scikit-learn", text)


_REGISTRY: dict[str, tuple[Callable[..., LabeledData], Callable[..., DatasetInfo]]] = {
    "digits": (digits, _fixed("digits", "classification", 64, 10, 1797, "8x8 images of handwritten digits")),
    "iris": (iris, _fixed("iris", "classification", 4, 3, 150, "iris flowers, 3 species")),
    "wine": (wine, _fixed("wine", "classification", 13, 3, 178, "wines by chemical analysis, 3 cultivars")),
    "breast_cancer": (
        breast_cancer,
        _fixed("breast_cancer", "classification", 30, 2, 569, "breast tumours, malignant or benign"),
    ),
    "diabetes": (diabetes, _fixed("diabetes", "regression", 10, None, 442, "diabetes progression after a year")),
    "mnist1d": (
        mnist1d,
        lambda num_samples=5000, final_seq_length=40, **kw: DatasetInfo(
            "mnist1d",
            "classification",
            final_seq_length,
            10,
            10 * (num_samples // 10),
            "synthetic",
            "MNIST-1D: 1-D signals of ten digits (Greydanus 2020)",
        ),
    ),
    "moons": (
        two_moons,
        lambda n=1000, **kw: DatasetInfo(
            "moons", "classification", 2, 2, n, "synthetic", "two interleaving half circles"
        ),
    ),
    "spirals": (
        spirals,
        lambda n=1000, classes=3, **kw: DatasetInfo(
            "spirals", "classification", 2, classes, n, "synthetic", "interleaved spiral arms"
        ),
    ),
    "regression": (
        regression,
        lambda n=1000, features=10, **kw: DatasetInfo(
            "regression", "regression", features, None, n, "synthetic", "a noisy linear function"
        ),
    ),
}


def available_datasets() -> dict[str, DatasetInfo]:
    """The built-in datasets by name, each with its DatasetInfo (for the default arguments)."""
    return {name: make_info() for name, (_, make_info) in _REGISTRY.items()}


def _entry(name: Any, kwargs: dict[str, Any]) -> tuple[Callable[..., LabeledData], Callable[..., DatasetInfo]]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ArgumentError(
            f"unknown dataset {name!r}; the built-in datasets are: {', '.join(_REGISTRY)} "
            "(for MNIST files, use chainrule.data.load_mnist(folder); for a CSV file, load_csv(path))"
        )
    function, make_info = _REGISTRY[name]
    accepted = inspect.signature(function).parameters
    unknown = [key for key in kwargs if key not in accepted]
    if unknown:
        raise ArgumentError(
            f"dataset {name!r}: unknown argument(s) {', '.join(unknown)}; it accepts {', '.join(accepted)}"
        )
    return function, make_info


def get_dataset(name: str, **kwargs: Any) -> LabeledData:
    """The built-in dataset `name` as (X, y): `get_dataset('digits', split='train')` is `digits(split='train')`."""
    function, _ = _entry(name, kwargs)
    return function(**kwargs)


def dataset_info(name: str, **kwargs: Any) -> DatasetInfo:
    """The DatasetInfo of `name` with these arguments (`dataset_info('spirals', classes=5).num_classes == 5`)."""
    _, make_info = _entry(name, kwargs)
    return make_info(**kwargs)
