"""chainrule.io.save / load / load_metadata: safetensors weights, atomic writes, errors, PyTorch interop."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError
from chainrule.io import load, load_metadata, save
from tests.helpers import requires_torch, torch


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
        np.array([1.5, -0.0, np.inf, np.nan, 1e-310]),  # float64, signed zero, non-finite, subnormal
        np.array([[1, -2], [2**62, -(2**63)]], dtype=np.int64),
        np.array([True, False, True]),
        np.array(2.5, dtype=np.float32),  # 0-d
        np.zeros((0, 3), dtype=np.float32),  # empty
        np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.array([0.1, 65504.0], dtype=np.float16),
    ],
    ids=["float32", "float64", "int64", "bool", "0-d", "empty", "uint8", "float16"],
)
def test_save_load_round_trip_keeps_dtype_shape_and_bits(tmp_path, array):
    path = tmp_path / "w.safetensors"
    save({"x": cr.Tensor(array), "raw": array}, path)
    loaded = load(path)
    assert sorted(loaded) == ["raw", "x"]
    for value in loaded.values():
        assert isinstance(value, cr.Tensor)
        assert not value.requires_grad
        assert _bits_equal(value.data, array)


def test_load_returns_writable_arrays_independent_of_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save({"w": np.zeros(3, dtype=np.float32)}, path)
    loaded = load(path)["w"]
    loaded.data += 1  # an optimizer updates parameters in place
    assert np.array_equal(load(path)["w"].data, np.zeros(3, dtype=np.float32))


def test_save_accepts_str_and_pathlike_paths(tmp_path):
    save({"a": np.ones(2)}, str(tmp_path / "s.safetensors"))
    save({"a": np.ones(2)}, tmp_path / "p.safetensors")
    assert np.array_equal(load(str(tmp_path / "p.safetensors"))["a"].data, load(tmp_path / "s.safetensors")["a"].data)


def test_non_contiguous_arrays_are_saved_in_logical_order(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    views = {
        "transposed": base.T,
        "strided": base[::2, 1::3],
        "fortran": np.asfortranarray(base),
        "tensor_view": cr.tensor(base).T,
        "negative_stride": base[::-1],
    }
    path = tmp_path / "views.safetensors"
    save(views, path)
    loaded = load(path)
    for key, view in views.items():
        expected = view.data if isinstance(view, cr.Tensor) else view
        assert np.array_equal(loaded[key].data, expected), key


def test_metadata_round_trips_and_defaults_to_empty(tmp_path):
    with_meta = tmp_path / "m.safetensors"
    save({"a": np.ones(1)}, with_meta, metadata={"framework": "chainrule", "note": "é ✓"})
    assert load_metadata(with_meta) == {"framework": "chainrule", "note": "é ✓"}
    without = tmp_path / "n.safetensors"
    save({"a": np.ones(1)}, without)
    assert load_metadata(without) == {}


def test_save_model_state_dict_and_load_into_a_fresh_model(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 5), cr.nn.Tanh(), cr.nn.Linear(5, 2))
    path = tmp_path / "model.safetensors"
    save(model.state_dict(), path)
    cr.manual_seed(1)
    fresh = cr.nn.Sequential(cr.nn.Linear(3, 5), cr.nn.Tanh(), cr.nn.Linear(5, 2))
    fresh.load_state_dict(load(path))
    x = cr.tensor(np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32))
    assert np.array_equal(fresh(x).data, model(x).data)


# -- atomic writes ----------------------------------------------------------------------------------------------


def test_crash_before_rename_keeps_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save({"w": np.full(3, 1.0)}, path, metadata={"version": "old"})

    def crash(src, dst):
        assert os.path.dirname(os.fspath(src)) == os.path.dirname(os.fspath(dst))  # same folder: an atomic rename
        assert os.path.exists(src)  # the new file was fully written before the rename
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save({"w": np.full(3, 2.0)}, path, metadata={"version": "new"})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["w.safetensors"]
    assert np.array_equal(load(path)["w"].data, np.full(3, 1.0))
    assert load_metadata(path) == {"version": "old"}


def test_save_flushes_to_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    save({"w": np.ones(2)}, tmp_path / "w.safetensors")
    assert events[:2] == ["fsync", "replace"]


def test_save_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save({"old": np.ones(2)}, path)
    save({"new": np.zeros(2)}, path)
    assert list(load(path)) == ["new"]
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real.safetensors"
    save({"a": np.ones(1)}, target)
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    save({"a": np.zeros(1)}, link)
    assert link.is_symlink()
    assert np.array_equal(load(target)["a"].data, np.zeros(1))


# -- errors ------------------------------------------------------------------------------------------------------


def test_truncated_file_raises_our_error_with_the_path(tmp_path):
    path = tmp_path / "w.safetensors"
    save({"w": np.ones((10, 10))}, path)
    data = path.read_bytes()
    for size in (0, 5, 20, len(data) - 1):
        path.write_bytes(data[:size])
        with pytest.raises(ArgumentError, match=r"w\.safetensors") as info:
            load(path)
        assert "truncated" in str(info.value)
        with pytest.raises(ArgumentError, match=r"w\.safetensors"):
            load_metadata(path)


def test_missing_file_and_non_safetensors_file_raise_our_error(tmp_path):
    with pytest.raises(ArgumentError, match=r"no file at .*missing\.safetensors"):
        load(tmp_path / "missing.safetensors")
    text = tmp_path / "notes.txt"
    text.write_text("not a tensor file at all, just some words in a text file")
    with pytest.raises(ArgumentError, match=r"notes\.txt.*not a safetensors file"):
        load(text)
    with pytest.raises(ArgumentError, match="is a folder"):
        load(tmp_path)


def test_save_rejects_bad_arguments_with_clear_messages(tmp_path):
    path = tmp_path / "w.safetensors"
    with pytest.raises(ArgumentError, match=r"pass model\.state_dict\(\)"):
        save(cr.nn.Linear(2, 2), path)
    with pytest.raises(ArgumentError, match="keys of state_dict must be strings"):
        save({1: np.ones(2)}, path)
    with pytest.raises(ArgumentError, match=r"state_dict\['w'\] must be a Tensor or an ndarray, got list"):
        save({"w": [1.0, 2.0]}, path)
    with pytest.raises(DTypeError, match=r"state_dict\['s'\] has dtype <U1"):
        save({"s": np.array(["a"])}, path)
    with pytest.raises(ArgumentError, match="metadata must be a dict of str -> str"):
        save({"w": np.ones(2)}, path, metadata={"epoch": 3})
    with pytest.raises(ArgumentError, match="reserved"):
        save({"__metadata__": np.ones(2)}, path)
    with pytest.raises(ArgumentError, match="does not exist"):
        save({"w": np.ones(2)}, tmp_path / "no_such_folder" / "w.safetensors")
    with pytest.raises(ArgumentError, match="is a folder"):
        save({"w": np.ones(2)}, tmp_path)
    assert os.listdir(tmp_path) == []


# -- PyTorch interop --------------------------------------------------------------------------------------------


def _torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _our_mlp():
    return cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))


@requires_torch
def test_weights_saved_by_pytorch_load_into_the_equivalent_chainrule_model(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = _torch_mlp()
    path = tmp_path / "torch.safetensors"
    save_file(theirs.state_dict(), str(path))
    ours = _our_mlp()
    ours.load_state_dict(load(path))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(cr.tensor(x)).data, expected, rtol=1e-6, atol=1e-6)


@requires_torch
def test_weights_saved_by_chainrule_load_into_pytorch(tmp_path):
    from safetensors.torch import load_file

    cr.manual_seed(0)
    ours = _our_mlp()
    path = tmp_path / "ours.safetensors"
    save(ours.state_dict(), path)
    theirs = _torch_mlp()
    theirs.load_state_dict(load_file(str(path)))
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    expected = ours(cr.tensor(x)).data
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-6, atol=1e-6)


@requires_torch
def test_pytorch_reads_every_dtype_and_non_contiguous_array_exactly(tmp_path):
    from safetensors.torch import load_file

    arrays = {
        "f32": np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32),
        "f64": np.array([0.1, -0.0, np.inf]),
        "i64": np.array([-(2**63), 2**63 - 1], dtype=np.int64),
        "bool": np.array([[True, False]]),
        "scalar": np.array(7.0, dtype=np.float32),
        "transposed": np.arange(6.0, dtype=np.float32).reshape(2, 3).T,
    }
    path = tmp_path / "ours.safetensors"
    save(arrays, path)
    theirs = load_file(str(path))
    for key, array in arrays.items():
        assert _bits_equal(theirs[key].numpy(), np.ascontiguousarray(array) if array.ndim else array), key


@requires_torch
def test_bfloat16_tensor_from_pytorch_raises_a_dtype_error_naming_it(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bf16.safetensors"
    save_file({"half_weights": torch.ones(2, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(DTypeError, match="half_weights"):
        load(path)


def test_saved_file_gets_the_permissions_of_any_new_file(tmp_path):
    path = tmp_path / "w.safetensors"
    previous = os.umask(0o022)
    try:
        cr.save({"w": cr.ones(2)}, path)
    finally:
        os.umask(previous)
    assert (path.stat().st_mode & 0o777) == 0o644
