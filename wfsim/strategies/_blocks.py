"""Many parts of a drawn value from one Hypothesis choice: a block of bytes read field by field.

Hypothesis spends about 30 to 40 us of bookkeeping on every choice it makes (a span, a
choice record, its data tree), whatever the choice. A workflow step drawn part by part
(its dependencies, duration, output, retry policy, timeout...) made about 16 choices;
drawn as one block of bytes it makes one, and :class:`Fields` reads the parts from the
block. The bytes themselves are nearly free to draw (under 0.5 us each).

Shrinking still goes part by part: Hypothesis shrinks a bytes choice byte by byte
towards zero, and every field reads all-zero bytes as its simplest value (0, the first
option, "absent") and smaller bytes never as a larger value. So a block of zeros is the
simplest step, and lowering one field's bytes simplifies that field alone.

The layout rule that keeps it so: a reader reads the same fields in the same order
whatever their values (a field it does not need this time is read and ignored). A block
then has one size, found by reading a block of zeros (:func:`layout_size`), and changing
one field while shrinking never moves another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

__all__ = ["BLOCK_UNIT", "Fields", "blocks", "layout_size"]

T = TypeVar("T")

#: Bytes read by :meth:`Fields.pick`: enough for a list of any workflow's names.
_PICK_WIDTH = 2


@functools.cache
def _width(n: int) -> int:
    """Bytes to read for ``0..n-1``: at least 16 byte values per value (bias under 1/16)."""
    width = 1
    while 256**width < 16 * n:
        width += 1
    return width


class Fields:
    """Reads bounded values, in order, from one drawn block of bytes.

    Past the block's end every field reads as zero bytes (its simplest value).
    """

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def used(self) -> int:
        """How many bytes the fields read so far take."""
        return self._at

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes: fields read and not needed (cheaper than reading them)."""
        self._at += size

    def _next(self, width: int) -> int:
        at = self._at
        self._at = at + width
        return int.from_bytes(self._data[at : at + width], "big")

    def below(self, n: int) -> int:
        """A value in ``0..n-1``, scaled from the next bytes (so monotone in them)."""
        width = _width(n)
        return self._next(width) * n >> (8 * width)

    def between(self, low: int, high: int) -> int:
        """A value in ``low..high``; zero bytes read ``low``."""
        return low + self.below(high - low + 1)

    def flag(self) -> bool:
        """True for the upper half of one byte's values: one chance in two."""
        return self.below(2) == 1

    def choice(self, options: Sequence[T]) -> T:
        """One of ``options`` (a fixed sequence): zero bytes read the first."""
        return options[self.below(len(options))]

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, a sequence whose length varies from example to example.

        Read modulo its length, not scaled: an index below the length reads the same
        item whatever the length, so when the shrinker removes a later step, a fault
        naming ``s1`` keeps naming ``s1``.
        """
        return options[self.number() % len(options)]

    def number(self) -> int:
        """A number to take modulo a length known only later (see :meth:`pick`)."""
        return self._next(_PICK_WIDTH)


def layout_size(read: Callable[[Fields], object]) -> int:
    """How many bytes ``read`` takes from a block (it must read a fixed layout)."""
    fields = Fields(b"")
    read(fields)
    return fields.used


#: Blocks are drawn in multiples of this many bytes (see :func:`blocks`).
BLOCK_UNIT = 64


@functools.cache
def blocks(size: int) -> SearchStrategy[bytes]:
    """Blocks of at least ``size`` bytes: one Hypothesis choice, shrinking towards zeros.

    The size is rounded up to a multiple of :data:`BLOCK_UNIT` (the bytes past the
    layout are never read), so that blocks of different layouts have the same size: a
    step and a fault with the default options both take 64 bytes. When Hypothesis's
    mutator changes an example's shape, it replays later choices in other places, and a
    bytes choice that does not fit its new place is replaced with zeros (the simplest
    value): with one size, a fault block keeps random bytes where a different size had
    made two faults in five the all-zero fault (error on the first step's attempt 1).
    """
    size = -(-size // BLOCK_UNIT) * BLOCK_UNIT
    return st.binary(min_size=size, max_size=size)
