"""Character-level language models: a recurrent network (LSTM or GRU) and a small causal Transformer learn to
predict the next character of a text, and then write some of their own.

The text: a file you give (`--text FILE`, read as UTF-8), or by default a corpus Python itself ships, the
docstrings of fifty standard-library modules (argparse, collections, json, os, re, unittest ...: each module's,
its public classes' and functions' and their methods', as `inspect.getdoc` gives them, in a fixed order, each
once), about 350,000 characters of English prose and code on Python 3.11. The last 10% of the text is held out:
the models never train on it.

Both models see windows of `--context` characters drawn at random from the training part and, at every position,
are scored by cross-entropy against the character that follows. Loss per character is reported in bits (the
cross-entropy in nats / ln 2), on the held-out part (non-overlapping windows, each read from its start), next to
the text's unigram entropy: what a model that knows only how often each character occurs would pay, per
character. A model that has learned anything about spelling, words and syntax pays much less.

- rnn: Embedding(V, 64) -> LSTM(64, 256) (or GRU with --cell gru) -> Linear(256, V).
- transformer: token and learned position embeddings (128), two pre-norm TransformerEncoderLayers (4 heads,
  feed-forward 512, ReLU), a causal mask, a final LayerNorm -> Linear(128, V).
Adam, gradient norm clipped at 1, the learning rate warmed up over the first 100 steps, then annealed along a
cosine to a tenth.

Run: `python examples/char_lm.py` (both models, about six minutes on one core); `--models rnn --steps 300` for a
quick look; `--text FILE` for your own text; `--help` for the rest.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import blas_threads
from chainrule.nn.utils import clip_grad_norm_
from chainrule.optim.lr_scheduler import LambdaLR

CORPUS_MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "difflib", "email.message", "enum", "fractions", "functools", "glob", "gzip", "hashlib", "heapq",
    "http.client", "inspect", "io", "itertools", "json", "logging", "math", "operator", "os", "pathlib", "pickle",
    "pprint", "queue", "random", "re", "shutil", "socket", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "time", "typing", "unittest", "urllib.parse", "uuid", "warnings", "zipfile",
)  # fmt: skip
HELD_OUT = 0.1  # the last tenth of the text


def docstring_corpus(modules: Sequence[str] = CORPUS_MODULES) -> str:
    """The docstrings of `modules` and of their public classes, functions and methods (those defined in the
    module itself), in a fixed order, each distinct docstring once, separated by blank lines."""
    seen: set[str] = set()
    parts: list[str] = []

    def add(obj: Any) -> None:
        doc = inspect.getdoc(obj)
        if doc and len(doc) > 40 and doc not in seen:  # skip one-liners like "Return self."
            seen.add(doc)
            parts.append(doc)

    with warnings.catch_warnings():  # reading typing.io / typing.re warns of their deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        for module_name in modules:
            module = importlib.import_module(module_name)
            add(module)
            for name, obj in sorted(vars(module).items()):
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                if inspect.isclass(obj):
                    add(obj)
                    for method_name, method in sorted(vars(obj).items()):
                        if not method_name.startswith("_") and callable(method):
                            add(method)
                elif callable(obj):
                    add(obj)
    return "\n\n".join(parts) + "\n"


def load_text(path: str | None) -> tuple[str, str]:
    """(text, where it came from)."""
    if path is None:
        return docstring_corpus(), f"the docstrings of {len(CORPUS_MODULES)} standard-library modules"
    with open(path, encoding="utf-8") as handle:
        return handle.read(), path


def unigram_entropy_bits(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy, in bits per character, of the characters' frequencies in `ids`."""
    counts = np.bincount(ids, minlength=vocab_size)
    p = counts[counts > 0] / len(ids)
    return float(-(p * np.log2(p)).sum())


# -- models ------------------------------------------------------------------------------------------------------


class RecurrentLM(nn.Module):
    """tokens (N, T) int64 -> logits (N, T, V), and the recurrent state, to carry on from where it stopped."""

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256, cell: str = "lstm") -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: cr.Tensor, state: Any = None) -> tuple[cr.Tensor, Any]:
        out, state = self.rnn(self.embed(tokens), state)  # (N, T, hidden)
        return self.head(out), state


class TransformerLM(nn.Module):
    """tokens (N, T) int64, T <= context -> logits (N, T, V); position t sees positions 0..t only."""

    def __init__(
        self, vocab_size: int, context: int, d_model: int = 128, heads: int = 4, layers: int = 2, ff: int = 512
    ) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: cr.Tensor, state: Any = None) -> tuple[cr.Tensor, Any]:
        length = tokens.shape[1]
        h = self.token(tokens) + self.position(cr.arange(length))  # (N, T, d_model)
        mask = nn.generate_square_subsequent_mask(length)
        h = self.encoder(h, mask=mask, is_causal=True)
        return self.head(self.norm(h)), None


def build(name: str, vocab_size: int, args: argparse.Namespace) -> nn.Module:
    if name == "rnn":
        return RecurrentLM(vocab_size, cell=args.cell)
    return TransformerLM(vocab_size, args.context)


# -- training, evaluation, sampling ------------------------------------------------------------------------------


def windows(ids: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ids[s : s + length] and targets ids[s + 1 : s + length + 1] for each start s: (len(starts), length)."""
    rows = starts[:, None] + np.arange(length)[None, :]
    return ids[rows], ids[rows + 1]


def mean_loss(model: nn.Module, ids: np.ndarray, length: int, batch_size: int = 64) -> float:
    """Cross-entropy in nats per character over `ids`, cut into non-overlapping windows (the tail that does not
    fill one is left out), each read from its start."""
    count = (len(ids) - 1) // length
    starts = np.arange(count) * length
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total = 0.0
    model.eval()
    with cr.no_grad():
        for first in range(0, count, batch_size):
            x, y = windows(ids, starts[first : first + batch_size], length)
            logits, _ = model(cr.tensor(x))
            total += loss_fn(logits.reshape(-1, logits.shape[-1]), cr.tensor(y.reshape(-1))).item()
    return total / (count * length)


def train(
    model: nn.Module,
    train_ids: np.ndarray,
    args: argparse.Namespace,
    rng: np.random.Generator,
    log: Callable[[int, float], None],
) -> None:
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    warmup = min(100, args.steps // 10)

    def lr_factor(step: int) -> float:  # linear warm-up, then a cosine from 1 down to 0.1
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))

    scheduler = LambdaLR(optimizer, lr_factor)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(args.steps):
        x, y = windows(train_ids, rng.integers(0, len(train_ids) - args.context - 1, args.batch_size), args.context)
        logits, _ = model(cr.tensor(x))
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), cr.tensor(y.reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        log(step + 1, loss.item())


def sample(
    model: nn.Module, prompt: Sequence[int], length: int, temperature: float, context: int, rng: np.random.Generator
) -> list[int]:
    """`length` characters drawn one at a time from the model's predicted distribution (softmax of logits /
    temperature) after `prompt`. A recurrent model carries its state; the Transformer rereads the last `context`
    characters at every step."""
    model.eval()
    out = list(prompt)
    recurrent = isinstance(model, RecurrentLM)
    with cr.no_grad():
        logits, state = model(cr.tensor(np.array([out[-context:]], dtype=np.int64)))
        for _ in range(length):
            z = logits.data[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            if recurrent:
                logits, state = model(cr.tensor(np.array([[nxt]], dtype=np.int64)), state)
            else:
                logits, _ = model(cr.tensor(np.array([out[-context:]], dtype=np.int64)))
    return out[len(prompt) :]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train character-level language models (an LSTM or GRU, and a small Transformer) on a text "
        "and report their loss per character against the text's unigram entropy, with samples.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--text", default=None, help="a UTF-8 text file (default: the standard library's docstrings)")
    parser.add_argument("--models", default="rnn,transformer", help="comma-separated, of: rnn, transformer")
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="the recurrent model's cell")
    parser.add_argument("--steps", type=int, default=1500, help="training steps per model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context", type=int, default=64, help="characters per training window")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-length", type=int, default=300, help="characters to generate per model")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--prompt", default="Return the ", help="the text the samples start from")
    parser.add_argument("--log-every", type=int, default=100, help="print the training loss every this many steps")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (0: the library's default)")
    args = parser.parse_args(argv)
    args.models = [name.strip() for name in args.models.split(",") if name.strip()]
    if not args.models or any(name not in ("rnn", "transformer") for name in args.models):
        parser.error(f"--models: choose from rnn, transformer; got {','.join(args.models) or '(none)'}")
    for name in ("steps", "batch_size", "context", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive number, got {getattr(args, name)}")
    if args.temperature <= 0:
        parser.error(f"--temperature: expected a positive number, got {args.temperature}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train and sample each model asked for; returns model -> held-out loss in bits per character (and
    'unigram' -> the text's unigram entropy in bits per character)."""
    args = parse_args(argv)
    text, source = load_text(args.text)
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    split = int(len(ids) * (1 - HELD_OUT))
    train_ids, held_out_ids = ids[:split], ids[split:]
    if len(train_ids) < args.context + 2 or len(held_out_ids) < args.context + 1:
        raise SystemExit(f"char_lm: the text ({len(text)} characters) is too short for --context {args.context}")
    missing = sorted(set(args.prompt) - set(index))
    if missing:
        raise SystemExit(f"char_lm: the prompt's characters {missing} do not occur in the text")
    unigram = unigram_entropy_bits(ids, len(vocab))
    print(f"text: {source}: {len(text):,} characters, {len(vocab)} distinct; {len(held_out_ids):,} held out")
    print(f"unigram entropy of the text: {unigram:.3f} bits per character")

    results: dict[str, float] = {"unigram": unigram}
    started = time.perf_counter()
    with blas_threads(args.threads):
        for name in args.models:
            cr.manual_seed(args.seed)
            rng = np.random.default_rng(args.seed)
            model = build(name, len(vocab), args)
            label = f"{args.cell.upper()}" if name == "rnn" else "Transformer"
            size = sum(p.data.size for p in model.parameters())
            print(
                f"\n{label} ({size:,} parameters), {args.steps} steps of {args.batch_size} x {args.context} characters"
            )
            run_started = time.perf_counter()
            recent: list[float] = []

            def log(step: int, loss: float, recent: list[float] = recent, run_started: float = run_started) -> None:
                recent.append(loss)
                if step % args.log_every == 0 or step == args.steps:
                    bits = sum(recent) / len(recent) / math.log(2)
                    elapsed = time.perf_counter() - run_started
                    print(f"  step {step}: training loss {bits:.3f} bits per character ({elapsed:.0f} s)", flush=True)
                    recent.clear()

            train(model, train_ids, args, rng, log)
            held_out = mean_loss(model, held_out_ids, args.context) / math.log(2)
            results[name] = held_out
            print(
                f"{label}: held-out loss {held_out:.3f} bits per character ({held_out * math.log(2):.3f} nats), "
                f"unigram entropy {unigram:.3f}; {time.perf_counter() - run_started:.0f} s"
            )
            prompt = [index[ch] for ch in args.prompt]
            generated = sample(model, prompt, args.sample_length, args.temperature, args.context, rng)
            print(f"sample (temperature {args.temperature}):")
            print(args.prompt + "".join(vocab[i] for i in generated))
    print(f"\ntotal time: {time.perf_counter() - started:.0f} s")
    return results


if __name__ == "__main__":
    main()
