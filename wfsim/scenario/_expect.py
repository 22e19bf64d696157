"""Checking a scenario's ``expect:`` block against a run (SCN-9).

:func:`check_expectations` answers every check from the run's trace and returns
one :class:`ExpectationFailure` per broken expectation, each with a sentence
saying what was expected and what happened, and the trace lines that show it.
:func:`format_failures` turns them into the report a failing scenario prints.

Values arrive as YAML gives them: durations are numbers of seconds or strings
such as ``"250ms"`` and are compared in integer nanoseconds. A value of the wrong
shape (a chain without ``<``, a malformed duration) raises ``ValueError`` naming
the field: the loader should have rejected it. A step name the workflow does not
define is a failure with a did-you-mean, not an error.

Compensations (sagas) go where steps go: ``order``, ``attempts``,
``retry_delays``, ``completed``/``failed``/``skipped``/``cancelled``,
``never_started`` and ``trace_contains`` take a compensation's name too, read from
its ``compensation_*`` events; ``compensations`` checks the order they started in.

Parallel groups' tasks go there too, by their trace name ``group/task``; a group
itself starts with ``group_started`` (one attempt) and ``merged`` checks the keys
its ``group_merged`` event lists.

Child workflows (``ctx.child``) go where steps go in ``order``, ``completed``,
``failed``, ``never_started`` and ``trace_contains``, by the name the trace gives
them (``payment_workflow``, ``payment_workflow:2``): ``child_started`` starts one,
``child_completed`` or ``child_failed`` ends it; their steps are ``child/step``.
For a ``@wfsim.workflow`` body, ``never_started`` takes any name: a step the body
never called never started.

``breaker_states`` checks each named circuit breaker's transitions, the
``state`` of its ``breaker_state`` events in order (SCN-15).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from wfsim._core._events import EventWorkflow
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._run import RUN_STATUSES, RunResult
from wfsim._core._time import format_seconds, to_ns
from wfsim._core._trace import EVENT_KINDS, STEP_ENDS, Trace, TraceEvent
from wfsim._core._workflow import Workflow
from wfsim.errors import did_you_mean

__all__ = ["EXPECTATION_KEYS", "ExpectationFailure", "check_expectations", "format_failures"]

#: Every key ``expect:`` may hold, in the order SCN-9 lists them.
EXPECTATION_KEYS = (
    "status",
    "result",
    "context",
    "order",
    "compensations",
    "attempts",
    "retry_delays",
    "effects",
    "repeated_effects",
    "makespan",
    "completed",
    "failed",
    "skipped",
    "cancelled",
    "never_started",
    "merged",
    "signals_received",
    "breaker_states",
    "trace_contains",
)

#: At most this many trace lines go with one failure.
MAX_TRACE_LINES = 8

#: Trace event fields that hold durations (seconds), compared in ns by ``trace_contains``;
#: the loader checks each is a duration (SCN-10).
TRACE_DURATION_FIELDS = ("t", "delay", "timeout")
_DURATION_FIELDS = frozenset(TRACE_DURATION_FIELDS)

_COMPARATOR_RE = re.compile(r"^\s*(<=|>=|==|<|>)\s*(.*)$", re.DOTALL)
_COMPARATORS: dict[str, tuple[str, Callable[[int, int], bool]]] = {
    "<=": ("at most", lambda actual, bound: actual <= bound),
    "<": ("less than", lambda actual, bound: actual < bound),
    ">=": ("at least", lambda actual, bound: actual >= bound),
    ">": ("more than", lambda actual, bound: actual > bound),
    "==": ("exactly", lambda actual, bound: actual == bound),
}

_EXPECTED_END = {
    "completed": "to complete",
    "failed": "to fail",
    "skipped": "to be skipped",
    "cancelled": "to be cancelled",
}
_ENDED = {
    "completed": "it completed",
    "failed": "it failed",
    "skipped": "it was skipped",
    "cancelled": "it was cancelled",
}

#: The event that starts a compensation's attempt.
_COMP_STARTED = "compensation_started"
#: The events that end a child workflow (ctx.child).
_CHILD_ENDS = ("child_completed", "child_failed")

Path = tuple[str | int, ...]
LineOf = Callable[[Path], int | None]


@attrs.frozen
class ExpectationFailure:
    """One expectation the run did not meet.

    ``key`` names it under ``expect`` (``"order"``, ``"attempts.charge_payment"``,
    ``"context.order.id"``); ``expected`` and ``actual`` are short display strings;
    ``message`` is one sentence; ``trace_lines`` are the relevant
    :meth:`TraceEvent.describe` lines; ``line`` is the expectation's YAML line.
    ``block`` is the scenario's block it belongs to: ``expect`` or ``invariants``.
    """

    key: str
    expected: str
    actual: str
    message: str
    trace_lines: tuple[str, ...] = ()
    line: int | None = None
    block: str = "expect"


def _no_lines(path: Path) -> int | None:
    return None


def check_expectations(
    expect: Mapping[str, Any],
    result: RunResult,
    *,
    line_of: LineOf = _no_lines,
    workflow: Workflow | ImperativeWorkflow | EventWorkflow | None = None,
) -> list[ExpectationFailure]:
    """Check every expectation of an ``expect:`` mapping against ``result``.

    Returns the failures in the order the keys appear (an empty list when all
    hold). ``line_of`` maps a path inside ``expect``, e.g.
    ``("attempts", "charge_payment")``, ``("order", 0)`` or ``("context", "order", "id")``,
    to its YAML line (or None). ``workflow``, the :class:`~wfsim.Workflow` that
    made ``result`` (an imperative or event workflow has none), names the parallel groups and
    their tasks even when a run never reached them; without it they are read
    from the run.

    Raises ``ValueError`` for an unknown key or a value of the wrong shape.

    Example::

        failures = check_expectations({"status": "completed", "attempts": {"charge": 2}}, result)
        assert not failures, format_failures(failures, scenario=..., file=..., seed=...)
    """
    for key in expect:
        if key not in _CHECKS:
            raise ValueError(
                f"unknown expectation key {key!r}{did_you_mean(str(key), EXPECTATION_KEYS)}"
                f" (expected one of: {', '.join(EXPECTATION_KEYS)})"
            )
    checker = _Checker(result, line_of, workflow)
    failures: list[ExpectationFailure] = []
    for key, value in expect.items():
        failures.extend(_CHECKS[key](checker, key, value))
    return failures


def format_failures(
    failures: Sequence[ExpectationFailure],
    *,
    scenario: str,
    file: str,
    seed: int,
    replay_options: str = "",
) -> str:
    """The report of a failing scenario: each failure, its trace lines and a replay command.

    Example output::

        scenario 'order saga' failed with seed 1: 1 expectation not met

        orders.wfsim.yaml:31: expect.attempts.charge: expected charge to make 2 attempts, ...
          expected: 2
          actual:   3
          trace:
            [      1s] #4 attempt_started charge#1
            ...

        replay: wfsim replay orders.wfsim.yaml --seed 1
    """
    n = len(failures)
    if n == 0:
        head = f"scenario {scenario!r} with seed {seed}: every expectation held"
    else:
        head = (
            f"scenario {scenario!r} failed with seed {seed}: "
            f"{n} expectation{'' if n == 1 else 's'} not met"
        )
    out = [head, ""]
    for f in failures:
        where = f"{file}:{f.line}" if f.line is not None else file
        out.append(f"{where}: {f.block}.{f.key}: {f.message}")
        out.append(f"  expected: {f.expected}")
        out.append(f"  actual:   {f.actual}")
        if f.trace_lines:
            out.append("  trace:")
            out.extend(f"    {line}" for line in f.trace_lines)
        out.append("")
    out.append(f"replay: wfsim replay {shlex.quote(file)} --seed {seed}{replay_options}")
    return "\n".join(out)


# -- helpers ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML/JSON terms: ``true``, ``null``, ``"x"``."""
    return json.dumps(value, ensure_ascii=False, default=repr)


def _t(ns: int) -> str:
    return f"t={format_seconds(ns)}"


def _durations(values: Iterable[int]) -> str:
    return "[" + ", ".join(format_seconds(v) for v in values) + "]"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _lines(events: Iterable[TraceEvent]) -> tuple[str, ...]:
    """``describe()`` lines of ``events`` in trace order, at most :data:`MAX_TRACE_LINES`."""
    unique = sorted({e.seq: e for e in events}.values(), key=lambda e: e.seq)
    lines = [e.describe() for e in unique]
    if len(lines) <= MAX_TRACE_LINES:
        return tuple(lines)
    head = (MAX_TRACE_LINES - 1) // 2
    tail = MAX_TRACE_LINES - 1 - head
    hidden = len(lines) - head - tail
    return (*lines[:head], f"... {_plural(hidden, 'more event')} ...", *lines[-tail:])


def _same(expected: Any, actual: Any, *, subset: bool) -> bool:
    """Whether ``actual`` matches ``expected``; mappings by subset when ``subset``.

    Lists and tuples compare element by element; a bool equals only a bool (so
    ``true`` does not match ``1``).
    """
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        if not subset and len(expected) != len(actual):
            return False
        return all(k in actual and _same(v, actual[k], subset=subset) for k, v in expected.items())
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(_same(e, a, subset=subset) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    return bool(expected == actual)


def _where(key: str, sub: Sequence[str | int]) -> str:
    return key + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in sub)


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def _step_list(key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise ValueError(f"expect.{key} must be a list of step names, not {_show(value)}")
    return list(items)


def _step_map(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"expect.{key} must be a mapping from step name to value, not {value!r}")
    return value


class _Checker:
    """The run and the helpers every check shares (what they read is worked out when
    first read: most files check a key or two)."""

    def __init__(
        self,
        result: RunResult,
        line_of: LineOf,
        workflow: Workflow | ImperativeWorkflow | EventWorkflow | None,
    ) -> None:
        self.result = result
        self.trace: Trace = result.trace
        self.line_of = line_of
        #: The DAG that made the run (None for a body's or an event workflow's run).
        self.dag = workflow if isinstance(workflow, Workflow) else None
        self.knows_groups = self.dag is not None
        #: A @wfsim.workflow body's run: names it never called are still names (SCN-9).
        self.imperative = isinstance(workflow, ImperativeWorkflow)

    @functools.cached_property
    def compensations(self) -> set[str]:
        return set(self.result.compensations)

    @functools.cached_property
    def finished(self) -> TraceEvent | None:
        return next(iter(self.trace.of_kind("run_finished")[-1:]), None)

    @functools.cached_property
    def groups(self) -> set[str]:
        """Parallel groups: declared, or seen starting."""
        groups = {str(e.step) for e in self.trace.of_kind("group_started")}
        for step in self.dag.steps.values() if self.dag is not None else ():
            if step.group is not None:
                groups.add(step.name)
        return groups

    @functools.cached_property
    def task_group(self) -> dict[str, str]:
        """Each group task's group, by its trace name (group/task)."""
        task_group: dict[str, str] = {}
        for step in self.dag.steps.values() if self.dag is not None else ():
            if step.group is not None:
                for t in step.group.tasks:
                    task_group[f"{step.name}/{t.name}"] = step.name
        for name in self.result.steps:
            group = name.rpartition("/")[0]
            if group in self.groups:
                task_group.setdefault(name, group)
        return task_group

    @functools.cached_property
    def children(self) -> set[str]:
        """Child workflows (ctx.child) the run started, by their trace name."""
        return {str(e.step) for e in self.trace.of_kind("child_started")}

    @functools.cached_property
    def steps(self) -> set[str]:
        return set(self.result.steps) | set(self.task_group)

    @functools.cached_property
    def breakers(self) -> set[str] | None:
        """A DAG's circuit breakers, by name (None: not known, e.g. a body's)."""
        if self.dag is None:
            return None
        return {s.breaker.name for s in self.dag.steps.values() if s.breaker}

    def fail(
        self,
        key: str,
        path: Path,
        *,
        expected: str,
        actual: str,
        message: str,
        events: Iterable[TraceEvent] = (),
    ) -> ExpectationFailure:
        return ExpectationFailure(
            key=key,
            expected=expected,
            actual=actual,
            message=message,
            trace_lines=_lines(events),
            line=self.line_of(path),
        )

    def unknown_step(
        self, key: str, path: Path, step: str, *, children: bool = False
    ) -> ExpectationFailure | None:
        """A failure if the workflow has no step (or compensation) ``step``.

        ``children``: the expectation reads child workflows too (``order``, the
        step lists, ``trace_contains``), so a child's name is known.
        """
        if step in self.steps or step in self.compensations:
            return None
        if children and step in self.children:
            return None
        what = "step or compensation" if self.compensations else "step"
        names = self.steps | self.compensations
        if step in self.children:
            message = (
                f"{step!r} is a child workflow of {self.result.workflow!r}, which "
                f"{key.partition('.')[0]} does not read; name its steps ({step}/STEP)"
            )
        else:
            if children:
                names |= self.children
                if self.children:
                    what += " or child workflow"
            message = (
                f"workflow {self.result.workflow!r} has no {what} {step!r}"
                f"{did_you_mean(step, names)}"
            )
        return self.fail(
            key,
            path,
            expected=f"a {what} of workflow {self.result.workflow!r}",
            actual=f"no {what} {step!r}",
            message=message,
        )

    def is_child(self, name: str) -> bool:
        return name in self.children and name not in self.steps

    def is_compensation(self, name: str) -> bool:
        return name in self.compensations

    def is_group(self, name: str) -> bool:
        return name in self.groups and not self.is_compensation(name)

    def events(self, step: str) -> list[TraceEvent]:
        """``step``'s events; for a task its group never started, how the group ended."""
        events = self.trace.for_step(step)
        group = self.task_group.get(step)
        if not events and group is not None:
            end = self.end_event(group)
            return [end] if end is not None else []
        return events

    def end_event(self, step: str) -> TraceEvent | None:
        """The event that ended ``step``: for a compensation, its completion, its final
        failure, its skipping or its cancellation."""
        if self.is_compensation(step):
            ends = [
                e
                for e in self.trace.for_step(step)
                if e.kind in ("compensation_completed", "compensation_skipped", "step_cancelled")
                or (e.kind == "compensation_failed" and e.get("final"))
            ]
        elif self.is_child(step):
            ends = [e for e in self.trace.for_step(step) if e.kind in _CHILD_ENDS]
        else:
            ends = [e for e in self.trace.for_step(step) if e.kind in STEP_ENDS]
        return ends[-1] if ends else None

    def status(self, step: str) -> str | None:
        """``completed``/``failed``/``skipped``/``cancelled``, or None if it never ended."""
        end = self.end_event(step)
        if end is None:
            return None
        return end.kind.removeprefix("step_").removeprefix("compensation_").removeprefix("child_")

    def first(self, kind: str, step: str) -> TraceEvent | None:
        return next((e for e in self.trace.for_step(step) if e.kind == kind), None)

    def first_completed(self, step: str) -> TraceEvent | None:
        if self.is_compensation(step):
            return self.first("compensation_completed", step)
        if self.is_child(step):
            return self.first("child_completed", step)
        return self.first("step_completed", step)

    def starts(self, step: str) -> list[TraceEvent]:
        """The events that started ``step``'s attempts (a group's one: ``group_started``)."""
        if self.is_compensation(step):
            kind = _COMP_STARTED
        elif self.is_group(step):
            kind = "group_started"
        elif self.is_child(step):
            kind = "child_started"
        else:
            kind = "attempt_started"
        return [e for e in self.trace.for_step(step) if e.kind == kind]

    def ended(self, step: str, *, why: bool = True) -> str:
        """How ``step`` ended, as a clause: ``it was skipped (upstream 'pay' failed)``."""
        end = self.end_event(step)
        if end is None:
            group = self.task_group.get(step)
            if group is not None and not self.trace.for_step(step):
                # Its group never started it: say what became of the group.
                how = self.ended(group, why=why).removeprefix("it ")
                return f"it never ran: its group {group} {how}"
            if self.is_compensation(step) and not self.starts(step):
                return "it never ran"
            return "it never ended"
        status = self.status(step)
        assert status is not None
        clause = _ENDED[status]
        reason = end.get("reason") if why else None
        if why and end.kind == "compensation_failed":
            reason = f"{end.get('error')} on attempt {end.attempt}"
        if why and end.kind == "child_failed":
            reason = str(end.get("error"))
        return f"{clause} ({reason})" if reason else clause


# -- the checks --------------------------------------------------------------------------------

_Failures = Iterator[ExpectationFailure]


def _check_status(c: _Checker, key: str, value: Any) -> _Failures:
    if value not in RUN_STATUSES:
        raise ValueError(
            f"expect.status must be a run status ({', '.join(RUN_STATUSES)}), not {_show(value)}"
            f"{did_you_mean(str(value), RUN_STATUSES)}"
        )
    actual = c.result.status
    if actual == value:
        return
    why = f"; {c.result.message}" if c.result.message else ""
    events = [
        *(
            e
            for e in c.trace.of_kind(
                "step_failed", "step_cancelled", "compensation_failed", "compensation_skipped"
            )
            if e.kind != "compensation_failed" or e.get("final")
        ),
        *([c.finished] if c.finished else []),
    ]
    yield c.fail(
        key,
        (key,),
        expected=value,
        actual=actual,
        message=f"expected the run to end {value}, but it ended {actual}{why}",
        events=events[-MAX_TRACE_LINES:],
    )


def _check_result(c: _Checker, key: str, value: Any) -> _Failures:
    # The body's own return value: run_finished holds it only when it is small and JSON-able.
    actual = c.result.result
    if actual is None and c.finished is not None:
        actual = c.finished.get("result")
    if _same(value, actual, subset=False):
        return
    yield c.fail(
        key,
        (key,),
        expected=_show(value),
        actual=_show(actual),
        message=f"expected the run's result to be {_show(value)}, but it was {_show(actual)}",
        events=[c.finished] if c.finished else [],
    )


def _check_context(c: _Checker, key: str, value: Any) -> _Failures:
    if not isinstance(value, Mapping):
        raise ValueError(f"expect.context must be a mapping, not {_show(value)}")
    yield from _context_diff(c, value, c.result.context, ())


def _context_diff(
    c: _Checker, expected: Mapping[Any, Any], actual: Mapping[Any, Any], sub: tuple[Any, ...]
) -> _Failures:
    for k, want in expected.items():
        here = (*sub, k)
        dotted = ".".join(map(str, here))
        parent = "the context" if not sub else ".".join(map(str, sub))
        if k not in actual:
            got, why = "missing", f"{parent} has no key {_show(k)}"
        elif isinstance(want, Mapping) and isinstance(actual[k], Mapping):
            yield from _context_diff(c, want, actual[k], here)
            continue
        elif _same(want, actual[k], subset=True):
            continue
        else:
            got = _show(actual[k])
            why = f"it is {got}" + (", not a mapping" if isinstance(want, Mapping) else "")
        # The trace shows context writes only as step outputs: show those of the top key.
        top = here[0]
        events = [
            e
            for e in c.trace.of_kind("attempt_succeeded", "compensation_completed", "group_merged")
            if (isinstance(e.get("output"), Mapping) and top in e["output"])
            or (e.kind == "group_merged" and top in e.get("keys", ()))
        ]
        yield c.fail(
            f"context.{dotted}",
            ("context", *here),
            expected=_show(want),
            actual=got,
            message=f"expected the final context to have {dotted} = {_show(want)}, but {why}",
            events=events[-MAX_TRACE_LINES:],
        )


def _chains(value: Any) -> list[tuple[Path, list[str]]]:
    """``order``'s chains with their paths: ``"a < b < c"`` becomes ``[a, b, c]``."""
    if isinstance(value, str):
        items: list[tuple[Path, Any]] = [(("order",), value)]
    elif isinstance(value, list | tuple):
        items = [(("order", i), v) for i, v in enumerate(value)]
    else:
        raise ValueError(f"expect.order must be a list of chains like 'a < b < c', not {value!r}")
    out: list[tuple[Path, list[str]]] = []
    for path, chain in items:
        names = [n.strip() for n in chain.split("<")] if isinstance(chain, str) else []
        if len(names) < 2 or not all(names):
            where = _where("expect.order", path[1:])
            raise ValueError(f"{where} must be a chain like 'a < b < c', not {chain!r}")
        out.append((path, names))
    return out


def _check_order(c: _Checker, key: str, value: Any) -> _Failures:
    for path, names in _chains(value):
        unknown = [f for f in (c.unknown_step(key, path, n, children=True) for n in names) if f]
        if unknown:
            yield from unknown
            continue
        for a, b in itertools.pairwise(names):
            done = c.first_completed(a)
            start = next(iter(c.starts(b)), None)
            if done is not None and start is not None and done.seq < start.seq:
                continue
            if done is not None and start is not None:
                when_b, when_a = _t(start.t_ns), _t(done.t_ns)
                if start.t_ns == done.t_ns:  # same instant: the event order decides
                    when_b += f" (event #{start.seq})"
                    when_a += f" (event #{done.seq})"
                actual = f"{b} started at {when_b} and {a} completed at {when_a}"
            else:
                parts = []
                if done is None:
                    parts.append(f"{a} never completed ({c.ended(a, why=False)})")
                if start is None:
                    parts.append(f"{b} never started ({c.ended(b, why=False)})")
                actual = " and ".join(parts)
            events = [
                done or c.end_event(a),
                start or c.end_event(b),
            ]
            yield c.fail(
                key,
                path,
                expected=f"{a} < {b}",
                actual=actual,
                message=f"expected {a} to complete before {b} started, but {actual}",
                events=[e for e in events if e is not None],
            )


def _check_attempts(c: _Checker, key: str, value: Any) -> _Failures:
    for step, want in _step_map(key, value).items():
        if isinstance(want, bool) or not isinstance(want, int) or want < 0:
            raise ValueError(
                f"expect.attempts.{step} must be a number of attempts >= 0, not {_show(want)}"
            )
        unknown = c.unknown_step(f"{key}.{step}", (key, step), step)
        if unknown:
            yield unknown
            continue
        made = len(c.starts(step) if c.is_group(step) else c.trace.attempts(step))
        if made == want:
            continue
        yield c.fail(
            f"{key}.{step}",
            (key, step),
            expected=str(want),
            actual=str(made),
            message=f"expected {step} to make {_plural(want, 'attempt')}, but it made {made}",
            events=c.events(step),
        )


def _check_effects(c: _Checker, key: str, value: Any) -> _Failures:
    for step, want in _step_map(key, value).items():
        if isinstance(want, bool) or not isinstance(want, int) or want < 0:
            raise ValueError(
                f"expect.effects.{step} must be a number of times >= 0, not {_show(want)}"
            )
        unknown = c.unknown_step(f"{key}.{step}", (key, step), step)
        if unknown:
            yield unknown
            continue
        ran = c.result.effect_counts.get(step, 0)
        if ran == want:
            continue
        yield c.fail(
            f"{key}.{step}",
            (key, step),
            expected=str(want),
            actual=str(ran),
            message=(
                f"expected the effect of {step} to run {_plural(want, 'time')}, "
                f"but it ran {_plural(ran, 'time')}"
            ),
            events=[*c.events(step), *c.trace.of_kind("crashed")],
        )


def _check_repeated_effects(c: _Checker, key: str, value: Any) -> _Failures:
    want = _step_list(key, value)
    for i, step in enumerate(want):
        unknown = c.unknown_step(key, (key, i), step)
        if unknown:
            yield unknown
            return
    got = list(c.result.repeated_effects)
    if sorted(got) == sorted(want):
        return
    yield c.fail(
        key,
        (key,),
        expected=_names(want),
        actual=_names(got),
        message=(
            "expected exactly these steps declared idempotent: false to run their effect "
            f"more than once: {_names(want)}, but {_names(got)} did"
        ),
        events=c.trace.of_kind("crashed"),
    )


def _check_retry_delays(c: _Checker, key: str, value: Any) -> _Failures:
    for step, want in _step_map(key, value).items():
        if not isinstance(want, list | tuple):
            raise ValueError(f"expect.retry_delays.{step} must be a list of durations")
        want_ns = [to_ns(d, what=f"expect.retry_delays.{step}[{i}]") for i, d in enumerate(want)]
        unknown = c.unknown_step(f"{key}.{step}", (key, step), step)
        if unknown:
            yield unknown
            continue
        got_ns = c.trace.retry_delays_ns(step)
        if got_ns == want_ns:
            continue
        shown = _durations(got_ns)
        actual = (
            f"they were {shown}" if got_ns else f"it was never retried ({c.ended(step, why=False)})"
        )
        kinds = {
            "attempt_started",
            "attempt_failed",
            "attempt_timed_out",
            "retry_scheduled",
            "compensation_started",
            "compensation_failed",
        }
        yield c.fail(
            f"{key}.{step}",
            (key, step),
            expected=_durations(want_ns),
            actual=shown,
            message=f"expected {step}'s retry delays to be {_durations(want_ns)}, but {actual}",
            events=[e for e in c.trace.for_step(step) if e.kind in kinds],
        )


def split_makespan(value: Any) -> tuple[str, Any]:
    """``"<= 10s"`` -> ``("<=", "10s")``; a bare duration compares with ``==``.

    The loader checks the bound with this same split (SCN-10), so a file that loads
    never fails here.
    """
    if isinstance(value, str):
        match = _COMPARATOR_RE.match(value)
        if match is not None:
            return match.group(1), match.group(2)
    return "==", value


def _makespan_bound(value: Any) -> tuple[str, int]:
    op, bound = split_makespan(value)
    return op, to_ns(bound, what="expect.makespan")


def _check_makespan(c: _Checker, key: str, value: Any) -> _Failures:
    op, bound = _makespan_bound(value)
    words, holds = _COMPARATORS[op]
    actual = c.result.makespan_ns
    if holds(actual, bound):
        return
    yield c.fail(
        key,
        (key,),
        expected=f"{op} {format_seconds(bound)}",
        actual=format_seconds(actual),
        message=(
            f"expected the run to take {words} {format_seconds(bound)}, "
            f"but it took {format_seconds(actual)}"
        ),
        events=[c.finished] if c.finished else [],
    )


def _check_ended(c: _Checker, key: str, value: Any) -> _Failures:
    for i, step in enumerate(_step_list(key, value)):
        path: Path = (key, i) if not isinstance(value, str) else (key,)
        unknown = c.unknown_step(key, path, step, children=True)
        if unknown:
            yield unknown
            continue
        status = c.status(step)
        if status == key:
            continue
        yield c.fail(
            key,
            path,
            expected=f"{step} {key}",
            actual=f"{step} {status or 'never ended'}",
            message=f"expected {step} {_EXPECTED_END[key]}, but {c.ended(step)}",
            events=c.events(step),
        )


def _check_never_started(c: _Checker, key: str, value: Any) -> _Failures:
    for i, step in enumerate(_step_list(key, value)):
        path: Path = (key, i) if not isinstance(value, str) else (key,)
        unknown = c.unknown_step(key, path, step, children=True)
        if unknown and not c.imperative:  # a body's uncalled step never started
            yield unknown
            continue
        starts = c.starts(step)
        if not starts:
            continue
        made = f" and made {_plural(len(starts), 'attempt')}" if len(starts) > 1 else ""
        yield c.fail(
            key,
            path,
            expected=f"{step} never started",
            actual=f"{step} started at {_t(starts[0].t_ns)}",
            message=(
                f"expected {step} never to start, but it started at {_t(starts[0].t_ns)}{made}"
            ),
            events=starts,
        )


def _keys(keys: Iterable[str]) -> str:
    return "[" + ", ".join(keys) + "]"


def _check_merged(c: _Checker, key: str, value: Any) -> _Failures:
    for group, want in _step_map(key, value).items():
        if not isinstance(want, list | tuple) or not all(isinstance(k, str) for k in want):
            raise ValueError(f"expect.merged.{group} must be a list of context keys")
        path: Path = (key, group)
        unknown = c.unknown_step(f"{key}.{group}", path, group)
        if unknown:
            yield unknown
            continue
        wanted = sorted(set(want))
        if not c.is_group(group):
            groups = sorted(c.groups)
            known = f"; the groups are {', '.join(groups)}" if groups else ""
            what = (
                "is a step, not a parallel group"
                if c.knows_groups
                else "started no parallel group (the run has no group_started event of it)"
            )
            yield c.fail(
                f"{key}.{group}",
                path,
                expected=f"a parallel group with keys {_keys(wanted)}",
                actual=f"{group} is not a parallel group",
                message=f"{group} {what}{known}",
            )
            continue
        merged = c.first("group_merged", group)
        if merged is None:
            yield c.fail(
                f"{key}.{group}",
                path,
                expected=_keys(wanted),
                actual="nothing merged",
                message=f"expected {group} to merge {_keys(wanted)}, but {c.ended(group)}",
                events=[e for e in c.trace.for_step(group) if e.kind != "step_ready"],
            )
            continue
        got = sorted(map(str, merged.get("keys", ())))
        if got == wanted:
            continue
        missing = [k for k in wanted if k not in got]
        extra = [k for k in got if k not in wanted]
        parts = [f"{_keys(missing)} missing"] if missing else []
        parts += [f"{_keys(extra)} not expected"] if extra else []
        failed = merged.get("failed") or []
        why = f"; failed tasks: {', '.join(map(str, failed))}" if failed else ""
        yield c.fail(
            f"{key}.{group}",
            path,
            expected=_keys(wanted),
            actual=_keys(got),
            message=(
                f"expected {group} to merge exactly {_keys(wanted)}, but it merged {_keys(got)} "
                f"({' and '.join(parts)}){why}"
            ),
            events=[merged, *(e for t in failed if (e := c.end_event(str(t))) is not None)],
        )


def _check_compensations(c: _Checker, key: str, value: Any) -> _Failures:
    if not isinstance(value, list | tuple) or not all(isinstance(n, str) for n in value):
        raise ValueError(
            f"expect.compensations must be a list of compensation names, not {_show(value)}"
        )
    want = list(value)
    known = [f for f in (_unknown_compensation(c, key, i, n) for i, n in enumerate(want)) if f]
    if known:
        yield from known
        return
    got = c.trace.compensation_order()
    if got == want:
        return
    if not want:
        message = f"expected no compensation to start, but {_names(got)} started"
    else:
        message = f"expected the compensations to start in the order {_names(want)}, but "
        if not got:
            message += f"no compensation started (the run ended {c.result.status})"
        elif sorted(got) == sorted(want):
            message += f"they started in the order {_names(got)}"
        else:
            missing = [n for n in want if n not in got]
            extra = [n for n in got if n not in want]
            if missing and not extra:
                message += f"only {_names(got)} started"
            else:
                message += f"{_names(got)} started, in that order"
            for name in missing:
                message += f"; {name} {c.ended(name).removeprefix('it ')}"
    kinds = ("step_failed", "compensation_started", "compensation_skipped")
    events = [
        e for e in c.trace.of_kind(*kinds) if e.kind != "compensation_started" or e.attempt == 1
    ]
    if not got and c.finished is not None:
        events.append(c.finished)
    yield c.fail(
        key,
        (key,),
        expected=_names(want),
        actual=_names(got),
        message=message,
        events=events,
    )


def _unknown_compensation(c: _Checker, key: str, i: int, name: str) -> ExpectationFailure | None:
    """A failure if ``name`` is no compensation of the workflow."""
    if name in c.compensations:
        return None
    workflow = c.result.workflow
    if name in c.steps:
        mine = [
            e.step
            for e in c.trace.of_kind(_COMP_STARTED, "compensation_skipped")
            if e.get("for_step") == name
        ]
        own = f"; its compensation is {mine[0]!r}" if mine else ""
        message = f"{name!r} is a step of workflow {workflow!r}, not a compensation{own}"
    elif c.compensations:
        message = (
            f"workflow {workflow!r} has no compensation {name!r}"
            f"{did_you_mean(name, c.compensations)}"
        )
    else:
        message = f"workflow {workflow!r} has no compensation {name!r}: no step has compensate"
    return c.fail(
        key,
        (key, i),
        expected=f"a compensation of workflow {workflow!r}",
        actual=f"no compensation {name!r}",
        message=message,
    )


def _field_matches(name: str, want: Any, event: TraceEvent) -> bool:
    """Whether ``event`` has ``name`` matching ``want`` (durations in ns, mappings by subset)."""
    if name in ("step", "attempt", "seq"):
        return _same(want, getattr(event, name), subset=False)
    if name == "t":
        return to_ns(want, what="expect.trace_contains t") == event.t_ns
    if name not in event.fields:
        return False
    got = event.fields[name]
    if name in _DURATION_FIELDS and isinstance(want, str) and isinstance(got, int | float):
        return to_ns(want, what=f"expect.trace_contains {name}") == to_ns(got, what=name)
    return _same(want, got, subset=True)


def _show_field(name: str, value: Any) -> str:
    if name in _DURATION_FIELDS and isinstance(value, int | float | str):
        value_ns = to_ns(value, what=f"expect.trace_contains {name}")
        return f"{name}={format_seconds(value_ns)}"
    return f"{name}={_show(value)}"


def _describe_item(item: Mapping[str, Any]) -> str:
    """``an attempt_failed event of charge#2 at t=1s with error="ConnectionError"``."""
    kind = str(item["kind"])
    text = f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} event"
    if "step" in item:
        text += f" of {item['step']}" + (f"#{item['attempt']}" if "attempt" in item else "")
    elif "attempt" in item:
        text += f" of attempt {item['attempt']}"
    if "t" in item:
        text += f" at {_t(to_ns(item['t'], what='expect.trace_contains t'))}"
    rest = [_show_field(k, v) for k, v in item.items() if k not in ("kind", "step", "attempt", "t")]
    return text + (f" with {', '.join(rest)}" if rest else "")


def _actual_field(name: str, event: TraceEvent) -> str:
    if name in ("step", "attempt", "seq"):
        return f"{name}={_show(getattr(event, name))}"
    if name == "t":
        return _t(event.t_ns)
    if name not in event.fields:
        return f"no {name}"
    return _show_field(name, event.fields[name])


def _check_trace_contains(c: _Checker, key: str, value: Any) -> _Failures:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expect.trace_contains must be a list of event patterns, not {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("kind"), str):
            raise ValueError(
                f"expect.trace_contains[{i}] must be a mapping with a 'kind', not {_show(item)}"
            )
        path: Path = (key, i)
        step = item.get("step")
        if isinstance(step, str) and (unknown := c.unknown_step(key, path, step, children=True)):
            yield unknown
            continue
        kind: str = item["kind"]
        fields = {k: v for k, v in item.items() if k != "kind"}
        same_kind = c.trace.of_kind(kind)
        candidates = [e for e in same_kind if "step" not in item or e.step == step]
        misses = [[k for k, v in fields.items() if not _field_matches(k, v, e)] for e in candidates]
        if any(not m for m in misses):
            continue
        desc = _describe_item(item)
        events: list[TraceEvent] = []
        if not same_kind:
            actual = f"no {kind} event"
            hint = "" if kind in EVENT_KINDS else did_you_mean(kind, EVENT_KINDS)
            why = f"the trace has no {kind} event{hint}"
        elif not candidates:
            steps = ", ".join(sorted({str(e.step) for e in same_kind}))
            actual = f"no {kind} event of {step}"
            why = f"its {kind} events are of {steps} only"
            events = same_kind
        else:
            wrong, closest = min(zip(misses, candidates, strict=True), key=lambda m: len(m[0]))
            got = ", ".join(_actual_field(k, closest) for k in wrong)
            of = f" of {step}" if "step" in item else ""
            actual = f"#{closest.seq} has {got}"
            if len(candidates) == 1:
                why = f"its only {kind} event{of}, #{closest.seq}, has {got}"
            else:
                why = (
                    f"none of its {len(candidates)} {kind} events{of} matches "
                    f"(the closest, #{closest.seq}, has {got})"
                )
            events = candidates
        yield c.fail(
            key,
            path,
            expected=desc,
            actual=actual,
            message=f"expected the trace to contain {desc}, but {why}",
            events=events,
        )


def _check_signals_received(c: _Checker, key: str, value: Any) -> _Failures:
    if not isinstance(value, list | tuple) or not all(isinstance(n, str) for n in value):
        raise ValueError(
            f"expect.signals_received must be a list of signal names, not {_show(value)}"
        )
    want = list(value)
    events = c.trace.of_kind("signal_received")
    got = [str(e.get("signal")) for e in events]
    if got == want:
        return
    arrived = ", ".join(f"{name} at {_t(e.t_ns)}" for name, e in zip(got, events, strict=True))
    expected = "no signal" if not want else _names(want)
    if not got:
        end = f" at {_t(c.finished.t_ns)}" if c.finished is not None else ""
        actual = (
            f"no signal arrived before the run ended {c.result.status}{end} "
            "(signals still pending then are dropped)"
        )
    else:
        actual = f"{arrived} arrived"
    order = " in this order" if len(want) > 1 else ""
    yield c.fail(
        key,
        (key,),
        expected=_names(want),
        actual=_names(got),
        message=f"expected {expected} to arrive{order}, but {actual}",
        events=[*events, *([c.finished] if c.finished is not None and not got else [])],
    )


_BREAKER_STATES = ("closed", "open", "half_open")


def _check_breaker_states(c: _Checker, key: str, value: Any) -> _Failures:
    """``{breaker: [state, ...]}``: exactly these transitions, in order (SCN-15)."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expect.breaker_states must be a mapping from breaker name to states, not {value!r}"
        )
    moved: dict[str, list[TraceEvent]] = {}
    for e in c.trace.of_kind("breaker_state"):
        moved.setdefault(str(e.get("breaker")), []).append(e)
    for name, want in value.items():
        if not isinstance(want, list | tuple) or not all(w in _BREAKER_STATES for w in want):
            raise ValueError(
                f"expect.breaker_states.{name} must be a list of states "
                f"({', '.join(_BREAKER_STATES)}), not {_show(want)}"
            )
        path: Path = (key, name)
        where = f"{key}.{name}"
        if c.breakers is not None and name not in c.breakers:
            known = sorted(c.breakers)
            hint = did_you_mean(name, known) or (
                f"; its breakers are {', '.join(known)}" if known else "; it has none"
            )
            yield c.fail(
                where,
                path,
                expected=f"a circuit breaker of workflow {c.result.workflow!r}",
                actual=f"no breaker {name!r}",
                message=f"workflow {c.result.workflow!r} has no circuit breaker {name!r}{hint}",
            )
            continue
        events = moved.get(name, [])
        got = [str(e.get("state")) for e in events]
        if got == list(want):
            continue
        went = ", ".join(f"{s} at {_t(e.t_ns)}" for s, e in zip(got, events, strict=True))
        yield c.fail(
            where,
            path,
            expected=", ".join(want) or "no transition",
            actual=", ".join(got) or "no transition",
            message=(
                f"expected breaker {name} to go {', '.join(want) or 'nowhere'}, but "
                + (f"it went {went}" if got else "it never changed state")
            ),
            events=events,
        )


_CHECKS: dict[str, Callable[[_Checker, str, Any], _Failures]] = {
    "status": _check_status,
    "result": _check_result,
    "context": _check_context,
    "order": _check_order,
    "compensations": _check_compensations,
    "attempts": _check_attempts,
    "retry_delays": _check_retry_delays,
    "effects": _check_effects,
    "repeated_effects": _check_repeated_effects,
    "makespan": _check_makespan,
    "completed": _check_ended,
    "failed": _check_ended,
    "skipped": _check_ended,
    "cancelled": _check_ended,
    "never_started": _check_never_started,
    "merged": _check_merged,
    "signals_received": _check_signals_received,
    "breaker_states": _check_breaker_states,
    "trace_contains": _check_trace_contains,
}
