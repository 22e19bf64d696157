"""The pytest plugin (entry point ``pytest11: wfsim``): scenario files, fixtures, marker, options.

Scenario files: every ``*.wfsim.yaml`` file is collected as a test named after
its ``scenario:`` title. The file is loaded at collection, so an invalid file is
one collection error showing the loader's ``FILE:LINE:`` message; a failing run
reports the broken expectations and the ``wfsim replay`` command, not a
traceback.

Fixtures for Python tests::

    @pytest.mark.wfsim(seed=3, time_limit="1h")
    async def test_purchase(wfsim_sim, wfsim_faults, wfsim_trace):
        wfsim_faults.error("charge", attempts=[1], error=ConnectionError)
        await wfsim_sim.arun(purchase)
        wfsim_trace.assert_attempts("charge", 2)
        wfsim_trace.expect(order=["reserve < charge < ship"], status="completed")

An ``async def`` test that uses a ``wfsim_*`` fixture or the ``wfsim`` marker runs
under ``trio.run``, on the trio ``Clock`` among its arguments (``wfsim_clock``) or
else a fresh ``MockClock(autojump_threshold=0)``, unless another plugin runs it
(pytest-trio's ``trio`` marker or ``trio_mode``, anyio, asyncio). pytest-trio too
takes a ``Clock`` fixture as the run's clock, so ``wfsim_clock`` works there as well.
pytest-asyncio's ``asyncio_mode = auto`` takes every async test; wfsim claims its
own back at collection (PLUG-9).

Options: ``--wfsim-seed N``, ``--wfsim-seeds N``, ``--wfsim-trace-dir DIR`` and the
ini keys ``wfsim_seed``, ``wfsim_trace_dir``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import os
import pathlib
import re
import shlex
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import attrs
import pytest
import trio
import trio.testing

from wfsim._core._choice import ChoiceSource
from wfsim._core._events import EventWorkflow
from wfsim._core._faults import Fault
from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._run import DEFAULT_TIME_LIMIT, RunResult, arun, run
from wfsim._core._signals import Signal
from wfsim._core._time import DEFAULT_EPOCH, Duration, to_ns
from wfsim._core._trace import Trace
from wfsim._core._workflow import Workflow
from wfsim.errors import ScenarioError, WfsimError

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from wfsim.scenario import Scenario
    from wfsim.scenario._runner import ScenarioRun

__all__ = [
    "FaultPlan",
    "ScenarioFile",
    "ScenarioItem",
    "Simulation",
    "TraceAssertions",
]

SUFFIX = ".wfsim.yaml"
MARKER_ARGS = ("seed", "time_limit")

#: Async runners of other plugins; a test carrying one of these markers is theirs.
_OTHER_RUNNERS = ("trio", "anyio", "asyncio")


# -- configuration ---------------------------------------------------------------------------


@attrs.frozen
class _Settings:
    """The plugin's options once validated. ``seed`` None: each scenario's own seed."""

    seed: int | None = None
    seed_origin: str = ""
    seeds: int = 1
    trace_dir: pathlib.Path | None = None


@attrs.frozen
class _MarkOptions:
    """The test's ``@pytest.mark.wfsim(...)`` arguments, closest mark first."""

    seed: int | None = None
    time_limit: Duration | None = None


_SETTINGS = pytest.StashKey[_Settings]()
_MARK = pytest.StashKey[_MarkOptions]()
_SEED = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wfsim", "wfsim: deterministic workflow simulation")
    group.addoption(
        "--wfsim-seed",
        metavar="N",
        default=None,
        help="run every scenario file and wfsim fixture with seed N "
        "(default: each scenario's own seed; 0 for fixtures)",
    )
    group.addoption(
        "--wfsim-seeds",
        metavar="N",
        default=None,
        help="run each scenario file with N seeds: its seed, seed+1, ... (default: 1)",
    )
    group.addoption(
        "--wfsim-trace-dir",
        metavar="DIR",
        default=None,
        help="write the trace of every wfsim run into DIR as JSON Lines",
    )
    parser.addini("wfsim_seed", "default of --wfsim-seed", default="")
    parser.addini(
        "wfsim_trace_dir", "default of --wfsim-trace-dir (relative to the ini file)", default=""
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wfsim(seed=None, time_limit=None): the seed and virtual time limit of this test's "
        "wfsim runs (the seed wins over --wfsim-seed)",
    )
    config.stash[_SETTINGS] = _read_settings(config)


def _ini_name(config: pytest.Config) -> str:
    return config.inipath.name if config.inipath is not None else "the ini file"


def _read_settings(config: pytest.Config) -> _Settings:
    seed: int | None = None
    origin = ""
    option = config.getoption("wfsim_seed")
    ini = str(config.getini("wfsim_seed")).strip()
    if option is not None:
        seed, origin = _integer(option, "--wfsim-seed", minimum=0), "--wfsim-seed"
    elif ini:
        origin = f"wfsim_seed in {_ini_name(config)}"
        seed = _integer(ini, origin, minimum=0)
    raw_seeds = config.getoption("wfsim_seeds")
    seeds = 1 if raw_seeds is None else _integer(raw_seeds, "--wfsim-seeds", minimum=1)

    trace_dir: pathlib.Path | None = None
    raw_dir = config.getoption("wfsim_trace_dir")
    ini_dir = str(config.getini("wfsim_trace_dir")).strip()
    if raw_dir is not None:
        if not str(raw_dir).strip():
            raise pytest.UsageError("--wfsim-trace-dir needs a directory, not an empty string")
        trace_dir = config.invocation_params.dir / raw_dir
        what = f"--wfsim-trace-dir {raw_dir!r}"
    elif ini_dir:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        trace_dir = base / ini_dir
        what = f"wfsim_trace_dir {ini_dir!r} in {_ini_name(config)}"
    if trace_dir is not None and trace_dir.exists() and not trace_dir.is_dir():
        raise pytest.UsageError(f"{what} names a file; expected a directory for the traces")
    return _Settings(seed=seed, seed_origin=origin, seeds=seeds, trace_dir=trace_dir)


def _integer(value: object, what: str, *, minimum: int) -> int:
    text = str(value).strip()
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise pytest.UsageError(f"{what} must be {expected}, not {value!r}")
    number = int(text)
    if number < minimum:
        raise pytest.UsageError(f"{what} must be {expected}, not {number}")
    return number


def _settings(config: pytest.Config) -> _Settings:
    return config.stash.get(_SETTINGS, _Settings())


def pytest_report_header(config: pytest.Config) -> str:
    settings = _settings(config)
    if settings.seed is None:
        seed = "seed from scenario files"
    else:
        seed = f"seed {settings.seed} from {settings.seed_origin}"
    line = f"wfsim: {seed}; --wfsim-seeds {settings.seeds}"
    if settings.trace_dir is not None:
        line += f"; traces to {settings.trace_dir}"
    return line


# -- scenario files --------------------------------------------------------------------------


def pytest_collect_file(file_path: pathlib.Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.name.endswith(SUFFIX) and len(file_path.name) > len(SUFFIX):
        file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return file
    return None


def _display_path(path: pathlib.Path, config: pytest.Config) -> str:
    """``path`` relative to where pytest was started (so replay commands paste), if possible."""
    try:
        return os.path.relpath(path, config.invocation_params.dir)
    except ValueError:  # another drive on Windows
        return str(path)


class ScenarioFile(pytest.File):
    """A ``*.wfsim.yaml`` file: loaded at collection, one item per seed."""

    def collect(self) -> Iterator[ScenarioItem]:
        from wfsim.scenario import load_scenario

        scenario = load_scenario(_display_path(self.path, self.config))
        settings = _settings(self.config)
        first = scenario.seed if settings.seed is None else settings.seed
        for seed in range(first, first + settings.seeds):
            name = scenario.title if settings.seeds == 1 else f"{scenario.title}[seed={seed}]"
            yield ScenarioItem.from_parent(self, name=name, scenario=scenario, seed=seed)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class _ScenarioFailed(Exception):
    """Raised by a scenario item whose expectations did not hold; carries the run."""

    def __init__(self, outcome: ScenarioRun) -> None:
        super().__init__(outcome.report())
        self.outcome = outcome


class ScenarioItem(pytest.Item):
    """One run of a scenario with one seed."""

    def __init__(self, *, scenario: Scenario, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.seed = seed
        self.outcome: ScenarioRun | None = None
        self.user_properties.append(("wfsim_seed", seed))

    def runtest(self) -> None:
        from wfsim.scenario._runner import run_scenario

        outcome = run_scenario(self.scenario, seed=self.seed)
        self.outcome = outcome
        trace_dir = _settings(self.config).trace_dir
        if trace_dir is not None:
            stem = self.path.name.removesuffix(SUFFIX)
            outcome.write_trace(trace_dir / f"{stem}-seed{self.seed}.jsonl")
        if not outcome.passed:
            raise _ScenarioFailed(outcome)
        if not outcome.judged:  # pinned to another seed, nothing else to check (SCN-16)
            pytest.skip(f"{outcome.expect_skipped}, and the file states no invariants")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Literal["long", "short", "line", "no", "native", "value", "auto"] | None = None,
    ) -> str | TerminalRepr:
        exc = excinfo.value
        if isinstance(exc, _ScenarioFailed):
            return exc.outcome.report()
        if isinstance(exc, WfsimError):
            return (
                f"scenario {self.scenario.title!r} could not run with seed {self.seed}: "
                f"{type(exc).__name__}: {exc}\n\n"
                f"replay: wfsim replay {shlex.quote(self.scenario.path)} --seed {self.seed}"
            )
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[pathlib.Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.title} [seed {self.seed}]"


# -- fixtures' objects -----------------------------------------------------------------------


@attrs.define
class FaultPlan:
    """The faults a test injects, built by chaining; iterates as :class:`wfsim.Fault` objects.

    Example::

        wfsim_faults.error("charge", attempts=[1], error=ConnectionError).latency("ship", extra=0.5)
    """

    faults: list[Fault] = attrs.field(factory=list)

    def error(
        self,
        step: str,
        *,
        attempts: Iterable[int] | int | None = None,
        error: type[BaseException] | str = "InjectedError",
        message: str = "",
        retryable: bool = True,
        at: Literal["start", "end"] = "start",
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.error` with these arguments; returns the plan."""
        fault = Fault.error(
            step, attempts=attempts, error=error, message=message, retryable=retryable, at=at
        )
        return self.add(fault)

    def latency(
        self, step: str, *, extra: Duration, attempts: Iterable[int] | int | None = None
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.latency` with these arguments; returns the plan."""
        return self.add(Fault.latency(step, extra=extra, attempts=attempts))

    def crash(
        self,
        step: str,
        *,
        at: Literal["before", "after"] = "before",
        attempts: Iterable[int] | int | None = None,
        probability: float | None = None,
        restart_after: Duration = 0,
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.crash` with these arguments; returns the plan."""
        fault = Fault.crash(
            step, at=at, attempts=attempts, probability=probability, restart_after=restart_after
        )
        return self.add(fault)

    def drop(
        self,
        *,
        event: str | None = None,
        signal: str | None = None,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.drop` with these arguments; returns the plan."""
        fault = Fault.drop(
            event=event, signal=signal, occurrences=occurrences, probability=probability
        )
        return self.add(fault)

    def duplicate(
        self,
        *,
        event: str | None = None,
        signal: str | None = None,
        copies: int = 1,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.duplicate` with these arguments; returns the plan."""
        fault = Fault.duplicate(
            event=event,
            signal=signal,
            copies=copies,
            occurrences=occurrences,
            probability=probability,
        )
        return self.add(fault)

    def delay(
        self,
        *,
        event: str | None = None,
        signal: str | None = None,
        by: Duration | None = None,
        uniform: tuple[Duration, Duration] | None = None,
        exponential: Duration | None = None,
        occurrences: Iterable[int] | int | None = None,
        probability: float | None = None,
    ) -> FaultPlan:
        """Add :meth:`wfsim.Fault.delay` with these arguments; returns the plan."""
        fault = Fault.delay(
            event=event,
            signal=signal,
            by=by,
            uniform=uniform,
            exponential=exponential,
            occurrences=occurrences,
            probability=probability,
        )
        return self.add(fault)

    def add(self, *faults: Fault) -> FaultPlan:
        """Add ready-made faults; returns the plan."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"FaultPlan.add() takes wfsim.Fault objects, not {fault!r}")
        self.faults.extend(faults)
        return self

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)


@attrs.define
class Simulation:
    """Runs workflows for one test with its seed, time limit and fault plan.

    :meth:`run` and :meth:`arun` take :func:`wfsim.run`'s arguments; those left
    out come from the test (``seed``, ``time_limit``, ``faults``). Each result is
    kept in :attr:`runs` and :attr:`last`, and with ``--wfsim-trace-dir`` its trace
    is written as ``DIR/<module>.<test>-seed<N>.jsonl`` (``-run2``, ... for later runs).
    """

    seed: int = 0
    time_limit: Duration = DEFAULT_TIME_LIMIT
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    trace_dir: pathlib.Path | None = None
    trace_name: str = "wfsim"
    runs: list[RunResult] = attrs.field(factory=list)
    signals: list[Signal] = attrs.field(factory=list)
    #: The workflow of each run in :attr:`runs` (what ``wfsim_trace.expect`` checks against).
    workflows: list[Workflow | ImperativeWorkflow | EventWorkflow] = attrs.field(
        factory=list, repr=False
    )

    def signal(self, name: str, *, at: Duration = 0, payload: Any = None) -> Simulation:
        """Deliver signal ``name`` at virtual time ``at`` in the runs that follow.

        Chainable: ``wfsim_sim.signal("approval", at="4h", payload={"ok": True})``.
        A ``signals=`` argument to :meth:`run` replaces these for that run.
        """
        self.signals.append(Signal(name, at=at, payload=payload))
        return self

    @property
    def last(self) -> RunResult | None:
        """The result of the latest run, or None before the first."""
        return self.runs[-1] if self.runs else None

    def _arguments(
        self,
        seed: int | None,
        faults: Iterable[Fault] | None,
        time_limit: Duration | None,
        signals: Iterable[Signal] | None = None,
    ) -> dict[str, Any]:
        return {
            "seed": self.seed if seed is None else seed,
            "faults": list(self.faults if faults is None else faults),
            "time_limit": self.time_limit if time_limit is None else time_limit,
            "signals": list(self.signals if signals is None else signals),
        }

    def run(
        self,
        workflow: Workflow | ImperativeWorkflow | EventWorkflow,
        *,
        input: Any = None,
        seed: int | None = None,
        faults: Iterable[Fault] | None = None,
        choices: ChoiceSource | Iterable[int] | None = None,
        time_limit: Duration | None = None,
        epoch: _dt.datetime = DEFAULT_EPOCH,
        patch_wall_clock: bool = True,
        signals: Iterable[Signal] | None = None,
    ) -> RunResult:
        """:func:`wfsim.run` with the test's seed, time limit, faults and signals unless given."""
        __tracebackhide__ = True
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            raise WfsimError(
                "wfsim_sim.run() starts its own trio run and cannot be called inside one; "
                "in an async test use 'await wfsim_sim.arun(...)'"
            )
        result = run(
            workflow,
            input=input,
            choices=choices,
            epoch=epoch,
            patch_wall_clock=patch_wall_clock,
            **self._arguments(seed, faults, time_limit, signals),
        )
        return self._keep(result, workflow)

    async def arun(
        self,
        workflow: Workflow | ImperativeWorkflow | EventWorkflow,
        *,
        input: Any = None,
        seed: int | None = None,
        faults: Iterable[Fault] | None = None,
        choices: ChoiceSource | Iterable[int] | None = None,
        time_limit: Duration | None = None,
        epoch: _dt.datetime = DEFAULT_EPOCH,
        patch_wall_clock: bool = True,
        signals: Iterable[Signal] | None = None,
    ) -> RunResult:
        """:func:`wfsim.arun` (inside a trio run) with the test's seed, limit, faults, signals."""
        __tracebackhide__ = True
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            raise WfsimError(
                "wfsim_sim.arun() runs on trio, but this test runs on another event loop "
                "(an asyncio marker, or pytest-asyncio's asyncio_mode = auto with one); "
                "remove the asyncio marker so wfsim runs the test under trio, or call "
                "wfsim_sim.run() from a plain 'def' test"
            ) from None
        result = await arun(
            workflow,
            input=input,
            choices=choices,
            epoch=epoch,
            patch_wall_clock=patch_wall_clock,
            **self._arguments(seed, faults, time_limit, signals),
        )
        return self._keep(result, workflow)

    def __repr__(self) -> str:
        return (
            f"<Simulation seed={self.seed} time_limit={self.time_limit!r} "
            f"faults={len(self.faults)} runs={len(self.runs)}>"
        )

    def _keep(
        self, result: RunResult, workflow: Workflow | ImperativeWorkflow | EventWorkflow
    ) -> RunResult:
        self.runs.append(result)
        self.workflows.append(workflow)
        if self.trace_dir is not None:
            seed = "choices" if result.seed is None else f"seed{result.seed}"
            again = f"-run{len(self.runs)}" if len(self.runs) > 1 else ""
            target = self.trace_dir / f"{self.trace_name}-{seed}{again}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(result.trace.to_jsonl(), encoding="utf-8")
        return result


class TraceAssertions:
    """Assertions over the latest run of ``wfsim_sim``, with scenario files' ``expect`` keys.

    Each raises ``AssertionError`` with the same report a scenario file prints
    (expected, actual, the trace lines involved) and a command that reruns the test.
    """

    def __init__(self, sim: Simulation, *, test: str = "", file: str = "", rerun: str = "") -> None:
        self.sim = sim
        self.test = test
        self.file = file
        self.rerun = rerun

    def __repr__(self) -> str:
        return f"<TraceAssertions of {self.test or 'a test'}, runs={len(self.sim.runs)}>"

    @property
    def result(self) -> RunResult:
        """The latest run's result; raises :class:`wfsim.WfsimError` before the first run."""
        last = self.sim.last
        if last is None:
            raise WfsimError(
                "wfsim_trace has no run to check yet: call wfsim_sim.run(workflow) "
                "(or 'await wfsim_sim.arun(workflow)' in an async test) first"
            )
        return last

    @property
    def trace(self) -> Trace:
        """The latest run's trace."""
        return self.result.trace

    def expect(self, expectations: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Check scenario-file expectations (``status``, ``order``, ``attempts``, ...).

        Example::

            wfsim_trace.expect(status="completed", order=["a < b"], attempts={"b": 2})

        Raises ``AssertionError`` listing every expectation that does not hold and
        ``ValueError`` for an unknown key or a value of the wrong shape.
        """
        __tracebackhide__ = True
        from wfsim.scenario._expect import check_expectations, format_failures

        result = self.result
        wanted = {**(expectations or {}), **more}
        # The run's workflow: a body's uncalled step never started (SCN-9).
        workflow = self.sim.workflows[-1] if self.sim.workflows else None
        failures = check_expectations(wanted, result, workflow=workflow)
        if not failures:
            return
        seed = self.sim.seed if result.seed is None else result.seed
        report = format_failures(
            failures, scenario=self.test or result.workflow, file=self.file, seed=seed
        ).splitlines()
        if report and report[-1].startswith("replay: "):
            report.pop()
            if self.rerun:
                report.append(f"rerun: {self.rerun}")
        raise AssertionError("\n".join(report).rstrip())

    def assert_status(self, status: str) -> None:
        """The run ended with ``status`` (``completed``, ``failed``, ...)."""
        __tracebackhide__ = True
        self.expect(status=status)

    def assert_order(self, *chains: str) -> None:
        """Each chain ``"a < b < c"`` holds: a completed before b started, b before c."""
        __tracebackhide__ = True
        self.expect(order=list(chains))

    def assert_attempts(self, step: str, attempts: int) -> None:
        """``step`` made exactly ``attempts`` attempts."""
        __tracebackhide__ = True
        self.expect(attempts={step: attempts})

    def assert_retry_delays(self, step: str, delays: Sequence[Duration]) -> None:
        """The delays between ``step``'s attempts were ``delays`` (seconds or ``"250ms"``)."""
        __tracebackhide__ = True
        self.expect(retry_delays={step: list(delays)})


# -- the marker and the fixtures -------------------------------------------------------------


def _mark_error(message: str) -> NoReturn:
    pytest.fail(f"@pytest.mark.wfsim: {message}", pytrace=False)


def _mark_options(item: pytest.Item) -> _MarkOptions:
    """The merged ``wfsim`` marks of ``item`` (closest first), validated once."""
    if _MARK in item.stash:
        return item.stash[_MARK]
    given: dict[str, Any] = {}
    for mark in item.iter_markers("wfsim"):
        if mark.args:
            _mark_error(
                f"takes keyword arguments only ({', '.join(f'{a}=' for a in MARKER_ARGS)}), "
                f"not {', '.join(map(repr, mark.args))}"
            )
        for key, value in mark.kwargs.items():
            if key not in MARKER_ARGS:
                _mark_error(
                    f"unknown argument {key}=; expected {' or '.join(f'{a}=' for a in MARKER_ARGS)}"
                )
            given.setdefault(key, value)
    seed = given.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        _mark_error(f"seed must be an integer >= 0, not {seed!r}")
    time_limit = given.get("time_limit")
    if time_limit is not None:
        try:
            limit = to_ns(time_limit, what="time_limit")
        except ValueError as exc:
            _mark_error(str(exc))
        if limit <= 0:
            _mark_error(f"time_limit must be positive, not {time_limit!r}")
    options = _MarkOptions(seed=seed, time_limit=time_limit)
    item.stash[_MARK] = options
    return options


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # A mistyped marker argument is an error even in a test that uses no fixture.
    if item.get_closest_marker("wfsim") is not None:
        _mark_options(item)


def _trace_name(item: pytest.Item) -> str:
    """``test_orders.TestX.test_y[a-1]`` for ``tests/test_orders.py::TestX::test_y[a-1]``."""
    module = item.path.name.split(".")[0]
    rest = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name
    return re.sub(r"[^\w.=\[\]-]+", "_", f"{module}.{rest.replace('::', '.')}")


@pytest.fixture
def wfsim_seed(request: pytest.FixtureRequest) -> int:
    """The test's seed: the ``wfsim`` marker's ``seed=``, else ``--wfsim-seed``, else 0."""
    seed = _mark_options(request.node).seed
    if seed is None:
        seed = _settings(request.config).seed or 0
    request.node.stash[_SEED] = seed
    return seed


@pytest.fixture
def wfsim_faults() -> FaultPlan:
    """An empty :class:`FaultPlan`; ``wfsim_sim`` injects what the test adds to it."""
    return FaultPlan()


@pytest.fixture
def wfsim_sim(
    request: pytest.FixtureRequest, wfsim_seed: int, wfsim_faults: FaultPlan
) -> Simulation:
    """A :class:`Simulation` bound to the test's seed, time limit and ``wfsim_faults``."""
    limit = _mark_options(request.node).time_limit
    return Simulation(
        seed=wfsim_seed,
        time_limit=DEFAULT_TIME_LIMIT if limit is None else limit,
        faults=wfsim_faults,
        trace_dir=_settings(request.config).trace_dir,
        trace_name=_trace_name(request.node),
    )


@pytest.fixture
def wfsim_trace(request: pytest.FixtureRequest, wfsim_sim: Simulation) -> TraceAssertions:
    """:class:`TraceAssertions` over ``wfsim_sim``'s latest run."""
    node: pytest.Item = request.node
    return TraceAssertions(
        wfsim_sim,
        test=node.name,
        file=_display_path(node.path, request.config),
        rerun=_rerun_command(node, wfsim_sim.seed),
    )


@pytest.fixture
def wfsim_clock() -> trio.testing.MockClock:
    """A ``trio.testing.MockClock(autojump_threshold=0)``: the clock of the test's trio run."""
    return trio.testing.MockClock(autojump_threshold=0)


def _rerun_command(item: pytest.Item, seed: int) -> str:
    command = f"pytest {shlex.quote(item.nodeid)}"
    if _mark_options(item).seed is None:
        command += f" --wfsim-seed {seed}"
    return command


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _SEED in item.stash:
        seed = item.stash[_SEED]
        report.sections.append(("wfsim", f"seed {seed}; rerun: {_rerun_command(item, seed)}"))
    return report


# -- async tests -----------------------------------------------------------------------------


def _wants_wfsim(item: pytest.Function) -> bool:
    return item.get_closest_marker("wfsim") is not None or any(
        name.startswith("wfsim_") for name in item.fixturenames
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Claim wfsim's async tests back from pytest-asyncio's ``asyncio_mode = auto`` (PLUG-9).

    In auto mode pytest-asyncio turns every ``async def`` test into an item of its
    own that runs on an asyncio loop. This wrapper runs after it: an async test
    that uses wfsim (PLUG-7) and carries no asyncio, trio or anyio marker of its
    own becomes a plain ``pytest.Function`` again, which ``pytest_pyfunc_call``
    runs under trio. A test marked ``asyncio`` stays pytest-asyncio's.
    """
    made = yield
    if not made or not inspect.iscoroutinefunction(obj):
        return made
    explicit = {m.name for m in getattr(obj, "pytestmark", ())} | {
        m.name for m in collector.iter_markers()
    }
    if explicit.intersection(_OTHER_RUNNERS):
        return made
    if isinstance(made, list):
        return [_from_pytest_asyncio(item) for item in made]
    return _from_pytest_asyncio(made)


def _from_pytest_asyncio(item: Any) -> Any:
    """A plain ``pytest.Function`` for an item pytest-asyncio's auto mode took over."""
    if not isinstance(item, pytest.Function) or type(item) is pytest.Function:
        return item
    if not type(item).__module__.startswith("pytest_asyncio") or not _wants_wfsim(item):
        return item
    assert item.parent is not None
    plain = pytest.Function.from_parent(
        item.parent,
        name=item.name,
        callspec=getattr(item, "callspec", None),
        callobj=item.obj,
        fixtureinfo=item._fixtureinfo,
        keywords={k: v for k, v in item.keywords.items() if k != "asyncio"},
        originalname=item.originalname,
    )
    plain.own_markers = [m for m in item.own_markers if m.name != "asyncio"]
    return plain


def _runs_on_wfsim_trio(item: pytest.Function) -> bool:
    if not inspect.iscoroutinefunction(item.obj):
        return False  # pytest-trio has replaced a trio test's function by now
    if any(item.get_closest_marker(name) is not None for name in _OTHER_RUNNERS):
        return False
    return _wants_wfsim(item)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _runs_on_wfsim_trio(pyfuncitem):
        return None
    funcargs = pyfuncitem.funcargs
    arguments = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    # As in pytest-trio: a trio Clock among the test's arguments is the run's clock.
    clocks = [value for value in arguments.values() if isinstance(value, trio.abc.Clock)]
    if len(clocks) > 1:
        names = [name for name, value in arguments.items() if isinstance(value, trio.abc.Clock)]
        pytest.fail(
            f"an async wfsim test takes at most one trio Clock fixture, not {len(clocks)}: "
            f"{', '.join(names)}",
            pytrace=False,
        )
    clock = clocks[0] if clocks else trio.testing.MockClock(autojump_threshold=0)
    trio.run(functools.partial(pyfuncitem.obj, **arguments), clock=clock)
    return True
