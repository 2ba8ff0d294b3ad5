"""The `chainrule` command (also `python -m chainrule`): train a network on a dataset, evaluate a saved one.

    chainrule train [--dataset digits] [--hidden 128] [--optimizer adam] ... [--output DIR]
    chainrule evaluate RUN_FOLDER_OR_WEIGHTS [--dataset ...]

`train` writes a run folder (by default `runs/<dataset>-<YYYYmmdd-HHMMSS>` under the current folder):
- model.safetensors: the weights (`chainrule.save` of the model's state_dict; PyTorch reads it too);
- model.json: what rebuilds the model and its data: the architecture, the task and loss, the dataset and its
  split, the preprocessing fitted on the training part, the training settings and the test results (the same
  JSON is stored in the weights file's metadata, so a weights file moved on its own can still be evaluated);
- history.csv: one row per epoch (`History.to_csv`);
- curves.png: loss and metric curves, training and validation (needs matplotlib, the `chainrule[plot]` extra;
  without it a one-line notice says so and the rest is written).

Exit status: 0 on success; 2 for a usage error (an unknown option or dataset, a value out of range, a loss that
does not fit the data); 1 for a data or file error (a missing file, a malformed CSV row, weights that do not fit
the model), reported as one line `chainrule: error: ...` on stderr; 130 when interrupted. Errors that are not
chainrule's or the operating system's are bugs, and keep their traceback.

Models are built by kind from model.json's "model" entry: `MODEL_KINDS` maps a kind ('mlp') to how its
options are read from the command line, how it is built and how it is described; a new kind is one entry there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ArgumentError, ChainruleError, MissingDependencyError
from chainrule.threads import get_num_threads, num_threads

__all__ = ["MODEL_KINDS", "ModelKind", "build_model", "build_parser", "main"]

PROG = "chainrule"
RUN_FORMAT = "chainrule.run"
RUN_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
SPEC_FILE = "model.json"
HISTORY_FILE = "history.csv"
PLOT_FILE = "curves.png"
DEFAULT_DATASET = "digits"
EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command line that cannot work (exit status 2), found after parsing: e.g. a loss that does not fit the
    dataset's task."""


# -- option values ------------------------------------------------------------------------------------------


def _number(text: str, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"< {high:g}")
        raise argparse.ArgumentTypeError(
            f"must be a number{' ' + ' and '.join(bounds) if bounds else ''}, got {text!r}"
        )
    return value


def _integer(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, 0.0, low_open=True)


def non_negative_float(text: str) -> float:
    return _number(text, 0.0)


def finite_float(text: str) -> float:
    return _number(text)


def fraction_or_zero(text: str) -> float:
    return _number(text, 0.0, 1.0)


def open_fraction(text: str) -> float:
    return _number(text, 0.0, 1.0, low_open=True)


def positive_int(text: str) -> int:
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    return _integer(text, 0)


def layer_sizes(text: str) -> list[int]:
    """'64,64' -> [64, 64]; '' or 'none' -> [] (no hidden layer: a linear model)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = [0]
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive layer widths such as 64,64 (or 'none'), got {text!r}"
        )
    return sizes


# -- datasets -----------------------------------------------------------------------------------------------

_DATASET_ALIASES = {"two_moons": "moons"}  # the function's name for the registry's
_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")


def _builtin_names() -> list[str]:
    from chainrule.data import available_datasets

    return list(available_datasets())


def dataset_source(value: str, target: str | None, task: str, seed: int, test_size: float) -> dict[str, Any]:
    """The JSON description of `--dataset value`: a built-in name, a .csv/.npz file, or an MNIST IDX folder.
    Raises UsageError for a name that is none of these, FileNotFoundError for a path that does not exist."""
    name = _DATASET_ALIASES.get(value, value)
    builtins = _builtin_names()
    split = {"seed": seed, "test_size": test_size}
    if name in builtins:
        if target is not None or task != "auto":
            raise UsageError(f"--target and --task apply to CSV files; {name!r} is a built-in dataset")
        return {"source": "builtin", "name": name, **_builtin_split(name, seed, test_size)}
    path = os.path.abspath(os.path.expanduser(value))
    lower = value.lower()
    if os.path.isdir(path):
        if target is not None or task != "auto":
            raise UsageError("--target and --task apply to CSV files, not to an MNIST folder")
        return {"source": "mnist", "path": path}
    if lower.endswith(_CSV_SUFFIXES) or lower.endswith(".npz"):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file: {value}")
        if lower.endswith(".npz"):
            if target is not None or task != "auto":
                raise UsageError("--target and --task apply to CSV files, not to .npz archives")
            return {"source": "npz", "path": path, **split}
        return {"source": "csv", "path": path, "target": target, "task": task, **split}
    if os.path.exists(path):
        raise UsageError(
            f"cannot tell the format of {value!r}: expected a .csv or .npz file, or a folder of MNIST IDX files"
        )
    if os.sep in value or "/" in value or "." in value:
        raise FileNotFoundError(f"no such file or folder: {value}")
    raise UsageError(
        f"unknown dataset {value!r}; the built-in datasets are {', '.join(builtins)} "
        "(or give a path to a .csv or .npz file, or to a folder of MNIST IDX files)"
    )


def _dataset_label(source: dict[str, Any]) -> str:
    if source["source"] == "builtin":
        return source["name"]
    base = os.path.basename(source["path"].rstrip(os.sep))
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".npz"):
        base = base.removesuffix(suffix)
    return base or source["source"]


def _csv_target(target: str | None) -> int | str:
    if target is None:
        return -1
    stripped = target.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    return stripped


def _split(data: Any, source: dict[str, Any]) -> tuple[Any, Any]:
    """(train, test) parts of a file's (X, y), stratified for class labels when every class has two samples."""
    from chainrule.data import LabeledData, train_test_split

    x, y = data
    if y is None:
        raise ArgumentError(f"{source['path']} holds no target (y); the command needs inputs and targets")
    stratify = None
    if y.ndim == 1 and y.dtype.kind in "iu" and np.unique(y, return_counts=True)[1].min() >= 2:
        stratify = y
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=source["test_size"], seed=source["seed"], stratify=stratify
    )
    keep = {"feature_names": data.feature_names, "target_name": data.target_name, "classes": data.classes}
    return LabeledData(x_train, y_train, **keep), LabeledData(x_test, y_test, **keep)


def _builtin_split(name: str, seed: int, test_size: float) -> dict[str, Any]:
    """The seed and test_size of a built-in dataset's train/test split, for those whose split they set; a dataset
    without test_size (mnist1d) has a fixed split, and its seed defines the data itself: it keeps its default."""
    import inspect

    from chainrule.data import datasets

    function = datasets._REGISTRY[name][0]  # the registry's loader; there is no public accessor
    if "test_size" not in inspect.signature(function).parameters:
        return {}
    return {"seed": seed, "test_size": test_size}


def _npz_keys(path: str) -> set[str]:
    """The names of the arrays in an .npz archive (a zip of .npy files); empty when it is not one (load_npz then
    says what is wrong with it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name.removesuffix(".npy") for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return set()


def load_dataset(source: dict[str, Any], test_only: bool = False) -> tuple[Any, Any]:
    """(train, test) LabeledData of a dataset description (train is None with test_only, where that is cheaper)."""
    from chainrule import data

    kind = source["source"]
    if kind == "builtin":
        split = {key: source[key] for key in ("seed", "test_size") if key in source}
        train = None if test_only else data.get_dataset(source["name"], split="train", **split)
        return train, data.get_dataset(source["name"], split="test", **split)
    if kind == "mnist":
        train = None if test_only else data.load_mnist(source["path"], split="train")
        return train, data.load_mnist(source["path"], split="test")
    if kind == "csv":
        delimiter = "\t" if source["path"].lower().endswith((".tsv", ".tsv.gz")) else ","
        table = data.load_csv(
            source["path"], target=_csv_target(source.get("target")), task=source.get("task", "auto"),
            delimiter=delimiter,
        )  # fmt: skip
        return _split(table, source)
    if kind == "npz":
        if {"x_train", "y_train", "x_test", "y_test"} <= _npz_keys(
            source["path"]
        ):  # split already, as Keras's mnist.npz
            train = None if test_only else data.load_npz(source["path"], "x_train", "y_train")
            return train, data.load_npz(source["path"], "x_test", "y_test")
        return _split(data.load_npz(source["path"]), source)
    raise ArgumentError(f"model.json: unknown dataset source {kind!r}; expected builtin, mnist, csv or npz")


# -- the task: what is predicted, with which loss --------------------------------------------------------------

LOSSES = ("auto", "cross_entropy", "bce", "mse", "l1", "huber")
REGRESSION_LOSSES = ("mse", "l1", "huber")


def resolve_task(train: Any, test: Any, source: dict[str, Any], loss: str) -> dict[str, Any]:
    """{'type', 'num_classes', 'loss', 'out_features', 'classes'} for the data and the requested loss."""
    y = train.y
    label = _dataset_label(source)
    if y is None:
        raise ArgumentError(f"dataset {label!r} holds no target")
    if y.ndim == 1 and y.dtype.kind in "iu":
        classes = train.classes
        if classes is not None:
            num_classes = len(classes)
        elif source["source"] == "builtin":
            from chainrule.data import dataset_info

            num_classes = dataset_info(source["name"]).num_outputs
        else:
            num_classes = int(max(y.max(), test.y.max())) + 1
        if num_classes < 2:
            raise ArgumentError(f"dataset {label!r} has a single class; classification needs at least two")
        if loss in REGRESSION_LOSSES:
            hint = " (or read its target as numbers with --task regression)" if source["source"] == "csv" else ""
            raise UsageError(
                f"--loss {loss} is for a real-valued target; {label!r} holds class labels: use cross_entropy"
                + (" or bce" if num_classes == 2 else "")
                + hint
            )
        if loss == "bce" and num_classes != 2:
            raise UsageError(f"--loss bce is for two classes; {label!r} has {num_classes}: use cross_entropy")
        if loss == "auto":
            loss = "bce" if num_classes == 2 else "cross_entropy"
        out_features = 1 if loss == "bce" else num_classes
        return {
            "type": "classification",
            "num_classes": num_classes,
            "loss": loss,
            "out_features": out_features,
            "classes": None if classes is None else list(classes),
        }
    if loss in ("cross_entropy", "bce"):
        raise UsageError(f"--loss {loss} is for class labels; {label!r} has a real-valued target: use mse, l1 or huber")
    out_features = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    return {
        "type": "regression",
        "num_classes": None,
        "loss": "mse" if loss == "auto" else loss,
        "out_features": out_features,
        "classes": None,
    }


def make_loss(name: str) -> Any:
    from chainrule import nn

    losses = {
        "cross_entropy": nn.CrossEntropyLoss,
        "bce": nn.BCEWithLogitsLoss,
        "mse": nn.MSELoss,
        "l1": nn.L1Loss,
        "huber": nn.HuberLoss,
    }
    if name not in losses:
        raise ArgumentError(f"model.json: unknown loss {name!r}; expected one of {', '.join(losses)}")
    return losses[name]()


# -- preprocessing: statistics of the training part, applied to every part ---------------------------------


def fit_preprocessing(train: Any, source: dict[str, Any], task: dict[str, Any]) -> dict[str, Any] | None:
    """Standardization for the user's own tables (.csv, .npz with one row of features per sample): each feature,
    and a real target, by the training part's mean and standard deviation. Built-in datasets come standardized
    already, and MNIST's pixels scaled to [0, 1]."""
    if source["source"] not in ("csv", "npz") or train.X.ndim != 2:
        return None
    x = train.X.astype(np.float64)
    prep: dict[str, Any] = {"x_mean": x.mean(axis=0).tolist(), "x_std": _std(x).tolist()}
    if task["type"] == "regression":
        y = train.y.astype(np.float64).reshape(len(train.y), -1)
        prep["y_mean"] = y.mean(axis=0).tolist()
        prep["y_std"] = _std(y).tolist()
    return prep


def _std(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    std[std == 0] = 1.0  # constant columns are only centred
    return std


def model_inputs(x: np.ndarray, prep: dict[str, Any] | None, label: str) -> np.ndarray:
    if prep is None or "x_mean" not in prep:
        return x.astype(np.float32, copy=False)
    mean = np.asarray(prep["x_mean"], dtype=np.float64)
    std = np.asarray(prep["x_std"], dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != mean.size:
        raise ArgumentError(
            f"the model was trained on {mean.size} input features; dataset {label!r} has inputs of shape "
            f"{tuple(x.shape[1:])}"
        )
    return ((x - mean) / std).astype(np.float32)


def training_targets(y: np.ndarray, task: dict[str, Any], prep: dict[str, Any] | None) -> np.ndarray:
    """The target as the loss takes it: class indices (N,) int64 for cross_entropy, 0/1 float32 (N, 1) for bce,
    float32 (N, out) for regression (standardized with the training statistics when there are some)."""
    if task["type"] == "classification":
        return y.astype(np.float32).reshape(-1, 1) if task["loss"] == "bce" else y.astype(np.int64, copy=False)
    y = y.astype(np.float64).reshape(len(y), -1)
    if prep is not None and "y_mean" in prep:
        y = (y - np.asarray(prep["y_mean"])) / np.asarray(prep["y_std"])
    return y.astype(np.float32)


# -- models -----------------------------------------------------------------------------------------------------

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu")


def _activation(name: str) -> Any:
    from chainrule import nn

    modules = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
    }
    if name not in modules:
        raise ArgumentError(f"model.json: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return modules[name]()


@dataclass(frozen=True)
class ModelKind:
    """One kind of model the command builds.

    configure(args, input_shape, out_features) -> the model's JSON config (it must hold 'kind', 'input_shape'
    and 'out_features'); build(config) -> the Module; describe(config) -> a short text such as 'mlp 64-256-10
    (relu)'."""

    help: str
    configure: Callable[[argparse.Namespace, tuple[int, ...], int], dict[str, Any]]
    build: Callable[[dict[str, Any]], Any]
    describe: Callable[[dict[str, Any]], str]


def _mlp_configure(args: argparse.Namespace, input_shape: tuple[int, ...], out_features: int) -> dict[str, Any]:
    return {
        "kind": "mlp",
        "input_shape": list(input_shape),
        "hidden": list(args.hidden),
        "activation": args.activation,
        "out_features": out_features,
    }


def _mlp_build(config: dict[str, Any]) -> Any:
    """Linear layers with the activation between them; inputs of more than one dim (images) are flattened."""
    from chainrule import nn

    input_shape = [int(s) for s in config["input_shape"]]
    layers: list[Any] = [nn.Flatten()] if len(input_shape) > 1 else []
    width = math.prod(input_shape)
    for size in config["hidden"]:
        layers += [nn.Linear(width, int(size)), _activation(config["activation"])]
        width = int(size)
    layers.append(nn.Linear(width, int(config["out_features"])))
    return nn.Sequential(*layers)


def _mlp_describe(config: dict[str, Any]) -> str:
    widths = [math.prod(config["input_shape"]), *config["hidden"], config["out_features"]]
    return f"mlp {'-'.join(str(w) for w in widths)}" + (f" ({config['activation']})" if config["hidden"] else "")


def _signal_shape(input_shape: list[int]) -> tuple[int, int]:
    """(channels, length) of a sample read as a 1-D signal: features (F,) are one channel of length F;
    images (C, H, W) are C*H channels (rows stacked) of length W."""
    if len(input_shape) == 1:
        return 1, input_shape[0]
    return math.prod(input_shape[:-1]), input_shape[-1]


def _conv_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


# The MNIST-1D reference CNN's stack (Greydanus 2020): three Conv1d, kernel 5/3/3, stride 2, padding 1.
_CNN_KERNELS = (5, 3, 3)


def _cnn_configure(args: argparse.Namespace, input_shape: tuple[int, ...], out_features: int) -> dict[str, Any]:
    _, length = _signal_shape(list(input_shape))
    for kernel in _CNN_KERNELS:
        length = _conv_length(length, kernel, 2, 1)
        if length < 1:
            raise UsageError(
                f"--model cnn: inputs of shape {tuple(input_shape)} are too short for three stride-2 convolutions"
            )
    return {
        "kind": "cnn",
        "input_shape": list(input_shape),
        "channels": int(args.channels),
        "activation": args.activation,
        "out_features": out_features,
    }


def _cnn_build(config: dict[str, Any]) -> Any:
    """Conv1d(k=5) - act - Conv1d(k=3) - act - Conv1d(k=3) - act (stride 2, padding 1) - Flatten - Linear."""
    channels, length = _signal_shape([int(s) for s in config["input_shape"]])
    width = int(config["channels"])
    layers: list[Any] = [nn.Flatten(), nn.Unflatten(1, (channels, length))]
    for kernel in _CNN_KERNELS:
        layers += [nn.Conv1d(channels, width, kernel, stride=2, padding=1), _activation(config["activation"])]
        channels, length = width, _conv_length(length, kernel, 2, 1)
    layers += [nn.Flatten(), nn.Linear(channels * length, int(config["out_features"]))]
    return nn.Sequential(*layers)


def _cnn_describe(config: dict[str, Any]) -> str:
    return f"cnn 3 x Conv1d({config['channels']}) ({config['activation']})"


def _gru_configure(args: argparse.Namespace, input_shape: tuple[int, ...], out_features: int) -> dict[str, Any]:
    return {
        "kind": "gru",
        "input_shape": list(input_shape),
        "hidden_size": int(args.rnn_hidden),
        "out_features": out_features,
    }


class GRUClassifier(nn.Module):
    """A bidirectional GRU over a signal's positions, all its outputs flattened into one Linear layer (the
    MNIST-1D reference GRU's head). x: (N, *input_shape) -> logits (N, out_features)."""

    def __init__(self, input_shape: Sequence[int], hidden_size: int, out_features: int) -> None:
        super().__init__()
        self.channels, self.length = _signal_shape([int(s) for s in input_shape])
        self.gru = nn.GRU(self.channels, hidden_size, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(self.length * 2 * hidden_size, out_features)

    def forward(self, x: Any) -> Any:
        # (N, channels, length) -> (N, length, channels): one time step per position of the signal.
        sequence = x.reshape(x.shape[0], self.channels, self.length).transpose(1, 2)
        output, _ = self.gru(sequence)
        return self.linear(output.reshape(x.shape[0], -1))


def _gru_build(config: dict[str, Any]) -> Any:
    return GRUClassifier(config["input_shape"], int(config["hidden_size"]), int(config["out_features"]))


def _gru_describe(config: dict[str, Any]) -> str:
    return f"gru bidirectional, hidden {config['hidden_size']}"


MODEL_KINDS: dict[str, ModelKind] = {
    "mlp": ModelKind("a multi-layer perceptron (--hidden, --activation)", _mlp_configure, _mlp_build, _mlp_describe),
    "cnn": ModelKind(
        "three stride-2 Conv1d layers over the features read as a signal, then a Linear layer (--channels, "
        "--activation)",
        _cnn_configure,
        _cnn_build,
        _cnn_describe,
    ),
    "gru": ModelKind(
        "a bidirectional GRU over the features read as a sequence, then a Linear layer over all its outputs "
        "(--rnn-hidden)",
        _gru_configure,
        _gru_build,
        _gru_describe,
    ),
}


def build_model(config: dict[str, Any]) -> Any:
    """The Module a model config (model.json's "model" entry) describes, freshly initialised."""
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in MODEL_KINDS:
        raise ArgumentError(
            f"model.json: unknown model kind {kind!r}; this chainrule builds {', '.join(map(repr, MODEL_KINDS))}"
        )
    try:
        return MODEL_KINDS[kind].build(config)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ChainruleError):
            raise
        raise ArgumentError(
            f"model.json: the {kind!r} model's description is incomplete or malformed ({error!r})"
        ) from None


def describe_model(config: dict[str, Any]) -> str:
    return MODEL_KINDS[config["kind"]].describe(config)


# -- optimizers -----------------------------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad")
_DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.01}
_TAKES_MOMENTUM = ("sgd", "momentum", "rmsprop")


def optimizer_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The optimizer's name and hyper-parameters, defaults filled in."""
    name = args.optimizer
    if args.momentum is not None and name not in _TAKES_MOMENTUM:
        raise UsageError(f"--momentum applies to {', '.join(_TAKES_MOMENTUM)}, not to {name}")
    settings: dict[str, Any] = {"name": name, "lr": args.lr if args.lr is not None else _DEFAULT_LR[name]}
    if name in _TAKES_MOMENTUM:
        settings["momentum"] = args.momentum if args.momentum is not None else (0.9 if name == "momentum" else 0.0)
    if args.weight_decay is not None:
        settings["weight_decay"] = args.weight_decay
    return settings


def make_optimizer(settings: dict[str, Any], params: Any) -> Any:
    from chainrule import optim

    kwargs = {key: value for key, value in settings.items() if key != "name"}
    classes = {
        "sgd": optim.SGD,
        "momentum": optim.SGD,
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "rmsprop": optim.RMSprop,
        "adagrad": optim.Adagrad,
    }
    return classes[settings["name"]](params, **kwargs)


# -- results --------------------------------------------------------------------------------------------------


def score(model: Any, x: np.ndarray, y: np.ndarray, task: dict[str, Any], prep: dict[str, Any] | None) -> dict:
    """Accuracy (classification) or MSE and R² (regression, in the target's own units) of `model` on (x, y)."""
    from chainrule.train import predict, r2

    output = predict(model, x, batch_size=512).numpy().astype(np.float64)
    n = len(y)
    if task["type"] == "classification":
        predicted = (output[:, 0] > 0).astype(np.int64) if task["loss"] == "bce" else output.argmax(axis=1)
        correct = int(np.count_nonzero(predicted == y))
        return {"samples": n, "accuracy": correct / n, "correct": correct}
    target = y.astype(np.float64).reshape(n, -1)
    output = output.reshape(n, -1)
    if prep is not None and "y_mean" in prep:
        output = output * np.asarray(prep["y_std"]) + np.asarray(prep["y_mean"])
    error = output - target
    return {"samples": n, "mse": float(np.mean(error * error)), "r2": float(r2(output, target))}


def results_line(results: dict[str, Any]) -> str:
    if "accuracy" in results:
        return f"test accuracy: {results['accuracy']:.4f} ({results['correct']}/{results['samples']} correct)"
    return f"test MSE: {results['mse']:.4g}, R2: {results['r2']:.4f} ({results['samples']} samples)"


def _check_inputs(x: np.ndarray, config: dict[str, Any], label: str) -> None:
    expected = tuple(int(s) for s in config["input_shape"])
    if tuple(x.shape[1:]) != expected and x[0].size != math.prod(expected):
        raise ArgumentError(
            f"the model takes inputs of shape {expected}; dataset {label!r} has inputs of shape {tuple(x.shape[1:])}"
        )


def _check_targets(y: np.ndarray, task: dict[str, Any], label: str) -> None:
    if task["type"] == "classification":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ArgumentError(f"the model is a classifier; dataset {label!r} has a real-valued target")
        if len(y) and (y.min() < 0 or y.max() >= task["num_classes"]):
            raise ArgumentError(
                f"the model knows {task['num_classes']} classes; dataset {label!r} has labels from {y.min()} to "
                f"{y.max()}"
            )


# -- train --------------------------------------------------------------------------------------------------


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


def _notice(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _output_folder(args: argparse.Namespace, label: str) -> str:
    if args.output is not None:
        folder = os.path.expanduser(args.output)
    else:
        base = os.path.join("runs", f"{label}-{time.strftime('%Y%m%d-%H%M%S')}")
        folder, count = base, 1
        while os.path.exists(folder):
            count += 1
            folder = f"{base}-{count}"
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise FileExistsError(f"--output {folder} exists and is not a folder")
    os.makedirs(folder, exist_ok=True)
    return folder


_STOP_TEXT = {
    "max_epochs": "ran all {epochs} epochs",
    "target_loss": "the training loss fell below --target-loss {target_loss:g}",
    "plateau": "the training loss improved by less than --tol {tol:g} for {n_iter_no_change} epochs",
    "early_stopping": "the validation loss did not improve for {patience} epochs",
    "nan": "the loss became NaN or infinite (try a smaller --lr); kept the weights from before",
    "interrupted": "interrupted",
}


def _stop_text(history: Any, settings: dict[str, Any]) -> str:
    template = _STOP_TEXT.get(history.stop_reason, "{reason}")
    text = template.format(reason=history.stop_reason, **settings)
    if history.best_epoch is not None and history.best_epoch != history.epoch[-1]:
        text += f"; kept the weights of epoch {history.best_epoch + 1} (lowest validation loss)"
    return text


def train_command(args: argparse.Namespace) -> int:
    import chainrule as cr
    from chainrule.train import EarlyStopping, fit

    if args.val_split == 0 and args.patience:
        raise UsageError("--patience stops on the validation loss; it needs --val-split > 0")
    patience = (10 if args.patience is None else args.patience) if args.val_split > 0 else 0
    optimizer_config = optimizer_settings(args)

    source = dataset_source(args.dataset, args.target, args.task, args.seed, args.test_size)
    label = _dataset_label(source)
    started = time.perf_counter()
    train, test = load_dataset(source)
    task = resolve_task(train, test, source, args.loss)
    prep = fit_preprocessing(train, source, task)
    x_train, y_train = model_inputs(train.X, prep, label), training_targets(train.y, task, prep)
    x_test = model_inputs(test.X, prep, label)

    cr.manual_seed(args.seed)
    config = MODEL_KINDS[args.model].configure(args, tuple(x_train.shape[1:]), task["out_features"])
    model = build_model(config)
    loss_fn = make_loss(task["loss"])
    optimizer = make_optimizer(optimizer_config, model.parameters())
    folder = _output_folder(args, label)

    n_val = len(x_train) - math.ceil(len(x_train) * (1.0 - args.val_split)) if args.val_split > 0 else 0
    lr_text = ", ".join(f"{k} {v:g}" for k, v in optimizer_config.items() if k != "name")
    _say(
        args,
        f"{label}: {len(x_train) - n_val} training samples, {n_val} for validation, {len(x_test)} for testing; "
        f"{describe_model(config)}, loss {task['loss']}, {optimizer_config['name']} ({lr_text})",
    )
    metrics = ["accuracy"] if task["type"] == "classification" else ["r2"]
    early_stopping = EarlyStopping("val_loss", patience=patience, restore_best_weights=True) if patience else None
    history = fit(
        model, loss_fn, optimizer, (x_train, y_train),
        val_split=args.val_split if args.val_split > 0 else None,
        epochs=args.epochs, batch_size=args.batch_size, metrics=metrics, target_loss=args.target_loss,
        tol=args.tol, n_iter_no_change=args.n_iter_no_change, early_stopping=early_stopping,
        verbose=0 if args.quiet else 1,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    results = score(model, x_test, test.y, task, prep)
    stopping = {
        "epochs": args.epochs,
        "patience": patience,
        "target_loss": args.target_loss,
        "tol": args.tol,
        "n_iter_no_change": args.n_iter_no_change,
    }
    _say(args, f"stopped after {len(history)} epochs in {seconds:.1f} s: {_stop_text(history, stopping)}")

    spec = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "chainrule_version": cr.__version__,
        "model": config,
        "task": task,
        "dataset": source,
        "preprocessing": prep,
        "training": {
            "optimizer": optimizer_config,
            "batch_size": args.batch_size,
            "val_split": args.val_split,
            "seed": args.seed,
            **stopping,
        },
        "result": {
            "epochs_run": len(history),
            "stop_reason": history.stop_reason,
            "best_epoch": history.best_epoch,
            "seconds": round(seconds, 3),
            "test": results,
        },
    }
    text = _json_text(spec)
    cr.io.save(
        model.state_dict(), os.path.join(folder, WEIGHTS_FILE), metadata={"format": RUN_FORMAT, RUN_FORMAT: text}
    )
    with open(os.path.join(folder, SPEC_FILE), "w") as handle:
        handle.write(text + "\n")
    history.to_csv(os.path.join(folder, HISTORY_FILE))
    written = [WEIGHTS_FILE, SPEC_FILE, HISTORY_FILE]
    if len(history):  # no curves when the first epoch was interrupted
        try:
            from chainrule.plot import plot_history

            plot_history(history, os.path.join(folder, PLOT_FILE), title=f"{label}: {describe_model(config)}")
            written.append(PLOT_FILE)
        except MissingDependencyError:
            _notice(f'note: matplotlib is not installed, so {PLOT_FILE} was skipped (pip install "chainrule[plot]")')

    from chainrule.diagnostics import save_run_diagnostics

    # diagnosis.json, lr.png and gradients.png, for `chainrule doctor`; curves.png already holds the losses.
    diagnostics = save_run_diagnostics(folder, history, which=("lr", "gradients"))
    written += [os.path.basename(path) for path in diagnostics]
    print(results_line(results), flush=True)
    _say(args, f"wrote {folder}: {', '.join(written)}")
    _say(args, f"evaluate it with: {PROG} evaluate {folder}")
    return EXIT_INTERRUPTED if history.stop_reason == "interrupted" else EXIT_OK


def _json_text(value: Any, indent: str = "") -> str:
    """JSON with one key per line, and lists of numbers or strings on one line (the preprocessing statistics
    of a wide table stay readable)."""
    if isinstance(value, dict) and value:
        inner = indent + "  "
        items = [f"{inner}{json.dumps(str(key))}: {_json_text(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _json_text(item, inner) for item in value) + "\n" + indent + "]"
    return json.dumps(value)


# -- evaluate -------------------------------------------------------------------------------------------------


def _read_spec(path: str, text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArgumentError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(spec, dict) or spec.get("format") != RUN_FORMAT:
        raise ArgumentError(f'{path} is not a chainrule run description (no "format": "{RUN_FORMAT}")')
    if spec.get("format_version") != RUN_FORMAT_VERSION:
        raise ArgumentError(
            f"{path} has format_version {spec.get('format_version')!r}; this chainrule reads {RUN_FORMAT_VERSION}"
        )
    for key in ("model", "task", "dataset"):
        if not isinstance(spec.get(key), dict):
            raise ArgumentError(f"{path} lacks the {key!r} entry")
    return spec


def locate_run(path: str) -> tuple[str, dict[str, Any], str]:
    """(weights file, run description, where the description came from) for a run folder or a weights file.

    A folder holds model.safetensors and model.json. For a weights file, the description is the model.json
    next to it, or else the one stored in the file's metadata by `chainrule train`."""
    from chainrule import io

    path = os.path.expanduser(path)
    if os.path.isdir(path):
        weights = os.path.join(path, WEIGHTS_FILE)
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"{path} is not a run folder: it has no {WEIGHTS_FILE}")
    elif os.path.isfile(path):
        weights = path
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
    spec_path = os.path.join(os.path.dirname(weights), SPEC_FILE)
    if os.path.isfile(spec_path):
        with open(spec_path) as handle:
            return weights, _read_spec(spec_path, handle.read()), spec_path
    metadata = io.load_metadata(weights)
    if RUN_FORMAT not in metadata:
        raise ArgumentError(
            f"{weights} does not say which model it belongs to: there is no {SPEC_FILE} next to it and its metadata "
            "holds no model description (weights written by chainrule train carry both)"
        )
    return weights, _read_spec(f"the metadata of {weights}", metadata[RUN_FORMAT]), f"the metadata of {weights}"


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    out = ""
    for line in lines:
        out += line if not out else (" " if out.endswith(":") else "; ") + line
    return out


def evaluate_command(args: argparse.Namespace) -> int:
    from chainrule import io

    weights, spec, spec_where = locate_run(args.path)
    config, task, prep = spec["model"], spec["task"], spec.get("preprocessing")
    model = build_model(config)
    try:
        model.load_state_dict(io.load(weights))
    except ChainruleError as error:
        raise ArgumentError(
            f"{weights} does not fit the model described in {spec_where}: {_one_line(str(error))}"
        ) from None

    source = spec["dataset"]
    if args.dataset is not None:
        split = {"seed": source.get("seed", 0), "test_size": source.get("test_size", 0.2)}
        source = dataset_source(args.dataset, args.target, args.task, split["seed"], split["test_size"])
    elif args.target is not None or args.task != "auto":
        raise UsageError("--target and --task go with --dataset")
    label = _dataset_label(source)
    _, test = load_dataset(source, test_only=True)
    if test.y is None:
        raise ArgumentError(f"dataset {label!r} holds no target")
    _check_targets(test.y, task, label)
    x = model_inputs(test.X, prep, label)
    _check_inputs(x, config, label)
    if x.shape[1:] != tuple(config["input_shape"]):
        x = x.reshape(len(x), *config["input_shape"])
    _say(args, f"{describe_model(config)} from {weights}, on the test split of {label} ({len(x)} samples)")
    print(results_line(score(model, x, test.y, task, prep)), flush=True)
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions kept as written; '(default: X)' appended to options whose default is a value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "(default" not in text
            and default is not None
            and default is not argparse.SUPPRESS
            and default is not False
            and action.option_strings
        ):
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
            text += f" (default: {shown})"
        return text


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


_TRAIN_DESCRIPTION = """\
Train a network on a dataset and report its accuracy (or MSE and R2) on the test split.

With no options: an MLP (64-256-10, ReLU, Adam) on scikit-learn's 8x8 handwritten digits, stopped early on the
validation loss; about 97% test accuracy in a few seconds.

The run folder (--output; by default runs/<dataset>-<YYYYmmdd-HHMMSS>) receives model.safetensors (the
weights), model.json (architecture, task, data split, preprocessing, settings, results), history.csv (one row
per epoch) and curves.png (loss and accuracy curves; needs matplotlib, pip install "chainrule[plot]").

Losses (--loss auto): class labels get cross_entropy, or bce (binary cross-entropy on one logit) for two
classes; real-valued targets get mse. CSV and .npz features (and real targets) are standardized with the
training part's statistics, stored in model.json."""

_TRAIN_EPILOG = """\
examples:
  chainrule train
  chainrule train --dataset breast_cancer --hidden 32 --output runs/cancer
  chainrule train --dataset diabetes --hidden 32,32 --loss huber
  chainrule train --dataset data.csv --target price --optimizer momentum --lr 0.01
  chainrule train --dataset ~/data/mnist --epochs 5 --batch-size 128"""

_EVALUATE_DESCRIPTION = """\
Rebuild a trained model from its run folder (model.json and model.safetensors), or from a weights file written
by chainrule train, and report its accuracy (or MSE and R2) on a dataset's test split: by default the dataset it
was trained on, split as it was then."""


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        metavar="NAME_OR_PATH",
        help=f"a built-in dataset ({', '.join(_builtin_names())}), a .csv or .npz file, or a folder of MNIST IDX files",
    )
    data.add_argument(
        "--target", help="the CSV's target column, by name or index (0-based, negative from the end; default: last)"
    )
    data.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="how a CSV's target is read: auto takes non-negative whole numbers and text as class labels",
    )
    data.add_argument(
        "--test-size", type=open_fraction, default=0.2, help="the fraction held out for testing (not for MNIST)"
    )
    data.add_argument(
        "--val-split",
        type=fraction_or_zero,
        default=0.1,
        help="the fraction of the training part held out for validation (its last samples); 0 for none",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=tuple(MODEL_KINDS),
        default="mlp",
        help="the kind of network: " + "; ".join(f"{name}: {kind.help}" for name, kind in MODEL_KINDS.items()),
    )
    model.add_argument(
        "--hidden",
        type=layer_sizes,
        default=[256],
        metavar="SIZES",
        help="hidden layer widths, comma-separated (64,64), or none for a linear model",
    )
    model.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="between the hidden layers")
    model.add_argument(
        "--channels", type=positive_int, default=32, help="--model cnn: channels of each convolution (default: 32)"
    )
    model.add_argument(
        "--rnn-hidden", type=positive_int, default=32, help="--model gru: hidden size per direction (default: 32)"
    )
    model.add_argument("--loss", choices=LOSSES, default="auto", help="auto: from the target (see above)")
    optimization = parser.add_argument_group("optimization")
    optimization.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="momentum is SGD with momentum")
    optimization.add_argument(
        "--lr", type=positive_float, help="learning rate (default: 0.001 for adam, adamw and rmsprop; else 0.01)"
    )
    optimization.add_argument(
        "--momentum", type=non_negative_float, help="for sgd, momentum and rmsprop (default: 0.9 for momentum, else 0)"
    )
    optimization.add_argument(
        "--weight-decay", type=non_negative_float, help="L2 penalty (default: the optimizer's, 0; adamw 0.01)"
    )
    optimization.add_argument("--batch-size", type=positive_int, default=64, help="samples per step")
    optimization.add_argument("--seed", type=non_negative_int, default=0, help="seeds the split, weights and shuffling")
    stopping = parser.add_argument_group("stopping (whichever comes first)")
    stopping.add_argument("--epochs", type=positive_int, default=100, help="the maximum number of epochs")
    stopping.add_argument(
        "--patience",
        type=non_negative_int,
        help="stop when the validation loss has not improved for this many epochs, and keep the best epoch's "
        "weights; 0 turns it off (default: 10 with validation)",
    )
    stopping.add_argument("--target-loss", type=finite_float, help="stop once an epoch's training loss is below it")
    stopping.add_argument(
        "--tol",
        type=non_negative_float,
        help="scikit-learn's plateau rule: stop when the training loss has not improved by tol for "
        "--n-iter-no-change epochs (either option turns it on; default 1e-4)",
    )
    stopping.add_argument(
        "--n-iter-no-change", type=positive_int, help="epochs without improvement for --tol (default: 10)"
    )
    _add_threads_argument(optimization)
    output = parser.add_argument_group("output")
    output.add_argument("--output", metavar="DIR", help="the run folder (default: runs/<dataset>-<YYYYmmdd-HHMMSS>)")
    output.add_argument("--quiet", action="store_true", help="print only the test result")


def _add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="RUN_OR_WEIGHTS", help="a run folder, or a .safetensors file written by train")
    parser.add_argument(
        "--dataset",
        metavar="NAME_OR_PATH",
        help="evaluate on this dataset's test split instead (a built-in name, a .csv or .npz file, an MNIST folder)",
    )
    parser.add_argument("--target", help="the CSV's target column, by name or index (with --dataset)")
    parser.add_argument(
        "--task", choices=("auto", "classification", "regression"), default="auto", help="how a CSV's target is read"
    )
    _add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="print only the test result")


def _add_threads_argument(parser: Any) -> None:
    parser.add_argument(
        "--threads",
        type=non_negative_int,
        default=1,
        help="threads of the BLAS library for the matrix products; one is fastest for small networks, where "
        "threads cost more than they save (more so on a busy machine); 0 leaves the library's own choice",
    )


@contextlib.contextmanager
def blas_threads(count: int) -> Any:
    """Limit the BLAS library to `count` threads inside the block (chainrule.threads.num_threads; count 0
    keeps the library's own setting). Where the thread count cannot be set, say so and go on."""
    if count:
        try:
            get_num_threads()
        except MissingDependencyError as error:
            print(f"chainrule: warning: --threads {count} is ignored: {error}", file=sys.stderr)
            count = 0
    with num_threads(count):
        yield


def _add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="RUN_FOLDER", help="a run folder written by train (or holding a checkpoint)")
    parser.add_argument("--plots", action="store_true", help="also draw the loss, lr and gradient plots as PNG")


def doctor_command(args: argparse.Namespace) -> int:
    """Print the training doctor's report on a finished run."""
    from chainrule.diagnostics import report_run

    print(report_run(args.folder, plots=args.plots))
    return EXIT_OK


# name -> (help, description, epilog, add the arguments, run); a new subcommand (doctor ...) is one entry.
COMMANDS: dict[str, tuple[str, str, str | None, Callable[..., None], Callable[[argparse.Namespace], int]]] = {
    "train": (
        "train a network and save the run",
        _TRAIN_DESCRIPTION,
        _TRAIN_EPILOG,
        _add_train_arguments,
        train_command,
    ),
    "evaluate": (
        "report a saved model's test accuracy (or MSE and R2)",
        _EVALUATE_DESCRIPTION,
        None,
        _add_evaluate_arguments,
        evaluate_command,
    ),
    "doctor": (
        "report what went wrong (or right) in a finished run",
        "Read a run folder (diagnosis.json, else history.csv, else a checkpoint) and print the training doctor's "
        "findings: vanishing or exploding gradients, dead units, plateaus, slow convergence, overfitting, NaN.",
        None,
        _add_doctor_arguments,
        doctor_command,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from chainrule import __version__

    parser = _Parser(
        prog=PROG,
        description="chainrule: neural networks trained by backpropagation, on NumPy, with PyTorch's names.",
        epilog=f"'{PROG} COMMAND --help' describes each command.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, description, epilog, add_arguments, run) in COMMANDS.items():
        sub = commands.add_parser(
            name, help=help_text, description=description, epilog=epilog, formatter_class=_Formatter
        )
        add_arguments(sub)
        sub.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # reported by the subcommand, whose --help lists its options
            command = getattr(args, "command", None)
            prog = f"{PROG} {command}" if command else PROG
            parser.exit(
                EXIT_USAGE, f"{PROG}: error: unrecognized arguments: {' '.join(unknown)} (see '{prog} --help')\n"
            )
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        print(f"{PROG}: error: choose a command: {', '.join(COMMANDS)} (see '{PROG} --help')", file=sys.stderr)
        return EXIT_USAGE
    try:
        with blas_threads(getattr(args, "threads", 0)):
            return args.handler(args)
    except UsageError as error:
        print(f"{PROG}: error: {_one_line(str(error))} (see '{PROG} {args.command} --help')", file=sys.stderr)
        return EXIT_USAGE
    except (ChainruleError, OSError) as error:
        message = str(error) if not isinstance(error, OSError) or error.filename is None else _os_message(error)
        print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _os_message(error: OSError) -> str:
    return f"{error.strerror or error}: {error.filename}"
