"""The engine: accumulation, shared subgraphs, retained and freed graphs, grad mode, deep graphs, hooks."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import BackwardError, DTypeError, ShapeError


def test_a_tensor_used_twice_gets_both_contributions():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x + x + x + x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)


def test_diamond_graph_sums_both_paths():
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    left = x * 2.0
    right = x * 3.0
    (left * right).sum().backward()  # d(6 x^2)/dx = 12 x
    np.testing.assert_allclose(x.grad.data, 12 * x.data)


def test_gradients_accumulate_across_backward_calls():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 4.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [7.0, 7.0])


def test_leaves_that_share_a_gradient_array_do_not_alias():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10  # e.g. gradient clipping in place
    np.testing.assert_allclose(b.grad.data, [1.0, 1.0])


def test_gradient_given_by_the_user_is_never_taken_over():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seed = np.ones(2, dtype=np.float32)
    (x + 0.0).backward(seed)
    x.grad.data += 1
    np.testing.assert_allclose(seed, [1.0, 1.0])


def test_second_backward_through_a_freed_graph_is_an_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(BackwardError, match="second time"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data)


def test_backward_frees_saved_arrays():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    hidden = cr.exp(x)
    saved = weakref.ref(hidden.data)
    loss = (hidden * 2.0).sum()
    del hidden
    gc.collect()
    assert saved() is not None  # kept alive by the graph until backward
    loss.backward()
    gc.collect()
    assert saved() is None


def test_non_scalar_backward_needs_a_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(BackwardError, match=r"shape \(2\)"):
        (x * 2.0).backward()
    with pytest.raises(ShapeError, match=r"must have the tensor's shape \(2\), got \(3\)"):
        (x * 2.0).backward(np.ones(3))
    y = x * 2.0
    y.backward(cr.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.data, [2.0, 1.0])


def test_single_element_non_scalar_backward_implies_one():
    x = cr.tensor([[3.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_allclose(x.grad.data, [[6.0]])


def test_backward_of_a_tensor_outside_the_graph_is_an_error():
    with pytest.raises(BackwardError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(DTypeError, match="floating-point"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(DTypeError):
        cr.arange(3).requires_grad_()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2.0
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            z = x * 2.0
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.grad_fn == "mul"


def test_no_grad_and_enable_grad_as_decorators():
    @cr.no_grad()
    def evaluate(t):
        return t * 2.0

    @cr.enable_grad()
    def train(t):
        return t * 2.0

    x = cr.tensor([1.0], requires_grad=True)
    assert not evaluate(x).requires_grad
    with cr.no_grad():
        assert train(x).requires_grad
    assert cr.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(RuntimeError), cr.no_grad():
        raise RuntimeError
    assert cr.is_grad_enabled()


def test_set_grad_enabled_as_call_and_context():
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    cr.set_grad_enabled(False)
    assert not cr.is_grad_enabled()
    cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_data():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert not d.requires_grad and d.data is y.data
    (y * d).sum().backward()  # d is a constant: d/dx (2x * const) = 2 * const
    np.testing.assert_allclose(x.grad.data, 2 * d.data)


def test_a_ten_thousand_op_chain_needs_no_recursion():
    x = cr.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0001**10_000], rtol=1e-3)


def test_a_wide_graph_of_many_uses_accumulates_correctly():
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    total = x * 0.0
    for k in range(200):
        total = total + x * float(k)
    total.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(4, sum(range(200))))


def test_unused_branch_gets_no_gradient_and_used_one_does():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    _ = w * 5.0  # recorded, but not part of the loss
    (x * 2.0).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.data, 2 * y.data)
    np.testing.assert_allclose(x.grad.data, 18 * x.data)


def test_hook_sees_and_can_replace_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    seen = []
    y.register_hook(lambda g: seen.append(g.copy()))
    remove = x.register_hook(lambda g: g * 0.0)
    (y * 2.0).sum().backward()
    np.testing.assert_allclose(seen[0], [2.0, 2.0])
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0])
    remove()
    x.grad = None
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


def test_in_place_update_of_a_parameter_needs_no_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(BackwardError, match="no_grad"):
        w -= 0.1 * w.grad
    same = w
    with cr.no_grad():
        w -= 0.1 * w.grad  # the seeds' update rule, in place: the parameter stays the same object
    assert w is same
    np.testing.assert_allclose(w.data, [0.8, 1.6])


def test_gradient_dtype_follows_the_leaf():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    x = cr.tensor(np.array([1.0, 2.0]))  # float64 input promotes the product
    (w * x).sum().backward()
    assert w.grad.dtype == np.float32


# -- ops that overwrite the gradient they are handed (autograd.owns) ------------------------------------------


def _probe(x: cr.Tensor, verdicts: list[bool]) -> cr.Tensor:
    """x * 2, recording whether its backward was allowed to overwrite the gradient it was handed."""
    from chainrule.autograd import owns
    from chainrule.tensor import result

    def backward(grad: np.ndarray) -> tuple:
        verdicts.append(owns(grad))
        return (grad * 2,)

    return result(x.data * 2, (x,), backward, "probe")


def test_an_op_owns_a_fresh_gradient_that_only_the_walk_holds():
    verdicts: list[bool] = []
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (_probe(x, verdicts) * 3.0).sum().backward()  # mul's backward makes a fresh array for the probe
    assert verdicts == [True]


def test_an_op_does_not_own_a_gradient_that_a_hook_keeps_or_another_op_shares():
    verdicts: list[bool] = []
    kept: list[np.ndarray] = []
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = _probe(x, verdicts)
    y.register_hook(kept.append)
    (y * 3.0).sum().backward()
    # a view of the gradient (sum's broadcast, a reshape) is never owned either
    _probe(x, verdicts).sum().backward()
    assert verdicts == [False, False]
    np.testing.assert_allclose(kept[0], [3.0, 3.0])
    # add hands one array to both of its inputs: the first probe to run may not overwrite it; once it is done,
    # the array is the second's alone
    verdicts.clear()
    x.grad = None
    (_probe(x, verdicts) + _probe(x, verdicts)).mul(3.0).sum().backward()
    assert verdicts == [False, True]
    np.testing.assert_allclose(x.grad.data, [12.0, 12.0])


def test_relu_overwriting_its_gradient_leaves_shared_and_retained_gradients_intact():
    a = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = cr.tensor([-1.0, 2.0, 3.0], requires_grad=True)
    total = a.relu() + b.relu()  # add hands the same gradient array to both relus
    total.retain_grad()
    seen: list[np.ndarray] = []
    scaled = total * cr.tensor([1.0, 2.0, 4.0])
    scaled.register_hook(seen.append)
    (scaled * 1.0).sum().backward()
    np.testing.assert_allclose(a.grad.data, [1.0, 0.0, 4.0])
    np.testing.assert_allclose(b.grad.data, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(total.grad.data, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(seen[0], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("op", ["relu", "tanh", "sigmoid", "exp", "neg", "mul", "dropout", "hardtanh"])
def test_ops_that_may_overwrite_their_gradient_give_the_same_gradients_either_way(op):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 5)).astype(np.float32)
    weights = rng.standard_normal((4, 5)).astype(np.float32)
    functions = {
        "relu": lambda t: t.relu(),
        "tanh": lambda t: t.tanh(),
        "sigmoid": lambda t: t.sigmoid(),
        "exp": lambda t: t.exp(),
        "neg": lambda t: -t,
        "mul": lambda t: t * cr.tensor(weights),
        "dropout": lambda t: cr.nn.functional.dropout(t, 0.5, generator=cr.Generator().manual_seed(1)),
        "hardtanh": lambda t: cr.nn.functional.hardtanh(t, -0.5, 0.5),
    }
    grads = []
    for keep in (False, True):  # a hook that keeps the gradient makes it shared: the op then copies
        x = cr.tensor(data, requires_grad=True)
        y = functions[op](x)
        z = y * cr.tensor(weights)  # a fresh gradient for y's op
        if keep:
            y.register_hook(lambda grad: None)  # holds no reference: still owned...
            kept: list[np.ndarray] = []
            y.register_hook(kept.append)  # ...this one holds one
        z.sum().backward()
        grads.append(x.grad.data.copy())
        if keep:
            np.testing.assert_array_equal(kept[0], weights)  # the kept gradient was not overwritten
    np.testing.assert_array_equal(grads[0], grads[1])
