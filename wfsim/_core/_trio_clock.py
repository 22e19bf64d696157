"""trio's ``MockClock`` without ``import trio.testing``.

``trio.testing`` imports pytest when it is installed (its ``RaisesGroup`` helpers),
~60 ms of start-up for every ``wfsim`` command and ``import wfsim``. The class lives
in ``trio._core._mock_clock``; the public path stays the fallback should trio move it.
"""

from __future__ import annotations

try:
    from trio._core._mock_clock import MockClock
except ImportError:  # pragma: no cover - a trio without it there
    from trio.testing import MockClock

__all__ = ["MockClock"]
