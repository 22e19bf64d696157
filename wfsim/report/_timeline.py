"""A Gantt timeline of one run in virtual time, as inline SVG, from its trace alone.

One row per step (and per compensation, marked with its step), in the order
rows first appear; one bar per attempt, coloured by its outcome; the backoff gap
between a failed attempt and the next is a dashed bar; injected faults are red
triangles, skipped or cancelled steps grey diamonds, breaker transitions and
signals vertical marks on their own rows, and stretches where nothing ran (a
signal wait, a sleep, a timer) a "waiting" bar on a row of their own. Every
mark has a ``<title>`` tooltip with its virtual times, so a browser shows them on hover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from wfsim._core._time import format_seconds
from wfsim._core._trace import ATTEMPT_ENDS, ATTEMPT_STARTS, Trace, TraceEvent

from ._svg import esc, num, time_ticks

__all__ = ["timeline_svg"]

ROW = 22
BAR = 14
LABEL_WIDTH = 190
PLOT_WIDTH = 760
TOP = 26
_Scale = Callable[[int], float]
#: Characters of a row label (its tooltip has all of it).
LABEL_CHARS = 28
#: Rows shown at most: a run with more steps gets a note instead of a giant picture.
MAX_ROWS = 400


@attrs.define
class _Row:
    key: str
    label: str
    kind: str  # "step", "compensation", "breaker", "signals", "engine"
    marks: list[str] = attrs.field(factory=list)


def _short(r: _Row) -> str:
    text = r.key if r.kind == "compensation" else r.label
    text = ("\u21a9 " if r.kind == "compensation" else "") + text
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "\u2026"


def _tooltip(*parts: str) -> str:
    return f"<title>{esc(' | '.join(p for p in parts if p))}</title>"


def timeline_svg(trace: Trace) -> str:
    """The run's Gantt chart as an ``<svg class="gantt">`` element (a string).

    Deterministic: the same trace gives the same text. Step names and messages
    are escaped.
    """
    events = list(trace)
    end_ns = max((e.t_ns for e in events), default=0)
    span = max(end_ns, 1)

    def x(t_ns: int) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * t_ns / span

    rows: dict[str, _Row] = {}

    def row(key: str, label: str, kind: str) -> _Row:
        found = rows.get(key)
        if found is None:
            found = rows[key] = _Row(key, label, kind)
        return found

    open_attempts: dict[tuple[str, int], TraceEvent] = {}
    last_failure: dict[str, TraceEvent] = {}
    # What keeps the run busy; when nothing does, it waits (a signal, a sleep, a timer).
    retrying: set[str] = set()
    crashed = finished = False
    previous_ns = 0
    for e in events:
        step = e.step
        if not (open_attempts or retrying or crashed or finished) and e.t_ns > previous_ns:
            row("waits", "waiting", "wait").marks.append(_wait(previous_ns, e, x))
        previous_ns = e.t_ns
        if e.kind == "retry_scheduled" and step is not None:
            retrying.add(step)
        elif e.kind in ATTEMPT_STARTS and step is not None:
            retrying.discard(step)
        crashed = (crashed or e.kind == "crashed") and e.kind != "recovered"
        finished = finished or e.kind == "run_finished"
        if e.kind == "breaker_state":
            name = str(e.get("breaker"))
            r = row(f"breaker:{name}", f"breaker {name}", "breaker")
            r.marks.append(_breaker_mark(e, x))
            continue
        if e.kind == "signal_received":
            r = row("signals", "signals", "signals")
            r.marks.append(_tick_mark(e, x, "signal", f"signal {e.get('signal')}"))
            continue
        if e.kind in ("crashed", "recovered"):
            r = row("engine", "engine", "engine")
            what = "engine crashed" if e.kind == "crashed" else "engine recovered"
            r.marks.append(_tick_mark(e, x, e.kind, what))
            # A crash loses the attempts under way: their bars end here.
            for lost in e.get("lost") or ():
                key = (str(lost[0]), int(lost[1]))
                start = open_attempts.pop(key, None)
                if start is not None:
                    comp = start.kind == "compensation_started"
                    rows[key[0]].marks.append(_bar(key[0], start, e.t_ns, "lost", comp, None, x))
            continue
        if e.kind == "fault_injected" and step is None:  # on a delivery (FAULT-20)
            fault = e.get("fault") or {}
            what = "event" if "event" in fault else "signal"
            text = f"{fault.get('kind')} of {what} {fault.get(what)} #{fault.get('occurrence')}"
            row("deliveries", "delivery faults", "signals").marks.append(
                _tick_mark(e, x, "delivery", text)
            )
            continue
        if step is None:
            continue
        if e.kind == "step_ready":
            row(step, step, "step")
        elif e.kind in ATTEMPT_STARTS and e.attempt is not None:
            if e.kind == "compensation_started":
                row(step, f"{step}, compensates {e.get('for_step')}", "compensation")
            else:
                row(step, step, "step")
            gap = last_failure.pop(step, None)
            if gap is not None and e.t_ns > gap.t_ns:
                rows[step].marks.append(_backoff(step, gap.t_ns, e.t_ns, e.attempt, x))
            open_attempts[(step, e.attempt)] = e
        elif e.kind in ATTEMPT_ENDS and e.attempt is not None:
            start = open_attempts.pop((step, e.attempt), None)
            if start is None:
                continue
            outcome = ATTEMPT_ENDS[e.kind]
            comp = e.kind.startswith("compensation_")
            rows[step].marks.append(_bar(step, start, e.t_ns, outcome, comp, e, x))
            if outcome != "succeeded":
                last_failure[step] = e
        elif e.kind == "fault_injected":
            row(step, step, "step").marks.append(_fault_mark(e, x))
        elif e.kind in ("step_skipped", "step_cancelled"):
            row(step, step, "step").marks.append(_end_mark(e, x))
            for key in [k for k in open_attempts if k[0] == step]:  # cancelled under way
                start = open_attempts.pop(key)
                rows[step].marks.append(_bar(step, start, e.t_ns, "cancelled", False, None, x))
        elif e.kind == "cache_hit":
            row(step, step, "step").marks.append(_tick_mark(e, x, "cache", f"{step} cache hit"))
        elif e.kind == "fallback_used":
            row(step, step, "step").marks.append(
                _tick_mark(e, x, "fallback", f"{step} fallback ({e.get('breaker')} open)")
            )
    for (step, _), start in open_attempts.items():  # attempts that never ended (hang)
        comp = start.kind == "compensation_started"
        rows[step].marks.append(_bar(step, start, end_ns, "open", comp, None, x))
    return _draw(list(rows.values()), end_ns, x)


def _bar(
    step: str,
    start: TraceEvent,
    end_ns: int,
    outcome: str,
    compensation: bool,
    end: TraceEvent | None,
    x: _Scale,
) -> str:
    x0, x1 = x(start.t_ns), x(end_ns)
    width = max(x1 - x0, 2.0)
    who = "compensation" if compensation else "attempt"
    classes = f"bar {who} {outcome}"
    if start.t_ns == end_ns and outcome != "succeeded":
        # An attempt that failed at once (an injected error) takes no time: draw it
        # as a wide outlined tick, or it would be a hairline nobody sees.
        x0, width = max(x0 - 3, LABEL_WIDTH), 6.0
        classes += " instant"
    detail = ""
    if end is not None and outcome != "succeeded":
        detail = str(end.get("error") or ("timeout " + str(end.get("timeout", ""))))
        if end.get("message"):
            detail += f": {end.get('message')}"
    span = f"{format_seconds(start.t_ns)} - " + (
        format_seconds(end_ns) if outcome != "open" else "never ended"
    )
    return (
        f'<rect class="{classes}" data-step="{esc(step)}" data-attempt="{start.attempt}" '
        f'x="{num(x0)}" width="{num(width)}" height="{BAR}" rx="2">'
        + _tooltip(f"{step} {who} {start.attempt}: {outcome}", span, detail)
        + "</rect>"
    )


def _wait(since_ns: int, until: TraceEvent, x: _Scale) -> str:
    """A stretch in which no attempt ran and no retry was due: the run waited."""
    x0, x1 = x(since_ns), x(until.t_ns)
    if until.kind == "signal_received":
        why = f"waiting for signal {until.get('signal')}"
    else:
        why = f"waiting (a sleep, a timer or a delayed delivery) until {until.kind}"
    return (
        f'<rect class="wait" x="{num(x0)}" width="{num(x1 - x0)}" y="{num(BAR / 2 - 4)}" '
        'height="8">'
        + _tooltip(
            why,
            f"{format_seconds(since_ns)} - {format_seconds(until.t_ns)}",
            f"waited {format_seconds(until.t_ns - since_ns)}",
        )
        + "</rect>"
    )


def _backoff(step: str, ended_ns: int, next_ns: int, attempt: int, x: _Scale) -> str:
    x0, x1 = x(ended_ns), x(next_ns)
    return (
        f'<rect class="backoff" data-step="{esc(step)}" x="{num(x0)}" width="{num(x1 - x0)}" '
        f'y="{num((BAR - 4) / 2)}" height="4">'
        + _tooltip(
            f"{step}: backoff before attempt {attempt}",
            f"{format_seconds(ended_ns)} - {format_seconds(next_ns)}",
            f"delay {format_seconds(next_ns - ended_ns)}",
        )
        + "</rect>"
    )


def _fault_mark(e: TraceEvent, x: _Scale) -> str:
    cx = x(e.t_ns)
    fault = e.get("fault") or {}
    what = " ".join(f"{k}={v}" for k, v in fault.items()) if isinstance(fault, dict) else fault
    points = f"{num(cx - 5)},{BAR + 5} {num(cx + 5)},{BAR + 5} {num(cx)},{BAR - 4}"
    return (
        f'<polygon class="fault" data-step="{esc(e.step)}" points="{points}">'
        + _tooltip(f"fault on {e.step} attempt {e.attempt}", format_seconds(e.t_ns), str(what))
        + "</polygon>"
    )


def _end_mark(e: TraceEvent, x: _Scale) -> str:
    cx, cy = x(e.t_ns), BAR / 2
    status = e.kind.removeprefix("step_")
    points = f"{num(cx)},{num(cy - 6)} {num(cx + 6)},{num(cy)} {num(cx)},{num(cy + 6)} " + (
        f"{num(cx - 6)},{num(cy)}"
    )
    return (
        f'<polygon class="end {status}" data-step="{esc(e.step)}" points="{points}">'
        + _tooltip(f"{e.step} {status}", format_seconds(e.t_ns), str(e.get("reason") or ""))
        + "</polygon>"
    )


def _tick_mark(e: TraceEvent, x: _Scale, kind: str, text: str) -> str:
    cx = num(x(e.t_ns))
    return (
        f'<line class="mark {kind}" x1="{cx}" x2="{cx}" y1="-2" y2="{BAR + 2}">'
        + _tooltip(text, format_seconds(e.t_ns))
        + "</line>"
    )


def _breaker_mark(e: TraceEvent, x: _Scale) -> str:
    cx = num(x(e.t_ns))
    state = str(e.get("state"))
    return (
        f'<line class="mark breaker {esc(state)}" x1="{cx}" x2="{cx}" y1="-2" y2="{BAR + 2}">'
        + _tooltip(
            f"breaker {e.get('breaker')}: {e.get('previous')} -> {state}", format_seconds(e.t_ns)
        )
        + "</line>"
    )


def _axis(end_ns: int, height: int, x: _Scale) -> Iterable[str]:
    for t_ns, label in time_ticks(end_ns):  # one unit per axis: 0, 1h, 2h, ...
        tx = num(x(t_ns))
        yield (
            f'<line class="grid" x1="{tx}" x2="{tx}" y1="{TOP - 4}" y2="{height}"/>'
            f'<text class="tick" x="{tx}" y="{TOP - 8}">{esc(label)}</text>'
        )


def _draw(rows: list[_Row], end_ns: int, x: _Scale) -> str:
    shown = rows[:MAX_ROWS]
    height = TOP + ROW * len(shown) + 8
    width = LABEL_WIDTH + PLOT_WIDTH + 20
    parts = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="timeline of the run in virtual time, {esc(format_seconds(end_ns))}">'
    ]
    parts += _axis(end_ns, height, x)
    for index, r in enumerate(shown):
        y = TOP + ROW * index
        parts.append(
            f'<g class="row {r.kind}" data-step="{esc(r.key)}" transform="translate(0,{y + 4})">'
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{BAR - 3}">{esc(_short(r))}'
            f"<title>{esc(r.label)}</title></text>"
        )
        parts += r.marks
        parts.append("</g>")
    if len(rows) > len(shown):
        parts.append(
            f'<text class="note" x="8" y="{height - 2}">{len(rows) - len(shown)} more rows '
            "not shown</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
