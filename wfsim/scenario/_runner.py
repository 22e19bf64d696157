"""Running a loaded scenario and judging it: the piece the CLI and the plugin share."""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from wfsim._core._choice import ChoiceSource
from wfsim._core._faults import Fault
from wfsim._core._run import RunResult, run
from wfsim._core._trace import Trace, TraceEvent

from ._expect import ExpectationFailure, check_expectations, format_failures
from ._model import Scenario

__all__ = ["ScenarioRun", "fired_faults", "run_scenario"]


@attrs.frozen
class ScenarioRun:
    """One run of a scenario with one seed, and what its expectations said.

    ``failures`` hold the broken ``expect`` and ``invariants`` checks (each
    failure's ``block`` says which). ``extra_faults`` are the faults the run got
    on top of the file's own (a campaign's random faults); ``extra_fired`` counts
    the ``fault_injected`` events they caused: when it is above 0 the file's
    ``expect`` was not checked, only its ``invariants`` (CAMP-30).
    ``replay_options`` follow ``--seed N`` in the replay line. ``expect_skipped``
    says why ``expect`` was not checked when the file is pinned to another seed
    (or schedule) than this run's (``seed_pinned:``, SCN-16); "" when it was.
    """

    scenario: Scenario
    seed: int
    result: RunResult
    failures: tuple[ExpectationFailure, ...]
    extra_faults: tuple[Fault, ...] = ()
    extra_fired: int = 0
    replay_options: str = ""
    expect_skipped: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def judged(self) -> bool:
        """Whether any check judged the run: False when ``expect`` was skipped and no
        ``invariants`` were left to check (a pytest item is then skipped, SCN-16)."""
        return not self.expect_skipped or bool(self.scenario.invariants)

    def report(self) -> str:
        """The failure report (expected vs actual, trace lines, the replay line)."""
        return format_failures(
            list(self.failures),
            scenario=self.scenario.title,
            file=self.scenario.path,
            seed=self.seed,
            replay_options=self.replay_options,
        )

    def replay_command(self) -> str:
        return f"wfsim replay {self.scenario.path} --seed {self.seed}{self.replay_options}"

    def to_json(self) -> dict[str, object]:
        """The ``--json`` object of specs/cli.md."""
        return {
            "scenario": self.scenario.title,
            "file": self.scenario.path,
            "seed": self.seed,
            "status": self.result.status,
            "makespan": self.result.makespan,
            "passed": self.passed,
            **({"expect_skipped": self.expect_skipped} if self.expect_skipped else {}),
            "failures": [
                {
                    "key": f.key if f.block == "expect" else f"{f.block}.{f.key}",
                    "line": f.line,
                    "message": f.message,
                    "expected": f.expected,
                    "actual": f.actual,
                }
                for f in self.failures
            ],
            "trace_digest": self.result.digest(),
        }

    def write_trace(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the run's trace as JSON Lines to ``path`` (parents are created)."""
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.result.trace.to_jsonl(), encoding="utf-8")
        return target


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    extra_faults: Sequence[Fault] = (),
    replay_options: str = "",
    choices: ChoiceSource | None = None,
    faults_until_ns: int | None = None,
    time_limit_ns: int | None = None,
) -> ScenarioRun:
    """Run ``scenario`` (its own seed unless ``seed`` is given); check ``expect``, ``invariants``.

    A scenario with ``settings.choices`` follows that recorded schedule: the seed
    then only names the run. ``extra_faults`` (a campaign's random faults) are
    injected after the file's own; if any of them fires, ``expect`` (which
    describes the file's own fault plan) is not checked, ``invariants`` still are.
    Exploration (specs/campaign.md CAMP-40..): ``choices`` replaces the seed's
    choice source (a schedule strategy), ``faults_until_ns`` ends every fault at
    that virtual time (a chaos phase), ``time_limit_ns`` replaces the file's limit.
    A file with ``seed_pinned`` has its ``expect`` checked only when the run takes
    its decisions from the file's own seed (that seed, no ``choices``); other runs
    check ``invariants`` only (SCN-16).
    """
    used = scenario.seed if seed is None else seed
    extra = tuple(extra_faults)
    faults = scenario.faults + extra
    if faults_until_ns is not None:
        faults = tuple(until(f, faults_until_ns) for f in faults)
    limit = scenario.time_limit_ns if time_limit_ns is None else time_limit_ns
    result = run(
        scenario.workflow,
        input=scenario.input,
        seed=used,
        faults=faults,
        choices=scenario.choices if choices is None else choices,
        time_limit=f"{limit}ns",
        epoch=scenario.epoch,
        signals=scenario.signals,
    )
    fired = fired_faults(faults[len(scenario.faults) :], result.trace) if extra else 0
    skipped = ""
    if scenario.seed_pinned and (used != scenario.seed or choices is not None):
        other = f"seed {used}" if used != scenario.seed else "another schedule"
        skipped = (
            f"expect is pinned to seed {scenario.seed} ({scenario.seed_pinned}); "
            f"not checked with {other}"
        )
    failures: list[ExpectationFailure] = []
    for block in ("expect", "invariants") if not (fired or skipped) else ("invariants",):
        checks: Mapping[str, Any] = getattr(scenario, block)
        if not checks:
            continue  # nothing to check (most files have no invariants)
        found = check_expectations(
            checks,
            result,
            line_of=functools.partial(_line_in, scenario, block),
            workflow=scenario.workflow,
        )
        failures += [f if block == "expect" else attrs.evolve(f, block=block) for f in found]
    return ScenarioRun(
        scenario, used, result, tuple(failures), extra, fired, replay_options, skipped
    )


def _line_in(scenario: Scenario, block: str, path: tuple[str | int, ...]) -> int | None:
    return scenario.locations.line((block, *path))


def until(fault: Fault, end_ns: int) -> Fault:
    """``fault`` applying only before virtual time ``end_ns`` (and before its own end)."""
    end = end_ns if fault.until_ns is None else min(fault.until_ns, end_ns)
    return attrs.evolve(fault, until_ns=end)


def fired_faults(faults: Sequence[Fault], trace: Trace) -> int:
    """How many ``fault_injected`` events of ``trace`` the given faults (explicit ones) caused.

    A fault counts for an event on a step it targets, on an attempt it lists,
    with the same description; a random fault is always explicit this way. A
    delivery fault counts for an event (with no step) on an event type or signal
    it targets, at an occurrence it lists, with the same description.
    """
    fired = 0
    for event in trace:
        if event.kind == "fault_injected" and any(caused(f, event) for f in faults):
            fired += 1
    return fired


def caused(fault: Fault, event: TraceEvent) -> bool:
    """Whether ``fault`` (an explicit one, or a fixed-shape one) caused this ``fault_injected``.

    A non-fixed latency or delay draws its time, so its description is compared
    without it.
    """
    what = event.fields.get("fault")
    if not isinstance(what, Mapping):
        return False
    if fault.delivery is None:
        if event.step is None or not fault.matches(event.step):
            return False
        if fault.attempts is not None and event.attempt not in fault.attempts:
            return False
        want = dict(fault.describe())
    else:
        name, number = what.get(fault.delivery), what.get("occurrence")
        if event.step is not None or not isinstance(name, str) or not fault.matches(name):
            return False
        if fault.attempts is not None and number not in fault.attempts:
            return False
        want = dict(fault.describe_delivery(name, number if isinstance(number, int) else None))
    if fault.shape != "fixed":  # the drawn time is not the description's
        return {**want, "extra": 0} == {**what, "extra": 0}
    return want == dict(what)
