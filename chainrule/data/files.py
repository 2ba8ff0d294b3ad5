"""Loaders for the user's own files: IDX (MNIST, Fashion-MNIST), CSV and .npz, into arrays ready for training.

Each checks what it reads and raises ArgumentError naming the file (and, for CSV, the line) on a truncated,
corrupt or malformed file; a missing file raises FileNotFoundError. Gzip-compressed files are recognised by
their content, whatever their name.

Returned arrays follow the built-in datasets' conventions: features float32 (or `dtype`), class labels int64
(N,), real targets float32 (N, 1).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.data._common import LabeledData, check_choice, encode_labels, is_integral
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.tensor import DTypeLike, as_dtype

PathLike = str | os.PathLike

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: PathLike, op: str) -> bytes:
    """The file's bytes, decompressed when it is gzip data."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{op}: no such file: {path}")
    if os.path.isdir(path):
        raise ArgumentError(f"{op}: {path} is a folder, expected a file")
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ArgumentError(f"{op}: {path}: corrupt or truncated gzip data ({error})") from None
    return raw


# -- IDX ---------------------------------------------------------------------------------------------------

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: PathLike) -> np.ndarray:
    """The array stored in an IDX file (the format of MNIST and Fashion-MNIST), plain or gzip-compressed.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then the values, big-endian,
    row-major. Returns them in that dtype, native byte order (MNIST images: uint8 (N, 28, 28); labels: uint8 (N,)).
    The file's size must match its header exactly: a truncated or padded file is an error.
    """
    op = "load_idx"
    raw = _read_bytes(path, op)
    name = os.fspath(path)
    if len(raw) < 4:
        raise ArgumentError(f"{op}: {name}: {len(raw)} bytes is too short for an IDX header (truncated or empty file)")
    if raw[0] != 0 or raw[1] != 0:
        raise ArgumentError(
            f"{op}: {name} is not an IDX file: its magic number starts with bytes 0x{raw[0]:02x} 0x{raw[1]:02x}, "
            "expected 0x00 0x00"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise ArgumentError(f"{op}: {name}: unknown IDX data type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise ArgumentError(f"{op}: {name}: the IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ArgumentError(
            f"{op}: {name}: truncated IDX header: {ndim} dimensions need {header} bytes, the file has {len(raw)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise ArgumentError(
            f"{op}: {name}: the file is {problem}: its header declares shape {shape_str(dims)} of {dtype.name} "
            f"({expected} bytes with the header), the file has {len(raw)} bytes"
        )
    values = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


_MNIST_STEMS = {"train": "train", "test": "t10k"}


def _find_mnist_file(folder: str, stem: str, kind: str, rank: int) -> str:
    names = []
    for base in (f"{stem}-{kind}-idx{rank}-ubyte", f"{stem}-{kind}.idx{rank}-ubyte"):
        names += [base, base + ".gz"]
    for where in (folder, os.path.join(folder, "raw")):
        for name in names:
            candidate = os.path.join(where, name)
            if os.path.isfile(candidate):
                return candidate
    raise FileNotFoundError(
        f"load_mnist: no {kind} file in {folder} (nor in its raw/ subfolder); looked for {', '.join(names)}"
    )


def load_mnist(folder: PathLike, split: str = "train", flatten: bool = False) -> LabeledData:
    """MNIST or Fashion-MNIST from the four standard IDX files in `folder` (or its raw/ subfolder, torchvision's
    layout): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
    `t10k-labels-idx1-ubyte`, each possibly gzipped (`.gz`) or named with a dot (`train-images.idx3-ubyte`).

    split: 'train' (60,000 images) or 'test' (10,000). Returns X float32 (N, 1, H, W), pixel values scaled to
    [0, 1] (torchvision's ToTensor), or (N, H * W) with flatten=True; y int64 (N,).
    """
    op = "load_mnist"
    check_choice(split, "split", tuple(_MNIST_STEMS), op)
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{op}: no such folder: {folder}")
    stem = _MNIST_STEMS[split]
    images_path = _find_mnist_file(folder, stem, "images", 3)
    labels_path = _find_mnist_file(folder, stem, "labels", 1)
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.ndim != 3:
        raise ShapeError(f"{op}: {images_path}: expected images of shape (N, H, W), got {shape_str(images.shape)}")
    if labels.ndim != 1:
        raise ShapeError(f"{op}: {labels_path}: expected labels of shape (N,), got {shape_str(labels.shape)}")
    if len(images) != len(labels):
        raise ShapeError(f"{op}: {images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    scale = np.float32(1.0 / 255.0) if images.dtype == np.uint8 else np.float32(1.0)
    x = images.astype(np.float32) * scale
    x = x.reshape(len(x), -1) if flatten else x[:, None]
    return LabeledData(x, labels.astype(np.int64))


# -- CSV ---------------------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(
    path: PathLike,
    target: int | str | None = -1,
    header: bool | str = "infer",
    delimiter: str = ",",
    task: str = "auto",
    dtype: DTypeLike = np.float32,
) -> LabeledData:
    """A table of numbers with one target column: (X, y) with X (N, columns - 1) of `dtype` (float32).

    target: the target column, by name (needs a header) or index (negative from the end; the last by default);
        None reads every column into X and gives y = None.
    header: True (the first row names the columns), False, or 'infer': the first row is a header when one of its
        fields is not a number where the second row's is (or, in a one-row file, when none of its fields is).
    delimiter: one character (',' or '\\t' ...). Blank lines are skipped; a gzipped file is read the same way.
    task: how the target is read. 'auto': non-negative whole numbers are class labels (int64 (N,)); other numbers a
        real target (float32 (N, 1)); text labels are classes. 'classification': labels int64 (N,); labels that are
        not non-negative whole numbers (text, -1/1, 0.5) are replaced by their position among the sorted distinct
        labels, and the result's `.classes` lists those labels. 'regression': a real target, float32 (N, 1).
    A row with the wrong number of fields, an empty field or a non-numeric feature raises ArgumentError naming
    the file, the line and the column.
    """
    op = "load_csv"
    name = os.fspath(path)
    check_choice(header, "header", ("infer", True, False), op)
    check_choice(task, "task", ("auto", "classification", "regression"), op)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ArgumentError(f"{op}: delimiter must be one character, got {delimiter!r}")
    out_dtype = as_dtype(dtype)
    if out_dtype.kind != "f":
        raise DTypeError(f"{op}: dtype must be a floating-point dtype, got {out_dtype}")
    raw = _read_bytes(path, op)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ArgumentError(f"{op}: {name} is not UTF-8 text ({error})") from None
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row and any(field.strip() for field in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as error:
        raise ArgumentError(f"{op}: {name}, line {reader.line_num}: {error}") from None
    if not rows:
        raise ArgumentError(f"{op}: {name} holds no rows")

    has_header = header is True or (header == "infer" and _looks_like_header(rows))
    names = [field.strip() for field in rows[0]] if has_header else None
    if has_header:
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise ArgumentError(f"{op}: {name} holds a header and no data rows")
    width = len(names) if names is not None else len(rows[0])
    reference = "the header" if names is not None else f"line {lines[0]}"
    for line, row in zip(lines, rows):
        if len(row) != width:
            raise ArgumentError(f"{op}: {name}, line {line}: expected {width} fields (as {reference}), got {len(row)}")

    target_column = _target_column(target, names, width, name, op)
    feature_columns = [c for c in range(width) if c != target_column]
    if not feature_columns:
        raise ArgumentError(f"{op}: {name} has only the target column; no features are left")
    cells = np.array(rows, dtype=str)
    x = _parse_numbers(cells[:, feature_columns], feature_columns, lines, names, name, op).astype(out_dtype)
    feature_names = None if names is None else [names[c] for c in feature_columns]
    if target_column is None:
        return LabeledData(x, None, feature_names)
    target_name = None if names is None else names[target_column]
    column = np.char.strip(cells[:, target_column])
    y, classes = _parse_target(column, task, lines, _column_label(target_column, names), name, op)
    return LabeledData(x, y, feature_names, target_name, classes)


def _looks_like_header(rows: list[list[str]]) -> bool:
    first = rows[0]
    if len(rows) == 1:
        return not any(_is_number(field) for field in first)
    second = rows[1]
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))


def _target_column(target: Any, names: list[str] | None, width: int, path: str, op: str) -> int | None:
    if target is None:
        return None
    if isinstance(target, str):
        if names is None:
            raise ArgumentError(f"{op}: target={target!r} names a column, but {path} has no header row")
        if target not in names:
            raise ArgumentError(f"{op}: {path} has no column {target!r}; its columns are {names}")
        return names.index(target)
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise ArgumentError(f"{op}: target must be a column name, a column index or None, got {target!r}")
    if not -width <= target < width:
        raise ArgumentError(f"{op}: target={target} is out of range for {path}'s {width} columns")
    return int(target) % width


def _column_label(column: int, names: list[str] | None) -> str:
    return f"column {column + 1}" + (f" ({names[column]!r})" if names is not None else "")


def _parse_numbers(
    cells: np.ndarray, columns: Sequence[int], lines: list[int], names: list[str] | None, path: str, op: str
) -> np.ndarray:
    """float64 values of a block of text cells; on a bad cell, an error naming its line and column."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for r, row in enumerate(cells):
        for k, value in enumerate(row):
            if not _is_number(value):
                _bad_cell(value, lines[r], _column_label(columns[k], names), path, op)
    raise AssertionError("unreachable: astype failed but every cell parsed")  # pragma: no cover


def _bad_cell(value: str, line: int, column: str, path: str, op: str) -> None:
    if not value.strip():
        raise ArgumentError(
            f"{op}: {path}, line {line}, {column}: empty field (missing values are not supported; fill or drop them)"
        )
    raise ArgumentError(f"{op}: {path}, line {line}, {column}: {str(value)!r} is not a number")


def _parse_target(
    column: np.ndarray, task: str, lines: list[int], label: str, path: str, op: str
) -> tuple[np.ndarray, list[Any] | None]:
    numeric = all(_is_number(value) for value in column)
    if task == "regression" or (task == "auto" and numeric and not is_integral(column.astype(np.float64))):
        if not numeric:
            bad = next(r for r, value in enumerate(column) if not _is_number(value))
            _bad_cell(column[bad], lines[bad], label + " (the target)", path, op)
        return column.astype(np.float64).astype(np.float32).reshape(-1, 1), None
    if numeric:
        values = column.astype(np.float64)
        if is_integral(values) and values.min() >= 0:
            return values.astype(np.int64), None
        codes, classes = encode_labels(values)
        classes = [int(c) if float(c).is_integer() else c for c in classes]
        return codes, classes
    empty = next((r for r, value in enumerate(column) if not value), None)
    if empty is not None:
        _bad_cell("", lines[empty], label + " (the target)", path, op)
    return encode_labels(column)


# -- npz ---------------------------------------------------------------------------------------------------


def load_npz(
    path: PathLike, x_key: str | None = None, y_key: str | None = None, dtype: DTypeLike = np.float32
) -> LabeledData:
    """(X, y) from a NumPy .npz archive, read without pickle (object arrays are refused).

    x_key: the array of inputs; by default 'x' or 'X'. y_key: the targets; by default 'y' or 'Y', and y = None
    when the archive has neither. X becomes `dtype` (float32); y: integer or bool labels int64 (N,), real
    targets float32 (N, 1) when 1-D (kept as they are otherwise), text labels their index among the sorted
    distinct labels (listed in `.classes`).
    """
    op = "load_npz"
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"{op}: no such file: {name}")
    out_dtype = as_dtype(dtype)
    if out_dtype.kind != "f":
        raise DTypeError(f"{op}: dtype must be a floating-point dtype, got {out_dtype}")
    try:
        archive = np.load(name, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ArgumentError(f"{op}: {name} is not a readable .npz archive (without pickle): {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ArgumentError(f"{op}: {name} holds a single array (.npy), not an .npz archive of named arrays")
    with archive:
        keys = list(archive.files)
        x_name = _pick_key(x_key, ("x", "X"), keys, "x_key", name, op)
        y_name = _pick_key(y_key, ("y", "Y"), keys, "y_key", name, op, required=y_key is not None)
        try:
            x = archive[x_name]
            y = None if y_name is None else archive[y_name]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise ArgumentError(f"{op}: {name}: cannot read its arrays (without pickle): {error}") from None
    if x.dtype.kind not in "fiub":
        raise DTypeError(f"{op}: {name}: {x_name!r} holds {x.dtype} values, expected numbers")
    if x.ndim == 0:
        raise ShapeError(f"{op}: {name}: {x_name!r} is a scalar, expected an array of samples")
    x = x.astype(out_dtype)
    if y is None:
        return LabeledData(x, None)
    if y.ndim == 0 or len(y) != len(x):
        raise ShapeError(
            f"{op}: {name}: {x_name!r} has shape {shape_str(x.shape)} and {y_name!r} shape {shape_str(y.shape)}; "
            "expected the same number of samples"
        )
    if y.dtype.kind in "iub":
        return LabeledData(x, y.astype(np.int64), target_name=y_name)
    if y.dtype.kind == "f":
        y = y.astype(np.float32)
        return LabeledData(x, y.reshape(-1, 1) if y.ndim == 1 else y, target_name=y_name)
    if y.dtype.kind in "US" and y.ndim == 1:
        codes, classes = encode_labels(y)
        return LabeledData(x, codes, target_name=y_name, classes=classes)
    raise DTypeError(f"{op}: {name}: {y_name!r} holds {y.dtype} values, expected numbers or text labels")


def _pick_key(
    key: str | None,
    defaults: tuple[str, ...],
    keys: list[str],
    argument: str,
    path: str,
    op: str,
    required: bool = True,
) -> str | None:
    if key is not None:
        if key not in keys:
            raise ArgumentError(f"{op}: {path} has no array {key!r} ({argument}); it holds {keys}")
        return key
    for candidate in defaults:
        if candidate in keys:
            return candidate
    if required:
        raise ArgumentError(
            f"{op}: {path} has none of the arrays {list(defaults)}; it holds {keys}: pass {argument}= to choose one"
        )
    return None
