"""W5: two epochs of training W1's net, chainrule against scikit-learn's MLPClassifier (PyTorch and NumPy for scale).

Data: 20,000 x 784 standard-normal float32 inputs, labelled by a fixed random linear teacher (the argmax of
x @ T over 10 classes), so the labels are learnable; int64 labels. The net is W1's 784-256-256-10 ReLU MLP
with softmax cross-entropy, trained with batch 128 (the last batch of an epoch holds the 32 left over) and SGD,
momentum 0.9 (not Nesterov), lr 0.01, no weight decay, reshuffled every epoch.

scikit-learn: MLPClassifier(hidden_layer_sizes=(256, 256), solver='sgd', batch_size=128, momentum=0.9,
nesterovs_momentum=False, learning_rate_init=0.01, alpha=0, max_iter=2, shuffle=True, tol=0,
n_iter_no_change=huge), fed float32 (it keeps float32 data float32). Its weights are set to the same initial
values as chainrule's (its `coefs_` are our W.T): a first tiny fit with warm_start=True builds its state, then
each timed `fit` starts from the copied weights with a fresh optimizer. The chainrule loop shuffles with the
very permutations scikit-learn draws (a RandomState of the same seed, shuffled the way sklearn.utils.shuffle
does), so both libraries see the same batches in the same order and their epoch losses agree closely.

PyTorch and W1's hand-written NumPy net (the NumPy limit) run the same loop, for scale: a NumPy-based library
cannot beat the NumPy limit by much, so the limit's ratio to scikit-learn bounds the ratio chainrule can reach.

Timing: wall time of the 2 epochs (batch gathering, loss bookkeeping and all), ROUNDS runs of each library
alternately; the best run counts. Goal: chainrule <= 0.5x scikit-learn.

Run: `python benchmarks/w5_sklearn.py` (or all benchmarks: `python benchmarks/run.py`).
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import training_step
from w1_mlp import BATCH, LR, MOMENTUM, SIZES, NumpyMLP, build_chainrule, build_torch

N_SAMPLES = 20_000
EPOCHS = 2
ROUNDS = 4
GOAL_VS_SKLEARN = 0.5
SEED = 0


def make_data(n_samples: int = N_SAMPLES, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 784) float32 standard normal; y (n,) int64 = argmax(x @ T) for a fixed random teacher T."""
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((n_samples, SIZES[0]), dtype=np.float32)
    teacher = rng.standard_normal((SIZES[0], SIZES[-1]), dtype=np.float32)
    return x, np.argmax(x @ teacher, axis=1).astype(np.int64)


def epoch_orders(n_samples: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The sample order of each epoch, as MLPClassifier(shuffle=True, random_state=seed) draws it: it keeps
    one index array and, each epoch, permutes it by a RandomState(seed)'s shuffle of arange(n)."""
    random_state = np.random.RandomState(seed)
    order = np.arange(n_samples)
    orders = []
    for _ in range(epochs):
        permutation = np.arange(n_samples)
        random_state.shuffle(permutation)
        order = order[permutation]
        orders.append(order)
    return orders


def fit_loop(
    step: Callable[[Any, Any], float], wrap: Callable[[np.ndarray], Any], x: np.ndarray, y: np.ndarray
) -> list[float]:
    """Train over `x, y` for EPOCHS epochs in sklearn's batch order; `step(x_batch, y_batch)` trains on one
    batch and returns its loss as a float. Returns each epoch's mean loss (the batches' losses before their
    updates, weighted by batch size, as MLPClassifier's loss_curve_)."""
    n_samples = len(x)
    losses = []
    for order in epoch_orders(n_samples, EPOCHS, SEED):
        total = 0.0
        for start in range(0, n_samples, BATCH):
            index = order[start : start + BATCH]
            total += step(wrap(x[index]), wrap(y[index])) * len(index)
        losses.append(total / n_samples)
    return losses


def sklearn_side(sklearn_nn: Any, weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray) -> Callable:
    """A function that runs MLPClassifier.fit for EPOCHS epochs from `weights` and returns its loss curve."""
    classifier = sklearn_nn.MLPClassifier(
        hidden_layer_sizes=SIZES[1:-1],
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=BATCH,
        learning_rate="constant",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        max_iter=1,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=10**9,
        early_stopping=False,
        random_state=SEED,
        warm_start=True,
    )
    # A first short fit on a slice holding every class builds the classifier's state (classes, layer count,
    # output activation); later fits keep it, and start from the weights copied in below.
    seen = np.concatenate([np.flatnonzero(y == label)[:20] for label in range(SIZES[-1])])
    classifier.fit(x[seen], y[seen])
    classifier.set_params(max_iter=EPOCHS)

    def fit() -> list[float]:
        classifier.coefs_ = [np.ascontiguousarray(w.T) for w in weights[0::2]]
        classifier.intercepts_ = [b.copy() for b in weights[1::2]]
        classifier.loss_curve_ = []
        classifier.fit(x, y)
        if classifier.coefs_[0].dtype != np.float32:
            print(f"  [warn] scikit-learn trained in {classifier.coefs_[0].dtype}, not float32")
        return list(classifier.loss_curve_)

    return fit


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(
        f"W5: {EPOCHS} epochs of the W1 net on {N_SAMPLES:,} x {SIZES[0]} float32 samples (linear-teacher labels), "
        f"batch {BATCH}, SGD momentum {MOMENTUM}"
    )
    weights = _common.linear_init(SIZES, SEED)
    x, y = make_data()
    runs: dict[str, Callable[[], list[float]]] = {}

    def chainrule_fit() -> list[float]:
        import chainrule as cr

        model, loss_fn, optimizer = build_chainrule(weights)
        return fit_loop(lambda xb, yb: training_step(model, loss_fn, optimizer, xb, yb).item(), cr.from_numpy, x, y)

    def probe() -> None:
        import chainrule as cr

        model, loss_fn, optimizer = build_chainrule(weights)
        training_step(model, loss_fn, optimizer, cr.from_numpy(x[:BATCH]), cr.from_numpy(y[:BATCH])).item()

    missing = _common.chainrule_missing(probe)
    if missing is None:
        runs["chainrule"] = chainrule_fit
    else:
        print(f"  [skip] chainrule is not ready: {missing}")

    sklearn_nn = _common.optional_import("sklearn.neural_network")
    if sklearn_nn is not None:
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        runs["sklearn"] = sklearn_side(sklearn_nn, weights, x, y)

    torch = _common.optional_import("torch")
    if torch is not None:

        def torch_fit() -> list[float]:
            model, loss_fn, optimizer = build_torch(torch, weights)
            return fit_loop(
                lambda xb, yb: training_step(model, loss_fn, optimizer, xb, yb).item(), torch.from_numpy, x, y
            )

        runs["torch"] = torch_fit

    def numpy_fit() -> list[float]:
        net = NumpyMLP(weights, BATCH, LR, MOMENTUM, transposed=True)
        return fit_loop(net.step, lambda array: array, x, y)

    runs["numpy"] = numpy_fit

    seconds: dict[str, list[float]] = {name: [] for name in runs}
    curves: dict[str, list[float]] = {}
    names = list(runs)
    for round_index in range(ROUNDS):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(_common.SETTLE)  # let the previous library's spinning threads go idle
            start = time.perf_counter()
            curves[name] = runs[name]()
            seconds[name].append(time.perf_counter() - start)

    for name, values in seconds.items():
        losses = ", ".join(f"{loss:.4f}" for loss in curves[name])
        print(f"  {_common.describe_times(name, values, unit=1.0, suffix='s')}   epoch losses {losses}")
    best = {name: _common.best(values) for name, values in seconds.items()}
    ours, peer = best.get("chainrule"), best.get("sklearn")
    print(_common.ratio_line("chainrule / sklearn", ours, peer, GOAL_VS_SKLEARN))
    print(_common.ratio_line("chainrule / torch", ours, best.get("torch"), None))
    print(_common.ratio_line("chainrule / numpy limit", ours, best["numpy"], None))
    print(_common.ratio_line("numpy limit / sklearn", best["numpy"], peer, None))
    agreement = None
    if "chainrule" in curves and "sklearn" in curves:
        agreement = max(abs(a - b) for a, b in zip(curves["chainrule"], curves["sklearn"]))
        print(f"  epoch losses of chainrule and scikit-learn differ by at most {agreement:.1e}")
    return {
        "chainrule_s": ours,
        "sklearn_s": peer,
        "torch_s": best.get("torch"),
        "numpy_s": best["numpy"],
        "chainrule_ms": None if ours is None else ours * 1e3,
        "sklearn_ms": None if peer is None else peer * 1e3,
        "ratio_vs_sklearn": None if ours is None or peer is None else ours / peer,
        "goal_vs_sklearn": GOAL_VS_SKLEARN,
        "loss_agreement": agreement,
    }


if __name__ == "__main__":
    _common.print_environment()
    main()
