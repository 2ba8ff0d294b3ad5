"""Weights in the safetensors format: `save`, `load`, `load_metadata`, and the atomic write they share with
checkpoints.

A safetensors file is a JSON header (each tensor's name, dtype, shape and byte range, plus free-form string
metadata) followed by the raw little-endian bytes. It holds no code, so loading one cannot run anything (unlike a
pickle), and PyTorch reads it with `safetensors.torch.load_file`: chainrule's state_dict keys follow PyTorch's,
so weights move between the two libraries in both directions.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from chainrule.errors import ArgumentError, DTypeError
from chainrule.tensor import Tensor

__all__ = ["load", "load_metadata", "save"]

PathLike = str | os.PathLike[str]

# The dtypes a safetensors file can hold that NumPy has (bfloat16 and the float8s have no NumPy dtype).
_SUPPORTED_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.bool_,
        np.uint8,
        np.int8,
        np.uint16,
        np.int16,
        np.uint32,
        np.int32,
        np.uint64,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
        np.complex64,
    )
)


def save(
    state_dict: Mapping[str, Tensor | np.ndarray], path: PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write `state_dict` (name -> Tensor or ndarray, e.g. `model.state_dict()`) to `path` as safetensors.

    metadata: optional str -> str pairs stored in the file's header (read them with `load_metadata`).
    The file is written atomically: to a temporary file in the same folder, flushed to disk, then renamed onto
    `path`, so a crash mid-write leaves any previous file at `path` intact. If `path` is a symbolic link, the
    file it points to is replaced.
    """
    if not isinstance(state_dict, Mapping):
        hint = "; pass model.state_dict()" if callable(getattr(state_dict, "state_dict", None)) else ""
        raise ArgumentError(f"save: expected a dict of name -> Tensor, got {type(state_dict).__name__}{hint}")
    arrays = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise ArgumentError(f"save: the keys of state_dict must be strings, got {key!r}")
        if not isinstance(value, Tensor | np.ndarray):
            raise ArgumentError(f"save: state_dict['{key}'] must be a Tensor or an ndarray, got {type(value).__name__}")
        arrays[key] = storable_array(value, f"state_dict['{key}']", "save")
    write_safetensors(arrays, path, check_metadata(metadata), "save")


def load(path: PathLike) -> dict[str, Tensor]:
    """The tensors of the safetensors file at `path` (ours, or one written by PyTorch's
    `safetensors.torch.save_file`), by name in sorted order, as Tensors that do not require grad.

    Raises ArgumentError naming the path when there is no such file, or it is not a complete safetensors file.
    """
    with open_safetensors(path, "load") as file:
        return {key: Tensor(read_tensor(file, key, path, "load")) for key in file.keys()}


def load_metadata(path: PathLike) -> dict[str, str]:
    """The str -> str metadata in the header of the safetensors file at `path` ({} when it has none)."""
    with open_safetensors(path, "load_metadata") as file:
        return dict(file.metadata() or {})


# -- shared with checkpoints ------------------------------------------------------------------------------------


def storable_array(value: Tensor | np.ndarray, label: str, owner: str) -> np.ndarray:
    """`value`'s array, C-contiguous (safetensors writes the memory as it lies), or DTypeError naming `label`."""
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype not in _SUPPORTED_DTYPES:
        raise DTypeError(
            f"{owner}: {label} has dtype {array.dtype}, which a safetensors file cannot hold; supported: bool, "
            "(u)int8/16/32/64, float16/32/64, complex64"
        )
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)  # never a 0-d array here: those are always contiguous
    return array


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ArgumentError(
            f"save: metadata must be a dict of str -> str (safetensors stores text only), got {metadata!r}"
        )
    return dict(metadata)


def write_safetensors(
    arrays: dict[str, np.ndarray], path: PathLike, metadata: dict[str, str] | None, owner: str
) -> None:
    """Write `arrays` and `metadata` to `path` atomically: temporary file, fsync, os.replace, fsync the folder."""
    if "__metadata__" in arrays:
        raise ArgumentError(f"{owner}: '__metadata__' is reserved by the safetensors format; rename that tensor")
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise ArgumentError(f"{owner}: the folder of '{os.fspath(path)}' does not exist: '{folder}'")
    if os.path.isdir(target):
        raise ArgumentError(f"{owner}: '{os.fspath(path)}' is a folder; give a file name")
    temporary = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(8)}.tmp")
    try:
        safetensors.numpy.save_file(arrays, temporary, metadata=metadata)
        descriptor = os.open(temporary, os.O_RDWR)
        try:
            # safetensors creates the file private (0600); give it the permissions any new file would get.
            os.fchmod(descriptor, 0o666 & ~_umask())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); where folders cannot be opened (Windows) there is nothing to do."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def open_safetensors(path: PathLike, owner: str) -> Iterator[Any]:
    """safetensors' `safe_open` on `path` (NumPy arrays), its errors turned into ArgumentError naming the path."""
    name = os.fspath(path)
    if os.path.isdir(name):  # safe_open's error for a folder is a bare OSError ("No such device")
        raise ArgumentError(f"{owner}: '{name}' is a folder, not a safetensors file")
    try:
        handle = safe_open(name, framework="np")
    except FileNotFoundError as error:
        raise ArgumentError(f"{owner}: no file at '{name}'") from error
    except SafetensorError as error:
        raise ArgumentError(
            f"{owner}: '{name}' is not a safetensors file, or is damaged or truncated ({error})"
        ) from error
    with handle as file:
        yield file


def read_tensor(file: Any, key: str, path: PathLike, owner: str) -> np.ndarray:
    """The array stored under `key` in an open file, or an error naming the path, the key and the problem."""
    try:
        return file.get_tensor(key)
    except TypeError as error:  # a dtype NumPy lacks, such as bfloat16
        raise DTypeError(
            f"{owner}: tensor '{key}' of '{os.fspath(path)}' has a dtype NumPy cannot hold ({error}); convert it "
            "to float32 before saving (in PyTorch: tensor.float())"
        ) from error
    except SafetensorError as error:
        raise ArgumentError(
            f"{owner}: cannot read tensor '{key}' of '{os.fspath(path)}', the file is damaged ({error})"
        ) from error
