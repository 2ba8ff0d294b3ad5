"""chainrule: neural networks trained by backpropagation, on NumPy, on the CPU.

The public names, PyTorch's spelling: `chainrule.tensor`, `chainrule.no_grad`, `chainrule.cat` ...
"""

from __future__ import annotations

import numpy as np

from chainrule import allocator, errors
from chainrule.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.creation import (
    arange,
    as_tensor,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.gradcheck import gradcheck
from chainrule.ops.activation import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    relu,
    relu6,
    selu,
    silu,
    softmax,
    softplus,
)
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from chainrule.ops.elementwise import (
    abs,
    add,
    allclose,
    ceil,
    clamp,
    clip,
    clone,
    cos,
    div,
    eq,
    exp,
    expm1,
    floor,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    reciprocal,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tanh,
    trunc,
    where,
)
from chainrule.ops.indexing import gather, index_select, masked_fill, take_along_dim
from chainrule.ops.linalg import dot, matmul
from chainrule.ops.pool import adaptive_avg_pool1d, adaptive_max_pool1d, avg_pool1d, max_pool1d, max_pool2d
from chainrule.ops.reduction import (
    MaxResult,
    MinResult,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from chainrule.ops.rnn import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from chainrule.ops.shape import (
    broadcast_to,
    cat,
    chunk,
    flatten,
    flip,
    movedim,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unflatten,
    unsqueeze,
)
from chainrule.random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from chainrule.tensor import Tensor
from chainrule.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

allocator.keep_freed_memory()  # each step's arrays reuse the last step's memory, rather than fresh pages

float16 = half = np.float16
float32 = float = np.float32
float64 = double = np.float64
int8 = np.int8
int16 = short = np.int16
int32 = int = np.int32
int64 = long = np.int64
uint8 = np.uint8
bool = np.bool_
concat = concatenate = cat
subtract = sub
multiply = mul
divide = true_divide = div

from chainrule import data, diagnostics, io, nn, optim, train  # noqa: E402  (the packages import the names above)
from chainrule.io import load, save  # noqa: E402
