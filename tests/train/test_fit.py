"""fit on real problems and data in every form it takes; evaluate, predict; argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset, digits
from chainrule.errors import ArgumentError, ShapeError
from chainrule.train import evaluate, fit, predict


def regression_data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.1).astype(np.float32)
    return x, y


def linear_model(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Linear(3, 1)


def test_a_two_layer_net_learns_xor():
    cr.manual_seed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    history = fit(
        model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.05), (x, y), batch_size=4,
        epochs=500, metrics=["accuracy"], target_loss=0.01, verbose=0,
    )  # fmt: skip
    assert history.stop_reason == "target_loss"
    assert history["accuracy"][-1] == 1.0
    logits = predict(model, x)
    np.testing.assert_array_equal(logits.numpy() > 0, y > 0.5)


def test_an_mlp_reaches_95_percent_test_accuracy_on_digits():
    pytest.importorskip("sklearn")
    x_train, y_train = digits(split="train", seed=0)  # standardized with the training part's statistics
    x_test, y_test = digits(split="test", seed=0)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    history = fit(
        model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), (x_train, y_train), val_split=0.1,
        epochs=15, batch_size=32, metrics=["accuracy"], generator=cr.Generator(0), verbose=0,
    )  # fmt: skip
    assert history.stop_reason == "max_epochs"
    assert history["loss"][-1] < history["loss"][0]
    result = evaluate(model, nn.CrossEntropyLoss(), (x_test, y_test), metrics=["accuracy", "top_3_accuracy"])
    assert result["accuracy"] >= 0.95
    assert result["top_3_accuracy"] >= result["accuracy"]
    predicted = predict(model, x_test).numpy().argmax(1)
    assert np.mean(predicted == y_test) == pytest.approx(result["accuracy"])


@pytest.mark.parametrize("form", ["tuple", "tensors", "dataset", "dataloader"])
def test_fit_takes_a_tuple_a_dataset_or_a_dataloader_alike(form):
    x, y = regression_data()
    if form == "tuple":
        data = (x, y)
    elif form == "tensors":
        data = (cr.tensor(x), cr.tensor(y))
    elif form == "dataset":
        data = TensorDataset(cr.tensor(x), cr.tensor(y))
    else:
        data = DataLoader(
            TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=8, shuffle=True, generator=cr.Generator(3)
        )
    model = linear_model()
    history = fit(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), data, epochs=3, batch_size=8,
        generator=None if form == "dataloader" else cr.Generator(3), verbose=0,
    )  # fmt: skip
    reference = linear_model()
    reference_history = fit(
        reference, nn.MSELoss(), optim.SGD(reference.parameters(), lr=0.05), (x, y), epochs=3, batch_size=8,
        generator=cr.Generator(3), verbose=0,
    )  # fmt: skip
    np.testing.assert_array_equal(model.weight.numpy(), reference.weight.numpy())
    assert history["loss"] == reference_history["loss"]


def test_fit_matches_a_hand_written_loop_step_for_step():
    x, y = regression_data()
    model = linear_model()
    history = fit(
        model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.01), (x, y), epochs=2, batch_size=16,
        shuffle=False, verbose=0,
    )  # fmt: skip
    reference = linear_model()
    opt = optim.Adam(reference.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    epoch_losses = []
    for _ in range(2):
        total = 0.0
        for start in range(0, 64, 16):
            opt.zero_grad()
            loss = loss_fn(reference(cr.tensor(x[start : start + 16])), cr.tensor(y[start : start + 16]))
            loss.backward()
            opt.step()
            total += loss.item() * 16
        epoch_losses.append(total / 64)
    np.testing.assert_array_equal(model.weight.numpy(), reference.weight.numpy())
    np.testing.assert_array_equal(model.bias.numpy(), reference.bias.numpy())
    assert history["loss"] == pytest.approx(epoch_losses, rel=1e-12)


def test_float64_arrays_are_cast_to_the_models_dtype():
    x, y = regression_data()
    model = linear_model()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), (x.astype(np.float64), y.astype(np.float64)),
        epochs=1, verbose=0)  # fmt: skip
    assert model.weight.dtype == np.float32


def test_val_split_holds_out_the_last_fraction():
    x, y = regression_data(10)
    seen = []

    def loss_fn(output, target):
        if not cr.is_grad_enabled():
            seen.append(target.numpy().copy())
        return nn.functional.mse_loss(output, target)

    model = linear_model()
    history = fit(
        model, loss_fn, optim.SGD(model.parameters(), lr=0.01), (x, y), val_split=0.25, epochs=1, batch_size=4,
        verbose=0,
    )  # fmt: skip
    # ceil(10 * 0.75) = 8 samples train, the last 2 validate (as Keras)
    np.testing.assert_array_equal(np.concatenate(seen), y[8:])
    assert "val_loss" in history


def test_evaluate_returns_the_sample_weighted_loss_and_metrics_and_keeps_the_mode():
    x, y = regression_data(50)
    model = linear_model()
    model.train()
    result = evaluate(model, nn.MSELoss(), (x, y), metrics=["mae", "r2"], batch_size=16)
    output = model(cr.tensor(x)).numpy()
    assert result["loss"] == pytest.approx(float(np.mean((output - y) ** 2)), rel=1e-5)
    assert result["mae"] == pytest.approx(float(np.mean(np.abs(output - y))), rel=1e-5)
    assert set(result) == {"loss", "mae", "r2"}
    assert model.training


def test_predict_batches_and_concatenates_in_eval_mode_without_grad():
    x, _ = regression_data(37)
    model = linear_model()
    output = predict(model, x, batch_size=10)
    assert output.shape == (37, 1)
    assert not output.requires_grad
    np.testing.assert_allclose(output.numpy(), model(cr.tensor(x)).numpy(), rtol=1e-6)
    from_dataset = predict(model, TensorDataset(cr.tensor(x), cr.tensor(np.zeros(37))), batch_size=10)
    np.testing.assert_allclose(from_dataset.numpy(), output.numpy(), rtol=1e-6)


def test_model_mode_is_restored_after_fit():
    x, y = regression_data()
    model = linear_model()
    model.eval()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), (x, y), val_data=(x, y), epochs=1, verbose=0)
    assert not model.training


# -- errors -----------------------------------------------------------------------------------------------


def fit_linear(**kwargs):
    x, y = regression_data()
    model = linear_model()
    kwargs.setdefault("verbose", 0)
    return fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), kwargs.pop("data", (x, y)), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "fit: epochs must be an int >= 1, got 0"),
        ({"batch_size": 2.5}, "fit: batch_size must be an int >= 1, got 2.5"),
        ({"val_split": 1.5}, r"fit: val_split must be a fraction in \(0, 1\), got 1.5"),
        ({"val_split": 0.0}, r"fit: val_split must be a fraction in \(0, 1\), got 0.0"),
        ({"val_split": 0.2, "val_data": (np.zeros((2, 3)), np.zeros((2, 1)))}, "pass val_data or val_split, not both"),
        ({"metrics": ["f1"]}, "metrics: unknown metric name 'f1'"),
        ({"tol": -1.0}, "fit: tol must be a number >= 0.0, got -1.0"),
        ({"n_iter_no_change": 0}, "fit: n_iter_no_change must be an int >= 1, got 0"),
        ({"early_stopping": True}, "early_stopping must be an EarlyStopping"),
        ({"callbacks": [print]}, "callbacks: expected chainrule.train.Callback objects"),
        ({"data": np.zeros((4, 3))}, r"train_data: got a single array; pass inputs and targets as a tuple \(X, y\)"),
        ({"data": (np.zeros((4, 3)), np.zeros((5, 1)))}, "different lengths"),
        ({"metrics": ["mse", "mse"]}, "two metrics have the same name"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(kwargs, message):
    with pytest.raises((ArgumentError, ShapeError), match=message):
        fit_linear(**kwargs)


def test_a_loss_that_is_not_a_scalar_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"loss_fn must return a scalar loss, got a tensor of shape \(16, 1\)"):
        x, y = regression_data()
        model = linear_model()
        fit(model, nn.MSELoss(reduction="none"), optim.SGD(model.parameters(), lr=0.01), (x, y), batch_size=16,
            verbose=0)  # fmt: skip
    with pytest.raises(ArgumentError, match="loss_fn must return a Tensor"):
        model = linear_model()
        fit(model, lambda o, t: 1.0, optim.SGD(model.parameters(), lr=0.01), regression_data(), verbose=0)


def test_the_optimizer_and_model_must_be_ours():
    model = linear_model()
    with pytest.raises(ArgumentError, match=r"optimizer must be a chainrule\.optim optimizer"):
        fit(model, nn.MSELoss(), object(), regression_data(), verbose=0)
    with pytest.raises(ArgumentError, match=r"model must be a chainrule\.nn\.Module"):
        fit(lambda x: x, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), regression_data(), verbose=0)
