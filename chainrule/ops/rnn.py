"""Recurrent ops: the RNN (tanh, relu), LSTM and GRU cells, and whole-sequence ops that run one layer in one
direction over a whole sequence as ONE graph node.

Gates follow PyTorch's layout and order (weights are (gates * hidden, in) blocks, stacked in this order):

    RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)                 act = tanh or relu
    LSTM: i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh)
          c' = f * c + i * g;   h' = o * tanh(c')                   (h' = W_hr (o * tanh(c')) with a projection)
    GRU:  r, z = sigma(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h

How a sequence runs. The input projection of every time step is computed before the loop, as one call
(T*N, in) @ (in, hidden) per gate; the loop over time does only the recurrent product, (N, hidden) @ (hidden,
hidden) per gate in one call, and the gate arithmetic, in place in buffers taken once per sequence. The backward
(backpropagation through time) is a loop in reverse over the same buffers: per step it forms the gates' gradient
and its product with W_hh; everything that does not depend on the incoming gradient (the gates' local
derivatives) is computed for all steps at once before the loop. After it, d(x), d(W_ih) and d(W_hh) are each one
GEMM per gate over all the steps' gate gradients, and the biases' gradients their column sums.

Sigmoids are computed as sigma(a) = (1 + tanh(a / 2)) / 2, with the 1/2 folded into (copies of) the weights and
biases, so all four LSTM gates take one tanh call and cannot overflow.

Several outputs from one node. The graph records one tensor per op, so an op with several results (the output
sequence, h_n, c_n) records the first as its node and each other as a small node whose only parent is the first:
its backward hands its gradient to the first's backward (through a shared dict) and passes None. The engine runs
a tensor's backward only after all its consumers', so the first node sees every gradient when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import DTypeError, ShapeError, shape_str
from chainrule.tensor import Tensor, result

__all__ = [
    "gru_cell",
    "gru_sequence",
    "lstm_cell",
    "lstm_sequence",
    "rnn_relu_cell",
    "rnn_relu_sequence",
    "rnn_tanh_cell",
    "rnn_tanh_sequence",
]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# -- a workspace of reused buffers ----------------------------------------------------------------------------
def _reference_counts(arrays: list[np.ndarray]) -> list[int]:
    return [sys.getrefcount(array) for array in arrays]


class _Workspace:
    """Arrays of the ops' internal buffers (gates, their gradients, local derivatives), reused from one call to
    the next.

    A sequence's buffers are megabytes; freshly allocated each call, the kernel maps and zeroes their pages on
    first touch, which cost a GRU training step about as much time as its gate arithmetic. A `_Run` takes its
    buffers here and gives them back when it is freed (after the backward, or at once under no_grad). An array
    is kept only when nothing else refers to it (no view of it escaped), checked by reference count against the
    count of an array that is referred to by the giver's list alone (measured once, at import).
    """

    def __init__(self, limit_bytes: int = 64 << 20, per_shape: int = 8) -> None:
        self.free: dict[tuple, list[np.ndarray]] = {}
        self.bytes = 0
        self.limit_bytes = limit_bytes
        self.per_shape = per_shape

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        stack = self.free.get((shape, dtype))
        if stack:
            array = stack.pop()
            self.bytes -= array.nbytes
            return array
        return np.empty(shape, dtype=dtype)

    def give(self, arrays: list[np.ndarray]) -> None:
        """Keep those of `arrays` that only this list refers to (the caller must hold no other reference)."""
        for array, count in zip(arrays, _reference_counts(arrays)):
            if count != _UNSHARED or self.bytes + array.nbytes > self.limit_bytes:
                continue
            stack = self.free.setdefault((array.shape, array.dtype), [])
            if len(stack) < self.per_shape:
                stack.append(array)
                self.bytes += array.nbytes

    def clear(self) -> None:
        self.free.clear()
        self.bytes = 0


_UNSHARED = _reference_counts([np.empty(0)])[0]
_workspace = _Workspace()


# -- checks -------------------------------------------------------------------------------------------------------
def _tensor(value: Any, op: str, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    raise DTypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")


def _check_shape(tensor: Tensor, expected: tuple[int, ...], op: str, name: str, meaning: str) -> None:
    if tensor.data.shape != expected:
        raise ShapeError(
            f"{op}: {name} must have shape {shape_str(expected)} ({meaning}), got {shape_str(tensor.data.shape)}"
        )


def _check_dtypes(op: str, tensors: Sequence[tuple[str, Tensor]]) -> np.dtype:
    dtype = tensors[0][1].data.dtype
    if dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point {tensors[0][0]}, got {dtype}")
    for name, tensor in tensors[1:]:
        if tensor.data.dtype != dtype:
            raise DTypeError(
                f"{op}: {name} has dtype {tensor.data.dtype} but {tensors[0][0]} has {dtype}; all must share one "
                "dtype (convert the input with .float() / .double(), or the module with .to(dtype))"
            )
    return dtype


def _check_weights(
    op: str, mode: str, in_size: int, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
) -> tuple[int, int]:
    """(hidden size H, size of the recurrent state the gates read: H, or the projection's size)."""
    gates = _GATES[mode]
    if w_hh.data.ndim != 2 or w_hh.data.shape[0] % gates or w_hh.data.shape[0] == 0:
        raise ShapeError(
            f"{op}: w_hh must be 2-D ({gates} * hidden_size, hidden_size), got shape {shape_str(w_hh.data.shape)}"
        )
    hidden = w_hh.data.shape[0] // gates
    state = w_hh.data.shape[1]
    _check_shape(w_ih, (gates * hidden, in_size), op, "w_ih", f"{gates} * hidden_size, input_size")
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None:
            _check_shape(bias, (gates * hidden,), op, name, f"{gates} * hidden_size")
    return hidden, state


# -- the engine of every recurrent op: arrays in, arrays out -----------------------------------------------------
class _Run:
    """One layer-direction over a sequence: the forward's saved buffers and the backward through time.

    x: (T, N, I); h0: (N, S) or None (zeros); c0: (N, H) or None (LSTM only). S is the size of the state fed back
    (H, or the projection's size P). Time runs forward, or from T-1 down to 0 when `reverse`.

    Layouts. Gate values are stored gate-major, (G, T, N, H), so that each gate of each step is one contiguous
    (N, H) block: NumPy runs an elementwise op on a contiguous block about twice as fast as on the (N, H) columns
    of an (N, G*H) row. The hidden states live in one buffer hs (T+1, N, S): forward, step t reads hs[t] and
    writes hs[t+1] (the output is hs[1:]); reversed, it reads hs[t+1] and writes hs[t] (the output is hs[:-1]).
    Either way the output and the stack of states the steps read are contiguous views of hs.
    """

    def __init__(
        self,
        mode: str,
        x: np.ndarray,
        h0: np.ndarray | None,
        c0: np.ndarray | None,
        w_ih: np.ndarray,
        w_hh: np.ndarray,
        b_ih: np.ndarray | None,
        b_hh: np.ndarray | None,
        w_hr: np.ndarray | None,
        reverse: bool,
    ) -> None:
        steps, batch, in_size = x.shape
        gates = _GATES[mode]
        hidden = w_hh.shape[0] // gates
        state = w_hh.shape[1]
        dtype = x.dtype
        self.mode, self.reverse = mode, reverse
        self.w_ih, self.w_hh, self.w_hr = w_ih, w_hh, w_hr
        self.steps, self.batch, self.hidden, self.state, self.n_gates = steps, batch, hidden, state, gates
        self.dtype = dtype
        self._named: dict[str, np.ndarray] = {}  # buffers from the workspace, given back by __del__

        # The bias every step adds to the input's projection: b_ih, plus b_hh except GRU's b_hn, which sits inside
        # r * (W_hn h + b_hn) and is added in the loop.
        bias = None
        if b_ih is not None:
            bias = b_ih.reshape(gates, 1, hidden).copy()
        if b_hh is not None:
            b_hh_g = b_hh.reshape(gates, 1, hidden)
            if bias is None:
                bias = np.zeros((gates, 1, hidden), dtype=dtype)
            if mode == "gru":
                bias[:2] += b_hh_g[:2]
            else:
                bias += b_hh_g
        self.b_hn = b_hh[2 * hidden :] if mode == "gru" and b_hh is not None else None
        # Sigmoid gates' pre-activations are computed halved (see the module docstring): scale their weights.
        scale = {"gru": (0.5, 0.5, 1.0), "lstm": (0.5, 0.5, 1.0, 0.5)}.get(mode)
        w_ih_g = w_ih.reshape(gates, hidden, in_size)
        w_hh_t = self._buffer("w_hh_t", gates, state, hidden)  # W_hh^T per gate, C-contiguous for the GEMMs
        if scale is None:
            np.copyto(w_hh_t, w_hh.reshape(gates, hidden, state).transpose(0, 2, 1))
        else:
            factors = np.array(scale, dtype=dtype)[:, None, None]
            w_ih_g = np.multiply(w_ih_g, factors, out=self._buffer("w_ih", gates, hidden, in_size))
            np.multiply(w_hh.reshape(gates, hidden, state).transpose(0, 2, 1), factors, out=w_hh_t)
            if bias is not None:
                bias *= factors

        rows = steps * batch
        self.x_rows = x.reshape(rows, in_size)  # a view for a contiguous x; kept for d(W_ih)
        self.gates = self._buffer("gates", gates, steps, batch, hidden)
        gi = self.gates.reshape(gates, rows, hidden)
        np.matmul(self.x_rows, w_ih_g.transpose(0, 2, 1), out=gi)  # the input projection of all steps at once
        if bias is not None:
            gi += bias

        hs = np.empty((steps + 1, batch, state), dtype=dtype)
        first, last = (steps, 0) if reverse else (0, steps)
        if h0 is None:
            hs[first] = 0
        else:
            hs[first] = h0
        self.hs = hs
        self.output = hs[:-1] if reverse else hs[1:]
        self.previous = hs[1:] if reverse else hs[:-1]
        self.h_last = hs[last]
        self.order = range(steps - 1, -1, -1) if reverse else range(steps)
        if mode == "gru":
            self._gru_forward(w_hh_t)
        elif mode == "lstm":
            cs = np.empty((steps + 1, batch, hidden), dtype=dtype)
            if c0 is None:
                cs[first] = 0
            else:
                cs[first] = c0
            self.cs = cs
            self.c_previous = cs[1:] if reverse else cs[:-1]
            self.c_last = cs[last]
            self._lstm_forward(w_hh_t)
        else:
            self._rnn_forward(w_hh_t[0])

    def _buffer(self, name: str, *shape: int) -> np.ndarray:
        """An uninitialised array from the workspace, given back when this run is freed. A second backward
        through the same run (retain_graph) gets the same arrays back by name."""
        array = self._named.get(name)
        if array is None:
            array = self._named[name] = _workspace.take(shape, self.dtype)
        return array

    def __del__(self) -> None:
        named = self.__dict__.pop("_named", None)
        self.__dict__.clear()  # drop every other reference (and view) to the buffers first
        if named and _workspace is not None:  # (None once the interpreter is tearing the module down)
            owned = list(named.values())
            named.clear()
            _workspace.give(owned)

    # -- forward loops ------------------------------------------------------------------------------------------
    # Per-step views are listed before each loop (iterating an array makes them at C speed); the loops index
    # lists and call NumPy with out=, into buffers taken once per sequence.
    def _rnn_forward(self, w_hh_t: np.ndarray) -> None:
        matmul, add, maximum, tanh = np.matmul, np.add, np.maximum, np.tanh
        relu = self.mode == "rnn_relu"
        previous, output, gi = list(self.previous), list(self.output), list(self.gates[0])
        for t in self.order:
            new = output[t]
            matmul(previous[t], w_hh_t, out=new)
            add(new, gi[t], out=new)
            if relu:
                maximum(new, 0, out=new)
            else:
                tanh(new, out=new)

    def _gru_forward(self, w_hh_t: np.ndarray) -> None:
        gates = self.gates
        # W_hn h + b_hn of each step is kept for the backward; the r and z parts of W_hh h are not.
        self.gh_n = self._buffer("gh_n", self.steps, self.batch, self.hidden)
        gh = np.empty((3, self.batch, self.hidden), dtype=gates.dtype)  # W_hh h of the current step, per gate
        gh_rz, gh_n_step = gh[:2], gh[2]
        previous, output, gh_n = list(self.previous), list(self.output), list(self.gh_n)
        rz_t, r_t, z_t, n_t = list(gates[:2].transpose(1, 0, 2, 3)), list(gates[0]), list(gates[1]), list(gates[2])
        tmp = np.empty((self.batch, self.hidden), dtype=gates.dtype)
        b_hn = self.b_hn
        matmul, add, multiply, subtract, tanh, copyto = np.matmul, np.add, np.multiply, np.subtract, np.tanh, np.copyto
        for t in self.order:
            h = previous[t]
            matmul(h, w_hh_t, out=gh)
            rz = rz_t[t]
            add(rz, gh_rz, out=rz)
            tanh(rz, out=rz)
            multiply(rz, 0.5, out=rz)
            add(rz, 0.5, out=rz)  # r and z
            ghn = gh_n[t]
            if b_hn is not None:
                add(gh_n_step, b_hn, out=ghn)
            else:
                copyto(ghn, gh_n_step)
            n = n_t[t]
            multiply(r_t[t], ghn, out=tmp)
            add(n, tmp, out=n)
            tanh(n, out=n)
            subtract(h, n, out=tmp)
            multiply(tmp, z_t[t], out=tmp)
            add(n, tmp, out=output[t])  # n + z * (h - n)

    def _lstm_forward(self, w_hh_t: np.ndarray) -> None:
        gates = self.gates
        batch, hidden, dtype = self.batch, self.hidden, gates.dtype
        # After tanh of the (halved) pre-activations: sigma = t * 0.5 + 0.5 on i, f, o; g = t.
        post_scale = np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype)[:, None, None]
        post_shift = np.array([0.5, 0.5, 0.0, 0.5], dtype=dtype)[:, None, None]
        self.tanh_c = self._buffer("tanh_c", self.steps, batch, hidden)
        previous, output = list(self.previous), list(self.output)
        c_previous, c_new_t = list(self.c_previous), list(self.cs[:-1] if self.reverse else self.cs[1:])
        g_t, i_t, f_t, gg_t, o_t = list(gates.transpose(1, 0, 2, 3)), *(list(gates[k]) for k in range(4))
        tanh_c = list(self.tanh_c)
        projected = self.w_hr is not None
        if projected:
            self.h_raw = self._buffer("h_raw", self.steps, batch, hidden)  # o * tanh(c), before W_hr
            h_raw = list(self.h_raw)
            w_hr_t = np.ascontiguousarray(self.w_hr.T)
        gh = np.empty((4, batch, hidden), dtype=dtype)
        tmp = np.empty((batch, hidden), dtype=dtype)
        matmul, add, multiply, tanh = np.matmul, np.add, np.multiply, np.tanh
        for t in self.order:
            g = g_t[t]
            matmul(previous[t], w_hh_t, out=gh)
            add(g, gh, out=g)
            tanh(g, out=g)
            multiply(g, post_scale, out=g)
            add(g, post_shift, out=g)
            c_new = c_new_t[t]
            multiply(f_t[t], c_previous[t], out=c_new)
            multiply(i_t[t], gg_t[t], out=tmp)
            add(c_new, tmp, out=c_new)
            tc = tanh_c[t]
            tanh(c_new, out=tc)
            if projected:
                multiply(o_t[t], tc, out=h_raw[t])
                matmul(h_raw[t], w_hr_t, out=output[t])
            else:
                multiply(o_t[t], tc, out=output[t])

    # -- backward through time ----------------------------------------------------------------------------------
    def backward(
        self, d_out: np.ndarray | None, d_h: np.ndarray | None, d_c: np.ndarray | None
    ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Gradients of the gates' pre-activations from d(output) (T, N, S), d(h_last) (N, S) and d(c_last)
        (N, H), any of them None (zero). Returns (d_gi, d_gh, d_h0, d_c0, d_w_hr): d_gi (G, T, N, H) is the
        gradient of W_ih x + b_ih per gate, d_gh a list of G (T, N, H) arrays, that of W_hh h + b_hh (the same
        arrays unless GRU); d_c0 is None unless LSTM, d_w_hr None unless projected."""
        dtype = self.gates.dtype
        d_h_next = np.zeros((self.batch, self.state), dtype=dtype)
        if d_h is not None:
            np.copyto(d_h_next, d_h)
        d_out_t = None if d_out is None else list(d_out)
        if self.mode == "gru":
            return self._gru_backward(d_out_t, d_h_next)
        if self.mode == "lstm":
            d_c_next = np.zeros((self.batch, self.hidden), dtype=dtype)
            if d_c is not None:
                np.copyto(d_c_next, d_c)
            return self._lstm_backward(d_out_t, d_h_next, d_c_next)
        return self._rnn_backward(d_out_t, d_h_next)

    def _rnn_backward(self, d_out: list | None, d_h_next: np.ndarray) -> tuple:
        out = self.output
        local = self._buffer("local", *out.shape)
        if self.mode == "rnn_tanh":
            np.multiply(out, out, out=local)
            np.subtract(1, local, out=local)  # tanh' = 1 - h^2
        else:
            np.greater(out, 0, out=local, casting="unsafe")  # relu' = 1 where h > 0
        d_a = self._buffer("grads", 1, *local.shape)
        d_a_t, local_t = list(d_a[0]), list(local)
        w_hh = self.w_hh
        matmul, add, multiply = np.matmul, np.add, np.multiply
        for t in reversed(self.order):
            if d_out is not None:
                add(d_h_next, d_out[t], out=d_h_next)
            multiply(d_h_next, local_t[t], out=d_a_t[t])
            matmul(d_a_t[t], w_hh, out=d_h_next)
        return d_a, [d_a[0]], d_h_next, None, None

    def _gru_backward(self, d_out: list | None, d_h_next: np.ndarray) -> tuple:
        gates = self.gates
        r, z, n = gates[0], gates[1], gates[2]
        shape = r.shape
        # d(loss)/d(pre-activation) = d(loss)/d(h') * these factors, for every step at once:
        # n: (1 - z)(1 - n^2);  z: (h - n) z (1 - z);  r: (the n pre-activation's gradient) * gh_n r (1 - r).
        one_minus_z, local_n, local_z, local_r = (self._buffer(name, *shape) for name in ("1-z", "n", "z", "r"))
        np.subtract(1, z, out=one_minus_z)
        np.multiply(n, n, out=local_n)
        np.subtract(1, local_n, out=local_n)
        local_n *= one_minus_z
        np.subtract(self.previous, n, out=local_z)
        local_z *= z
        local_z *= one_minus_z
        np.subtract(1, r, out=local_r)
        local_r *= r
        local_r *= self.gh_n

        # The gradients in one buffer, ordered [d(gh_n), d(r), d(z), d(n)]: d(gh) of a step is slots 0-2 (with
        # r and z's recurrent weights reordered to match) and d(gi) is slots 1-3, both slices, so no copy.
        grads = self._buffer("grads", 4, *shape)
        w_back = self.w_hh.reshape(3, self.hidden, self.state)[[2, 0, 1]]  # W_hn, W_hr, W_hz
        acc = np.empty((3, self.batch, self.state), dtype=r.dtype)
        acc_r, acc_z, acc_n = acc
        d_gh_t = list(grads[:3].transpose(1, 0, 2, 3))
        d_ghn_t, d_r_t, d_z_t, d_n_t = (list(grads[k]) for k in range(4))
        local_n_t, local_z_t, local_r_t, r_t, z_t = list(local_n), list(local_z), list(local_r), list(r), list(z)
        # (Explicit adds: np.add.reduce over the 3 products costs as much as 6 adds, in its setup.)
        matmul, add, multiply = np.matmul, np.add, np.multiply
        for t in reversed(self.order):
            if d_out is not None:
                add(d_h_next, d_out[t], out=d_h_next)
            d_n = d_n_t[t]
            multiply(d_h_next, local_n_t[t], out=d_n)
            multiply(d_h_next, local_z_t[t], out=d_z_t[t])
            multiply(d_n, local_r_t[t], out=d_r_t[t])
            multiply(d_n, r_t[t], out=d_ghn_t[t])
            matmul(d_gh_t[t], w_back, out=acc)
            multiply(d_h_next, z_t[t], out=d_h_next)  # z * d(h') + the sum over gates of d(gh) W_hh
            add(d_h_next, acc_r, out=d_h_next)
            add(d_h_next, acc_z, out=d_h_next)
            add(d_h_next, acc_n, out=d_h_next)
        return grads[1:], [grads[1], grads[2], grads[0]], d_h_next, None, None

    def _lstm_backward(self, d_out: list | None, d_h_next: np.ndarray, d_c_next: np.ndarray) -> tuple:
        gates, tanh_c = self.gates, self.tanh_c
        i, f, g, o = gates
        # Local factors for every step: d(c) gets d(h~) * o (1 - tanh(c)^2); the i, f, g pre-activations get
        # d(c) * [g i (1 - i), c_prev f (1 - f), i (1 - g^2)]; o's gets d(h~) tanh(c) o (1 - o). h~ = o tanh(c).
        local_c = self._buffer("local_c", *tanh_c.shape)
        np.multiply(tanh_c, tanh_c, out=local_c)
        np.subtract(1, local_c, out=local_c)
        local_c *= o
        local = self._buffer("local", *gates.shape)
        np.subtract(1, i, out=local[0])
        local[0] *= i
        local[0] *= g
        np.subtract(1, f, out=local[1])
        local[1] *= f
        local[1] *= self.c_previous
        np.multiply(g, g, out=local[2])
        np.subtract(1, local[2], out=local[2])
        local[2] *= i
        np.subtract(1, o, out=local[3])
        local[3] *= o
        local[3] *= tanh_c

        grads = self._buffer("grads", *gates.shape)
        batch, hidden, state = self.batch, self.hidden, self.state
        w_back = self.w_hh.reshape(4, hidden, state)
        acc = np.empty((4, batch, state), dtype=gates.dtype)
        d_gates_t, d_ifg_t, d_o_t = (
            list(grads.transpose(1, 0, 2, 3)),
            list(grads[:3].transpose(1, 0, 2, 3)),
            list(grads[3]),
        )
        local_ifg_t, local_o_t, local_c_t, f_t = (
            list(local[:3].transpose(1, 0, 2, 3)),
            list(local[3]),
            list(local_c),
            list(f),
        )
        d_c_wide = d_c_next[None]
        projected = self.w_hr is not None
        if projected:
            w_hr = self.w_hr
            d_h_all = self._buffer("d_h_all", self.steps, batch, state)  # d(h) of each step, for d(W_hr)
            d_h_all_t = list(d_h_all)
            d_h_raw = np.empty((batch, hidden), dtype=gates.dtype)
        tmp = np.empty((batch, hidden), dtype=gates.dtype)
        acc_i, acc_f, acc_g, acc_o = acc
        matmul, add, multiply, copyto = np.matmul, np.add, np.multiply, np.copyto
        for t in reversed(self.order):
            if d_out is not None:
                add(d_h_next, d_out[t], out=d_h_next)
            if projected:
                copyto(d_h_all_t[t], d_h_next)
                matmul(d_h_next, w_hr, out=d_h_raw)
                d_h = d_h_raw
            else:
                d_h = d_h_next
            multiply(d_h, local_c_t[t], out=tmp)
            add(d_c_next, tmp, out=d_c_next)  # d(c) at this step
            multiply(d_c_wide, local_ifg_t[t], out=d_ifg_t[t])
            multiply(d_h, local_o_t[t], out=d_o_t[t])
            multiply(d_c_next, f_t[t], out=d_c_next)
            matmul(d_gates_t[t], w_back, out=acc)
            add(acc_i, acc_f, out=d_h_next)  # the sum over gates of d(gates) W_hh
            add(d_h_next, acc_g, out=d_h_next)
            add(d_h_next, acc_o, out=d_h_next)
        d_w_hr = None
        if projected:
            rows = self.steps * batch
            d_w_hr = np.matmul(d_h_all.reshape(rows, state).T, self.h_raw.reshape(rows, hidden))
        return grads, list(grads), d_h_next, d_c_next, d_w_hr


# -- the graph side -------------------------------------------------------------------------------------------
def _side_output(data: np.ndarray, main: Tensor, stash: dict, key: str, op: str) -> Tensor:
    """A further result of the op that made `main`: its gradient is handed to main's backward through `stash`."""

    def backward(grad: np.ndarray) -> tuple:
        if key in stash:
            stash[key] = stash[key] + grad
        else:
            stash[key] = grad
        return (None,)

    return result(data, (main,), backward, op)


def _recurrent(
    mode: str,
    op: str,
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    reverse: bool,
    cell: bool,
) -> tuple[Tensor, ...]:
    """Check the operands, run the sequence, record one node (plus side outputs). A cell is a sequence of one
    step whose main output is h' (N, S) rather than the output sequence (T, N, S)."""
    x = _tensor(x, op, "input")
    w_ih = _tensor(w_ih, op, "w_ih")
    w_hh = _tensor(w_hh, op, "w_hh")
    b_ih = None if b_ih is None else _tensor(b_ih, op, "b_ih")
    b_hh = None if b_hh is None else _tensor(b_hh, op, "b_hh")
    h0 = None if h0 is None else _tensor(h0, op, "hx")
    c0 = None if c0 is None else _tensor(c0, op, "cx")
    w_hr = None if w_hr is None else _tensor(w_hr, op, "w_hr")
    X = x.data  # noqa: N806
    expected_dims = 2 if cell else 3
    if X.ndim != expected_dims:
        layout = "(batch, input_size)" if cell else "(seq_len, batch, input_size)"
        raise ShapeError(f"{op}: expected input of shape {layout}, got {shape_str(X.shape)}")
    if not cell and X.shape[0] == 0:
        raise ShapeError(f"{op}: expected a sequence of at least one step, got input of shape {shape_str(X.shape)}")
    hidden, state = _check_weights(op, mode, X.shape[-1], w_ih, w_hh, b_ih, b_hh)
    batch = X.shape[-2]
    if w_hr is not None:
        _check_shape(w_hr, (state, hidden), op, "w_hr", "proj_size, hidden_size")
    elif state != hidden:
        raise ShapeError(
            f"{op}: w_hh must have shape {shape_str((_GATES[mode] * hidden, hidden))} (gates * hidden_size, "
            f"hidden_size), got {shape_str(w_hh.data.shape)}"
        )
    if h0 is not None:
        _check_shape(h0, (batch, state), op, "hx", "batch, hidden_size" if w_hr is None else "batch, proj_size")
    if c0 is not None:
        _check_shape(c0, (batch, hidden), op, "cx", "batch, hidden_size")
    named = [("input", x), ("w_ih", w_ih), ("w_hh", w_hh)]
    for name, tensor in (("b_ih", b_ih), ("b_hh", b_hh), ("hx", h0), ("cx", c0), ("w_hr", w_hr)):
        if tensor is not None:
            named.append((name, tensor))
    _check_dtypes(op, named)

    run = _Run(
        mode,
        X[None] if cell else X,
        None if h0 is None else h0.data,
        None if c0 is None else c0.data,
        w_ih.data,
        w_hh.data,
        None if b_ih is None else b_ih.data,
        None if b_hh is None else b_hh.data,
        None if w_hr is None else w_hr.data,
        reverse,
    )
    parents = tuple(p for p in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr) if p is not None)
    stash: dict[str, np.ndarray] = {}

    def backward(grad: np.ndarray) -> tuple:
        d_h = stash.pop("h", None)
        d_c = stash.pop("c", None)
        if cell:
            d_out = None
            d_h = grad if d_h is None else d_h + grad
        else:
            d_out = grad
        d_gi, d_gh, d_h0, d_c0, d_w_hr = run.backward(d_out, d_h, d_c)
        n_gates, hidden, rows = run.n_gates, run.hidden, run.steps * run.batch
        d_gi3 = d_gi.reshape(n_gates, rows, hidden)
        grads: list[np.ndarray | None] = []
        if x.requires_grad:
            # The sum over gates k of d(gi_k) W_ih_k: one GEMM per gate (in one call), then their sum.
            if n_gates == 1:
                d_x = np.matmul(d_gi3[0], run.w_ih)
            else:
                parts = run._buffer("d_x_parts", n_gates, rows, X.shape[-1])
                np.matmul(d_gi3, run.w_ih.reshape(n_gates, hidden, X.shape[-1]), out=parts)
                d_x = np.add(parts[0], parts[1])
                for k in range(2, n_gates):
                    d_x += parts[k]
                del parts
            grads.append(d_x.reshape(X.shape))
        else:
            grads.append(None)
        if h0 is not None:
            grads.append(d_h0 if h0.requires_grad else None)
        if c0 is not None:
            grads.append(d_c0 if c0.requires_grad else None)
        if w_ih.requires_grad:
            grads.append(np.matmul(d_gi3.transpose(0, 2, 1), run.x_rows).reshape(run.w_ih.shape))
        else:
            grads.append(None)
        if w_hh.requires_grad:
            d_w_hh = np.empty(run.w_hh.shape, dtype=d_gi.dtype)
            previous = run.previous.reshape(rows, run.state)
            for k, block in enumerate(d_gh):
                np.matmul(block.reshape(rows, hidden).T, previous, out=d_w_hh[k * hidden : (k + 1) * hidden])
            grads.append(d_w_hh)
        else:
            grads.append(None)
        gate_sums = None
        if (b_ih is not None and b_ih.requires_grad) or (b_hh is not None and b_hh.requires_grad):
            gate_sums = np.matmul(np.ones(rows, dtype=d_gi.dtype), d_gi3)  # (G, H): column sums, as a GEMV
        if b_ih is not None:
            grads.append(gate_sums.reshape(-1) if b_ih.requires_grad else None)
        if b_hh is not None:
            if not b_hh.requires_grad:
                grads.append(None)
            elif run.mode == "gru":  # d(gh) differs from d(gi) only in the n gate
                n_sum = np.matmul(np.ones(rows, dtype=d_gi.dtype), d_gh[2].reshape(rows, hidden))
                grads.append(np.concatenate([gate_sums[0], gate_sums[1], n_sum]))
            else:
                grads.append(gate_sums.reshape(-1).copy())  # the same sums; each leaf gets its own array
        if w_hr is not None:
            grads.append(d_w_hr if w_hr.requires_grad else None)
        return tuple(grads)

    if cell:
        main = result(run.h_last, parents, backward, op)
        outputs = [main]
    else:
        main = result(run.output, parents, backward, op)
        outputs = [main, _side_output(run.h_last, main, stash, "h", op)]
    if mode == "lstm":
        outputs.append(_side_output(run.c_last, main, stash, "c", op))
    return tuple(outputs)


# -- cells: one time step -------------------------------------------------------------------------------------
def rnn_tanh_cell(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """h' = tanh(input @ w_ih^T + b_ih + hx @ w_hh^T + b_hh), one fused node (torch.rnn_tanh_cell).

    input: (N, I); hx: (N, H) or None (zeros); w_ih: (H, I); w_hh: (H, H); b_ih, b_hh: (H,). Returns h': (N, H).
    """
    return _recurrent("rnn_tanh", "rnn_tanh_cell", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, False, True)[0]


def rnn_relu_cell(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """h' = relu(input @ w_ih^T + b_ih + hx @ w_hh^T + b_hh), one fused node (torch.rnn_relu_cell). Shapes as
    rnn_tanh_cell."""
    return _recurrent("rnn_relu", "rnn_relu_cell", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, False, True)[0]


def lstm_cell(
    input: Tensor,  # noqa: A002
    hx: Sequence[Tensor | None] | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step, one fused node (torch.lstm_cell). Gates i, f, g, o in that order.

    input: (N, I); hx: (h, c), each (N, H) or None (zeros); w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: (4H,).
    Returns (h', c'), each (N, H).
    """
    if hx is None:
        hx = (None, None)
    if not isinstance(hx, tuple | list) or len(hx) != 2:
        raise ShapeError(f"lstm_cell: hx must be a pair (h, c) of tensors, got {type(hx).__name__}")
    h, c = _recurrent("lstm", "lstm_cell", input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh, None, False, True)
    return h, c


def gru_cell(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One GRU step, one fused node (torch.gru_cell). Gates r, z, n in that order;
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.

    input: (N, I); hx: (N, H) or None (zeros); w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,). Returns h': (N, H).
    """
    return _recurrent("gru", "gru_cell", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, False, True)[0]


# -- sequences: one layer, one direction, one node ---------------------------------------------------------------
def rnn_tanh_sequence(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """A tanh RNN layer over a whole sequence, one fused node (BPTT in its backward).

    input: (T, N, I) (time first); hx: (N, H) or None for zeros; w_ih: (H, I); w_hh: (H, H); b_ih, b_hh: (H,).
    reverse: run from the last step to the first (the backward direction of a bidirectional layer).
    Returns (output (T, N, H), the hidden state of each step; h_n (N, H), the state after the last step run).
    """
    out, h_n = _recurrent("rnn_tanh", "rnn_tanh", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, reverse, False)
    return out, h_n


def rnn_relu_sequence(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """A relu RNN layer over a whole sequence, one fused node. Shapes as rnn_tanh_sequence."""
    out, h_n = _recurrent("rnn_relu", "rnn_relu", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, reverse, False)
    return out, h_n


def lstm_sequence(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    cx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """An LSTM layer over a whole sequence, one fused node (BPTT in its backward).

    input: (T, N, I); hx: (N, S) or None; cx: (N, H) or None; w_ih: (4H, I); w_hh: (4H, S); b_ih, b_hh: (4H,);
    w_hr: (P, H), the projection of h (then S = P), or None (S = H). reverse: run from the last step to the first.
    Returns (output (T, N, S), h_n (N, S), c_n (N, H)).
    """
    out, h_n, c_n = _recurrent("lstm", "lstm", input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse, False)
    return out, h_n, c_n


def gru_sequence(
    input: Tensor,  # noqa: A002
    hx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """A GRU layer over a whole sequence, one fused node (BPTT in its backward).

    input: (T, N, I); hx: (N, H) or None; w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,). reverse: run from
    the last step to the first. Returns (output (T, N, H), h_n (N, H)).
    """
    out, h_n = _recurrent("gru", "gru", input, hx, None, w_ih, w_hh, b_ih, b_hh, None, reverse, False)
    return out, h_n
