"""Losses: values against NumPy formulas, gradients against finite differences and PyTorch (weights, ignore_index,
label smoothing, probability targets, K-dim inputs), stability at extreme logits, dtypes, and error messages."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops import loss as L
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

F = torch.nn.functional if torch is not None else None
REDUCTIONS = ["mean", "sum", "none"]


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def _np_log_softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _class_targets(shape: tuple[int, ...], classes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=shape)


def _probabilities(*shape: int, seed: int = 0) -> np.ndarray:
    return random_array(*shape, seed=seed, low=0.05, high=0.95)


# -- regression losses -------------------------------------------------------------------------------------------
def _np_huber(d: np.ndarray, delta: float) -> np.ndarray:
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


# (id, ours(input, target, reduction), torch's, NumPy's elementwise loss of d = input - target)
REGRESSION = [
    ("mse", L.mse_loss, lambda *a, reduction: F.mse_loss(*a, reduction=reduction), lambda d: d * d),
    ("l1", L.l1_loss, lambda *a, reduction: F.l1_loss(*a, reduction=reduction), np.abs),
    (
        "huber",
        lambda *a, reduction: L.huber_loss(*a, reduction=reduction, delta=0.7),
        lambda *a, reduction: F.huber_loss(*a, reduction=reduction, delta=0.7),
        lambda d: _np_huber(d, 0.7),
    ),
    (
        "smooth_l1",
        lambda *a, reduction: L.smooth_l1_loss(*a, reduction=reduction, beta=0.6),
        lambda *a, reduction: F.smooth_l1_loss(*a, reduction=reduction, beta=0.6),
        lambda d: _np_huber(d, 0.6) / 0.6,
    ),
]
REGRESSION_IDS = [case[0] for case in REGRESSION]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), REGRESSION, ids=REGRESSION_IDS)
def test_regression_loss_matches_numpy_formula(name, ours, theirs, reference, reduction) -> None:
    x, y = random_array(3, 4, seed=1), random_array(3, 4, seed=2)
    out = ours(cr.tensor(x), cr.tensor(y), reduction=reduction)
    np.testing.assert_allclose(out.data, _reduce(reference(x - y), reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), REGRESSION, ids=REGRESSION_IDS)
def test_regression_loss_gradients_of_input_and_target(name, ours, theirs, reference, reduction) -> None:
    x, y = random_array(2, 3, seed=3), random_array(2, 3, seed=4)
    check_gradients(lambda a, b: ours(a, b, reduction=reduction), x, y)


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), REGRESSION, ids=REGRESSION_IDS)
def test_regression_loss_matches_torch(name, ours, theirs, reference, reduction) -> None:
    x, y = random_array(4, 5, seed=5), random_array(4, 5, seed=6)
    compare_with_torch(
        lambda a, b: ours(a, b, reduction=reduction), lambda a, b: theirs(a, b, reduction=reduction), x, y
    )


WEIGHTED_REGRESSION = [
    ("mse", L.mse_loss, lambda *a, **k: F.mse_loss(*a, **k)),
    ("l1", L.l1_loss, lambda *a, **k: F.l1_loss(*a, **k)),
    ("huber", L.huber_loss, lambda *a, **k: F.huber_loss(*a, **k)),
]


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "ours", "theirs"), WEIGHTED_REGRESSION, ids=[c[0] for c in WEIGHTED_REGRESSION])
def test_weighted_regression_loss_matches_torch_including_weight_gradient(name, ours, theirs, reduction) -> None:
    # mse and l1 average by sum(weight), huber by the element count: PyTorch's two rules
    x, y, w = random_array(3, 4, seed=7), random_array(3, 4, seed=8), random_array(3, 4, seed=9, low=0.1, high=1)
    compare_with_torch(
        lambda a, b, c: ours(a, b, reduction=reduction, weight=c),
        lambda a, b, c: theirs(a, b, reduction=reduction, weight=c),
        x,
        y,
        w,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "ours", "theirs"), WEIGHTED_REGRESSION, ids=[c[0] for c in WEIGHTED_REGRESSION])
def test_weighted_regression_loss_gradients(name, ours, theirs, reduction) -> None:
    x, y, w = random_array(2, 3, seed=10), random_array(2, 3, seed=11), random_array(2, 3, seed=12, low=0.1, high=1)
    check_gradients(lambda a, b, c: ours(a, b, reduction=reduction, weight=c), x, y, w)


def test_weighted_mse_mean_divides_by_the_sum_of_weights() -> None:
    out = L.mse_loss(cr.tensor([1.0, 3.0]), cr.tensor([0.0, 0.0]), weight=cr.tensor([1.0, 3.0]))
    assert out.item() == pytest.approx((1 * 1 + 3 * 9) / 4)


def test_smooth_l1_with_beta_zero_is_l1() -> None:
    x = cr.tensor(random_array(3, 4, seed=13), requires_grad=True)
    y = cr.tensor(random_array(3, 4, seed=14))
    L.smooth_l1_loss(x, y, beta=0.0).backward()
    np.testing.assert_allclose(L.smooth_l1_loss(x, y, beta=0.0).data, np.abs(x.data - y.data).mean())
    np.testing.assert_allclose(x.grad.data, np.sign(x.data - y.data) / 12)


def test_l1_gradient_is_zero_where_input_equals_target() -> None:
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    L.l1_loss(x, cr.tensor([1.0, 0.0, 5.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, -1.0])


def test_regression_loss_keeps_float32_for_float64_target() -> None:
    x = cr.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    y = cr.tensor(np.ones((2, 3)), requires_grad=True)  # float64
    out = L.mse_loss(x, y)
    out.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and y.grad.dtype == np.float64


# -- binary cross-entropy -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_numpy_formula(reduction) -> None:
    p, t, w = _probabilities(3, 4, seed=1), _probabilities(3, 4, seed=2), random_array(4, seed=3, low=0.1, high=1)
    out = L.binary_cross_entropy(cr.tensor(p), cr.tensor(t), weight=cr.tensor(w), reduction=reduction)
    expected = -w * (t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(out.data, _reduce(expected, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_gradients_of_input_and_target(reduction) -> None:
    w = cr.tensor(random_array(3, seed=4, low=0.1, high=1))
    check_gradients(
        lambda a, b: L.binary_cross_entropy(a, b, weight=w, reduction=reduction),
        _probabilities(2, 3, seed=5),
        _probabilities(2, 3, seed=6),
    )


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(reduction) -> None:
    w = random_array(5, seed=7, low=0.1, high=1)
    compare_with_torch(
        lambda a, b: L.binary_cross_entropy(a, b, weight=cr.tensor(w), reduction=reduction),
        lambda a, b: F.binary_cross_entropy(a, b, weight=torch.tensor(w), reduction=reduction),
        _probabilities(4, 5, seed=8),
        _probabilities(4, 5, seed=9),
    )


@requires_torch
def test_binary_cross_entropy_floors_logs_at_minus_100_like_torch() -> None:
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    ours = L.binary_cross_entropy(cr.tensor(p), cr.tensor(t), reduction="none")
    np.testing.assert_allclose(ours.data, [100.0, 100.0, 0.0, 0.0, 0.3 * 100 - 0.7 * np.log1p(-1e-50)])
    theirs = F.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(ours.data, theirs.numpy())
    x = cr.tensor(p, requires_grad=True)
    L.binary_cross_entropy(x, cr.tensor(t), reduction="sum").backward()
    assert np.isfinite(x.grad.data).all()


# (id, shapes of weight and pos_weight for a (3, 4) input)
BCE_LOGITS_CASES = {
    "plain": {},
    "weight": {"weight": (4,)},
    "pos_weight": {"pos_weight": (4,)},
    "both": {"weight": (3, 1), "pos_weight": (4,)},
}


def _bce_logits_kwargs(case: str, make) -> dict:
    shapes = BCE_LOGITS_CASES[case]
    return {
        name: make(random_array(*shape, seed=20 + i, low=0.2, high=3)) for i, (name, shape) in enumerate(shapes.items())
    }


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(BCE_LOGITS_CASES))
def test_binary_cross_entropy_with_logits_matches_torch(case, reduction) -> None:
    compare_with_torch(
        lambda a, b: L.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, **_bce_logits_kwargs(case, cr.tensor)
        ),
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, **_bce_logits_kwargs(case, torch.tensor)
        ),
        random_array(3, 4, seed=10, low=-4, high=4),
        _probabilities(3, 4, seed=11),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(BCE_LOGITS_CASES))
def test_binary_cross_entropy_with_logits_gradients_of_input_and_target(case, reduction) -> None:
    kwargs = _bce_logits_kwargs(case, cr.tensor)
    check_gradients(
        lambda a, b: L.binary_cross_entropy_with_logits(a, b, reduction=reduction, **kwargs),
        random_array(3, 4, seed=12, low=-3, high=3),
        _probabilities(3, 4, seed=13),
    )


def test_binary_cross_entropy_with_logits_equals_bce_of_sigmoid() -> None:
    x, t = random_array(3, 4, seed=14), _probabilities(3, 4, seed=15)
    pos_weight = random_array(4, seed=16, low=0.5, high=2)
    ours = L.binary_cross_entropy_with_logits(cr.tensor(x), cr.tensor(t), pos_weight=cr.tensor(pos_weight))
    p = 1 / (1 + np.exp(-x))
    expected = -(pos_weight * t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    np.testing.assert_allclose(ours.data, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_is_finite_at_extreme_logits(dtype) -> None:
    x = np.array([100.0, -100.0, 1e4, -1e4, 1e4, -1e4], dtype=dtype)
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype)
    pos_weight = np.full(6, 2.0, dtype=dtype)
    logits = cr.tensor(x, requires_grad=True)
    out = L.binary_cross_entropy_with_logits(logits, cr.tensor(t), reduction="none", pos_weight=cr.tensor(pos_weight))
    # wrong-side logits cost |x| (times pos_weight for positives), right-side ones nothing
    np.testing.assert_allclose(out.data, [100.0, 200.0, 1e4, 2e4, 0.0, 0.0], rtol=1e-6)
    out.backward(np.ones(6, dtype=dtype))
    # d/dx = l sigmoid(x) - pos_weight t, sigmoid saturated at 0 or 1
    np.testing.assert_allclose(logits.grad.data, [1.0, -2.0, 1.0, -2.0, 0.0, 0.0], atol=1e-6)
    assert out.dtype == dtype and logits.grad.dtype == dtype


@requires_torch
def test_binary_cross_entropy_with_logits_matches_torch_at_logits_of_100() -> None:
    x = np.array([[100.0, -100.0, 30.0], [-30.0, 100.0, -100.0]])
    compare_with_torch(
        lambda a, b: L.binary_cross_entropy_with_logits(a, b, reduction="none"),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
        x,
        _probabilities(2, 3, seed=17),
    )


# -- cross-entropy with class indices ---------------------------------------------------------------------------------
def _np_cross_entropy(
    x: np.ndarray,
    t: np.ndarray,
    weight: np.ndarray | None,
    ignore_index: int,
    reduction: str,
    eps: float,
) -> np.ndarray:
    """The textbook formula, with an explicit smoothed one-hot target, classes on axis 1 moved last."""
    target_shape = t.shape
    if x.ndim == 1:
        x, t = x[None], t[None]
    log_p = np.moveaxis(_np_log_softmax(x), 1, -1).reshape(-1, x.shape[1])
    flat = t.reshape(-1)
    classes = x.shape[1]
    w = np.ones(classes) if weight is None else weight
    valid = flat != ignore_index
    safe = np.where(valid, flat, 0)
    onehot = np.eye(classes)[safe]
    coefficients = ((1 - eps) * onehot + eps / classes) * w
    losses = -(coefficients * log_p).sum(axis=1) * valid
    if reduction == "none":
        return losses.reshape(target_shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (w[safe] * valid).sum()


# (id, input shape, ignore_index, targets set to ignore_index)
INDEX_LAYOUTS = [
    ("NC", (5, 4), -100, [1]),
    ("C", (4,), -100, []),
    ("NCd", (2, 4, 3), 2, [(0, 1)]),
    ("NCdd", (2, 3, 2, 2), -1, [(1, 0, 1)]),
]


def _index_case(layout: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    _, shape, ignore_index, ignored = next(case for case in INDEX_LAYOUTS if case[0] == layout)
    x = random_array(*shape, seed=seed)
    target_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = np.asarray(_class_targets(target_shape, shape[1] if len(shape) > 1 else shape[0], seed=seed + 1))
    for index in ignored:
        t[index] = ignore_index
    return x, t, ignore_index


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", [case[0] for case in INDEX_LAYOUTS])
def test_cross_entropy_with_class_indices_matches_numpy_formula(layout, weighted, eps) -> None:
    x, t, ignore_index = _index_case(layout)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = random_array(classes, seed=50, low=0.1, high=2) if weighted else None
    for reduction in REDUCTIONS:
        out = L.cross_entropy(
            cr.tensor(x),
            cr.tensor(t),
            weight=None if w is None else cr.tensor(w),
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=eps,
        )
        np.testing.assert_allclose(out.data, _np_cross_entropy(x, t, w, ignore_index, reduction, eps), rtol=1e-10)


@requires_torch
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", [case[0] for case in INDEX_LAYOUTS])
def test_cross_entropy_with_class_indices_matches_torch(layout, weighted, eps) -> None:
    x, t, ignore_index = _index_case(layout, seed=3)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = random_array(classes, seed=51, low=0.1, high=2) if weighted else None
    for reduction in REDUCTIONS:
        kwargs = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": eps}
        compare_with_torch(
            lambda a, b, kwargs=kwargs: L.cross_entropy(a, b, weight=None if w is None else cr.tensor(w), **kwargs),
            lambda a, b, kwargs=kwargs: F.cross_entropy(a, b, weight=None if w is None else torch.tensor(w), **kwargs),
            x,
            t,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", [case[0] for case in INDEX_LAYOUTS])
def test_cross_entropy_with_class_indices_gradients(layout, reduction) -> None:
    x, t, ignore_index = _index_case(layout, seed=6)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = cr.tensor(random_array(classes, seed=52, low=0.1, high=2))
    target = cr.tensor(t)
    check_gradients(
        lambda a: L.cross_entropy(
            a, target, weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=0.3
        ),
        x,
    )
    check_gradients(lambda a: L.cross_entropy(a, target, ignore_index=ignore_index, reduction=reduction), x)


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_when_every_target_is_ignored_matches_torch(reduction) -> None:
    # mean: 0 / 0 = nan, as PyTorch; sum: 0. The gradient is zero either way.
    x = random_array(3, 4, seed=7)
    t = np.full(3, -100)
    ours = L.cross_entropy(cr.tensor(x), cr.tensor(t), reduction=reduction)
    theirs = F.cross_entropy(torch.tensor(x), torch.tensor(t), reduction=reduction)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_at_extreme_logits(dtype) -> None:
    x = np.array([[1e4, -1e4, 0.0], [-100.0, 100.0, 3.0], [100.0, -100.0, -100.0]], dtype=dtype)
    logits = cr.tensor(x, requires_grad=True)
    out = L.cross_entropy(logits, cr.tensor([1, 0, 0]), reduction="none")
    np.testing.assert_allclose(out.data, [2e4, 200.0, 0.0], rtol=1e-6)
    out.backward(np.ones(3, dtype=dtype))
    softmax = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    onehot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(logits.grad.data, softmax - onehot, atol=1e-6)
    assert out.dtype == dtype and logits.grad.dtype == dtype


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"label_smoothing": 0.1}, {"weight": np.ones(5)}, {"reduction": "none"}, {"ignore_index": 2}],
    ids=["plain", "smoothing", "float64_weight", "none", "ignore"],
)
def test_cross_entropy_keeps_float32(kwargs) -> None:
    kwargs = {k: cr.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    x = cr.tensor(random_array(6, 5, seed=8).astype(np.float32), requires_grad=True)
    out = L.cross_entropy(x, cr.tensor(_class_targets((6,), 5)), **kwargs)
    out.backward(np.ones(out.shape, np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


def test_cross_entropy_backward_twice_with_retained_graph_gives_the_same_gradient() -> None:
    x = cr.tensor(random_array(4, 3, seed=9), requires_grad=True)
    out = L.cross_entropy(x, cr.tensor([0, 2, 1, 1]), label_smoothing=0.1)
    out.backward(retain_graph=True)
    first = x.grad.data.copy()
    out.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_cross_entropy_accepts_uint8_and_int32_class_indices() -> None:
    x = cr.tensor(random_array(3, 4, seed=10))
    expected = L.cross_entropy(x, cr.tensor(np.array([0, 3, 1]))).item()
    for dtype in (np.uint8, np.int32):
        assert L.cross_entropy(x, cr.tensor(np.array([0, 3, 1], dtype=dtype))).item() == expected


# -- cross-entropy with class probabilities ----------------------------------------------------------------------------
PROBABILITY_LAYOUTS = {"NC": (4, 5), "C": (5,), "NCdd": (2, 3, 2, 2)}


def _probability_case(layout: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    shape = PROBABILITY_LAYOUTS[layout]
    x = random_array(*shape, seed=seed)
    raw = random_array(*shape, seed=seed + 1, low=0.01, high=1)
    axis = 1 if len(shape) > 1 else 0
    return x, raw / raw.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("eps", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", list(PROBABILITY_LAYOUTS))
def test_cross_entropy_with_probabilities_matches_numpy_formula(layout, weighted, eps) -> None:
    x, p = _probability_case(layout)
    axis = 1 if x.ndim > 1 else 0
    classes = x.shape[axis]
    w = random_array(classes, seed=60, low=0.1, high=2) if weighted else np.ones(classes)
    for reduction in REDUCTIONS:
        out = L.cross_entropy(cr.tensor(x), cr.tensor(p), weight=cr.tensor(w), reduction=reduction, label_smoothing=eps)
        w_shape = [1] * x.ndim
        w_shape[axis] = classes
        smoothed = (1 - eps) * p + eps / classes
        losses = -(smoothed * w.reshape(w_shape) * _np_log_softmax(x, axis)).sum(axis=axis)
        expected = {"none": losses, "sum": losses.sum(), "mean": losses.sum() / max(losses.size, 1)}[reduction]
        np.testing.assert_allclose(out.data, expected, rtol=1e-10)


@requires_torch
@pytest.mark.parametrize("eps", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", list(PROBABILITY_LAYOUTS))
def test_cross_entropy_with_probabilities_matches_torch_including_target_gradient(layout, weighted, eps) -> None:
    x, p = _probability_case(layout, seed=3)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = random_array(classes, seed=61, low=0.1, high=2) if weighted else None
    for reduction in REDUCTIONS:
        kwargs = {"reduction": reduction, "label_smoothing": eps}
        compare_with_torch(
            lambda a, b, kwargs=kwargs: L.cross_entropy(a, b, weight=None if w is None else cr.tensor(w), **kwargs),
            lambda a, b, kwargs=kwargs: F.cross_entropy(a, b, weight=None if w is None else torch.tensor(w), **kwargs),
            x,
            p,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", list(PROBABILITY_LAYOUTS))
def test_cross_entropy_with_probabilities_gradients_of_input_target_and_weight(layout, reduction) -> None:
    x, p = _probability_case(layout, seed=6)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = random_array(classes, seed=62, low=0.1, high=2)
    check_gradients(lambda a, b, c: L.cross_entropy(a, b, weight=c, reduction=reduction, label_smoothing=0.2), x, p, w)


@requires_torch
def test_cross_entropy_with_probabilities_weight_gradient_matches_torch() -> None:
    x, p = _probability_case("NC", seed=9)
    w = random_array(5, seed=63, low=0.1, high=2)
    compare_with_torch(
        lambda a, b, c: L.cross_entropy(a, b, weight=c, label_smoothing=0.1),
        lambda a, b, c: F.cross_entropy(a, b, weight=c, label_smoothing=0.1),
        x,
        p,
        w,
    )


def test_cross_entropy_with_one_hot_probabilities_equals_class_indices() -> None:
    x = random_array(4, 3, seed=11)
    t = np.array([2, 0, 1, 2])
    indices = L.cross_entropy(cr.tensor(x), cr.tensor(t), label_smoothing=0.1)
    probabilities = L.cross_entropy(cr.tensor(x), cr.tensor(np.eye(3)[t]), label_smoothing=0.1)
    np.testing.assert_allclose(indices.data, probabilities.data, rtol=1e-12)


# -- nll_loss ----------------------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", [case[0] for case in INDEX_LAYOUTS])
def test_nll_loss_matches_torch(layout, weighted) -> None:
    x, t, ignore_index = _index_case(layout, seed=12)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = random_array(classes, seed=70, low=0.1, high=2) if weighted else None
    for reduction in REDUCTIONS:
        kwargs = {"ignore_index": ignore_index, "reduction": reduction}
        compare_with_torch(
            lambda a, b, kwargs=kwargs: L.nll_loss(a, b, weight=None if w is None else cr.tensor(w), **kwargs),
            lambda a, b, kwargs=kwargs: F.nll_loss(a, b, weight=None if w is None else torch.tensor(w), **kwargs),
            x,
            t,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", [case[0] for case in INDEX_LAYOUTS])
def test_nll_loss_gradients(layout, reduction) -> None:
    x, t, ignore_index = _index_case(layout, seed=13)
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = cr.tensor(random_array(classes, seed=71, low=0.1, high=2))
    target = cr.tensor(t)
    check_gradients(lambda a: L.nll_loss(a, target, weight=w, ignore_index=ignore_index, reduction=reduction), x)


def test_nll_loss_of_log_softmax_equals_cross_entropy() -> None:
    x, t, ignore_index = _index_case("NCd", seed=14)
    w = cr.tensor(random_array(4, seed=72, low=0.1, high=2))
    log_p = cr.tensor(_np_log_softmax(x))
    nll = L.nll_loss(log_p, cr.tensor(t), weight=w, ignore_index=ignore_index)
    ce = L.cross_entropy(cr.tensor(x), cr.tensor(t), weight=w, ignore_index=ignore_index)
    np.testing.assert_allclose(nll.data, ce.data, rtol=1e-12)


# -- reductions and legacy arguments ----------------------------------------------------------------------------------
def test_deprecated_size_average_and_reduce_map_to_reduction_like_torch() -> None:
    x, t = cr.tensor(random_array(3, 4, seed=15)), cr.tensor(random_array(3, 4, seed=16))
    for size_average, reduce, reduction in [(None, False, "none"), (False, None, "sum"), (True, True, "mean")]:
        with pytest.warns(DeprecationWarning, match="reduction="):
            legacy = L.mse_loss(x, t, size_average, reduce)
        np.testing.assert_array_equal(legacy.data, L.mse_loss(x, t, reduction=reduction).data)


def test_cross_entropy_positional_arguments_bind_as_in_torch() -> None:
    x, t = cr.tensor(random_array(3, 4, seed=17)), cr.tensor(np.array([0, 1, 3]))
    w = cr.tensor(random_array(4, seed=18, low=0.1, high=1))
    positional = L.cross_entropy(x, t, w, None, 1, None, "sum", 0.1)
    keywords = L.cross_entropy(x, t, weight=w, ignore_index=1, reduction="sum", label_smoothing=0.1)
    assert positional.item() == keywords.item()


# -- errors -----------------------------------------------------------------------------------------------------------
ALL_LOSSES = [
    ("mse_loss", lambda **k: L.mse_loss(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k)),
    ("l1_loss", lambda **k: L.l1_loss(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k)),
    ("huber_loss", lambda **k: L.huber_loss(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k)),
    ("smooth_l1_loss", lambda **k: L.smooth_l1_loss(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k)),
    ("binary_cross_entropy", lambda **k: L.binary_cross_entropy(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k)),
    (
        "binary_cross_entropy_with_logits",
        lambda **k: L.binary_cross_entropy_with_logits(cr.tensor([0.5, 0.2]), cr.tensor([1.0, 0.0]), **k),
    ),
    ("cross_entropy", lambda **k: L.cross_entropy(cr.tensor([[0.5, 0.2]]), cr.tensor([1]), **k)),
    ("nll_loss", lambda **k: L.nll_loss(cr.tensor([[0.5, 0.2]]), cr.tensor([1]), **k)),
]


@pytest.mark.parametrize(("name", "call"), ALL_LOSSES, ids=[case[0] for case in ALL_LOSSES])
def test_unknown_reduction_raises_argument_error_naming_the_loss(name, call) -> None:
    with pytest.raises(ArgumentError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        call(reduction="avg")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
def test_regression_target_of_another_shape_raises_instead_of_broadcasting(name) -> None:
    with pytest.raises(ShapeError, match=rf"{name}: target must have the input's shape \(4, 1\), got \(4\)"):
        getattr(L, name)(cr.tensor(np.zeros((4, 1))), cr.tensor(np.zeros(4)))


def test_regression_weight_of_another_shape_raises() -> None:
    with pytest.raises(ShapeError, match=r"mse_loss: weight must have the input's shape \(2, 3\), got \(3\)"):
        L.mse_loss(cr.tensor(np.zeros((2, 3))), cr.tensor(np.zeros((2, 3))), weight=cr.tensor(np.ones(3)))


@pytest.mark.parametrize("loss", [L.binary_cross_entropy, L.binary_cross_entropy_with_logits])
def test_binary_cross_entropy_with_integer_target_raises_dtype_error(loss) -> None:
    with pytest.raises(DTypeError, match=rf"{loss.__name__}: expected a floating-point target .* got dtype int64"):
        loss(cr.tensor([0.5, 0.2]), cr.tensor([1, 0]))


def test_binary_cross_entropy_rejects_values_outside_zero_one() -> None:
    with pytest.raises(ArgumentError, match=r"binary_cross_entropy: every input element must be a probability"):
        L.binary_cross_entropy(cr.tensor([1.5, 0.2]), cr.tensor([1.0, 0.0]))
    with pytest.raises(ArgumentError, match=r"binary_cross_entropy: every target element must be in \[0, 1\]"):
        L.binary_cross_entropy(cr.tensor([0.5, 0.2]), cr.tensor([2.0, 0.0]))


def test_binary_cross_entropy_with_logits_pos_weight_that_does_not_broadcast_raises() -> None:
    with pytest.raises(ShapeError, match=r"pos_weight of shape \(3\) must broadcast to the input's \(2, 4\)"):
        L.binary_cross_entropy_with_logits(
            cr.tensor(np.zeros((2, 4))), cr.tensor(np.zeros((2, 4))), pos_weight=cr.tensor(np.ones(3))
        )


def test_cross_entropy_with_float_class_indices_raises_dtype_error() -> None:
    with pytest.raises(DTypeError) as info:
        L.cross_entropy(cr.tensor(np.zeros((3, 4))), cr.tensor([0.0, 1.0, 2.0]))
    message = str(info.value)
    assert message.startswith("cross_entropy: expected target of class indices (an integer tensor of shape (3))")
    assert "class probabilities (a float tensor of shape (3, 4))" in message
    assert "got a float32 tensor of shape (3)" in message and "use target.long()" in message


def test_cross_entropy_with_target_of_the_wrong_batch_size_raises_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"cross_entropy: expected target .* got a int64 tensor of shape \(2\)"):
        L.cross_entropy(cr.tensor(np.zeros((3, 4))), cr.tensor([0, 1]))


@pytest.mark.parametrize("loss", [L.cross_entropy, L.nll_loss])
def test_class_index_out_of_range_raises_naming_the_index(loss) -> None:
    with pytest.raises(
        ArgumentError, match=rf"{loss.__name__}: target class index 4 is out of range: expected .*\[0, 4\)"
    ):
        loss(cr.tensor(np.zeros((3, 4))), cr.tensor([0, 4, -100]))
    with pytest.raises(ArgumentError, match=r"target class index -1 is out of range"):
        loss(cr.tensor(np.zeros((3, 4))), cr.tensor([0, -1, 2]))


def test_class_weight_of_the_wrong_size_raises() -> None:
    with pytest.raises(ShapeError, match=r"cross_entropy: weight must be a 1-D tensor .* shape \(4,\), got \(3\)"):
        L.cross_entropy(cr.tensor(np.zeros((3, 4))), cr.tensor([0, 1, 2]), weight=cr.tensor(np.ones(3)))


def test_cross_entropy_argument_errors() -> None:
    x = cr.tensor(np.zeros((3, 4)))
    with pytest.raises(ArgumentError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        L.cross_entropy(x, cr.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ArgumentError, match=r"cross_entropy: ignore_index \(0\) applies to class-index targets only"):
        L.cross_entropy(x, cr.tensor(np.full((3, 4), 0.25)), ignore_index=0)
    with pytest.raises(ShapeError, match=r"cross_entropy: expected input of shape \(C,\), \(N, C\) .* got \(\)"):
        L.cross_entropy(cr.tensor(1.0), cr.tensor(0))
    with pytest.raises(ShapeError, match=r"nll_loss: .* with at least one class, got \(2, 0\)"):
        L.nll_loss(cr.tensor(np.zeros((2, 0))), cr.tensor([0, 0]))


def test_class_weight_requiring_grad_raises_for_index_targets() -> None:
    w = cr.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(ArgumentError, match=r"cross_entropy: the loss is not differentiable with respect to weight"):
        L.cross_entropy(cr.tensor(np.zeros((3, 4))), cr.tensor([0, 1, 2]), weight=w)


def test_nll_loss_with_probability_target_raises() -> None:
    with pytest.raises(ShapeError, match=r"nll_loss: expected target of class indices .* got a float32"):
        L.nll_loss(cr.tensor(np.zeros((3, 4))), cr.tensor(np.full((3, 4), 0.25, np.float32)))


def test_threshold_arguments_are_checked() -> None:
    x, y = cr.tensor([0.5]), cr.tensor([1.0])
    with pytest.raises(ArgumentError, match=r"huber_loss: delta must be positive, got 0\.0"):
        L.huber_loss(x, y, delta=0)
    with pytest.raises(ArgumentError, match=r"smooth_l1_loss: beta must be non-negative, got -1\.0"):
        L.smooth_l1_loss(x, y, beta=-1)


def test_integer_input_raises_dtype_error() -> None:
    with pytest.raises(DTypeError, match="mse_loss: expected a floating-point input, got dtype int64"):
        L.mse_loss(cr.tensor([1, 2]), cr.tensor([1.0, 2.0]))
