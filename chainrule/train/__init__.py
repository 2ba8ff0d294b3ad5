"""`chainrule.train`: a Keras-like `fit` for those who want one (PyTorch users keep their own loop).

`fit(model, loss_fn, optimizer, train_data, val_data, ...)` runs the PyTorch training step over epochs, with
validation, metrics over whole epochs, named stop criteria (History.stop_reason), callbacks, a progress bar,
checkpoints and exact resumption; `evaluate` and `predict` run a trained model under no_grad in eval mode.
"""

from __future__ import annotations

from chainrule.train.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from chainrule.train.history import History
from chainrule.train.loop import Run, evaluate, fit, predict
from chainrule.train.metrics import (
    Accuracy,
    MeanAbsoluteError,
    MeanMetric,
    MeanSquaredError,
    Metric,
    R2Score,
    TopKAccuracy,
    accuracy,
    get_metric,
    mae,
    mse,
    r2,
    top_k_accuracy,
)

__all__ = [
    "Accuracy",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "MeanAbsoluteError",
    "MeanMetric",
    "MeanSquaredError",
    "Metric",
    "ModelCheckpoint",
    "R2Score",
    "ReduceLROnPlateau",
    "Run",
    "TerminateOnNaN",
    "TopKAccuracy",
    "accuracy",
    "evaluate",
    "fit",
    "get_metric",
    "mae",
    "mse",
    "predict",
    "r2",
    "top_k_accuracy",
]
