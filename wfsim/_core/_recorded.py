"""A recorded run's history, read from its trace, for :func:`wfsim.replay_history`.

A trace records what a workflow body's calls did: each call's ``step_ready`` (in the
order the body made the calls), its output or error, each child's ``child_started``,
each ``patched`` marker and every ``signal_received``. That is the history new code
must reproduce (specs/imperative.md IMP-14): the same calls, by name, in that order,
answered with the recorded outcomes; the waits for signals answered with the payloads
received; each call's arguments, as the trace records them (TRACE-5: a canonical JSON
form or its hash). A trace does not record the body's sleeps, so those are not compared,
and a history written before trace format 2 has no arguments: they are not compared
either (:attr:`RecordedHistory.has_args`).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

import attrs

from wfsim.errors import StepTimeoutError, WfsimError

from ._callargs import describe_args, encode_args
from ._faults import InjectedError
from ._trace import TraceEvent

__all__ = ["Diverged", "Entry", "HistoryEnd", "RecordedHistory"]


class Diverged(Exception):
    """The code did something else than the history has at ``position``."""

    def __init__(self, position: str, recorded: str, new: str) -> None:
        super().__init__(position, recorded, new)
        self.position = position
        self.recorded = recorded
        self.new = new


class HistoryEnd(Exception):
    """The code went past the end of a history whose run had not finished: all reproduced."""


@attrs.define(eq=False)
class Entry:
    """One recorded call (``call``, ``child``) or patch marker (``patch``)."""

    kind: str
    name: str
    t_ns: int
    seq: int
    end_ns: int | None = None
    output: Any = None
    error: str | None = None
    message: str = ""
    used: bool = False
    #: The call's recorded arguments (TRACE-5); None in a trace of format 1.
    args: Any = None

    @property
    def what(self) -> str:
        if self.kind == "patch":
            return f"ctx.patched({self.name!r})"
        return f"{'the child' if self.kind == 'child' else 'the call'} {self.name!r}"

    def exception(self) -> BaseException:
        """The recorded error as the body saw it (by its class name where it is a builtin)."""
        assert self.error is not None
        if self.error == "timeout":
            return StepTimeoutError(self.message or f"step {self.name!r} timed out")
        cls = getattr(builtins, self.error, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(self.message)
            except Exception:  # an exotic constructor: a named InjectedError instead
                pass
        return InjectedError(self.error, self.message)


@attrs.define(eq=False)
class RecordedHistory:
    """What :func:`wfsim.replay_history` replays: a recorded run of a workflow body."""

    workflow: str
    seed: int | None
    entries: list[Entry]
    #: Each signal's payloads, with when they were received.
    signals: dict[str, list[tuple[Any, int]]]
    #: The recorded body ended (the run finished and did not time out).
    finished: bool
    #: The recorded run's status (None if it has no run_finished).
    status: str | None
    cursor: int = 0

    @classmethod
    def from_events(cls, events: Iterable[TraceEvent], where: str = "the trace") -> RecordedHistory:
        """Read a body's history from a trace; a WfsimError if it is not a wfsim trace."""
        events = list(events)
        if not events or events[0].kind != "run_started" or "workflow" not in events[0].fields:
            raise WfsimError(
                f"{where} is not a wfsim trace: its first event must be run_started with the "
                "workflow's name (write one with result.trace.to_jsonl() or wfsim run --trace)"
            )
        start = events[0]
        entries: list[Entry] = []
        open_: dict[str, Entry] = {}
        signals: dict[str, list[tuple[Any, int]]] = {}
        status: str | None = None
        compensations = {e.step for e in events if e.kind.startswith("compensation_")}
        for e in events:
            name = e.step
            if e.kind == "step_ready" and isinstance(name, str) and name not in compensations:
                if name not in open_:
                    open_[name] = entry = Entry("call", name, e.t_ns, e.seq, args=e.get("args"))
                    entries.append(entry)
            elif e.kind == "child_started" and isinstance(name, str):
                open_[name] = entry = Entry("child", name, e.t_ns, e.seq, args=e.get("args"))
                entries.append(entry)
            elif e.kind == "patched":
                entries.append(Entry("patch", str(e.get("patch")), e.t_ns, e.seq))
            elif e.kind == "signal_received":
                signals.setdefault(str(e.get("signal")), []).append((e.get("payload"), e.t_ns))
            elif e.kind == "run_finished":
                status = str(e.get("status"))
            elif isinstance(name, str) and name in open_:
                entry = open_[name]
                if e.kind == "attempt_succeeded":
                    entry.output = e.get("output")
                elif e.kind == "attempt_failed":
                    entry.message = str(e.get("message", ""))
                elif e.kind in ("step_completed", "child_completed") and entry.end_ns is None:
                    entry.end_ns = e.t_ns
                elif e.kind in ("step_failed", "child_failed") and entry.end_ns is None:
                    entry.end_ns = e.t_ns
                    entry.error = str(e.get("error"))
                    if e.kind == "child_failed":
                        entry.message = str(e.get("message", ""))
        seed = start.get("seed")
        return cls(
            workflow=str(start["workflow"]),
            seed=seed if isinstance(seed, int) else None,
            entries=entries,
            signals=signals,
            finished=status is not None and status != "timed_out",
            status=status,
        )

    @property
    def has_args(self) -> bool:
        """Whether the trace recorded its calls' arguments (trace format 2 on, TRACE-5)."""
        return all(e.args is not None for e in self.entries if e.kind != "patch")

    def take(
        self,
        kind: str,
        name: str,
        what: str,
        args: Any = None,
        text: str | None = None,
        at_ns: int | None = None,
    ) -> Entry:
        """The recorded call the code's next call ``name`` (with ``args``, as the trace
        records them, ``text`` their encoding) must match (Diverged if none, or if its
        arguments differ). ``at_ns``: the time the calling code's history says it is
        (its clock), where a call of a concurrent branch was recorded."""
        entries = self.entries
        while self.cursor < len(entries) and (
            entries[self.cursor].used or entries[self.cursor].kind == "patch"
        ):
            self.cursor += 1
        i = self.cursor
        if i == len(entries):
            if not self.finished:
                raise HistoryEnd()
            raise Diverged(
                f"history#{len(self._calls()) + 1}",
                "the end of the history (the recorded body made no more calls)",
                what,
            )
        head = entries[i]
        # Calls made at one instant (a gather) may come in another order; a branch's call
        # (ctx.spawn, ctx.gather of coroutines) is where its clock says it was made, even
        # after calls another branch made earlier but replays later.
        found: Entry | None = None
        for entry in entries[i:]:
            if entry.t_ns != head.t_ns:
                break
            if not entry.used and entry.kind == kind and entry.name == name:
                found = entry
                break
        if found is None and at_ns is not None and at_ns != head.t_ns:
            found = next(
                (
                    e
                    for e in entries[i:]
                    if e.t_ns == at_ns and not e.used and e.kind == kind and e.name == name
                ),
                None,
            )
        if found is None:
            raise Diverged(self.position(head), head.what, what)
        if (
            found.args is not None
            and args is not None
            and encode_args(found.args) != (text or encode_args(args))
        ):
            call = "the child" if kind == "child" else "the call"
            raise Diverged(
                self.position(found),
                f"{call} {name!r} with arguments {describe_args(found.args)}",
                f"{call} {name!r} with arguments {describe_args(args)}",
            )
        found.used = True
        return found

    def position(self, entry: Entry) -> str:
        return f"history#{self._calls().index(entry) + 1}"

    def _calls(self) -> list[Entry]:
        return [e for e in self.entries if e.kind != "patch"]

    def left(self) -> Entry | None:
        """The first recorded call the code has not made."""
        return next((e for e in self.entries if not e.used and e.kind != "patch"), None)

    def patched(self, patch_id: str) -> bool:
        """``ctx.patched``: True only where the recorded run took the patch (its marker)."""
        for entry in self.entries[self.cursor :]:
            if entry.used:
                continue
            if entry.kind != "patch":
                return False
            if entry.name == patch_id:
                entry.used = True
                return True
        return not self.finished  # past the history of a run still going: the new code

    def signal(self, name: str) -> tuple[bool, Any, int]:
        """The next payload the recorded run received for signal ``name``, if any, and
        when it was received."""
        payloads = self.signals.get(name)
        if payloads:
            payload, at_ns = payloads.pop(0)
            return True, payload, at_ns
        return False, None, 0
