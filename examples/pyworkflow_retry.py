"""PyWorkflow's "Retry with Exponential Backoff" (Pattern 7) under wfsim, plus a virtual-hour demo.

PyWorkflow declares the policy on the step::

    @step(max_retries=5, retry_delay=1, retry_backoff=2, max_retry_delay=60)
    async def call_external_api(endpoint: str, data: Dict) -> Dict:
        ...  # "Retry delays: 1s, 2s, 4s, 8s, 16s"

``wfsim.RetryPolicy.pyworkflow`` takes the same arguments (``max_retries``
counts retries, so 6 attempts in all). Here the endpoint is down for the
first five attempts (an injected ``ConnectionError``) and answers on the
sixth; the delays between attempts are the documented 1, 2, 4, 8, 16 s.
With every attempt failing, the step fails after its 6th attempt.

The "virtual hour" workflow shows what virtual time buys: a step that waits
an hour per attempt and is retried five times with a one-hour backoff spans
eleven virtual hours and runs in milliseconds; ``datetime.now()`` inside it
reads the virtual date (2026-01-01T01:00:00, ...).

Run it: ``python examples/pyworkflow_retry.py``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import wfsim

__all__ = [
    "API_POLICY",
    "ENDPOINT",
    "HOURLY_POLICY",
    "api_faults",
    "build_api_workflow",
    "build_virtual_hour_workflow",
    "main",
    "run_api",
    "run_virtual_hour",
]

ENDPOINT = "https://api.example.com/v1/data"

#: Pattern 7's decorator arguments: delays 1, 2, 4, 8, 16 s, capped at 60 s.
API_POLICY = wfsim.RetryPolicy.pyworkflow(
    max_retries=5, retry_delay=1, retry_backoff=2, max_retry_delay=60
)

#: Six attempts, one hour apart (a constant backoff).
HOURLY_POLICY = wfsim.RetryPolicy(max_attempts=6, initial_interval="1h", backoff_coefficient=1)

#: How long the API takes to answer a successful call (virtual).
API_LATENCY = "200ms"


def build_api_workflow() -> wfsim.Workflow:
    """``resilient_api_workflow``: one ``call_external_api`` step with PyWorkflow's retries."""
    wf = wfsim.Workflow("resilient_api_workflow")

    @wf.step(retry=API_POLICY)
    async def call_external_api(ctx: wfsim.StepContext) -> dict[str, Any]:
        endpoint = ctx.input["endpoint"]
        await ctx.sleep(API_LATENCY)
        return {"api_response": {"endpoint": endpoint, "status": 200, "attempt": ctx.attempt}}

    return wf


def api_faults(*, all_fail: bool = False) -> list[wfsim.Fault]:
    """The endpoint refuses connections on attempts 1-5 (or on every attempt)."""
    attempts = None if all_fail else [1, 2, 3, 4, 5]
    return [wfsim.Fault.error("call_external_api", attempts=attempts, error=ConnectionError)]


def run_api(*, all_fail: bool = False, seed: int = 0) -> wfsim.RunResult:
    return wfsim.run(
        build_api_workflow(),
        input={"endpoint": ENDPOINT},
        seed=seed,
        faults=api_faults(all_fail=all_fail),
    )


def build_virtual_hour_workflow() -> wfsim.Workflow:
    """A poll that takes an hour and fails until its sixth attempt, retried hourly."""
    wf = wfsim.Workflow("virtual_hour")

    @wf.step(retry=HOURLY_POLICY)
    async def hourly_poll(ctx: wfsim.StepContext) -> None:
        started = datetime.now().isoformat()
        await ctx.sleep("1h")
        record = {"attempt": ctx.attempt, "started": started, "woke": datetime.now().isoformat()}
        # The context is shared and not rolled back, so failed attempts leave their record too.
        ctx.set("polls", [*ctx.get("polls", []), record])
        if ctx.attempt < 6:
            raise ConnectionError(f"upstream not ready at {record['woke']}")
        ctx.set("ready_at", record["woke"])

    return wf


def run_virtual_hour(seed: int = 0) -> wfsim.RunResult:
    return wfsim.run(build_virtual_hour_workflow(), seed=seed)


def _show(title: str, result: wfsim.RunResult, step: str) -> None:
    print(f"== {title}")
    print(f"status: {result.status}  attempts: {result.steps[step].attempts}")
    print(f"retry delays (s): {result.trace.retry_delays(step)}")
    print(f"makespan: {result.makespan:g} virtual seconds")
    if result.message:
        print(f"message: {result.message}")


def main() -> None:
    ok = run_api()
    _show("call_external_api: fails 5 times, then answers", ok, "call_external_api")
    print(f"response: {ok.context['api_response']}")
    print(ok.trace.format())
    print(f"digest: {ok.digest()}")
    print()

    failed = run_api(all_fail=True)
    _show("call_external_api: every attempt fails", failed, "call_external_api")
    print()

    start = time.perf_counter()
    hours = run_virtual_hour()
    wall = time.perf_counter() - start
    _show("virtual hour: 6 one-hour attempts, 1 h apart", hours, "hourly_poll")
    print(f"= {hours.makespan / 3600:g} virtual hours in {wall * 1000:.1f} ms of wall time")
    for poll in hours.context["polls"]:
        print(f"  attempt {poll['attempt']}: started {poll['started']}, woke {poll['woke']}")


if __name__ == "__main__":
    main()
