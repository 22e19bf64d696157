"""DBOS as wfsim's anchor for durable execution (issue 11, specs/faults.md FAULT-18).

DBOS (``pip install "pytest-wfsim[dbos]"``) runs durable workflows offline on SQLite.
:func:`dbos_effects` runs a small order workflow under real DBOS in a subprocess, kills
the process inside a step (before or after its effect, ``os._exit``) and relaunches it
so DBOS recovers the workflow; it returns how often each step's effect ran.
:func:`wfsim_effects` runs the equivalent ``@wfsim.workflow`` body under the matching
crash fault. ``python -m wfsim.dbos`` prints both for every crash point.

Nothing here is imported by wfsim itself; DBOS is imported only in the subprocess.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

import wfsim

__all__ = ["CRASH_POINTS", "dbos_effects", "order", "sqlite_problem", "wfsim_effects"]

STEPS = ("reserve", "charge", "ship")

#: Each crash point, and the wfsim fault that is the same crash: the engine (DBOS: the
#: process) dies inside charge before its effect, after it, or between charge's recorded
#: end and ship (DBOS: at ship's start, before its effect).
CRASH_POINTS: dict[str, wfsim.Fault | None] = {
    "none": None,
    "charge:before": wfsim.Fault.crash("charge", at="before"),
    "charge:after": wfsim.Fault.crash("charge", at="after"),
    "ship:before": wfsim.Fault.crash(body="after:charge"),
}

_PROGRAM = pathlib.Path(__file__).with_name("_order_program.py")


async def _effect(ctx: wfsim.StepContext, item: dict[str, Any]) -> str:
    return f"{ctx.step}-{item['id']}"


async def reserve(ctx: wfsim.StepContext, item: dict[str, Any]) -> str:
    return await _effect(ctx, item)


async def charge(ctx: wfsim.StepContext, item: dict[str, Any]) -> str:
    return await _effect(ctx, item)


async def ship(ctx: wfsim.StepContext, item: dict[str, Any]) -> str:
    return await _effect(ctx, item)


@wfsim.workflow
async def order(ctx: wfsim.WorkflowContext, item: dict[str, Any]) -> list[str]:
    """The same order workflow as the DBOS program: three steps in sequence."""
    return [
        await ctx.step(reserve, item),
        await ctx.step(charge, item),
        await ctx.step(ship, item),
    ]


def sqlite_problem() -> str | None:
    """Why DBOS cannot start on this interpreter's SQLite, or None when it can.

    DBOS 3.4 gives its SQLite tables' timestamp columns the default
    ``(unixepoch('subsec') * 1000)`` whenever Python is 3.12 or newer, but SQLite
    knows the ``subsec`` modifier only from 3.42.0: on an older SQLite (a Python
    built against Debian 12's 3.40.1) the default is NULL and DBOS's first insert
    fails (NOT NULL constraint failed: application_versions.version_timestamp).
    """
    import sqlite3

    if sys.version_info >= (3, 12) and sqlite3.sqlite_version_info < (3, 42):
        return (
            f"DBOS cannot start here: on Python 3.12+ it gives SQLite timestamp columns "
            f"the default unixepoch('subsec'), which needs SQLite >= 3.42, and this Python's "
            f"SQLite is {sqlite3.sqlite_version} (NOT NULL constraint failed: "
            "application_versions.version_timestamp); use a Python built with a newer SQLite"
        )
    return None


def wfsim_effects(point: str) -> tuple[dict[str, int], Any]:
    """How often each step's effect ran under wfsim with ``point``'s crash, and the result."""
    fault = CRASH_POINTS[point]
    result = wfsim.run(order, input={"id": 7}, faults=[fault] if fault is not None else [])
    assert result.status == "completed", result.message
    return {name: result.effect_counts.get(name, 0) for name in STEPS}, result.result


def dbos_effects(point: str, timeout: float = 120) -> tuple[dict[str, int], Any]:
    """How often each step's effect ran under DBOS with ``point``'s crash, and the result.

    Runs the DBOS program once (it dies at ``point`` unless ``none``), then again to
    let DBOS recover the workflow and return its result. Needs ``dbos`` installed.
    """
    problem = sqlite_problem()
    if problem is not None:
        raise RuntimeError(problem)
    with tempfile.TemporaryDirectory(prefix="wfsim-dbos-") as tmp:
        db, log = os.path.join(tmp, "dbos.sqlite"), os.path.join(tmp, "effects.log")
        first = _program(db, log, point, "start", timeout)
        if point == "none":
            if first.returncode != 0:
                raise RuntimeError(f"the DBOS program failed: {first.stderr}")
            result = json.loads(first.stdout.splitlines()[-1])
        else:
            if first.returncode != 17:  # it must have died at the crash point
                raise RuntimeError(f"DBOS program did not crash at {point}: {first.stderr}")
            second = _program(db, log, point, "recover", timeout)
            if second.returncode != 0:
                raise RuntimeError(f"DBOS recovery failed: {second.stderr}")
            result = json.loads(second.stdout.splitlines()[-1])
        counts = collections.Counter(pathlib.Path(log).read_text().split())
    return {name: counts.get(name, 0) for name in STEPS}, result


def _program(
    db: str, log: str, point: str, mode: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_PROGRAM), db, log, point, mode],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
