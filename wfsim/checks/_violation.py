"""The value every oracle returns: one broken promise, its rule and its trace lines."""

from __future__ import annotations

import attrs

from wfsim._core._trace import TraceEvent

__all__ = ["Violation"]


@attrs.frozen
class Violation:
    """One rule of the specs that a trace breaks.

    ``rule`` is a spec rule ID (``"ORD-1"``, ``"RETRY-8"``); ``message`` is a
    sentence naming the steps, attempts and virtual times involved; ``events``
    are the trace lines that show it, in trace order. Example::

        Violation("ORD-1", "step 'ship' attempt 1 started at t=2s before its "
                  "dependency 'charge' completed (at t=3s)", (start, completed))
    """

    rule: str
    message: str
    events: tuple[TraceEvent, ...] = ()

    def describe(self) -> str:
        """The rule and message, then one indented timeline line per event."""
        lines = [f"{self.rule}: {self.message}"]
        lines.extend(f"    {e.describe()}" for e in self.events)
        return "\n".join(lines)
