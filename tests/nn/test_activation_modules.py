"""Activation modules and nn.functional: the same values, gradients and reprs as torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.errors import ArgumentError
from chainrule.ops import activation, loss
from tests.helpers import compare_with_torch, random_array, requires_torch, torch

# (our module, the name of torch's module, the constructor arguments of both)
CASES = [
    (nn.ReLU, "ReLU", ()),
    (nn.ReLU, "ReLU", (True,)),
    (nn.LeakyReLU, "LeakyReLU", ()),
    (nn.LeakyReLU, "LeakyReLU", (0.2,)),
    (nn.ELU, "ELU", ()),
    (nn.ELU, "ELU", (0.5,)),
    (nn.GELU, "GELU", ()),
    (nn.GELU, "GELU", ("tanh",)),
    (nn.Sigmoid, "Sigmoid", ()),
    (nn.Tanh, "Tanh", ()),
    (nn.Softplus, "Softplus", ()),
    (nn.Softplus, "Softplus", (2.0, 3.0)),
    (nn.SiLU, "SiLU", ()),
    (nn.Hardtanh, "Hardtanh", ()),
    (nn.Hardtanh, "Hardtanh", (-2.0, 0.5)),
    (nn.ReLU6, "ReLU6", ()),
    (nn.Softmax, "Softmax", (1,)),
    (nn.Softmax, "Softmax", (-1,)),
    (nn.LogSoftmax, "LogSoftmax", (0,)),
]


def case_id(case) -> str:
    return case[1] + "".join(f"-{a}" for a in case[2])


def kinky_input() -> np.ndarray:
    """Random values plus the kinks of every activation here (0, +-1, 6, -2, 0.5), so their gradients are
    compared exactly where the conventions differ."""
    values = random_array(3, 8, seed=11, low=-8, high=8)
    values[0, :6] = [0.0, 1.0, -1.0, 6.0, -2.0, 0.5]
    return values


@requires_torch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation_module_matches_pytorch(case):
    ours_cls, name, args = case
    theirs = getattr(torch.nn, name)(*args)
    ours = ours_cls(*args)
    # in-place modules would overwrite torch's leaf input; compare the out-of-place function instead
    reference = getattr(torch.nn, name)(*args[:-1]) if args and args[-1] is True else theirs
    compare_with_torch(ours, reference, kinky_input())


@requires_torch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation_module_repr_matches_pytorch(case):
    ours_cls, name, args = case
    assert repr(ours_cls(*args)) == repr(getattr(torch.nn, name)(*args))


@requires_torch
@pytest.mark.parametrize("inplace", [True, False])
def test_inplace_flags_are_shown_as_pytorch(inplace):
    for ours, theirs in (
        (nn.LeakyReLU(0.1, inplace), torch.nn.LeakyReLU(0.1, inplace)),
        (nn.ELU(1.0, inplace), torch.nn.ELU(1.0, inplace)),
        (nn.SiLU(inplace), torch.nn.SiLU(inplace)),
        (nn.Hardtanh(-1.0, 1.0, inplace), torch.nn.Hardtanh(-1.0, 1.0, inplace)),
        (nn.ReLU6(inplace), torch.nn.ReLU6(inplace)),
    ):
        assert repr(ours) == repr(theirs)


def test_inplace_modules_leave_their_input_unchanged():
    x = cr.tensor([-1.0, 2.0])
    out = nn.ReLU(inplace=True)(x)
    np.testing.assert_array_equal(x.data, [-1.0, 2.0])
    np.testing.assert_array_equal(out.data, [0.0, 2.0])


@requires_torch
@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 4), (2, 3, 2, 2)])
def test_softmax_without_dim_uses_pytorchs_implicit_dim_and_warns(shape):
    x = random_array(*shape, seed=2)
    for ours, theirs in ((nn.Softmax(), torch.nn.Softmax()), (nn.LogSoftmax(), torch.nn.LogSoftmax())):
        with pytest.warns(UserWarning, match="Implicit dimension"):
            out = ours(cr.tensor(x))
        with pytest.warns(UserWarning):
            ref = theirs(torch.tensor(x))
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12, atol=1e-12)


def test_hardtanh_rejects_inverted_bounds():
    with pytest.raises(ArgumentError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)


def test_activation_modules_have_no_parameters():
    for ours_cls, _, args in CASES:
        assert list(ours_cls(*args).parameters()) == []


# -- nn.functional ---------------------------------------------------------------------------------------------
def test_functional_reexports_the_ops_themselves():
    for name in ("gelu", "softplus", "softmax", "log_softmax", "selu", "celu", "mish", "logsigmoid"):
        assert getattr(F, name) is getattr(activation, name)
    for name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"):  # fmt: skip
        assert getattr(F, name) is getattr(loss, name)
    assert F.sigmoid is cr.sigmoid and F.tanh is cr.tanh
    assert F.linear.__module__ == "chainrule.ops.linalg" and F.pad.__module__ == "chainrule.ops.shape"
    for name in F.__all__:
        assert callable(getattr(F, name)), name


@requires_torch
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("relu", {"inplace": True}),
        ("leaky_relu", {"negative_slope": 0.3, "inplace": True}),
        ("elu", {"alpha": 0.7, "inplace": False}),
        ("silu", {"inplace": True}),
        ("hardtanh", {"min_val": -0.5, "max_val": 2.0, "inplace": True}),
        ("relu6", {"inplace": True}),
    ],
)
def test_functional_wrappers_accept_pytorchs_inplace_argument(name, kwargs):
    torch_kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    compare_with_torch(
        lambda x: getattr(F, name)(x, **kwargs),
        lambda x: getattr(torch.nn.functional, name)(x, **torch_kwargs),
        kinky_input(),
    )


@requires_torch
def test_functional_linear_and_pad_match_pytorch():
    x, w, b = random_array(2, 3, seed=1), random_array(4, 3, seed=2), random_array(4, seed=3)
    compare_with_torch(F.linear, torch.nn.functional.linear, x, w, b)
    compare_with_torch(lambda t: F.pad(t, (1, 2)), lambda t: torch.nn.functional.pad(t, (1, 2)), x)
