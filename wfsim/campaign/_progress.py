"""Progress of a running campaign on stderr: a rich bar on a terminal, else plain lines.

Progress never goes to stdout, so ``--json`` output stays one JSON object.
Timings here are host time on purpose: they describe the user's wait, not the
simulation.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO

__all__ = ["Progress", "progress_for"]

#: Seconds between two plain progress lines.
LINE_INTERVAL = 5.0


class Progress(Protocol):
    """Told how far a campaign got; shows it somewhere (or nowhere)."""

    def update(self, done: int, failed: int) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def update(self, done: int, failed: int) -> None:
        pass

    def close(self) -> None:
        pass


def _eta(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class _Lines:
    """One line at most every ``interval`` seconds: done/total, failures, runs/s, ETA."""

    def __init__(self, stream: TextIO, total: int, interval: float) -> None:
        self.stream = stream
        self.total = total
        self.interval = interval
        self.begin = self.last = time.monotonic()

    def update(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = done / (now - self.begin) if now > self.begin else 0.0
        eta = _eta((self.total - done) / rate) if rate > 0 else "?"
        percent = 100 * done // self.total if self.total else 100
        print(
            f"wfsim simulate: {done}/{self.total} runs ({percent}%), {failed} failed, "
            f"{rate:.0f} runs/s, ETA {eta}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        pass


class _Bar:
    """A rich progress bar; started on the first update (after worker processes exist,
    since its refresh thread must not be running when they are forked)."""

    def __init__(self, stream: TextIO, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.begin = time.monotonic()
        self.bar = Progress(
            TextColumn("simulate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.0f} runs/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=stream, force_terminal=True),
            transient=True,
        )
        self.task: Any = None
        self.total = total

    def update(self, done: int, failed: int) -> None:
        elapsed = time.monotonic() - self.begin
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("simulate", total=self.total, rate=rate, failed=failed)
        self.bar.update(self.task, completed=done, rate=rate, failed=failed)

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


def progress_for(stream: TextIO | None, total: int, *, interval: float = LINE_INTERVAL) -> Progress:
    """The progress display for ``stream``: none, a rich bar on a terminal, or plain lines.

    Without ``rich`` installed a terminal gets the plain lines too.
    """
    if stream is None:
        return _Silent()
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        try:
            return _Bar(stream, total)
        except ImportError:
            pass
    return _Lines(stream, total, interval)
