"""Sequential, ModuleList and ModuleDict: PyTorch's indexing, naming and state_dict keys."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.errors import ArgumentError
from tests.helpers import requires_torch, torch


def layers(n: int) -> list[nn.Module]:
    return [nn.Linear(2, 2) for _ in range(n)]


# -- Sequential -----------------------------------------------------------------------------------------------
def test_sequential_applies_modules_in_order():
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, nn.ReLU(), second)
    x = cr.randn(5, 3)
    expected = second(first(x).relu())
    np.testing.assert_array_equal(model(x).data, expected.data)
    assert nn.Sequential()(x) is x


def test_sequential_names_children_by_position_or_by_ordered_dict():
    assert list(nn.Sequential(*layers(3))._modules) == ["0", "1", "2"]
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    assert named.enc is named[0]


def test_sequential_indexing_and_slicing_keep_pytorch_keys():
    mods = layers(4)
    model = nn.Sequential(*mods)
    assert model[0] is mods[0] and model[-1] is mods[3]
    part = model[1:3]
    assert isinstance(part, nn.Sequential) and list(part._modules) == ["1", "2"]  # keys kept, as PyTorch
    assert list(part) == mods[1:3]
    assert len(model) == 4
    with pytest.raises(IndexError, match="out of range"):
        model[4]
    with pytest.raises(ArgumentError, match="ints or slices"):
        model["0"]


def test_sequential_edits_renumber_children():
    mods = layers(3)
    model = nn.Sequential(*mods)
    del model[0]
    assert list(model._modules) == ["0", "1"] and list(model) == mods[1:]
    assert model.__dict__["0"] is mods[1]
    model.insert(1, nn.Tanh())
    assert list(model._modules) == ["0", "1", "2"] and isinstance(model[1], nn.Tanh)
    model.append(nn.ReLU()).extend([nn.Sigmoid()])
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "ReLU", "Sigmoid"]
    popped = model.pop(1)
    assert isinstance(popped, nn.Tanh) and list(model._modules) == ["0", "1", "2", "3"]
    model[0] = nn.Identity()
    assert isinstance(model[0], nn.Identity) and "0.weight" not in model.state_dict()
    combined = nn.Sequential(nn.ReLU()) + nn.Sequential(nn.Tanh())
    assert list(combined._modules) == ["0", "1"]


@requires_torch
def test_sequential_deletion_and_insertion_match_pytorch_keys():
    ours = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Linear(1, 2), tnn.ReLU(), tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1))
    for model in (ours, theirs):
        del model[1]
        del model[2:]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [
        tuple(v.shape) for v in theirs.state_dict().values()
    ]


# -- ModuleList -----------------------------------------------------------------------------------------------
def test_module_list_registers_and_indexes_like_a_list():
    mods = layers(3)
    holder = nn.Module()
    holder.layers = nn.ModuleList(mods)
    assert [name for name, _ in holder.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    assert holder.layers[-1] is mods[2] and len(holder.layers) == 3
    sliced = holder.layers[1:]
    assert isinstance(sliced, nn.ModuleList) and list(sliced._modules) == ["0", "1"]  # renumbered, as PyTorch
    holder.layers[0] = nn.ReLU()
    assert isinstance(holder.layers[0], nn.ReLU)
    with pytest.raises(IndexError):
        holder.layers[3]


def test_module_list_edits_renumber():
    mods = layers(4)
    modules = nn.ModuleList(mods[:2])
    modules += [mods[2]]
    modules.append(mods[3])
    assert list(modules) == mods
    del modules[1]
    assert list(modules._modules) == ["0", "1", "2"] and list(modules) == [mods[0], mods[2], mods[3]]
    modules.insert(0, nn.ReLU())
    assert isinstance(modules[0], nn.ReLU) and modules[1] is mods[0]
    assert modules.pop() is mods[3] and len(modules) == 3
    assert len(modules + nn.ModuleList([nn.Tanh()])) == 4
    with pytest.raises(ArgumentError, match="iterable"):
        modules.extend(nn.ReLU())
    with pytest.raises(NotImplementedError, match="iterate"):
        modules(cr.zeros(1))


@requires_torch
def test_module_list_repr_groups_repeats_as_pytorch():
    ours = nn.ModuleList([*layers(3), nn.ReLU(), nn.Linear(2, 2)])
    tnn = torch.nn
    theirs = tnn.ModuleList([*[tnn.Linear(2, 2) for _ in range(3)], tnn.ReLU(), tnn.Linear(2, 2)])
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(tnn.ModuleList())


# -- ModuleDict -----------------------------------------------------------------------------------------------
def test_module_dict_is_an_ordered_registered_mapping():
    heads = nn.ModuleDict({"cls": nn.Linear(2, 3), "box": nn.Linear(2, 4)})
    assert list(heads) == ["cls", "box"] and list(heads.keys()) == ["cls", "box"]
    assert "cls" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["cls.weight", "cls.bias", "box.weight", "box.bias"]
    heads["extra"] = nn.ReLU()
    heads.update([("more", nn.Tanh())])
    assert [k for k, _ in heads.items()] == ["cls", "box", "extra", "more"]
    assert isinstance(heads.pop("extra"), nn.ReLU) and "extra" not in heads.__dict__
    del heads["more"]
    assert list(heads.values()) == [heads["cls"], heads["box"]]
    with pytest.raises(KeyError, match="'nope'"):
        heads["nope"]
    with pytest.raises(ArgumentError, match="pair"):
        heads.update([nn.ReLU()])
    with pytest.raises(ArgumentError, match="already exists"):
        heads["training"] = nn.ReLU()
    heads.clear()
    assert len(heads) == 0 and list(heads.state_dict()) == []


@requires_torch
def test_nested_container_keys_equal_pytorch():
    ours = nn.Module()
    ours.layers = nn.ModuleList([nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)) for _ in range(2)])
    ours.heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    tnn = torch.nn
    theirs = tnn.Module()
    theirs.layers = tnn.ModuleList([tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 2)) for _ in range(2)])
    theirs.heads = tnn.ModuleDict({"a": tnn.Linear(2, 1)})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "layers.1.2.bias" in ours.state_dict()
