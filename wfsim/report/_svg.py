"""Small helpers the SVG pictures share: escaping, numbers, axis ticks."""

from __future__ import annotations

import html

__all__ = ["esc", "num", "time_ticks"]


def esc(text: object) -> str:
    """Text for an HTML or SVG text node or attribute value (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros: the same text on every host."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_ONE_TWO_FIVE = (1, 2, 5, 10, 20, 50, 100, 200, 500)
#: Tick units, largest first, with the steps that read well in each (clock-like for
#: minutes and hours); an axis uses the largest unit it spans twice.
_TIME_UNITS = (
    ("d", 86_400 * 10**9, _ONE_TWO_FIVE),
    ("h", 3_600 * 10**9, (1, 2, 3, 6, 12)),
    ("m", 60 * 10**9, (1, 2, 5, 10, 15, 30)),
    ("s", 10**9, (1, 2, 5, 10, 15, 30)),
    ("ms", 10**6, _ONE_TWO_FIVE),
    ("us", 10**3, _ONE_TWO_FIVE),
    ("ns", 1, _ONE_TWO_FIVE),
)


def time_ticks(end_ns: int, *, most: int = 8) -> list[tuple[int, str]]:
    """Ticks of a virtual-time axis from 0 to ``end_ns``: ``(t_ns, label)`` in one unit.

    A 4-hour run reads ``0, 1h, 2h, 3h, 4h``; 100 minutes ``0, 15m, 30m, ... 90m``:
    the largest unit the axis spans at least twice, on a step that reads well in
    it, at most ``most`` steps, the labels whole numbers of that unit.
    """
    if end_ns <= 0:
        return [(0, "0")]
    unit, size, steps = next(u for u in _TIME_UNITS if end_ns >= 2 * u[1] or u[1] == 1)
    factor = 1  # days past the table keep its 1-2-5 pattern: 1000d, 2000d, 5000d
    while (step := next((m * factor for m in steps if end_ns <= most * m * factor * size), 0)) == 0:
        factor *= 1000
    out = []
    for k in range(end_ns // (step * size) + 1):
        t_ns = k * step * size
        out.append((t_ns, f"{k * step}{unit}" if k else "0"))
    return out
