"""Loss modules: they compute what the functional losses and PyTorch's modules compute, take PyTorch's
constructor arguments, and keep weight / pos_weight as buffers with PyTorch's state_dict keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError
from chainrule.nn import loss as nn_loss
from chainrule.nn.module import Module
from chainrule.ops import loss as L
from tests.helpers import compare_with_torch, random_array, requires_torch, torch


def _regression_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return random_array(3, 4, seed=seed), random_array(3, 4, seed=seed + 1)


def _bce_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return random_array(3, 4, seed=seed, low=0.05, high=0.95), random_array(3, 4, seed=seed + 1, low=0, high=1)


def _logits_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return random_array(3, 4, seed=seed, low=-3, high=3), random_array(3, 4, seed=seed + 1, low=0, high=1)


def _class_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    target = np.random.default_rng(seed).integers(0, 4, size=3)
    target[1] = 2  # the ignore_index of the cases below
    return random_array(3, 4, seed=seed), target


CLASS_WEIGHT = random_array(4, seed=99, low=0.2, high=2)
POS_WEIGHT = random_array(4, seed=98, low=0.5, high=3)

# (id, class name, constructor kwargs (weights given as arrays), inputs, functional equivalent)
CASES = [
    ("MSELoss", "MSELoss", {}, _regression_pair, lambda x, t: L.mse_loss(x, t)),
    ("MSELoss_sum", "MSELoss", {"reduction": "sum"}, _regression_pair, lambda x, t: L.mse_loss(x, t, reduction="sum")),
    ("L1Loss_none", "L1Loss", {"reduction": "none"}, _regression_pair, lambda x, t: L.l1_loss(x, t, reduction="none")),
    ("HuberLoss", "HuberLoss", {"delta": 0.5}, _regression_pair, lambda x, t: L.huber_loss(x, t, delta=0.5)),
    ("SmoothL1Loss", "SmoothL1Loss", {"beta": 0.5}, _regression_pair, lambda x, t: L.smooth_l1_loss(x, t, beta=0.5)),
    (
        "BCELoss_weight",
        "BCELoss",
        {"weight": CLASS_WEIGHT},
        _bce_pair,
        lambda x, t: L.binary_cross_entropy(x, t, weight=cr.tensor(CLASS_WEIGHT)),
    ),
    (
        "BCEWithLogitsLoss_pos_weight",
        "BCEWithLogitsLoss",
        {"weight": CLASS_WEIGHT, "pos_weight": POS_WEIGHT, "reduction": "sum"},
        _logits_pair,
        lambda x, t: L.binary_cross_entropy_with_logits(
            x, t, weight=cr.tensor(CLASS_WEIGHT), reduction="sum", pos_weight=cr.tensor(POS_WEIGHT)
        ),
    ),
    (
        "CrossEntropyLoss_all_options",
        "CrossEntropyLoss",
        {"weight": CLASS_WEIGHT, "ignore_index": 2, "label_smoothing": 0.1},
        _class_pair,
        lambda x, t: L.cross_entropy(x, t, weight=cr.tensor(CLASS_WEIGHT), ignore_index=2, label_smoothing=0.1),
    ),
    ("CrossEntropyLoss", "CrossEntropyLoss", {}, _class_pair, lambda x, t: L.cross_entropy(x, t)),
    (
        "NLLLoss_weight",
        "NLLLoss",
        {"weight": CLASS_WEIGHT, "ignore_index": 2, "reduction": "none"},
        _class_pair,
        lambda x, t: L.nll_loss(x, t, weight=cr.tensor(CLASS_WEIGHT), ignore_index=2, reduction="none"),
    ),
]
IDS = [case[0] for case in CASES]


def _build(framework: Any, class_name: str, kwargs: dict) -> Any:
    make = cr.tensor if framework is nn_loss else torch.tensor
    return getattr(framework, class_name)(**{k: make(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})


@pytest.mark.parametrize(("case", "class_name", "kwargs", "inputs", "functional"), CASES, ids=IDS)
def test_loss_module_computes_the_functional_loss(case, class_name, kwargs, inputs, functional) -> None:
    module = _build(nn_loss, class_name, kwargs)
    assert isinstance(module, Module)
    x, t = (cr.tensor(a) for a in inputs(1))
    np.testing.assert_array_equal(module(x, t).data, functional(x, t).data)


@requires_torch
@pytest.mark.parametrize(("case", "class_name", "kwargs", "inputs", "functional"), CASES, ids=IDS)
def test_loss_module_matches_torch_module(case, class_name, kwargs, inputs, functional) -> None:
    ours = _build(nn_loss, class_name, kwargs)
    theirs = _build(torch.nn, class_name, kwargs)
    compare_with_torch(ours, theirs, *inputs(5))


@requires_torch
@pytest.mark.parametrize(("case", "class_name", "kwargs", "inputs", "functional"), CASES, ids=IDS)
def test_loss_module_state_dict_has_torch_keys_and_values(case, class_name, kwargs, inputs, functional) -> None:
    ours = _build(nn_loss, class_name, kwargs).state_dict()
    theirs = _build(torch.nn, class_name, kwargs).state_dict()
    assert list(ours) == list(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key].data, theirs[key].numpy())


def test_loss_module_weights_are_buffers_not_parameters() -> None:
    module = nn_loss.BCEWithLogitsLoss(weight=cr.tensor([1.0, 2.0]), pos_weight=cr.tensor([3.0, 4.0]))
    assert list(module.parameters()) == []
    assert [name for name, _ in module.named_buffers()] == ["weight", "pos_weight"]


def test_loss_module_weight_loads_from_a_state_dict() -> None:
    module = nn_loss.CrossEntropyLoss(weight=cr.tensor([1.0, 1.0, 1.0]))
    module.load_state_dict({"weight": cr.tensor([0.5, 2.0, 1.0])})
    x, t = cr.tensor(random_array(2, 3, seed=3)), cr.tensor([1, 0])
    expected = L.cross_entropy(x, t, weight=cr.tensor([0.5, 2.0, 1.0]))
    np.testing.assert_allclose(module(x, t).data, expected.data)


def test_loss_module_follows_the_model_dtype() -> None:
    module = nn_loss.NLLLoss(weight=cr.tensor([1.0, 2.0, 3.0])).double()
    assert module.weight.dtype == np.float64
    out = module(cr.tensor(random_array(2, 3, seed=4)), cr.tensor([2, 0]))
    assert out.dtype == np.float64


@pytest.mark.parametrize("class_name", ["MSELoss", "L1Loss", "HuberLoss", "BCELoss", "CrossEntropyLoss", "NLLLoss"])
def test_unknown_reduction_is_refused_when_the_module_is_built(class_name) -> None:
    with pytest.raises(ArgumentError, match=rf"{class_name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        getattr(nn_loss, class_name)(reduction="avg")


@requires_torch
@pytest.mark.parametrize(("size_average", "reduce"), [(None, False), (False, None), (False, True), (True, None)])
def test_deprecated_size_average_and_reduce_set_the_reduction_as_in_torch(size_average, reduce) -> None:
    with pytest.warns(DeprecationWarning):
        ours = nn_loss.CrossEntropyLoss(size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        theirs = torch.nn.CrossEntropyLoss(size_average=size_average, reduce=reduce)
    assert ours.reduction == theirs.reduction


def test_constructor_arguments_are_stored_as_torch_names() -> None:
    module = nn_loss.CrossEntropyLoss(None, None, 3, None, "sum", 0.2)  # PyTorch's positional order
    assert (module.weight, module.ignore_index, module.reduction, module.label_smoothing) == (None, 3, "sum", 0.2)
    assert nn_loss.HuberLoss("none", 2.0).delta == 2.0
    assert nn_loss.SmoothL1Loss(beta=0.3).beta == 0.3


def test_loss_module_repr_is_its_name() -> None:
    assert repr(nn_loss.MSELoss()) == "MSELoss()"
