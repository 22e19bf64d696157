"""Inline workflow bodies: ``workflow: {body: [...]}`` in a scenario file (SCN-17).

A body written as data (:class:`~wfsim._core._program.Program`): a list of
instructions, each one ``ctx.step`` of a code-less step (``step``, with its
``duration``, ``output``, ``retry``, ``timeout``, ``compensate``, and ``catch``
when the body catches its failure and goes on), a ``gather`` of such calls, a
``sleep`` or a ``wait_for_signal``. It is what Hypothesis draws
(``wfsim.strategies.imperative_workflows``), so a drawn body's counterexample, body
crashes included, is a file that loads and runs to the same trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wfsim._core._imperative import ImperativeWorkflow
from wfsim._core._program import Call, Gather, Instruction, Pause, Program, WaitForSignal, Work
from wfsim.errors import WorkflowDefinitionError, did_you_mean

from ._yaml import Path

if TYPE_CHECKING:
    from ._model import _Builder

__all__ = ["BODY_ONLY", "body_doc", "build_body_workflow"]

#: Workflow keys only an inline body takes.
BODY_ONLY = ("body", "signals")
#: The keys each instruction takes besides the one that names it.
_KEYS: Mapping[str, tuple[str, ...]] = {
    "step": ("duration", "output", "retry", "timeout", "compensate", "catch"),
    "gather": ("catch",),
    "sleep": (),
    "wait_for_signal": ("timeout",),
}


def build_body_workflow(
    builder: _Builder, spec: Mapping[str, Any], settings: Mapping[str, Any]
) -> ImperativeWorkflow:
    """The :class:`~wfsim.ImperativeWorkflow` an inline ``workflow`` with ``body`` describes."""
    base: Path = ("workflow",)
    for key in ("steps", "events", "timeout"):
        if key in spec:
            builder.fail(
                (*base, key),
                f"'{key}' is not for an inline body (workflow.body): its steps are the calls "
                "in the body; remove body for an inline DAG or event workflow",
            )
    signals = tuple(spec.get("signals", ()))
    instructions = [
        _instruction(builder, raw, (*base, "body", i), signals)
        for i, raw in enumerate(spec["body"])
    ]
    try:
        return ImperativeWorkflow(
            Program(tuple(instructions)),
            name=spec.get("name", _default_name(builder)),
            max_concurrency=settings.get("max_concurrency", spec.get("max_concurrency")),
            saga=builder.saga(spec.get("saga"), (*base, "saga")),
            signals=signals,
        )
    except WorkflowDefinitionError as exc:  # pragma: no cover - the schema checks the values
        builder.fail(base, str(exc))


def _default_name(builder: _Builder) -> str:
    from ._model import default_name

    return default_name(builder.file)


def _instruction(
    builder: _Builder, spec: Mapping[str, Any], path: Path, signals: Sequence[str]
) -> Instruction:
    kind = next(k for k in _KEYS if k in spec)  # the schema requires exactly one
    for key in spec:
        if key != kind and key not in _KEYS[kind]:
            takes = ", ".join(_KEYS[kind]) or "nothing else"
            builder.fail(
                (*path, key),
                f"a {kind} instruction takes {takes}, not '{key}'{did_you_mean(key, _KEYS[kind])}",
            )
    if kind == "step":
        return _call(builder, spec, path)
    if kind == "gather":
        catch = bool(spec.get("catch", False))
        calls = [_call(builder, raw, (*path, "gather", i)) for i, raw in enumerate(spec["gather"])]
        return Gather(tuple(calls), catch)
    if kind == "sleep":
        return Pause(builder.duration(spec["sleep"], (*path, "sleep")))
    name = spec["wait_for_signal"]
    if signals and name not in signals:
        builder.fail(
            (*path, "wait_for_signal"),
            f"the body waits for signal {name!r}, which workflow.signals does not declare"
            f"{did_you_mean(name, signals)} (declared: {', '.join(signals)})",
        )
    timeout = (
        builder.duration(spec["timeout"], (*path, "timeout"), positive=True)
        if "timeout" in spec
        else None
    )
    return WaitForSignal(name, timeout)


def _call(builder: _Builder, spec: Mapping[str, Any], path: Path) -> Call:
    duration, timeout, retry = builder.timing(spec, path)
    undo = (
        builder.compensation(spec["compensate"], (*path, "compensate"))
        if "compensate" in spec
        else None
    )
    return Call(
        spec["step"],
        Work(duration, spec.get("output")),
        retry,
        timeout,
        undo,
        bool(spec.get("catch", False)),
    )


def body_doc(workflow: ImperativeWorkflow, writer: Any, seconds: Any) -> dict[str, Any]:
    """The ``workflow:`` mapping of a body that is a :class:`Program` (dump_scenario)."""
    program = workflow.fn
    assert isinstance(program, Program)
    if not program.instructions:
        raise writer.error(
            f"the body of workflow {workflow.name!r} has no instructions; a file's body has "
            "at least one (name the workflow with python= instead)"
        )
    doc: dict[str, Any] = writer.head(workflow)
    if workflow.signals:
        doc["signals"] = list(workflow.signals)
    body: list[dict[str, Any]] = []
    for item in program.instructions:
        if isinstance(item, Call):
            body.append(_call_doc(item, writer, seconds))
        elif isinstance(item, Gather):
            gather: dict[str, Any] = {"gather": [_call_doc(c, writer, seconds) for c in item.calls]}
            if item.catch:
                gather["catch"] = True
            body.append(gather)
        elif isinstance(item, Pause):
            body.append({"sleep": seconds(item.duration_ns)})
        else:
            wait: dict[str, Any] = {"wait_for_signal": item.signal}
            if item.timeout_ns is not None:
                wait["timeout"] = seconds(item.timeout_ns)
            body.append(wait)
    doc["body"] = body
    return doc


def _call_doc(call: Call, writer: Any, seconds: Any) -> dict[str, Any]:
    what = f"the body's call {call.name!r}"
    doc: dict[str, Any] = {"step": call.name}
    if call.work.duration_ns:
        doc["duration"] = seconds(call.work.duration_ns)
    if call.work.output is not None:
        doc["output"] = writer.value(call.work.output, f"{what}'s output")
    if call.retry is not None:
        doc["retry"] = writer.retry(call.retry)
    if call.timeout_ns is not None:
        doc["timeout"] = seconds(call.timeout_ns)
    if call.undo is not None:
        comp = call.undo
        body = writer.work(comp, f"compensation {comp.name!r}")
        doc["compensate"] = {"name": comp.name, **body} if body else comp.name
    if call.catch:
        doc["catch"] = True
    return doc
