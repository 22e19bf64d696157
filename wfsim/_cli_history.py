"""``wfsim replay-history``: does the current code reproduce a recorded run? (CLI-14)"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

from wfsim.errors import NondeterminismError, WfsimError

__all__ = ["add_parser", "cmd_replay_history"]

EXIT_OK, EXIT_DIVERGED = 0, 1


def add_parser(sub: Any) -> None:
    """Register the ``replay-history`` verb on the ``wfsim`` parser."""
    verb = sub.add_parser(
        "replay-history",
        help="check that a workflow body's current code reproduces a recorded run",
        description="Replay a recorded run (a trace file, as `wfsim run --trace` or "
        "result.trace.to_jsonl() writes it) against the current code of a @wfsim.workflow "
        "body: each call is answered from the history, nothing runs for real. Exit 0 when "
        "the code makes the recorded calls, 1 with the first divergence, 2 for bad input "
        "(not a trace, another workflow's history, a --workflow that cannot be imported).",
    )
    verb.add_argument("file", metavar="FILE.jsonl", help="the recorded run's trace")
    verb.add_argument(
        "--workflow", required=True, metavar="MODULE:ATTR",
        help="the body to replay, e.g. examples.order_versions:order_v2",
    )
    verb.add_argument(
        "--input", metavar="JSON", default=None,
        help="the run's input as JSON (a trace does not record it)",
    )
    verb.set_defaults(func=cmd_replay_history)


def _workflow(target: str) -> Any:
    from wfsim._core._imperative import ImperativeWorkflow
    from wfsim.scenario._imports import import_attribute

    try:
        value = import_attribute(target, os.getcwd())
    except ValueError:
        raise WfsimError(
            f"--workflow {target!r}: expected MODULE:ATTR, e.g. examples.order:flow"
        ) from None
    except ImportError as exc:
        module = target.partition(":")[0]
        raise WfsimError(f"--workflow {target!r}: cannot import {module!r}: {exc}") from None
    except AttributeError:
        value = None
    if not isinstance(value, ImperativeWorkflow):
        what = "nothing" if value is None else type(value).__name__
        raise WfsimError(
            f"--workflow {target!r}: expected a @wfsim.workflow body, found {what}"
        )
    return value


def cmd_replay_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim._core._history import replay_history

    workflow = _workflow(args.workflow)
    data = None
    if args.input is not None:
        try:
            data = json.loads(args.input)
        except ValueError as exc:
            raise WfsimError(f"--input: not JSON: {exc}") from None
    try:
        result = replay_history(workflow, args.file, input=data)
    except NondeterminismError as exc:
        print(f"{args.file}: diverged at {exc.position}: {exc}", file=out)
        return EXIT_DIVERGED
    replayed = len(result.trace.of_kind("call_replayed"))
    print(
        f"{args.file}: workflow {workflow.name!r} reproduces the recorded run "
        f"({replayed} call(s) replayed{_unchecked_args(args.file)})",
        file=out,
    )
    return EXIT_OK


def _unchecked_args(file: str) -> str:
    """A history of trace format 1 has no call arguments: say they were not compared."""
    from wfsim._core._history import load_history
    from wfsim._core._recorded import RecordedHistory

    recorded = RecordedHistory.from_events(load_history(file)[0], file)
    if recorded.has_args:
        return ""
    return "; arguments not compared: the history was recorded before trace format 2 (TRACE-5)"
