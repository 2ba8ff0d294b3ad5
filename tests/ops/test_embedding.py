"""embedding: the lookup for indices of any shape, the weight's gradient with repeated indices, padding_idx,
scale_grad_by_freq and max_norm against PyTorch, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DimError, DTypeError, ShapeError
from chainrule.ops.embedding import embedding
from tests.helpers import random_array, requires_torch, torch

INDEX_SHAPES = [(), (7,), (3, 4), (2, 3, 2), (0,)]


def _indices(shape: tuple[int, ...], rows: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, rows, size=shape)


@pytest.mark.parametrize("shape", INDEX_SHAPES, ids=str)
def test_embedding_picks_rows_for_indices_of_any_shape(shape):
    weight = random_array(6, 3, seed=1)
    idx = _indices(shape)
    out = embedding(cr.tensor(idx), cr.tensor(weight))
    assert out.shape == (*shape, 3)
    np.testing.assert_array_equal(out.data, weight[idx])


@pytest.mark.parametrize("shape", INDEX_SHAPES, ids=str)
def test_embedding_gradient_sums_repeated_indices(shape):
    weight = cr.tensor(random_array(6, 3, seed=2), requires_grad=True)
    idx = _indices(shape, seed=3)
    out = embedding(cr.tensor(idx), weight)
    upstream = random_array(*out.shape, seed=4)
    out.backward(upstream)
    expected = np.zeros((6, 3))
    np.add.at(expected, idx.reshape(-1), upstream.reshape(-1, 3))
    np.testing.assert_allclose(weight.grad.data, expected, rtol=1e-13, atol=1e-15)


def test_embedding_gradient_matches_finite_differences():
    idx = cr.tensor([[0, 2, 2], [4, 0, 2]])
    weight = cr.tensor(random_array(5, 2, seed=5), requires_grad=True)
    assert cr.gradcheck(lambda w: embedding(idx, w), [weight])


def test_embedding_without_repeats_and_int32_indices():
    weight = cr.tensor(random_array(8, 2, seed=6), requires_grad=True)
    idx = np.array([5, 1, 7], dtype=np.int32)
    out = embedding(cr.tensor(idx), weight)
    out.backward(np.ones((3, 2)))
    expected = np.zeros((8, 2))
    expected[idx] = 1
    np.testing.assert_array_equal(weight.grad.data, expected)


@requires_torch
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"padding_idx": 1},
        {"padding_idx": -2},
        {"scale_grad_by_freq": True},
        {"padding_idx": 0, "scale_grad_by_freq": True},
    ],
    ids=["plain", "padding", "negative-padding", "scale-by-freq", "padding-and-scale"],
)
def test_embedding_matches_torch(options):
    weight = random_array(7, 4, seed=7)
    idx = np.array([[1, 3, 1, 0], [6, 1, 5, 3], [1, 1, 0, 2]])
    ours_w = cr.tensor(weight, requires_grad=True)
    theirs_w = torch.tensor(weight, requires_grad=True)
    out = embedding(cr.tensor(idx), ours_w, **options)
    ref = torch.nn.functional.embedding(torch.tensor(idx), theirs_w, **options)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    upstream = random_array(*out.shape, seed=8)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours_w.grad.data, theirs_w.grad.numpy(), rtol=1e-13, atol=1e-15)


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5])
def test_embedding_max_norm_renormalizes_looked_up_rows_in_place_as_torch(norm_type):
    weight = random_array(6, 3, seed=9, low=-3, high=3)
    idx = np.array([0, 2, 2, 5])
    ours_w, theirs_w = cr.tensor(weight), torch.tensor(weight)
    out = embedding(cr.tensor(idx), ours_w, max_norm=1.5, norm_type=norm_type)
    ref = torch.nn.functional.embedding(torch.tensor(idx), theirs_w, max_norm=1.5, norm_type=norm_type)
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_w.data, theirs_w.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ours_w.data[[1, 3, 4]], weight[[1, 3, 4]])  # rows not looked up are untouched


def test_embedding_keeps_float32():
    weight = cr.randn(10, 4, requires_grad=True)
    out = embedding(cr.tensor([1, 2, 2]), weight)
    assert out.dtype == np.float32
    out.sum().backward()
    assert weight.grad.dtype == np.float32


def test_embedding_errors_name_the_index_and_the_table_size():
    weight = cr.randn(64, 4)
    with pytest.raises(
        DimError, match=r"index 64 is out of range for an embedding of 64 rows \(expected indices in \[0, 63\]\)"
    ):
        embedding(cr.tensor([3, 64]), weight)
    with pytest.raises(DimError, match="index -1 is out of range"):
        embedding(cr.tensor([-1, 2]), weight)
    with pytest.raises(DTypeError, match="indices must be an integer tensor"):
        embedding(cr.tensor([1.0, 2.0]), weight)
    with pytest.raises(ShapeError, match="weight must be 2-D"):
        embedding(cr.tensor([1]), cr.randn(64))
    with pytest.raises(ArgumentError, match="padding_idx must be within num_embeddings"):
        embedding(cr.tensor([1]), weight, padding_idx=64)
