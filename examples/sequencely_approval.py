"""Sequencely's human-in-the-loop approval workflow (specs/sources.md 6), as a wfsim workflow.

    async function approvalWorkflow(ctx, requestData) {
      if (requestData.amount < 1000) return await ctx.executeActivity('processRequest', ...)
      const approval = await ctx.executeActivity('requestApproval', requestData)
      if (approval.approved) return await ctx.executeActivity('processRequest', ...)
      else throw new Error('Request denied')
    }

Here the approval is a signal a person sends: the test (or a scenario's ``signals:``)
delivers it at a virtual time, hours later, in milliseconds of wall time.

Run: ``python examples/sequencely_approval.py``
"""

from __future__ import annotations

from typing import Any

import wfsim


class RequestDenied(Exception):
    """The approver said no."""


async def process_request(ctx: wfsim.StepContext, request: dict[str, Any]) -> dict[str, Any]:
    await ctx.sleep("2s")
    return {"processed": request["id"], "amount": request["amount"]}


async def request_approval(ctx: wfsim.StepContext, request: dict[str, Any]) -> str:
    await ctx.sleep("500ms")  # e.g. send an email to the approver
    return f"approval requested for {request['id']}"


@wfsim.workflow(signals=["approval"])
async def approval_workflow(ctx: wfsim.WorkflowContext, request: dict[str, Any]) -> Any:
    if request["amount"] < 1000:
        return await ctx.step(process_request, request)
    await ctx.step(request_approval, request)
    approval = await ctx.wait_for_signal("approval", timeout="3d")
    if approval.get("approved"):
        return await ctx.step(process_request, request)
    raise RequestDenied(f"request {request['id']} denied by {approval.get('by', 'someone')}")


def main() -> None:
    small = wfsim.run(approval_workflow, input={"id": "r1", "amount": 250})
    print(f"small request: {small.status}, {small.makespan}s, result {small.result}")
    signal = wfsim.Signal("approval", at="4h", payload={"approved": True, "by": "ana"})
    big = wfsim.run(approval_workflow, input={"id": "r2", "amount": 5000}, signals=[signal])
    print(f"big request, approved after 4h: {big.status}, {big.makespan}s, result {big.result}")
    deny = wfsim.Signal("approval", at="1h", payload={"approved": False, "by": "bo"})
    denied = wfsim.run(approval_workflow, input={"id": "r3", "amount": 5000}, signals=[deny])
    print(f"big request, denied: {denied.status}: {denied.message}")
    print(big.trace.format())


if __name__ == "__main__":
    main()
