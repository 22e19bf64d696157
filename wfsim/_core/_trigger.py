"""Trigger rules: when a DAG step runs, given how its direct upstream steps ended.

Airflow's rules (specs/sources.md 4, ``TriggerRuleDep._evaluate_direct_relatives``
with ``flag_upstream_failed``), as one pure function the engine and tests share.
Upstream states: ``success``; ``failed`` (a failed step, or one skipped because
its own upstream failed: Airflow's UPSTREAM_FAILED); ``skipped``; anything else
is not done yet.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["TRIGGER_RULES", "TriggerRule", "UpstreamCounts", "Verdict", "evaluate"]

TriggerRule = Literal[
    "all_success",
    "all_failed",
    "all_done",
    "all_skipped",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
]
TRIGGER_RULES: tuple[str, ...] = TriggerRule.__args__  # type: ignore[attr-defined]

#: run: start the step; skip / upstream_failed: end it skipped (the latter counts
#: as a failure for its own dependents); wait: decide later.
Verdict = Literal["run", "skip", "upstream_failed", "wait"]


@attrs.frozen
class UpstreamCounts:
    """How the direct upstream steps of one step stand."""

    total: int
    success: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.success + self.failed + self.skipped

    @property
    def all_done(self) -> bool:
        return self.done >= self.total


def evaluate(rule: str, up: UpstreamCounts) -> Verdict:
    """Airflow's verdict for ``rule`` given ``up`` (a step without upstreams runs)."""
    if up.total == 0 or rule == "always":
        return "run"
    s, f, k, done = up.success, up.failed, up.skipped, up.all_done
    if rule == "all_success":
        if f:
            return "upstream_failed"
        if k:
            return "skip"
        return "run" if s == up.total else "wait"
    if rule == "all_failed":
        if s or k:
            return "skip"
        return "run" if f == up.total else "wait"
    if rule == "all_done":
        return "run" if done else "wait"
    if rule == "all_skipped":
        if s or f:
            return "skip"
        return "run" if k == up.total else "wait"
    if rule == "one_success":
        if s:
            return "run"
        if done:
            return "skip" if k == up.total else "upstream_failed"
        return "wait"
    if rule == "one_failed":
        if f:
            return "run"
        return "skip" if done else "wait"
    if rule == "one_done":
        if s or f:
            return "run"
        return "skip" if done else "wait"
    if rule == "none_failed":
        if f:
            return "upstream_failed"
        return "run" if done else "wait"
    if rule == "none_failed_min_one_success":
        if f:
            return "upstream_failed"
        if done:
            return "skip" if k == up.total else "run"
        return "wait"
    if rule == "none_skipped":
        if k:
            return "skip"
        return "run" if done else "wait"
    raise ValueError(f"unknown trigger rule {rule!r}")
