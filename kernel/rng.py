"""Deterministic random streams, one per component.

Each stream is derived from the scenario seed and the component's name with
numpy's ``SeedSequence``; names are hashed with blake2b (never Python's
``hash``, which changes with PYTHONHASHSEED).
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_words(name: str) -> list[int]:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


class RngStreams:
    """Factory of independent, reproducible numpy Generators keyed by component name."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._made: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> np.random.Generator:
        """The Generator for ``name`` (the same object on repeated calls)."""
        gen = self._made.get(name)
        if gen is None:
            seq = np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32, *_name_words(name)])
            gen = np.random.Generator(np.random.PCG64(seq))
            self._made[name] = gen
        return gen
