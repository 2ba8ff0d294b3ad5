"""gradcheck itself: it passes correct gradients and catches wrong ones, saying where."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, GradcheckError
from chainrule.tensor import result


def wrong_square(x: cr.Tensor) -> cr.Tensor:
    """x^2 with a deliberately wrong backward (3x instead of 2x)."""

    def backward(grad):
        return (grad * 3 * x.data,)

    return result(x.data * x.data, (x,), backward, "wrong_square")


def test_gradcheck_accepts_a_correct_gradient():
    x = cr.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    assert cr.gradcheck(lambda t: t * t * t, [x])


def test_gradcheck_reports_the_worst_element_of_a_wrong_gradient():
    x = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 .* worst at output element 2, input element \(2,\)"):
        cr.gradcheck(wrong_square, [x])
    assert cr.gradcheck(wrong_square, [x], raise_exception=False) is False


def test_gradcheck_handles_several_inputs_and_outputs():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    assert cr.gradcheck(lambda x, y: (x * y, x - y), [a, b])


def test_gradcheck_refuses_float32_and_inputs_without_grad():
    with pytest.raises(DTypeError, match="float64"):
        cr.gradcheck(lambda t: t * 2.0, [cr.tensor([1.0], requires_grad=True)])
    with pytest.raises(ArgumentError, match="nothing to check"):
        cr.gradcheck(lambda t: t * 2.0, [cr.tensor(np.array([1.0]))])
