"""A property's run, judged by every oracle, whose failure prints as a scenario file."""

from __future__ import annotations

import base64
import functools
import pickle
import textwrap
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from wfsim._core._choice import ChoiceSource
from wfsim._core._faults import Fault
from wfsim._core._run import AnyWorkflow, RunResult, run
from wfsim._core._signals import Signal
from wfsim.errors import ScenarioError

from ._schedules import target_interesting

__all__ = ["COUNTEREXAMPLE_FILE", "Counterexample", "format_counterexample", "run_and_check"]

#: The file name the printed counterexample suggests saving to.
COUNTEREXAMPLE_FILE = "counterexample.wfsim.yaml"


def format_counterexample(
    workflow: AnyWorkflow,
    *,
    faults: Iterable[Fault] = (),
    seed: int = 0,
    choices: Sequence[int] | None = None,
    input: Mapping[str, Any] | None = None,
    signals: Iterable[Signal] = (),
    title: str = "counterexample found by Hypothesis",
    file: str = COUNTEREXAMPLE_FILE,
) -> str:
    """The run as a ready-to-save scenario file and the ``wfsim replay`` line that reruns it.

    ``choices`` is the run's recorded schedule (``result.choices``): written as
    ``settings.choices``, it makes the file replay the very run, whatever seed
    the replay line gives. A drawn body (a ``Program``) is written inline
    (``workflow: {body: ...}``, SCN-17), body crashes included. A workflow a file
    cannot hold (step code, a body written in Python, a drawn event workflow) is
    printed instead, with the reason, as Python that reruns the run: the drawn
    objects pickled (the strategies' step code pickles), then ``wfsim.run``.
    """
    from wfsim.scenario import dump_scenario  # the loader is heavier than the strategies

    faults = list(faults)
    signals = list(signals)
    try:
        text = dump_scenario(
            workflow,
            faults=faults,
            seed=seed,
            choices=choices,
            input=input,
            signals=signals,
            title=title,
        )
    except ScenarioError as exc:
        return f"The counterexample cannot be written as a scenario file ({exc}).\n" + _python(
            workflow, faults, seed, choices, input, signals
        )
    return (
        f"Save the counterexample as {file}:\n\n"
        f"# {file}\n{text}\n"
        f"and replay it with: wfsim replay {file} --seed {seed}\n"
        f"(every oracle judges it with: wfsim simulate {file} --seeds 1 --start-seed {seed})"
    )


def _python(
    workflow: AnyWorkflow,
    faults: list[Fault],
    seed: int,
    choices: Sequence[int] | None,
    input: Mapping[str, Any] | None,
    signals: list[Signal],
) -> str:
    """Python that reruns the counterexample: the drawn objects pickled, then ``wfsim.run``."""
    args = f"seed={seed}"
    if choices is not None:
        args += f", choices={list(choices)!r}"
    try:
        blob = pickle.dumps((workflow, faults, signals, dict(input or {})))
    except Exception:  # step code that does not pickle (a closure): say what it was
        return (
            f"Reproduce it in Python: wfsim.run(<{workflow!r}>, faults={faults!r}, "
            f"signals={signals!r}, input={dict(input or {})!r}, {args})"
        )
    data = base64.b64encode(zlib.compress(blob, 9)).decode("ascii")
    lines = textwrap.wrap(data, 88)
    quoted = "\n".join(f'        "{line}"' for line in lines)
    return (
        "Reproduce it in Python (the drawn workflow, faults, signals and input, pickled):\n\n"
        "    import base64, pickle, zlib, wfsim\n"
        "    workflow, faults, signals, input = pickle.loads(zlib.decompress(base64.b64decode(\n"
        f"{quoted}\n"
        "    )))\n"
        f"    result = wfsim.run(workflow, faults=faults, signals=signals, input=input, {args})\n"
    )


def run_and_check(
    workflow: AnyWorkflow,
    *,
    faults: Iterable[Fault] = (),
    seed: int = 0,
    choices: ChoiceSource | Iterable[int] | None = None,
    input: Mapping[str, Any] | None = None,
    signals: Iterable[Signal] = (),
    replay: bool = True,
    target: bool = True,
) -> RunResult:
    """Run ``workflow``, judge the run with every oracle, and return it.

    The property-test step in one call::

        @given(workflows_with_faults(), schedules(), st.integers(0, 2**16))
        def test_every_oracle_holds(case, tape, seed):
            workflow, faults = case
            run_and_check(workflow, faults=faults, seed=seed, choices=tape)

    ``target=True`` feeds :func:`target_interesting` (so call it once per
    example). ``replay=True`` also reruns the run from its recorded choices and
    requires the same trace digest (DET-5). On any violation it raises
    :class:`Counterexample` (an ``AssertionError``) listing each one and then
    :func:`format_counterexample`'s text, so the failure Hypothesis reports (the
    shrunk one) ends with a scenario file to paste and its ``wfsim replay`` line.
    """
    from wfsim.checks import check_all  # the oracles import the whole checks package

    faults = list(faults)
    signals = list(signals)

    def go(tape: ChoiceSource | Iterable[int] | None) -> RunResult:
        return run(workflow, faults=faults, seed=seed, choices=tape, input=input, signals=signals)

    result = go(choices)
    if target:
        target_interesting(result)
    problems = [v.describe() for v in check_all(workflow, faults, result.trace)]
    if replay:
        again = go(result.choices)
        # Equal events mean equal digests; hashing both traces only to say so costs more.
        if again.trace != result.trace and again.digest() != result.digest():
            problems.append(
                f"DET-5: replaying the run's recorded choices gave trace digest "
                f"{again.digest()}, not {result.digest()}"
            )
    if problems:
        header = (
            f"{len(problems)} rule violation(s) in the run of workflow {workflow.name!r} "
            f"(status {result.status}, digest {result.digest()}):\n" + "\n".join(problems)
        )
        raise Counterexample(
            header,
            functools.partial(
                format_counterexample,
                workflow,
                faults=faults,
                seed=seed,
                choices=result.choices,
                input=input,
                signals=signals,
            ),
        )
    return result


class Counterexample(AssertionError):
    """A failed run: the violations, then the run as a scenario file.

    The file's text is made when the message is first read: while Hypothesis
    shrinks, most runs fail and only the last one's message is ever shown.
    """

    def __init__(self, header: str, scenario: Callable[[], str]) -> None:
        super().__init__(header)
        self.header = header
        self._scenario = scenario
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = f"{self.header}\n\n{self._scenario()}"
        return self._text
