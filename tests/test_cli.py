"""The `chainrule` command: train and evaluate end to end, the run folder, every bad input as one line with the
right exit status, --help, and the training-curve plot."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from chainrule.cli import build_model, main
from chainrule.errors import ArgumentError
from chainrule.train import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `chainrule argv...`, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def result_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("test ")]
    assert len(lines) == 1, stdout
    return lines[0]


def accuracy_of(stdout: str) -> float:
    return float(re.fullmatch(r"test accuracy: ([\d.]+) \(\d+/\d+ correct\)", result_line(stdout)).group(1))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """`chainrule train --output DIR` with every other option at its default: (folder, stdout)."""
    folder = str(tmp_path_factory.mktemp("runs") / "digits")
    code, out, err = run_cli("train", "--output", folder)
    assert code == 0, err
    return folder, out


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A short binary run (another model than the default's), for mismatch tests."""
    folder = str(tmp_path_factory.mktemp("runs") / "cancer")
    code, _, err = run_cli("train", "--dataset", "breast_cancer", "--hidden", "8", "--epochs", "20", "--quiet",
                           "--output", folder)  # fmt: skip
    assert code == 0, err
    return folder


# -- train and evaluate ---------------------------------------------------------------------------------------


def test_default_train_reaches_95_percent_on_digits_and_writes_the_run_folder(default_run):
    folder, out = default_run
    assert accuracy_of(out) >= 0.95
    assert sorted(os.listdir(folder)) == [
        "curves.png",
        "diagnosis.json",
        "gradients.png",
        "history.csv",
        "lr.png",
        "model.json",
        "model.safetensors",
    ]
    with open(os.path.join(folder, "curves.png"), "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
    with open(os.path.join(folder, "model.json")) as handle:
        spec = json.load(handle)
    assert spec["model"] == {"kind": "mlp", "input_shape": [64], "hidden": [256], "activation": "relu",
                             "out_features": 10}  # fmt: skip
    assert spec["task"]["loss"] == "cross_entropy" and spec["dataset"]["name"] == "digits"
    assert (
        spec["result"]["test"]["accuracy"] == accuracy_of(out)
        or abs(spec["result"]["test"]["accuracy"] - accuracy_of(out)) < 5e-5
    )
    with open(os.path.join(folder, "history.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == spec["result"]["epochs_run"] >= 2
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_evaluate_rebuilds_the_model_and_reports_the_same_accuracy(default_run):
    folder, train_out = default_run
    code, out, _ = run_cli("evaluate", folder)
    assert code == 0
    assert result_line(out) == result_line(train_out)
    code, out, _ = run_cli("evaluate", os.path.join(folder, "model.safetensors"), "--quiet")
    assert code == 0 and out.strip() == result_line(train_out)


def test_a_weights_file_moved_on_its_own_is_evaluated_from_its_metadata(default_run, tmp_path):
    folder, train_out = default_run
    shutil.copy(os.path.join(folder, "model.safetensors"), tmp_path / "alone.safetensors")
    code, out, _ = run_cli("evaluate", tmp_path / "alone.safetensors", "--quiet")
    assert code == 0 and out.strip() == result_line(train_out)


def test_binary_data_gets_one_logit_and_bce(cancer_run):
    with open(os.path.join(cancer_run, "model.json")) as handle:
        spec = json.load(handle)
    assert spec["task"] == {"type": "classification", "num_classes": 2, "loss": "bce", "out_features": 1,
                            "classes": ["malignant", "benign"]}  # fmt: skip
    code, out, _ = run_cli("evaluate", cancer_run)
    assert code == 0 and accuracy_of(out) > 0.8


def test_options_reach_the_model_the_optimizer_and_the_stop_criteria(tmp_path):
    folder = tmp_path / "run"
    code, _, err = run_cli("train", "--dataset", "moons", "--hidden", "16,8", "--activation", "tanh",
                           "--optimizer", "momentum", "--lr", "0.05", "--weight-decay", "0.001", "--epochs", "50",
                           "--target-loss", "0.5", "--val-split", "0", "--quiet", "--output", folder)  # fmt: skip
    assert code == 0, err
    spec = json.loads((folder / "model.json").read_text())
    assert spec["model"]["hidden"] == [16, 8] and spec["model"]["activation"] == "tanh"
    assert spec["training"]["optimizer"] == {"name": "momentum", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.001}
    assert spec["result"]["stop_reason"] == "target_loss" and spec["result"]["epochs_run"] < 50
    model = build_model(spec["model"])
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"
    ]  # fmt: skip


def test_the_plateau_rule_and_patience_zero(tmp_path):
    code, _, err = run_cli("train", "--dataset", "regression", "--hidden", "none", "--optimizer", "sgd",
                           "--lr", "1e-4", "--tol", "10", "--n-iter-no-change", "2", "--patience", "0", "--quiet",
                           "--output", tmp_path)  # fmt: skip
    assert code == 0, err
    spec = json.loads((tmp_path / "model.json").read_text())
    # tol=10 counts every epoch after the first as no improvement; scikit-learn's rule stops when the count
    # exceeds n_iter_no_change: at the fourth epoch
    assert spec["result"]["stop_reason"] == "plateau" and spec["result"]["epochs_run"] == 4
    assert spec["model"]["hidden"] == [] and spec["result"]["best_epoch"] is None


def test_a_csv_regression_is_standardized_and_reported_in_the_targets_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1.0, 100.0, 0.01]
    price = x @ [30.0, 0.2, 1000.0] + 500.0
    path = tmp_path / "houses.csv"
    with open(path, "w") as handle:
        handle.write("rooms,area,age,price\n")
        for row, target in zip(x, price):
            handle.write(",".join(f"{v:.6f}" for v in row) + f",{target:.4f}\n")
    folder = tmp_path / "run"
    code, out, err = run_cli("train", "--dataset", path, "--target", "price", "--hidden", "none", "--lr", "0.05",
                             "--epochs", "60", "--quiet", "--output", folder)  # fmt: skip
    assert code == 0, err
    match = re.fullmatch(r"test MSE: (\S+), R2: (\S+) \(40 samples\)", result_line(out))
    assert float(match.group(2)) > 0.99  # a linear target, learned by a linear model
    spec = json.loads((folder / "model.json").read_text())
    assert spec["preprocessing"]["x_mean"][1] == pytest.approx(x[:, 1].mean(), rel=0.2, abs=20)
    assert spec["preprocessing"]["y_std"][0] > 10  # the target's own scale, undone for the report
    code, again, _ = run_cli("evaluate", folder)
    assert code == 0 and result_line(again) == result_line(out)


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_an_mnist_folder_is_flattened_into_the_mlp(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 200), ("t10k", 50)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label : 2 * label + 3] = 255  # the class is which band of rows is lit
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", labels)
    folder = tmp_path / "run"
    code, out, err = run_cli("train", "--dataset", tmp_path, "--hidden", "32", "--epochs", "15", "--quiet",
                             "--output", folder)  # fmt: skip
    assert code == 0, err
    assert accuracy_of(out) >= 0.9
    spec = json.loads((folder / "model.json").read_text())
    assert spec["model"]["input_shape"] == [1, 28, 28] and spec["dataset"]["source"] == "mnist"
    code, again, _ = run_cli("evaluate", folder, "--quiet")
    assert again.strip() == result_line(out)


def test_an_npz_archive_already_split_keeps_its_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:])
    code, out, err = run_cli("train", "--dataset", tmp_path / "d.npz", "--epochs", "30", "--quiet",
                             "--output", tmp_path / "run")  # fmt: skip
    assert code == 0, err
    assert re.fullmatch(r"test accuracy: [\d.]+ \(\d+/20 correct\)", result_line(out))


def test_without_matplotlib_the_png_is_skipped_with_a_one_line_notice(tmp_path, monkeypatch):
    for name in [key for key in sys.modules if key == "matplotlib" or key.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run_cli("train", "--dataset", "moons", "--epochs", "2", "--quiet", "--output", tmp_path)
    assert code == 0
    assert len(err.strip().splitlines()) == 1 and "matplotlib" in err and "chainrule[plot]" in err
    assert sorted(os.listdir(tmp_path)) == ["diagnosis.json", "history.csv", "model.json", "model.safetensors"]
    assert result_line(out).startswith("test accuracy: ")


# -- bad input ------------------------------------------------------------------------------------------------


def assert_one_error_line(code: int, err: str, expected_code: int, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--dataset", "mnistt"], ["unknown dataset 'mnistt'", "digits", "breast_cancer"]),
        (["train", "--lr", "0"], ["--lr", "> 0", "'0'"]),
        (["train", "--lr", "-0.1"], ["--lr", "'-0.1'"]),
        (["train", "--lr", "fast"], ["--lr"]),
        (["train", "--epochs", "0"], ["--epochs"]),
        (["train", "--hidden", "64,x"], ["--hidden"]),
        (["train", "--val-split", "1"], ["--val-split"]),
        (["train", "--optimizer", "lbfgs"], ["--optimizer", "lbfgs"]),
        (["train", "--momentum", "0.9"], ["--momentum", "adam"]),
        (["train", "--val-split", "0", "--patience", "3"], ["--patience"]),
        (["train", "--dataset", "digits", "--loss", "mse"], ["--loss mse", "class labels"]),
        (["train", "--dataset", "digits", "--loss", "bce"], ["two classes"]),
        (["train", "--dataset", "diabetes", "--loss", "cross_entropy"], ["real-valued"]),
        (["train", "--dataset", "digits", "--target", "y"], ["--target"]),
        (["train", "--bogus"], ["--bogus", "chainrule train --help"]),
        ([], ["choose a command"]),
        (["evaluate"], ["RUN_OR_WEIGHTS"]),
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv, fragments):
    code, _, err = run_cli(*argv)
    assert_one_error_line(code, err, 2, *fragments)


def test_a_missing_file_is_one_line_with_status_1(tmp_path):
    code, _, err = run_cli("train", "--dataset", tmp_path / "missing.csv")
    assert_one_error_line(code, err, 1, "no such file", "missing.csv")
    code, _, err = run_cli("evaluate", tmp_path / "nowhere")
    assert_one_error_line(code, err, 1, "no such file or folder")
    code, _, err = run_cli("evaluate", tmp_path)
    assert_one_error_line(code, err, 1, "not a run folder")


def test_a_csv_with_a_bad_row_names_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,oops,0\n")
    code, _, err = run_cli("train", "--dataset", path)
    assert_one_error_line(code, err, 1, "line 4", "'oops' is not a number")


def test_weights_of_another_model_are_a_one_line_shape_mismatch(default_run, cancer_run, tmp_path):
    folder, _ = default_run
    run = tmp_path / "run"
    shutil.copytree(folder, run)
    shutil.copy(os.path.join(cancer_run, "model.safetensors"), run / "model.safetensors")
    code, _, err = run_cli("evaluate", run)
    assert_one_error_line(code, err, 1, "does not fit the model", "size mismatch", "(256, 64)")


def test_evaluating_on_data_of_another_shape_is_one_line(default_run):
    folder, _ = default_run
    code, _, err = run_cli("evaluate", folder, "--dataset", "wine")
    assert_one_error_line(code, err, 1, "inputs of shape (64,)", "'wine'")


def test_a_file_that_is_not_safetensors_is_one_line(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    code, _, err = run_cli("evaluate", path)
    assert_one_error_line(code, err, 1, "not a safetensors file")


# -- help ------------------------------------------------------------------------------------------------------


def test_help_describes_every_subcommand_and_option():
    code, out, _ = run_cli("--help")
    assert code == 0 and "train" in out and "evaluate" in out
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    out = " ".join(out.split())  # argparse wraps the help to the terminal's width
    for option in ("--dataset", "--target", "--hidden", "--activation", "--loss", "--optimizer", "--lr",
                   "--momentum", "--weight-decay", "--batch-size", "--epochs", "--target-loss", "--tol",
                   "--n-iter-no-change", "--patience", "--val-split", "--seed", "--output", "--quiet"):  # fmt: skip
        assert option in out
    assert "(default: 100)" in out and "(default: digits)" in out and "(default: adam)" in out
    code, out, _ = run_cli("evaluate", "--help")
    assert code == 0 and "RUN_OR_WEIGHTS" in out and "--dataset" in out


def test_python_dash_m_chainrule_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--lr", "-1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "chainrule: error: argument --lr: must be a number > 0, got '-1' (see 'chainrule train --help')"
    ]
    done = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: chainrule" in done.stdout


# -- the plot ------------------------------------------------------------------------------------------------


def test_plot_history_draws_a_png_from_a_history_or_a_dict(tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.plot import plot_history

    history = History()
    for epoch, (loss, val) in enumerate([(1.0, 1.1), (0.5, 0.7), (0.3, 0.6)]):
        history.record(epoch, {"loss": loss, "r2": 1 - loss, "val_loss": val, "val_r2": 1 - val, "lr": 0.1})
    history.best_epoch = 2
    written = plot_history(history, tmp_path / "h.png", title="t")
    with open(written, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
    plot_history({"loss": [1.0, float("nan"), 0.5]}, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ArgumentError, match="no curve named"):
        plot_history(history, tmp_path / "x.png", metrics=["accuracy"])
    with pytest.raises(ArgumentError, match="no 'loss' curve"):
        plot_history({"accuracy": [0.5]}, tmp_path / "x.png")


@pytest.mark.parametrize(
    ("model", "options", "expected_keys"),
    [
        ("cnn", ("--channels", "8"), {"2.weight", "4.weight", "6.weight", "9.weight"}),
        ("gru", ("--rnn-hidden", "4"), {"gru.weight_ih_l0", "gru.weight_hh_l0_reverse", "linear.weight"}),
    ],
)
def test_cnn_and_gru_models_learn_mnist1d_and_evaluate_the_same(tmp_path, model, options, expected_keys):
    folder = str(tmp_path / model)
    code, out, _ = run_cli(
        "train", "--dataset", "mnist1d", "--model", model, *options, "--epochs", "8", "--output", folder
    )
    assert code == 0
    assert accuracy_of(out) > 0.25  # chance is 0.10; a few epochs of either model are well above it
    spec = json.loads(open(os.path.join(folder, "model.json")).read())
    assert spec["model"]["kind"] == model
    assert expected_keys <= set(build_model(spec["model"]).state_dict())
    code, evaluated, _ = run_cli("evaluate", folder)
    assert code == 0 and result_line(evaluated) == result_line(out)


def test_cnn_rejects_inputs_too_short_for_its_convolutions(tmp_path):
    np.savez(tmp_path / "short.npz", x=np.zeros((20, 2), np.float32), y=np.arange(20) % 2)
    code, _, err = run_cli("train", "--dataset", str(tmp_path / "short.npz"), "--model", "cnn")
    assert_one_error_line(code, err, 2, "too short")


def test_train_writes_the_diagnosis_and_doctor_reads_it(default_run):
    folder, _ = default_run
    assert os.path.exists(os.path.join(folder, "diagnosis.json"))
    code, out, _ = run_cli("doctor", folder)
    assert code == 0
    assert "diagnosis.json" in out and "Doctor" in out


def test_doctor_on_a_missing_folder_is_one_line(tmp_path):
    code, _, err = run_cli("doctor", str(tmp_path / "absent"))
    assert_one_error_line(code, err, 1, "absent")
