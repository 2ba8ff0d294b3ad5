"""Run folders: what `chainrule train` writes with save_run_diagnostics and `chainrule doctor` reads back."""

from __future__ import annotations

import json
import os

import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.diagnostics import diagnose_run, load_run, report_run, save_run_diagnostics
from chainrule.errors import ArgumentError
from chainrule.train import fit
from tests.diagnostics.pathologies import blobs, mlp


@pytest.fixture(scope="module")
def overfit_history():
    x, y = blobs(40, classes=10)
    x_val, y_val = blobs(200, classes=10, seed=1)
    model = mlp([16, 128, 10])
    return fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), (x_val, y_val),
               epochs=10, batch_size=8, verbose=0)  # fmt: skip


def test_a_saved_diagnosis_is_read_back_by_the_doctor_command(overfit_history, tmp_path):
    written = save_run_diagnostics(tmp_path, overfit_history, plots=False)
    assert written == [os.path.join(tmp_path, "diagnosis.json")]
    with open(written[0]) as handle:
        data = json.load(handle)  # strict JSON: no NaN
    assert data["format"] == "chainrule.diagnosis"
    assert data["findings"] == overfit_history.diagnosis
    assert data["doctor"]["layers"][0] == {"name": "0", "kind": "Linear", "numel": 16 * 128 + 128}
    assert [f.kind for f in diagnose_run(tmp_path)] == [item["kind"] for item in overfit_history.diagnosis]
    text = report_run(tmp_path, plots=False)
    assert text.splitlines()[0].startswith("Doctor: 1 problem found (overfitting)")
    assert "diagnosis.json" in text


def test_plots_are_written_when_matplotlib_is_there(overfit_history, tmp_path):
    pytest.importorskip("matplotlib")
    written = save_run_diagnostics(tmp_path, overfit_history)
    assert {os.path.basename(p) for p in written} == {"diagnosis.json", "loss.png", "lr.png", "gradients.png"}
    text = report_run(tmp_path, plots=True)
    assert "plots: " in text and "gradients.png" in text
    only = save_run_diagnostics(tmp_path / "cli", overfit_history, which=("lr", "gradients"))
    assert [os.path.basename(p) for p in only] == ["diagnosis.json", "lr.png", "gradients.png"]


def test_a_folder_with_only_a_csv_of_epochs_is_diagnosed_from_its_curves(overfit_history, tmp_path):
    overfit_history.to_csv(tmp_path / "history.csv")  # as `chainrule train` writes it, next to the weights
    cr.save(overfit_history.doctor.model.state_dict(), tmp_path / "model.safetensors")
    assert load_run(tmp_path)["findings"] is None
    assert [f.kind for f in diagnose_run(tmp_path)] == ["overfitting"]
    assert "from the loss curves alone" in report_run(tmp_path, plots=False)


def test_a_folder_with_a_checkpoint_is_read_through_its_history(tmp_path):
    x, y = blobs(32)
    model = mlp([16, 4])
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, verbose=0,
        checkpoint_path=tmp_path / "last.ckpt")  # fmt: skip
    run = load_run(tmp_path)
    assert run["source"].endswith("last.ckpt") and run["findings"] == []  # the doctor's, as of the last epoch
    assert report_run(tmp_path, plots=False).startswith("Doctor: no problems found")


def test_a_folder_without_a_run_is_refused(tmp_path):
    with pytest.raises(ArgumentError, match="holds no run to diagnose"):
        report_run(tmp_path)
    with pytest.raises(ArgumentError, match="is not a folder"):
        report_run(tmp_path / "missing")
