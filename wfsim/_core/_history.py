"""Replay a recorded run of a workflow body against the current code (IMP-14).

Temporal's ``Replayer`` answers "can the workers I am about to deploy continue the
runs in flight?" from recorded histories and a server. :func:`replay_history` does
it offline from a wfsim trace: it runs the current body with every call answered
from the recorded run (nothing runs for real) and fails with the first place where
the code does something else than the history has.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from wfsim.errors import WfsimError, did_you_mean

from ._bodies import Bodies
from ._imperative import ImperativeWorkflow
from ._recorded import RecordedHistory
from ._run import DEFAULT_TIME_LIMIT, RunResult, _prepare, _result
from ._time import DEFAULT_EPOCH
from ._trace import Trace, TraceEvent, read_trace_file
from ._trio_clock import MockClock
from ._wallclock import WallClock

__all__ = ["load_history", "replay_history"]

History = Trace | RunResult | str | os.PathLike[str]


def load_history(history: History) -> tuple[list[TraceEvent], str]:
    """The events of ``history`` (a Trace, a RunResult or a JSONL file's path) and what
    to call it in messages; a WfsimError (one line, file:line) for anything else."""
    if isinstance(history, RunResult):
        return list(history.trace), "the run's trace"
    if isinstance(history, Trace):
        return list(history), "the trace"
    if isinstance(history, (str, os.PathLike)):
        return list(read_trace_file(history, WfsimError)), str(history)
    raise WfsimError(
        "replay_history() takes a wfsim.Trace, a RunResult, or a JSONL file's path, not "
        f"{type(history).__name__}"
    )


def replay_history(
    workflow: ImperativeWorkflow,
    history: History,
    *,
    input: Any = None,
    epoch: Any = DEFAULT_EPOCH,
) -> RunResult:
    """Check that ``workflow``'s current code reproduces a recorded run's calls.

    ``history`` is the recorded run: a :class:`~wfsim.Trace`, a :class:`~wfsim.RunResult`
    (a scenario run's too), or a JSON Lines file (``result.trace.to_jsonl()``,
    ``wfsim run --trace``). ``input`` is the run's input (a trace does not record it).
    The body runs with each call answered from the history (no step runs; the
    recorded output is returned or the recorded error raised), its waits for signals
    answered with the payloads the recorded run received, and ``ctx.patched(id)``
    False where the recorded run had no such patch. A run that had not finished is
    reproduced up to its end.

    Returns the replay's :class:`~wfsim.RunResult` (``call_replayed`` events); raises
    :class:`~wfsim.NondeterminismError` at the first divergence (another call, a call
    too many or too few, another ending), and a :class:`~wfsim.WfsimError` if the
    history is not a wfsim trace or belongs to another workflow.

    Example::

        wfsim.replay_history(checkout_v2, "histories/checkout-v1.jsonl", input=order)
    """
    if not isinstance(workflow, ImperativeWorkflow):
        raise WfsimError(
            "replay_history() replays a @wfsim.workflow body's history, not "
            f"{type(workflow).__name__}"
        )
    events, where = load_history(history)
    recorded = RecordedHistory.from_events(events, where)
    if recorded.workflow != workflow.name:
        raise WfsimError(
            f"{where} is a history of workflow {recorded.workflow!r}, not of "
            f"{workflow.name!r}{did_you_mean(workflow.name, [recorded.workflow])}"
        )
    wall = WallClock(epoch)
    engine = _prepare(
        workflow, input, recorded.seed, (), None, DEFAULT_TIME_LIMIT, epoch, wall, ()
    )
    engine.style = Bodies(engine, recorded=recorded)

    async def main() -> None:
        with wall:
            await engine.run()

    trio.run(main, clock=MockClock(autojump_threshold=0))
    style = engine.style
    assert isinstance(style, Bodies)
    if style.broken is not None:
        raise style.broken
    return _result(engine)
