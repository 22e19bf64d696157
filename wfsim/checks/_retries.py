"""Retry oracles: attempt counts (RETRY-1), non-retryable stops (RETRY-4), delays
(RETRY-2, RETRY-3, RETRY-8), timeouts (RETRY-5) and a compensation's ``final`` (COMP-3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._retry import RetryPolicy, backoff_ns
from wfsim._core._time import format_seconds, to_seconds
from wfsim._core._trace import TraceEvent
from wfsim._core._workflow import Step

from ._index import AnyWorkflow, Attempt, Run, at, delay_ns, violation
from ._violation import Violation

__all__ = ["check_retries", "jitter_bounds_ns"]


def check_retries(
    workflow: AnyWorkflow, faults: Iterable[Fault], trace: Sequence[TraceEvent]
) -> list[Violation]:
    """RETRY-1/2/3/4/5/8 and COMP-3 over every step and compensation.

    RETRY-1: attempts are numbered 1, 2, 3, ... in start order, never more than the
    policy's ``max_attempts`` (one without a policy), and a retryable failure the
    policy allows to retry is retried. RETRY-4: a failure that is not retryable (its
    fault says so, or the policy lists its error) is reported ``retryable: false`` and
    never retried. RETRY-2: without jitter each ``retry_scheduled`` delay equals
    :func:`wfsim.backoff_ns`; RETRY-3: with jitter it lies within the jitter's bounds
    (:func:`jitter_bounds_ns`). RETRY-8: the retry is scheduled at the failure and the
    next attempt starts exactly ``delay`` later (not earlier, under a concurrency
    limit or an event step's ``num_workers``). RETRY-5: an attempt times out exactly
    ``timeout`` after it started and never runs past that. COMP-3: a
    ``compensation_failed`` says ``final`` exactly when no retry follows.
    """
    return retries(Run.of(workflow, faults, trace))


def jitter_bounds_ns(
    policy: RetryPolicy, failed_attempt: int, previous_ns: int | None
) -> tuple[int, int]:
    """The smallest and largest delay RETRY-3 allows after ``failed_attempt`` failed.

    ``v = backoff_ns(policy, k)``: ``none`` gives ``(v, v)``; ``full`` ``(0, v)``;
    ``equal`` ``(v // 2, v)``; ``decorrelated`` ``(min(cap, initial), min(cap,
    max(initial, 3 * prev)))`` with ``prev`` the previous delay (``initial`` at first).
    The upper bounds are inclusive: the draw is below 1, but float products may round.
    ``min_interval`` floors both bounds (it applies after the jitter).
    """
    low, high = _raw_bounds(policy, failed_attempt, previous_ns)
    floor = policy.min_interval_ns
    return max(floor, low), max(floor, high)


def _raw_bounds(
    policy: RetryPolicy, failed_attempt: int, previous_ns: int | None
) -> tuple[int, int]:
    if policy.jitter == "decorrelated":
        cap = policy.effective_max_interval_ns
        initial = policy.initial_interval_ns
        prev = initial if previous_ns is None else previous_ns
        return min(cap, initial), min(cap, max(initial, 3 * prev))
    v = backoff_ns(policy, failed_attempt)
    if policy.jitter == "full":
        return 0, v
    if policy.jitter == "equal":
        return v // 2, v
    return v, v


def retries(run: Run) -> list[Violation]:
    out: list[Violation] = []
    lost = _lost(run)
    for name, attempts in run.attempts.items():
        definition = run.definition(name)
        if definition is None and run.dag:
            continue
        if definition is not None and _done_at_once(attempts):
            # One attempt, numbered 1, that succeeded with no retry: its count is within
            # any policy and nothing follows it; only its timeout (if any) is left to judge.
            if definition.timeout_ns is not None:
                out.extend(_timeout(run, attempts[0], definition))
            continue
        out.extend(_counts(run, name, definition, attempts, lost[name]))
        previous_ns: int | None = None
        for i, attempt in enumerate(attempts):
            nxt = attempts[i + 1] if i + 1 < len(attempts) else None
            if definition is None:  # a call or invocation: its policy is not in the trace
                out.extend(_after(run, attempt, nxt, None, previous_ns, known=False))
                out.extend(_recorded_timeout(attempt))
                continue
            out.extend(_after(run, attempt, nxt, definition.retry, previous_ns))
            if attempt.retry is not None:
                previous_ns = delay_ns(attempt.retry.get("delay"))
            out.extend(_timeout(run, attempt, definition))
    for e in run.orphans:
        if e.kind == "retry_scheduled":
            out.append(
                violation(
                    "RETRY-1",
                    f"retry_scheduled for {e.step!r} attempt {e.attempt} at {at(e)} follows no "
                    "failed attempt of that number",
                    e,
                )
            )
        elif e.kind != "fault_injected":
            out.append(
                violation(
                    "RETRY-1",
                    f"{e.kind} of {e.step!r} attempt {e.attempt} at {at(e)} ends an attempt that "
                    "never started (or had already ended)",
                    e,
                )
            )
    return out


def _done_at_once(attempts: list[Attempt]) -> bool:
    """Whether the only attempt is attempt 1 and it succeeded without a retry scheduled."""
    if len(attempts) != 1:
        return False
    only = attempts[0]
    return only.number == 1 and only.outcome == "succeeded" and only.retry is None


def _what(run: Run, name: str) -> str:
    return "compensation" if name in run.compensations else "step"


def _counts(
    run: Run, name: str, definition: Step | None, attempts: list[Attempt], lost: int
) -> list[Violation]:
    out: list[Violation] = []
    for expected, attempt in enumerate(attempts, 1):
        if attempt.number != expected:
            previous = attempts[expected - 2].start if expected > 1 else None
            out.append(
                violation(
                    "RETRY-1",
                    f"{_what(run, name)} {name!r} started attempt {attempt.number} at "
                    f"{at(attempt.start)} as its attempt number {expected}; attempts are "
                    "numbered 1, 2, 3, ... in the order they start",
                    previous,
                    attempt.start,
                )
            )
            break
    if definition is None:
        return out
    policy = definition.retry
    allowed = 1 if policy is None else policy.max_attempts or None
    if allowed is not None:
        allowed += lost  # a crash's lost attempt is re-attempted anyway (FAULT-11)
    if allowed is not None and len(attempts) > allowed:
        why = (
            "it has no retry policy, so it gets exactly one attempt"
            if policy is None
            else f"its policy allows {allowed} (max_attempts={allowed})"
        )
        extra = attempts[allowed].start
        out.append(
            violation(
                "RETRY-1",
                f"{_what(run, name)} {name!r} made {len(attempts)} attempts, the first extra one "
                f"at {at(extra)}; {why}",
                extra,
            )
        )
    return out


def _lost(run: Run) -> Counter[str]:
    """How many attempts of each name a crash lost (the ``lost`` lists of ``crashed``)."""
    count: Counter[str] = Counter()
    for e in run.of_kind("crashed"):
        lost = e.get("lost")
        if isinstance(lost, list):
            count.update(i[0] for i in lost if isinstance(i, list) and i and isinstance(i[0], str))
    return count


def _after(
    run: Run,
    attempt: Attempt,
    nxt: Attempt | None,
    policy: RetryPolicy | None,
    previous_ns: int | None,
    *,
    known: bool = True,
) -> list[Violation]:
    """What follows ``attempt``'s end. Not ``known``: the policy is not in the trace, so
    the trace's own decision (a ``retry_scheduled`` or none) stands for the policy's."""
    out: list[Violation] = []
    end = attempt.end
    outcome = attempt.outcome
    if end is None:
        return out
    n = attempt.number
    if outcome == "succeeded":
        if attempt.retry is not None or nxt is not None:
            out.append(
                violation(
                    "RETRY-1",
                    f"{attempt.label} succeeded at {at(end)}, yet it was retried; only failed "
                    "attempts are retried",
                    end,
                    attempt.retry,
                    None if nxt is None else nxt.start,
                )
            )
        return out
    error = end.get("error")
    retryable = attempt.retryable
    if retryable and outcome == "failed":
        why = None
        if policy is not None and isinstance(error, str) and error in policy.non_retryable:
            why = f"the policy lists {error} as non_retryable"
        else:
            stop = next(
                (
                    f
                    for f in attempt.faults
                    if isinstance(f.get("fault"), dict)
                    and f["fault"].get("kind") == "error"
                    and f["fault"].get("retryable") is False
                ),
                None,
            )
            if stop is not None and end.get("cause") is None:  # a trip's error is retryable
                why = f"its injected fault ({error}) says retryable=False"
        if why is not None:
            out.append(
                violation(
                    "RETRY-4",
                    f"{attempt.label} failed at {at(end)} and {why}, yet its {end.kind} says "
                    "retryable: true",
                    *attempt.faults,
                    end,
                )
            )
            retryable = False
    if known:
        will_retry = retryable and policy is not None and policy.allows_attempt(n + 1)
    else:
        will_retry = retryable and attempt.retry is not None
    retried = attempt.retry is not None or (nxt is not None and nxt.number == n + 1)
    shown = (attempt.retry, None if nxt is None else nxt.start)
    if not retryable and retried:
        out.append(
            violation(
                "RETRY-4",
                f"{attempt.label} failed at {at(end)} with {error}, which is not retryable, yet "
                f"it was retried; the {_what(run, attempt.name)} fails at once",
                end,
                *shown,
            )
        )
    elif retryable and not will_retry and retried:
        limit = (
            "has no retry policy"
            if policy is None
            else f"was the last its policy allows (max_attempts={policy.max_attempts})"
        )
        out.append(
            violation(
                "RETRY-1",
                f"{attempt.label} failed at {at(end)} and {limit}, yet it was retried",
                end,
                *shown,
            )
        )
    elif not known and retried and attempt.retry is None and nxt is not None:
        out.append(
            violation(
                "RETRY-8",
                f"{nxt.label} started at {at(nxt.start)} after attempt {n} failed at {at(end)}, "
                "but no retry was scheduled; a retry is scheduled when its attempt fails",
                end,
                nxt.start,
            )
        )
    elif will_retry and attempt.retry is None:
        out.append(
            violation(
                "RETRY-1",
                f"{attempt.label} failed at {at(end)} with a retryable error and the policy "
                f"allows attempt {n + 1}, but no retry was scheduled",
                end,
            )
        )
    if end.kind == "compensation_failed" and end.get("final") is not (not will_retry):
        follows = "a retry follows" if will_retry else "no retry follows"
        out.append(
            violation(
                "COMP-3",
                f"{attempt.label} failed at {at(end)} with final: "
                f"{str(end.get('final')).lower()}, but {follows}",
                end,
                attempt.retry,
            )
        )
    if attempt.retry is not None and (policy is not None or not known) and will_retry:
        out.extend(_delay(run, attempt, end, attempt.retry, nxt, policy, previous_ns))
    return out


def _delay(
    run: Run,
    attempt: Attempt,
    end: TraceEvent,
    retry: TraceEvent,
    nxt: Attempt | None,
    policy: RetryPolicy | None,
    previous_ns: int | None,
) -> list[Violation]:
    """RETRY-8 (and RETRY-2, RETRY-3 when the ``policy`` is known) for one retry."""
    out: list[Violation] = []
    n = attempt.number
    if retry.t_ns != end.t_ns:
        out.append(
            violation(
                "RETRY-8",
                f"the retry of {attempt.label} was scheduled at {at(retry)}, but the attempt "
                f"failed at {at(end)}; a retry is scheduled when its attempt fails",
                end,
                retry,
            )
        )
    if retry.get("next_attempt") != n + 1:
        out.append(
            violation(
                "RETRY-1",
                f"the retry after {attempt.label} failed at {at(end)} names next_attempt "
                f"{retry.get('next_attempt')!r}; the next attempt is number {n + 1}",
                retry,
            )
        )
    delay = retry.get("delay")
    wait_ns = delay_ns(delay)
    if wait_ns is None or isinstance(delay, bool) or not isinstance(delay, (int, float)):
        out.append(
            violation(
                "RETRY-2",
                f"the retry after {attempt.label} failed at {at(end)} has delay {delay!r}, "
                "not a number of seconds",
                retry,
            )
        )
        return out
    low, high = (wait_ns, wait_ns) if policy is None else jitter_bounds_ns(policy, n, previous_ns)
    if policy is None:
        pass
    elif policy.jitter == "none" and delay != to_seconds(low):
        out.append(
            violation(
                "RETRY-2",
                f"the retry after {attempt.label} failed at {at(end)} waits "
                f"{format_seconds(wait_ns)}, but the policy's backoff after attempt {n} is "
                f"{format_seconds(low)}",
                retry,
            )
        )
    elif policy.jitter != "none" and not to_seconds(low) <= delay <= to_seconds(high):
        out.append(
            violation(
                "RETRY-3",
                f"the retry after {attempt.label} failed at {at(end)} waits "
                f"{format_seconds(wait_ns)}, outside [{format_seconds(low)}, "
                f"{format_seconds(high)}], the bounds of {policy.jitter} jitter after attempt {n}",
                retry,
            )
        )
    # A slot, or for an event step a worker (EVT-3), may keep a due retry waiting.
    bounded = run.workflow.max_concurrency is not None or isinstance(run.workflow, EventWorkflow)
    if nxt is not None and nxt.number == n + 1:
        gap = nxt.start.t_ns - end.t_ns
        late = to_seconds(gap) < delay or (not bounded and to_seconds(gap) != delay)
        if late and nxt.start.t_ns in _down_until(run, end.t_ns + wait_ns):
            late = False  # due while the engine was down after a crash: it starts at recovery
        if late:
            rule = "exactly then" if not bounded else "no earlier, even waiting for a slot"
            out.append(
                violation(
                    "RETRY-8",
                    f"{nxt.label} started at {at(nxt.start)}, {format_seconds(gap)} after attempt "
                    f"{n} failed at {at(end)}, but its retry delay is "
                    f"{format_seconds(wait_ns)}; it starts {rule}",
                    end,
                    retry,
                    nxt.start,
                )
            )
    elif nxt is None and run.finished is not None:
        due = end.t_ns + wait_ns
        excused = run.status == "timed_out" and (bounded or due > run.finished.t_ns)
        # a StopEvent or a failed invocation cancels an event run's pending retries (EVT-1),
        # also one that was due but still waited for a worker of its step (EVT-3)
        excused = excused or any(
            x.kind == "step_cancelled" and (x.t_ns <= due or bounded)
            for x in run.terminal.get(attempt.name, ())
        )
        if not excused:
            out.append(
                violation(
                    "RETRY-8",
                    f"attempt {n + 1} of {attempt.name!r} was due at t={format_seconds(due)} "
                    f"but never started before the run finished at {at(run.finished)}",
                    retry,
                    run.finished,
                )
            )
    return out


def _down_until(run: Run, due_ns: int) -> tuple[int, ...]:
    """When the engine recovered, if ``due_ns`` fell between a crash and its recovery.

    Work due then starts at the recovery; but if the engine crashes again at that
    instant before it starts, it waits for the next recovery, and so on (FAULT-11):
    every recovery of that chain is a time it may start. Empty if it was not down.
    """
    out: list[int] = []
    crashed: int | None = None
    for e in run.trace.of_kind("crashed", "recovered"):
        if e.kind == "crashed":
            if out and e.t_ns != out[-1]:
                break  # up and running in between: the work had its chance
            crashed = e.t_ns
        elif crashed is not None and (out or crashed <= due_ns <= e.t_ns):
            out.append(e.t_ns)
    return tuple(out)


def _timeout(run: Run, attempt: Attempt, definition: Step) -> list[Violation]:
    timeout_ns = definition.timeout_ns
    start, end = attempt.start, attempt.end
    if attempt.outcome == "timed_out":
        assert end is not None
        if timeout_ns is None:
            return [
                violation(
                    "RETRY-5",
                    f"{attempt.label} timed out at {at(end)}, but it has no timeout",
                    start,
                    end,
                )
            ]
        out: list[Violation] = []
        if end.t_ns - start.t_ns != timeout_ns:
            out.append(
                violation(
                    "RETRY-5",
                    f"{attempt.label} started at {at(start)} with a {format_seconds(timeout_ns)} "
                    f"timeout, so it times out at t={format_seconds(start.t_ns + timeout_ns)}, "
                    f"not at {at(end)}",
                    start,
                    end,
                )
            )
        if end.get("timeout") != to_seconds(timeout_ns):
            out.append(
                violation(
                    "RETRY-5",
                    f"{end.kind} of {attempt.label} at {at(end)} records timeout "
                    f"{end.get('timeout')!r} s, but its timeout is {format_seconds(timeout_ns)}",
                    end,
                )
            )
        return out
    if timeout_ns is None:
        return []
    deadline = start.t_ns + timeout_ns
    if end is not None:
        if end.t_ns > deadline:
            return [
                violation(
                    "RETRY-5",
                    f"{attempt.label} started at {at(start)} with a "
                    f"{format_seconds(timeout_ns)} timeout but ended ({end.kind}) at {at(end)}, "
                    f"after its deadline t={format_seconds(deadline)}",
                    start,
                    end,
                )
            ]
        return []
    last = attempt.cancelled or run.finished
    if last is not None and last.t_ns > deadline:
        return [
            violation(
                "RETRY-5",
                f"{attempt.label} started at {at(start)} with a {format_seconds(timeout_ns)} "
                f"timeout was still running at {at(last)}, past its deadline "
                f"t={format_seconds(deadline)}",
                start,
                last,
            )
        ]
    return []


def _recorded_timeout(attempt: Attempt) -> list[Violation]:
    """RETRY-5 without the definition: a timeout ends its attempt exactly the ``timeout``
    it records after the attempt started."""
    end = attempt.end
    if attempt.outcome != "timed_out" or end is None or end.kind != "attempt_timed_out":
        return []
    timeout = delay_ns(end.get("timeout"))
    if timeout is not None and end.t_ns - attempt.start.t_ns == timeout:
        return []
    return [
        violation(
            "RETRY-5",
            f"{attempt.label} started at {at(attempt.start)} and timed out at {at(end)}, but "
            f"it records a timeout of {end.get('timeout')!r} s; a timeout ends its attempt "
            "exactly that long after it started",
            attempt.start,
            end,
        )
    ]
