"""BatchNorm1d/2d/3d, LayerNorm, GroupNorm, Dropout* and Embedding as layers: PyTorch's constructor defaults,
reprs and state_dict keys, training against PyTorch over several steps (outputs, gradients, running statistics),
train/eval behaviour, initialisation, and errors that name the layer."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DimError, DTypeError, ShapeError
from chainrule.nn.dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm
from chainrule.nn.sparse import Embedding
from tests.helpers import random_array, requires_torch, torch

# (our layer, the torch class name, constructor args, input shape)
LAYERS = [
    (BatchNorm1d, "BatchNorm1d", (3,), {}, (6, 3)),
    (BatchNorm1d, "BatchNorm1d", (3,), {"momentum": None}, (4, 3, 5)),
    (BatchNorm1d, "BatchNorm1d", (3,), {"affine": False, "eps": 1e-3}, (6, 3)),
    (BatchNorm2d, "BatchNorm2d", (4,), {"track_running_stats": False}, (3, 4, 2, 3)),
    (BatchNorm2d, "BatchNorm2d", (4,), {"momentum": 0.3, "bias": False}, (3, 4, 2, 3)),
    (BatchNorm3d, "BatchNorm3d", (2,), {}, (2, 2, 2, 3, 2)),
    (LayerNorm, "LayerNorm", (5,), {}, (3, 4, 5)),
    (LayerNorm, "LayerNorm", ((4, 5),), {"elementwise_affine": False}, (3, 4, 5)),
    (LayerNorm, "LayerNorm", ([5],), {"bias": False, "eps": 1e-3}, (2, 5)),
    (GroupNorm, "GroupNorm", (2, 6), {}, (3, 6, 4)),
    (GroupNorm, "GroupNorm", (3, 6), {"affine": False}, (2, 6, 2, 2)),
]
LAYER_IDS = [f"{name}-{i}" for i, (_, name, *_rest) in enumerate(LAYERS)]


@requires_torch
@pytest.mark.parametrize(("layer", "name", "args", "kwargs", "shape"), LAYERS, ids=LAYER_IDS)
def test_normalization_layers_have_torch_reprs_and_state_dicts(layer, name, args, kwargs, shape):
    ours, theirs = layer(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert ours_state[key].shape == tuple(value.shape), key
        np.testing.assert_array_equal(ours_state[key].data, value.numpy())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if "num_batches_tracked" in ours_state:
        assert ours_state["num_batches_tracked"].dtype == np.int64


@requires_torch
@pytest.mark.parametrize(("layer", "name", "args", "kwargs", "shape"), LAYERS, ids=LAYER_IDS)
def test_normalization_layers_train_and_evaluate_as_torch(layer, name, args, kwargs, shape):
    ours = layer(*args, **kwargs).double()
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    with torch.no_grad():  # weights away from 1 and 0, so that their gradients matter
        for i, param in enumerate(theirs.parameters()):
            param.copy_(torch.tensor(random_array(*param.shape, seed=100 + i)))
    ours.load_state_dict(theirs.state_dict())
    for step in range(3):
        x = random_array(*shape, seed=step, low=-1, high=3)
        x_ours, x_theirs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = ours(x_ours), theirs(x_theirs)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        upstream = random_array(*shape, seed=10 + step)
        out.backward(upstream)
        ref.backward(torch.tensor(upstream))
        np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
        for (key, param), (_, ref_param) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(param.grad.data, ref_param.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)
    for key, value in theirs.state_dict().items():  # running statistics and the batch count
        np.testing.assert_allclose(ours.state_dict()[key].data, value.numpy(), rtol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    x = random_array(*shape, seed=50)
    np.testing.assert_allclose(
        ours(cr.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12
    )


def test_batch_norm_parameter_gradients_match_finite_differences():
    cr.manual_seed(0)
    layer = BatchNorm2d(3).double()
    layer.weight.data[...] = random_array(3, seed=1)
    layer.bias.data[...] = random_array(3, seed=2)
    x = cr.tensor(random_array(2, 3, 2, 2, seed=3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])
    layer.eval()
    assert cr.gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])


def test_batch_norm_eval_uses_the_running_statistics_and_stops_updating_them():
    layer = BatchNorm1d(2)
    layer.running_mean.data[...] = [1.0, -1.0]
    layer.running_var.data[...] = [4.0, 0.25]
    layer.eval()
    x = cr.tensor([[3.0, 0.0], [1.0, -1.5]])
    np.testing.assert_allclose(layer(x).data, [[1.0, 2.0], [0.0, -1.0]], rtol=1e-4)
    assert int(layer.num_batches_tracked.item()) == 0
    np.testing.assert_array_equal(layer.running_mean.data, [1.0, -1.0])


def test_batch_norm_momentum_none_is_a_cumulative_average_of_the_batch_means():
    layer = BatchNorm1d(3, momentum=None).double()
    means = []
    for step in range(4):
        x = random_array(5, 3, seed=step)
        layer(cr.tensor(x))
        means.append(x.mean(axis=0))
    np.testing.assert_allclose(layer.running_mean.data, np.mean(means, axis=0), rtol=1e-12)
    assert int(layer.num_batches_tracked.item()) == 4


def test_batch_norm_without_running_stats_uses_batch_statistics_in_eval_too():
    layer = BatchNorm1d(2, track_running_stats=False).double().eval()
    assert layer.running_mean is None and layer.num_batches_tracked is None
    x = random_array(6, 2, seed=4)
    out = layer(cr.tensor(x))
    np.testing.assert_allclose(out.data, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


def test_batch_norm_float32_defaults_and_reset():
    layer = BatchNorm2d(4)
    assert layer.weight.dtype == np.float32 and layer.running_var.dtype == np.float32
    layer(cr.randn(2, 4, 3, 3) * 5 + 2)
    assert int(layer.num_batches_tracked.item()) == 1 and not np.allclose(layer.running_mean.data, 0)
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean.data, np.zeros(4, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_var.data, np.ones(4, dtype=np.float32))
    assert int(layer.num_batches_tracked.item()) == 0


def test_batch_norm_errors_name_the_layer_and_the_expected_shape():
    with pytest.raises(
        ShapeError, match=r"BatchNorm2d\(16\): expected input of shape \(N, 16, H, W\), got \(4, 8, 5, 5\)"
    ):
        BatchNorm2d(16)(cr.randn(4, 8, 5, 5))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\): expected input of shape \(N, 3\) or \(N, 3, L\)"):
        BatchNorm1d(3)(cr.randn(2, 3, 4, 4))
    layer = BatchNorm1d(3)
    with pytest.raises(ArgumentError, match=r"BatchNorm1d\(3\): expected more than 1 value per channel when training"):
        layer(cr.randn(1, 3))
    assert int(layer.num_batches_tracked.item()) == 0  # the rejected batch was not counted
    with pytest.raises(DTypeError, match=r"BatchNorm1d\(3\).*float64"):
        layer(cr.randn(4, 3).double())
    with pytest.raises(ArgumentError, match="num_features must be a positive int"):
        BatchNorm1d(0)


def test_layer_and_group_norm_errors_name_the_layer():
    with pytest.raises(ShapeError, match=r"LayerNorm\(\(4,\)\): expected input of shape \(\*, 4\)"):
        LayerNorm(4)(cr.randn(3, 5))
    with pytest.raises(ArgumentError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        GroupNorm(4, 6)
    with pytest.raises(ShapeError, match=r"GroupNorm\(2, 6\): expected input of shape \(N, 6, \*\), got \(2, 4, 3\)"):
        GroupNorm(2, 6)(cr.randn(2, 4, 3))


# -- dropout ------------------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("layer", [Dropout, Dropout1d, Dropout2d, Dropout3d])
def test_dropout_layers_have_torch_defaults_and_reprs(layer):
    theirs = getattr(torch.nn, layer.__name__)
    assert repr(layer()) == repr(theirs())
    assert repr(layer(0.2, inplace=True)) == repr(theirs(0.2, inplace=True))
    assert layer().state_dict() == {}


@pytest.mark.parametrize("p", [-0.5, 1.01])
def test_dropout_layer_rejects_p_outside_zero_one(p):
    with pytest.raises(ArgumentError, match=r"Dropout: dropout probability has to be between 0 and 1"):
        Dropout(p)


def test_dropout_is_active_in_training_and_the_identity_in_eval():
    class Net(Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = Dropout(0.5)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.drop(x)

    net = Net()
    cr.manual_seed(0)
    x = cr.ones(20, 20)
    out = net(x)
    assert (out.data == 0).any() and (out.data == 2).all(where=out.data != 0)
    net.eval()
    assert net(x) is x
    cr.manual_seed(0)
    np.testing.assert_array_equal(net.train()(x).data, out.data)  # the mask comes from the seeded generator


# -- embedding ----------------------------------------------------------------------------------------------
@requires_torch
def test_embedding_repr_and_state_dict_match_torch():
    for kwargs in [{}, {"padding_idx": 0}, {"padding_idx": -1, "max_norm": 1.0, "norm_type": 1.0}]:
        ours, theirs = Embedding(10, 3, **kwargs), torch.nn.Embedding(10, 3, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        assert ours.padding_idx == theirs.padding_idx
    assert repr(Embedding(5, 2, scale_grad_by_freq=True, sparse=True)) == repr(
        torch.nn.Embedding(5, 2, scale_grad_by_freq=True, sparse=True)
    )


def test_embedding_init_is_standard_normal_with_a_zero_padding_row():
    cr.manual_seed(0)
    layer = Embedding(400, 50, padding_idx=3)
    values = np.delete(layer.weight.data, 3, axis=0)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02
    np.testing.assert_array_equal(layer.weight.data[3], np.zeros(50, dtype=np.float32))
    cr.manual_seed(0)
    np.testing.assert_array_equal(Embedding(400, 50, padding_idx=3).weight.data, layer.weight.data)


@requires_torch
def test_embedding_layer_trains_as_torch_with_padding_and_repeats():
    theirs = torch.nn.Embedding(8, 4, padding_idx=2).double()
    ours = Embedding(8, 4, padding_idx=2, dtype=cr.float64)
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[2, 5, 5, 1], [0, 2, 7, 5]])
    out, ref = ours(cr.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    upstream = random_array(2, 4, 4, seed=1)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-13)
    np.testing.assert_array_equal(ours.weight.grad.data[2], np.zeros(4))


def test_embedding_from_pretrained_shares_the_array_and_freezes_by_default():
    table = random_array(5, 3, seed=2)
    frozen = Embedding.from_pretrained(cr.tensor(table))
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    np.testing.assert_array_equal(frozen(cr.tensor([4, 0])).data, table[[4, 0]])
    source = cr.tensor(table)
    trainable = Embedding.from_pretrained(source, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.weight.data is source.data
    np.testing.assert_array_equal(trainable.weight.data[1], table[1])  # from_pretrained keeps the padding row
    with pytest.raises(ShapeError, match="embeddings must be 2-D"):
        Embedding.from_pretrained(cr.tensor(random_array(5, seed=3)))


def test_embedding_errors_name_the_layer_and_its_rows():
    layer = Embedding(64, 8)
    with pytest.raises(DimError, match=r"Embedding\(64, 8\): index 64 is out of range for an embedding of 64 rows"):
        layer(cr.tensor([[1, 64]]))
    with pytest.raises(ArgumentError, match="padding_idx must be within num_embeddings"):
        Embedding(4, 2, padding_idx=4)
    with pytest.raises(ShapeError, match=r"_weight must have shape .* \(4, 2\), got \(3, 2\)"):
        Embedding(4, 2, _weight=cr.randn(3, 2))
