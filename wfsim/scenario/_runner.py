"""Running a loaded scenario and judging it: the piece the CLI and the plugin share."""

from __future__ import annotations

import pathlib

import attrs

from wfsim._core._run import RunResult, run

from ._expect import ExpectationFailure, check_expectations, format_failures
from ._model import Scenario

__all__ = ["ScenarioRun", "run_scenario"]


@attrs.frozen
class ScenarioRun:
    """One run of a scenario with one seed, and what its expectations said."""

    scenario: Scenario
    seed: int
    result: RunResult
    failures: tuple[ExpectationFailure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """The failure report (expected vs actual, trace lines, the replay line)."""
        return format_failures(
            list(self.failures),
            scenario=self.scenario.title,
            file=self.scenario.path,
            seed=self.seed,
        )

    def replay_command(self) -> str:
        return f"wfsim replay {self.scenario.path} --seed {self.seed}"

    def to_json(self) -> dict[str, object]:
        """The ``--json`` object of design.md 4.6."""
        return {
            "scenario": self.scenario.title,
            "file": self.scenario.path,
            "seed": self.seed,
            "status": self.result.status,
            "makespan": self.result.makespan,
            "passed": self.passed,
            "failures": [
                {
                    "key": f.key,
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


def run_scenario(scenario: Scenario, *, seed: int | None = None) -> ScenarioRun:
    """Run ``scenario`` (with its own seed unless ``seed`` is given) and check ``expect``.

    A scenario with ``settings.choices`` follows that recorded schedule: the seed
    then only names the run.
    """
    used = scenario.seed if seed is None else seed
    result = run(
        scenario.workflow,
        input=scenario.input,
        seed=used,
        faults=scenario.faults,
        choices=scenario.choices,
        time_limit=f"{scenario.time_limit_ns}ns",
        epoch=scenario.epoch,
        signals=scenario.signals,
    )
    failures = check_expectations(
        scenario.expect,
        result,
        line_of=lambda path: scenario.locations.line(("expect", *path)),
        workflow=scenario.workflow,
    )
    return ScenarioRun(scenario, used, result, tuple(failures))
