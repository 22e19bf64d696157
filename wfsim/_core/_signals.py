"""Signals: messages delivered to a running workflow at a virtual time (human in the loop)."""

from __future__ import annotations

from typing import Any

import attrs

from ._time import Duration, to_ns, to_seconds

__all__ = ["Signal"]


def _at(value: Duration) -> int:
    return to_ns(value, what="signal time")


def _name(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"a signal needs a non-empty name, not {value!r}")
    return value


@attrs.frozen
class Signal:
    """A signal ``name`` with ``payload`` delivered at virtual time ``at``.

    ``wfsim.run(wf, signals=[Signal("approval", at="2h", payload={"approved": True})])``.
    A signal that arrives before the body waits for it is buffered.
    """

    name: str = attrs.field(converter=_name)
    at_ns: int = attrs.field(default=0, converter=_at, alias="at")
    payload: Any = None

    @property
    def at(self) -> float:
        return to_seconds(self.at_ns)
