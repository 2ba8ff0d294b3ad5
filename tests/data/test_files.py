"""Loaders of IDX (MNIST), CSV and .npz files, on small files written by the tests."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from chainrule.data import load_csv, load_idx, load_mnist, load_npz
from chainrule.errors import ArgumentError, DTypeError, ShapeError


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big_endian.tobytes()


def write(path, content: bytes, compress: bool = False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


# -- IDX ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_load_idx_reads_every_type_in_native_order(tmp_path, dtype, code):
    array = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    loaded = load_idx(write(tmp_path / "a.idx", idx_bytes(array, code)))
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative and loaded.flags.writeable


def test_load_idx_reads_gzip_by_content(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(load_idx(write(tmp_path / "a.gz", idx_bytes(array, 0x08), compress=True)), array)
    np.testing.assert_array_equal(load_idx(write(tmp_path / "b", idx_bytes(array, 0x08), compress=True)), array)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x1f\x00\x08\x01\x00\x00\x00\x01\x00", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX data type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", r"truncated: its header declares shape \(5\)"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "longer than its header says"),
    ],
)
def test_load_idx_rejects_corrupt_files_naming_the_path(tmp_path, content, message):
    path = write(tmp_path / "bad-idx", content)
    with pytest.raises(ArgumentError, match=message) as caught:
        load_idx(path)
    assert str(path) in str(caught.value)


def test_load_idx_rejects_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8), 0x08))
    path = write(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(ArgumentError, match="corrupt or truncated gzip") as caught:
        load_idx(path)
    assert str(path) in str(caught.value)


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_idx(tmp_path / "nope")


def write_mnist(folder, prefix: str, n: int, compress: bool, dot: bool = False):
    images = np.arange(n * 4 * 4, dtype=np.uint8).reshape(n, 4, 4) * 3
    labels = (np.arange(n) % 10).astype(np.uint8)
    sep = "." if dot else "-"
    suffix = ".gz" if compress else ""
    write(folder / f"{prefix}-images{sep}idx3-ubyte{suffix}", idx_bytes(images, 0x08), compress)
    write(folder / f"{prefix}-labels{sep}idx1-ubyte{suffix}", idx_bytes(labels, 0x08), compress)
    return images, labels


def test_load_mnist_finds_the_standard_files_and_scales_pixels(tmp_path):
    images, labels = write_mnist(tmp_path, "train", 6, compress=True)
    write_mnist(tmp_path, "t10k", 3, compress=False, dot=True)
    X, y = load_mnist(tmp_path)
    assert X.shape == (6, 1, 4, 4) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    X_test, y_test = load_mnist(tmp_path, split="test", flatten=True)
    assert X_test.shape == (3, 16) and y_test.shape == (3,)


def test_load_mnist_looks_in_the_raw_subfolder(tmp_path):
    (tmp_path / "raw").mkdir()
    write_mnist(tmp_path / "raw", "t10k", 2, compress=True)
    assert load_mnist(tmp_path, split="test").X.shape == (2, 1, 4, 4)


def test_load_mnist_reports_missing_and_mismatched_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(ShapeError, match=r"3 images but .* 4 labels"):
        load_mnist(tmp_path)
    with pytest.raises(ArgumentError, match="split"):
        load_mnist(tmp_path, split="val")


# -- CSV ---------------------------------------------------------------------------------------------------


def write_text(path, text: str):
    path.write_text(text)
    return path


def test_load_csv_with_header_and_integer_labels(tmp_path):
    path = write_text(tmp_path / "t.csv", "a,b,label\n1,2.5,0\n3,4,2\n\n-1,1e-3,1\n")
    pair = load_csv(path)
    X, y = pair
    np.testing.assert_allclose(X, [[1, 2.5], [3, 4], [-1, 1e-3]], rtol=1e-6)
    assert X.dtype == np.float32 and y.dtype == np.int64 and y.tolist() == [0, 2, 1]
    assert pair.feature_names == ["a", "b"] and pair.target_name == "label" and pair.classes is None


def test_load_csv_without_header_and_a_real_target(tmp_path):
    path = write_text(tmp_path / "t.csv", "1,2,0.5\n3,4,1.5\n")
    X, y = load_csv(path)
    assert X.shape == (2, 2) and y.shape == (2, 1) and y.dtype == np.float32
    assert load_csv(path).feature_names is None
    assert load_csv(path, header=True).X.shape == (1, 2)


def test_load_csv_target_by_name_or_index_and_other_delimiters(tmp_path):
    path = write_text(tmp_path / "t.tsv", "y\tx1\tx2\n1\t10\t20\n0\t30\t40\n")
    X, y = load_csv(path, target="y", delimiter="\t")
    assert X.tolist() == [[10, 20], [30, 40]] and y.tolist() == [1, 0]
    X0, _ = load_csv(path, target=0, delimiter="\t")
    np.testing.assert_array_equal(X, X0)
    everything, nothing = load_csv(path, target=None, delimiter="\t")
    assert everything.shape == (2, 3) and nothing is None
    with pytest.raises(ArgumentError, match="no column 'z'"):
        load_csv(path, target="z", delimiter="\t")


def test_load_csv_maps_string_labels_to_ints_and_returns_the_classes(tmp_path):
    path = write_text(tmp_path / "t.csv", "5.1,3.5,setosa\n6.2,2.9,versicolor\n4.9,3.0, setosa\n")
    pair = load_csv(path)
    assert pair.y.tolist() == [0, 1, 0] and pair.classes == ["setosa", "versicolor"]
    assert pair.X.shape == (3, 2)


def test_load_csv_encodes_negative_labels_and_honours_the_task(tmp_path):
    path = write_text(tmp_path / "t.csv", "1,-1\n2,1\n3,-1\n")
    pair = load_csv(path)
    assert pair.y.tolist() == [0, 1, 0] and pair.classes == [-1, 1]
    regression = load_csv(path, task="regression")
    assert regression.y.tolist() == [[-1.0], [1.0], [-1.0]] and regression.y.dtype == np.float32
    labels = write_text(tmp_path / "u.csv", "1,cat\n2,dog\n")
    with pytest.raises(ArgumentError, match=r"line 1.*'cat' is not a number"):
        load_csv(labels, task="regression")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,y\n1,2,0\n1,2\n", "line 3: expected 3 fields .*got 2"),
        ("1,2,0\n1,2,3,4\n", "line 2: expected 3 fields"),
        ("a,b,y\n1,2,0\n3,x7,1\n", r"line 3, column 2 \('b'\): 'x7' is not a number"),
        ("1,2,0\n3,,1\n", "line 2, column 2: empty field"),
        ("a,b,y\n", "header and no data"),
        ("\n\n", "no rows"),
    ],
)
def test_load_csv_bad_rows_name_the_file_line_and_problem(tmp_path, text, message):
    path = write_text(tmp_path / "bad.csv", text)
    with pytest.raises(ArgumentError, match=message) as caught:
        load_csv(path)
    assert str(path) in str(caught.value)


def test_load_csv_reads_gzip_and_float64(tmp_path):
    path = write(tmp_path / "t.csv.gz", b"x,y\n0.1,1\n0.2,0\n", compress=True)
    X, y = load_csv(path, dtype=np.float64)
    assert X.dtype == np.float64 and X[:, 0].tolist() == [0.1, 0.2] and y.tolist() == [1, 0]
    with pytest.raises(DTypeError):
        load_csv(path, dtype=np.int64)


# -- npz ---------------------------------------------------------------------------------------------------


def test_load_npz_default_keys_and_dtypes(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6, dtype=np.float64).reshape(3, 2), y=np.array([1, 0, 1], dtype=np.int32))
    X, y = load_npz(path)
    assert X.dtype == np.float32 and X.shape == (3, 2) and y.dtype == np.int64 and y.tolist() == [1, 0, 1]


def test_load_npz_chosen_keys_real_and_text_targets(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.ones((2, 3)), price=np.array([1.5, 2.5]), kind=np.array(["b", "a"]))
    _, price = load_npz(path, x_key="inputs", y_key="price")
    assert price.shape == (2, 1) and price.dtype == np.float32
    pair = load_npz(path, x_key="inputs", y_key="kind")
    assert pair.y.tolist() == [1, 0] and pair.classes == ["a", "b"]
    assert load_npz(path, x_key="inputs").y is None
    with pytest.raises(ArgumentError, match=r"no array 'target'.*inputs"):
        load_npz(path, x_key="inputs", y_key="target")
    with pytest.raises(ArgumentError, match="x_key="):
        load_npz(path)


def test_load_npz_refuses_pickles_corrupt_files_and_mismatched_lengths(tmp_path):
    objects = tmp_path / "o.npz"
    np.savez(objects, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ArgumentError, match="pickle"):
        load_npz(objects)
    corrupt = write(tmp_path / "c.npz", b"PK\x03\x04 not really a zip")
    with pytest.raises(ArgumentError, match=r"c\.npz"):
        load_npz(corrupt)
    mismatched = tmp_path / "m.npz"
    np.savez(mismatched, x=np.zeros((3, 2)), y=np.zeros(2, dtype=np.int64))
    with pytest.raises(ShapeError, match="same number of samples"):
        load_npz(mismatched)
    single = tmp_path / "s.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ArgumentError, match="single array"):
        load_npz(single)
