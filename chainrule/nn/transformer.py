"""Attention layers: MultiheadAttention, the Transformer encoder and decoder layers and stacks, Transformer, and
the causal mask helper `generate_square_subsequent_mask`.

PyTorch's constructors, submodule and parameter names (so state_dicts move between the two libraries
unchanged), initialisation, mask conventions and forward signatures. The attention itself is the fused
`chainrule.ops.attention` op; projections are `linear`, and head splits are views.

Mask conventions follow PyTorch, which uses two opposite ones:
- `scaled_dot_product_attention(attn_mask=...)`: a bool True means the key TAKES PART;
- here (MultiheadAttention and the Transformer layers), `attn_mask` / `key_padding_mask` / `src_mask` ...: a bool
  True means the position is BLOCKED (padding, the future). A float mask is added to the scores in both.

Differences from PyTorch, on purpose:
- A query whose keys are all blocked gets an output of zeros (and zero attention weights), with or without
  `need_weights`, as PyTorch's scaled_dot_product_attention does. PyTorch's MultiheadAttention gives NaN there
  when need_weights=True (and in its inference fast path), zeros otherwise.
- `is_causal` is only a hint, as in PyTorch: the mask passed is always the one applied.
- TransformerEncoder has no nested-tensor fast path: in evaluation mode with a src_key_padding_mask, PyTorch's
  fast path returns zeros at padded positions, where this returns the computed values (the values at the
  non-padded positions agree).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.creation import empty
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.nn import init
from chainrule.nn.container import ModuleList
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.normalization import LayerNorm
from chainrule.nn.parameter import Parameter
from chainrule.ops.activation import gelu, relu
from chainrule.ops.attention import attention
from chainrule.ops.dropout import check_probability
from chainrule.ops.elementwise import add
from chainrule.ops.linalg import linear
from chainrule.ops.reduction import mean
from chainrule.ops.shape import cat, expand, pad, reshape, split, squeeze, transpose, unsqueeze
from chainrule.tensor import DTypeLike, Tensor, as_dtype, as_tensor_arg, constant

__all__ = [
    "MultiheadAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "generate_square_subsequent_mask",
]


def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: DTypeLike = None) -> Tensor:
    """The causal mask for a sequence of `sz` positions: (sz, sz), -inf above the diagonal (position i may not
    attend to j > i), 0 elsewhere; float32 unless `dtype` (a float dtype) says otherwise. As
    torch.nn.Transformer.generate_square_subsequent_mask."""
    if isinstance(sz, bool) or not isinstance(sz, int | np.integer) or sz < 0:
        raise ArgumentError(f"generate_square_subsequent_mask: sz must be a non-negative int, got {sz!r}")
    _check_device(device, "generate_square_subsequent_mask")
    resolved = np.dtype(np.float32) if dtype is None else as_dtype(dtype)
    if resolved.kind != "f":
        raise DTypeError(f"generate_square_subsequent_mask: dtype must be a floating-point dtype, got {resolved}")
    return Tensor._wrap(np.triu(np.full((int(sz), int(sz)), -np.inf, dtype=resolved), 1))


# -- argument checks ---------------------------------------------------------------------------------------
def _positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ArgumentError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _check_device(device: Any, owner: str) -> None:
    if device is not None and not str(device).startswith("cpu"):
        raise ArgumentError(f"{owner}: chainrule runs on the CPU only, got device {device!r}")


def _tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else as_tensor_arg(value)


def _mask(mask: Any, name: str, dtype: np.dtype, where: str) -> Tensor | None:
    """A mask argument as a Tensor: bool (True = blocked) or float of the input's dtype (added), or None."""
    if mask is None:
        return None
    m = _tensor(mask)
    kind = m.data.dtype
    if kind != np.bool_ and kind.kind != "f":
        raise DTypeError(f"{where}: only bool and floating types of {name} are supported, got dtype {kind}")
    if kind.kind == "f" and kind != dtype:
        raise DTypeError(f"{where}: a float {name} must have the input's dtype {dtype}, got {kind}")
    return m


def _pad_key(mask: Tensor | None) -> Tensor | None:
    """One more key column that takes part (False / 0), for bias_k or the zero attention key."""
    if mask is None:
        return None
    if mask.data.dtype == np.bool_:
        return constant(np.pad(mask.data, [(0, 0)] * (mask.data.ndim - 1) + [(0, 1)]))
    return pad(mask, (0, 1))


def _merge_masks(masks: list[Tensor], dtype: np.dtype) -> Tensor | None:
    """Masks in PyTorch's MultiheadAttention convention (bool True = blocked, or float added) as one mask in
    scaled_dot_product_attention's (bool True = takes part, or float added)."""
    if not masks:
        return None
    if all(m.data.dtype == np.bool_ for m in masks):
        blocked = masks[0].data
        for m in masks[1:]:
            blocked = blocked | m.data
        return constant(~blocked)
    merged = None
    for m in masks:
        if m.data.dtype == np.bool_:
            m = constant(np.where(m.data, dtype.type(-np.inf), dtype.type(0)))
        merged = m if merged is None else add(merged, m)
    return merged


class MultiheadAttention(Module):
    """Multi-head attention: each of num_heads heads attends with its own slice of the projected query, key and
    value, and the heads' outputs are joined and projected (torch.nn.MultiheadAttention).

    embed_dim E must be divisible by num_heads H (head_dim = E / H). kdim and vdim: the key's and value's feature
    sizes (default E). Parameters, with PyTorch's names: in_proj_weight (3E, E) (the query, key and value
    projections stacked) when kdim = vdim = E, else q_proj_weight (E, E), k_proj_weight (E, kdim) and
    v_proj_weight (E, vdim); in_proj_bias (3E,) (bias=True); out_proj, a Linear(E, E); with add_bias_kv, bias_k
    and bias_v (1, 1, E), a learned key and value appended to the sequence. add_zero_attn appends a key and value
    of zeros. Initialised as PyTorch: xavier_uniform_ projections, zero biases, xavier_normal_ bias_k and bias_v.
    dropout: on the attention weights, in training mode.

    forward(query, key, value): query (L, N, E), key (S, N, kdim), value (S, N, vdim) (batch_first=False), or
    (N, L, E) ... (batch_first=True), or unbatched (L, E), (S, kdim), (S, vdim). Returns (attn_output, weights):
    attn_output like query; weights (N, L, S) averaged over heads, (N, H, L, S) with average_attn_weights=False,
    without N when unbatched, or None with need_weights=False (S counts the extra keys of add_bias_kv and
    add_zero_attn). key_padding_mask: (N, S) or (S,), True = a padding key, ignored. attn_mask: (L, S) or
    (N * H, L, S) ((H, L, S) unbatched), True = may not attend. Float masks are added to the scores.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        owner = "MultiheadAttention"
        self.embed_dim = _positive_int(embed_dim, "embed_dim", owner)
        self.num_heads = _positive_int(num_heads, "num_heads", owner)
        if embed_dim % num_heads:
            raise ArgumentError(f"{owner}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.kdim = embed_dim if kdim is None else _positive_int(kdim, "kdim", owner)
        self.vdim = embed_dim if vdim is None else _positive_int(vdim, "vdim", owner)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout = check_probability(dropout, owner)
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = bool(add_zero_attn)
        _check_device(device, owner)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        # PyTorch's NonDynamicallyQuantizableLinear is a Linear (a marker for its quantization tools).
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def _get_name(self) -> str:
        return "MultiheadAttention"

    def extra_repr(self) -> str:
        extra = [f"embed_dim={self.embed_dim}", f"num_heads={self.num_heads}"]
        if not self._qkv_same_embed_dim:
            extra += [f"kdim={self.kdim}", f"vdim={self.vdim}"]
        if self.dropout:
            extra.append(f"dropout={self.dropout}")
        if self.batch_first:
            extra.append("batch_first=True")
        return ", ".join(extra)

    def _where(self) -> str:
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def _projection_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._qkv_same_embed_dim:
            return split(self.in_proj_weight, self.embed_dim)  # type: ignore[return-value]
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight  # type: ignore[return-value]

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        where = self._where()
        query, key, value = _tensor(query), _tensor(key), _tensor(value)
        batched = self._check_shapes(query, key, value, key_padding_mask, attn_mask, where)
        dtype = query.data.dtype
        if dtype.kind != "f":
            raise DTypeError(f"{where}: expected a floating-point query, got dtype {dtype}")
        key_padding_mask = _mask(key_padding_mask, "key_padding_mask", dtype, where)
        attn_mask = _mask(attn_mask, "attn_mask", dtype, where)
        if (
            key_padding_mask is not None
            and attn_mask is not None
            and key_padding_mask.data.dtype != attn_mask.data.dtype
        ):
            warnings.warn(
                "Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type for both instead.",
                stacklevel=3,
            )
        if is_causal and attn_mask is None:
            raise ArgumentError(
                f"{where}: is_causal=True is a hint that attn_mask is the causal mask, so attn_mask is required; "
                "make one with generate_square_subsequent_mask(L)"
            )

        # Batch first inside: (N, L, E), (N, S, kdim), (N, S, vdim).
        if not batched:
            query, key, value = unsqueeze(query, 0), unsqueeze(key, 0), unsqueeze(value, 0)
            if key_padding_mask is not None:
                key_padding_mask = unsqueeze(key_padding_mask, 0)
        elif not self.batch_first:
            query, key, value = transpose(query, 0, 1), transpose(key, 0, 1), transpose(value, 0, 1)
        n, tgt_len, _ = query.data.shape
        src_len = key.data.shape[1]
        heads, head_dim = self.num_heads, self.head_dim

        w_q, w_k, w_v = self._projection_weights()
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = split(self.in_proj_bias, self.embed_dim)
        q = linear(query, w_q, b_q)
        k = linear(key, w_k, b_k)
        v = linear(value, w_v, b_v)
        if self.bias_k is not None and self.bias_v is not None:
            k = cat([k, expand(self.bias_k, n, 1, self.embed_dim)], dim=1)
            v = cat([v, expand(self.bias_v, n, 1, self.embed_dim)], dim=1)
            attn_mask, key_padding_mask = _pad_key(attn_mask), _pad_key(key_padding_mask)
            src_len += 1
        q = transpose(reshape(q, n, tgt_len, heads, head_dim), 1, 2)  # (N, H, L, head_dim)
        k = transpose(reshape(k, n, src_len, heads, head_dim), 1, 2)
        v = transpose(reshape(v, n, src_len, heads, head_dim), 1, 2)
        if self.add_zero_attn:
            zeros = constant(np.zeros((n, heads, 1, head_dim), dtype=dtype))
            k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
            attn_mask, key_padding_mask = _pad_key(attn_mask), _pad_key(key_padding_mask)
            src_len += 1

        masks = []
        if attn_mask is not None:
            if attn_mask.data.ndim == 3:  # (N * H, L, S), or (H, L, S) unbatched
                attn_mask = reshape(attn_mask, -1, heads, tgt_len, src_len)
            masks.append(attn_mask)
        if key_padding_mask is not None:
            masks.append(reshape(key_padding_mask, n, 1, 1, src_len))
        mask = _merge_masks(masks, dtype)

        dropout_p = self.dropout if self.training else 0.0
        out, weights = attention(q, k, v, mask, dropout_p, need_weights=need_weights, op=where)
        out = reshape(transpose(out, 1, 2), n, tgt_len, self.embed_dim)
        out = self.out_proj(out)
        if not batched:
            out = squeeze(out, 0)
        elif not self.batch_first:
            out = transpose(out, 0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = mean(weights, dim=1)
            if not batched:
                weights = squeeze(weights, 0)
        return out, weights

    def _check_shapes(
        self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any, attn_mask: Any, where: str
    ) -> bool:
        """PyTorch's shape rules, as ShapeErrors naming the layer; returns whether the input is batched."""
        q_shape, k_shape, v_shape = query.data.shape, key.data.shape, value.data.shape
        layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
        if len(q_shape) not in (2, 3):
            raise ShapeError(
                f"{where}: query must be batched {layout} or unbatched (L, E), got shape {shape_str(q_shape)}"
            )
        batched = len(q_shape) == 3
        dims = len(q_shape)
        if len(k_shape) != dims or len(v_shape) != dims:
            raise ShapeError(
                f"{where}: for a {dims}-D query, key and value must be {dims}-D too, got key {shape_str(k_shape)} "
                f"and value {shape_str(v_shape)}"
            )
        for name, shape, size in (
            ("query", q_shape, self.embed_dim),
            ("key", k_shape, self.kdim),
            ("value", v_shape, self.vdim),
        ):
            if shape[-1] != size:
                what = "embed_dim" if name == "query" else ("kdim" if name == "key" else "vdim")
                raise ShapeError(
                    f"{where}: expected {name} with {size} features ({what}) in the last dim, got shape "
                    f"{shape_str(shape)}"
                )
        if k_shape[:-1] != v_shape[:-1]:
            raise ShapeError(
                f"{where}: key and value must have the same sequence length and batch size, got key "
                f"{shape_str(k_shape)} and value {shape_str(v_shape)}"
            )
        batch_dim = 0 if self.batch_first else 1
        seq_dim = 1 - batch_dim if batched else 0
        if batched and q_shape[batch_dim] != k_shape[batch_dim]:
            raise ShapeError(
                f"{where}: query and key must have the same batch size (dim {batch_dim}), got query "
                f"{shape_str(q_shape)} and key {shape_str(k_shape)}"
            )
        n = q_shape[batch_dim] if batched else None
        tgt_len, src_len = q_shape[seq_dim], k_shape[seq_dim]
        if key_padding_mask is not None:
            shape = np.shape(key_padding_mask.data if isinstance(key_padding_mask, Tensor) else key_padding_mask)
            expected = (n, src_len) if batched else (src_len,)
            if tuple(shape) != expected:
                raise ShapeError(
                    f"{where}: key_padding_mask must have shape {shape_str(expected)} ((N, S) batched, (S,) "
                    f"unbatched), got {shape_str(shape)}"
                )
        if attn_mask is not None:
            shape = tuple(np.shape(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask))
            allowed = [(tgt_len, src_len), ((n if batched else 1) * self.num_heads, tgt_len, src_len)]
            if not batched:
                allowed[1] = (self.num_heads, tgt_len, src_len)
            if shape not in allowed:
                three = "(N * num_heads, L, S)" if batched else "(num_heads, L, S)"
                raise ShapeError(
                    f"{where}: attn_mask must have shape {shape_str(allowed[0])} (L, S) or {shape_str(allowed[1])} "
                    f"{three}, got {shape_str(shape)}"
                )
        return batched


def _activation(activation: str | Callable[[Tensor], Tensor], owner: str) -> Callable[[Tensor], Tensor]:
    if isinstance(activation, str):
        if activation == "relu":
            return relu
        if activation == "gelu":
            return gelu
        raise ArgumentError(f"{owner}: activation should be 'relu', 'gelu' or a callable, not {activation!r}")
    if not callable(activation):
        raise ArgumentError(f"{owner}: activation should be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


def _check_model_input(x: Tensor, d_model: int, name: str, batch_first: bool, where: str) -> None:
    shape = x.data.shape
    if len(shape) not in (2, 3) or shape[-1] != d_model:
        layout = "(N, S, d_model)" if batch_first else "(S, N, d_model)"
        raise ShapeError(
            f"{where}: expected {name} of shape {layout} or unbatched (S, d_model) with d_model={d_model}, got "
            f"{shape_str(shape)}"
        )


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a LayerNorm
    (torch.nn.TransformerEncoderLayer).

    norm_first=False (post-norm, "Attention Is All You Need"): x = norm1(x + sa(x)); x = norm2(x + ff(x)).
    norm_first=True (pre-norm): x = x + sa(norm1(x)); x = x + ff(norm2(x)). ff(x) = linear2(dropout(
    activation(linear1(x)))). Submodules as PyTorch: self_attn, linear1, dropout, linear2, norm1, norm2,
    dropout1, dropout2. activation: 'relu', 'gelu' or a callable.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False): src (S, N, d_model), (N, S, d_model)
    with batch_first, or (S, d_model) -> the same shape. Masks as in MultiheadAttention (bool True = blocked).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        owner = "TransformerEncoderLayer"
        _check_device(device, owner)
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype
        )
        self.linear1 = Linear(d_model, _positive_int(dim_feedforward, "dim_feedforward", owner), bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, owner)
        self.d_model = d_model
        self.batch_first = bool(batch_first)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = _tensor(src)
        _check_model_input(x, self.d_model, "src", self.batch_first, f"TransformerEncoderLayer(d_model={self.d_model})")
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False, is_causal=is_causal
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (memory) and a feed-forward block, each with a
    residual connection and a LayerNorm (torch.nn.TransformerDecoderLayer).

    norm_first=False: x = norm1(x + sa(x)); x = norm2(x + mha(x, memory)); x = norm3(x + ff(x)); norm_first=True
    applies each norm to the block's input instead. Submodules as PyTorch: self_attn, multihead_attn, linear1,
    dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3.

    forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask): tgt (T, N,
    d_model) (or batch first, or unbatched), memory (S, N, d_model) -> tgt's shape.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        owner = "TransformerDecoderLayer"
        _check_device(device, owner)
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype
        )
        self.linear1 = Linear(d_model, _positive_int(dim_feedforward, "dim_feedforward", owner), bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, owner)
        self.d_model = d_model
        self.batch_first = bool(batch_first)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x, memory = _tensor(tgt), _tensor(memory)
        where = f"TransformerDecoderLayer(d_model={self.d_model})"
        _check_model_input(x, self.d_model, "tgt", self.batch_first, where)
        _check_model_input(memory, self.d_model, "memory", self.batch_first, where)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal, need_weights=False
        )[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.multihead_attn(
            x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal, need_weights=False
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _clones(layer: Module, num_layers: int, owner: str) -> ModuleList:
    if isinstance(num_layers, bool) or not isinstance(num_layers, int | np.integer) or num_layers < 0:
        raise ArgumentError(f"{owner}: num_layers must be a non-negative int, got {num_layers!r}")
    if not isinstance(layer, Module):
        raise ArgumentError(f"{owner}: expected a layer (a Module) to copy, got {type(layer).__name__}")
    return ModuleList([copy.deepcopy(layer) for _ in range(int(num_layers))])


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer (deep copies: each has its own weights), applied in turn, then the
    optional norm (torch.nn.TransformerEncoder). state_dict keys: layers.0.self_attn.in_proj_weight, ...

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): the mask and padding mask go to every
    layer. enable_nested_tensor and mask_check are accepted for PyTorch's signature and have no effect.
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        output = _tensor(src)
        causal = bool(is_causal) if is_causal is not None else mask is not None and _is_causal_mask(mask)
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """num_layers copies of decoder_layer applied in turn to tgt, each attending to memory, then the optional norm
    (torch.nn.TransformerDecoder). state_dict keys: layers.0.self_attn.in_proj_weight, ..."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        output = _tensor(tgt)
        causal = (
            bool(tgt_is_causal) if tgt_is_causal is not None else tgt_mask is not None and _is_causal_mask(tgt_mask)
        )
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=causal,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


def _is_causal_mask(mask: Any) -> bool:
    """Whether `mask` is exactly generate_square_subsequent_mask of its size (PyTorch's is_causal detection);
    only a hint here, as the mask given is always the one applied."""
    data = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if data.ndim != 2 or data.shape[0] != data.shape[1] or data.dtype.kind != "f":
        return False
    return bool((data == np.triu(np.full(data.shape, -np.inf, dtype=data.dtype), 1)).all())


class Transformer(Module):
    """The encoder-decoder Transformer (torch.nn.Transformer): an encoder of num_encoder_layers
    TransformerEncoderLayers and a decoder of num_decoder_layers TransformerDecoderLayers, each stack followed
    by a LayerNorm. Every weight matrix (dim > 1) is initialised with xavier_uniform_, as PyTorch.

    forward(src, tgt, ...): src (S, N, d_model), tgt (T, N, d_model) (batch first with batch_first=True, or
    unbatched) -> (T, N, d_model). Masks as in MultiheadAttention; causal masks come from
    Transformer.generate_square_subsequent_mask(T).
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        _check_device(device, "Transformer")
        layer_options = {
            "dim_feedforward": dim_feedforward,
            "dropout": dropout,
            "activation": activation,
            "layer_norm_eps": layer_norm_eps,
            "batch_first": batch_first,
            "norm_first": norm_first,
            "bias": bias,
            "dtype": dtype,
        }
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(d_model, nhead, **layer_options)
            encoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(d_model, nhead, **layer_options)
            decoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = bool(batch_first)

    def _reset_parameters(self) -> None:
        for param in self.parameters():
            if param.data.ndim > 1:
                init.xavier_uniform_(param)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        src, tgt = _tensor(src), _tensor(tgt)
        where = f"Transformer(d_model={self.d_model}, nhead={self.nhead})"
        batch_dim = 0 if self.batch_first else 1
        if src.data.ndim == 3 and (tgt.data.ndim != 3 or src.data.shape[batch_dim] != tgt.data.shape[batch_dim]):
            raise ShapeError(
                f"{where}: src and tgt must have the same batch size (dim {batch_dim}), got src "
                f"{shape_str(src.data.shape)} and tgt {shape_str(tgt.data.shape)}"
            )
        if src.data.shape[-1:] != (self.d_model,) or tgt.data.shape[-1:] != (self.d_model,):
            raise ShapeError(
                f"{where}: src and tgt must have d_model={self.d_model} features in the last dim, got src "
                f"{shape_str(src.data.shape)} and tgt {shape_str(tgt.data.shape)}"
            )
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )
