"""Small helpers the SVG pictures share: escaping, numbers, axis ticks."""

from __future__ import annotations

import html

__all__ = ["esc", "num", "ticks"]


def esc(text: object) -> str:
    """Text for an HTML or SVG text node or attribute value (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros: the same text on every host."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def ticks(top: int, *, most: int = 8) -> list[int]:
    """Tick values from 0 to at least ``top`` on a 1-2-5 step, at most ``most`` + 1 of them."""
    if top <= 0:
        return [0]
    step = 1
    while True:
        for factor in (1, 2, 5):
            if top / (step * factor) <= most:
                size = step * factor
                count = -(-top // size)
                return [i * size for i in range(count + 1)]
        step *= 10
