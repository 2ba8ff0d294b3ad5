"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional) and the cells RNNCell, LSTMCell, GRUCell.

PyTorch's constructors, parameter names (`weight_ih_l{k}{_reverse}` ...), shapes, gate order, initialisation
and forward signature, so state_dicts move between the two libraries unchanged. Each layer and direction of a
sequence runs as one fused op of `chainrule.ops.rnn` (its backward is backpropagation through time).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from chainrule.creation import empty
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops import rnn as ops
from chainrule.ops.dropout import dropout as _dropout
from chainrule.ops.shape import cat, squeeze, stack, transpose, unsqueeze
from chainrule.tensor import DTypeLike, Tensor

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_size(owner: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ArgumentError(f"{owner}: {name} should be of type int, got {type(value).__name__} {value!r}")
    if value < minimum:
        relation = "greater than zero" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{owner}: {name} must be {relation}, got {value}")
    return int(value)


def _check_device(owner: str, device: Any) -> None:
    if device is not None and not str(device).startswith("cpu"):
        raise ArgumentError(f"{owner}: chainrule runs on the CPU only, got device {device!r}")


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: parameters, checks, and the loop over layers and directions.

    mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'. Parameters, per layer k and direction (suffix '' or
    '_reverse'), registered in PyTorch's order: weight_ih_l{k} (gates * hidden_size, layer input),
    weight_hh_l{k} (gates * hidden_size, hidden_size or proj_size), bias_ih_l{k}, bias_hh_l{k}
    (gates * hidden_size,), weight_hr_l{k} (proj_size, hidden_size) for an LSTM with a projection. The input of
    layer 0 has input_size features; of the next layers, hidden_size (or proj_size) * num_directions.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        owner = mode.split("_")[0]
        if mode not in _GATES:
            raise ArgumentError(f"RNNBase: unrecognized RNN mode {mode!r}; expected one of {', '.join(_GATES)}")
        _check_device(owner, device)
        input_size = _check_size(owner, "input_size", input_size, 0)
        hidden_size = _check_size(owner, "hidden_size", hidden_size, 1)
        num_layers = _check_size(owner, "num_layers", num_layers, 1)
        proj_size = _check_size(owner, "proj_size", proj_size, 0)
        if (
            not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1  # type: ignore[operator]
        ):
            raise ArgumentError(
                f"{owner}: dropout should be a number in range [0, 1] representing the probability of an element "
                f"being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if proj_size and mode != "LSTM":
            raise ArgumentError(f"{owner}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ArgumentError(f"{owner}: proj_size ({proj_size}) has to be smaller than hidden_size ({hidden_size})")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)  # type: ignore[arg-type]
        self.bidirectional = bool(bidirectional)
        self.proj_size = proj_size

        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        state_size = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else state_size * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [
                    (f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                    (f"weight_hh_l{layer}{suffix}", (gate_size, state_size)),
                ]
                if self.bias:
                    shapes += [(f"bias_ih_l{layer}{suffix}", (gate_size,)), (f"bias_hh_l{layer}{suffix}", (gate_size,))]
                if proj_size > 0:
                    shapes.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype)))
                self._flat_weights_names.extend(name for name, _ in shapes)
                self._all_weights.append([name for name, _ in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch (drawn from
        chainrule's generator, in parameters() order)."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Kept for PyTorch's API (it packs weights for cuDNN); nothing to do on the CPU."""

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, as lists in PyTorch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- forward --------------------------------------------------------------------------------------------------
    def _check_input(self, input: Any) -> bool:  # noqa: A002 (PyTorch's name)
        """Raise for a malformed input; return whether it is batched (3-D)."""
        if not isinstance(input, Tensor):
            raise DTypeError(f"{self!r}: expected the input to be a Tensor, got {type(input).__name__}")
        shape = input.data.shape
        if len(shape) not in (2, 3):
            layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
            raise ShapeError(
                f"{self!r}: expected input to be 2-D (seq_len, input_size) or 3-D {layout}, got {len(shape)}-D "
                f"input of shape {shape_str(shape)}"
            )
        if shape[-1] != self.input_size:
            raise ShapeError(
                f"{self!r}: expected input with {self.input_size} features in the last dim, got {shape_str(shape)}"
            )
        weight = self.weight_ih_l0
        if input.data.dtype != weight.data.dtype:
            raise DTypeError(
                f"{self!r}: input dtype {input.data.dtype} does not match the weights' dtype {weight.data.dtype}; "
                f"convert the input (input.to({weight.data.dtype.name})) or the model (model.to({input.data.dtype}))"
            )
        steps = shape[1] if self.batch_first and len(shape) == 3 else shape[0]
        if steps == 0:
            raise ShapeError(
                f"{self!r}: expected a sequence of at least one step, got input of shape {shape_str(shape)}"
            )
        return len(shape) == 3

    def _check_state(self, state: Any, name: str, size: int, batched: bool, batch: int) -> Tensor:
        if not isinstance(state, Tensor):
            raise DTypeError(f"{self!r}: expected {name} to be a Tensor, got {type(state).__name__}")
        count = self.num_layers * (2 if self.bidirectional else 1)
        expected = (count, batch, size) if batched else (count, size)
        if state.data.shape != expected:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            layout = "num_layers * num_directions" + (", batch" if batched else "")
            layout += ", proj_size" if size != self.hidden_size else ", hidden_size"
            raise ShapeError(
                f"{self!r}: for {kind} input, expected {name} of shape {shape_str(expected)} ({layout}), got "
                f"{shape_str(state.data.shape)}"
            )
        if state.data.dtype != self.weight_ih_l0.data.dtype:
            raise DTypeError(
                f"{self!r}: {name} dtype {state.data.dtype} does not match the weights' dtype "
                f"{self.weight_ih_l0.data.dtype}"
            )
        return state

    def _states(self, hx: Any, batched: bool, batch: int) -> tuple[Tensor | None, Tensor | None]:
        """(h0, c0) checked, as 3-D tensors (c0 None unless LSTM); (None, None) for zeros."""
        if hx is None:
            return None, None
        state_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        if self.mode == "LSTM":
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise ArgumentError(f"{self!r}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0 = self._check_state(hx[0], "h_0", state_size, batched, batch)
            c0 = self._check_state(hx[1], "c_0", self.hidden_size, batched, batch)
            if not batched:
                return unsqueeze(h0, 1), unsqueeze(c0, 1)
            return h0, c0
        h0 = self._check_state(hx, "hx", state_size, batched, batch)
        return (h0 if batched else unsqueeze(h0, 1)), None

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002 (PyTorch's name)
        """input: (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched. hx: the initial
        state(s), (num_layers * num_directions, N, H_out) ((.., H_out) unbatched), or None for zeros; for LSTM a
        tuple (h_0, c_0), c_0 with hidden_size features. H_out is hidden_size (proj_size for an LSTM with one).

        Returns (output, h_n), or (output, (h_n, c_n)) for LSTM: output (L, N, D * H_out) (batch-first or
        unbatched as the input), the last layer's state at each step, the directions concatenated; h_n and c_n
        the final states, shaped as hx.
        """
        batched = self._check_input(input)
        if not batched:
            x = unsqueeze(input, 1)
        elif self.batch_first:
            x = transpose(input, 0, 1)
        else:
            x = input
        h0, c0 = self._states(hx, batched, x.data.shape[1])

        directions = 2 if self.bidirectional else 1
        mode = self.mode
        params = self.__dict__
        h_finals: list[Tensor] = []
        c_finals: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [params[name] for name in self._all_weights[k]]
                w_ih, w_hh = weights[0], weights[1]
                b_ih, b_hh = (weights[2], weights[3]) if self.bias else (None, None)
                h_start = None if h0 is None else h0[k]
                reverse = direction == 1
                if mode == "GRU":
                    out, h_n = ops.gru_sequence(layer_input, h_start, w_ih, w_hh, b_ih, b_hh, reverse)
                elif mode == "LSTM":
                    w_hr = weights[-1] if self.proj_size > 0 else None
                    c_start = None if c0 is None else c0[k]
                    out, h_n, c_n = ops.lstm_sequence(
                        layer_input, h_start, c_start, w_ih, w_hh, b_ih, b_hh, w_hr, reverse
                    )
                    c_finals.append(c_n)
                elif mode == "RNN_TANH":
                    out, h_n = ops.rnn_tanh_sequence(layer_input, h_start, w_ih, w_hh, b_ih, b_hh, reverse)
                else:
                    out, h_n = ops.rnn_relu_sequence(layer_input, h_start, w_ih, w_hh, b_ih, b_hh, reverse)
                outputs.append(out)
                h_finals.append(h_n)
            layer_output = outputs[0] if directions == 1 else cat(outputs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_output = _dropout(layer_output, self.dropout, True)
            layer_input = layer_output

        output = layer_input
        h_n = unsqueeze(h_finals[0], 0) if len(h_finals) == 1 else stack(h_finals, 0)
        c_n = None
        if mode == "LSTM":
            c_n = unsqueeze(c_finals[0], 0) if len(c_finals) == 1 else stack(c_finals, 0)
        if not batched:
            output = squeeze(output, 1)
            h_n = squeeze(h_n, 1)
            c_n = None if c_n is None else squeeze(c_n, 1)
        elif self.batch_first:
            output = transpose(output, 0, 1)
        if mode == "LSTM":
            return output, (h_n, c_n)
        return output, h_n


class RNN(RNNBase):
    """An Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked num_layers deep.

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0,
    bidirectional=False). Shapes: see RNNBase.forward.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ArgumentError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, stacked num_layers deep. Gates i, f, g, o (in that order in the weights):
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t) (projected by weight_hr to proj_size when proj_size > 0).

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False,
    proj_size=0). forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n)); shapes: see RNNBase.forward.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """Gated recurrent unit, stacked num_layers deep. Gates r, z, n (in that order in the weights):
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.

    GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False).
    Shapes: see RNNBase.forward.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )


# -- cells ----------------------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """The shared body of the cells: weight_ih (gates * hidden_size, input_size), weight_hh (gates * hidden_size,
    hidden_size), bias_ih and bias_hh (gates * hidden_size,), all from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        _check_device(owner, device)
        self.input_size = _check_size(owner, "input_size", input_size, 0)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size, 1)
        self.bias = bool(bias)
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, dtype=dtype))
        if self.bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = self.__dict__.get("nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _check_input(self, input: Any) -> bool:  # noqa: A002
        """Raise for a malformed input; return whether it is batched (2-D)."""
        if not isinstance(input, Tensor):
            raise DTypeError(f"{self!r}: expected the input to be a Tensor, got {type(input).__name__}")
        shape = input.data.shape
        if len(shape) not in (1, 2):
            raise ShapeError(
                f"{self!r}: expected input to be 1-D (input_size,) or 2-D (batch, input_size), got {len(shape)}-D "
                f"input of shape {shape_str(shape)}"
            )
        if shape[-1] != self.input_size:
            raise ShapeError(
                f"{self!r}: expected input with {self.input_size} features in the last dim, got {shape_str(shape)}"
            )
        if input.data.dtype != self.weight_ih.data.dtype:
            raise DTypeError(
                f"{self!r}: input dtype {input.data.dtype} does not match the weights' dtype "
                f"{self.weight_ih.data.dtype}; convert the input or the model (model.to(dtype))"
            )
        return len(shape) == 2

    def _check_state(self, state: Any, name: str, batched: bool, batch: int) -> Tensor:
        if not isinstance(state, Tensor):
            raise DTypeError(f"{self!r}: expected {name} to be a Tensor, got {type(state).__name__}")
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if state.data.shape != expected:
            raise ShapeError(
                f"{self!r}: for {'batched 2-D' if batched else 'unbatched 1-D'} input of batch size "
                f"{batch if batched else 1}, expected {name} of shape {shape_str(expected)}, got "
                f"{shape_str(state.data.shape)}"
            )
        if state.data.dtype != self.weight_ih.data.dtype:
            raise DTypeError(
                f"{self!r}: {name} dtype {state.data.dtype} does not match the weights' dtype "
                f"{self.weight_ih.data.dtype}"
            )
        return state if batched else unsqueeze(state, 0)

    def _run(self, cell: Any, input: Tensor, hx: Any) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else unsqueeze(input, 0)
        h = None if hx is None else self._check_state(hx, "hx", batched, x.data.shape[0])
        out = cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else squeeze(out, 0)


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). RNNCell(input_size, hidden_size, bias=True,
    nonlinearity='tanh'). forward(input (N, input_size) or (input_size,), hx (N, hidden_size) or None) -> h'."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        cell = ops.rnn_tanh_cell if self.nonlinearity == "tanh" else ops.rnn_relu_cell
        return self._run(cell, input, hx)


class LSTMCell(RNNCellBase):
    """One LSTM step, gates i, f, g, o. LSTMCell(input_size, hidden_size, bias=True).
    forward(input (N, input_size) or (input_size,), (h, c) each (N, hidden_size), or None) -> (h', c')."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: DTypeLike = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else unsqueeze(input, 0)
        h = c = None
        if hx is not None:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise ArgumentError(f"{self!r}: hx must be a tuple (h, c), got {type(hx).__name__}")
            batch = x.data.shape[0]
            h = self._check_state(hx[0], "h", batched, batch)
            c = self._check_state(hx[1], "c", batched, batch)
        h_new, c_new = ops.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            return squeeze(h_new, 0), squeeze(c_new, 0)
        return h_new, c_new


class GRUCell(RNNCellBase):
    """One GRU step, gates r, z, n. GRUCell(input_size, hidden_size, bias=True).
    forward(input (N, input_size) or (input_size,), hx (N, hidden_size) or None) -> h'."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: DTypeLike = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        return self._run(ops.gru_cell, input, hx)
