"""Module: registration, iteration, state_dict / load_state_dict (against PyTorch's keys), modes, dtype moves,
hooks and repr."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.errors import ArgumentError, DTypeError, ShapeError, StateDictError
from tests.helpers import requires_torch, torch


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.Tanh()
        self.register_buffer("scale", cr.ones(width))
        self.register_buffer("cache", cr.zeros(width), persistent=False)

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    """The same structure is rebuilt with torch.nn below, to compare keys, shapes, outputs and reprs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(5, 8)
        self.blocks = nn.ModuleList([Block(8), Block(8)])
        self.heads = nn.ModuleDict({"main": nn.Sequential(nn.ReLU(), nn.Linear(8, 3)), "aux": nn.Linear(8, 1)})
        self.register_buffer("steps", cr.zeros(1, dtype=cr.int64))
        self.gate = nn.Parameter(cr.ones(8))

    def forward(self, x):
        x = self.stem(x) * self.gate
        for block in self.blocks:
            x = block(x)
        return self.heads["main"](x), self.heads["aux"](x)


def torch_net():
    tnn = torch.nn

    class TorchBlock(tnn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = tnn.Linear(width, width)
            self.act = tnn.Tanh()
            self.register_buffer("scale", torch.ones(width))
            self.register_buffer("cache", torch.zeros(width), persistent=False)

        def forward(self, x):
            return self.act(self.fc(x)) * self.scale

    class TorchNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Linear(5, 8)
            self.blocks = tnn.ModuleList([TorchBlock(8), TorchBlock(8)])
            self.heads = tnn.ModuleDict({"main": tnn.Sequential(tnn.ReLU(), tnn.Linear(8, 3)), "aux": tnn.Linear(8, 1)})
            self.register_buffer("steps", torch.zeros(1, dtype=torch.int64))
            self.gate = tnn.Parameter(torch.ones(8))

        def forward(self, x):
            x = self.stem(x) * self.gate
            for block in self.blocks:
                x = block(x)
            return self.heads["main"](x), self.heads["aux"](x)

    return TorchNet()


# -- registration ----------------------------------------------------------------------------------------------
def test_attribute_assignment_registers_parameters_buffers_and_modules():
    block = Block(3)
    assert list(block._parameters) == []
    assert list(block._modules) == ["fc", "act"]
    assert list(block._buffers) == ["scale", "cache"]
    assert [name for name, _ in block.named_parameters()] == ["fc.weight", "fc.bias"]
    assert [name for name, _ in block.named_buffers()] == ["scale", "cache"]


def test_registered_values_are_plain_instance_attributes():
    layer = nn.Linear(2, 3)
    assert layer.__dict__["weight"] is layer._parameters["weight"]
    assert not hasattr(nn.Module, "__getattr__")  # no fallback lookup on the hot path
    block = Block(2)
    assert block.__dict__["fc"] is block._modules["fc"]
    assert block.__dict__["scale"] is block._buffers["scale"]


def test_reassigning_deleting_and_none_keep_registry_and_attributes_in_sync():
    module = nn.Module()
    module.w = nn.Parameter(cr.zeros(2))
    module.w = None
    assert module.w is None and module._parameters == {"w": None}
    assert list(module.state_dict()) == []
    with pytest.raises(ArgumentError, match="parameter 'w'"):
        module.w = cr.zeros(2)  # a plain tensor cannot replace a parameter
    with pytest.raises(ArgumentError, match="parameter 'w'"):
        module.w = nn.Linear(1, 1)  # as PyTorch: only a Parameter or None replaces a parameter
    del module.w
    assert "w" not in module.__dict__ and "w" not in module._parameters
    module.w = nn.Linear(1, 1)
    assert module._modules["w"] is module.w
    del module.w
    assert "w" not in module._modules
    with pytest.raises(AttributeError):
        _ = module.w
    module.plain = 3
    module.plain = nn.Parameter(cr.ones(1))  # a plain attribute can become a parameter
    assert module._parameters["plain"] is module.plain


def test_buffers_accept_tensors_or_none_and_can_be_non_persistent():
    block = Block(2)
    block.scale = cr.full((2,), 3.0)
    assert block._buffers["scale"] is block.scale
    assert list(block.state_dict()) == ["scale", "fc.weight", "fc.bias"]  # own entries before children's
    with pytest.raises(ArgumentError, match="buffer 'scale'"):
        block.scale = 3.0
    block.scale = None
    assert "scale" not in block.state_dict()
    del block.cache
    assert "cache" not in block._non_persistent_buffers_set


def test_registration_checks_names_and_order_of_init():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module\.__init__"):
        Early()
    module = nn.Module()
    with pytest.raises(ArgumentError, match="can't contain"):
        module.register_parameter("a.b", None)
    with pytest.raises(ArgumentError, match="empty"):
        module.register_buffer("", None)
    with pytest.raises(ArgumentError, match="already exists"):
        module.register_buffer("training", cr.zeros(1))
    with pytest.raises(ArgumentError, match="Parameter or None"):
        module.register_parameter("w", cr.zeros(1))
    with pytest.raises(ArgumentError, match="not a Module"):
        module.add_module("m", 3)
    module.register_module("child", nn.ReLU())
    assert module.child is module._modules["child"]


def test_shared_parameters_are_listed_and_counted_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2
    assert model.num_parameters() == 12
    # but state_dict lists every path to them, as PyTorch
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_parameter_counts_and_requires_grad():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    assert model.count_parameters() == 4 * 3 + 3 + 3 * 2 + 2
    model[0].requires_grad_(False)
    assert model.count_parameters(trainable_only=True) == 3 * 2 + 2
    assert model.requires_grad_(True) is model
    assert all(p.requires_grad for p in model.parameters())


def test_missing_forward_raises():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(cr.zeros(1))


def test_get_submodule_parameter_and_buffer_by_dotted_path():
    net = Net()
    assert net.get_submodule("heads.main.1") is net.heads["main"][1]
    assert net.get_parameter("blocks.1.fc.bias") is net.blocks[1].fc.bias
    assert net.get_buffer("blocks.0.scale") is net.blocks[0].scale
    with pytest.raises(ArgumentError, match="no sub-module 'nope'"):
        net.get_submodule("heads.nope")


# -- against PyTorch ---------------------------------------------------------------------------------------------
@requires_torch
def test_state_dict_keys_and_shapes_equal_pytorch():
    ours, theirs = Net().state_dict(), torch_net().state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert ours[key].shape == tuple(theirs[key].shape), key


@requires_torch
def test_named_parameters_modules_and_buffers_equal_pytorch():
    ours, theirs = Net(), torch_net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.blocks[0].named_parameters(prefix="b", recurse=False)] == []
    assert [n for n, _ in ours.named_parameters(recurse=False)] == ["gate"]


@requires_torch
def test_pytorch_state_dict_loads_and_gives_identical_outputs():
    ours, theirs = Net(), torch_net()
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-1, 1)
        theirs.blocks[1].scale.fill_(0.5)
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    main, aux = ours(cr.tensor(x))
    ref_main, ref_aux = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(main.data, ref_main.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(aux.data, ref_aux.detach().numpy(), atol=1e-6)


@requires_torch
def test_our_state_dict_loads_into_pytorch():
    ours, theirs = Net(), torch_net()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(cr.tensor(x))[0].data, theirs(torch.from_numpy(x))[0].detach().numpy(), atol=1e-6)


@requires_torch
def test_repr_equals_pytorch():
    ours = nn.Sequential(
        nn.Linear(3, 4),
        nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU()]),
        nn.ModuleDict({"a": nn.Linear(4, 2, bias=False)}),
        nn.Sequential(),
    )
    tnn = torch.nn
    theirs = tnn.Sequential(
        tnn.Linear(3, 4),
        tnn.ModuleList([tnn.Linear(4, 4), tnn.Linear(4, 4), tnn.ReLU()]),
        tnn.ModuleDict({"a": tnn.Linear(4, 2, bias=False)}),
        tnn.Sequential(),
    )
    assert repr(ours) == repr(theirs)
    assert repr(Net()).replace("Torch", "") == repr(torch_net()).replace("Torch", "")


# -- state_dict / load_state_dict ------------------------------------------------------------------------------
def test_state_dict_holds_detached_tensors_sharing_the_arrays():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    assert isinstance(state, OrderedDict)
    assert type(state["weight"]) is cr.Tensor and not state["weight"].requires_grad
    assert state["weight"].data is layer.weight.data
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight


def test_load_state_dict_round_trip_keeps_parameter_objects_and_dtype():
    cr.manual_seed(0)
    source, target = Net(), Net()
    saved = copy.deepcopy(source.state_dict())
    weight = target.stem.weight
    result = target.load_state_dict({k: v.numpy().astype(np.float64) for k, v in saved.items()})
    assert result == ([], [])
    assert target.stem.weight is weight and weight.dtype == np.float32
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value.data, saved[key].data)
    with cr.no_grad():
        target.stem.weight.add_(1.0)
    target.load_state_dict(saved)
    np.testing.assert_array_equal(target.stem.weight.data, saved["stem.weight"].data)


def test_strict_load_lists_missing_and_unexpected_keys():
    layer = nn.Linear(2, 2)
    state = {"weight": np.zeros((2, 2), np.float32), "extra": np.zeros(1)}
    with pytest.raises(ArgumentError) as info:
        layer.load_state_dict(state)
    message = str(info.value)
    assert "Linear" in message and "missing key(s)" in message and "'bias'" in message
    assert "unexpected key(s)" in message and "'extra'" in message
    assert not np.all(layer.weight.data == 0)  # nothing was copied


def test_non_strict_load_returns_missing_and_unexpected_keys():
    layer = nn.Linear(2, 2)
    result = layer.load_state_dict({"weight": np.zeros((2, 2)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    assert np.all(layer.weight.data == 0)


def test_shape_mismatch_raises_shape_error_even_when_not_strict():
    layer = nn.Linear(2, 3)
    with pytest.raises(ShapeError, match=r"size mismatch for 'weight'.*\(3, 3\).*\(3, 2\)"):
        layer.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(3)}, strict=False)


def test_load_errors_are_runtime_errors_as_in_pytorch():
    layer = nn.Linear(2, 3)
    with pytest.raises(RuntimeError, match="missing key"):
        layer.load_state_dict({"weight": np.zeros((3, 2))})
    with pytest.raises(RuntimeError, match="size mismatch"):
        layer.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(3)})
    with pytest.raises(StateDictError, match="unexpected key"):
        layer.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(3), "scale": np.ones(1)})
    assert np.all(layer.bias.data != 0)  # nothing was copied


def test_load_rejects_non_tensor_values_and_non_mappings():
    layer = nn.Linear(1, 1)
    with pytest.raises(ArgumentError, match="'weight': expected a tensor"):
        layer.load_state_dict({"weight": object(), "bias": np.zeros(1)})
    with pytest.raises(ArgumentError, match="dict"):
        layer.load_state_dict([("weight", np.zeros((1, 1)))])


def test_load_accepts_objects_with_numpy_or_array_methods():
    class WithNumpy:
        def __init__(self, array):
            self.array = array

        def numpy(self):
            return self.array

    layer = nn.Linear(2, 1)
    layer.load_state_dict({"weight": WithNumpy(np.ones((1, 2))), "bias": [5.0]})
    np.testing.assert_array_equal(layer.weight.data, [[1, 1]])
    np.testing.assert_array_equal(layer.bias.data, [5])


def test_non_persistent_buffers_are_neither_saved_nor_expected():
    block = Block(2)
    assert "cache" not in block.state_dict()
    block.load_state_dict(Block(2).state_dict())  # strict: no missing "cache"


# -- modes, gradients, dtype --------------------------------------------------------------------------------------
def test_train_and_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks.train()
    assert net.blocks[1].fc.training and not net.stem.training
    with pytest.raises(ArgumentError, match="bool"):
        net.train("yes")


def test_train_calls_each_childs_own_train():
    class Frozen(nn.Linear):
        def train(self, mode=True):
            return super().train(False)

    model = nn.Sequential(Frozen(1, 1), nn.Linear(1, 1))
    model.train()
    assert model.training and not model[0].training and model[1].training


def test_zero_grad_drops_or_zeroes_gradients():
    layer = nn.Linear(2, 2)
    layer(cr.ones(1, 2)).sum().backward()
    grad = layer.weight.grad
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad is grad and np.all(grad.data == 0)
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_apply_visits_children_before_parent():
    visited = []
    model = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_to_double_converts_in_place_and_keeps_objects():
    block = Block(3)
    block.register_buffer("index", cr.zeros(3, dtype=cr.int64))
    block(cr.ones(1, 3)).sum().backward()
    weight = block.fc.weight
    assert block.to(cr.float64) is block
    assert block.fc.weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert block.scale.dtype == np.float64 and block.index.dtype == np.int64
    assert block(cr.ones(1, 3, dtype=cr.float64)).dtype == np.float64
    block.float()
    assert weight.dtype == np.float32 and block.scale.dtype == np.float32
    block.double()
    assert weight.dtype == np.float64
    block.to("cpu", dtype="float32")
    assert weight.dtype == np.float32
    block.to(cr.zeros(1, dtype=cr.float64))
    assert weight.dtype == np.float64


def test_to_rejects_integer_dtypes_and_other_devices():
    with pytest.raises(DTypeError, match="floating-point"):
        nn.Linear(1, 1).to(cr.int64)
    with pytest.raises(ArgumentError, match="CPU"):
        nn.Linear(1, 1).to("cuda")


def test_deepcopy_and_pickle_give_independent_copies():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert isinstance(clone[0].weight, nn.Parameter)
        assert clone[0].weight is clone[0].__dict__["weight"] is clone[0]._parameters["weight"]
        np.testing.assert_array_equal(clone[0].weight.data, model[0].weight.data)
        clone[0].weight.data[...] = 0
        assert not np.all(model[0].weight.data == 0)


# -- hooks --------------------------------------------------------------------------------------------------------
def test_forward_hooks_see_and_may_replace_inputs_and_outputs():
    layer = nn.Identity()
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    post = layer.register_forward_hook(lambda m, args, out: seen.append((args[0].item(), out.item())) or out + 1)
    assert layer(cr.tensor(1.0)).item() == 3.0
    assert seen == [(2.0, 2.0)]
    pre.remove()
    assert layer(cr.tensor(1.0)).item() == 2.0
    post.remove()
    assert layer(cr.tensor(1.0)).item() == 1.0
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_hook_order_prepend_kwargs_and_context_manager():
    calls = []
    layer = nn.Identity()
    layer.register_forward_hook(lambda m, a, o: calls.append("first"))
    with layer.register_forward_hook(lambda m, a, o: calls.append("prepended"), prepend=True):
        layer(cr.tensor(0.0))
    assert calls == ["prepended", "first"]
    layer(cr.tensor(0.0))
    assert calls == ["prepended", "first", "first"]

    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    module = Scaled()
    module.register_forward_pre_hook(lambda m, args, kwargs: (args, {"scale": 10.0}), with_kwargs=True)
    module.register_forward_hook(lambda m, args, kwargs, out: out + kwargs["scale"], with_kwargs=True)
    assert module(cr.tensor(1.0)).item() == 20.0
    module.register_forward_pre_hook(lambda m, args, kwargs: "bad", with_kwargs=True)
    with pytest.raises(ArgumentError, match="with_kwargs"):
        module(cr.tensor(1.0))


def test_reassigned_parameter_keeps_its_place_in_the_state_dict():
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(cr.zeros(2, 2))
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight is layer._parameters["weight"] is layer.__dict__["weight"]


# -- Parameter --------------------------------------------------------------------------------------------------
def test_parameter_wraps_data_and_requires_grad():
    source = cr.randn(2, 3)
    param = nn.Parameter(source)
    assert param.data is source.data and param.requires_grad and param.is_leaf
    assert nn.Parameter(np.zeros(2)).dtype == np.float64  # an array keeps its float dtype
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert nn.Parameter().shape == (0,)
    assert not nn.Parameter(cr.zeros(1), requires_grad=False).requires_grad
    assert nn.Parameter(cr.zeros(1, dtype=cr.int64), requires_grad=False).dtype == np.int64
    with pytest.raises(DTypeError, match="floating-point"):
        nn.Parameter(cr.zeros(1, dtype=cr.int64))


@requires_torch
def test_parameter_repr_equals_pytorch():
    assert repr(nn.Parameter(cr.tensor([1.0, 2.0]))) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))


def test_parameter_gradient_is_a_plain_tensor():
    param = nn.Parameter(cr.ones(3))
    (param * 2).sum().backward()
    assert type(param.grad) is cr.Tensor and not param.grad.requires_grad
    np.testing.assert_array_equal(param.grad.data, [2, 2, 2])


def test_parameter_survives_deepcopy_and_pickle_without_its_gradient():
    param = nn.Parameter(cr.ones(2))
    param.sum().backward()
    for clone in (copy.deepcopy(param), pickle.loads(pickle.dumps(param))):
        assert type(clone) is nn.Parameter and clone.requires_grad and clone.grad is None
        assert clone.data is not param.data
        np.testing.assert_array_equal(clone.data, param.data)


def test_incompatible_keys_repr():
    assert repr(nn.Linear(1, 1).load_state_dict(nn.Linear(1, 1).state_dict())) == "<All keys matched successfully>"
