"""Fault oracles: every attempt suffered exactly the faults of the plan (FAULT-1..9), and a
code-less attempt takes its duration (ORD-7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wfsim._core._faults import Fault
from wfsim._core._time import format_seconds, to_ns
from wfsim._core._trace import TraceEvent
from wfsim._core._workflow import Step

from ._index import AnyWorkflow, Attempt, Run, at, violation
from ._violation import Violation

__all__ = ["check_faults"]


def check_faults(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """FAULT-1..9 and ORD-7: each attempt suffered exactly the faults of the plan.

    For every attempt (of a step or a compensation) the faults of ``faults`` that
    target it are worked out: by name or pattern (FAULT-5), attempt number, and for
    an outage the attempt's start instant (FAULT-9). A fault with a ``probability``
    may or may not apply (FAULT-6: never at 0); any other targeting fault applies.

    FAULT-4: every ``fault_injected`` is one of them, recorded while its attempt
    runs, and every fault that must apply is recorded before its effect. FAULT-1 and
    FAULT-9: an attempt hit at its start fails at that instant with the fault's
    error. FAULT-2: an end error lets the work happen, then fails the attempt (it
    never succeeds). FAULT-3 and FAULT-7: latency is recorded at the start (a drawn
    ``extra`` within its shape's bounds) and delays the end by ``extra``. FAULT-8: a
    hung attempt ends only by its timeout or the time limit. ORD-7: a code-less
    attempt not cut short ends exactly ``duration`` (plus latency) after it started,
    and fails only by a fault. Attempts a circuit breaker refused (no fault runs) are
    left alone.
    """
    return fault_effects(Run.of(workflow, faults, trace))


def fault_effects(run: Run) -> list[Violation]:
    out: list[Violation] = []
    refused = _refused(run)
    certain = [f for f in run.faults if _certain(f)]
    recorded = {e.step for e in run.of_kind("fault_injected")}
    for name, attempts in run.attempts.items():
        definition = run.definition(name)
        if definition is None and run.dag:
            continue  # a call or invocation (definition None) has code; its duration is unknown
        # An attempt that recorded no fault is owed one only by a fault that must apply;
        # the faults naming the step matter only for the attempts that recorded or owe one.
        owed = bool(certain) and any(f.matches(name) for f in certain)
        faulted = owed or name in recorded
        matching = [f for f in run.faults if f.matches(name)] if faulted else []
        for attempt in attempts:
            if refused and (name, attempt.number, attempt.start.seq) in refused:
                continue
            if attempt.faults or owed:
                out.extend(_attempt(run, attempt, definition, matching))
            else:
                out.extend(_unfaulted(attempt, definition))
    out.extend(_orphan_faults(run))
    return out


def _orphan_faults(run: Run) -> list[Violation]:
    """FAULT-4: a ``fault_injected`` that no running attempt could take."""
    return [
        violation(
            "FAULT-4",
            f"fault_injected for {e.step!r} attempt {e.attempt} at {at(e)} while that "
            "attempt was not running; a fault is recorded during its attempt, before "
            "its effect",
            e,
        )
        for e in run.orphans
        if e.kind == "fault_injected"
    ]


def _refused(run: Run) -> set[tuple[str, int, int]]:
    """Attempts a circuit breaker refused: they fail fast or run a fallback, no fault runs."""
    out: set[tuple[str, int, int]] = set()
    fallbacks = {(e.step, e.attempt) for e in run.of_kind("fallback_used")}
    for name, attempts in run.attempts.items():
        for a in attempts:
            failed_fast = (
                a.end is not None
                and a.end.t_ns == a.start.t_ns
                and not a.faults
                and a.end.get("error") == "CircuitOpenError"
                and a.end.get("cause") is None  # not a trip (BRK-2)
            )
            if failed_fast or (fallbacks and (name, a.number) in fallbacks):
                out.add((name, a.number, a.start.seq))
    return out


def _fault_of(e: TraceEvent) -> Mapping[str, Any]:
    fault = e.get("fault")
    return fault if isinstance(fault, Mapping) else {}


def _certain(fault: Fault) -> bool:
    return fault.probability is None or fault.probability >= 1


def _matches(fault: Fault, recorded: Mapping[str, Any], *, strict: bool = True) -> bool:
    """Whether a ``fault_injected`` payload describes ``fault``.

    A drawn latency matches its fault when its ``extra`` lies within the shape's
    bounds (``strict``) or, not ``strict``, whatever it is (to report FAULT-7).
    """
    described = dict(fault.describe())
    if fault.kind != "latency" or fault.shape == "fixed":
        return described == dict(recorded)
    described.pop("extra", None)
    rest = {k: v for k, v in recorded.items() if k != "extra"}
    extra = recorded.get("extra")
    if described != rest or isinstance(extra, bool) or not isinstance(extra, (int, float)):
        return False
    if not strict:
        return True
    if extra < 0:
        return False
    # the upper bound is inclusive: a draw below 1 may still round up in floats
    return fault.shape != "uniform" or fault.extra_ns <= to_ns(extra) <= fault.high_ns


def _assign(records: list[TraceEvent], faults: list[Fault]) -> dict[int, Fault]:
    """Which fault each ``fault_injected`` (by index) records: a maximum matching.

    Faults that must apply are matched first, so that a record that could come
    from either of two faults is credited to the one that had to apply.
    """
    if len(records) == 1 and len(faults) == 1:  # the usual case: one fault, recorded once
        return {0: faults[0]} if _matches(faults[0], _fault_of(records[0])) else {}
    return _max_matching(records, faults)


def _max_matching(records: list[TraceEvent], faults: list[Fault]) -> dict[int, Fault]:
    """:func:`_assign` the general way: augmenting paths, certain faults first."""
    order = sorted(range(len(faults)), key=lambda i: not _certain(faults[i]))
    owner: dict[int, int] = {}  # record index -> fault index
    for f in order:
        _augment(f, set(), records, faults, owner)
    return {r: faults[f] for r, f in owner.items()}


def _augment(
    f: int, seen: set[int], records: list[TraceEvent], faults: list[Fault], owner: dict[int, int]
) -> bool:
    """Match fault ``f`` to a record, moving earlier matches along if need be. A module
    function, not a closure: a recursive closure is a reference cycle that kept the run's
    events alive until the next collection."""
    for r, e in enumerate(records):
        if r in seen or not _matches(faults[f], _fault_of(e)):
            continue
        seen.add(r)
        if r not in owner or _augment(owner[r], seen, records, faults, owner):
            owner[r] = f
            return True
    return False


def _starts_failing(fault: Fault) -> bool:
    return fault.kind == "outage" or (fault.kind == "error" and fault.at == "start")


def _unfaulted(attempt: Attempt, definition: Step | None) -> list[Violation]:
    """The fault rules for an attempt that recorded no fault and that no fault had to hit
    (most attempts of a campaign): only its time and end are left to judge, as
    :func:`_attempt` would (of ``_end_errors``, only a code-less failure with no fault can
    be wrong here)."""
    end = attempt.end
    if end is None or definition is None:
        return []
    outcome = attempt.outcome
    if (
        outcome == "succeeded"
        and definition.fn is None
        and end.t_ns - attempt.start.t_ns == definition.duration_ns
    ):
        return []  # a code-less attempt that took its duration and succeeded, as it must
    out: list[Violation] = []
    if outcome != "timed_out":
        out.extend(_work_time(attempt, definition, 0, end))
    if outcome == "failed" and definition.fn is None:
        out.append(_failed_without_fault(attempt, end))
    return out


def _attempt(
    run: Run, attempt: Attempt, definition: Step | None, matching: list[Fault]
) -> list[Violation]:
    """The fault rules for one attempt; ``matching`` are the faults naming its step."""
    out: list[Violation] = []
    start, end = attempt.start, attempt.end
    targeting = [f for f in matching if f.targets(attempt.number, start.t_ns)]
    possible = [f for f in targeting if f.probability != 0]
    if not attempt.faults and not any(_certain(f) for f in possible):
        return _unfaulted(attempt, definition)
    recorded: list[tuple[TraceEvent, Fault]] = []
    assigned = _assign(attempt.faults, possible)
    for i, fe in enumerate(attempt.faults):
        fault = assigned.get(i) or next(
            (f for f in possible if _matches(f, _fault_of(fe))), None
        )  # a fault recorded twice (its one application is matched above)
        if fault is None:
            out.append(_unplanned(run, attempt, fe, _fault_of(fe), targeting))
        else:
            recorded.append((fe, fault))
    if out:
        return out  # a fault outside the plan explains whatever else this attempt did
    applied = [f for _, f in recorded]
    failing = [(fe, f) for fe, f in recorded if _starts_failing(f)]
    must_fail = [f for f in possible if _starts_failing(f) and _certain(f)]
    if must_fail and not failing:
        names = " or ".join(dict.fromkeys(f.error_name for f in must_fail))
        kind = "outage" if must_fail[0].kind == "outage" else "start fault"
        out.append(
            violation(
                "FAULT-4",
                f"{attempt.label} started at {at(start)} and the {kind} {names} applies to it, "
                "but no fault_injected records it",
                start,
                end,
            )
        )
    if failing or must_fail:
        out.extend(_failed_at_start(run, attempt, failing, must_fail))
        return out
    if any(f.kind == "crash" and f.at == "before" for f in applied):
        return out  # the engine died at the start (FAULT-10): no latency, hang or end follows
    for f in possible:
        if f.kind in ("latency", "hang") and _certain(f) and not any(f is g for g in applied):
            what = "hang" if f.kind == "hang" else f"latency fault (+{format_seconds(f.extra_ns)})"
            out.append(
                violation(
                    "FAULT-4",
                    f"{attempt.label} started at {at(start)} and the {what} applies to it, but no "
                    "fault_injected records it",
                    start,
                    end,
                )
            )
    extra_ns = 0
    for fe, f in recorded:
        if f.kind in ("latency", "hang") and fe.t_ns != start.t_ns:
            rule = "FAULT-3" if f.kind == "latency" else "FAULT-8"
            out.append(
                violation(
                    rule,
                    f"the {f.kind} fault of {attempt.label} is recorded at {at(fe)}, but it takes "
                    f"hold when the attempt starts, at {at(start)}",
                    start,
                    fe,
                )
            )
        if f.kind == "latency":
            extra_ns += to_ns(float(_fault_of(fe)["extra"]))
    hung = next((fe for fe, f in recorded if f.kind == "hang"), None)
    if hung is not None:
        out.extend(_hung(run, attempt, hung))
        return out
    if end is None:
        return out
    outcome = attempt.outcome
    if outcome != "timed_out" and definition is not None:
        out.extend(_work_time(attempt, definition, extra_ns, end))
    out.extend(_end_errors(attempt, definition, possible, recorded, end))
    return out


def _unplanned(
    run: Run,
    attempt: Attempt,
    fe: TraceEvent,
    payload: Mapping[str, Any],
    targeting: list[Fault],
) -> Violation:
    for f in targeting:
        if f.kind == "latency" and _matches(f, payload, strict=False):
            bounds = (
                f"[{format_seconds(f.extra_ns)}, {format_seconds(f.high_ns)})"
                if f.shape == "uniform"
                else "[0s, ...)"
            )
            return violation(
                "FAULT-7",
                f"the {f.shape} latency fault of {attempt.label} recorded extra "
                f"{payload.get('extra')!r} s at {at(fe)}, outside {bounds}",
                fe,
            )
    for f in run.faults:
        if not f.matches(attempt.name) or not _matches(f, payload):
            continue
        if f.probability == 0 and f in targeting:
            return violation(
                "FAULT-6",
                f"{attempt.label} has fault_injected {dict(payload)} at {at(fe)}, from a fault "
                "with probability 0, which never applies",
                fe,
            )
        if f.kind == "outage":
            window = f"[{format_seconds(f.window_ns[0])}, {format_seconds(f.window_ns[1])})"
            return violation(
                "FAULT-9",
                f"{attempt.label} started at {at(attempt.start)}, outside the outage window "
                f"{window}, yet has fault_injected {dict(payload)}",
                attempt.start,
                fe,
            )
    return violation(
        "FAULT-4",
        f"{attempt.label} has fault_injected {dict(payload)} at {at(fe)}, which matches no fault "
        "of the plan for that attempt",
        fe,
    )


def _failed_at_start(
    run: Run,
    attempt: Attempt,
    failing: list[tuple[TraceEvent, Fault]],
    must_fail: list[Fault],
) -> list[Violation]:
    label, start, end = attempt.label, attempt.start, attempt.end
    fault = failing[0][1] if failing else must_fail[0]
    rule = "FAULT-9" if fault.kind == "outage" else "FAULT-1"
    what = "outage" if fault.kind == "outage" else "start fault"
    if end is None:
        if run.finished is None:
            return []
        return [
            violation(
                rule,
                f"{label} started at {at(start)} and is hit by the {what} {fault.error_name}, so "
                "it fails at that instant, but it never ended",
                start,
            )
        ]
    if attempt.outcome != "failed" or end.t_ns != start.t_ns:
        return [
            violation(
                rule,
                f"{label} started at {at(start)} and is hit by the {what} {fault.error_name}, so "
                f"it fails at that instant, but it ended {end.kind} at {at(end)}",
                start,
                end,
            )
        ]
    # A breaker trip replaces the error with CircuitOpenError and keeps it as cause (BRK-2).
    if failing and end.get("cause", end.get("error")) != fault.error_name:
        return [
            violation(
                rule,
                f"{label} failed at {at(end)} with {end.get('error')}, but the {what} injected "
                f"is {fault.error_name}",
                failing[0][0],
                end,
            )
        ]
    return []


def _hung(run: Run, attempt: Attempt, hung: TraceEvent) -> list[Violation]:
    end = attempt.end
    if end is not None and attempt.outcome != "timed_out":
        return [
            violation(
                "FAULT-8",
                f"{attempt.label} was hung by an injected fault at {at(hung)}, yet it ended "
                f"{end.kind} at {at(end)}; only its timeout or the time limit ends it",
                hung,
                end,
            )
        ]
    if end is None and attempt.cancelled is None and run.finished is not None:
        return [
            violation(
                "FAULT-8",
                f"{attempt.label} was hung by an injected fault at {at(hung)} and never ended, "
                f"but the run finished at {at(run.finished)} without cancelling it",
                hung,
                run.finished,
            )
        ]
    return []


def _end_errors(
    attempt: Attempt,
    definition: Step | None,
    possible: list[Fault],
    recorded: list[tuple[TraceEvent, Fault]],
    end: TraceEvent,
) -> list[Violation]:
    out: list[Violation] = []
    start, outcome = attempt.start, attempt.outcome
    end_errors = [f for f in possible if f.kind == "error" and f.at == "end"]
    certain = [f for f in end_errors if _certain(f)]
    codeless = definition is not None and definition.fn is None
    at_end = [(fe, f) for fe, f in recorded if f.kind == "error" and f.at == "end"]
    if certain and outcome == "succeeded":
        out.append(
            violation(
                "FAULT-2",
                f"{attempt.label} is hit by the end fault {certain[0].error_name}, so it fails "
                f"when its work is done, but it ended {end.kind} at {at(end)}",
                start,
                end,
            )
        )
    if certain and outcome == "failed" and codeless and not at_end:
        out.append(
            violation(
                "FAULT-4",
                f"{attempt.label} failed at {at(end)} from the end fault "
                f"{certain[0].error_name}, but no fault_injected records it before the failure",
                start,
                end,
            )
        )
    for fe, f in at_end:
        if outcome != "failed" or fe.t_ns != end.t_ns:
            out.append(
                violation(
                    "FAULT-2",
                    f"the end fault of {attempt.label} is recorded at {at(fe)}, but the attempt "
                    f"ended {end.kind} at {at(end)}; an end fault fails its attempt when the work "
                    "is done",
                    fe,
                    end,
                )
            )
        elif end.get("cause", end.get("error")) != f.error_name:
            out.append(
                violation(
                    "FAULT-2",
                    f"{attempt.label} failed at {at(end)} with {end.get('error')}, but the end "
                    f"fault injected at {at(fe)} is {f.error_name}",
                    fe,
                    end,
                )
            )
    if not at_end and not certain and outcome == "failed" and codeless:
        out.append(_failed_without_fault(attempt, end))
    return out


def _failed_without_fault(attempt: Attempt, end: TraceEvent) -> Violation:
    return violation(
        "FAULT-4",
        f"{attempt.label} is code-less and no fault of the plan was recorded on it, yet it "
        f"failed at {at(end)} with {end.get('error')}",
        attempt.start,
        end,
    )


def _work_time(
    attempt: Attempt, definition: Step, extra_ns: int, end: TraceEvent
) -> list[Violation]:
    took = end.t_ns - attempt.start.t_ns
    plus = f" plus {format_seconds(extra_ns)} of injected latency" if extra_ns else ""
    if definition.fn is None:
        expected = definition.duration_ns + extra_ns
        if took == expected:
            return []
        return [
            violation(
                "FAULT-3" if extra_ns else "ORD-7",
                f"{attempt.label} is code-less and takes {format_seconds(definition.duration_ns)}"
                f"{plus}, so it ends at t={format_seconds(attempt.start.t_ns + expected)}, but it "
                f"ended {end.kind} at {at(end)}",
                attempt.start,
                end,
            )
        ]
    if took < extra_ns:
        return [
            violation(
                "FAULT-3",
                f"{attempt.label} ended {end.kind} at {at(end)}, before the "
                f"{format_seconds(extra_ns)} of injected latency had passed "
                f"(t={format_seconds(attempt.start.t_ns + extra_ns)})",
                attempt.start,
                end,
            )
        ]
    return []
