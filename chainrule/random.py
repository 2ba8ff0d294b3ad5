"""Seeding and the library's random generator.

All of chainrule's randomness (initialisation, dropout, shuffling, `rand`/`randn`) draws from one
`Generator` unless a function is handed its own, so `chainrule.manual_seed(0)` makes a run reproducible.
NumPy's global state is never used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ArgumentError


class Generator:
    """A seedable source of random numbers (PCG64), with a state that can be saved and restored."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self.numpy = np.random.Generator(np.random.PCG64(seed))

    def manual_seed(self, seed: int) -> Generator:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ArgumentError(f"manual_seed: expected a non-negative int, got {seed!r}")
        self._seed = int(seed)
        self.numpy = np.random.Generator(np.random.PCG64(int(seed)))
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The generator's full state, as plain Python data (JSON-serialisable)."""
        return {"seed": self._seed, "bit_generator": self.numpy.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise ArgumentError("set_state: expected a state dict returned by Generator.get_state()")
        self._seed = state.get("seed")
        self.numpy.bit_generator.state = state["bit_generator"]


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the library's default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed used."""
    new_seed = int(np.random.SeedSequence().entropy % (2**63))
    default_generator.manual_seed(new_seed)
    return new_seed


def initial_seed() -> int | None:
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)


def numpy_generator(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: the given Generator's, or the default one's."""
    if generator is None:
        return default_generator.numpy
    if not isinstance(generator, Generator):
        raise ArgumentError(f"generator: expected a chainrule.Generator, got {type(generator).__name__}")
    return generator.numpy
