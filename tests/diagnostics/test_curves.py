"""The loss-curve rules and the findings' record, on curves written by hand."""

from __future__ import annotations

import json
import math

import pytest

from chainrule.diagnostics import CurveSettings, Finding, analyze_curves, format_report
from chainrule.diagnostics.curves import stopped_by_overfitting
from chainrule.errors import ArgumentError


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


def test_a_loss_that_stalls_far_above_its_start_is_a_plateau():
    found = analyze_curves([2.0, 1.9, 1.9, 1.9, 1.9], reference=2.3)
    assert kinds(found) == ["plateau"]
    assert found[0].data["loss"] == 1.9 and found[0].epoch == 4


def test_a_stall_near_zero_is_convergence_not_a_plateau():
    assert analyze_curves([2.0, 0.05, 0.05, 0.05, 0.05], reference=2.3) == []


def test_a_slow_steady_decrease_is_slow_convergence():
    losses = [2.3 * 0.995**epoch for epoch in range(6)]  # 0.5% per epoch
    found = analyze_curves(losses, reference=2.3)
    assert kinds(found) == ["slow_convergence"]
    assert found[0].data["rate_per_epoch"] == pytest.approx((1 - 0.995**3) / 3)  # the mean relative fall
    assert "more epochs to halve" in found[0].message


def test_a_rising_loss_above_its_start_is_divergence():
    assert kinds(analyze_curves([2.3, 2.5, 3.0, 4.0], reference=2.3)) == ["divergence"]


def test_too_few_epochs_say_nothing():
    assert analyze_curves([2.0, 2.0, 2.0]) == []


def test_a_validation_loss_rising_while_training_falls_is_overfitting():
    train = [1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01]
    val = [1.0, 0.6, 0.5, 0.55, 0.65, 0.8, 0.9, 1.0]
    found = analyze_curves(train, val)
    assert kinds(found) == ["overfitting"]
    assert found[0].data["gap"] > found[0].data["gap_at_best"]
    # a single noisy epoch in a flat validation curve is not a trend
    flat = [0.30, 0.32, 0.25, 0.31, 0.32, 0.31, 0.31, 0.31]
    assert analyze_curves(train, flat) == []


def test_early_stopping_on_a_rising_validation_loss_is_overfitting_however_short():
    settings = CurveSettings()
    assert stopped_by_overfitting([1.0, 0.5, 0.3], [1.0, 1.2, 1.3], settings).kind == "overfitting"
    assert stopped_by_overfitting([1.0, 0.5, 0.3], [1.0, 1.05, 1.08], settings) is None  # flat, not rising


def test_a_finding_is_json_data_and_comes_back():
    finding = Finding("dead_units", "half of them", "LeakyReLU", layer="1", epoch=2, data={"fractions": {"1": 0.5}})
    data = json.loads(json.dumps(finding.to_dict()))
    assert Finding.from_dict(data) == finding
    assert finding.title == "dead units"
    with pytest.raises(ArgumentError, match="kind must be one of"):
        Finding("tired", "x")
    with pytest.raises(ArgumentError, match="severity"):
        Finding("plateau", "x", severity="panic")


def test_the_report_puts_warnings_first_one_line_each():
    findings = [
        Finding("treatment", "reduced the learning rate", severity="info", epoch=3),
        Finding("plateau", "stalled at 0.69", "restart", epoch=2, last_epoch=5),
        Finding("dead_units", "all of them", "LeakyReLU", layer="1", epoch=0),
    ]
    lines = format_report(findings).splitlines()
    assert lines[0] == "Doctor: 2 problems found (plateau, dead units)"
    assert lines[1] == "  warning: plateau [epoch 3-6]: stalled at 0.69 Try: restart"
    assert lines[2].startswith("  warning: dead units (layer '1') [epoch 1]")
    assert lines[3].startswith("  info: treatment")
    assert format_report([]) == "Doctor: no problems found"
    assert format_report([f.to_dict() for f in findings]) == format_report(findings)
    assert not math.isnan(findings[1].epoch)
