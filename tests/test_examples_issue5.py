"""The MNIST-1D and character-level language model examples run end to end, on a few steps, and print what their
docstrings promise: a line per run and the table (MNIST-1D); the entropy, the held-out loss and a sample (char LM).
The full runs and their results are in the README's MNIST-1D section."""

from __future__ import annotations

import os
import re
import runpy

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load(name: str) -> dict:
    return runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"))


@pytest.fixture(scope="module")
def mnist1d_example() -> dict:
    return load("mnist1d")


@pytest.fixture(scope="module")
def char_lm_example() -> dict:
    return load("char_lm")


def test_mnist1d_prints_a_line_per_run_and_the_table(mnist1d_example, capsys):
    results = mnist1d_example["main"](["--steps", "3", "--seeds", "0,1", "--models", "logistic,cnn,gru,cnn+,gru+"])
    out = capsys.readouterr().out
    assert set(results) == {"logistic", "cnn", "gru", "cnn+", "gru+"}
    assert all(len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies) for accuracies in results.values())
    for name in results:
        for seed in (0, 1):
            assert re.search(
                rf"^{re.escape(name)} +seed {seed}: train loss [\d.e+-]+, test accuracy [\d.]+%", out, re.M
            )
    table = out[out.index("MNIST-1D test accuracy, 3 steps, seeds 0, 1") :]
    assert re.search(r"^model +recipe +params +chainrule \(mean \[min-max\]\) +published$", table, re.M)
    # the reference models' sizes are the reference's own (its notebooks print 410, 5210 and 5134)
    assert re.search(r"^logistic +reference +410 +[\d.]+% \[[\d.]+-[\d.]+\] +32%$", table, re.M)
    assert re.search(r"^cnn +reference +5,210 .* 94%$", table, re.M)
    assert re.search(r"^gru +reference +5,134 .* 91%$", table, re.M)
    assert re.search(r"^cnn\+ +improved +5,285 .* 94%$", table, re.M)
    assert re.search(r"^gru\+ +improved +4,858 .* 91%$", table, re.M)
    assert re.search(r"^total time: \d+ s$", out, re.M)


def test_mnist1d_runs_are_reproducible(mnist1d_example, capsys):
    first = mnist1d_example["main"](["--steps", "20", "--seeds", "3", "--models", "mlp,mlp+"])
    second = mnist1d_example["main"](["--steps", "20", "--seeds", "3", "--models", "mlp,mlp+"])
    capsys.readouterr()
    assert first == second


def test_mnist1d_reference_batches_follow_the_unshuffled_order_and_shifts_are_circular(mnist1d_example):
    rng = np.random.default_rng(0)
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    shifted = mnist1d_example["random_shifts"](x, 2, rng)
    for row, original in zip(shifted, x):
        assert any(np.array_equal(row, np.roll(original, k)) for k in range(-2, 3))
    assert not mnist1d_example["REFERENCE"].shuffle and mnist1d_example["REFERENCE"].extra_step


def test_mnist1d_rejects_an_unknown_model(mnist1d_example, capsys):
    with pytest.raises(SystemExit):
        mnist1d_example["main"](["--models", "cnn,resnet"])
    assert "unknown resnet" in capsys.readouterr().err


def run_char_lm(example: dict, text: str, folder, capsys, *argv: str) -> tuple[dict, str]:
    """examples/char_lm.py's main on `text` (written to a file in `folder`): its results and printed output."""
    path = folder / "text.txt"
    path.write_text(text, encoding="utf-8")
    results = example["main"](["--text", str(path), *argv])
    return results, capsys.readouterr().out


def test_char_lm_reports_entropy_loss_and_a_sample(char_lm_example, tmp_path, capsys):
    argv = ["--steps", "4", "--context", "16", "--batch-size", "8", "--log-every", "2"]
    text = "the quick brown fox jumps over the lazy dog. " * 40
    results, out = run_char_lm(
        char_lm_example, text, tmp_path, capsys, *argv, "--sample-length", "30", "--prompt", "the "
    )
    assert set(results) == {"unigram", "rnn", "transformer"}
    assert re.search(r"^unigram entropy of the text: ([\d.]+) bits per character$", out, re.M)
    for label in ("LSTM", "Transformer"):
        assert re.search(rf"^{label} \([\d,]+ parameters\), 4 steps of 8 x 16 characters$", out, re.M)
        assert re.search(rf"^{label}: held-out loss [\d.]+ bits per character \([\d.]+ nats\)", out, re.M)
    samples = re.findall(r"^sample \(temperature 0.8\):\n(the .*)$", out, re.M)
    assert len(samples) == 2 and all(len(s) == len("the ") + 30 for s in samples)  # the text has no newline
    assert re.search(r"^  step 2: training loss [\d.]+ bits per character", out, re.M)


def test_char_lm_default_corpus_is_pythons_own_docstrings(char_lm_example):
    text, source = char_lm_example["load_text"](None)
    assert "standard-library" in source
    assert len(text) > 100_000 and "Return" in text
    assert text == char_lm_example["docstring_corpus"]()  # the same text every time


def test_char_lm_trains_a_gru_too(char_lm_example, tmp_path, capsys):
    argv = [
        "--models",
        "rnn",
        "--cell",
        "gru",
        "--steps",
        "2",
        "--context",
        "8",
        "--prompt",
        "ab",
        "--sample-length",
        "5",
    ]
    results, out = run_char_lm(char_lm_example, "abcabcabd\n" * 30, tmp_path, capsys, *argv)
    assert set(results) == {"unigram", "rnn"}
    assert re.search(r"^GRU \([\d,]+ parameters\), 2 steps of 32 x 8 characters$", out, re.M)
    assert "Transformer" not in out


@pytest.mark.parametrize("name", ["cnn", "gru", "mlp"])
def test_mnist1d_torch_twin_trains_the_same_reference_rows(mnist1d_example, name):
    """examples/mnist1d_torch.py is the yardstick for the README's table: from the same initial weights, its
    PyTorch loop and the chainrule example's reference loop reach the same loss and accuracy."""
    torch = pytest.importorskip("torch")
    twin = load("mnist1d_torch")
    from chainrule.data import mnist1d

    data = (*mnist1d(split="train"), *mnist1d(split="test"))
    torch.manual_seed(0)
    theirs = twin["MODELS"][name]()
    ours = mnist1d_example["MODELS"][name][0]()
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    their_accuracy, their_loss = twin["train"](theirs, data, steps=30)
    our_accuracy, our_loss = mnist1d_example["train"](ours, mnist1d_example["REFERENCE"], data, 30, seed=0)
    assert our_loss == pytest.approx(their_loss, rel=1e-3)
    assert our_accuracy == pytest.approx(their_accuracy, abs=0.002)


def test_mnist1d_torch_twin_prints_its_table(capsys):
    pytest.importorskip("torch")
    results = load("mnist1d_torch")["main"](["--steps", "3", "--seeds", "0,1", "--models", "logistic,gru"])
    out = capsys.readouterr().out
    assert set(results) == {"logistic", "gru"} and all(len(values) == 2 for values in results.values())
    assert re.search(r"gru\s+[\d.]+% \[[\d.]+-[\d.]+\]\s+published 91%", out)
