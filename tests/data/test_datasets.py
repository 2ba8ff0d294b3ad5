"""Built-in datasets, their registry, and train_test_split."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import data
from chainrule.data import datasets as datasets_module
from chainrule.data import train_test_split
from chainrule.errors import ArgumentError, ShapeError

SKLEARN_SHAPES = {
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
}


@pytest.mark.parametrize("name", list(SKLEARN_SHAPES))
def test_sklearn_tables_have_their_shapes_and_training_dtypes(name):
    pytest.importorskip("sklearn")
    n, features, classes = SKLEARN_SHAPES[name]
    X, y = data.get_dataset(name)
    assert X.shape == (n, features) and X.dtype == np.float32
    if classes is None:
        assert y.shape == (n, 1) and y.dtype == np.float32
    else:
        assert y.shape == (n,) and y.dtype == np.int64
        assert sorted(np.unique(y).tolist()) == list(range(classes))
    info = data.dataset_info(name)
    assert (info.num_samples, info.num_features, info.num_classes) == (n, features, classes)
    assert info.num_outputs == (classes or 1)


def test_train_and_test_parts_are_complementary_and_stratified():
    pytest.importorskip("sklearn")
    X_all, y_all = data.digits(normalize=False)
    X_train, _ = data.digits(split="train", normalize=False)
    X_test, y_test = data.digits(split="test", normalize=False)
    assert len(X_test) == int(np.ceil(0.2 * 1797)) and len(X_train) + len(X_test) == 1797
    rows = {row.tobytes() for row in X_all}
    assert rows == {row.tobytes() for row in np.concatenate([X_train, X_test])}
    assert np.all(np.abs(np.bincount(y_test) / len(y_test) - np.bincount(y_all) / 1797) < 0.01)
    again, _ = data.digits(split="test", normalize=False)
    np.testing.assert_array_equal(again, X_test)
    other, _ = data.digits(split="test", normalize=False, seed=1)
    assert not np.array_equal(other, X_test)


def test_normalize_uses_the_training_part_statistics():
    pytest.importorskip("sklearn")
    X_train, _ = data.wine(split="train")
    X_test, _ = data.wine(split="test")
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(X_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(X_test.mean(axis=0), 0, atol=1e-3)
    _, target = data.diabetes(split="train")
    assert abs(float(target.mean())) < 1e-5 and target.shape[1] == 1


def test_sklearn_tables_carry_names():
    pytest.importorskip("sklearn")
    pair = data.iris()
    assert pair.classes == ["setosa", "versicolor", "virginica"]
    assert pair.feature_names[0] == "sepal length (cm)" and pair.X is pair[0]


def test_missing_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    datasets_module._sklearn_raw.cache_clear()
    with pytest.raises(data.MissingDependencyError, match=r'pip install "chainrule\[datasets\]"') as caught:
        data.digits()
    assert isinstance(caught.value, ImportError) and "\n" not in str(caught.value)
    datasets_module._sklearn_raw.cache_clear()


@pytest.mark.parametrize(
    ("name", "kwargs", "features", "classes"),
    [
        ("moons", {"n": 101}, 2, 2),
        ("spirals", {"n": 100, "classes": 4}, 2, 4),
        ("regression", {"n": 50, "features": 7}, 7, None),
    ],
)
def test_synthetic_datasets_shapes_dtypes_and_info(name, kwargs, features, classes):
    X, y = data.get_dataset(name, **kwargs)
    n = kwargs["n"]
    assert X.shape == (n, features) and X.dtype == np.float32
    if classes is None:
        assert y.shape == (n, 1) and y.dtype == np.float32
    else:
        assert y.dtype == np.int64 and sorted(set(y.tolist())) == list(range(classes))
    info = data.dataset_info(name, **kwargs)
    assert info.num_features == features and info.num_classes == classes and info.num_samples == n


def test_synthetic_datasets_are_determined_by_their_seed():
    a, _ = data.two_moons(n=50, seed=3)
    b, _ = data.two_moons(n=50, seed=3)
    c, _ = data.two_moons(n=50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    generator = cr.Generator(0)
    d, _ = data.spirals(n=30, seed=generator)
    e, _ = data.spirals(n=30, seed=generator)
    assert not np.array_equal(d, e)


def test_two_moons_matches_the_make_moons_layout_without_noise():
    X, y = data.two_moons(n=200, noise=0.0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert len(upper) == len(lower) == 100


def test_regression_target_is_linear_in_the_features():
    X, y = data.regression(n=300, features=5, noise=0.0, seed=2)
    weights, *_ = np.linalg.lstsq(X.astype(np.float64), y.astype(np.float64), rcond=None)
    np.testing.assert_allclose(X @ weights, y, atol=1e-4)


def test_synthetic_splits_are_complementary():
    X_all, _ = data.spirals(n=120, seed=5)
    X_train, _ = data.spirals(n=120, seed=5, split="train", test_size=0.25)
    X_test, _ = data.spirals(n=120, seed=5, split="test", test_size=0.25)
    assert len(X_train) == 90 and len(X_test) == 30
    together = np.concatenate([X_train, X_test])
    assert sorted(map(bytes, together)) == sorted(map(bytes, X_all))


def test_registry_lists_every_dataset_with_its_task():
    available = data.available_datasets()
    assert {"digits", "breast_cancer", "diabetes", "moons", "spirals", "regression"} <= set(available)
    assert available["digits"].is_classification and available["digits"].num_classes == 10
    assert available["diabetes"].task == "regression" and available["diabetes"].num_classes is None
    assert available["moons"].num_features == 2


def test_unknown_dataset_and_arguments_list_the_valid_ones():
    with pytest.raises(ArgumentError, match="digits, iris") as caught:
        data.get_dataset("mnist")
    assert "spirals" in str(caught.value)
    with pytest.raises(ArgumentError, match="accepts n, noise, seed"):
        data.get_dataset("moons", classes=3)
    with pytest.raises(ArgumentError, match="split must be one of"):
        data.two_moons(split="validation")
    with pytest.raises(ArgumentError, match="seed"):
        data.two_moons(seed=-1)
    with pytest.raises(ArgumentError):
        data.spirals(classes=1)


def test_train_test_split_sizes_types_and_order():
    X = np.arange(20).reshape(10, 2)
    y = cr.tensor(np.arange(10))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert X_train.shape == (7, 2) and X_test.shape == (3, 2)
    assert isinstance(X_train, np.ndarray) and isinstance(y_train, cr.Tensor)
    np.testing.assert_array_equal(X_train[:, 0] // 2, y_train.data)
    assert sorted(y_train.tolist() + y_test.tolist()) == list(range(10))
    kept = train_test_split(X, test_size=2, shuffle=False)
    np.testing.assert_array_equal(kept[1], X[8:])


def test_train_test_split_stratify_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    _, y_test = train_test_split(y, test_size=0.2, seed=1, stratify=y)
    assert np.bincount(y_test).tolist() == [16, 4]


def test_train_test_split_seed_none_follows_manual_seed():
    X = np.arange(50)
    cr.manual_seed(2)
    first = train_test_split(X)[1]
    cr.manual_seed(2)
    np.testing.assert_array_equal(train_test_split(X)[1], first)


def test_train_test_split_errors():
    with pytest.raises(ShapeError, match=r"\[4, 3\]"):
        train_test_split(np.zeros(4), np.zeros(3))
    with pytest.raises(ArgumentError, match="each part"):
        train_test_split(np.zeros(4), test_size=4)
    with pytest.raises(ArgumentError, match=r"\(0, 1\)"):
        train_test_split(np.zeros(4), test_size=1.5)
    with pytest.raises(ArgumentError, match="only 1 sample"):
        train_test_split(np.zeros(5), stratify=[0, 0, 0, 0, 1])
