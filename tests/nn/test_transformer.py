"""MultiheadAttention and the Transformer layers: PyTorch's parameter names, shapes and initialisation; outputs and
gradients against PyTorch with copied weights; finite differences; masks; errors naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.nn import LayerNorm
from chainrule.nn.transformer import (
    MultiheadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)
from tests.helpers import check_gradients, random_array, requires_torch, torch

E, H = 8, 2  # embed_dim, num_heads of most tests

# A bool padding mask with a float attention mask is the documented usage; both libraries warn about it.
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")


def _copy_from_torch(ours: cr.nn.Module, theirs) -> None:
    """Load PyTorch's weights; the state_dict keys must be the same, in the same order."""
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)


def _assert_close(ours: cr.Tensor, theirs, atol: float = 1e-10) -> None:
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=atol, rtol=1e-7)


def _backward_both(ours: cr.Tensor, theirs, seed: int = 5) -> None:
    weights = np.random.default_rng(seed).uniform(-1, 1, size=ours.shape)
    (ours * cr.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()


def _assert_same_grads(ours: cr.nn.Module, theirs) -> None:
    mine = dict(ours.named_parameters())
    for name, param in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad.data, param.grad.numpy(), atol=1e-10, err_msg=name)


def _inputs(*arrays: np.ndarray):
    return [cr.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def _padding(n: int, s: int, seed: int = 0) -> np.ndarray:
    """A key_padding_mask (True = padding) that leaves every sequence at least one key."""
    mask = np.random.default_rng(seed).random((n, s)) < 0.4
    mask[:, 0] = False
    return mask


# -- construction ------------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize(
    "options",
    [{}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True}, {"bias": False}, {"add_bias_kv": True, "kdim": 3, "vdim": 5}],
)
def test_multihead_attention_parameters_match_torch(options):
    ours = MultiheadAttention(E, H, **options)
    theirs = torch.nn.MultiheadAttention(E, H, **options)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]


def test_multihead_attention_initialisation():
    cr.manual_seed(0)
    layer = MultiheadAttention(E, H, add_bias_kv=True)
    bound = np.sqrt(6 / (E + 3 * E))  # xavier_uniform_ of the (3E, E) in_proj_weight
    assert np.abs(layer.in_proj_weight.data).max() <= bound
    assert np.abs(layer.in_proj_weight.data).max() > 0.8 * bound
    np.testing.assert_array_equal(layer.in_proj_bias.data, 0.0)
    np.testing.assert_array_equal(layer.out_proj.bias.data, 0.0)
    assert layer.in_proj_weight.dtype == np.float32 and layer.bias_k.shape == (1, 1, E)
    assert isinstance(layer.out_proj, cr.nn.Linear) and layer.head_dim == E // H


def test_multihead_attention_constructor_errors():
    with pytest.raises(ArgumentError, match="embed_dim \\(6\\) must be divisible by num_heads \\(4\\)"):
        MultiheadAttention(6, 4)
    with pytest.raises(ArgumentError, match="num_heads must be a positive int"):
        MultiheadAttention(6, 0)
    with pytest.raises(ArgumentError, match="dropout probability"):
        MultiheadAttention(6, 2, dropout=2.0)


# -- MultiheadAttention against PyTorch ------------------------------------------------------------------------------
def _mha_pair(**options):
    theirs = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **options)
    ours = MultiheadAttention(E, H, dtype=cr.float64, **options)
    _copy_from_torch(ours, theirs)
    return ours, theirs


def _check_mha(ours, theirs, arrays, masks=None, **kwargs):
    """Outputs, weights and every gradient (inputs and parameters) of both, from one backward of a weighted sum
    of the output and the weights."""
    masks = masks or {}
    (q, k, v), (tq, tk, tv) = _inputs(*arrays)
    out, weights = ours(q, k, v, **{n: cr.tensor(m) for n, m in masks.items()}, **kwargs)
    ref, ref_weights = theirs(tq, tk, tv, **{n: torch.tensor(m) for n, m in masks.items()}, **kwargs)
    _assert_close(out, ref)
    total, ref_total = out, ref
    if ref_weights is not None:
        _assert_close(weights, ref_weights)
        scale = np.random.default_rng(6).uniform(-1, 1, size=weights.shape)
        total = out.sum() + (weights * cr.tensor(scale)).sum()
        ref_total = ref.sum() + (ref_weights * torch.tensor(scale)).sum()
    else:
        assert weights is None
    _backward_both(total, ref_total)
    for a, b in zip((q, k, v), (tq, tk, tv)):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-10)
    _assert_same_grads(ours, theirs)


@requires_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("average", [True, False])
def test_multihead_attention_matches_torch(batch_first, average):
    ours, theirs = _mha_pair(batch_first=batch_first)
    shape = (3, 4, E) if batch_first else (4, 3, E)
    x = random_array(*shape, seed=1)
    memory = random_array(*((3, 5, E) if batch_first else (5, 3, E)), seed=2)
    _check_mha(ours, theirs, (x, memory, memory), average_attn_weights=average)


@requires_torch
@pytest.mark.parametrize(
    "masks",
    [
        {"key_padding_mask": _padding(3, 5)},
        {"key_padding_mask": np.where(_padding(3, 5), -np.inf, 0.0)},
        {"attn_mask": random_array(4, 5, seed=3)},
        {"attn_mask": random_array(4, 5, seed=3) > 1.0},
        {"attn_mask": random_array(3 * H, 4, 5, seed=3) > 1.0, "key_padding_mask": _padding(3, 5)},
        {"attn_mask": random_array(3 * H, 4, 5, seed=3), "key_padding_mask": _padding(3, 5)},
    ],
    ids=["padding", "float-padding", "float-attn", "bool-attn", "both-bool", "float-and-bool"],
)
def test_multihead_attention_masks_match_torch(masks):
    ours, theirs = _mha_pair()
    arrays = (random_array(4, 3, E, seed=1), random_array(5, 3, E, seed=2), random_array(5, 3, E, seed=4))
    if "attn_mask" in masks and masks["attn_mask"].dtype == bool:
        masks["attn_mask"][..., 0] = False  # keep a key for every query
    _check_mha(ours, theirs, arrays, masks)
    _check_mha(ours, theirs, arrays, masks, need_weights=False)


@requires_torch
@pytest.mark.parametrize(
    "options",
    [{"kdim": 3, "vdim": 5}, {"add_bias_kv": True}, {"add_zero_attn": True}, {"bias": False}],
    ids=["kdim-vdim", "bias-kv", "zero-attn", "no-bias"],
)
def test_multihead_attention_options_match_torch(options):
    ours, theirs = _mha_pair(**options)
    arrays = (
        random_array(4, 3, E, seed=1),
        random_array(5, 3, options.get("kdim", E), seed=2),
        random_array(5, 3, options.get("vdim", E), seed=3),
    )
    masks = {"key_padding_mask": _padding(3, 5), "attn_mask": random_array(4, 5, seed=4)}
    _check_mha(ours, theirs, arrays, masks)


@requires_torch
def test_multihead_attention_unbatched_matches_torch():
    ours, theirs = _mha_pair(batch_first=True)  # batch_first is ignored for unbatched input
    arrays = (random_array(4, E, seed=1), random_array(5, E, seed=2), random_array(5, E, seed=3))
    masks = {"key_padding_mask": _padding(1, 5)[0], "attn_mask": random_array(H, 4, 5, seed=4)}
    _check_mha(ours, theirs, arrays, masks, average_attn_weights=False)
    out, weights = ours(*(cr.tensor(a) for a in arrays))
    assert out.shape == (4, E) and weights.shape == (4, 5)


def test_multihead_attention_gradients_match_finite_differences():
    cr.manual_seed(0)
    layer = MultiheadAttention(4, 2, dtype=cr.float64)
    padding = cr.tensor(np.array([[False, False, True], [False, True, False]]))
    causal = generate_square_subsequent_mask(3, dtype=cr.float64)
    check_gradients(
        lambda q, k, v, m: layer(q, k, v, key_padding_mask=padding, attn_mask=m)[0],
        random_array(3, 2, 4, seed=1),
        random_array(3, 2, 4, seed=2),
        random_array(3, 2, 4, seed=3),
        random_array(3, 3, seed=4) + causal.data,
    )
    check_gradients(  # the weights, averaged over heads, are differentiable too
        lambda q, k: layer(q, k, k, key_padding_mask=padding)[1],
        random_array(2, 2, 4, seed=5),
        random_array(3, 2, 4, seed=6),
    )


def test_multihead_attention_fully_masked_query_gives_zeros():
    # PyTorch gives NaN here when need_weights=True and zeros when need_weights=False; this gives zeros in both.
    layer = MultiheadAttention(E, H, bias=False)
    x = cr.tensor(random_array(3, 2, E).astype(np.float32))
    padding = cr.tensor(np.array([[True, True, True], [False, True, False]]))
    for need_weights in (True, False):
        out, weights = layer(x, x, x, key_padding_mask=padding, need_weights=need_weights)
        np.testing.assert_array_equal(out.data[:, 0], 0.0)  # no bias: the zero attention output stays zero
        assert np.isfinite(out.data).all()
        if need_weights:
            np.testing.assert_array_equal(weights.data[0], 0.0)
            np.testing.assert_allclose(weights.data[1].sum(-1), 1.0, rtol=1e-6)


def test_multihead_attention_dropout_only_in_training():
    cr.manual_seed(0)
    layer = MultiheadAttention(E, H, dropout=0.5)
    x = cr.tensor(random_array(5, 2, E).astype(np.float32))
    layer.eval()
    first, second = layer(x, x, x)[0], layer(x, x, x)[0]
    np.testing.assert_array_equal(first.data, second.data)
    layer.train()
    _, weights = layer(x, x, x, average_attn_weights=False)
    assert (weights.data == 0).any()  # dropped weights are returned as PyTorch does
    assert not np.allclose(layer(x, x, x)[0].data, first.data)


def test_multihead_attention_shape_errors_name_the_layer():
    layer = MultiheadAttention(E, H)
    x = cr.tensor(np.zeros((4, 3, E), dtype=np.float32))
    where = r"MultiheadAttention\(embed_dim=8, num_heads=2\)"
    wrong = cr.tensor(np.zeros((4, 3, E + 1), dtype=np.float32))
    with pytest.raises(ShapeError, match=where + ".*expected query with 8 features"):
        layer(wrong, x, x)
    with pytest.raises(ShapeError, match=where + ".*key and value must be 3-D too"):
        layer(x, cr.tensor(np.zeros((4, E), dtype=np.float32)), x)
    with pytest.raises(ShapeError, match=where + ".*query must be batched"):
        layer(cr.tensor(np.zeros((1, 4, 3, E), dtype=np.float32)), x, x)
    with pytest.raises(ShapeError, match=where + r".*key_padding_mask must have shape \(3, 4\)"):
        layer(x, x, x, key_padding_mask=cr.tensor(np.zeros((4, 3), dtype=bool)))
    with pytest.raises(ShapeError, match=where + r".*attn_mask must have shape \(4, 4\) .* or \(6, 4, 4\)"):
        layer(x, x, x, attn_mask=cr.tensor(np.zeros((3, 4, 4), dtype=bool)))
    with pytest.raises(ShapeError, match=where + ".*same batch size"):
        layer(x, cr.tensor(np.zeros((4, 2, E), dtype=np.float32)), cr.tensor(np.zeros((4, 2, E), dtype=np.float32)))


def test_multihead_attention_mask_errors():
    layer = MultiheadAttention(E, H)
    x = cr.tensor(np.zeros((4, 3, E), dtype=np.float32))
    with pytest.raises(DTypeError, match="only bool and floating types of key_padding_mask"):
        layer(x, x, x, key_padding_mask=cr.tensor(np.zeros((3, 4), dtype=np.int64)))
    with pytest.raises(DTypeError, match="float attn_mask must have the input's dtype float32"):
        layer(x, x, x, attn_mask=cr.tensor(np.zeros((4, 4))))
    with pytest.raises(ArgumentError, match=r"is_causal=True .* attn_mask is required"):
        layer(x, x, x, is_causal=True)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        layer(
            x,
            x,
            x,
            key_padding_mask=cr.tensor(np.zeros((3, 4), dtype=bool)),
            attn_mask=cr.tensor(np.zeros((4, 4), dtype=np.float32)),
        )


# -- encoder and decoder layers -----------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_eval_matches_torch(norm_first, activation):
    options = {"dim_feedforward": 16, "activation": activation, "norm_first": norm_first, "batch_first": True}
    theirs = torch.nn.TransformerEncoderLayer(E, H, dtype=torch.float64, **options).eval()
    ours = TransformerEncoderLayer(E, H, dtype=cr.float64, **options).eval()
    _copy_from_torch(ours, theirs)
    (x,), (tx,) = _inputs(random_array(3, 5, E, seed=1))
    causal = generate_square_subsequent_mask(5, dtype=cr.float64)
    padding = np.zeros((3, 5), dtype=bool)
    padding[1, 3:] = True
    out = ours(x, src_mask=causal, src_key_padding_mask=cr.tensor(padding))
    ref = theirs(tx, src_mask=torch.tensor(causal.data), src_key_padding_mask=torch.tensor(padding))
    _assert_close(out, ref)
    _backward_both(out, ref)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), atol=1e-10)
    _assert_same_grads(ours, theirs)


@requires_torch
def test_encoder_layer_callable_activation_and_sequence_first_match_torch():
    theirs = torch.nn.TransformerEncoderLayer(E, H, 16, activation=torch.nn.GELU(), dtype=torch.float64).eval()
    ours = TransformerEncoderLayer(E, H, 16, activation=cr.nn.GELU(), dtype=cr.float64).eval()
    _copy_from_torch(ours, theirs)
    x = random_array(5, 3, E, seed=2)
    _assert_close(ours(cr.tensor(x)), theirs(torch.tensor(x)))


def test_encoder_layer_submodules_and_errors():
    layer = TransformerEncoderLayer(E, H, dim_feedforward=16)
    assert list(dict(layer.named_children())) == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"
    ]  # fmt: skip
    assert layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    with pytest.raises(ArgumentError, match="activation should be 'relu', 'gelu' or a callable"):
        TransformerEncoderLayer(E, H, activation="tanh")
    with pytest.raises(
        ShapeError, match=r"TransformerEncoderLayer\(d_model=8\): expected src of shape \(S, N, d_model\)"
    ):
        layer(cr.tensor(np.zeros((5, 3, E + 1), dtype=np.float32)))


def test_encoder_layer_dropout_is_active_in_training_only():
    cr.manual_seed(0)
    layer = TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.3)
    x = cr.tensor(random_array(5, 2, E).astype(np.float32))
    assert not np.allclose(layer(x).data, layer(x).data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


@requires_torch
def test_encoder_of_two_layers_matches_torch():
    layer = torch.nn.TransformerEncoderLayer(E, H, 16, dtype=torch.float64)
    theirs = torch.nn.TransformerEncoder(
        layer, 2, norm=torch.nn.LayerNorm(E, dtype=torch.float64), enable_nested_tensor=False
    ).eval()
    ours = TransformerEncoder(
        TransformerEncoderLayer(E, H, 16, dtype=cr.float64), 2, norm=LayerNorm(E, dtype=cr.float64)
    ).eval()
    assert next(iter(ours.state_dict())) == "layers.0.self_attn.in_proj_weight"
    _copy_from_torch(ours, theirs)
    (x,), (tx,) = _inputs(random_array(5, 3, E, seed=1))
    padding = _padding(3, 5)
    out = ours(x, mask=generate_square_subsequent_mask(5, dtype=cr.float64), src_key_padding_mask=cr.tensor(padding))
    ref = theirs(
        tx,
        mask=torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64),
        src_key_padding_mask=torch.tensor(padding),
    )
    _assert_close(out, ref)
    _backward_both(out, ref)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), atol=1e-10)
    _assert_same_grads(ours, theirs)


def test_encoder_layers_are_independent_copies():
    layer = TransformerEncoderLayer(E, H, 16)
    encoder = TransformerEncoder(layer, 3)
    weights = [block.linear1.weight for block in encoder.layers]
    assert len({id(w) for w in weights}) == 3 and all(w is not layer.linear1.weight for w in weights)
    np.testing.assert_array_equal(weights[0].data, weights[2].data)  # copies start equal
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters()))


@requires_torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_matches_torch(norm_first):
    options = {"dim_feedforward": 16, "norm_first": norm_first}
    theirs = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(E, H, dtype=torch.float64, **options), 2
    ).eval()
    ours = TransformerDecoder(TransformerDecoderLayer(E, H, dtype=cr.float64, **options), 2).eval()
    _copy_from_torch(ours, theirs)
    (tgt, memory), (ttgt, tmemory) = _inputs(random_array(4, 3, E, seed=1), random_array(5, 3, E, seed=2))
    causal = generate_square_subsequent_mask(4, dtype=cr.float64)
    padding = _padding(3, 5)
    out = ours(tgt, memory, tgt_mask=causal, memory_key_padding_mask=cr.tensor(padding))
    ref = theirs(ttgt, tmemory, tgt_mask=torch.tensor(causal.data), memory_key_padding_mask=torch.tensor(padding))
    _assert_close(out, ref)
    _backward_both(out, ref)
    np.testing.assert_allclose(memory.grad.data, tmemory.grad.numpy(), atol=1e-10)
    _assert_same_grads(ours, theirs)


@requires_torch
def test_transformer_matches_torch():
    options = {"num_encoder_layers": 1, "num_decoder_layers": 2, "dim_feedforward": 16, "batch_first": True}
    theirs = torch.nn.Transformer(E, H, dtype=torch.float64, **options).eval()
    ours = Transformer(E, H, dtype=cr.float64, **options).eval()
    _copy_from_torch(ours, theirs)
    src, tgt = random_array(2, 5, E, seed=1), random_array(2, 4, E, seed=2)
    mask = Transformer.generate_square_subsequent_mask(4, dtype=cr.float64)
    out = ours(cr.tensor(src), cr.tensor(tgt), tgt_mask=mask)
    ref = theirs(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask.data))
    _assert_close(out, ref)
    with pytest.raises(ShapeError, match="same batch size"):
        ours(cr.tensor(src), cr.tensor(tgt[:1]))


def test_transformer_initialises_matrices_with_xavier_uniform():
    cr.manual_seed(0)
    model = Transformer(E, H, 1, 1, 16)
    bound = np.sqrt(6 / (16 + E))
    weight = model.encoder.layers[0].linear1.weight.data  # (16, 8)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound


# -- causal mask -----------------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("size", [0, 1, 4])
def test_causal_mask_equals_torch(size):
    ours = generate_square_subsequent_mask(size)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(size)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    np.testing.assert_array_equal(Transformer.generate_square_subsequent_mask(size, dtype=cr.float64).data, ours.data)


def test_causal_mask_errors():
    with pytest.raises(ArgumentError, match="sz must be a non-negative int"):
        generate_square_subsequent_mask(-1)
    with pytest.raises(DTypeError, match="floating-point dtype"):
        generate_square_subsequent_mask(3, dtype=cr.int64)
