"""Locating the first NaN or Inf in a graph: forward (an op, a parameter, an input) and backward."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics.nonfinite import backward_origin, forward_origin, locate_in_backward, locate_in_forward
from tests.diagnostics.pathologies import RowNormalize, SqrtOfZero, weights_of


def test_the_op_that_turns_finite_inputs_into_nan_is_found():
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = (x.log() * 2.0).exp().sum()
    origin = forward_origin(y)
    assert origin.what == "op" and origin.op == "log" and origin.value == "NaN" and origin.stage == "forward"
    assert forward_origin((x * 2).sum()) is None


def test_non_finite_leaves_are_the_origin_when_they_come_in_that_way():
    x = cr.tensor([1.0, float("inf")])
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    assert forward_origin((x * w).sum()).what == "input"


def test_the_backward_of_sqrt_at_zero_is_found():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = (x.sqrt() * 3.0).sum()
        origin = backward_origin(y)
    assert origin.op == "sqrt" and origin.stage == "backward" and origin.value == "Inf"
    assert backward_origin((x * x).sum()) is None


def test_the_backward_origin_is_found_when_the_op_overwrites_its_gradient():
    # An op's backward may write its result into the gradient it was handed (autograd.owns): the search must
    # judge the gradient that came in, not what the op made of it. This op always overwrites.
    from chainrule.tensor import result

    def scale_in_place(x: cr.Tensor, factor: np.ndarray) -> cr.Tensor:
        def backward(grad: np.ndarray) -> tuple:
            grad *= factor
            return (grad,)

        return result(x.data * factor, (x,), backward, "scale_in_place")

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = scale_in_place(x * 1.0, np.array([np.inf, 1.0]))
        origin = backward_origin((y * cr.tensor([2.0, 3.0])).sum())
    assert origin is not None and origin.op == "scale_in_place" and origin.value == "Inf"


def test_locating_in_a_model_names_the_layer_and_leaves_the_model_as_it_was():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4, bias=False), RowNormalize(), nn.Linear(4, 2), nn.Dropout(0.5))
    x = cr.tensor(np.zeros((2, 4), dtype=np.float32))
    weights, rng = weights_of(model), cr.get_rng_state()
    origin = locate_in_forward(model, (x,), None, None)
    assert (origin.op, origin.layer, origin.layer_kind) == ("div", "1", "RowNormalize")
    assert origin.describe() == "op 'div' in layer '1' (RowNormalize)"
    assert all(np.array_equal(v.data, weights[k]) for k, v in model.state_dict().items())
    assert cr.get_rng_state() == rng

    model = nn.Sequential(nn.Linear(4, 4), SqrtOfZero(), nn.Linear(4, 2))
    x = cr.tensor(np.ones((2, 4), dtype=np.float32))
    origin = locate_in_backward(model, (x,), nn.CrossEntropyLoss(), cr.tensor([0, 1]))
    assert (origin.op, origin.layer, origin.stage) == ("sqrt", "1", "backward")
    assert all(p.grad is None for p in model.parameters())


def test_a_nan_made_by_the_loss_function_is_placed_outside_the_model():
    model = nn.Linear(2, 1)

    def bad_loss(output: cr.Tensor, target: cr.Tensor) -> cr.Tensor:
        return (output - output).div(output - output).sum()

    with np.errstate(all="ignore"):
        origin = locate_in_forward(model, (cr.ones(3, 2),), bad_loss, cr.zeros(3, 1))
    assert origin.op == "div" and origin.layer is None
    assert origin.describe() == "op 'div' outside the model (in the loss function)"
