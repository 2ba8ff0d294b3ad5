"""The fused recurrent ops: cells and whole-sequence layers, against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops import rnn
from tests.helpers import check_gradients, random_array, requires_torch, torch

STEPS, BATCH, IN, HIDDEN = 3, 2, 3, 3
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
CELLS = {"rnn_tanh": rnn.rnn_tanh_cell, "rnn_relu": rnn.rnn_relu_cell, "gru": rnn.gru_cell}
SEQUENCES = {"rnn_tanh": rnn.rnn_tanh_sequence, "rnn_relu": rnn.rnn_relu_sequence, "gru": rnn.gru_sequence}


def weights(mode: str, in_size: int = IN, hidden: int = HIDDEN, state: int | None = None, seed: int = 0) -> list:
    """[w_ih, w_hh, b_ih, b_hh] as float64 arrays of PyTorch's shapes."""
    gates = GATES[mode] * hidden
    state = hidden if state is None else state
    return [
        random_array(gates, in_size, seed=seed, low=-0.8, high=0.8),
        random_array(gates, state, seed=seed + 1, low=-0.8, high=0.8),
        random_array(gates, seed=seed + 2, low=-0.5, high=0.5),
        random_array(gates, seed=seed + 3, low=-0.5, high=0.5),
    ]


def torch_sequence(mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, reverse=False):
    """PyTorch's reference: its cells stepped in a loop (forward or reversed), returning (output, h_n[, c_n])."""
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    h, c = h0, c0
    outputs = [None] * x.shape[0]
    for t in steps:
        if mode == "lstm":
            gates = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if w_hr is not None:
                h = h @ w_hr.T
        else:
            cell = {"rnn_tanh": torch.rnn_tanh_cell, "rnn_relu": torch.rnn_relu_cell, "gru": torch.gru_cell}[mode]
            h = cell(x[t], h, w_ih, w_hh, b_ih, b_hh)
        outputs[t] = h
    return (torch.stack(outputs), h, c) if mode == "lstm" else (torch.stack(outputs), h)


# -- gradients by finite differences ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_gradients_match_finite_differences(mode: str, bias: bool) -> None:
    w_ih, w_hh, b_ih, b_hh = weights(mode)
    x, h = random_array(BATCH, IN, seed=5), random_array(BATCH, HIDDEN, seed=6, low=-1, high=1)
    if bias:
        check_gradients(CELLS[mode], x, h, w_ih, w_hh, b_ih, b_hh)
    else:
        check_gradients(CELLS[mode], x, h, w_ih, w_hh)


def test_lstm_cell_gradients_match_finite_differences() -> None:
    w_ih, w_hh, b_ih, b_hh = weights("lstm")
    x, h, c = random_array(BATCH, IN, seed=5), random_array(BATCH, HIDDEN, seed=6), random_array(BATCH, HIDDEN, seed=7)
    check_gradients(lambda x, h, c, *w: rnn.lstm_cell(x, (h, c), *w), x, h, c, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_gradients_match_finite_differences(mode: str, reverse: bool) -> None:
    w_ih, w_hh, b_ih, b_hh = weights(mode)
    x, h0 = random_array(STEPS, BATCH, IN, seed=5), random_array(BATCH, HIDDEN, seed=6, low=-1, high=1)
    fn = SEQUENCES[mode]
    check_gradients(lambda x, h0, *w: fn(x, h0, *w, reverse=reverse), x, h0, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("projected", [False, True])
def test_lstm_sequence_gradients_match_finite_differences(reverse: bool, projected: bool) -> None:
    proj = 2 if projected else None
    w_ih, w_hh, b_ih, b_hh = weights("lstm", state=proj)
    state = proj or HIDDEN
    x = random_array(STEPS, BATCH, IN, seed=5)
    h0, c0 = random_array(BATCH, state, seed=6), random_array(BATCH, HIDDEN, seed=7)
    if projected:
        w_hr = random_array(proj, HIDDEN, seed=8, low=-1, high=1)
        check_gradients(
            lambda x, h0, c0, *w: rnn.lstm_sequence(x, h0, c0, *w, reverse=reverse),
            *(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr),
        )
    else:
        check_gradients(
            lambda x, h0, c0, *w: rnn.lstm_sequence(x, h0, c0, *w, reverse=reverse), x, h0, c0, w_ih, w_hh, b_ih, b_hh
        )


def test_sequence_without_initial_state_or_bias_has_gradients() -> None:
    w_ih, w_hh, _, _ = weights("gru")
    check_gradients(lambda x, *w: rnn.gru_sequence(x, None, *w), random_array(STEPS, BATCH, IN, seed=5), w_ih, w_hh)


def test_gradient_through_h_n_alone_reaches_every_input() -> None:
    # A classifier on the last state: the output sequence is unused, only the side output h_n carries gradient.
    w_ih, w_hh, b_ih, b_hh = weights("gru")
    x, h0 = random_array(STEPS, BATCH, IN, seed=5), random_array(BATCH, HIDDEN, seed=6)
    check_gradients(lambda x, h0, *w: rnn.gru_sequence(x, h0, *w)[1], x, h0, w_ih, w_hh, b_ih, b_hh)
    lstm_w = weights("lstm")
    c0 = random_array(BATCH, HIDDEN, seed=7)
    check_gradients(lambda x, h0, c0, *w: rnn.lstm_sequence(x, h0, c0, *w)[2], x, h0, c0, *lstm_w)


# -- values and gradients against PyTorch ------------------------------------------------------------------------
def _run_both(mode: str, reverse: bool, projected: bool = False, seed: int = 0):
    proj = 2 if projected else None
    arrays = weights(mode, state=proj, seed=seed)
    state = proj or HIDDEN
    x, h0, c0 = random_array(4, BATCH, IN, seed=9), random_array(BATCH, state, seed=10), random_array(BATCH, HIDDEN)
    if projected:
        arrays.append(random_array(proj, HIDDEN, seed=11, low=-1, high=1))
    ours = [cr.tensor(a, requires_grad=True) for a in (x, h0, c0, *arrays)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0, *arrays)]
    if mode == "lstm":
        got = rnn.lstm_sequence(*ours, reverse=reverse)
    else:
        got = SEQUENCES[mode](ours[0], ours[1], *ours[3:], reverse=reverse)
        ours.pop(2), theirs.pop(2)
    expected = torch_sequence(
        mode, theirs[0], theirs[1], theirs[2] if mode == "lstm" else None, *theirs[-len(arrays) :], reverse=reverse
    )
    return ours, theirs, got, expected


@requires_torch
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_outputs_and_gradients_match_torch(mode: str, reverse: bool) -> None:
    ours, theirs, got, expected = _run_both(mode, reverse)
    rng = np.random.default_rng(3)
    loss_ours, loss_theirs = 0, 0
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12, rtol=1e-10)
        w = rng.uniform(-1, 1, a.shape)
        loss_ours = loss_ours + (a * cr.tensor(w)).sum()
        loss_theirs = loss_theirs + (b * torch.tensor(w)).sum()
    loss_ours.backward()
    loss_theirs.backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-12, rtol=1e-10, err_msg=f"input {i}")


@requires_torch
def test_projected_lstm_sequence_matches_torch() -> None:
    ours, theirs, got, expected = _run_both("lstm", False, projected=True)
    sum(((a * a).sum() for a in got), cr.tensor(0.0, dtype=cr.float64)).backward()
    sum((b * b).sum() for b in expected).backward()
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-12)


@requires_torch
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_cells_match_torch_cells(mode: str) -> None:
    arrays = weights(mode)
    x, h, c = random_array(BATCH, IN, seed=5), random_array(BATCH, HIDDEN, seed=6), random_array(BATCH, HIDDEN, seed=7)
    ours = [cr.tensor(a, requires_grad=True) for a in (x, h, c, *arrays)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, h, c, *arrays)]
    if mode == "lstm":
        got = rnn.lstm_cell(ours[0], (ours[1], ours[2]), *ours[3:])
        expected = torch.lstm_cell(theirs[0], (theirs[1], theirs[2]), *theirs[3:])
    else:
        got = (CELLS[mode](ours[0], ours[1], *ours[3:]),)
        expected = (getattr(torch, f"{mode}_cell")(theirs[0], theirs[1], *theirs[3:]),)
        ours.pop(2), theirs.pop(2)
    for k, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12)
        (a * (k + 1.5)).sum().backward(retain_graph=True)
        (b * (k + 1.5)).sum().backward(retain_graph=True)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-12, err_msg=f"input {i}")


# -- behaviour of the fused node ------------------------------------------------------------------------------------
def test_float32_inputs_give_float32_outputs_and_gradients() -> None:
    arrays = [a.astype(np.float32) for a in weights("lstm")]
    x = cr.tensor(random_array(STEPS, BATCH, IN).astype(np.float32), requires_grad=True)
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    out, h_n, c_n = rnn.lstm_sequence(x, None, None, *params)
    assert out.dtype == h_n.dtype == c_n.dtype == np.float32
    (out.sum() + c_n.sum()).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in params)


def test_a_sequence_is_one_graph_node_whatever_its_length() -> None:
    w_ih, w_hh, b_ih, b_hh = (cr.tensor(a, requires_grad=True) for a in weights("gru"))
    x = cr.tensor(random_array(2000, 1, IN, seed=1, low=-0.1, high=0.1), requires_grad=True)
    out, h_n = rnn.gru_sequence(x, None, w_ih, w_hh, b_ih, b_hh)
    assert out.grad_fn == "gru"
    assert out._node[0] == (x, w_ih, w_hh, b_ih, b_hh)
    (out.sum() + h_n.sum()).backward()  # 2,000 steps: a loop in the backward, no recursion, no per-step nodes
    assert np.isfinite(x.grad.data).all() and x.grad.shape == x.shape


def test_backward_twice_with_retain_graph_accumulates_the_same_gradient() -> None:
    w = [cr.tensor(a, requires_grad=True) for a in weights("lstm")]
    x = cr.tensor(random_array(STEPS, BATCH, IN), requires_grad=True)
    out, h_n, c_n = rnn.lstm_sequence(x, None, None, *w)
    loss = out.sum() + (h_n * 2).sum() + (c_n * 3).sum()
    loss.backward(retain_graph=True)
    first = x.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_no_graph_is_recorded_under_no_grad() -> None:
    w = [cr.tensor(a, requires_grad=True) for a in weights("gru")]
    with cr.no_grad():
        out, h_n = rnn.gru_sequence(cr.tensor(random_array(STEPS, BATCH, IN)), None, *w)
    assert not out.requires_grad and out.is_leaf and not h_n.requires_grad


def test_h_n_is_the_last_step_run_forward_and_reversed() -> None:
    w = [cr.tensor(a) for a in weights("rnn_tanh")]
    x = cr.tensor(random_array(STEPS, BATCH, IN))
    out, h_n = rnn.rnn_tanh_sequence(x, None, *w)
    np.testing.assert_array_equal(h_n.data, out.data[-1])
    out, h_n = rnn.rnn_tanh_sequence(x, None, *w, reverse=True)
    np.testing.assert_array_equal(h_n.data, out.data[0])


def test_a_reversed_sequence_is_the_forward_run_on_the_flipped_input() -> None:
    w = [cr.tensor(a) for a in weights("gru")]
    x = random_array(4, BATCH, IN)
    forward, _ = rnn.gru_sequence(cr.tensor(x[::-1].copy()), None, *w)
    backward, _ = rnn.gru_sequence(cr.tensor(x), None, *w, reverse=True)
    np.testing.assert_allclose(backward.data, forward.data[::-1], atol=1e-14)


# -- errors ------------------------------------------------------------------------------------------------------------
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_op() -> None:
    w_ih, w_hh, b_ih, _ = (cr.tensor(a) for a in weights("gru"))
    x = cr.tensor(random_array(STEPS, BATCH, IN))
    with pytest.raises(ShapeError, match=r"gru: expected input of shape \(seq_len, batch, input_size\)"):
        rnn.gru_sequence(cr.tensor(random_array(BATCH, IN)), None, w_ih, w_hh)
    with pytest.raises(ShapeError, match=r"gru: w_ih must have shape \(9, 4\)"):
        rnn.gru_sequence(cr.tensor(random_array(STEPS, BATCH, 4)), None, w_ih, w_hh)
    with pytest.raises(ShapeError, match=r"gru: hx must have shape \(2, 3\)"):
        rnn.gru_sequence(x, cr.tensor(random_array(3, HIDDEN)), w_ih, w_hh)
    with pytest.raises(ShapeError, match=r"gru: b_hh must have shape \(9\)"):
        rnn.gru_sequence(x, None, w_ih, w_hh, b_ih, cr.tensor(random_array(3)))
    with pytest.raises(DTypeError, match="gru: w_hh has dtype float32 but input has float64"):
        rnn.gru_sequence(x, None, w_ih, w_hh.float())
    with pytest.raises(ShapeError, match="gru_cell: expected input of shape"):
        rnn.gru_cell(x, None, w_ih, w_hh)
    with pytest.raises(ShapeError, match="lstm_cell: hx must be a pair"):
        rnn.lstm_cell(x[0], cr.tensor(random_array(BATCH, HIDDEN)), *(cr.tensor(a) for a in weights("lstm")))
    with pytest.raises(ShapeError, match="at least one step"):
        rnn.gru_sequence(cr.tensor(np.zeros((0, BATCH, IN))), None, w_ih, w_hh)


# -- the workspace of reused buffers -------------------------------------------------------------------------------
def test_workspace_keeps_only_buffers_nothing_else_refers_to() -> None:
    workspace = rnn._Workspace()
    arrays = [np.empty((4, 4))]
    view = arrays[0][1:]
    workspace.give(arrays)
    assert workspace.bytes == 0  # a view of it is alive: reusing it would overwrite what the view shows
    del view
    workspace.give(arrays)
    assert workspace.bytes == 128
    arrays.clear()
    taken = workspace.take((4, 4), np.dtype(np.float64))
    assert taken.shape == (4, 4) and workspace.bytes == 0


def test_outputs_of_successive_calls_do_not_share_memory() -> None:
    w = [cr.tensor(a) for a in weights("lstm")]
    first = rnn.lstm_sequence(cr.tensor(random_array(STEPS, BATCH, IN, seed=1)), None, None, *w)
    kept = [t.data.copy() for t in first]
    for seed in range(2, 5):  # later runs take their buffers from the workspace
        rnn.lstm_sequence(cr.tensor(random_array(STEPS, BATCH, IN, seed=seed)), None, None, *w)
    for tensor, values in zip(first, kept):
        np.testing.assert_array_equal(tensor.data, values)


def test_gradients_are_the_same_when_buffers_are_reused() -> None:
    w = [cr.tensor(a, requires_grad=True) for a in weights("gru")]
    x = cr.tensor(random_array(STEPS, BATCH, IN, seed=1), requires_grad=True)
    results = []
    for _ in range(3):
        for p in (x, *w):
            p.grad = None
        out, h_n = rnn.gru_sequence(x, None, *w)
        ((out * out).sum() + h_n.sum()).backward()
        results.append([p.grad.data.copy() for p in (x, *w)])
    for later in results[1:]:
        for a, b in zip(results[0], later):
            np.testing.assert_array_equal(a, b)
