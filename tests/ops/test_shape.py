"""Shape ops: values against NumPy, gradients against finite differences and PyTorch, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DimError, ShapeError
from chainrule.ops.shape import pad
from tests.helpers import check_gradients, compare_with_torch, random_array, torch

# name: (op on a tensor (chainrule's and torch's spelling agree), the NumPy expression, input shape)
REARRANGEMENTS = {
    "reshape_infers_minus_one": (lambda x: x.reshape(3, -1), lambda a: a.reshape(3, -1), (2, 3, 2)),
    "reshape_takes_a_tuple": (lambda x: x.reshape((4, 3)), lambda a: a.reshape(4, 3), (2, 3, 2)),
    "reshape_to_scalar": (lambda x: x.reshape(()), lambda a: a.reshape(()), (1, 1)),
    "view_flattens": (lambda x: x.view(-1), lambda a: a.reshape(-1), (2, 3)),
    "flatten_from_dim_1": (lambda x: x.flatten(1), lambda a: a.reshape(2, -1), (2, 3, 2)),
    "flatten_middle_dims": (lambda x: x.flatten(0, 1), lambda a: a.reshape(6, 2), (2, 3, 2)),
    "flatten_scalar_to_1d": (lambda x: x.flatten(), lambda a: a.reshape(1), ()),
    "unflatten_with_minus_one": (lambda x: x.unflatten(1, (2, -1)), lambda a: a.reshape(2, 2, 3), (2, 6)),
    "squeeze_all_size_1_dims": (lambda x: x.squeeze(), lambda a: a.reshape(3, 2), (1, 3, 1, 2)),
    "squeeze_dim_tuple": (lambda x: x.squeeze((0, 2)), lambda a: a.reshape(3, 2), (1, 3, 1, 2)),
    "squeeze_non_1_dim_is_noop": (lambda x: x.squeeze(1), lambda a: a, (1, 3, 1, 2)),
    "unsqueeze_negative_dim": (lambda x: x.unsqueeze(-1), lambda a: a[..., None], (2, 3)),
    "unsqueeze_front": (lambda x: x.unsqueeze(0), lambda a: a[None], (2, 3)),
    "transpose_outer_dims": (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), (2, 3, 4)),
    "transpose_1d_is_identity": (lambda x: x.transpose(0, -1), lambda a: a, (3,)),
    "T_reverses_dims": (lambda x: x.T, lambda a: a.T, (2, 3)),
    "mT_swaps_last_two": (lambda x: x.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    "permute_tuple_negative_dims": (lambda x: x.permute((-1, 0, 1)), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    "movedim_int": (lambda x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1), (2, 3, 4)),
    "movedim_tuples": (lambda x: x.movedim((0, 1), (2, 0)), lambda a: np.moveaxis(a, (0, 1), (2, 0)), (2, 3, 4)),
    "expand_new_and_size_1_dims": (lambda x: x.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    "expand_minus_one_keeps_size": (lambda x: x.expand(4, -1), lambda a: np.broadcast_to(a, (4, 3)), (1, 3)),
    "expand_tuple": (lambda x: x.expand((2, 1, 3)), lambda a: np.broadcast_to(a, (2, 1, 3)), (3,)),
    "flip_two_dims": (lambda x: x.flip(0, 2), lambda a: a[::-1, :, ::-1], (2, 3, 4)),
    "flip_tuple": (lambda x: x.flip((1,)), lambda a: a[:, ::-1], (2, 3)),
    "repeat": (lambda x: x.repeat(2, 3), lambda a: np.tile(a, (2, 3)), (2, 3)),
    "repeat_adds_leading_dims": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), (2, 3)),
    "repeat_of_size_1_dims": (lambda x: x.repeat(3, 1, 2), lambda a: np.tile(a, (3, 1, 2)), (1, 2, 1)),
    "repeat_zero_times": (lambda x: x.repeat(0, 2), lambda a: np.tile(a, (0, 2)), (2, 3)),
}


@pytest.mark.parametrize("name", REARRANGEMENTS)
def test_rearrangement_matches_numpy_and_finite_differences(name):
    op, reference, shape = REARRANGEMENTS[name]
    a = random_array(*shape, seed=1)
    out = op(cr.tensor(a))
    np.testing.assert_array_equal(out.data, reference(a))
    check_gradients(op, a)


@pytest.mark.parametrize("name", REARRANGEMENTS)
def test_rearrangement_matches_torch(name):
    op, _, shape = REARRANGEMENTS[name]
    compare_with_torch(op, op, random_array(*shape, seed=2))


def test_function_forms_match_methods():
    a = random_array(2, 3, 4, seed=3)
    x = cr.tensor(a)
    np.testing.assert_array_equal(cr.reshape(x, (4, 6)).data, a.reshape(4, 6))
    np.testing.assert_array_equal(cr.permute(x, (1, 2, 0)).data, a.transpose(1, 2, 0))
    np.testing.assert_array_equal(cr.transpose(x, 0, 1).data, a.swapaxes(0, 1))
    np.testing.assert_array_equal(cr.flip(x, (0,)).data, a[::-1])
    np.testing.assert_array_equal(cr.broadcast_to(x[:1], (5, 3, 4)).data, np.broadcast_to(a[:1], (5, 3, 4)))
    np.testing.assert_array_equal(x[:, :1].expand_as(x).data, np.broadcast_to(a[:, :1], a.shape))
    np.testing.assert_array_equal(cr.squeeze(x[:1], axis=0).data, a[0])
    np.testing.assert_array_equal(x.reshape_as(cr.zeros(4, 6)).data, a.reshape(4, 6))


def test_expand_backward_sums_over_the_copies():
    x = cr.tensor([[1.0], [2.0]], requires_grad=True)
    x.expand(3, 2, 4).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[12.0], [12.0]])


def test_forward_results_are_views_and_keep_dtype():
    x = cr.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    for out in (x.reshape(6, 4), x.transpose(0, 2), x.permute(1, 2, 0), x.flip(1), x.expand(5, 2, 3, 4), x.squeeze()):
        assert np.shares_memory(out.data, x.data)
        assert out.dtype == np.float32
    pieces = x.split(2, dim=2)
    assert all(np.shares_memory(p.data, x.data) for p in pieces)


# -- cat, stack, split, chunk ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_matches_numpy_and_finite_differences(dim):
    shapes = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 3), (2, 2)], -1: [(2, 1), (2, 3), (2, 2)]}[dim]
    arrays = [random_array(*s, seed=i) for i, s in enumerate(shapes)]
    out = cr.cat([cr.tensor(a) for a in arrays], dim=dim)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis=dim))
    check_gradients(lambda *xs: cr.cat(xs, dim), *arrays)
    compare_with_torch(lambda *xs: cr.cat(xs, dim), lambda *xs: torch.cat(xs, dim), *arrays)


def test_cat_gradient_skips_inputs_that_do_not_require_grad():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0, 5.0])
    (cr.cat([b, a]) * cr.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [4.0, 5.0])
    assert b.grad is None


def test_cat_promotes_dtypes_as_torch():
    f32 = cr.zeros(2, dtype=cr.float32)
    assert cr.cat([f32, cr.tensor([1, 2])]).dtype == np.float32  # NumPy alone would give float64
    assert cr.cat([f32, cr.zeros(1, dtype=cr.float64)]).dtype == np.float64
    assert cr.cat([cr.tensor([1], dtype=cr.int32), cr.tensor([2])]).dtype == np.int64


def test_cat_skips_legacy_empty_1d_tensors():
    x = cr.ones(2, 3, requires_grad=True)
    empty = cr.zeros(0, requires_grad=True)
    out = cr.cat([empty, x])
    assert out.shape == (2, 3)
    out.sum().backward()
    assert empty.grad.shape == (0,)
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack_matches_numpy_and_finite_differences(dim):
    arrays = [random_array(2, 3, seed=i) for i in range(3)]
    np.testing.assert_array_equal(cr.stack([cr.tensor(a) for a in arrays], dim).data, np.stack(arrays, dim))
    check_gradients(lambda *xs: cr.stack(xs, dim), *arrays)
    compare_with_torch(lambda *xs: cr.stack(xs, dim), lambda *xs: torch.stack(xs, dim), *arrays)


def test_split_by_size_gives_a_smaller_last_piece_and_gradients():
    a = random_array(5, 3, seed=4)
    pieces = cr.split(cr.tensor(a), 2)
    assert [p.shape for p in pieces] == [(2, 3), (2, 3), (1, 3)]
    np.testing.assert_array_equal(pieces[2].data, a[4:])
    check_gradients(lambda x: cr.split(x, 2), a)
    compare_with_torch(lambda x: cr.cat(x.split(2)[::-1]), lambda x: torch.cat(x.split(2)[::-1]), a)


def test_split_by_sections_along_a_dim():
    a = random_array(2, 6, seed=5)
    pieces = cr.tensor(a).split([1, 0, 5], dim=1)
    assert [p.shape for p in pieces] == [(2, 1), (2, 0), (2, 5)]
    check_gradients(lambda x: x.split([4, 2], dim=-1), a)
    compare_with_torch(
        lambda x: cr.cat(x.split([4, 2], 1)[::-1], 1), lambda x: torch.cat(x.split([4, 2], 1)[::-1], 1), a
    )


def test_unused_split_pieces_get_zero_gradient():
    x = cr.tensor(np.arange(6.0), requires_grad=True)
    first, _, third = x.split(2)
    (first * 2 + third).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 0.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("size", "chunks", "expected"),
    [(5, 4, [2, 2, 1]), (6, 4, [2, 2, 2]), (6, 3, [2, 2, 2]), (5, 10, [1] * 5), (7, 2, [4, 3]), (0, 3, [0, 0, 0])],
)
def test_chunk_sizes_follow_torch(size, chunks, expected):
    pieces = cr.zeros(2, size).chunk(chunks, dim=1)
    assert [p.shape[1] for p in pieces] == expected
    if torch is not None:
        assert [p.shape[1] for p in torch.zeros(2, size).chunk(chunks, dim=1)] == expected


def test_chunk_gradients():
    a = random_array(3, 7, seed=6)
    check_gradients(lambda x: cr.chunk(x, 3, dim=1), a)
    compare_with_torch(lambda x: cr.cat(x.chunk(3, 1)[::-1], 1), lambda x: torch.cat(x.chunk(3, 1)[::-1], 1), a)


# -- pad ---------------------------------------------------------------------------------------------------
PADS = [
    ((2, 3, 5), (1, 2)),
    ((2, 3, 5), (2, 0, 1, 2)),
    ((3, 5), (4, 1)),
    ((1, 2, 3, 4), (1, 1, 2, 0)),
    ((1, 2, 3, 4), (2, 2, 1, 1, 0, 1)),
]
NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _numpy_pad(a: np.ndarray, pads: tuple[int, ...], mode: str) -> np.ndarray:
    widths = [(0, 0)] * a.ndim
    for i in range(len(pads) // 2):
        widths[a.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    return np.pad(a, widths, mode=NUMPY_MODES[mode])


@pytest.mark.parametrize("mode", NUMPY_MODES)
@pytest.mark.parametrize(("shape", "pads"), PADS)
def test_pad_matches_numpy_and_finite_differences(mode, shape, pads):
    if mode != "constant" and len(shape) not in (len(pads) // 2 + 1, len(pads) // 2 + 2):
        pytest.skip("PyTorch pads non-constant modes only for (batched) 1-, 2- and 3-D inputs")
    a = random_array(*shape, seed=7)
    np.testing.assert_array_equal(pad(cr.tensor(a), pads, mode).data, _numpy_pad(a, pads, mode))
    check_gradients(lambda x: pad(x, pads, mode), a)
    compare_with_torch(
        lambda x: pad(x, pads, mode),
        lambda x: torch.nn.functional.pad(x, pads, mode=mode),
        random_array(*shape, seed=8),
    )


@pytest.mark.parametrize("mode", NUMPY_MODES)
@pytest.mark.parametrize("pads", [(-1, 2), (2, -1), (-2, 1, 1, -1)])
def test_negative_pads_crop_as_torch(mode, pads):
    a = random_array(2, 4, 5, seed=9)
    check_gradients(lambda x: pad(x, pads, mode), a)
    compare_with_torch(lambda x: pad(x, pads, mode), lambda x: torch.nn.functional.pad(x, pads, mode=mode), a)


def test_constant_pad_value_and_crop():
    a = random_array(3, 4, seed=10)
    out = pad(cr.tensor(a), (1, -2, -1, 2), value=7.5)
    expected = np.full((4, 3), 7.5)
    expected[0:2, 1:] = a[1:, :2]
    np.testing.assert_array_equal(out.data, expected)
    check_gradients(lambda x: pad(x, (1, -2, -1, 2), value=7.5), a)


def test_pad_keeps_float32():
    x = cr.zeros(1, 2, 3)
    for mode in NUMPY_MODES:
        assert pad(x, (1, 1), mode, value=None if mode != "constant" else 0.5).dtype == np.float32


# -- errors ------------------------------------------------------------------------------------------------
def test_bad_reshape_names_both_shapes():
    x = cr.zeros(2, 3)
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, -1\)"):
        x.reshape(4, -1)
    with pytest.raises(ShapeError, match="only one dimension can be -1"):
        x.reshape(-1, -1)
    with pytest.raises(ShapeError, match=r"into shape \(7\)"):
        x.view(7)
    with pytest.raises(ShapeError, match="ambiguous"):
        cr.zeros(0, 3).reshape(0, -1)
    with pytest.raises(ArgumentError):
        x.reshape(2.0, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.transpose(0, 3),
        lambda x: x.permute(0, 1),
        lambda x: x.permute(0, 0, 1),
        lambda x: x.squeeze(3),
        lambda x: x.unsqueeze(4),
        lambda x: x.flatten(2, 1),
        lambda x: x.movedim((0, 1), 2),
        lambda x: x.flip(0, -3),
        lambda x: cr.cat([x, x], dim=3),
        lambda x: cr.stack([x, x], dim=4),
        lambda x: x.split(1, dim=3),
    ],
)
def test_bad_dims_raise_dim_error(call):
    with pytest.raises(DimError):
        call(cr.zeros(2, 3, 4))


def test_cat_shape_mismatch_names_the_tensor_and_shapes():
    with pytest.raises(ShapeError, match=r"tensor 2 has shape \(2, 4\) but tensor 0 has shape \(2, 3\)"):
        cr.cat([cr.zeros(2, 3), cr.zeros(1, 3), cr.zeros(2, 4)])
    with pytest.raises(ShapeError, match=r"tensor 1 has shape \(2, 3, 1\)"):
        cr.cat([cr.zeros(2, 3), cr.zeros(2, 3, 1)])
    with pytest.raises(ShapeError, match="0-d"):
        cr.cat([cr.tensor(1.0), cr.tensor(2.0)])
    with pytest.raises(ShapeError, match=r"tensor 1 has shape \(3, 2\)"):
        cr.stack([cr.zeros(2, 3), cr.zeros(3, 2)])
    with pytest.raises(ArgumentError):
        cr.cat([])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda x: x.expand(3, -1), ShapeError),
        (lambda x: x.expand(-1, 2, 3), ShapeError),
        (lambda x: x.expand(3), ShapeError),
        (lambda x: x.repeat(2), ShapeError),
        (lambda x: x.repeat(2, -1), ArgumentError),
        (lambda x: x.split([1, 2]), ShapeError),
        (lambda x: x.split(0), ArgumentError),
        (lambda x: x.chunk(0), ArgumentError),
        (lambda x: x.unflatten(1, (2, 2)), ShapeError),
        (lambda x: pad(x, (1,)), ArgumentError),
        (lambda x: pad(x, (1, 1, 1, 1, 1, 1)), ArgumentError),
        (lambda x: pad(x, (1, 1), mode="mirror"), ArgumentError),
        (lambda x: pad(x, (3, 0), mode="reflect"), ArgumentError),
        (lambda x: pad(x, (4, 0), mode="circular"), ArgumentError),
        (lambda x: pad(x, (1, 1), mode="reflect", value=1.0), ArgumentError),
        (lambda x: pad(x, (1, 1, 1, 1), mode="replicate"), ArgumentError),
        (lambda x: pad(x, (-2, -2)), ShapeError),
    ],
)
def test_invalid_arguments_raise_our_errors(call, error):
    with pytest.raises(error):
        call(cr.zeros(2, 3))
