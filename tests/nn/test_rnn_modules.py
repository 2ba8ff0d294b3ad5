"""RNN, LSTM, GRU and their cells: PyTorch's parameters, shapes and values, and gradients everywhere."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from tests.helpers import random_array, requires_torch, torch

IN, HIDDEN, STEPS, BATCH = 3, 4, 3, 2
LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
CELLS = {"RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}


def torch_twin(ours, kind: str, **kwargs):
    """PyTorch's layer of the same configuration, in float64, with our weights copied in by state_dict key."""
    theirs = getattr(torch.nn, kind)(**kwargs).double()
    theirs.load_state_dict({key: torch.tensor(value.data) for key, value in ours.state_dict().items()})
    return theirs


def run_both(ours, theirs, x: np.ndarray, hx=None, seed: int = 0):
    """Forward both on x (and hx), backward a random weighted sum of every output; return both sides' tensors."""
    lstm = isinstance(ours, LSTM | LSTMCell)
    x_ours, x_theirs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    states_ours = states_theirs = None
    if hx is not None:
        states_ours = [cr.tensor(h, requires_grad=True) for h in hx]
        states_theirs = [torch.tensor(h, requires_grad=True) for h in hx]
    args_ours = [] if hx is None else [tuple(states_ours) if lstm else states_ours[0]]
    args_theirs = [] if hx is None else [tuple(states_theirs) if lstm else states_theirs[0]]
    got, expected = ours(x_ours, *args_ours), theirs(x_theirs, *args_theirs)
    flat_ours = _flatten(got)
    flat_theirs = _flatten(expected)
    rng = np.random.default_rng(seed)
    loss_ours, loss_theirs = 0, 0
    for a, b in zip(flat_ours, flat_theirs):
        assert a.shape == tuple(b.shape)
        w = rng.uniform(-1, 1, a.shape)
        loss_ours = loss_ours + (a * cr.tensor(w)).sum()
        loss_theirs = loss_theirs + (b * torch.tensor(w)).sum()
    loss_ours.backward()
    loss_theirs.backward()
    return (x_ours, states_ours, flat_ours), (x_theirs, states_theirs, flat_theirs)


def _flatten(value) -> list:
    if isinstance(value, tuple | list):
        return [t for v in value for t in _flatten(v)]
    return [value]


def assert_same(ours, theirs, ours_side, theirs_side, atol: float = 1e-12) -> None:
    (x_o, states_o, outs_o), (x_t, states_t, outs_t) = ours_side, theirs_side
    for a, b in zip(outs_o, outs_t):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=atol, rtol=1e-6)
    np.testing.assert_allclose(x_o.grad.data, x_t.grad.numpy(), atol=atol, rtol=1e-6, err_msg="input")
    for a, b in zip(states_o or [], states_t or []):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=atol, rtol=1e-6, err_msg="initial state")
    named = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad.data, named[name].grad.numpy(), atol=atol, rtol=1e-6, err_msg=name)


# -- parameters -------------------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("RNN", {}),
        ("RNN", {"num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}),
        ("GRU", {"num_layers": 3, "bias": False}),
        ("GRU", {"bidirectional": True}),
        ("LSTM", {"num_layers": 2, "bidirectional": True}),
        ("LSTM", {"num_layers": 2, "proj_size": 2}),
    ],
)
def test_parameter_names_order_and_shapes_are_torchs(kind: str, kwargs: dict) -> None:
    ours = LAYERS[kind](IN, HIDDEN, **kwargs)
    theirs = getattr(torch.nn, kind)(IN, HIDDEN, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert ours._flat_weights_names == theirs._flat_weights_names
    assert ours._all_weights == theirs._all_weights


@requires_torch
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_parameter_names_and_shapes_are_torchs(kind: str, bias: bool) -> None:
    ours = CELLS[kind](IN, HIDDEN, bias=bias)
    theirs = getattr(torch.nn, kind)(IN, HIDDEN, bias=bias)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }


def test_weights_are_uniform_within_one_over_sqrt_hidden_and_seeded() -> None:
    cr.manual_seed(3)
    first = GRU(5, 16, num_layers=2)
    cr.manual_seed(3)
    second = GRU(5, 16, num_layers=2)
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.data.ravel() for p in first.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound and abs(values.mean()) < 0.02  # fills the range, centred
    for a, b in zip(first.parameters(), second.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    cell = LSTMCell(5, 16)
    assert np.abs(cell.weight_hh.data).max() <= bound


@requires_torch
def test_repr_is_torchs() -> None:
    for ours, theirs in [
        (GRU(64, 128), torch.nn.GRU(64, 128)),
        (
            LSTM(3, 4, 2, batch_first=True, dropout=0.5, bidirectional=True),
            torch.nn.LSTM(3, 4, 2, True, True, 0.5, True),
        ),
        (LSTM(3, 4, proj_size=2, bias=False), torch.nn.LSTM(3, 4, proj_size=2, bias=False)),
        (RNN(3, 4, nonlinearity="relu"), torch.nn.RNN(3, 4, nonlinearity="relu")),
        (RNNCell(3, 4, bias=False, nonlinearity="relu"), torch.nn.RNNCell(3, 4, bias=False, nonlinearity="relu")),
        (GRUCell(3, 4), torch.nn.GRUCell(3, 4)),
    ]:
        assert repr(ours) == repr(theirs)


# -- values and gradients against PyTorch ----------------------------------------------------------------------------
CONFIGS = [
    dict(num_layers=1),
    dict(num_layers=2),
    dict(num_layers=2, bidirectional=True),
    dict(bidirectional=True, batch_first=True),
    dict(num_layers=2, bias=False, batch_first=True),
    dict(num_layers=2, dropout=0.0),
]


@requires_torch
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_match_torch_in_outputs_and_every_gradient(kind: str, config: dict, with_state: bool) -> None:
    ours = LAYERS[kind](IN, HIDDEN, **config).double()
    theirs = torch_twin(ours, kind, input_size=IN, hidden_size=HIDDEN, **config)
    directions = 2 if config.get("bidirectional") else 1
    layers = config.get("num_layers", 1)
    shape = (BATCH, STEPS, IN) if config.get("batch_first") else (STEPS, BATCH, IN)
    hx = None
    if with_state:
        hx = [random_array(layers * directions, BATCH, HIDDEN, seed=s) for s in (2, 3)][: 2 if kind == "LSTM" else 1]
    ours_side, theirs_side = run_both(ours, theirs, random_array(*shape, seed=1), hx)
    assert_same(ours, theirs, ours_side, theirs_side)


@requires_torch
@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [("RNN", {"nonlinearity": "relu"}), ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True})],
)
def test_relu_rnn_and_projected_lstm_match_torch(kind: str, kwargs: dict) -> None:
    ours = LAYERS[kind](IN, HIDDEN, **kwargs).double()
    theirs = torch_twin(ours, kind, input_size=IN, hidden_size=HIDDEN, **kwargs)
    ours_side, theirs_side = run_both(ours, theirs, random_array(STEPS, BATCH, IN, seed=4))
    assert_same(ours, theirs, ours_side, theirs_side)


@requires_torch
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input_matches_torch(kind: str, with_state: bool) -> None:
    ours = LAYERS[kind](IN, HIDDEN, num_layers=2, bidirectional=True).double()
    theirs = torch_twin(ours, kind, input_size=IN, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    hx = [random_array(4, HIDDEN, seed=s) for s in (2, 3)][: 2 if kind == "LSTM" else 1] if with_state else None
    ours_side, theirs_side = run_both(ours, theirs, random_array(STEPS, IN, seed=5), hx)
    assert ours_side[2][0].shape == (STEPS, 2 * HIDDEN) and ours_side[2][1].shape == (4, HIDDEN)
    assert_same(ours, theirs, ours_side, theirs_side)


@requires_torch
def test_float32_gru_matches_torch_float32() -> None:
    ours = GRU(IN, HIDDEN, num_layers=2)
    theirs = torch.nn.GRU(IN, HIDDEN, num_layers=2)
    theirs.load_state_dict({key: torch.tensor(value.data) for key, value in ours.state_dict().items()})
    x = random_array(5, BATCH, IN, seed=6).astype(np.float32)
    out, h_n = ours(cr.tensor(x))
    ref, ref_h = theirs(torch.tensor(x))
    assert out.dtype == np.float32 and h_n.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h_n.data, ref_h.detach().numpy(), atol=2e-6)
    out.sum().backward()
    ref.sum().backward()
    assert ours.weight_hh_l0.grad.dtype == np.float32
    np.testing.assert_allclose(ours.weight_hh_l0.grad.data, theirs.weight_hh_l0.grad.numpy(), atol=1e-5)


@requires_torch
def test_weights_load_from_a_torch_state_dict() -> None:
    theirs = torch.nn.LSTM(IN, HIDDEN, num_layers=2, bidirectional=True)
    ours = LSTM(IN, HIDDEN, num_layers=2, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    x = random_array(STEPS, BATCH, IN, seed=7).astype(np.float32)
    out, (h_n, c_n) = ours(cr.tensor(x))
    ref, (ref_h, ref_c) = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h_n.data, ref_h.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c_n.data, ref_c.detach().numpy(), atol=2e-6)


@requires_torch
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize(("batched", "with_state", "bias"), list(itertools.product((True, False), repeat=3)))
def test_cells_match_torch(kind: str, batched: bool, with_state: bool, bias: bool) -> None:
    kwargs = {"bias": bias}
    ours = CELLS[kind](IN, HIDDEN, **kwargs).double()
    theirs = torch_twin(ours, kind, input_size=IN, hidden_size=HIDDEN, **kwargs)
    x = random_array(BATCH, IN, seed=8) if batched else random_array(IN, seed=8)
    state_shape = (BATCH, HIDDEN) if batched else (HIDDEN,)
    hx = [random_array(*state_shape, seed=s) for s in (9, 10)][: 2 if kind == "LSTMCell" else 1] if with_state else None
    ours_side, theirs_side = run_both(ours, theirs, x, hx)
    assert_same(ours, theirs, ours_side, theirs_side)


@requires_torch
def test_relu_rnn_cell_matches_torch() -> None:
    ours = RNNCell(IN, HIDDEN, nonlinearity="relu").double()
    theirs = torch_twin(ours, "RNNCell", input_size=IN, hidden_size=HIDDEN, nonlinearity="relu")
    ours_side, theirs_side = run_both(ours, theirs, random_array(BATCH, IN, seed=8), [random_array(BATCH, HIDDEN)])
    assert_same(ours, theirs, ours_side, theirs_side)


# -- gradients by finite differences ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("RNN", {"num_layers": 2, "nonlinearity": "relu"}),
        ("GRU", {"num_layers": 2, "bidirectional": True}),
        ("GRU", {"batch_first": True}),
        ("LSTM", {"bidirectional": True, "batch_first": True}),
        ("LSTM", {"num_layers": 2, "proj_size": 1}),
    ],
)
def test_layer_gradients_match_finite_differences(kind: str, kwargs: dict) -> None:
    cr.manual_seed(0)
    layer = LAYERS[kind](2, 2, **kwargs).double()  # input_size 2, hidden_size 2: few weights to perturb
    directions = 2 if kwargs.get("bidirectional") else 1
    count = kwargs.get("num_layers", 1) * directions
    state = kwargs.get("proj_size") or 2
    shape = (2, 3, 2) if kwargs.get("batch_first") else (3, 2, 2)  # 3 steps, batch 2, 2 features
    x = cr.tensor(random_array(*shape, seed=1), requires_grad=True)
    h0 = cr.tensor(random_array(count, 2, state, seed=2, low=-1, high=1), requires_grad=True)
    params = list(layer.parameters())  # gradcheck perturbs them in place; the layer reads them
    if kind == "LSTM":
        c0 = cr.tensor(random_array(count, 2, 2, seed=3, low=-1, high=1), requires_grad=True)

        def fn(x, h0, c0, *_):
            out, (h_n, c_n) = layer(x, (h0, c0))
            return out, h_n, c_n

        assert cr.gradcheck(fn, [x, h0, c0, *params], atol=1e-5, rtol=1e-3)
    else:
        assert cr.gradcheck(lambda x, h0, *_: layer(x, h0), [x, h0, *params], atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradients_match_finite_differences(kind: str) -> None:
    cr.manual_seed(0)
    cell = CELLS[kind](2, 3).double()
    x = cr.tensor(random_array(2, 2, seed=1), requires_grad=True)
    h = cr.tensor(random_array(2, 3, seed=2, low=-1, high=1), requires_grad=True)
    params = list(cell.parameters())
    if kind == "LSTMCell":
        c = cr.tensor(random_array(2, 3, seed=3, low=-1, high=1), requires_grad=True)
        assert cr.gradcheck(lambda x, h, c, *_: cell(x, (h, c)), [x, h, c, *params])
    else:
        assert cr.gradcheck(lambda x, h, *_: cell(x, h), [x, h, *params])


# -- training-mode behaviour ---------------------------------------------------------------------------------------
def test_dropout_acts_between_layers_in_training_only_and_is_seeded() -> None:
    cr.manual_seed(0)
    layer = GRU(IN, HIDDEN, num_layers=2, dropout=0.5)
    x = cr.tensor(random_array(STEPS, BATCH, IN, seed=1).astype(np.float32))
    layer.eval()
    evaluated, _ = layer(x)
    np.testing.assert_array_equal(layer(x)[0].data, evaluated.data)
    layer.train()
    cr.manual_seed(5)
    first, _ = layer(x)
    cr.manual_seed(5)
    second, _ = layer(x)
    np.testing.assert_array_equal(first.data, second.data)
    assert not np.allclose(first.data, evaluated.data)
    # The last layer has no dropout after it: h_n of layer 0 is the same in both modes.
    cr.manual_seed(5)
    _, h_n = layer(x)
    np.testing.assert_allclose(h_n.data[0], layer.eval()(x)[1].data[0])


def test_dropout_with_one_layer_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        GRU(IN, HIDDEN, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GRU(IN, HIDDEN, num_layers=2, dropout=0.2)


def test_a_layer_direction_is_one_graph_node() -> None:
    layer = LSTM(IN, HIDDEN)
    out, (h_n, c_n) = layer(cr.tensor(random_array(50, BATCH, IN).astype(np.float32)))
    assert out.grad_fn == "lstm"
    assert out._node[0][0].is_leaf  # the input, straight into the fused op: no per-step nodes
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_double_converts_the_layer_and_keeps_working() -> None:
    layer = GRU(IN, HIDDEN, bidirectional=True).double()
    out, h_n = layer(cr.tensor(random_array(STEPS, BATCH, IN)))
    assert out.dtype == np.float64 and out.shape == (STEPS, BATCH, 2 * HIDDEN) and h_n.shape == (2, BATCH, HIDDEN)


# -- errors ------------------------------------------------------------------------------------------------------------
def test_wrong_input_size_names_the_layer_and_the_shapes() -> None:
    layer = GRU(64, 128)
    with pytest.raises(
        ShapeError, match=r"^GRU\(64, 128\): expected input with 64 features in the last dim, got \(32, 32, 50\)$"
    ):
        layer(cr.zeros(32, 32, 50))
    with pytest.raises(
        ShapeError, match=r"LSTMCell\(3, 4\): expected input with 3 features in the last dim, got \(2, 5\)"
    ):
        LSTMCell(3, 4)(cr.zeros(2, 5))


def test_malformed_inputs_and_states_raise_our_errors() -> None:
    layer = LSTM(IN, HIDDEN, num_layers=2)
    with pytest.raises(ShapeError, match=r"LSTM\(3, 4, num_layers=2\): expected input to be 2-D .* or 3-D"):
        layer(cr.zeros(1, STEPS, BATCH, IN))
    with pytest.raises(ShapeError, match=r"expected h_0 of shape \(2, 2, 4\) .*got \(2, 3, 4\)"):
        layer(cr.zeros(STEPS, BATCH, IN), (cr.zeros(2, 3, HIDDEN), cr.zeros(2, BATCH, HIDDEN)))
    with pytest.raises(ShapeError, match=r"for unbatched 2-D input, expected h_0 of shape \(2, 4\)"):
        layer(cr.zeros(STEPS, IN), (cr.zeros(2, 1, HIDDEN), cr.zeros(2, 1, HIDDEN)))
    with pytest.raises(ArgumentError, match=r"hx must be a tuple \(h_0, c_0\)"):
        layer(cr.zeros(STEPS, BATCH, IN), cr.zeros(2, BATCH, HIDDEN))
    with pytest.raises(DTypeError, match="input dtype float64 does not match the weights' dtype float32"):
        layer(cr.tensor(np.zeros((STEPS, BATCH, IN))))
    with pytest.raises(ShapeError, match="at least one step"):
        GRU(IN, HIDDEN, batch_first=True)(cr.zeros(BATCH, 0, IN))
    with pytest.raises(ShapeError, match=r"GRUCell\(3, 4\): for batched 2-D input of batch size 2, expected hx"):
        GRUCell(IN, HIDDEN)(cr.zeros(BATCH, IN), cr.zeros(3, HIDDEN))


def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(ArgumentError, match="dropout should be a number in range"):
        GRU(IN, HIDDEN, num_layers=2, dropout=1.5)
    with pytest.raises(ArgumentError, match="hidden_size must be greater than zero"):
        LSTM(IN, 0)
    with pytest.raises(ArgumentError, match="num_layers must be greater than zero"):
        RNN(IN, HIDDEN, num_layers=0)
    with pytest.raises(ArgumentError, match=r"proj_size \(4\) has to be smaller than hidden_size"):
        LSTM(IN, HIDDEN, proj_size=HIDDEN)
    with pytest.raises(ArgumentError, match="unknown nonlinearity 'sigmoid'"):
        RNN(IN, HIDDEN, nonlinearity="sigmoid")
    with pytest.raises(ArgumentError, match="unknown nonlinearity"):
        RNNCell(IN, HIDDEN, nonlinearity="gelu")
    with pytest.raises(ArgumentError, match="CPU only"):
        GRU(IN, HIDDEN, device="cuda")
