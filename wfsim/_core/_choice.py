"""The one source of every nondeterministic decision the engine makes.

Each decision is ``choose(n, stream) -> int in [0, n)`` (or ``uniform(stream)``
for jitter, itself one ``choose`` over 2**32 values). Two sources exist:

* :class:`SeededChoices`: a PRNG per named stream (``schedule``, ``jitter``,
  ``faults``), each seeded from ``sha256(f"{seed}:{stream}")``, so drawing more
  fault dice never reshuffles jitter or the schedule.
* :class:`Tape`: a list of choices fixed before the run (what Hypothesis draws
  and shrinks); past its end every choice is 0, the canonical order.

Both record every choice made, so a run can be replayed from its tape.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["ChoiceSource", "SeededChoices", "Tape", "UNIFORM_RESOLUTION"]

#: ``uniform()`` is ``choose(UNIFORM_RESOLUTION) / UNIFORM_RESOLUTION``.
UNIFORM_RESOLUTION = 1 << 32

STREAMS = ("schedule", "jitter", "faults")


@runtime_checkable
class ChoiceSource(Protocol):
    """What the engine asks whenever it has to decide something."""

    def choose(self, n: int, stream: str) -> int:
        """Return an int in ``[0, n)``; ``n >= 1``."""

    def uniform(self, stream: str) -> float:
        """Return a float in ``[0, 1)``."""

    @property
    def recorded(self) -> tuple[int, ...]:
        """Every choice made so far, in order (a tape that replays the run)."""


class _Recording:
    def __init__(self) -> None:
        self._record: list[int] = []

    @property
    def recorded(self) -> tuple[int, ...]:
        return tuple(self._record)

    def uniform(self, stream: str) -> float:
        return self.choose(UNIFORM_RESOLUTION, stream) / UNIFORM_RESOLUTION

    def choose(self, n: int, stream: str) -> int:
        raise NotImplementedError


class SeededChoices(_Recording):
    """Choices from per-stream PRNGs derived from one integer seed."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        #: Each stream's ``getrandbits``, which :meth:`choose` draws from as CPython's
        #: ``randrange(n)`` does for an int n > 0 (its ``_randbelow``), without its
        #: argument checks or calls: the same values (test_choice), a third of the cost.
        self._bits: dict[str, Callable[[int], int]] = {}

    def _stream(self, name: str) -> random.Random:
        rng = self._streams.get(name)
        if rng is None:
            digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
            rng = self._streams[name] = random.Random(int.from_bytes(digest[:8], "big"))
        return rng

    def choose(self, n: int, stream: str) -> int:
        if n > 1:
            bits = self._bits.get(stream)
            if bits is None:
                bits = self._bits[stream] = self._stream(stream).getrandbits
            k = n.bit_length()
            value = bits(k)
            while value >= n:  # (rejection sampling: uniform over [0, n))
                value = bits(k)
        else:
            value = 0
        self._record.append(value)
        return value


class Tape(_Recording):
    """Choices read from a fixed sequence; each value is taken modulo ``n``.

    A value beyond the tape's end is 0, so shrinking a tape towards the empty
    list shrinks a run towards the engine's canonical order.
    """

    def __init__(self, values: Iterable[int]) -> None:
        super().__init__()
        self.values: Sequence[int] = tuple(values)
        self._pos = 0

    def choose(self, n: int, stream: str) -> int:
        raw = self.values[self._pos] if self._pos < len(self.values) else 0
        self._pos += 1
        value = raw % n if n > 1 else 0
        self._record.append(value)
        return value
