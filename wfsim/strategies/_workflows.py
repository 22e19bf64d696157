"""Strategies for DAG shapes, retry policies and whole workflows."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

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

from ._blocks import Fields, blocks, layout_size
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

T = TypeVar("T")

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


# Retry policies and workflow steps are read from blocks of bytes (``_blocks``: one
# Hypothesis choice each instead of one per part, 3-4x faster to draw). The options a
# field reads from, in the order a field's zero bytes come first (the simplest):
#: What a retry policy lists as non-retryable (``st.lists(..., min_size=1, unique=True)``).
_NON_RETRYABLE = (
    ("ValueError",),
    ("PermissionError",),
    ("ValueError", "PermissionError"),
    ("PermissionError", "ValueError"),
)
_SIMPLE_COEFFICIENTS = (1.0, 1.5, 3.0)
_CELERY_BACKOFFS: tuple[bool, ...] = (False, True)


def read_ms(fields: Fields, *, positive: bool = False) -> int:
    """What :func:`durations_ms` draws, read from a block: whole seconds first, then any."""
    low = 1 if positive else 0
    any_ms = fields.flag()
    seconds = fields.between(low, 3)
    millis = fields.between(low, 5000)
    return millis if any_ms else 1000 * seconds


def _read_ms_list(fields: Fields, *, low: int, high: int) -> list[int]:
    """``low..high`` durations (always reading ``high``, keeping the first ones)."""
    size = fields.between(low, high)
    values = [read_ms(fields) for _ in range(high)]
    return values[:size]


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
    return _policy_strategy(_PolicyLayout(min_attempts, max_attempts, jitter, profiles))


@attrs.frozen
class _PolicyLayout:
    """How :func:`retry_policies` reads a policy from a block (see ``_blocks``).

    The fields, in order: attempts, the constructor (``profiles``), the initial
    interval, one mask of the optional parts (bit 0 a backoff coefficient other than
    2, 1 a cap, 2 non-retryable errors, 3 an explicit delay list, 4 a minimum
    interval), each part's value, the jitter (``jitter``) and Celery's own options
    (``profiles``). Every field is read whether used or not, so a block of zeros is
    the minimal policy and no field moves when another shrinks.
    """

    min_attempts: int
    max_attempts: int
    jitter: bool
    profiles: bool

    def read(self, fields: Fields) -> RetryPolicy:
        attempts = fields.between(self.min_attempts, self.max_attempts)
        profile = fields.choice(_PROFILES) if self.profiles else "native"
        initial = read_ms(fields)
        parts = fields.below(32)
        # A backoff coefficient: one of a few round ones, or any float in 1..4.
        any_float = fields.flag()
        simple = fields.choice(_SIMPLE_COEFFICIENTS)
        fraction = fields.below(2**32)
        cap_above = fields.below(20_001)
        non_retryable = list(fields.choice(_NON_RETRYABLE))
        delays = _read_ms_list(fields, low=1, high=4)
        min_interval = fields.below(2001)
        kind: Jitter = fields.choice(_JITTERS) if self.jitter else "none"
        celery = _read_celery(fields) if self.profiles else None
        if not parts & 1:
            coefficient = 2.0
        elif any_float:
            coefficient = 1.0 + 3.0 * fraction / (2**32 - 1)
        else:
            coefficient = simple
        cap = initial + cap_above if parts & 2 else None
        if not parts & 4:
            non_retryable = []
        if not parts & 16:
            min_interval = 0
        if profile == "temporal":
            return RetryPolicy.temporal(
                initial_interval=ms(initial),
                backoff_coefficient=coefficient,
                maximum_interval=None if cap is None else ms(cap),
                maximum_attempts=attempts,
                non_retryable_error_types=non_retryable,
            )
        if profile == "celery":
            assert celery is not None
            backoff, cap_above, retry_jitter = celery
            factor_ms = 1000 * max(1, int(backoff))
            return RetryPolicy.celery(
                max_retries=attempts - 1,
                retry_backoff=backoff,
                retry_backoff_max=ms(factor_ms + cap_above),
                default_retry_delay=ms(initial),
                retry_jitter=self.jitter and retry_jitter,
            )
        if profile == "prefect":
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
        return RetryPolicy(
            max_attempts=attempts,
            initial_interval=ms(initial),
            backoff_coefficient=coefficient,
            max_interval=None if cap is None else ms(cap),
            jitter=kind,
            non_retryable=non_retryable,
            delays=[ms(d) for d in delays] if parts & 8 else None,
            min_interval=ms(min_interval),
        )


def _read_celery(fields: Fields) -> tuple[bool | int, int, bool]:
    """Celery's ``retry_backoff`` (a flag or a factor), cap above it, ``retry_jitter``."""
    any_factor = fields.flag()
    flag = fields.choice(_CELERY_BACKOFFS)
    factor = fields.between(1, 5)
    backoff: bool | int = factor if any_factor else flag
    return backoff, fields.below(600_001), fields.flag()


@functools.cache
def _size(layout: _PolicyLayout) -> int:
    return layout_size(layout.read)


#: The policy layout behind each strategy :func:`retry_policies` made: a workflow
#: whose ``retries`` is one of them reads its policies inside each step's block.
_POLICY_LAYOUTS: dict[SearchStrategy[RetryPolicy], _PolicyLayout] = {}


@functools.cache
def _policy_strategy(layout: _PolicyLayout) -> SearchStrategy[RetryPolicy]:
    strategy = blocks(_size(layout)).map(_reader(layout.read))
    _POLICY_LAYOUTS[strategy] = layout
    return strategy


def _reader(read: Callable[[Fields], T]) -> Callable[[bytes], T]:
    """``read`` applied to a drawn block."""

    def decode(block: bytes) -> T:
        return read(Fields(block))

    return decode


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
    max_deps: int
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
        max_deps=max_deps,
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


_MERGES: tuple[MergeKind, ...] = ("shallow", "deep")
_CONFLICTS: tuple[ConflictPolicy, ...] = ("prefer_new", "prefer_existing", "raise")
_MAX_TASKS = 3


@attrs.frozen
class _StepLayout:
    """How one step is read from its block (see ``_blocks``): one Hypothesis choice a step.

    In order: ``max_deps`` dependency slots (present or not, and how far back), the
    trigger rule (``trigger_rules``), whether it is a group (``parallel_groups``) and
    whether it has a compensation (``compensations``), its work, its compensation's
    work (``compensations``), and a group's options and tasks (``parallel_groups``).
    A work is: a mask of its optional parts (bit 0 an output, 1 a retry policy, 2 a
    timeout), code or not and the code's sleeps (``code_steps``), its duration, output
    and timeout, and the retry policy's own fields (when ``retries`` is a
    :func:`retry_policies` strategy). Which fields there are depends on the options
    only, never on the values read, so all-zero bytes are one plain step with no
    dependencies, and each field shrinks on its own bytes.
    """

    options: _Options
    policy: _PolicyLayout | None  # read inside the work; None: drawn apart, or none

    def read(self, fields: Fields, draw_policy: Callable[[], RetryPolicy] | None) -> _StepDraw:
        """The step in ``fields``; ``draw_policy`` draws a policy that is not in the block."""
        options = self.options
        offsets = []
        for _ in range(options.max_deps):
            present = fields.flag()
            offset = fields.below(max(1, options.max_steps - 1))
            if present:
                offsets.append(offset)
        rule = fields.choice(TRIGGER_RULES) if options.trigger_rules else "all_success"
        is_group = options.parallel_groups and fields.flag()
        has_undo = options.compensations and fields.flag()
        work = self._work(fields, draw_policy)
        undo = self._work(fields, draw_policy) if options.compensations else None
        group = self._group(fields, draw_policy) if options.parallel_groups else None
        if is_group:
            return _StepDraw(offsets, _Work(None, "0ms", None, None, None), None, rule, group)
        return _StepDraw(offsets, work, undo if has_undo else None, rule)

    def _work(self, fields: Fields, draw_policy: Callable[[], RetryPolicy] | None) -> _Work:
        options = self.options
        parts = fields.below(8)
        code = options.code_steps and fields.flag()
        sleeps = _read_ms_list(fields, low=0, high=3) if options.code_steps else []
        duration = read_ms(fields)
        output = fields.below(10)
        timeout = read_ms(fields, positive=True)
        retry = None
        if self.policy is not None:
            if parts & 2:
                retry = self.policy.read(fields)
            else:  # the same bytes, not made into a policy no step has
                fields.skip(_size(self.policy))
        elif parts & 2 and draw_policy is not None:
            retry = draw_policy()
        return _Work(
            SleepingStep(tuple(1_000_000 * s for s in sleeps)) if code else None,
            ms(0 if code else duration),
            output if parts & 1 and not code else None,
            retry if parts & 2 else None,
            ms(timeout) if parts & 4 and options.timeouts else None,
        )

    def _group(self, fields: Fields, draw_policy: Callable[[], RetryPolicy] | None) -> _GroupDraw:
        size = fields.between(1, _MAX_TASKS)
        merge = fields.choice(_MERGES)
        on_conflict = fields.choice(_CONFLICTS)
        partial = fields.flag()
        timed = fields.flag()
        timeout = read_ms(fields, positive=True)
        tasks = [(self._work(fields, draw_policy), fields.below(2)) for _ in range(_MAX_TASKS)]
        return _GroupDraw(
            tasks[:size],
            merge,
            on_conflict,
            partial,
            timeout if timed and self.options.timeouts else None,
        )


def _workflows(options: _Options) -> SearchStrategy[Workflow]:
    policy = None if options.retries is None else _POLICY_LAYOUTS.get(options.retries)
    layout = _StepLayout(options, policy)
    block = blocks(layout_size(functools.partial(layout.read, draw_policy=None)))
    step: SearchStrategy[_StepDraw]
    if policy is None and options.retries is not None:
        step = _step_draws(layout, block, options.retries)
    else:
        step = block.map(_reader(functools.partial(layout.read, draw_policy=None)))
    steps = st.lists(step, min_size=options.min_steps, max_size=options.max_steps)
    return _assemble(options, steps)


@st.composite
def _step_draws(
    draw: DrawFn,
    layout: _StepLayout,
    block: SearchStrategy[bytes],
    policies: SearchStrategy[RetryPolicy],
) -> _StepDraw:
    """A step whose retry policies come from a strategy of the caller's, drawn after its block."""
    return layout.read(Fields(draw(block)), lambda: draw(policies))


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
