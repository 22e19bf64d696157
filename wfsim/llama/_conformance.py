"""Conformance: the same LlamaIndex workflow class on the real runtime and on wfsim.

The real llama-index-workflows runtime runs on an asyncio loop whose timers are
scaled (1 virtual second -> ``scale`` real seconds, default 20 ms); wfsim runs the
class through :func:`wfsim.llama.adapt`. What the real engine makes deterministic
is compared (specs/llama.md LLAMA-9): the outcome (completed / failed / timed out)
and the StopEvent's result, every non-None ``collect_events`` return, and how many
times each step's code ran. Where the real order is not fixed (events of one type
collected together), returns are compared as multisets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import sys
import textwrap
import types
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
from workflows.context.context import Context
from workflows.errors import WorkflowTimeoutError

import wfsim

from ._adapter import LlamaContext, adapt

__all__ = [
    "Case",
    "Observation",
    "agreement",
    "compare",
    "generate",
    "observe_real",
    "observe_wfsim",
]


@attrs.frozen
class Observation:
    """What one run of one runtime showed."""

    status: str
    result: Any
    collected: tuple[tuple[str, ...], ...]
    counts: Mapping[str, int]
    collectors: frozenset[str] = frozenset()


@attrs.frozen
class Case:
    """A workflow class to compare, with its input and (if generated) its source."""

    cls: type
    input: Mapping[str, Any] = attrs.Factory(dict)
    source: str = ""


def _describe(events: Sequence[Any]) -> tuple[str, ...]:
    out = []
    for ev in events:
        data = dict(sorted(ev.model_dump().items()))
        out.append(f"{type(ev).__name__}{data}")
    return tuple(out)


class _Recorder:
    def __init__(self) -> None:
        self.collected: list[tuple[str, ...]] = []
        self.counts: Counter[str] = Counter()
        self.collectors: set[str] = set()


@contextlib.contextmanager
def _instrumented(cls: type, recorder: _Recorder, *, real: bool) -> Iterator[None]:
    """Count step calls and record collect_events returns, on either runtime."""
    steps = cls._get_steps_from_class()  # type: ignore[attr-defined]
    saved: dict[str, Any] = {}
    for name, fn in steps.items():
        if name not in cls.__dict__:
            continue
        saved[name] = fn

        def counting(fn: Any = fn, name: str = name) -> Any:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                recorder.counts[name] += 1
                token = _CURRENT.set(name)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _CURRENT.reset(token)

            return wrapper

        setattr(cls, name, counting())
    target: Any = Context if real else LlamaContext
    original = target.collect_events

    def collect(self: Any, ev: Any, expected: Any, buffer_id: Any = None) -> Any:
        got = original(self, ev, expected, buffer_id)
        recorder.collectors.add(_CURRENT.get())
        if got is not None:
            types_ = [t.__name__ for t in expected]
            described = _describe(got)
            if len(set(types_)) != len(types_):
                described = tuple(sorted(described))  # order among one type is not fixed
            recorder.collected.append(described)
        return got

    target.collect_events = collect
    try:
        yield
    finally:
        target.collect_events = original
        for name, fn in saved.items():
            setattr(cls, name, fn)


import contextvars  # noqa: E402

_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("wfsim_conformance_step", default="")


def _observation(status: str, result: Any, rec: _Recorder) -> Observation:
    return Observation(
        status=status,
        result=result,
        collected=tuple(sorted(rec.collected)),
        counts=dict(sorted(rec.counts.items())),
        collectors=frozenset(rec.collectors),
    )


class _ScaledLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose timers run ``scale`` times faster than they say."""

    scale = 0.02

    def call_at(  # type: ignore[override]
        self, when: float, callback: Any, *args: Any, context: Any = None
    ) -> Any:
        now = self.time()
        return super().call_at(
            now + max(0.0, when - now) * self.scale, callback, *args, context=context
        )


@contextlib.contextmanager
def _scaled_now(scale: float) -> Iterator[None]:
    """The runtime's clock (retry due times, the run's timeout) runs ``1/scale`` times
    faster, as the loop's timers do."""
    import time

    from workflows.plugins import basic

    owners: list[Any] = [
        c for c in vars(basic).values() if isinstance(c, type) and "get_now" in vars(c)
    ]
    base = time.time()

    def now() -> float:
        return base + (time.time() - base) / scale

    async def get_now(self: Any) -> float:
        return now()

    class _Time(types.ModuleType):
        """``time`` for the runtime's modules (failure times are stamped with time.time())."""

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    shim = _Time("time")
    shim.time = now  # type: ignore[attr-defined]
    modules = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("workflows.") and getattr(m, "time", None) is time
    ]
    saved = [(c, c.get_now) for c in owners]
    for c in owners:
        c.get_now = get_now
    for m in modules:
        m.time = shim  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for c, fn in saved:
            c.get_now = fn
        for m in modules:
            m.time = time  # type: ignore[attr-defined]


def observe_real(case: Case, *, scale: float = 0.02) -> Observation:
    """Run ``case`` on the real llama-index-workflows runtime, timers scaled by ``scale``."""
    rec = _Recorder()

    def factory() -> asyncio.AbstractEventLoop:
        loop = _ScaledLoop()
        loop.scale = scale
        return loop

    async def main() -> Any:
        return await case.cls().run(**case.input)

    with (
        _instrumented(case.cls, rec, real=True),
        _scaled_now(scale),
        asyncio.Runner(loop_factory=factory) as runner,
    ):
        try:
            result = runner.run(main())
        except WorkflowTimeoutError:
            return _observation("timed_out", None, rec)
        except Exception as exc:
            return _observation("failed", type(exc).__name__, rec)
    return _observation("completed", result, rec)


def observe_wfsim(case: Case, *, seed: int = 0) -> Observation:
    """Run ``case`` on wfsim through :func:`wfsim.llama.adapt`."""
    rec = _Recorder()
    with _instrumented(case.cls, rec, real=False):
        run = wfsim.run(adapt(case.cls), input=dict(case.input), seed=seed)
    if run.status == "completed":
        return _observation("completed", run.result, rec)
    if run.status == "timed_out":
        return _observation("timed_out", None, rec)
    failed = [e for e in run.trace if e.kind == "step_failed"]
    return _observation("failed", failed[0].fields.get("error") if failed else None, rec)


def compare(real: Observation, sim: Observation) -> list[str]:
    """The differences between two observations (empty: they agree)."""
    out: list[str] = []
    if real.status != sim.status:
        out.append(f"status: real {real.status}, wfsim {sim.status}")
    elif real.result != sim.result and not _same_multiset(real.result, sim.result):
        out.append(f"result: real {real.result!r}, wfsim {sim.result!r}")
    if real.collected != sim.collected:
        out.append(f"collect_events returns: real {real.collected}, wfsim {sim.collected}")
    # A collector's body runs once per delivered event on wfsim; the real engine may run
    # it again on a stale buffer (EVT-4), so only other steps' counts are compared.
    skip = real.collectors | sim.collectors
    counts_real = {k: v for k, v in real.counts.items() if k not in skip}
    counts_sim = {k: v for k, v in sim.counts.items() if k not in skip}
    if real.status == "completed" and counts_real != counts_sim:
        out.append(f"step runs: real {counts_real}, wfsim {counts_sim}")
    return out


def agreement(case: Case, real: Observation, *, seeds: int = 16) -> tuple[list[str], int]:
    """Compare the real run with wfsim seeds 0, 1, ...: ``([], seed)`` for the first seed
    that agrees, else the first seed's differences. Where the real order is not fixed,
    each seed picks one, so the real run agrees if some seed's run does."""
    first: list[str] | None = None
    for seed in range(seeds):
        differences = compare(real, observe_wfsim(case, seed=seed))
        if not differences:
            return [], seed
        if first is None:
            first = differences
    return first or [], 0


def _same_multiset(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    return False


# -- random workflow classes -------------------------------------------------------------------
def generate(seed: int) -> Case:
    """A random LlamaIndex workflow class: a start step fans out to typed workers
    (``num_workers``, sleeps, some failing then retried under their retry policy),
    a collector with an expected list (and maybe a ``buffer_id``), and sometimes a
    second StopEvent emitter at another time. Times are whole seconds, a
    second StopEvent emitter at a half second, so scaled real time orders them as
    virtual time does."""
    rng = random.Random(seed)
    kinds = rng.randint(1, 3)
    lines = [
        "import asyncio",
        "from workflows import Context, Workflow, step",
        "from workflows.events import Event, StartEvent, StopEvent",
        "from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed",
        "",
    ]
    sends: list[str] = []
    expected: list[str] = []
    finish = 0
    workers = [rng.randint(1, 4) for _ in range(kinds)]
    for k in range(kinds):
        events = rng.randint(1, 3)
        fails = 0
        lines += [
            f"class Work{k}(Event):",
            "    tag: str",
            "    delay: int = 0",
            "    fail: int = 0",
            "",
            f"class Done{k}(Event):",
            "    tag: str",
            "",
        ]
        for i in range(events):
            delay, fail = rng.randint(0, 3), rng.choice([0, 0, 0, 1, 2])
            fails += fail
            sends.append(f"ctx.send_event(Work{k}(tag='w{k}.{i}', delay={delay}, fail={fail}))")
            expected.append(f"Done{k}")
            finish = max(finish, delay + fail * 2)
    rng.shuffle(expected)
    buffer = rng.choice([None, "'fan_in'"])
    watchdog = rng.random() < 0.4
    # Half seconds: never at the instant a worker starts, retries or ends (a tie the
    # real runtime breaks by chance).
    watchdog_at = rng.choice([finish + 1.5, finish - 1.5]) if finish >= 2 else finish + 1.5
    produced = " | ".join(f"Work{k}" for k in range(kinds))
    body = [
        "class Generated(Workflow):",
        "    @step",
        f"    async def start(self, ctx: Context, ev: StartEvent) -> {produced} | None:",
        *[f"        {s}" for s in sends],
        "",
    ]
    for k in range(kinds):
        body += [
            f"    @step(num_workers={workers[k]}, "
            "retry_policy=retry_policy(wait=wait_fixed(1), stop=stop_after_attempt(3)))",
            f"    async def work{k}(self, ctx: Context, ev: Work{k}) -> Done{k}:",
            "        if ctx.retry_info().retry_number < ev.fail:",
            "            await asyncio.sleep(1)",
            "            raise ConnectionError('flaky')",
            "        await asyncio.sleep(ev.delay)",
            f"        return Done{k}(tag=ev.tag)",
            "",
        ]
    accepted = " | ".join(f"Done{k}" for k in range(kinds))
    body += [
        "    @step",
        f"    async def collect(self, ctx: Context, ev: {accepted}) -> StopEvent | None:",
        f"        got = ctx.collect_events(ev, [{', '.join(expected)}], buffer_id={buffer})",
        "        if got is None:",
        "            return None",
        "        return StopEvent(result=[type(e).__name__ for e in got])",
        "",
    ]
    if watchdog:
        body += [
            "    @step",
            "    async def watchdog(self, ctx: Context, ev: StartEvent) -> StopEvent:",
            f"        await asyncio.sleep({watchdog_at})",
            "        return StopEvent(result='watchdog')",
            "",
        ]
    source = "\n".join(lines + body)
    name = f"wfsim_generated_{seed}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<generated workflow {seed}>", "exec"), module.__dict__)
    return Case(
        cls=module.Generated,
        source=textwrap.dedent(source),
    )
