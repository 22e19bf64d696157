"""The determinism self-check: rerun in a fresh process, compare traces event by event."""

from __future__ import annotations

import base64
import importlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wfsim.errors import DeterminismError

from ._faults import Fault
from ._run import DEFAULT_TIME_LIMIT, run
from ._time import Duration
from ._trace import Trace, TraceEvent
from ._tracediff import TraceDiff, diff_traces
from ._workflow import Workflow

__all__ = ["DeterminismReport", "check_determinism", "load_target"]


def load_target(spec: str) -> Workflow:
    """Import ``"package.module:attr"`` and return the workflow it names.

    ``attr`` may be a :class:`Workflow` or a function of no arguments that
    returns one.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise DeterminismError(f"expected 'module:attr', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeterminismError(f"cannot import {module_name!r} for {spec!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise DeterminismError(f"module {module_name!r} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, Workflow):
        obj = obj()
    if not isinstance(obj, Workflow):
        raise DeterminismError(f"{spec!r} is a {type(obj).__name__}, not a wfsim.Workflow")
    return obj


@attrs.frozen
class DeterminismReport:
    """The outcome of :func:`check_determinism`; true when both runs were identical.

    ``diff`` compares the two traces (this process as A, the fresh one as B), as
    ``wfsim diff`` does; :meth:`explain` prints it.
    """

    ok: bool
    digest: str
    other_digest: str
    first_divergence: int | None
    event: TraceEvent | None
    other_event: TraceEvent | None
    hash_seed: str
    diff: TraceDiff | None = attrs.field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.ok

    def explain(self) -> str:
        if self.ok:
            return f"deterministic: both runs have digest {self.digest}"
        head = (
            f"not deterministic: traces diverge at event #{self.first_divergence} "
            f"(fresh process, PYTHONHASHSEED={self.hash_seed})"
        )
        if self.diff is not None:
            return f"{head}\n{self.diff.format()}"
        here = self.event.to_json() if self.event else "<trace ended>"
        there = self.other_event.to_json() if self.other_event else "<trace ended>"
        return f"{head}\n  this process:  {here}\n  fresh process: {there}"


def _payload(target: Workflow | str, kwargs: Mapping[str, Any]) -> str:
    try:
        blob = pickle.dumps((target, dict(kwargs)))
    except Exception as exc:
        raise DeterminismError(
            f"cannot send this workflow to a fresh process ({exc}); define its step functions "
            "at module level, or pass the workflow as 'module:attr'"
        ) from None
    return base64.b64encode(blob).decode()


def check_determinism(
    target: Workflow | str,
    *,
    seed: int = 0,
    input: Mapping[str, Any] | None = None,
    faults: Iterable[Fault] = (),
    time_limit: Duration = DEFAULT_TIME_LIMIT,
    hash_seed: str = "12345",
    timeout: float = 120.0,
) -> DeterminismReport:
    """Run ``target`` here and in a fresh subprocess and compare the traces.

    ``target`` is a :class:`Workflow` (its step functions must be importable)
    or ``"module:attr"``. The fresh process gets ``PYTHONHASHSEED=hash_seed``.
    Returns a :class:`DeterminismReport` naming the first diverging event.
    Raises :class:`~wfsim.DeterminismError` if the subprocess cannot run.
    """
    kwargs: dict[str, Any] = {
        "seed": seed,
        "input": dict(input or {}),
        "faults": list(faults),
        "time_limit": time_limit,
    }
    workflow = load_target(target) if isinstance(target, str) else target
    mine = run(workflow, **kwargs).trace
    header = json.dumps({"path": [p for p in sys.path if p]})
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    proc = subprocess.run(
        [sys.executable, "-m", "wfsim._core._determinism"],
        input=header + "\n" + _payload(target, kwargs) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise DeterminismError(
            f"the fresh process failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}"
        )
    theirs = Trace.from_jsonl(proc.stdout)
    index = mine.first_divergence(theirs)
    return DeterminismReport(
        ok=index is None,
        digest=mine.digest(),
        other_digest=theirs.digest(),
        first_divergence=index,
        event=mine[index] if index is not None and index < len(mine) else None,
        other_event=theirs[index] if index is not None and index < len(theirs) else None,
        hash_seed=hash_seed,
        diff=diff_traces(mine, theirs, a_name="this process", b_name="fresh process"),
    )


def _child() -> None:
    header = json.loads(sys.stdin.readline())
    sys.path[:0] = [p for p in header["path"] if p not in sys.path]
    target, kwargs = pickle.loads(base64.b64decode(sys.stdin.readline()))
    workflow = load_target(target) if isinstance(target, str) else target
    sys.stdout.write(run(workflow, **kwargs).trace.to_jsonl())


if __name__ == "__main__":
    _child()
