"""The doctor's plots: PNG files drawn through matplotlib when it is installed, a clear error when it is not."""

from __future__ import annotations

import builtins

import pytest

from chainrule import nn, optim
from chainrule.diagnostics import plot_gradients, plot_loss, plot_lr, save_plots
from chainrule.errors import ArgumentError, MissingDependencyError
from chainrule.train import fit
from tests.diagnostics.pathologies import blobs, mlp

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def history():
    x, y = blobs(64)
    x_val, y_val = blobs(32, seed=1)
    model = mlp([16, 16, 4])
    return fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), (x_val, y_val), epochs=3,
               batch_size=16, verbose=0)  # fmt: skip


def is_png(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == PNG


def test_loss_lr_and_gradient_plots_are_pngs(history, tmp_path):
    pytest.importorskip("matplotlib")
    assert is_png(plot_loss(history, tmp_path / "loss.png"))
    assert is_png(plot_lr(history.to_dict(), tmp_path / "lr.png"))
    assert is_png(plot_gradients(history.doctor, tmp_path / "gradients.png"))
    assert is_png(plot_gradients(history.doctor.to_dict(), tmp_path / "gradients2.png"))
    written = save_plots(tmp_path / "run", history)
    assert [p.rsplit("/", 1)[-1] for p in written] == ["loss.png", "lr.png", "gradients.png"]
    assert all(is_png(p) for p in written)


def test_bad_inputs_are_named(history, tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ArgumentError, match="no 'loss' curve"):
        plot_loss({"accuracy": [0.5]}, tmp_path / "x.png")
    with pytest.raises(ArgumentError, match="expected a Doctor"):
        plot_gradients({"loss": [1.0]}, tmp_path / "x.png")


def test_without_matplotlib_the_error_says_what_to_install(history, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(MissingDependencyError, match=r'pip install "chainrule\[plot\]"'):
        plot_loss(history, tmp_path / "loss.png")
