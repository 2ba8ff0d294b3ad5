"""Metrics: one-batch values against NumPy / scikit-learn, and epoch accumulation that is exact over batches."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ShapeError
from chainrule.nn import BCEWithLogitsLoss, MSELoss
from chainrule.train import (
    Accuracy,
    MeanAbsoluteError,
    MeanMetric,
    MeanSquaredError,
    R2Score,
    TopKAccuracy,
    accuracy,
    get_metric,
    mae,
    mse,
    r2,
    top_k_accuracy,
)

metrics = pytest.importorskip("sklearn.metrics")

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((50, 6)).astype(np.float32)
LABELS = RNG.integers(0, 6, size=50)
PREDICTED = RNG.standard_normal((50, 3))
TARGETS = PREDICTED + 0.5 * RNG.standard_normal((50, 3)) + np.array([0.0, 3.0, -1.0])


def accumulate(metric, output: np.ndarray, target: np.ndarray, sizes: list[int]):
    """Feed the metric uneven batches of the data; return its epoch value."""
    metric.reset()
    start = 0
    for size in sizes:
        metric.update(cr.tensor(output[start : start + size]), cr.tensor(target[start : start + size]))
        start += size
    assert start == len(target)
    return metric.compute()


def test_multiclass_accuracy_matches_sklearn():
    expected = metrics.accuracy_score(LABELS, LOGITS.argmax(1))
    assert accuracy(cr.tensor(LOGITS), cr.tensor(LABELS)) == pytest.approx(expected)
    assert accuracy(LOGITS, LABELS) == pytest.approx(expected)  # ndarrays too


def test_accuracy_with_one_hot_targets_reads_the_class_from_the_target():
    one_hot = np.eye(6, dtype=np.float32)[LABELS]
    assert accuracy(LOGITS, one_hot) == pytest.approx(metrics.accuracy_score(LABELS, LOGITS.argmax(1)))


def test_accuracy_over_an_epoch_counts_samples_not_batch_averages():
    # batches of 1 and 49 samples: the mean of batch accuracies would weight the first sample 25 times more
    epoch = accumulate(Accuracy(), LOGITS, LABELS, [1, 49])
    assert epoch == pytest.approx(metrics.accuracy_score(LABELS, LOGITS.argmax(1)))


def test_binary_accuracy_thresholds_probabilities_or_logits():
    logits = RNG.standard_normal(40)
    labels = (RNG.random(40) < 0.5).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits))
    expected = metrics.accuracy_score(labels, logits > 0)
    assert accuracy(probabilities, labels) == pytest.approx(expected)
    assert accuracy(logits, labels, from_logits=True) == pytest.approx(expected)
    assert accuracy(logits.reshape(-1, 1), labels.astype(np.int64), from_logits=True) == pytest.approx(expected)
    # a threshold of 0.7 on probabilities is the logit log(0.7 / 0.3)
    assert accuracy(probabilities, labels, threshold=0.7) == pytest.approx(
        accuracy(logits, labels, threshold=0.7, from_logits=True)
    )
    assert accuracy(probabilities, labels, threshold=0.7) == pytest.approx(
        metrics.accuracy_score(labels, probabilities > 0.7)
    )


def test_binary_accuracy_reads_an_n_by_1_output_against_n_targets():
    output = np.array([[0.9], [0.2], [0.6], [0.4]])
    assert accuracy(output, np.array([1, 0, 0, 0])) == 0.75


def test_top_k_accuracy_matches_sklearn():
    for k in (1, 2, 3, 5):
        expected = metrics.top_k_accuracy_score(LABELS, LOGITS, k=k, labels=np.arange(6))
        assert top_k_accuracy(LOGITS, LABELS, k=k) == pytest.approx(expected)
        assert accumulate(TopKAccuracy(k), LOGITS, LABELS, [7, 13, 30]) == pytest.approx(expected)


def test_top_k_accuracy_counts_ties_at_the_boundary_as_hits():
    scores = np.array([[1.0, 1.0, 0.0]])
    assert top_k_accuracy(scores, np.array([1]), k=1) == 1.0
    assert top_k_accuracy(scores, np.array([2]), k=2) == 0.0
    assert top_k_accuracy(scores, np.array([2]), k=3) == 1.0  # k >= C: every sample is a hit


def test_mse_and_mae_match_sklearn_over_uneven_batches():
    assert mse(PREDICTED, TARGETS) == pytest.approx(metrics.mean_squared_error(TARGETS, PREDICTED))
    assert mae(PREDICTED, TARGETS) == pytest.approx(metrics.mean_absolute_error(TARGETS, PREDICTED))
    assert accumulate(MeanSquaredError(), PREDICTED, TARGETS, [3, 40, 7]) == pytest.approx(
        metrics.mean_squared_error(TARGETS, PREDICTED)
    )
    assert accumulate(MeanAbsoluteError(), PREDICTED, TARGETS, [3, 40, 7]) == pytest.approx(
        metrics.mean_absolute_error(TARGETS, PREDICTED)
    )


def test_mse_reads_an_n_by_1_output_against_n_targets():
    assert mse(np.array([[1.0], [2.0]]), np.array([0.0, 0.0])) == pytest.approx(2.5)


def test_r2_matches_sklearn_uniform_average_with_the_epochs_mean():
    expected = metrics.r2_score(TARGETS, PREDICTED)
    assert r2(PREDICTED, TARGETS) == pytest.approx(expected)
    # batch means differ from the epoch mean; merging the moments gives the epoch's R² exactly
    assert accumulate(R2Score(), PREDICTED, TARGETS, [2, 5, 43]) == pytest.approx(expected, rel=1e-12)
    single = metrics.r2_score(TARGETS[:, 1], PREDICTED[:, 1])
    assert accumulate(R2Score(), PREDICTED[:, 1], TARGETS[:, 1], [25, 25]) == pytest.approx(single)


def test_r2_of_a_large_offset_target_stays_accurate():
    target = 1e6 + RNG.standard_normal(200)
    output = target + 0.1 * RNG.standard_normal(200)
    expected = metrics.r2_score(target, output)
    assert accumulate(R2Score(), output, target, [50] * 4) == pytest.approx(expected, rel=1e-9)


def test_r2_of_a_constant_target_follows_sklearns_force_finite():
    constant = np.full(5, 2.0)
    assert r2(constant, constant) == 1.0
    assert r2(constant + 1.0, constant) == 0.0
    assert metrics.r2_score(constant, constant + 1.0) == 0.0


def test_mean_metric_weights_batches_by_their_size():
    def first_column_mean(output, target):
        return float(np.asarray(output)[:, 0].mean())

    metric = MeanMetric(first_column_mean)
    assert metric.name == "first_column_mean"
    assert accumulate(metric, PREDICTED, TARGETS, [1, 49]) == pytest.approx(PREDICTED[:, 0].mean())


def test_get_metric_resolves_names_objects_and_functions():
    assert isinstance(get_metric("accuracy"), Accuracy)
    assert get_metric("acc").name == "acc"
    assert get_metric("top_3_accuracy").k == 3
    assert get_metric("top_k_accuracy").k == 5
    assert get_metric("mse").direction == "min"
    assert get_metric("r2").direction == "max"
    assert isinstance(get_metric(mae), MeanAbsoluteError)
    original = Accuracy(threshold=0.3)
    original.update(np.array([0.9]), np.array([1]))
    copy = get_metric(original)
    assert copy is not original and copy.threshold == 0.3 and copy.count == 0


def test_accuracy_thresholds_logits_when_the_loss_takes_logits():
    assert get_metric("accuracy", BCEWithLogitsLoss()).from_logits
    assert not get_metric("accuracy", MSELoss()).from_logits


def test_unknown_metric_name_is_an_error_naming_it():
    with pytest.raises(ArgumentError, match="metrics: unknown metric name 'f1'"):
        get_metric("f1")


def test_mismatched_shapes_raise_shape_errors():
    with pytest.raises(ShapeError, match="accuracy"):
        accuracy(LOGITS, LABELS[:10])
    with pytest.raises(ShapeError, match="mse"):
        mse(PREDICTED, TARGETS[:, :2])
    with pytest.raises(ShapeError, match="top_k_accuracy"):
        top_k_accuracy(LOGITS[:, 0], LABELS)
