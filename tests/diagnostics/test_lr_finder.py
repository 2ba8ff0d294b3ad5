"""lr_find: Smith's range test proposes a sensible learning rate and leaves the model and optimizer untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.diagnostics import LRFinderResult, lr_find
from chainrule.errors import ArgumentError
from tests.diagnostics.pathologies import blobs, mlp, same_weights, weights_of


def linear_targets(n: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, (x @ rng.standard_normal((8, 1)) + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)


def test_the_suggestion_is_a_learning_rate_that_trains_well():
    x, y = linear_targets()
    model = mlp([8, 32, 1])
    opt = optim.SGD(model.parameters(), lr=1e-3)
    result = lr_find(model, nn.MSELoss(), opt, (x, y), num_iter=100)
    assert isinstance(result, LRFinderResult) and result.diverged  # the sweep to lr=10 blows up, and stops
    assert len(result.lrs) == len(result.losses) == len(result.raw_losses) < 100
    assert result.lrs[0] == pytest.approx(1e-7)
    assert np.all(np.diff(np.log(result.lrs)) == pytest.approx(np.log(1e8) / 99))  # exponential steps
    assert 1e-3 <= result.suggested_lr <= 3.0
    assert result.lr_min_div10 == pytest.approx(result.min_loss_lr / 10)

    def final_loss(lr: float) -> float:
        trial = mlp([8, 32, 1])
        trial_opt = optim.SGD(trial.parameters(), lr=lr)
        loss_fn = nn.MSELoss()
        for _ in range(3):
            for start in range(0, len(x), 32):
                trial_opt.zero_grad()
                loss = loss_fn(trial(cr.tensor(x[start : start + 32])), cr.tensor(y[start : start + 32]))
                loss.backward()
                trial_opt.step()
        return loss_fn(trial(cr.tensor(x)), cr.tensor(y)).item()

    # the proposed lr trains far better than the small one the optimizer came with
    assert final_loss(result.suggested_lr) < 0.5 * final_loss(1e-3)


def test_the_model_the_optimizer_and_the_random_state_are_restored():
    x, y = blobs(128)
    model = mlp([16, 16, 4])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xb, yb = cr.tensor(x[:32]), cr.tensor(y[:32])
    opt.zero_grad()
    loss_fn(model(xb), yb).backward()
    opt.step()  # some Adam state, and gradients, to restore
    weights, state = weights_of(model), copy.deepcopy(opt.state_dict())
    grads = [p.grad for p in model.parameters()]
    model.eval()
    rng = cr.get_rng_state()
    lr_find(model, loss_fn, opt, (x, y), num_iter=20)
    assert same_weights(model, weights)
    assert not model.training
    assert [p.grad for p in model.parameters()] == grads
    restored = opt.state_dict()
    assert restored["param_groups"][0]["lr"] == 1e-3
    for key, value in state["state"].items():
        assert restored["state"][key]["step"] == value["step"]
        np.testing.assert_array_equal(restored["state"][key]["exp_avg"], value["exp_avg"])
    assert cr.get_rng_state() == rng


def test_it_takes_a_dataloader_and_cycles_through_short_data():
    x, y = blobs(40)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)  # 3 batches for 30 steps
    model = mlp([16, 4])
    result = lr_find(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader, num_iter=30,
                     end_lr=1e-2)  # fmt: skip
    assert len(result.lrs) == 30 and not result.diverged
    assert result.lrs[-1] == pytest.approx(1e-2)


def test_no_smoothing_records_the_raw_losses():
    x, y = blobs(64)
    model = mlp([16, 4])
    result = lr_find(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), (x, y), num_iter=10, smooth=0,
                     end_lr=1e-3)  # fmt: skip
    assert result.losses == result.raw_losses


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = linear_targets(128)
    model = mlp([8, 8, 1])
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), num_iter=30)
    path = result.plot(tmp_path / "lr_find.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_named():
    model = mlp([16, 4])
    opt = optim.SGD(model.parameters(), lr=0.1)
    data = blobs(16)
    with pytest.raises(ArgumentError, match=r"end_lr .* must be larger than start_lr"):
        lr_find(model, nn.CrossEntropyLoss(), opt, data, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ArgumentError, match="num_iter must be an int >= 2"):
        lr_find(model, nn.CrossEntropyLoss(), opt, data, num_iter=1)
    with pytest.raises(ArgumentError, match="smooth must be a number in"):
        lr_find(model, nn.CrossEntropyLoss(), opt, data, smooth=1.0)
    with pytest.raises(ArgumentError, match="data must be a DataLoader"):
        lr_find(model, nn.CrossEntropyLoss(), opt, 3)
