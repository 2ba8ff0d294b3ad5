"""scaled_dot_product_attention: values against the NumPy formula and PyTorch, gradients against finite
differences and PyTorch, masks (bool, float, causal, broadcast), fully masked rows, dropout, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops.attention import attention, scaled_dot_product_attention
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

F = torch.nn.functional if torch is not None else None


def _np_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | float = 0.0, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale + bias
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v


def _bool_mask(*shape: int, seed: int = 0) -> np.ndarray:
    """A random bool mask (True = takes part) in which every query row keeps at least one key."""
    mask = np.random.default_rng(seed).random(shape) > 0.4
    mask[..., 0] = True
    return mask


# -- forward --------------------------------------------------------------------------------------------------
def test_forward_is_softmax_of_scaled_scores_times_value():
    q, k, v = random_array(2, 3, 4, seed=1), random_array(2, 5, 4, seed=2), random_array(2, 5, 6, seed=3)
    out = scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v))
    assert out.shape == (2, 3, 6)
    np.testing.assert_allclose(out.data, _np_attention(q, k, v), rtol=1e-12)


def test_bool_mask_true_takes_part_and_float_mask_is_added():
    q, k, v = random_array(2, 3, 4, seed=1), random_array(2, 5, 4, seed=2), random_array(2, 5, 6, seed=3)
    keep = _bool_mask(3, 5)
    bias = np.where(keep, 0.0, -np.inf)
    expected = _np_attention(q, k, v, bias)
    as_bool = scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), attn_mask=cr.tensor(keep))
    as_float = scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), attn_mask=cr.tensor(bias))
    np.testing.assert_allclose(as_bool.data, expected, rtol=1e-12)
    np.testing.assert_allclose(as_float.data, expected, rtol=1e-12)


def test_causal_is_top_left_aligned_lower_triangle():
    q, k, v = random_array(4, 3, seed=1), random_array(6, 3, seed=2), random_array(6, 2, seed=3)
    bias = np.where(np.tril(np.ones((4, 6), dtype=bool)), 0.0, -np.inf)
    out = scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), is_causal=True)
    np.testing.assert_allclose(out.data, _np_attention(q, k, v, bias), rtol=1e-12)


def test_scale_replaces_one_over_sqrt_of_feature_size():
    q, k, v = random_array(3, 4, seed=1), random_array(5, 4, seed=2), random_array(5, 2, seed=3)
    out = scaled_dot_product_attention(cr.tensor(q), cr.tensor(k), cr.tensor(v), scale=0.1)
    np.testing.assert_allclose(out.data, _np_attention(q, k, v, scale=0.1), rtol=1e-12)


def test_float32_stays_float32():
    q = cr.tensor(random_array(2, 3, 4).astype(np.float32), requires_grad=True)
    mask = cr.tensor(np.zeros((3, 3), dtype=np.float32))
    out = scaled_dot_product_attention(q, q, q, attn_mask=mask, dropout_p=0.2)
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32


def test_fully_masked_row_gives_zeros_and_zero_gradients():
    # PyTorch 2.13 gives 0 here too (not NaN): a query that may attend to nothing contributes nothing.
    keep = _bool_mask(3, 4)
    keep[1] = False
    q = cr.tensor(random_array(2, 3, 4, seed=1), requires_grad=True)
    k = cr.tensor(random_array(2, 4, 4, seed=2), requires_grad=True)
    v = cr.tensor(random_array(2, 4, 5, seed=3), requires_grad=True)
    for mask in (cr.tensor(keep), cr.tensor(np.where(keep, 0.0, -np.inf))):
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert np.isfinite(out.data).all()
        np.testing.assert_array_equal(out.data[:, 1], 0.0)
        out.sum().backward()
        np.testing.assert_array_equal(q.grad.data[:, 1], 0.0)
        assert np.isfinite(k.grad.data).all() and np.isfinite(v.grad.data).all()
        q.grad = k.grad = v.grad = None


def test_empty_key_sequence_gives_zeros():
    q = cr.tensor(random_array(2, 3, 4))
    out = scaled_dot_product_attention(q, cr.tensor(np.zeros((2, 0, 4))), cr.tensor(np.zeros((2, 0, 5))))
    assert out.shape == (2, 3, 5)
    np.testing.assert_array_equal(out.data, 0.0)


def test_no_graph_under_no_grad():
    q = cr.tensor(random_array(2, 3, 4), requires_grad=True)
    with cr.no_grad():
        out = scaled_dot_product_attention(q, q, q)
    assert not out.requires_grad and out.is_leaf


# -- gradients: finite differences -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape"),
    [
        ((3, 2), (4, 2), (4, 3)),  # unbatched
        ((2, 3, 2), (2, 4, 2), (2, 4, 3)),
        ((2, 2, 2, 2), (1, 2, 3, 2), (2, 1, 3, 1)),  # batch dims broadcast
        ((1, 1, 2), (2, 1, 2), (2, 1, 2)),  # size-1 sequence and batch dims
    ],
)
def test_gradients_match_finite_differences(q_shape, k_shape, v_shape):
    check_gradients(
        scaled_dot_product_attention,
        random_array(*q_shape, seed=1),
        random_array(*k_shape, seed=2),
        random_array(*v_shape, seed=3),
    )


def test_gradients_with_bool_mask_broadcast_over_batch():
    keep = cr.tensor(_bool_mask(1, 3, 4))
    check_gradients(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=keep),
        random_array(2, 3, 2, seed=1),
        random_array(2, 4, 2, seed=2),
        random_array(2, 4, 2, seed=3),
    )


def test_gradients_reach_a_float_mask():
    check_gradients(
        lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m),
        random_array(2, 3, 2, seed=1),
        random_array(2, 4, 2, seed=2),
        random_array(2, 4, 2, seed=3),
        random_array(3, 4, seed=4),  # broadcast over the batch: its gradient is summed over it
    )


def test_gradients_causal_and_scale():
    check_gradients(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
        random_array(2, 4, 2, seed=1),
        random_array(2, 3, 2, seed=2),
        random_array(2, 3, 2, seed=3),
    )


def test_gradients_grouped_query_attention():
    check_gradients(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, enable_gqa=True),
        random_array(1, 4, 2, 2, seed=1),
        random_array(1, 2, 3, 2, seed=2),
        random_array(1, 2, 3, 2, seed=3),
    )


def test_gradients_with_dropout_for_a_fixed_mask():
    def fn(q, k, v):
        cr.manual_seed(3)  # the same dropout mask on every call
        return scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    check_gradients(fn, random_array(2, 3, 2, seed=1), random_array(2, 4, 2, seed=2), random_array(2, 4, 2, seed=3))


def test_gradients_through_the_attention_weights():
    mask = random_array(3, 4, seed=4)
    check_gradients(
        lambda q, k, m: attention(q, k, k, m, need_weights=True)[1],
        random_array(2, 3, 2, seed=1),
        random_array(2, 4, 2, seed=2),
        mask,
    )


def test_weights_are_the_softmax_rows():
    q, k = random_array(2, 3, 4, seed=1), random_array(2, 5, 4, seed=2)
    out, weights = attention(cr.tensor(q), cr.tensor(k), cr.tensor(k), need_weights=True)
    np.testing.assert_allclose(weights.data.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out.data, weights.data @ k, rtol=1e-12)


# -- dropout ----------------------------------------------------------------------------------------------------
def test_dropout_zeroes_weights_and_rescales_the_rest():
    q, k, v = (cr.tensor(random_array(2, 2, 8, 4, seed=s)) for s in (1, 2, 3))
    _, clean = attention(q, k, v, need_weights=True)
    cr.manual_seed(0)
    out, dropped = attention(q, k, v, dropout_p=0.25, need_weights=True)
    kept = dropped.data != 0
    assert 0.5 < kept.mean() < 0.95
    np.testing.assert_allclose(dropped.data[kept], clean.data[kept] / 0.75, rtol=1e-12)
    np.testing.assert_allclose(out.data, dropped.data @ v.data, rtol=1e-12)


def test_dropout_is_reproducible_with_manual_seed():
    q = cr.tensor(random_array(2, 5, 4))
    cr.manual_seed(7)
    first = scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    cr.manual_seed(7)
    second = scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    np.testing.assert_array_equal(first.data, second.data)


def test_dropout_one_gives_zeros():
    q = cr.tensor(random_array(2, 3, 4), requires_grad=True)
    out = scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    np.testing.assert_array_equal(out.data, 0.0)
    out.sum().backward()
    np.testing.assert_array_equal(q.grad.data, 0.0)


# -- against PyTorch -----------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape"),
    [((3, 4), (5, 4), (5, 6)), ((2, 2, 3, 4), (2, 1, 5, 4), (1, 2, 5, 6)), ((2, 3, 4), (2, 5, 4), (2, 5, 4))],
)
def test_matches_torch(q_shape, k_shape, v_shape):
    compare_with_torch(
        scaled_dot_product_attention,
        F.scaled_dot_product_attention,
        random_array(*q_shape, seed=1),
        random_array(*k_shape, seed=2),
        random_array(*v_shape, seed=3),
    )


@requires_torch
@pytest.mark.parametrize("mask_shape", [(3, 5), (2, 1, 3, 5), (2, 2, 3, 5), (1, 5)])
def test_matches_torch_with_masks(mask_shape):
    arrays = (random_array(2, 2, 3, 4, seed=1), random_array(2, 2, 5, 4, seed=2), random_array(2, 2, 5, 6, seed=3))
    keep = _bool_mask(*mask_shape)
    compare_with_torch(
        lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        *arrays,
        keep,
    )
    compare_with_torch(  # a float mask, with its gradient
        lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        *arrays,
        random_array(*mask_shape, seed=4),
    )


@requires_torch
@pytest.mark.parametrize(
    ("q_heads", "options"),
    [(2, {"is_causal": True}), (2, {"scale": 0.3}), (4, {"enable_gqa": True}), (2, {"is_causal": True, "scale": 2.0})],
)
def test_matches_torch_with_options(q_heads, options):
    compare_with_torch(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, **options),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **options),
        random_array(2, q_heads, 5, 4, seed=1),
        random_array(2, 2, 3, 4, seed=2),
        random_array(2, 2, 3, 6, seed=3),
    )


@requires_torch
def test_fully_masked_rows_match_torch():
    keep = _bool_mask(2, 1, 3, 4)
    keep[0, 0, 2] = False
    compare_with_torch(
        lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        random_array(2, 2, 3, 4, seed=1),
        random_array(2, 2, 4, 4, seed=2),
        random_array(2, 2, 4, 3, seed=3),
        keep,
    )


# -- errors --------------------------------------------------------------------------------------------------------
def _qkv(dtype=np.float64):
    return (cr.tensor(random_array(2, 3, 4, seed=s).astype(dtype)) for s in (1, 2, 3))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda q, k, v: (q, k, cr.tensor(v.data.astype(np.float32))), DTypeError, "same dtype"),
        (lambda q, k, v: (q, cr.tensor(random_array(2, 3, 5)), v), ShapeError, "feature size"),
        (lambda q, k, v: (q, k, cr.tensor(random_array(2, 4, 4))), ShapeError, "sequence length"),
        (lambda q, k, v: (cr.tensor(random_array(4)), k, v), ShapeError, "at least 2 dims"),
        (lambda q, k, v: (q, cr.tensor(random_array(3, 3, 4)), v), ShapeError, "batch dims"),
        (lambda q, k, v: (cr.tensor(np.ones((2, 3, 4), dtype=np.int64)), k, v), DTypeError, "floating-point"),
    ],
)
def test_operand_errors(make, error, match):
    q, k, v = make(*_qkv())
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(q, k, v)


def test_mask_errors():
    q, k, v = _qkv()
    with pytest.raises(DTypeError, match="attn_mask must be bool"):
        scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.zeros((3, 3), dtype=np.int64)))
    with pytest.raises(DTypeError, match="attn_mask must be bool"):
        scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.zeros((3, 3), dtype=np.float32)))
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(3, 4\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.zeros((3, 4))))
    with pytest.raises(ArgumentError, match="not both"):
        scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.zeros((3, 3))), is_causal=True)


def test_argument_errors():
    q, k, v = _qkv()
    with pytest.raises(ArgumentError, match="dropout probability"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ArgumentError, match="scale must be a number"):
        scaled_dot_product_attention(q, k, v, scale="big")
    four = cr.tensor(random_array(1, 3, 2, 4))
    with pytest.raises(ShapeError, match="enable_gqa"):
        scaled_dot_product_attention(four, cr.tensor(random_array(1, 2, 2, 4)), four, enable_gqa=True)
