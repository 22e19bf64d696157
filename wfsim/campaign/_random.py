"""Random faults for campaigns (``--fault-rate``, ``--swarm``), drawn as explicit faults.

Before a run, :func:`plan_faults` draws from the seed's ``random_faults`` (and,
for swarm testing, ``swarm``) choice streams an explicit fault list: one
``Fault`` per chosen attempt of a chosen step (``attempts=[k]``, no
probability), one per chosen delivery of an event type or signal
(``occurrences=[k]``), or an outage window. The run then gets the list after the
scenario's own faults. Nothing is drawn inside the run, so the list written
into a scenario file with the same seed reproduces the run exactly (CAMP-31),
and the streams are not the run's own ``faults`` stream, so the scenario's own
probability faults draw exactly what they draw in a plain run.

Swarm testing (Groce et al., ISSTA 2012) varies the configuration per seed: each
fault kind the workflow's style takes is on or off, and each kind that is on gets
its own rate, so some seeds see only latency, some only crashes and outages, some
everything (CAMP-32). Crashes need a DAG (the engine refuses them elsewhere,
FAULT-13); drops, duplicates and delays hit an event workflow's events and a
workflow body's signals (FAULT-20).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from wfsim._core._choice import SeededChoices
from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._run import event_type_names
from wfsim._core._signals import Signal
from wfsim._core._time import format_seconds
from wfsim._core._workflow import Workflow
from wfsim.errors import did_you_mean
from wfsim.scenario import Scenario, run_scenario

__all__ = [
    "FAULT_KINDS",
    "DeliveryTarget",
    "FaultPlan",
    "RandomFaults",
    "delivery_targets",
    "fault_targets",
    "kinds_for",
    "plan_faults",
    "plan_for",
    "random_faults_for",
]

#: The kinds of random fault, in the order a plan draws them.
FAULT_KINDS = ("error", "latency", "hang", "outage", "crash", "drop", "duplicate", "delay")
#: The kinds that hit a step's attempts; one attempt gets at most one of them.
ATTEMPT_KINDS = ("error", "latency", "hang", "crash")
#: The kinds that hit deliveries of events and signals; one delivery gets at most one.
DELIVERY_KINDS = ("drop", "duplicate", "delay")
#: The error a random error fault raises: a builtin, transient-looking, retryable.
RANDOM_ERROR = ConnectionError
#: Attempts drawn for a step whose retry policy allows unlimited attempts.
UNLIMITED_ATTEMPTS = 10
#: A random latency is a whole number of milliseconds from 1 to this.
MAX_LATENCY_MS = 1000
#: A random outage starts in [0, 10s) and lasts 10ms to 2s (multiples of 10ms).
OUTAGE_START_STEPS, OUTAGE_LENGTH_STEPS, OUTAGE_UNIT_MS = 1000, 200, 10
#: A random crash restarts the engine after 0 to 5s (multiples of 100ms).
RESTART_STEPS, RESTART_UNIT_MS = 51, 100
#: Occurrences of each event type an event workflow's random faults may hit (its
#: deliveries are not known before the run; those it never makes never fire).
EVENT_OCCURRENCES = 10
#: A random duplicate delivers 1 or 2 extra copies.
MAX_COPIES = 2
#: The highest rate a swarm campaign draws when no fault rate is given.
SWARM_RATE = 0.1
#: Probabilities are drawn as integers out of this.
_SCALE = 1_000_000


def _kinds(value: object) -> tuple[str, ...] | None:
    """``kinds`` in :data:`FAULT_KINDS` order, each once; unknown names are bad input."""
    if value is None:
        return None
    from ._record import CampaignError  # _record imports this module

    names = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    if not names:
        raise CampaignError(f"fault kinds must name at least one of {', '.join(FAULT_KINDS)}")
    for name in names:
        if name not in FAULT_KINDS:
            raise CampaignError(
                f"unknown fault kind {name!r}{did_you_mean(str(name), FAULT_KINDS)} "
                f"(the kinds: {', '.join(FAULT_KINDS)})"
            )
    return tuple(k for k in FAULT_KINDS if k in names)


@attrs.frozen
class RandomFaults:
    """A campaign's random-fault options: ``rate`` per attempt, and swarm testing on or off.

    Without swarm, every attempt of every step fails with probability ``rate``
    (an error at its start). With swarm, each seed turns each of the
    :data:`FAULT_KINDS` the workflow takes (:func:`kinds_for`) on with chance 1/2
    (at least one) and gives each kind that is on a rate of ``rate`` times 1/4,
    1/2, 3/4 or 1.

    ``kinds`` (``--fault-kinds``) limits them to those of :data:`FAULT_KINDS`: without
    swarm each one the workflow takes is on at ``rate`` (``("error",)`` is the default),
    with swarm only they are drawn. A kind a workflow's style does not take (a crash
    on an event workflow) is left out for it. An unknown kind is a
    :class:`~._record.CampaignError` naming the closest one.
    """

    rate: float
    swarm: bool = False
    kinds: tuple[str, ...] | None = attrs.field(default=None, converter=_kinds)

    def __attrs_post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            from ._record import CampaignError  # _record imports this module

            raise CampaignError(f"fault rate must be a number from 0 to 1, not {rate!r}")

    @property
    def options(self) -> str:
        """The command-line options that give these faults: `` --fault-rate P [--swarm]``."""
        kinds = f" --fault-kinds {','.join(self.kinds)}" if self.kinds is not None else ""
        return f" --fault-rate {self.rate:g}" + kinds + (" --swarm" if self.swarm else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rate": self.rate, "swarm": self.swarm}
        if self.kinds is not None:  # absent in stores written before --fault-kinds
            out["kinds"] = list(self.kinds)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RandomFaults:
        """The options :meth:`to_json` recorded (a store's ``options.random_faults``)."""
        kinds = data.get("kinds")
        return cls(data["rate"], data["swarm"], None if kinds is None else tuple(kinds))


def random_faults_for(
    fault_rate: float | None, swarm: bool, kinds: Sequence[str] | None = None
) -> RandomFaults | None:
    """The options ``--fault-rate``, ``--fault-kinds`` and ``--swarm`` give, or None for none.

    ``kinds`` alone is bad input: it limits random faults that ``fault_rate`` or
    ``swarm`` turns on.
    """
    if fault_rate is None and not swarm:
        if kinds is not None:
            from ._record import CampaignError  # _record imports this module

            raise CampaignError("--fault-kinds needs --fault-rate P or --swarm")
        return None
    return RandomFaults(
        SWARM_RATE if fault_rate is None else fault_rate,
        swarm,
        None if kinds is None else tuple(kinds),
    )


@attrs.frozen
class FaultPlan:
    """One seed's random faults: the explicit list and the swarm configuration it came from.

    ``kinds`` are the fault kinds that were on (``error`` alone without swarm or
    ``--fault-kinds``); ``rates`` the rate of each.
    """

    faults: tuple[Fault, ...]
    kinds: tuple[str, ...]
    rates: Mapping[str, float]

    @property
    def configuration(self) -> str:
        """The kinds that were on, joined with ``+`` (``"error+outage"``)."""
        return "+".join(self.kinds)


@attrs.frozen
class Target:
    """A step (or group task) random faults may hit: its name, attempts and whether it times out."""

    name: str
    attempts: int
    has_timeout: bool


def fault_targets(workflow: object) -> tuple[Target, ...]:
    """The steps and group tasks of a DAG or event workflow, in definition order.

    A ``@wfsim.workflow`` body's steps exist only once it runs, so it has none
    here; :func:`plan_for` reads them from the seed's plain run.
    """
    out: list[Target] = []
    if isinstance(workflow, Workflow):
        tasks = workflow.tasks
        for step in workflow.steps.values():
            if step.group is not None:
                for name, task in tasks.items():
                    if name.startswith(f"{step.name}/"):
                        out.append(_target(name, task.retry, task.timeout_ns))
            else:
                out.append(_target(step.name, step.retry, step.timeout_ns))
    elif isinstance(workflow, EventWorkflow):
        for name, ev_step in workflow.event_steps.items():
            out.append(_target(name, ev_step.retry, ev_step.timeout_ns))
    return tuple(out)


@attrs.frozen
class DeliveryTarget:
    """An event type or signal random delivery faults may hit, and how many of its deliveries."""

    delivery: Literal["event", "signal"]
    name: str
    occurrences: int


def delivery_targets(
    workflow: object, signals: Sequence[Signal] = ()
) -> tuple[DeliveryTarget, ...]:
    """What delivery faults may hit: an event workflow's event types or a body's signals.

    An event workflow's are the types its runs can deliver (FAULT-24), each with
    :data:`EVENT_OCCURRENCES` occurrences; a ``@wfsim.workflow`` body's are the
    signals the scenario sends it (``signals``), each with as many occurrences as
    are sent, and only those it declares if it declares any. A DAG has none.
    """
    if isinstance(workflow, EventWorkflow):
        return tuple(
            DeliveryTarget("event", name, EVENT_OCCURRENCES) for name in event_type_names(workflow)
        )
    if not isinstance(workflow, ImperativeWorkflow):
        return ()
    sent = collections.Counter(s.name for s in signals)
    declared = set(workflow.signals)
    return tuple(
        DeliveryTarget("signal", name, n)
        for name, n in sent.items()
        if not declared or name in declared
    )


def kinds_for(workflow: object, deliveries: Sequence[DeliveryTarget] = ()) -> tuple[str, ...]:
    """The :data:`FAULT_KINDS` random faults use on ``workflow``, in that order.

    Every style takes ``error``, ``latency``, ``hang`` and ``outage``; a DAG and a
    workflow body also ``crash`` (FAULT-13; a body replays its history, FAULT-15); a
    workflow with ``deliveries`` (events, signals) also ``drop``, ``duplicate`` and
    ``delay``.
    """
    kinds = ["error", "latency", "hang", "outage"]
    if isinstance(workflow, Workflow | ImperativeWorkflow):
        kinds.append("crash")
    if deliveries:
        kinds += DELIVERY_KINDS
    return tuple(kinds)


def _target(name: str, retry: object, timeout_ns: int | None) -> Target:
    limit = getattr(retry, "max_attempts", 1) if retry is not None else 1
    return Target(name, limit if limit > 0 else UNLIMITED_ATTEMPTS, timeout_ns is not None)


def body_targets(scenario: Scenario, seed: int) -> tuple[Target, ...]:
    """The steps a workflow body called in the plain run of ``seed``, in the order they started.

    Their retry policies are not known before the run, so each may get faults on
    up to :data:`UNLIMITED_ATTEMPTS` attempts (those it never makes never fire),
    and none gets a hang (its timeout is not known either).
    """
    names: dict[str, None] = {}
    for event in run_scenario(scenario, seed=seed).result.trace:
        if event.kind == "attempt_started" and event.step is not None:
            names.setdefault(event.step)
    return tuple(Target(name, UNLIMITED_ATTEMPTS, False) for name in names)


def plan_for(scenario: Scenario, seed: int, options: RandomFaults) -> FaultPlan:
    """:func:`plan_faults` for a loaded scenario: what campaigns, replay and minimise use.

    For a ``@wfsim.workflow`` body the targets are :func:`body_targets` (one plain
    run of the seed first); a step the plain run never called gets no faults.
    """
    targets = None
    if isinstance(scenario.workflow, ImperativeWorkflow):
        targets = body_targets(scenario, seed)
    deliveries = delivery_targets(scenario.workflow, scenario.signals)
    return plan_faults(scenario.workflow, seed, options, targets=targets, deliveries=deliveries)


def _draws(choices: SeededChoices, rate: float, stream: str) -> bool:
    return choices.choose(_SCALE, stream) < round(rate * _SCALE)


def plan_faults(
    workflow: object,
    seed: int,
    options: RandomFaults,
    *,
    targets: Sequence[Target] | None = None,
    deliveries: Sequence[DeliveryTarget] | None = None,
) -> FaultPlan:
    """Draw seed ``seed``'s random faults for ``workflow``: an explicit, ordered fault list.

    Each attempt ``k`` a step's retry policy allows (``max_attempts``, or
    :data:`UNLIMITED_ATTEMPTS`) gets at most one fault: an ``error``
    (:data:`RANDOM_ERROR` at the attempt's start, retryable), a ``latency`` of
    1ms..1s, a ``hang`` (only for steps with a timeout, which ends it) or a
    ``crash`` (DAGs and bodies: before or after the effect, restarting after 0..5s).
    With ``outage`` on, one step gets an outage window. Each delivery ``k`` of
    an event type or signal (``deliveries``, default :func:`delivery_targets`)
    gets at most one of ``drop``, ``duplicate`` (1 or 2 copies) and ``delay``
    (1ms..1s). The same workflow, seed and options always give the same list.
    ``targets`` replaces the steps :func:`fault_targets` finds (a body's come
    from :func:`body_targets`).

    Example::

        plan = plan_faults(scenario.workflow, 7, RandomFaults(0.05, swarm=True))
        run_scenario(scenario, seed=7, extra_faults=plan.faults)
    """
    choices = SeededChoices(seed)
    if targets is None:
        targets = fault_targets(workflow)
    if deliveries is None:
        deliveries = delivery_targets(workflow)
    kinds = kinds_for(workflow, deliveries)
    if options.kinds is not None:
        kinds = tuple(k for k in kinds if k in options.kinds)
    if options.swarm:
        on = [k for k in kinds if choices.choose(2, "swarm")]
        if not on and kinds:
            on = [kinds[choices.choose(len(kinds), "swarm")]]
        rates = {k: options.rate * (1 + choices.choose(4, "swarm")) / 4 for k in on}
    else:
        on = list(kinds) if options.kinds is not None else ["error"]
        rates = {k: options.rate for k in on}
    stream = "random_faults"
    faults: list[Fault] = []
    for target in targets:
        for k in range(1, target.attempts + 1):
            for kind in ATTEMPT_KINDS:
                if kind not in rates or (kind == "hang" and not target.has_timeout):
                    continue
                if _draws(choices, rates[kind], stream):
                    faults.append(_attempt_fault(kind, target.name, k, choices, stream))
                    break  # at most one fault per attempt
    if "outage" in rates and targets and _draws(choices, min(1.0, 4 * rates["outage"]), stream):
        target = targets[choices.choose(len(targets), stream)]
        start = choices.choose(OUTAGE_START_STEPS, stream) * OUTAGE_UNIT_MS
        length = (1 + choices.choose(OUTAGE_LENGTH_STEPS, stream)) * OUTAGE_UNIT_MS
        faults.append(
            Fault.outage(
                target.name,
                start=f"{start}ms",
                end=f"{start + length}ms",
                error=RANDOM_ERROR,
            )
        )
    for delivery in deliveries:
        for k in range(1, delivery.occurrences + 1):
            for kind in DELIVERY_KINDS:
                if kind in rates and _draws(choices, rates[kind], stream):
                    faults.append(_delivery_fault(kind, delivery, k, choices, stream))
                    break  # at most one fault per delivery
    return FaultPlan(tuple(faults), tuple(on), rates)


def _attempt_fault(kind: str, step: str, k: int, choices: SeededChoices, stream: str) -> Fault:
    if kind == "error":
        return Fault.error(step, attempts=[k], error=RANDOM_ERROR)
    if kind == "latency":
        ms = 1 + choices.choose(MAX_LATENCY_MS, stream)
        return Fault.latency(step, attempts=[k], extra=f"{ms}ms")
    if kind == "hang":
        return Fault.hang(step, attempts=[k])
    at: Literal["before", "after"] = "after" if choices.choose(2, stream) else "before"
    restart = choices.choose(RESTART_STEPS, stream) * RESTART_UNIT_MS
    return Fault.crash(step, at=at, attempts=[k], restart_after=f"{restart}ms")


def _delivery_fault(
    kind: str, target: DeliveryTarget, k: int, choices: SeededChoices, stream: str
) -> Fault:
    where: dict[str, Any] = {target.delivery: target.name, "occurrences": [k]}
    if kind == "drop":
        return Fault.drop(**where)
    if kind == "duplicate":
        return Fault.duplicate(**where, copies=1 + choices.choose(MAX_COPIES, stream))
    ms = 1 + choices.choose(MAX_LATENCY_MS, stream)
    return Fault.delay(**where, by=f"{ms}ms")


def describe_plan(faults: Sequence[Fault]) -> list[str]:
    """One line per fault, for reports: ``error ConnectionError on charge attempt 2``."""
    lines = []
    for f in faults:
        if f.delivery is not None:  # ``duplicate of event Answer occurrence 1``
            seen = f" occurrence {','.join(map(str, f.attempts))}" if f.attempts else ""
            lines.append(f"{f.kind} of {f.delivery} {f.step}{seen}")
            continue
        where = f"{f.step}" + (f" attempt {','.join(map(str, f.attempts))}" if f.attempts else "")
        if f.kind == "error":
            lines.append(f"error {f.error_name} on {where}")
        elif f.kind == "latency":
            lines.append(f"latency {format_seconds(f.extra_ns)} on {where}")
        elif f.kind == "hang":
            lines.append(f"hang on {where}")
        elif f.kind == "crash":  # ``crash after the effect of charge attempt 1, restart 2s``
            lines.append(
                f"crash {f.at} the effect of {where}, restart {format_seconds(f.restart_ns)}"
            )
        else:
            start, end = (format_seconds(t) for t in f.window_ns)
            lines.append(f"outage of {f.step} from {start} to {end}")
    return lines
