"""Strategies for DAG shapes, retry policies and whole workflows."""

from __future__ import annotations

import functools

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._context import StepContext
from wfsim._core._retry import Jitter, RetryPolicy
from wfsim._core._trigger import TRIGGER_RULES
from wfsim._core._workflow import (
    ConflictPolicy,
    MergeKind,
    SagaPolicy,
    Step,
    Workflow,
    compensation,
    task,
)

from ._check import check_bool, check_int, check_order, check_strategy

__all__ = [
    "ERROR_NAMES",
    "NON_RETRYABLE_NAMES",
    "SleepingStep",
    "attempt_limit",
    "dags",
    "durations_ms",
    "ms",
    "retry_policies",
    "workflows",
]

#: Error class names the strategies inject (builtins or InjectedError: scenario files
#: accept them without declaring them under ``errors:``).
ERROR_NAMES = ("InjectedError", "ConnectionError", "ValueError", "PermissionError")
#: Of those, the ones a drawn retry policy may list as non-retryable.
NON_RETRYABLE_NAMES = ("ValueError", "PermissionError")

_JITTERS: tuple[Jitter, ...] = ("none", "full", "equal", "decorrelated")
_PROFILES = ("native", "temporal", "celery", "prefect", "tenacity", "pyworkflow")
#: Attempts assumed for a policy with unlimited attempts, when drawing attempt numbers.
UNLIMITED_HORIZON = 6


def ms(value: int) -> str:
    """A duration string for ``value`` milliseconds, exact (``"1500ms"``)."""
    return f"{value}ms"


@functools.cache
def durations_ms(*, positive: bool = False) -> SearchStrategy[int]:
    """Milliseconds: whole seconds first (ties make schedules matter), then any; shrinks to 0."""
    low = 1 if positive else 0
    return st.one_of(st.integers(low, 3).map(lambda s: s * 1000), st.integers(low, 5000))


# Strategies used inside composites are built once: building one per draw (``a | b``,
# ``st.lists(...)``) costs more than drawing from it.
_COEFFICIENTS = st.one_of(
    st.sampled_from((1.0, 1.5, 3.0)),
    st.floats(min_value=1.0, max_value=4.0, allow_nan=False, allow_infinity=False),
)
_CAP_ABOVE_INITIAL = st.integers(0, 20_000)
_NON_RETRYABLE = st.lists(st.sampled_from(NON_RETRYABLE_NAMES), min_size=1, unique=True)
_PROFILE = st.sampled_from(_PROFILES)
_JITTER = st.sampled_from(_JITTERS)
_DELAYS = st.lists(durations_ms(), min_size=1, max_size=4)
_MIN_INTERVAL = st.integers(0, 2000)
#: Which optional parts a retry policy has, one draw for all (shrinks to none of them):
#: bit 0 a backoff coefficient other than 2, 1 a cap, 2 non-retryable errors, 3 an
#: explicit delay list, 4 a minimum interval. Drawing one mask instead of an
#: ``st.none() | ...`` per part makes a policy ~40% cheaper to draw.
_POLICY_PARTS = st.integers(0, 31)
#: The same for a step: bit 0 an output, 1 a retry policy, 2 a timeout.
_STEP_PARTS = st.integers(0, 7)
_OUTPUTS = st.integers(0, 9)
_TIMEOUTS = durations_ms(positive=True)
_CELERY_BACKOFF = st.sampled_from((False, True)) | st.integers(1, 5)
_CELERY_CAP_ABOVE = st.integers(0, 600_000)
_SLEEPS = st.lists(durations_ms(), max_size=3)
_BOOL = st.booleans()


_integers = functools.cache(st.integers)


def attempt_limit(step: Step) -> int | None:
    """How many attempts ``step`` may make: 1 without a policy, None when unlimited."""
    if step.retry is None:
        return 1
    return step.retry.max_attempts or None


# -- dags ------------------------------------------------------------------------------------


def dags(
    *, min_steps: int = 1, max_steps: int = 20, max_deps: int = 3
) -> SearchStrategy[list[list[int]]]:
    """DAG shapes: ``deps[i]`` lists the steps step ``i`` runs after, each ``< i``.

    Between ``min_steps`` and ``max_steps`` steps, each after at most
    ``max_deps`` distinct earlier steps (sorted). Indices in declaration order
    are a topological order, so any such list is acyclic. Shrinks towards fewer
    steps and fewer edges: ``[[], [], []]`` is the simplest 3-step DAG.

    Raises :class:`~hypothesis.errors.InvalidArgument` for negative bounds or
    ``min_steps > max_steps``.
    """
    check_int("dags", "min_steps", min_steps, minimum=0)
    check_int("dags", "max_steps", max_steps, minimum=0)
    check_order("dags", "min_steps", min_steps, "max_steps", max_steps)
    check_int("dags", "max_deps", max_deps, minimum=0)
    return st.lists(_offsets(max_steps, max_deps), min_size=min_steps, max_size=max_steps).map(
        _dependencies
    )


# Each step's dependencies are drawn as offsets back from the step, not as indices: a
# step's draw then does not depend on its position, so the shrinker can delete any step
# (its whole block of choices) and the steps after it stay valid. That is what lets a
# failure caused by step 19 of 20 shrink to a one-step workflow.


@functools.cache
def _offsets(max_steps: int, max_deps: int) -> SearchStrategy[list[int]]:
    """Offsets ``k`` of one step's dependencies: step ``i`` runs after ``i - 1 - k % i``."""
    return st.lists(st.integers(0, max(0, max_steps - 2)), max_size=max_deps, unique=True)


def _after(i: int, offsets: list[int]) -> list[int]:
    return sorted({i - 1 - k % i for k in offsets}) if i else []


def _dependencies(offsets: list[list[int]]) -> list[list[int]]:
    return [_after(i, step) for i, step in enumerate(offsets)]


# -- retry policies --------------------------------------------------------------------------


def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int = 6,
    jitter: bool = False,
    profiles: bool = False,
) -> SearchStrategy[RetryPolicy]:
    """Valid :class:`wfsim.RetryPolicy` values allowing ``min_attempts..max_attempts`` attempts.

    Attempts are always bounded (never 0, "unlimited"), so a step whose every
    attempt fails ends ``failed``. Intervals are exact milliseconds (0 included);
    ``max_interval`` is never below ``initial_interval``; some policies list
    ``non_retryable`` error names or an explicit ``delays`` schedule.
    ``jitter=True`` also draws full, equal and decorrelated jitter (each jittered
    delay is one ``jitter`` choice of the run). ``profiles=True`` also builds
    policies through the other engines' constructors (:meth:`RetryPolicy.temporal`,
    ``celery``, ``prefect``, ``tenacity``, ``pyworkflow``). Shrinks towards
    ``min_attempts`` attempts, 0 s intervals, no jitter, the native constructor.
    """
    func = "retry_policies"
    check_int(func, "min_attempts", min_attempts, minimum=1)
    check_int(func, "max_attempts", max_attempts, minimum=1)
    check_order(func, "min_attempts", min_attempts, "max_attempts", max_attempts)
    check_bool(func, "jitter", jitter)
    check_bool(func, "profiles", profiles)
    return _retry_policies(min_attempts, max_attempts, jitter, profiles)


@st.composite
def _retry_policies(
    draw: DrawFn, min_attempts: int, max_attempts: int, jitter: bool, profiles: bool
) -> RetryPolicy:
    attempts = draw(_integers(min_attempts, max_attempts))
    profile = draw(_PROFILE) if profiles else "native"
    initial = draw(durations_ms())
    parts = draw(_POLICY_PARTS)
    coefficient = draw(_COEFFICIENTS) if parts & 1 else 2.0
    cap = initial + draw(_CAP_ABOVE_INITIAL) if parts & 2 else None
    non_retryable = draw(_NON_RETRYABLE) if parts & 4 else []
    min_interval = draw(_MIN_INTERVAL) if parts & 16 else 0
    if profile == "temporal":
        return RetryPolicy.temporal(
            initial_interval=ms(initial),
            backoff_coefficient=coefficient,
            maximum_interval=None if cap is None else ms(cap),
            maximum_attempts=attempts,
            non_retryable_error_types=non_retryable,
        )
    if profile == "celery":
        backoff: bool | int = draw(_CELERY_BACKOFF)
        factor_ms = 1000 * max(1, int(backoff))
        return RetryPolicy.celery(
            max_retries=attempts - 1,
            retry_backoff=backoff,
            retry_backoff_max=ms(factor_ms + draw(_CELERY_CAP_ABOVE)),
            default_retry_delay=ms(initial),
            retry_jitter=draw(st.booleans()) if jitter else False,
        )
    if profile == "prefect":
        delays = draw(_DELAYS)
        return RetryPolicy.prefect(
            retries=attempts - 1,
            retry_delay_seconds=[ms(d) for d in delays] if len(delays) > 1 else ms(delays[0]),
        )
    if profile == "tenacity":
        return RetryPolicy.tenacity(
            stop_after_attempt=attempts,
            multiplier=ms(initial),
            exp_base=coefficient,
            max=None if cap is None else ms(cap),
            min=ms(min_interval),
        )
    if profile == "pyworkflow":
        return RetryPolicy.pyworkflow(
            max_retries=attempts - 1,
            retry_delay=ms(initial),
            retry_backoff=coefficient,
            max_retry_delay=ms(cap if cap is not None else 100 * initial),
        )
    kind: Jitter = draw(_JITTER) if jitter else "none"
    delays_ms = draw(_DELAYS) if parts & 8 else None
    return RetryPolicy(
        max_attempts=attempts,
        initial_interval=ms(initial),
        backoff_coefficient=coefficient,
        max_interval=None if cap is None else ms(cap),
        jitter=kind,
        non_retryable=non_retryable,
        delays=None if delays_ms is None else [ms(d) for d in delays_ms],
        min_interval=ms(min_interval),
    )


# -- workflows -------------------------------------------------------------------------------


@attrs.frozen
class SleepingStep:
    """Step code for generated workflows: sleep each duration, return ``{step_attempt: n}``.

    A module-level class, not a closure, so generated workflows pickle (for
    process pools and for saving a counterexample).
    """

    sleeps_ns: tuple[int, ...] = ()

    async def __call__(self, ctx: StepContext) -> dict[str, int]:
        for ns in self.sleeps_ns:
            await ctx.sleep(f"{ns}ns")
        return {f"{ctx.step}_attempt": ctx.attempt}


@attrs.frozen
class _Options:
    """What :func:`workflows` draws from, each strategy built once."""

    min_steps: int
    max_steps: int
    offsets: SearchStrategy[list[int]]
    limits: SearchStrategy[int | None]
    retries: SearchStrategy[RetryPolicy] | None  # None: no retry policies
    timeouts: bool
    code_steps: bool
    compensations: bool
    trigger_rules: bool = False
    parallel_groups: bool = False


def workflows(
    *,
    min_steps: int = 1,
    max_steps: int = 20,
    max_deps: int = 3,
    max_concurrency: bool | int | None = None,
    retries: bool | SearchStrategy[RetryPolicy] = True,
    timeouts: bool = True,
    code_steps: bool = False,
    compensations: bool = False,
    trigger_rules: bool = False,
    parallel_groups: bool = False,
) -> SearchStrategy[Workflow]:
    """DAG :class:`wfsim.Workflow` values that every run finishes.

    The shape comes from :func:`dags` (steps ``s0``, ``s1``, ... declared in a
    topological order). Each step has an exact duration in milliseconds (0
    included), maybe an ``output``, a retry policy (``retries=True``: from
    :func:`retry_policies`; a strategy: from it; ``False``: none) and a
    per-attempt timeout (``timeouts``). ``code_steps=True`` makes some steps
    ``async def`` code that awaits ``ctx.sleep`` (a picklable
    :class:`SleepingStep`). ``compensations=True`` gives some steps a
    compensation ``undo_<step>`` (itself with duration, output, retry, timeout)
    and draws the :class:`wfsim.SagaPolicy`. ``max_concurrency``: ``None``
    (unbounded), a positive int (that bound), or ``True`` (drawn: unbounded or
    ``1..max_steps``). ``trigger_rules=True`` gives each step with upstream
    steps one of Airflow's trigger rules (``all_success`` most often, then every
    other rule). ``parallel_groups=True`` makes some steps parallel groups
    (:meth:`wfsim.Workflow.add_parallel`) of 1 to 3 tasks ``t0``, ``t1``, ...
    (each with duration, output, retry, timeout; outputs may share a key, so
    ``on_conflict`` matters), with a drawn ``merge``, ``on_conflict``,
    ``allow_partial_success`` and group timeout.

    Attempts are always bounded, so every run ends ``completed``, ``failed``,
    ``compensated`` or ``compensation_failed``, whatever plan
    :func:`fault_plans` draws for it. Each step's choices are drawn as one
    block independent of its position, so any step can shrink away; values
    shrink towards fewer steps, no edges, zero durations, no outputs, no
    retries, no timeouts, code-less steps, no compensations, ``all_success``
    and plain steps rather than groups.

    Example::

        @given(workflows(max_steps=8, compensations=True), schedules())
        def test_compensations_run_in_reverse(workflow, tape):
            result = wfsim.run(workflow, choices=tape)
            ...
    """
    func = "workflows"
    check_int(func, "min_steps", min_steps, minimum=1)
    check_int(func, "max_steps", max_steps, minimum=1)
    check_order(func, "min_steps", min_steps, "max_steps", max_steps)
    check_int(func, "max_deps", max_deps, minimum=0)
    if max_concurrency is not None and not isinstance(max_concurrency, bool):
        check_int(func, "max_concurrency", max_concurrency, minimum=1)
    policies: SearchStrategy[RetryPolicy] | None
    if isinstance(retries, bool):
        policies = retry_policies() if retries else None
    else:
        policies = check_strategy(func, "retries", retries)
    check_bool(func, "timeouts", timeouts)
    check_bool(func, "code_steps", code_steps)
    check_bool(func, "compensations", compensations)
    check_bool(func, "trigger_rules", trigger_rules)
    check_bool(func, "parallel_groups", parallel_groups)
    if max_concurrency is None or max_concurrency is False:
        limits: SearchStrategy[int | None] = st.none()
    elif max_concurrency is True:
        limits = st.none() | st.integers(1, max_steps)
    else:
        limits = st.just(max_concurrency)
    options = _Options(
        min_steps=min_steps,
        max_steps=max_steps,
        offsets=_offsets(max_steps, max_deps),
        limits=limits,
        retries=policies,
        timeouts=timeouts,
        code_steps=code_steps,
        compensations=compensations,
        trigger_rules=trigger_rules,
        parallel_groups=parallel_groups,
    )
    return _workflows(options)


_SAGAS = st.builds(
    SagaPolicy,
    register=st.sampled_from(("after", "before")),
    parallel=st.sampled_from((False, True)),
    on_error=st.sampled_from(("stop", "continue")),
)


@attrs.frozen
class _Work:
    """What one step or compensation does: code or duration, output, retry, timeout."""

    fn: SleepingStep | None
    duration: str
    output: int | None  # the value of the output key, if any
    retry: RetryPolicy | None
    timeout: str | None

    def output_for(self, name: str) -> dict[str, int] | None:
        return None if self.output is None else {f"{name}_out": self.output}


def _work(draw: DrawFn, options: _Options) -> _Work:
    fn = None
    duration = 0
    output = None
    parts = draw(_STEP_PARTS)
    # Code or not is drawn first and both branches' values after it, always: turning a
    # code step into a plain one then leaves every later choice where it was, so the
    # shrinker can make that move (STRAT-5) instead of stopping at a local minimum.
    code = options.code_steps and draw(_BOOL)
    sleeps = draw(_SLEEPS) if options.code_steps else ()
    plain_duration = draw(durations_ms())
    plain_output = draw(_OUTPUTS) if parts & 1 else None
    if code:
        fn = SleepingStep(tuple(1_000_000 * s for s in sleeps))
    else:
        duration, output = plain_duration, plain_output
    retry = draw(options.retries) if parts & 2 and options.retries is not None else None
    timeout = ms(draw(_TIMEOUTS)) if parts & 4 and options.timeouts else None
    return _Work(fn, ms(duration), output, retry, timeout)


@attrs.frozen
class _GroupDraw:
    """A parallel group's choices: its tasks (work, output key) and how they merge."""

    tasks: list[tuple[_Work, int]]
    merge: MergeKind
    on_conflict: ConflictPolicy
    allow_partial_success: bool
    timeout: int | None


@attrs.frozen
class _StepDraw:
    """One step's block of choices: where it hangs in the DAG, its work, its undo."""

    offsets: list[int]
    work: _Work
    undo: _Work | None
    rule: str = "all_success"
    group: _GroupDraw | None = None


_RULES = st.sampled_from(TRIGGER_RULES)  # all_success first: shrinks to the default
_MERGES: SearchStrategy[MergeKind] = st.sampled_from(("shallow", "deep"))
_CONFLICTS: SearchStrategy[ConflictPolicy] = st.sampled_from(
    ("prefer_new", "prefer_existing", "raise")
)
_TASK_COUNT = st.integers(1, 3)
_OUTPUT_KEY = st.integers(0, 1)


@st.composite
def _step_draws(draw: DrawFn, options: _Options) -> _StepDraw:
    offsets = draw(options.offsets)
    rule = draw(_RULES) if options.trigger_rules and offsets else "all_success"
    if options.parallel_groups and draw(_BOOL):
        tasks = [(_work(draw, options), draw(_OUTPUT_KEY)) for _ in range(draw(_TASK_COUNT))]
        group = _GroupDraw(
            tasks,
            draw(_MERGES),
            draw(_CONFLICTS),
            draw(_BOOL),
            draw(_TIMEOUTS) if options.timeouts and draw(_BOOL) else None,
        )
        return _StepDraw(offsets, _Work(None, "0ms", None, None, None), None, rule, group)
    work = _work(draw, options)
    undo = _work(draw, options) if options.compensations and draw(_BOOL) else None
    return _StepDraw(offsets, work, undo, rule)


def _workflows(options: _Options) -> SearchStrategy[Workflow]:
    steps = st.lists(_step_draws(options), min_size=options.min_steps, max_size=options.max_steps)
    return _assemble(options, steps)


@st.composite
def _assemble(draw: DrawFn, options: _Options, steps: SearchStrategy[list[_StepDraw]]) -> Workflow:
    limit = draw(options.limits)
    saga = draw(_SAGAS) if options.compensations else None
    blocks = draw(steps)
    wf = Workflow("generated", max_concurrency=limit, saga=saga)
    for i, block in enumerate(blocks):
        name = f"s{i}"
        after = [f"s{d}" for d in _after(i, block.offsets)]
        rule = block.rule if after else "all_success"  # a first step has no upstream to judge
        if block.group is not None:
            _add_group(wf, name, after, rule, block.group)
            continue
        undo: Step | None = None
        if block.undo is not None:
            comp = f"undo_{name}"
            w = block.undo
            undo = compensation(
                comp,
                fn=w.fn,
                duration=w.duration,
                output=w.output_for(comp),
                retry=w.retry,
                timeout=w.timeout,
            )
        work = block.work
        wf.add_step(
            name,
            fn=work.fn,
            duration=work.duration,
            output=work.output_for(name),
            after=after,
            retry=work.retry,
            timeout=work.timeout,
            compensate=undo,
            trigger_rule=rule,
        )
    wf.validate()
    return wf


def _add_group(wf: Workflow, name: str, after: list[str], rule: str, group: _GroupDraw) -> None:
    tasks = []
    for j, (w, key) in enumerate(group.tasks):
        output = None if w.output is None else {f"{name}_out{key}": w.output}
        tasks.append(
            task(
                f"t{j}",
                fn=w.fn,
                duration=w.duration,
                output=output,
                retry=w.retry,
                timeout=w.timeout,
            )
        )
    wf.add_parallel(
        name,
        tasks,
        after=after,
        merge=group.merge,
        on_conflict=group.on_conflict,
        allow_partial_success=group.allow_partial_success,
        timeout=None if group.timeout is None else ms(group.timeout),
        trigger_rule=rule,
    )
