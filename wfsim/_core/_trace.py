"""The trace: an append-only list of events, the single source of truth of a run.

Exported as JSON Lines, one object a line, keys in the order ``seq``, ``t``
(virtual seconds), ``kind``, ``step``, ``attempt``, then the kind's own fields
in the order the engine writes them. The digest is the sha256 of that text.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from ._time import NS_PER_SECOND, format_seconds, to_seconds

__all__ = ["AttemptRecord", "Trace", "TraceEvent", "EVENT_KINDS", "Row", "read_trace_file"]

#: Every kind the engine writes today (later features add to it).
EVENT_KINDS = frozenset(
    {
        "run_started",
        "run_finished",
        "step_ready",
        "attempt_started",
        "attempt_succeeded",
        "attempt_failed",
        "attempt_timed_out",
        "retry_scheduled",
        "step_completed",
        "step_failed",
        "step_skipped",
        "step_cancelled",
        "fault_injected",
        "compensation_started",
        "compensation_completed",
        "compensation_failed",
        "compensation_skipped",
        "signal_received",
        "breaker_state",
        "fallback_used",
        "cache_hit",
        "child_started",
        "child_completed",
        "child_failed",
        "group_started",
        "group_merged",
        "group_failed",
        "event_emitted",
        "event_delivered",
        "events_collected",
        "event_streamed",
        "crashed",
        "recovered",
        "call_replayed",
        "nondeterminism",
        "patched",
    }
)

#: Kinds that start a step's work: its first attempt, or a parallel group's start.
STEP_STARTS = frozenset({"attempt_started", "group_started"})
#: Kinds that start an attempt, of a step or of a compensation.
ATTEMPT_STARTS = frozenset({"attempt_started", "compensation_started"})
#: Kinds that end an attempt, and the attempt's outcome.
ATTEMPT_ENDS = {
    "attempt_succeeded": "succeeded",
    "attempt_failed": "failed",
    "attempt_timed_out": "timed_out",
    "compensation_completed": "succeeded",
    "compensation_failed": "failed",
}
STEP_ENDS = frozenset({"step_completed", "step_failed", "step_skipped", "step_cancelled"})

#: The canonical encoder of an event's line: what ``json.dumps(d, separators=(",", ":"),
#: ensure_ascii=False)`` gives, without building an encoder for every call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ENCODE = _JSON.encode


def reused_encoder(
    encoder: json.JSONEncoder, *, check_circular: bool = True
) -> Callable[[Any], str]:
    """``encoder.encode`` without making CPython's C encoder again for every call (what
    ``encode`` does: a third of a digest's time, a third of writing a run's stats).
    With ``check_circular`` the returned function keeps a record of the containers being
    encoded: make one per batch of calls (one thread's). Without it, calls from several
    threads share nothing (for data that holds no cycles)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.indent is not None:  # no C accelerator: the plain encoder
        return encoder.encode
    string = (
        json.encoder.encode_basestring_ascii
        if encoder.ensure_ascii
        else json.encoder.encode_basestring
    )
    encode = make(
        {} if check_circular else None,
        encoder.default,
        string,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    return lambda obj: "".join(encode(obj, 0))


def _line_encoder() -> Callable[[Mapping[str, Any]], str]:
    """:data:`_ENCODE` for the lines of one trace (one per trace, so its record of the
    containers being encoded, for circular references, starts empty)."""
    return reused_encoder(_JSON)


_FIXED_KEYS = frozenset({"seq", "t", "kind", "step", "attempt"})
_STRING = json.encoder.encode_basestring


#: The text of a ``t`` (with the keys around it) by ``t_ns``, and of ``kind``, ``step`` and
#: ``attempt`` by their values, kept across traces: a campaign's runs of one workflow
#: write the same few of each again and again. Only values of the exact types the
#: engine records are kept (``True == 1`` but is written ``true``), at most this many.
_PIECES_KEPT = 4096
_TIMES: dict[int, str] = {}
_HEADS: dict[tuple[str, str | None, int | None], str] = {}


def _lines(rows: Iterable[Row]) -> list[str]:
    """Each event's line: what ``encode(_as_dict(*row))`` gives. The five fixed keys are
    written directly, from :data:`_TIMES` and :data:`_HEADS` (encoding them was half a
    digest's time), ``fields`` by the C encoder; anything unusual (a field named like a
    fixed key, a value of an unexpected type) takes that general way."""
    encode = _line_encoder()
    times, heads = _TIMES, _HEADS
    lines: list[str] = []
    append = lines.append
    for row in rows:
        seq, t_ns, kind, step, attempt, fields = row
        if (
            type(seq) is int
            and type(t_ns) is int
            and type(kind) is str
            and (step is None or type(step) is str)
            and (attempt is None or type(attempt) is int)
            and type(fields) is dict
        ):
            t = times.get(t_ns)
            if t is None:
                t = f',"t":{to_seconds(t_ns)!r},"kind":'
                if len(times) < _PIECES_KEPT:
                    times[t_ns] = t
            key = (kind, step, attempt)
            head = heads.get(key)
            if head is None:
                head = (
                    f'{_STRING(kind)},"step":{"null" if step is None else _STRING(step)},'
                    f'"attempt":{"null" if attempt is None else attempt}'
                )
                if len(heads) < _PIECES_KEPT:
                    heads[key] = head
            if not fields:
                append(f'{{"seq":{seq}{t}{head}}}')
                continue
            if _FIXED_KEYS.isdisjoint(fields):
                append(f'{{"seq":{seq}{t}{head},{encode(fields)[1:]}')
                continue
        append(encode(_as_dict(*row)))
    return lines


@attrs.frozen(slots=True, unsafe_hash=False)
class TraceEvent:
    """One recorded decision. ``t_ns`` is exact; ``t`` is seconds for people."""

    seq: int
    t_ns: int
    kind: str
    step: str | None = None
    attempt: int | None = None
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def t(self) -> float:
        return to_seconds(self.t_ns)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self.seq, self.t_ns, self.kind, self.step, self.attempt, self.fields)

    def to_json(self) -> str:
        return _ENCODE(self.to_dict())

    def describe(self) -> str:
        """One human line: ``[  1.5s] #3 attempt_failed analyze#2 error=ConnectionError``."""
        who = ""
        if self.step is not None:
            who = self.step + (f"#{self.attempt}" if self.attempt is not None else "")
        extra = " ".join(f"{k}={_short(v)}" for k, v in self.fields.items())
        return f"[{format_seconds(self.t_ns):>8}] #{self.seq} {self.kind} {who} {extra}".rstrip()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TraceEvent:
        fields = {k: v for k, v in data.items() if k not in ("seq", "t", "kind", "step", "attempt")}
        t = data["t"]
        t_ns = round(t * NS_PER_SECOND) if isinstance(t, float) else int(t) * NS_PER_SECOND
        return cls(
            seq=int(data["seq"]),
            t_ns=t_ns,
            kind=str(data["kind"]),
            step=data.get("step"),
            attempt=data.get("attempt"),
            fields=fields,
        )


#: An event as the engine records it: ``(seq, t_ns, kind, step, attempt, fields)``, the
#: arguments of :class:`TraceEvent` in order (a tuple costs a tenth of an event to make).
Row = tuple[int, int, str, str | None, int | None, Mapping[str, Any]]


#: Each field's slot setter, in the order of a :data:`Row`.
_SETTERS = tuple(getattr(TraceEvent, a.name).__set__ for a in attrs.fields(TraceEvent))


def _events_of(rows: Iterable[Row]) -> tuple[TraceEvent, ...]:
    """``TraceEvent(*row)`` for each row, in half the time: each event's slots are set
    directly, not through attrs' ``__init__`` (a TraceEvent has no defaults to fill in
    from a full row, no validators, no converters; tests/core/test_trace.py checks the
    events are equal to what ``__init__`` makes)."""
    new, cls = object.__new__, TraceEvent
    set_seq, set_t_ns, set_kind, set_step, set_attempt, set_fields = _SETTERS
    events: list[TraceEvent] = []
    append = events.append
    for seq, t_ns, kind, step, attempt, fields in rows:
        event = new(cls)
        set_seq(event, seq)
        set_t_ns(event, t_ns)
        set_kind(event, kind)
        set_step(event, step)
        set_attempt(event, attempt)
        set_fields(event, fields)
        append(event)
    return tuple(events)


def _as_dict(
    seq: int, t_ns: int, kind: str, step: str | None, attempt: int | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """An event's JSON object: the five fixed keys in order, then its fields."""
    out: dict[str, Any] = {
        "seq": seq,
        "t": to_seconds(t_ns),
        "kind": kind,
        "step": step,
        "attempt": attempt,
    }
    out.update(fields)
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


@attrs.frozen
class AttemptRecord:
    """One attempt of a step as the trace shows it."""

    step: str
    number: int
    started_ns: int
    ended_ns: int | None
    outcome: str | None  # "succeeded", "failed", "timed_out", or None if it never ended
    error: str | None = None

    @property
    def started(self) -> float:
        return to_seconds(self.started_ns)

    @property
    def ended(self) -> float | None:
        return None if self.ended_ns is None else to_seconds(self.ended_ns)


class Trace(Sequence[TraceEvent]):
    """The events of one run, with the queries tests and oracles need."""

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self._rows: tuple[Row, ...] = ()
        self._made: tuple[TraceEvent, ...] | None = tuple(events)

    @classmethod
    def of_rows(cls, rows: Sequence[Row]) -> Trace:
        """The trace of the engine's recorded rows. Each :class:`TraceEvent` is made when
        the events are first read: a run whose trace is only hashed never makes one."""
        trace = cls(())
        trace._rows, trace._made = tuple(rows), None
        return trace

    @property
    def _events(self) -> tuple[TraceEvent, ...]:
        if self._made is None:
            self._made = _events_of(self._rows)
            self._rows = ()
        return self._made

    # -- sequence ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows) if self._made is None else len(self._made)

    @overload
    def __getitem__(self, index: int) -> TraceEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[TraceEvent]: ...
    def __getitem__(self, index: int | slice) -> TraceEvent | Sequence[TraceEvent]:
        return self._events[index]

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self._events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and self._events == other._events

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        return f"<Trace {len(self._events)} events digest={self.digest()[:12]}>"

    # -- export -----------------------------------------------------------------------------
    def to_jsonl(self) -> str:
        """The canonical JSON Lines text (each line ends with a newline)."""
        if self._made is None:
            lines = _lines(self._rows)
        else:
            lines = _lines((e.seq, e.t_ns, e.kind, e.step, e.attempt, e.fields) for e in self._made)
        return "\n".join(lines) + "\n" if lines else ""

    def digest(self) -> str:
        """sha256 hex digest of :meth:`to_jsonl`; equal digests mean identical runs."""
        return hashlib.sha256(self.to_jsonl().encode()).hexdigest()

    @classmethod
    def from_jsonl(cls, text: str) -> Trace:
        return cls([TraceEvent.from_dict(json.loads(line)) for line in text.splitlines() if line])

    def format(self) -> str:
        """A readable timeline, one event a line."""
        return "\n".join(e.describe() for e in self._events)

    # -- queries ----------------------------------------------------------------------------
    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self._events if e.kind in kinds]

    def for_step(self, step: str) -> list[TraceEvent]:
        """Every event of ``step``, in order."""
        return [e for e in self._events if e.step == step]

    def attempts(self, step: str) -> list[AttemptRecord]:
        """The attempts of ``step`` (or of a compensation) in order: start, end, outcome."""
        records: list[AttemptRecord] = []
        open_: dict[int, TraceEvent] = {}
        for e in self.for_step(step):
            if e.kind in ATTEMPT_STARTS and e.attempt is not None:
                open_[e.attempt] = e
            elif e.kind in ATTEMPT_ENDS and e.attempt in open_:
                start = open_.pop(e.attempt)
                records.append(
                    AttemptRecord(
                        step, e.attempt, start.t_ns, e.t_ns, ATTEMPT_ENDS[e.kind], e.get("error")
                    )
                )
        for number, start in open_.items():
            records.append(AttemptRecord(step, number, start.t_ns, None, None))
        records.sort(key=lambda r: r.number)
        return records

    def retry_delays_ns(self, step: str) -> list[int]:
        """Virtual ns between each failed attempt's end and the next attempt's start."""
        recs = self.attempts(step)
        return [
            nxt.started_ns - prev.ended_ns
            for prev, nxt in itertools.pairwise(recs)
            if prev.ended_ns is not None
        ]

    def retry_delays(self, step: str) -> list[float]:
        """:meth:`retry_delays_ns` in seconds."""
        return [to_seconds(d) for d in self.retry_delays_ns(step)]

    def step_status(self, step: str) -> str | None:
        """``completed``/``failed``/``skipped``/``cancelled``, or None if it never ended."""
        for e in reversed(self._events):
            if e.step == step and e.kind in STEP_ENDS:
                return e.kind.removeprefix("step_")
        return None

    def completion_order(self) -> list[str]:
        """Steps in the order they completed."""
        return [e.step for e in self._events if e.kind == "step_completed" and e.step]

    def start_order(self) -> list[str]:
        """Steps in the order their first attempt (a group: its ``group_started``) began."""
        seen: dict[str, None] = {}
        for e in self._events:
            if e.kind in STEP_STARTS and e.step and e.step not in seen:
                seen[e.step] = None
        return list(seen)

    def compensation_order(self) -> list[str]:
        """Compensations in the order their first attempt started."""
        seen: dict[str, None] = {}
        for e in self._events:
            if e.kind == "compensation_started" and e.step and e.step not in seen:
                seen[e.step] = None
        return list(seen)

    def happened_before(self, a: str, b: str) -> bool:
        """Whether step ``a`` completed before step ``b``'s first attempt started."""
        done = next((e for e in self._events if e.kind == "step_completed" and e.step == a), None)
        start = next((e for e in self._events if e.kind in STEP_STARTS and e.step == b), None)
        return done is not None and start is not None and done.seq < start.seq

    def max_concurrency(self) -> int:
        """The largest number of attempts (of steps and compensations) in flight at once."""
        running = peak = 0
        for e in self._events:
            if e.kind in ATTEMPT_STARTS:
                running += 1
                peak = max(peak, running)
            elif e.kind in ATTEMPT_ENDS:
                running -= 1
        return peak

    def first_divergence(self, other: Trace) -> int | None:
        """Index of the first event that differs from ``other`` (None if identical)."""
        for i, (a, b) in enumerate(zip(self._events, other._events, strict=False)):
            if a.to_json() != b.to_json():
                return i
        if len(self._events) != len(other._events):
            return min(len(self._events), len(other._events))
        return None


def read_trace_file(path: str | os.PathLike[str], error: type[Exception] = ValueError) -> Trace:
    """Read a JSON Lines trace file (as ``wfsim run --trace`` writes it).

    Raises ``error`` with a one-line message naming the file (and the line) for
    a file that cannot be read, a line that is not an event, or no events.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"{path}: cannot read the trace file: {reason}") from None
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            for key in ("seq", "t", "kind"):
                if key not in data:
                    raise ValueError(f"the event has no {key!r} field")
            events.append(TraceEvent.from_dict(data))
        except (TypeError, ValueError) as exc:
            raise error(
                f"{path}:{number}: not a trace event (one JSON object a line, with seq, t and "
                f"kind, as `wfsim run --trace` writes): {exc}"
            ) from None
    if not events:
        raise error(f"{path}: the trace file holds no events")
    return Trace(events)
