"""Workflows and error classes that the scenario tests point at with ``python:``."""

from __future__ import annotations

import wfsim


def build_purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    reserve = wf.add_step("reserve_inventory", duration=1, output={"reserved": True})

    @wf.step(after=[reserve], retry=wfsim.RetryPolicy(max_attempts=3))
    async def charge_payment(ctx: wfsim.StepContext) -> dict[str, bool]:
        await ctx.sleep(2)
        return {"charged": True}

    wf.add_step("ship_order", after=[charge_payment], duration=1)
    return wf


purchase = build_purchase()
not_a_workflow = 42


def returns_a_number() -> int:
    return 7


class PaymentDeclined(Exception):
    """A custom error a fault can inject as ``tests.scenario.flows:PaymentDeclined``."""


def build_saga_purchase() -> wfsim.Workflow:
    """A purchase whose payment is refunded by code when a later step fails."""
    wf = wfsim.Workflow("saga_purchase", saga=wfsim.SagaPolicy(on_error="continue"))
    reserve = wf.add_step(
        "reserve_inventory", duration=1, compensate=wfsim.compensation("release_inventory")
    )

    async def refund_payment(ctx: wfsim.StepContext) -> dict[str, bool]:
        await ctx.sleep(0.5)
        return {"refunded": True}

    charge = wf.add_step("charge_payment", after=[reserve], duration=2, compensate=refund_payment)
    wf.add_step("ship_order", after=[charge], duration=1)
    return wf


saga_purchase = build_saga_purchase()


# -- imperative workflows (@wfsim.workflow) --------------------------------------------------


class RequestDenied(Exception):
    """The approver said no."""


async def process(ctx: wfsim.StepContext, request: dict[str, object]) -> dict[str, object]:
    await ctx.sleep(2)
    return {"processed": request["id"]}


async def notify(ctx: wfsim.StepContext, request: dict[str, object]) -> None:
    await ctx.sleep(0.5)


@wfsim.workflow(signals=["approval", "cancel"])
async def approval(ctx: wfsim.WorkflowContext, request: dict[str, object]) -> object:
    """Waits for ``approval`` (declared, with ``cancel``); processes the request if approved."""
    await ctx.step(notify, request)
    answer = await ctx.wait_for_signal("approval", timeout="1d")
    if not answer.get("approved"):
        raise RequestDenied(f"request {request['id']} denied")
    return await ctx.step(process, request)


@wfsim.workflow
async def fan_out(ctx: wfsim.WorkflowContext, request: dict[str, object]) -> list[object]:
    """Three calls of ``process`` at once (``process``, ``process:2``, ``process:3``);
    declares no signals, so it may be sent any."""
    return await ctx.gather(*(ctx.step(process, {"id": i}) for i in range(3)))


def build_fan_out() -> wfsim.ImperativeWorkflow:
    return fan_out


async def not_decorated(ctx: wfsim.WorkflowContext, request: dict[str, object]) -> None:
    """An ``async def`` body someone forgot to decorate with ``@wfsim.workflow``."""


class Query(wfsim.Event):
    """A question for ``answer`` (field ``text``)."""


class Answer(wfsim.Event):
    """An answer for ``combine`` (field ``text``)."""


def build_rag() -> wfsim.EventWorkflow:
    """An event workflow: fan out two queries, answer each in 1s, collect both."""
    wf = wfsim.EventWorkflow("rag", timeout=45)

    @wf.step(accepts=wfsim.StartEvent)
    async def fan_out(ctx: wfsim.StepContext, ev: wfsim.Event) -> None:
        for q in ev.get("queries", ["a", "b"]):
            ctx.send_event(Query(text=q))

    @wf.step(accepts=Query, num_workers=1, retry=wfsim.RetryPolicy(max_attempts=2))
    async def answer(ctx: wfsim.StepContext, ev: wfsim.Event) -> Answer:
        await ctx.sleep(1)
        return Answer(text=ev.text.upper())

    @wf.step(accepts=Answer)
    async def combine(ctx: wfsim.StepContext, ev: wfsim.Event) -> wfsim.StopEvent | None:
        got = ctx.collect_events(ev, [Answer, Answer])
        return None if got is None else wfsim.StopEvent(result=[a.text for a in got])

    return wf


rag = build_rag()


def _key_service_down(request: object) -> object:
    raise LookupError("the key service is down")


@wfsim.workflow
async def broken_cache_key(ctx: wfsim.WorkflowContext, request: dict[str, object]) -> object:
    """A body whose step's cache_key function raises: an EngineError naming the step."""
    return await ctx.step(process, request, name="lookup", cache_key=_key_service_down)
