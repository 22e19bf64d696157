"""Fault plans for deliveries: dropped, duplicated and delayed events and signals (FAULT-20)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._run import event_type_names
from wfsim._core._signals import Signal

from ._check import check_choices, check_int, check_order

__all__ = ["DELIVERY_FAULT_KINDS", "delivery_fault_plans"]

#: The kinds :func:`delivery_fault_plans` draws, simplest first.
DELIVERY_FAULT_KINDS = ("drop", "duplicate", "delay")
NS_PER_MS = 1_000_000


def delivery_fault_plans(
    workflow: EventWorkflow | ImperativeWorkflow,
    *,
    signals: Iterable[Signal | str] = (),
    min_faults: int = 0,
    max_faults: int = 3,
    kinds: Collection[str] = DELIVERY_FAULT_KINDS,
    max_occurrence: int = 3,
) -> SearchStrategy[list[Fault]]:
    """Lists of delivery faults (:meth:`wfsim.Fault.drop`, ``duplicate``, ``delay``).

    For an event workflow each fault targets one of the event types its runs can
    deliver (``StartEvent``, ``StopEvent``, what its steps accept and their
    subclasses) or sometimes the pattern ``"*"``; for a ``@wfsim.workflow`` body,
    one of its declared signals or, when it declares none, of ``signals`` (the
    ``Signal`` objects, or names, the run will send). Each fault hits listed
    occurrences (1 to ``max_occurrence``) or every one, sometimes only with a
    probability; a duplicate sends 1 or 2 extra copies; a delay is fixed, uniform
    or exponential, in whole milliseconds up to 5 s. Plans shrink towards fewer
    faults, the first name, the first of ``kinds``, every occurrence, no probability::

        @given(st.data())
        def test_approval_survives_lost_signals(data):
            plan = data.draw(delivery_fault_plans(approval, signals=sent))
            result = wfsim.run(approval, signals=sent, faults=plan)
            assert check_all(approval, plan, result.trace) == []
    """
    func = "delivery_fault_plans"
    lo = check_int(func, "min_faults", min_faults, minimum=0)
    hi = check_int(func, "max_faults", max_faults, minimum=0)
    check_order(func, "min_faults", lo, "max_faults", hi)
    top = check_int(func, "max_occurrence", max_occurrence, minimum=1)
    chosen = check_choices(func, "kinds", kinds, DELIVERY_FAULT_KINDS)
    if isinstance(workflow, EventWorkflow):
        what, names = "event", tuple(event_type_names(workflow))
    elif isinstance(workflow, ImperativeWorkflow):
        sent = [s.name if isinstance(s, Signal) else s for s in signals]
        what, names = "signal", tuple(dict.fromkeys(workflow.signals or sent))
        if not names:
            raise InvalidArgument(
                f"{func}(): workflow {workflow.name!r} declares no signals and no signals= "
                "are given, so no delivery can be faulted; pass the signals the run sends"
            )
    else:
        raise InvalidArgument(
            f"{func}(): workflow must be a wfsim.EventWorkflow or a @wfsim.workflow body "
            f"(their events and signals are delivered), not {type(workflow).__name__}"
        )
    one = _faults(what, (*names, "*"), chosen, top)
    return st.lists(one, min_size=lo, max_size=hi)


def _faults(
    what: str, names: tuple[str, ...], kinds: tuple[str, ...], top: int
) -> SearchStrategy[Fault]:
    @st.composite
    def draw_fault(draw: DrawFn) -> Fault:
        kind = draw(st.sampled_from(kinds))
        target: dict[str, Any] = {what: draw(st.sampled_from(names))}
        common: dict[str, Any] = {
            "occurrences": draw(st.lists(st.integers(1, top), min_size=1, max_size=2) | st.none()),
            "probability": draw(st.none() | st.sampled_from([0.5, 0.25, 1.0, 0.0])),
        }
        if kind == "drop":
            return Fault.drop(**target, **common)
        if kind == "duplicate":
            return Fault.duplicate(**target, copies=draw(st.integers(1, 2)), **common)
        ms = st.integers(0, 5000)
        shape = draw(st.sampled_from(["by", "uniform", "exponential"]))
        if shape == "uniform":
            low, high = sorted((draw(ms), draw(ms)))
            return Fault.delay(**target, uniform=(f"{low}ms", f"{high}ms"), **common)
        if shape == "exponential":
            return Fault.delay(**target, exponential=f"{draw(st.integers(1, 5000))}ms", **common)
        return Fault.delay(**target, by=f"{draw(ms)}ms", **common)

    return draw_fault()
