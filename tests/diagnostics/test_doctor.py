"""The doctor inside fit: each pathology built on purpose is named; a healthy run gets no warning."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import digits
from chainrule.diagnostics import Doctor, Finding
from chainrule.errors import ArgumentError
from chainrule.train import EarlyStopping, History, LambdaCallback, fit
from tests.diagnostics.pathologies import (
    RowNormalize,
    SqrtOfZero,
    blobs,
    deep_sigmoid,
    mlp,
    same_weights,
    scaled_relu,
    weights_of,
    xor_data,
    zero_initialised,
)


def kinds(history: History) -> list[str]:
    return [item["kind"] for item in history.diagnosis if item["severity"] == "warning"]


def finding(history: History, kind: str) -> dict:
    matches = [item for item in history.diagnosis if item["kind"] == kind]
    assert matches, f"no {kind!r} finding in {kinds(history)}"
    return matches[0]


@pytest.fixture(scope="module")
def digits_train() -> tuple[np.ndarray, np.ndarray]:
    pytest.importorskip("sklearn")
    return digits(split="train", seed=0)


# -- healthy ------------------------------------------------------------------------------------------------


def test_a_healthy_digits_run_gets_no_warning_and_prints_nothing_extra(digits_train, capsys):
    x, y = digits_train
    model = mlp([64, 64, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor any Python warning
        history = fit(
            model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), (x, y), val_split=0.1,
            epochs=15, batch_size=32, metrics=["accuracy"], generator=cr.Generator(0), verbose=2,
        )  # fmt: skip
    assert history["val_accuracy"][-1] > 0.95
    assert history.diagnosis == []
    assert isinstance(history.doctor, Doctor) and history.doctor.warnings == []
    assert "Doctor" not in capsys.readouterr().out
    # it measured what it reports on: every layer's gradient norm at the sampled steps
    trace = history.doctor.trace
    assert len(trace) >= 15 and all(len(record["grad_norm"]) == 2 for record in trace)


def test_the_doctor_only_observes_the_weights_are_those_of_a_run_without_it():
    x, y = blobs()
    results = []
    for doctor in (True, False):
        model = mlp([16, 32, 32, 4])
        watcher = Doctor(sample_every=1) if doctor else False
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), (x, y), epochs=3,
            batch_size=16, generator=cr.Generator(1), verbose=0, doctor=watcher)  # fmt: skip
        results.append(weights_of(model))
    assert all(np.array_equal(results[0][key], results[1][key]) for key in results[0])


def test_doctor_false_turns_it_off_and_a_bad_value_is_refused():
    x, y = blobs(32)
    model = mlp([16, 4])
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, verbose=0,
                  doctor=False)  # fmt: skip
    assert history.diagnosis == [] and history.doctor is None
    with pytest.raises(ArgumentError, match=r"doctor must be True, False or a chainrule\.diagnostics\.Doctor"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), verbose=0, doctor="yes")
    with pytest.raises(ArgumentError, match=r"pass it as fit\(..., doctor=Doctor"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), callbacks=[Doctor()])


def test_the_hooks_are_gone_after_fit_even_when_it_fails():
    x, y = blobs(64)
    model = mlp([16, 8, 4])
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, verbose=0,
        doctor=Doctor(sample_every=1))  # fmt: skip
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._hooks for p in model.parameters())

    def broken_loss(output: cr.Tensor, target: cr.Tensor) -> cr.Tensor:
        return output  # not a scalar: fit raises after the doctor installed its hooks for this sampled step

    with pytest.raises(ValueError, match="scalar loss"):
        fit(model, broken_loss, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, verbose=0)
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._hooks for p in model.parameters())


# -- vanishing and exploding gradients -------------------------------------------------------------------------


def test_a_deep_sigmoid_net_has_vanishing_gradients_named_from_the_layer_where_they_start(digits_train):
    x, y = digits_train
    model = deep_sigmoid(depth=20)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x[:256], y[:256]), epochs=2,
                  batch_size=64, verbose=0)  # fmt: skip
    found = finding(history, "vanishing_gradients")
    # Linear layers sit at '0', '2', ..., '38'; each sigmoid scales the gradient by at most 1/4, so it is already
    # below a tenth of the output layer's at the layer just under it, and vanishes from there to the input.
    assert found["layer"] == "36"
    assert found["data"]["first_to_last"] < 1e-10
    assert "'36' (Linear)" in found["message"]
    assert "ReLU" in found["suggestion"] and "Xavier" in found["suggestion"] and "residual" in found["suggestion"]
    # the same depth with ReLU and He init (the suggested cure) is free of it
    model = scaled_relu(depth=20, scale=1.0, features=64, classes=10)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), (x[:256], y[:256]),
                  epochs=2, batch_size=64, verbose=0)  # fmt: skip
    assert "vanishing_gradients" not in kinds(history)


def test_an_exploding_init_is_named_with_the_layer_where_the_gradient_starts_to_explode():
    x, y = blobs()
    model = scaled_relu(depth=10, scale=4.0)  # each layer multiplies the backpropagated gradient by about 4
    with np.errstate(all="ignore"):
        history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-3), (x, y), epochs=2,
                      batch_size=32, verbose=0)  # fmt: skip
    exploding = [item for item in history.diagnosis if item["kind"] == "exploding_gradients"]
    by_ratio = [item for item in exploding if item["data"].get("first_to_last")]
    assert by_ratio and by_ratio[0]["data"]["first_to_last"] > 1e4
    # 4^k: the gradient is above 10x the last layer's from the third Linear below the output down to the input
    assert by_ratio[0]["layer"] == "12"
    assert any("badly scaled" in item["message"] for item in exploding)  # the first loss is far above ln(4)
    assert any("clipping" in item["suggestion"] and "learning rate" in item["suggestion"] for item in exploding)


def test_a_shallow_net_with_a_10x_init_is_named_as_badly_scaled_from_its_first_layer(digits_train):
    x, y = digits_train
    model = mlp([64, 64, 64, 10])
    with cr.no_grad():
        for param in model.parameters():
            param.mul_(10.0)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9), (x, y),
                  epochs=1, batch_size=32, verbose=0)  # fmt: skip
    found = [f for f in history.diagnosis if f["kind"] == "exploding_gradients" and "badly scaled" in f["message"]]
    assert found and found[0]["layer"] == "0"
    assert found[0]["data"]["initial_loss"] > 3 * math.log(10)


def test_a_learning_rate_ten_times_too_high_is_named_divergence(digits_train):
    x, y = digits_train
    for lr, expected in ((0.1, False), (1.0, True)):  # 0.1 trains well; 1.0 blows up
        model = mlp([64, 64, 64, 10])
        with np.errstate(all="ignore"):
            history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr, momentum=0.9), (x, y),
                          epochs=2, batch_size=32, generator=cr.Generator(0), verbose=0)  # fmt: skip
        assert ("divergence" in kinds(history)) is expected, (lr, kinds(history))
    assert "learning rate 10x lower" in finding(history, "divergence")["suggestion"]


# -- dead units -----------------------------------------------------------------------------------------------


def test_dead_relu_units_are_counted_per_layer(digits_train):
    x, y = digits_train
    model = mlp([64, 64, 64, 10])
    with cr.no_grad():
        model[0].bias.fill_(-10.0)  # no input reaches zero: the first ReLU never fires
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
                  batch_size=32, verbose=0)  # fmt: skip
    found = finding(history, "dead_units")
    fractions = found["data"]["fractions"]
    assert fractions["1"] == 1.0  # every unit of the first ReLU
    assert 0.0 < fractions["3"] < 1.0  # the second sees a constant input: the units with a negative bias are dead
    assert found["layer"] == "1"
    assert "100% of the 64 units of layer '1' (ReLU)" in found["message"]
    assert "LeakyReLU" in found["suggestion"]
    # and no gradient reaches the first Linear at all
    assert finding(history, "vanishing_gradients")["data"]["delta_rms"]["0"] == 0.0


# -- plateaus, saturated outputs, slow convergence -------------------------------------------------------------


def test_a_zero_initialised_net_stalls_on_a_plateau_and_a_restart_cures_it():
    x, y = xor_data()
    settings = dict(epochs=12, batch_size=32, generator=cr.Generator(0), verbose=0)
    model = zero_initialised(mlp([2, 16, 1], nn.Tanh))
    history = fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), **settings)
    plateau = finding(history, "plateau")
    share = float(y.mean())
    prior_entropy = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    assert plateau["data"]["loss"] == pytest.approx(prior_entropy, abs=1e-3)  # only the class prior was learnt
    assert "restart" in plateau["suggestion"]
    assert history["loss"][-1] > prior_entropy - 1e-3

    model = zero_initialised(mlp([2, 16, 1], nn.Tanh))
    doctor = Doctor(treat="restart")
    history = fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), doctor=doctor,
                  **settings)  # fmt: skip
    treatment = finding(history, "treatment")
    assert treatment["severity"] == "info" and doctor.restarts == 1
    assert history["loss"][-1] < prior_entropy - 0.05  # the new initialisation learns


def test_reduce_lr_treatment_lowers_the_learning_rate_when_the_loss_stops_improving():
    x, y = xor_data()
    model = zero_initialised(mlp([2, 16, 1], nn.Tanh))
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.BCEWithLogitsLoss(), opt, (x, y), epochs=10, batch_size=32, verbose=0,
                  doctor=Doctor(treat="reduce_lr", patience=2))  # fmt: skip
    assert history["lr"][-1] < 0.1 and opt.param_groups[0]["lr"] < 0.1
    assert "reduced the learning rate" in finding(history, "treatment")["message"]


def test_saturated_softmax_outputs_are_named():
    x, y = blobs(128, classes=4)
    model = mlp([16, 4])
    with cr.no_grad():
        model[0].weight.mul_(200.0)  # logits in the hundreds: softmax probabilities of 1.0, mostly on wrong classes
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-4), (x, y), epochs=1,
                  batch_size=32, verbose=0)  # fmt: skip
    found = finding(history, "saturated_outputs")
    assert found["data"]["fraction"] > 0.5


def test_a_learning_rate_far_too_small_is_named_slow_convergence(digits_train):
    x, y = digits_train
    model = mlp([64, 64, 10])
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-4), (x, y), epochs=5,
                  batch_size=64, verbose=0)  # fmt: skip
    found = finding(history, "slow_convergence")
    assert "learning rate is too small" in found["message"]
    assert "lr_find" in found["suggestion"]
    assert "plateau" not in kinds(history)


# -- overfitting -------------------------------------------------------------------------------------------------


def test_a_net_that_memorises_a_tiny_training_set_is_named_overfitting():
    x, y = blobs(40, classes=10)
    x_val, y_val = blobs(200, classes=10, seed=1)
    model = mlp([16, 128, 10])
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), (x_val, y_val),
                  epochs=12, batch_size=8, verbose=0)  # fmt: skip
    found = finding(history, "overfitting")
    assert found["data"]["gap"] > found["data"]["gap_at_best"]
    assert history["loss"][-1] < 0.05
    for cure in ("weight decay", "dropout", "more training data", "smaller model"):
        assert cure in found["suggestion"]

    # early stopping stops it; the doctor still names it
    model = mlp([16, 128, 10])
    stopper = EarlyStopping(patience=3)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), (x_val, y_val),
                  epochs=30, batch_size=8, verbose=0, early_stopping=stopper)  # fmt: skip
    assert history.stop_reason == "early_stopping"
    assert "overfitting" in kinds(history)


# -- NaN and Inf ---------------------------------------------------------------------------------------------------


def test_a_nan_made_in_the_forward_of_a_layer_names_it_and_keeps_the_last_good_weights(capsys):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    x[21] = 0.0  # in the sixth batch of 4: the bias-free Linear maps it to zeros, RowNormalize divides 0 by 0
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8, bias=False), RowNormalize(), nn.Linear(8, 3))
    after_each_batch = []
    keep = LambdaCallback(on_batch_end=lambda batch, logs: after_each_batch.append(weights_of(model)))
    with np.errstate(all="ignore"):
        history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), batch_size=4,
                      shuffle=False, epochs=2, callbacks=[keep], verbose=1)  # fmt: skip
    assert history.stop_reason == "nan" and len(after_each_batch) == 5
    assert same_weights(model, after_each_batch[-1])  # the weights after the fifth, last good, step
    found = finding(history, "nonfinite")
    assert found["layer"] == "1" and found["data"]["op"] == "div" and found["data"]["stage"] == "forward"
    assert found["step"] == 5
    assert "epsilon" in found["suggestion"]
    out = capsys.readouterr().out
    assert "the loss of batch 5 is nan (first in op 'div' in layer '1' (RowNormalize))" in out
    assert "Doctor: 1 problem found (NaN/Inf)" in out


def test_a_non_finite_gradient_with_a_finite_loss_stops_before_the_step_and_names_the_op():
    x, y = blobs(32)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), SqrtOfZero(), nn.Linear(8, 4))
    start = weights_of(model)
    with np.errstate(all="ignore"):
        history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), batch_size=8,
                      epochs=2, verbose=0)  # fmt: skip
    assert history.stop_reason == "nan" and history.stopped_epoch == 0
    assert same_weights(model, start)  # the bad step was not taken
    found = finding(history, "nonfinite")
    assert found["data"]["stage"] == "backward" and found["data"]["op"] == "sqrt" and found["layer"] == "1"
    assert set(found["data"]["parameters"]) == {"0.weight", "0.bias"}  # below the sqrt, where the NaN flows
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_the_doctor_state_and_findings_survive_a_checkpoint_and_resume(tmp_path):
    x, y = blobs(40, classes=10)
    x_val, y_val = blobs(200, classes=10, seed=1)
    path = tmp_path / "run.ckpt"
    model = mlp([16, 128, 10])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    first = fit(model, nn.CrossEntropyLoss(), opt, (x, y), (x_val, y_val), epochs=8, batch_size=8, verbose=0,
                checkpoint_path=path, generator=cr.Generator(0))  # fmt: skip
    assert "overfitting" in kinds(first)
    json.dumps(first.to_dict())  # JSON data, as checkpoints need
    assert History.from_dict(first.to_dict()).diagnosis == first.diagnosis
    resumed = fit(model, nn.CrossEntropyLoss(), opt, (x, y), (x_val, y_val), epochs=10, batch_size=8, verbose=0,
                  resume_from=path, generator=cr.Generator(0))  # fmt: skip
    found = finding(resumed, "overfitting")
    assert found["epoch"] == finding(first, "overfitting")["epoch"] and found["last_epoch"] == 9
    assert resumed.doctor.step == 10 * 5  # the step count went on from the checkpoint's


# -- the hooks in a hand-written loop -----------------------------------------------------------------------------


def test_the_hooks_work_in_a_hand_written_loop():
    x, y = blobs(64)
    model = mlp([16, 32, 4])
    with cr.no_grad():
        model[0].bias.fill_(-50.0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    doctor = Doctor(sample_every=1)
    doctor.begin(model, opt, loss_fn)
    xb, yb = cr.tensor(x), cr.tensor(y)
    for epoch in range(2):
        doctor.batch_begin()
        opt.zero_grad()
        output = model(xb)
        loss = loss_fn(output, yb)
        loss.backward()
        assert doctor.after_backward(loss.item(), (xb,), output, yb)
        opt.step()
        doctor.after_step()
        doctor.epoch_end(epoch, {"loss": loss.item()})
    findings = doctor.end()
    assert [f.kind for f in findings if f.kind == "dead_units"] == ["dead_units"]
    assert all(isinstance(f, Finding) for f in findings)
    assert doctor.report().startswith("Doctor: ")
    assert doctor.to_dict()["trace"][0]["update_ratio"] is not None


def test_doctor_checks_its_settings():
    with pytest.raises(ArgumentError, match="sample_every must be an int >= 1"):
        Doctor(sample_every=0)
    with pytest.raises(ArgumentError, match="treat must be None, 'reduce_lr' or 'restart'"):
        Doctor(treat="magic")
    with pytest.raises(ArgumentError, match="dead_threshold"):
        Doctor(dead_threshold=1.5)
    with pytest.raises(ArgumentError, match=r"model must be a chainrule\.nn\.Module"):
        Doctor().begin("model")


def test_the_trace_stays_bounded_over_a_long_run_and_still_spans_it(monkeypatch):
    from chainrule.diagnostics import doctor as doctor_module

    monkeypatch.setattr(doctor_module, "MAX_TRACE", 8)
    x, y = blobs(64)
    model = mlp([16, 4])
    doctor = Doctor(sample_every=1)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), (x, y), epochs=10, batch_size=16,
        verbose=0, doctor=doctor)  # fmt: skip
    steps = [record["step"] for record in doctor.trace]
    assert len(steps) < 8 and steps[0] == 0 and steps[-1] >= 32  # 40 steps, thinned evenly
    assert len(set(np.diff(steps))) == 1


def test_at_the_end_a_passing_bump_of_the_validation_loss_is_dropped_and_an_escaped_plateau_is_a_note():
    doctor = Doctor()
    doctor.begin(nn.Linear(2, 1))
    train = [1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01]
    val = [1.0, 0.6, 0.5, 0.7, 0.9, 1.0, 0.5, 0.4, 0.3, 0.3]
    seen = []
    for epoch, (loss, val_loss) in enumerate(zip(train, val)):
        seen += [f.kind for f in doctor.epoch_end(epoch, {"loss": loss, "val_loss": val_loss})]
    assert "overfitting" in seen  # while the validation loss was up
    assert doctor.end() == []  # it came back down to its best: a bump, not a trend

    doctor.begin(nn.Linear(2, 1))
    for epoch, loss in enumerate([2.3, 2.2, 2.2, 2.2, 2.2, 1.0, 0.5, 0.2]):
        doctor.epoch_end(epoch, {"loss": loss})
    (plateau,) = doctor.end()
    assert plateau.kind == "plateau" and plateau.severity == "info" and "resolved later" in plateau.message
