"""Building DAG workflows: names, dependencies, cycles, bad arguments."""

from __future__ import annotations

import pickle

import attrs
import pytest

import wfsim


def build(edges: dict[str, list[str]]) -> wfsim.Workflow:
    wf = wfsim.Workflow("w")
    for name, after in edges.items():
        wf.add_step(name, after=after)
    return wf


@pytest.mark.spec("ORD-4")
def test_unknown_dependency_suggests_the_closest_name() -> None:
    wf = build({"charge_payment": [], "ship": ["charge_paymnet"]})
    with pytest.raises(wfsim.UnknownStepError) as info:
        wf.validate()
    assert str(info.value) == (
        "unknown step 'charge_paymnet' in after= of step 'ship': did you mean 'charge_payment'?"
    )


@pytest.mark.spec("ORD-4")
def test_unknown_dependency_without_a_close_match() -> None:
    wf = build({"a": [], "b": ["zzz"]})
    with pytest.raises(wfsim.UnknownStepError, match=r"^unknown step 'zzz' in after= of step 'b'$"):
        wfsim.run(wf)


@pytest.mark.spec("ORD-4")
def test_cycle_is_rejected_with_its_path_before_anything_runs() -> None:
    ran: list[str] = []
    wf = build({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})

    @wf.step
    async def side_effect(ctx: wfsim.StepContext) -> None:
        ran.append("ran")

    with pytest.raises(wfsim.CycleError) as info:
        wfsim.run(wf)
    assert info.value.path == ("a", "b", "c", "a")
    assert str(info.value) == (
        "the steps' dependencies form a cycle: a -> b -> c -> a; remove one of these after= links"
    )
    assert ran == []
    assert isinstance(info.value, ValueError)


@pytest.mark.spec("ORD-4")
def test_cycle_behind_an_acyclic_prefix_is_found() -> None:
    wf = build({"root": [], "x": ["root", "y"], "y": ["x"]})
    with pytest.raises(wfsim.CycleError) as info:
        wf.validate()
    assert set(info.value.path) == {"x", "y"}
    assert info.value.path[0] == info.value.path[-1]


@pytest.mark.spec("ORD-4")
def test_self_dependency_is_a_cycle() -> None:
    wf = wfsim.Workflow("w")
    with pytest.raises(wfsim.CycleError, match="step 'a' cannot run after itself"):
        wf.add_step("a", after=["a"])


@pytest.mark.spec("ORD-4")
def test_forward_references_are_allowed_and_order_is_topological() -> None:
    wf = build({"report": ["load"], "load": ["fetch"], "fetch": []})
    assert wf.validate() == ("fetch", "load", "report")


def test_after_accepts_steps_names_and_single_values() -> None:
    wf = wfsim.Workflow("w")
    a = wf.add_step("a")
    b = wf.add_step("b", after=a)
    c = wf.add_step("c", after="a")
    d = wf.add_step("d", after=[b, "c", "c"])
    assert (b.after, c.after, d.after) == (("a",), ("a",), ("b", "c"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "a step needs a non-empty name"),
        ({"name": "s", "duration": -1}, "step 's' duration must not be negative, got -1"),
        ({"name": "s", "duration": "fast"}, "step 's' duration 'fast' is not a duration"),
        ({"name": "s", "timeout": 0}, "step 's': timeout must be positive, not 0"),
        ({"name": "s", "output": [1]}, "step 's': output must be a mapping"),
        (
            {"name": "s", "retry": {"max_attempts": 3}},
            "retry must be a wfsim.RetryPolicy, not dict",
        ),
        ({"name": "s", "after": [3]}, "after= takes steps or step names, not int 3"),
        ({"name": "s", "fn": 3}, "fn must be an async function"),
    ],
)
def test_bad_step_arguments_are_rejected_with_a_reason(kwargs: dict, message: str) -> None:
    wf = wfsim.Workflow("w")
    with pytest.raises(wfsim.WorkflowDefinitionError) as info:
        wf.add_step(**kwargs)
    assert message in str(info.value)


def test_duplicate_step_names_are_rejected() -> None:
    wf = wfsim.Workflow("orders")
    wf.add_step("charge")
    with pytest.raises(wfsim.WorkflowDefinitionError, match="already has a step named 'charge'"):
        wf.add_step("charge")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_concurrency_must_be_positive(bad: object) -> None:
    with pytest.raises(wfsim.WorkflowDefinitionError, match="max_concurrency must be a positive"):
        wfsim.Workflow("w", max_concurrency=bad)  # type: ignore[arg-type]


def test_workflow_needs_a_name_and_steps() -> None:
    with pytest.raises(wfsim.WorkflowDefinitionError, match="non-empty name"):
        wfsim.Workflow("")
    with pytest.raises(wfsim.WorkflowDefinitionError, match="has no steps"):
        wfsim.Workflow("empty").validate()


def test_lookup_by_name_suggests() -> None:
    wf = build({"prepare": []})
    assert wf["prepare"].name == "prepare"
    assert "prepare" in wf and len(wf) == 1
    assert repr(wf) == "Workflow('w', steps=1)"
    with pytest.raises(wfsim.UnknownStepError, match="did you mean 'prepare'"):
        wf["prepar"]


def test_decorator_with_and_without_arguments() -> None:
    wf = wfsim.Workflow("w")

    @wf.step
    async def plain(ctx: wfsim.StepContext) -> None:
        return None

    @wf.step(name="renamed", after=[plain], timeout="5s")
    async def other(ctx: wfsim.StepContext) -> None:
        return None

    assert isinstance(plain, wfsim.Step) and plain.has_code
    assert other.name == "renamed" and other.after == ("plain",)
    assert other.timeout_ns == 5_000_000_000


def test_steps_tasks_and_compensations_are_read_only_views_that_follow_the_shape() -> None:
    wf = wfsim.Workflow("w")
    wf.add_step("a", duration=1, compensate=wfsim.compensation("undo_a", duration=1))
    steps, tasks, comps = wf.steps, wf.tasks, wf.compensations
    assert (list(steps), list(tasks), list(comps)) == (["a"], [], ["undo_a"])
    for view in (steps, tasks, comps):
        with pytest.raises(TypeError):
            view["x"] = wf["a"]  # type: ignore[index]
    assert wf.steps == steps and wf.tasks is not tasks  # made once, handed out read-only
    wf.add_parallel("fan", [wfsim.task("t", duration=1)], after=["a"])
    wf.add_step("b", after=["fan"], compensate=wfsim.compensation("undo_b", duration=1))
    # views handed out before keep the old shape; new reads see the new one
    assert (list(steps), list(tasks), list(comps)) == (["a"], [], ["undo_a"])
    assert list(wf.steps) == ["a", "fan", "b"]
    assert list(wf.tasks) == ["fan/t"]
    assert list(wf.compensations) == ["undo_a", "undo_b"]
    assert wf.steps["fan"].group is not None  # add_parallel's step, not add_step's
    copy = pickle.loads(pickle.dumps(wf))
    assert (list(copy.steps), list(copy.tasks)) == (["a", "fan", "b"], ["fan/t"])


def test_faults_by_target_is_kept_per_faults_and_forgotten_when_a_step_is_added() -> None:
    wf = wfsim.Workflow("f")
    wf.add_step("a", compensate="undo_a")
    wf.add_step("b", after=["a"])
    on_a, on_all = wfsim.Fault.error("a"), wfsim.Fault.error("*", probability=0.5)
    faults = [on_a, on_all]
    assert wf.faults_by_target(faults) == {"a": [on_a, on_all], "b": [on_all], "undo_a": [on_all]}
    assert wf.faults_by_target(list(faults)) is wf.faults_by_target(faults)  # kept
    assert wf.faults_by_target([on_a]) == {"a": [on_a]}  # other faults: worked out again
    wf.add_step("c")
    assert wf.faults_by_target(faults)["c"] == [on_all]  # a new step: worked out again


def test_add_step_puts_every_option_in_its_field() -> None:
    # add_step makes its Step with positional arguments: each must land in its own field.
    async def fn(ctx: wfsim.StepContext) -> None:
        pass

    async def fallback(ctx: wfsim.StepContext) -> None:
        pass

    def key(context: object) -> str:
        return "k"

    wf = wfsim.Workflow("all")
    wf.add_step("a")
    retry = wfsim.RetryPolicy(max_attempts=2)
    breaker = wfsim.CircuitBreaker.consecutive("b", failure_threshold=2, recovery_timeout=60)
    step = wf.add_step(
        "s",
        fn=fn,
        duration=2,
        output={"x": 1},
        after=["a"],
        retry=retry,
        timeout=3,
        compensate="undo",
        breaker=breaker,
        fallback=fallback,
        cache_key=key,
        trigger_rule="all_done",
        idempotent=False,
    )
    expected = wfsim.Step(
        name="s",
        index=1,
        after=("a",),
        fn=fn,
        duration_ns=2_000_000_000,
        output={"x": 1},
        retry=retry,
        timeout_ns=3_000_000_000,
        compensate=wfsim.compensation("undo"),
        breaker=breaker,
        fallback=fallback,
        cache_key=key,
        cache_ns="s",
        trigger_rule="all_done",
        role="step",
        group=None,
        idempotent=False,
    )
    fields = [f.name for f in attrs.fields(wfsim.Step)]
    assert [getattr(step, f) for f in fields] == [getattr(expected, f) for f in fields]
