"""SCN-9: each expectation holds when true and fails, with a pinned sentence, when false."""

from __future__ import annotations

from typing import Any

import pytest

import wfsim
from wfsim import Fault, RetryPolicy
from wfsim.scenario._expect import (
    EXPECTATION_KEYS,
    ExpectationFailure,
    check_expectations,
    format_failures,
)


def purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    wf.add_step(
        "reserve_inventory",
        duration=1,
        output={"reserved": True, "order": {"id": 7, "lines": [1, 2], "meta": {"vip": False}}},
    )
    wf.add_step(
        "charge_payment",
        after=["reserve_inventory"],
        duration=2,
        retry=RetryPolicy(max_attempts=3, initial_interval=1, backoff_coefficient=2),
        timeout=30,
    )
    wf.add_step("ship_order", after=["charge_payment"], duration=1)
    return wf


@pytest.fixture(scope="module")
def saga() -> wfsim.RunResult:
    """Payment fails once, then all completes at t=5.5s."""
    faults = [
        Fault.error("charge_payment", attempts=[1], error=ConnectionError),
        Fault.latency("ship_order", extra="500ms"),
    ]
    return wfsim.run(purchase(), seed=1, faults=faults)


@pytest.fixture(scope="module")
def broken() -> wfsim.RunResult:
    """Payment fails on all three attempts (delays 1s, 2s); shipping is skipped."""
    faults = [Fault.error("charge_payment", error=ConnectionError)]
    return wfsim.run(purchase(), seed=1, faults=faults)


@pytest.fixture(scope="module")
def stuck() -> wfsim.RunResult:
    """crunch takes an hour; the 10s time limit cancels it and report."""
    wf = wfsim.Workflow("slow")
    wf.add_step("fetch", duration=1)
    wf.add_step("crunch", after=["fetch"], duration="1h")
    wf.add_step("report", after=["crunch"])
    return wfsim.run(wf, time_limit="10s")


def only(failures: list[ExpectationFailure]) -> ExpectationFailure:
    assert len(failures) == 1, failures
    return failures[0]


def messages(failures: list[ExpectationFailure]) -> list[str]:
    return [f.message for f in failures]


# -- the whole block ---------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_a_true_expect_block_has_no_failures(saga: wfsim.RunResult) -> None:
    expect = {
        "status": "completed",
        "result": None,
        "context": {"reserved": True, "order": {"id": 7}},
        "order": ["reserve_inventory < charge_payment < ship_order"],
        "compensations": [],
        "attempts": {"charge_payment": 2, "ship_order": 1},
        "retry_delays": {"charge_payment": ["1s"], "ship_order": []},
        "effects": {"charge_payment": 1, "ship_order": 1},
        "repeated_effects": [],
        "makespan": "5.5s",
        "completed": ["reserve_inventory", "charge_payment", "ship_order"],
        "failed": [],
        "skipped": [],
        "cancelled": [],
        "never_started": [],
        "merged": {},
        "signals_received": [],
        "breaker_states": {},
        "trace_contains": [
            {"kind": "attempt_failed", "step": "charge_payment", "attempt": 1},
            {"kind": "run_finished", "status": "completed"},
        ],
    }
    assert set(expect) == set(EXPECTATION_KEYS)
    assert check_expectations(expect, saga) == []


@pytest.mark.spec("SCN-9")
def test_an_empty_expect_block_holds(broken: wfsim.RunResult) -> None:
    assert check_expectations({}, broken) == []


@pytest.mark.spec("SCN-9")
def test_an_unknown_key_is_a_programming_error(saga: wfsim.RunResult) -> None:
    with pytest.raises(
        ValueError, match=r"^unknown expectation key 'atempts': did you mean 'attempts'\?"
    ):
        check_expectations({"status": "completed", "atempts": {}}, saga)


@pytest.mark.spec("SCN-9")
def test_failures_come_in_the_order_of_the_keys(saga: wfsim.RunResult) -> None:
    failures = check_expectations(
        {"makespan": 1, "status": "failed", "attempts": {"ship_order": 2, "charge_payment": 1}},
        saga,
    )
    assert [f.key for f in failures] == [
        "makespan",
        "status",
        "attempts.ship_order",
        "attempts.charge_payment",
    ]


@pytest.mark.spec("SCN-9")
def test_line_of_gets_the_path_inside_expect(saga: wfsim.RunResult) -> None:
    asked: list[tuple[str | int, ...]] = []

    def line_of(path: tuple[str | int, ...]) -> int | None:
        asked.append(path)
        return 40 + len(asked)

    failures = check_expectations(
        {
            "status": "failed",
            "order": ["reserve_inventory < ship_order", "ship_order < charge_payment"],
            "attempts": {"ship_order": 3},
            "context": {"order": {"id": 8}},
            "skipped": ["reserve_inventory"],
            "trace_contains": [{"kind": "step_ready"}, {"kind": "step_failed"}],
        },
        saga,
        line_of=line_of,
    )
    assert asked == [
        ("status",),
        ("order", 1),
        ("attempts", "ship_order"),
        ("context", "order", "id"),
        ("skipped", 0),
        ("trace_contains", 1),
    ]
    assert [f.line for f in failures] == [41, 42, 43, 44, 45, 46]


@pytest.mark.spec("SCN-9")
def test_without_line_of_lines_are_none(saga: wfsim.RunResult) -> None:
    assert only(check_expectations({"status": "failed"}, saga)).line is None


# -- status and result -------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_status(saga: wfsim.RunResult, broken: wfsim.RunResult) -> None:
    assert check_expectations({"status": "completed"}, saga) == []
    assert check_expectations({"status": "failed"}, broken) == []
    failure = only(check_expectations({"status": "completed"}, broken))
    assert failure == ExpectationFailure(
        key="status",
        expected="completed",
        actual="failed",
        message=(
            "expected the run to end completed, but it ended failed; step(s) failed: charge_payment"
        ),
        trace_lines=(
            '[      4s] #17 step_failed charge_payment reason="ConnectionError on attempt 3 of 3" '
            'error="ConnectionError"',
            '[      4s] #19 run_finished  status="failed" result=null '
            'message="step(s) failed: charge_payment"',
        ),
    )


@pytest.mark.spec("SCN-9")
def test_status_must_name_a_run_status(saga: wfsim.RunResult) -> None:
    with pytest.raises(ValueError, match=r"not \"complete\": did you mean 'completed'\?$"):
        check_expectations({"status": "complete"}, saga)


@pytest.mark.spec("SCN-9")
def test_result_is_compared_with_run_finished(saga: wfsim.RunResult) -> None:
    assert check_expectations({"result": None}, saga) == []
    failure = only(check_expectations({"result": {"shipped": True}}, saga))
    assert failure.key == "result"
    assert failure.message == 'expected the run\'s result to be {"shipped": true}, but it was null'
    assert (failure.expected, failure.actual) == ('{"shipped": true}', "null")
    assert failure.trace_lines == ('[    5.5s] #18 run_finished  status="completed" result=null',)


# -- context -----------------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    "expected",
    [
        {},
        {"reserved": True},
        {"order": {}},
        {"order": {"id": 7}},
        {"order": {"meta": {"vip": False}}},
        {"order": {"lines": [1, 2], "meta": {}}},
        {"reserved": True, "order": {"id": 7, "lines": [1, 2], "meta": {"vip": False}}},
    ],
)
def test_context_holds_by_recursive_subset(saga: wfsim.RunResult, expected: Any) -> None:
    assert check_expectations({"context": expected}, saga) == []


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    ("expected", "key", "message", "actual"),
    [
        (
            {"order": {"id": 8}},
            "context.order.id",
            "expected the final context to have order.id = 8, but it is 7",
            "7",
        ),
        (
            {"order": {"meta": {"vip": True}}},
            "context.order.meta.vip",
            "expected the final context to have order.meta.vip = true, but it is false",
            "false",
        ),
        (
            {"order": {"meta": {"tier": "gold"}}},
            "context.order.meta.tier",
            'expected the final context to have order.meta.tier = "gold", '
            'but order.meta has no key "tier"',
            "missing",
        ),
        (
            {"refund": 1},
            "context.refund",
            'expected the final context to have refund = 1, but the context has no key "refund"',
            "missing",
        ),
        (
            {"reserved": 1},  # true is not 1
            "context.reserved",
            "expected the final context to have reserved = 1, but it is true",
            "true",
        ),
        (
            {"order": {"lines": [1]}},  # lists compare whole
            "context.order.lines",
            "expected the final context to have order.lines = [1], but it is [1, 2]",
            "[1, 2]",
        ),
        (
            {"reserved": {"at": 1}},
            "context.reserved",
            'expected the final context to have reserved = {"at": 1}, '
            "but it is true, not a mapping",
            "true",
        ),
    ],
)
def test_context_mismatches(
    saga: wfsim.RunResult, expected: Any, key: str, message: str, actual: str
) -> None:
    failure = only(check_expectations({"context": expected}, saga))
    assert (failure.key, failure.message, failure.actual) == (key, message, actual)


@pytest.mark.spec("SCN-9")
def test_context_reports_every_mismatch_with_the_output_that_set_it(
    saga: wfsim.RunResult,
) -> None:
    failures = check_expectations(
        {"context": {"order": {"id": 8, "lines": [1, 2], "gift": False}, "paid": True}}, saga
    )
    assert [f.key for f in failures] == ["context.order.id", "context.order.gift", "context.paid"]
    output = (  # describe() shortens long values
        '[      1s] #3 attempt_succeeded reserve_inventory#1 output={"reserved": true, '
        '"order": {"id": 7, "lines": [1, 2], "m...'
    )
    assert [f.trace_lines for f in failures] == [(output,), (output,), ()]


# -- order -------------------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    "chain",
    [
        "reserve_inventory < charge_payment < ship_order",
        "reserve_inventory<charge_payment<ship_order",
        "  reserve_inventory <charge_payment<   ship_order ",
        "reserve_inventory < ship_order",
    ],
)
def test_order_chains_hold(saga: wfsim.RunResult, chain: str) -> None:
    assert check_expectations({"order": [chain]}, saga) == []
    assert check_expectations({"order": chain}, saga) == []


@pytest.mark.spec("SCN-9")
def test_order_reports_the_broken_link_of_a_chain_of_three(saga: wfsim.RunResult) -> None:
    failure = only(
        check_expectations({"order": ["reserve_inventory < ship_order < charge_payment"]}, saga)
    )
    assert failure == ExpectationFailure(
        key="order",
        expected="ship_order < charge_payment",
        actual="charge_payment started at t=1s and ship_order completed at t=5.5s",
        message=(
            "expected ship_order to complete before charge_payment started, "
            "but charge_payment started at t=1s and ship_order completed at t=5.5s"
        ),
        trace_lines=(
            "[      1s] #6 attempt_started charge_payment#1",
            "[    5.5s] #17 step_completed ship_order",
        ),
    )


@pytest.mark.spec("SCN-9")
def test_order_reports_every_broken_link(saga: wfsim.RunResult) -> None:
    failures = check_expectations(
        {"order": ["ship_order < charge_payment < reserve_inventory"]}, saga
    )
    assert [f.expected for f in failures] == [
        "ship_order < charge_payment",
        "charge_payment < reserve_inventory",
    ]


@pytest.mark.spec("SCN-9")
def test_order_when_a_step_never_completed_or_never_started(broken: wfsim.RunResult) -> None:
    failure = only(check_expectations({"order": ["charge_payment < ship_order"]}, broken))
    assert failure.message == (
        "expected charge_payment to complete before ship_order started, but charge_payment "
        "never completed (it failed) and ship_order never started (it was skipped)"
    )
    assert failure.trace_lines == (
        '[      4s] #17 step_failed charge_payment reason="ConnectionError on attempt 3 of 3" '
        'error="ConnectionError"',
        "[      4s] #18 step_skipped ship_order reason=\"upstream 'charge_payment' failed\" "
        "upstream_failed=true",
    )
    failure = only(check_expectations({"order": ["reserve_inventory < ship_order"]}, broken))
    assert failure.actual == "ship_order never started (it was skipped)"
    failure = only(check_expectations({"order": ["charge_payment < reserve_inventory"]}, broken))
    assert failure.actual == "charge_payment never completed (it failed)"


@pytest.mark.spec("SCN-9")
def test_order_at_one_instant_names_the_events() -> None:
    wf = wfsim.Workflow("instant")
    wf.add_step("a")
    wf.add_step("b")
    result = wfsim.run(wf)
    failure = only(check_expectations({"order": ["b < a"]}, result))
    assert failure.message == (
        "expected b to complete before a started, "
        "but a started at t=0s (event #3) and b completed at t=0s (event #8)"
    )


@pytest.mark.spec("SCN-9")
def test_order_with_an_unknown_step(saga: wfsim.RunResult) -> None:
    failure = only(check_expectations({"order": ["reserve_inventory < shp_order"]}, saga))
    assert failure == ExpectationFailure(
        key="order",
        expected="a step of workflow 'purchase'",
        actual="no step 'shp_order'",
        message="workflow 'purchase' has no step 'shp_order': did you mean 'ship_order'?",
    )


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            ["ship_order"],
            r"^expect\.order\[0\] must be a chain like 'a < b < c', not 'ship_order'$",
        ),
        (["a < < b"], r"^expect\.order\[0\] must be a chain"),
        (["a <"], r"^expect\.order\[0\] must be a chain"),
        ([["a", "b"]], r"^expect\.order\[0\] must be a chain"),
        ({"a": "b"}, r"^expect\.order must be a list of chains"),
    ],
)
def test_a_malformed_chain_is_a_value_error(saga: wfsim.RunResult, value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_expectations({"order": value}, saga)


# -- attempts and retry delays -----------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_attempts(saga: wfsim.RunResult, broken: wfsim.RunResult) -> None:
    assert check_expectations({"attempts": {"charge_payment": 3, "ship_order": 0}}, broken) == []
    failure = only(check_expectations({"attempts": {"charge_payment": 3}}, saga))
    assert failure.key == "attempts.charge_payment"
    assert failure.message == "expected charge_payment to make 3 attempts, but it made 2"
    assert (failure.expected, failure.actual) == ("3", "2")
    assert failure.trace_lines[0] == "[      1s] #5 step_ready charge_payment"
    assert failure.trace_lines[-1] == "[      4s] #12 step_completed charge_payment"
    failure = only(check_expectations({"attempts": {"ship_order": 1}}, broken))
    assert failure.message == "expected ship_order to make 1 attempt, but it made 0"
    assert failure.trace_lines == (
        "[      4s] #18 step_skipped ship_order reason=\"upstream 'charge_payment' failed\" "
        "upstream_failed=true",
    )


@pytest.mark.spec("SCN-9")
def test_attempts_of_an_unknown_step(saga: wfsim.RunResult) -> None:
    failure = only(check_expectations({"attempts": {"charge": 2}}, saga))
    assert failure.key == "attempts.charge"
    assert failure.message == (
        "workflow 'purchase' has no step 'charge': did you mean 'charge_payment'?"
    )


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize("count", [-1, True, "2", None])
def test_attempts_must_be_counts(saga: wfsim.RunResult, count: Any) -> None:
    with pytest.raises(ValueError, match=r"^expect\.attempts\.ship_order must be a number"):
        check_expectations({"attempts": {"ship_order": count}}, saga)


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    "delays",
    [["1s", "2s"], [1, 2], [1.0, "2000ms"], ["1000ms", 2.0], ["1e3ms", "2000000us"]],
)
def test_retry_delays_as_numbers_and_strings(broken: wfsim.RunResult, delays: list[Any]) -> None:
    assert check_expectations({"retry_delays": {"charge_payment": delays}}, broken) == []


@pytest.mark.spec("SCN-9")
def test_retry_delays_compare_in_integer_nanoseconds() -> None:
    wf = wfsim.Workflow("fast")
    wf.add_step("poll", retry=RetryPolicy(max_attempts=3, initial_interval=0.1))
    result = wfsim.run(wf, faults=[Fault.error("poll", attempts=[1, 2])])
    assert check_expectations({"retry_delays": {"poll": ["100ms", 0.2]}}, result) == []
    failure = only(check_expectations({"retry_delays": {"poll": ["100ms", "200001us"]}}, result))
    assert failure.message == (
        "expected poll's retry delays to be [100ms, 200.001ms], but they were [100ms, 200ms]"
    )


@pytest.mark.spec("SCN-9")
def test_retry_delays_mismatch(broken: wfsim.RunResult, saga: wfsim.RunResult) -> None:
    failure = only(check_expectations({"retry_delays": {"charge_payment": ["1s", "4s"]}}, broken))
    assert failure == ExpectationFailure(
        key="retry_delays.charge_payment",
        expected="[1s, 4s]",
        actual="[1s, 2s]",
        message="expected charge_payment's retry delays to be [1s, 4s], but they were [1s, 2s]",
        trace_lines=(
            "[      1s] #6 attempt_started charge_payment#1",
            '[      1s] #8 attempt_failed charge_payment#1 error="ConnectionError" '
            'message="injected ConnectionError" retryable=true',
            "[      1s] #9 retry_scheduled charge_payment#1 delay=1.0 next_attempt=2",
            "[      2s] #10 attempt_started charge_payment#2",
            '[      2s] #12 attempt_failed charge_payment#2 error="ConnectionError" '
            'message="injected ConnectionError" retryable=true',
            "[      2s] #13 retry_scheduled charge_payment#2 delay=2.0 next_attempt=3",
            "[      4s] #14 attempt_started charge_payment#3",
            '[      4s] #16 attempt_failed charge_payment#3 error="ConnectionError" '
            'message="injected ConnectionError" retryable=true',
        ),
    )
    failure = only(check_expectations({"retry_delays": {"ship_order": ["1s"]}}, saga))
    assert failure.message == (
        "expected ship_order's retry delays to be [1s], but it was never retried (it completed)"
    )
    assert failure.actual == "[]"


@pytest.mark.spec("SCN-9")
def test_retry_delays_must_be_durations(broken: wfsim.RunResult) -> None:
    with pytest.raises(ValueError, match=r"expect\.retry_delays\.charge_payment\[1\] '2 sec'"):
        check_expectations({"retry_delays": {"charge_payment": ["1s", "2 sec"]}}, broken)
    with pytest.raises(ValueError, match=r"^expect\.retry_delays\.charge_payment must be a list"):
        check_expectations({"retry_delays": {"charge_payment": "1s"}}, broken)


# -- makespan ----------------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    "bound",
    [
        5.5,
        "5.5s",
        "5500ms",
        "<= 5.5s",
        "<=10s",
        "< 6s",
        ">= 5.5s",
        "> 5s",
        "== 5.5s",
        "  >=  1s ",
    ],
)
def test_makespan_holds(saga: wfsim.RunResult, bound: Any) -> None:
    assert check_expectations({"makespan": bound}, saga) == []


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    ("bound", "expected", "message"),
    [
        (5, "== 5s", "expected the run to take exactly 5s, but it took 5.5s"),
        ("6s", "== 6s", "expected the run to take exactly 6s, but it took 5.5s"),
        ("== 1m", "== 1m", "expected the run to take exactly 1m, but it took 5.5s"),
        ("<= 5s", "<= 5s", "expected the run to take at most 5s, but it took 5.5s"),
        ("< 5.5s", "< 5.5s", "expected the run to take less than 5.5s, but it took 5.5s"),
        (">= 6s", ">= 6s", "expected the run to take at least 6s, but it took 5.5s"),
        ("> 5500ms", "> 5.5s", "expected the run to take more than 5.5s, but it took 5.5s"),
    ],
)
def test_makespan_fails(saga: wfsim.RunResult, bound: Any, expected: str, message: str) -> None:
    failure = only(check_expectations({"makespan": bound}, saga))
    assert (failure.key, failure.expected, failure.actual) == ("makespan", expected, "5.5s")
    assert failure.message == message
    assert failure.trace_lines == ('[    5.5s] #18 run_finished  status="completed" result=null',)


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize("bound", ["about 5s", "<= soon", "=< 5s", -1, True])
def test_a_malformed_makespan_is_a_value_error(saga: wfsim.RunResult, bound: Any) -> None:
    with pytest.raises(ValueError, match=r"expect\.makespan"):
        check_expectations({"makespan": bound}, saga)


# -- terminal statuses -------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_terminal_statuses_hold(broken: wfsim.RunResult, stuck: wfsim.RunResult) -> None:
    expect = {"completed": ["reserve_inventory"], "failed": ["charge_payment"]}
    assert check_expectations({**expect, "skipped": ["ship_order"]}, broken) == []
    assert check_expectations({"skipped": "ship_order"}, broken) == []
    assert stuck.status == "timed_out"
    assert (
        check_expectations(
            {"status": "timed_out", "completed": ["fetch"], "cancelled": ["crunch", "report"]},
            stuck,
        )
        == []
    )


@pytest.mark.spec("SCN-9")
def test_terminal_status_mismatches(broken: wfsim.RunResult, stuck: wfsim.RunResult) -> None:
    assert messages(
        check_expectations(
            {
                "completed": ["ship_order"],
                "failed": ["reserve_inventory"],
                "skipped": ["charge_payment"],
                "cancelled": ["ship_order"],
            },
            broken,
        )
    ) == [
        "expected ship_order to complete, but it was skipped (upstream 'charge_payment' failed)",
        "expected reserve_inventory to fail, but it completed",
        "expected charge_payment to be skipped, but it failed (ConnectionError on attempt 3 of 3)",
        "expected ship_order to be cancelled, but it was skipped "
        "(upstream 'charge_payment' failed)",
    ]
    failure = only(check_expectations({"completed": ["fetch", "crunch"]}, stuck))
    assert failure == ExpectationFailure(
        key="completed",
        expected="crunch completed",
        actual="crunch cancelled",
        message="expected crunch to complete, but it was cancelled (time limit reached)",
        trace_lines=(
            "[      1s] #5 step_ready crunch",
            "[      1s] #6 attempt_started crunch#1",
            '[     10s] #7 step_cancelled crunch reason="time limit reached"',
        ),
    )


@pytest.mark.spec("SCN-9")
def test_a_timed_out_run_names_what_still_waited(stuck: wfsim.RunResult) -> None:
    failure = only(check_expectations({"status": "completed"}, stuck))
    assert failure.message == (
        "expected the run to end completed, but it ended timed_out; run timed out: the time "
        "limit of 10s was reached (nothing finished in time); still waiting: 'crunch' "
        "(attempt 1 running since t=1s); 'report' (waiting for 'crunch')"
    )
    assert failure.trace_lines[:2] == (
        '[     10s] #7 step_cancelled crunch reason="time limit reached"',
        '[     10s] #8 step_cancelled report reason="time limit reached"',
    )
    assert check_expectations({"never_started": ["report"]}, stuck) == []


@pytest.mark.spec("SCN-9")
def test_terminal_status_of_an_unknown_step(broken: wfsim.RunResult) -> None:
    failure = only(check_expectations({"skipped": ["ship_ordr"]}, broken))
    assert (
        failure.message == "workflow 'purchase' has no step 'ship_ordr': did you mean 'ship_order'?"
    )


@pytest.mark.spec("SCN-9")
def test_terminal_status_lists_must_hold_step_names(broken: wfsim.RunResult) -> None:
    with pytest.raises(ValueError, match=r"^expect\.failed must be a list of step names"):
        check_expectations({"failed": [1]}, broken)


# -- never_started -----------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_never_started(broken: wfsim.RunResult) -> None:
    assert check_expectations({"never_started": ["ship_order"]}, broken) == []
    failures = check_expectations(
        {"never_started": ["reserve_inventory", "charge_payment"]}, broken
    )
    assert messages(failures) == [
        "expected reserve_inventory never to start, but it started at t=0s",
        "expected charge_payment never to start, but it started at t=1s and made 3 attempts",
    ]
    assert failures[1].actual == "charge_payment started at t=1s"
    assert failures[1].trace_lines == (
        "[      1s] #6 attempt_started charge_payment#1",
        "[      2s] #10 attempt_started charge_payment#2",
        "[      4s] #14 attempt_started charge_payment#3",
    )


# -- trace_contains ----------------------------------------------------------------------------


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    "item",
    [
        {"kind": "run_started"},
        {"kind": "run_started", "workflow": "purchase", "seed": 1},
        {"kind": "attempt_failed", "step": "charge_payment"},
        {"kind": "attempt_failed", "step": "charge_payment", "attempt": 2, "retryable": True},
        {"kind": "attempt_failed", "error": "ConnectionError", "t": "2s"},
        {"kind": "fault_injected", "attempt": 3, "fault": {"kind": "error"}},
        {"kind": "retry_scheduled", "delay": "2s", "next_attempt": 3},
        {"kind": "retry_scheduled", "delay": 1},
        {"kind": "step_skipped", "step": "ship_order", "t": 4},
        {"kind": "step_failed", "reason": "ConnectionError on attempt 3 of 3"},
        {"kind": "run_finished", "status": "failed", "result": None, "t": "4000ms"},
    ],
)
def test_trace_contains_holds(broken: wfsim.RunResult, item: dict[str, Any]) -> None:
    assert check_expectations({"trace_contains": [item]}, broken) == []


@pytest.mark.spec("SCN-9")
def test_trace_contains_names_the_closest_event(broken: wfsim.RunResult) -> None:
    item = {
        "kind": "attempt_failed",
        "step": "charge_payment",
        "attempt": 2,
        "error": "TimeoutError",
    }
    failure = only(check_expectations({"trace_contains": [item]}, broken))
    assert failure.key == "trace_contains"
    assert failure.expected == (
        'an attempt_failed event of charge_payment#2 with error="TimeoutError"'
    )
    assert failure.actual == '#12 has error="ConnectionError"'
    assert failure.message == (
        "expected the trace to contain an attempt_failed event of charge_payment#2 with "
        'error="TimeoutError", but none of its 3 attempt_failed events of charge_payment '
        'matches (the closest, #12, has error="ConnectionError")'
    )
    assert len(failure.trace_lines) == 3


@pytest.mark.spec("SCN-9")
def test_trace_contains_mismatches(broken: wfsim.RunResult, saga: wfsim.RunResult) -> None:
    items = [
        {"kind": "attempt_timed_out"},
        {"kind": "atempt_failed", "step": "charge_payment"},
        {"kind": "step_skipped", "step": "reserve_inventory"},
        {"kind": "step_failed", "t": "1s", "fault": {"kind": "error"}},
        {"kind": "retry_scheduled", "delay": "1500ms"},
        {"kind": "fault_injected", "fault": {"kind": "latency"}},
        {"kind": "step_ready", "step": "charge_paymnt"},
    ]
    assert messages(check_expectations({"trace_contains": items}, broken)) == [
        "expected the trace to contain an attempt_timed_out event, "
        "but the trace has no attempt_timed_out event",
        "expected the trace to contain an atempt_failed event of charge_payment, "
        "but the trace has no atempt_failed event: did you mean 'attempt_failed'?",
        "expected the trace to contain a step_skipped event of reserve_inventory, "
        "but its step_skipped events are of ship_order only",
        "expected the trace to contain a step_failed event at t=1s with "
        'fault={"kind": "error"}, but its only step_failed event, #17, has t=4s, no fault',
        "expected the trace to contain a retry_scheduled event with delay=1.5s, "
        "but none of its 2 retry_scheduled events matches (the closest, #9, has delay=1s)",
        "expected the trace to contain a fault_injected event with "
        'fault={"kind": "latency"}, but none of its 3 fault_injected events matches '
        '(the closest, #7, has fault={"kind": "error", "error": "ConnectionError", '
        '"retryable": true, "at": "start"})',
        "workflow 'purchase' has no step 'charge_paymnt': did you mean 'charge_payment'?",
    ]
    assert check_expectations({"trace_contains": [{"kind": "attempt_timed_out"}]}, saga)


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize(
    ("items", "match"),
    [
        ({"kind": "run_started"}, r"^expect\.trace_contains must be a list"),
        (["run_started"], r"^expect\.trace_contains\[0\] must be a mapping with a 'kind'"),
        ([{"step": "ship_order"}], r"^expect\.trace_contains\[0\] must be a mapping with a 'kind'"),
    ],
)
def test_malformed_trace_contains(broken: wfsim.RunResult, items: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_expectations({"trace_contains": items}, broken)


# -- trace lines and the report ----------------------------------------------------------------


@pytest.mark.spec("SCN-9")
def test_trace_lines_are_capped_at_eight() -> None:
    wf = wfsim.Workflow("flaky")
    wf.add_step("poll", retry=RetryPolicy(max_attempts=5, initial_interval=1))
    result = wfsim.run(wf, faults=[Fault.error("poll")])
    failure = only(check_expectations({"completed": ["poll"]}, result))
    assert len(result.trace.for_step("poll")) == 21
    assert len(failure.trace_lines) == 8
    assert failure.trace_lines[3] == "... 14 more events ..."
    assert failure.trace_lines[-1].endswith(
        'step_failed poll reason="InjectedError on attempt 5 of 5" error="InjectedError"'
    )


@pytest.mark.spec("SCN-9")
def test_format_failures(saga: wfsim.RunResult) -> None:
    lines = {("makespan",): 31, ("order", 0): 29}
    failures = check_expectations(
        {
            "order": ["ship_order < charge_payment"],
            "makespan": "<= 5s",
            "attempts": {"ship_order": 1},
            "never_started": ["ship_order"],
        },
        saga,
        line_of=lines.get,
    )
    report = format_failures(
        failures, scenario="order saga retries the payment", file="shop/saga.wfsim.yaml", seed=1
    )
    assert report == "\n".join(
        [
            "scenario 'order saga retries the payment' failed with seed 1: 3 expectations not met",
            "",
            "shop/saga.wfsim.yaml:29: expect.order: expected ship_order to complete before "
            "charge_payment started, but charge_payment started at t=1s and ship_order completed "
            "at t=5.5s",
            "  expected: ship_order < charge_payment",
            "  actual:   charge_payment started at t=1s and ship_order completed at t=5.5s",
            "  trace:",
            "    [      1s] #6 attempt_started charge_payment#1",
            "    [    5.5s] #17 step_completed ship_order",
            "",
            "shop/saga.wfsim.yaml:31: expect.makespan: expected the run to take at most 5s, "
            "but it took 5.5s",
            "  expected: <= 5s",
            "  actual:   5.5s",
            "  trace:",
            '    [    5.5s] #18 run_finished  status="completed" result=null',
            "",
            "shop/saga.wfsim.yaml: expect.never_started: expected ship_order never to start, "
            "but it started at t=4s",
            "  expected: ship_order never started",
            "  actual:   ship_order started at t=4s",
            "  trace:",
            "    [      4s] #14 attempt_started ship_order#1",
            "",
            "replay: wfsim replay shop/saga.wfsim.yaml --seed 1",
        ]
    )


@pytest.mark.spec("SCN-9")
def test_format_failures_quotes_the_file_and_leaves_out_empty_trace_lines() -> None:
    failure = ExpectationFailure(
        "attempts.x", "2", "1", "expected x to make 2 attempts, but it made 1"
    )
    report = format_failures([failure], scenario="one", file="my dir/a.wfsim.yaml", seed=0)
    assert report == "\n".join(
        [
            "scenario 'one' failed with seed 0: 1 expectation not met",
            "",
            "my dir/a.wfsim.yaml: expect.attempts.x: expected x to make 2 attempts, but it made 1",
            "  expected: 2",
            "  actual:   1",
            "",
            "replay: wfsim replay 'my dir/a.wfsim.yaml' --seed 0",
        ]
    )


@pytest.mark.spec("SCN-9")
def test_format_failures_without_failures() -> None:
    report = format_failures([], scenario="one", file="a.wfsim.yaml", seed=3)
    assert report.splitlines()[0] == "scenario 'one' with seed 3: every expectation held"
    assert report.splitlines()[-1] == "replay: wfsim replay a.wfsim.yaml --seed 3"


# -- sagas: compensations ----------------------------------------------------------------------


def saga_purchase() -> wfsim.Workflow:
    wf = wfsim.Workflow("purchase")
    wf.add_step(
        "reserve_inventory",
        duration=1,
        output={"reserved": True},
        compensate=wfsim.compensation(
            "release_inventory", duration=0.2, output={"reserved": False}
        ),
    )
    wf.add_step(
        "charge_payment",
        after=["reserve_inventory"],
        duration=2,
        compensate=wfsim.compensation(
            "refund_payment",
            duration=0.3,
            retry=RetryPolicy(max_attempts=2, initial_interval=1),
        ),
    )
    wf.add_step("ship_order", after=["charge_payment"], duration=1, compensate="cancel_shipment")
    return wf


SHIPPING_FAILS = Fault.error("ship_order", error="ShippingUnavailable", retryable=False)


@pytest.fixture(scope="module")
def compensated() -> wfsim.RunResult:
    """Shipping fails at t=3s: refund (3s-3.3s), then release (3.3s-3.5s)."""
    return wfsim.run(saga_purchase(), faults=[SHIPPING_FAILS])


@pytest.fixture(scope="module")
def refund_fails() -> wfsim.RunResult:
    """The refund fails at t=3s and, after 1s, for good: the release is skipped."""
    faults = [SHIPPING_FAILS, Fault.error("refund_payment", error=ConnectionError)]
    return wfsim.run(saga_purchase(), faults=faults)


@pytest.mark.spec("SCN-9")
def test_compensations_hold_in_their_exact_order(
    compensated: wfsim.RunResult, refund_fails: wfsim.RunResult, saga: wfsim.RunResult
) -> None:
    assert compensated.status == "compensated"
    expect = {"compensations": ["refund_payment", "release_inventory"]}
    assert check_expectations(expect, compensated) == []
    assert check_expectations({"compensations": ["refund_payment"]}, refund_fails) == []
    assert check_expectations({"compensations": []}, saga) == []


@pytest.mark.spec("SCN-9")
def test_compensations_in_another_order(compensated: wfsim.RunResult) -> None:
    failure = only(
        check_expectations({"compensations": ["release_inventory", "refund_payment"]}, compensated)
    )
    assert failure == ExpectationFailure(
        key="compensations",
        expected="release_inventory, refund_payment",
        actual="refund_payment, release_inventory",
        message=(
            "expected the compensations to start in the order release_inventory, "
            "refund_payment, but they started in the order refund_payment, release_inventory"
        ),
        trace_lines=(
            '[      3s] #13 step_failed ship_order reason="ShippingUnavailable is not retryable" '
            'error="ShippingUnavailable"',
            '[      3s] #14 compensation_started refund_payment#1 for_step="charge_payment"',
            '[    3.3s] #16 compensation_started release_inventory#1 for_step="reserve_inventory"',
        ),
    )


@pytest.mark.spec("SCN-9")
def test_compensations_that_did_not_start_say_why(
    refund_fails: wfsim.RunResult, compensated: wfsim.RunResult
) -> None:
    failure = only(
        check_expectations({"compensations": ["refund_payment", "release_inventory"]}, refund_fails)
    )
    assert failure.message == (
        "expected the compensations to start in the order refund_payment, release_inventory, "
        "but only refund_payment started; release_inventory was skipped "
        "(compensation 'refund_payment' failed)"
    )
    assert (failure.expected, failure.actual) == (
        "refund_payment, release_inventory",
        "refund_payment",
    )
    assert failure.trace_lines[1:] == (
        '[      3s] #14 compensation_started refund_payment#1 for_step="charge_payment"',
        '[      4s] #21 compensation_skipped release_inventory for_step="reserve_inventory" '
        "reason=\"compensation 'refund_payment' failed\"",
    )
    failure = only(
        check_expectations(
            {"compensations": ["cancel_shipment", "refund_payment", "release_inventory"]},
            compensated,
        )
    )
    assert failure.message == (
        "expected the compensations to start in the order cancel_shipment, refund_payment, "
        "release_inventory, but only refund_payment, release_inventory started; "
        "cancel_shipment never ran"
    )
    failure = only(check_expectations({"compensations": ["refund_payment"]}, compensated))
    assert failure.message == (
        "expected the compensations to start in the order refund_payment, "
        "but refund_payment, release_inventory started, in that order"
    )


@pytest.mark.spec("SCN-9")
def test_compensations_when_none_or_some_started(
    compensated: wfsim.RunResult,
) -> None:
    clean = wfsim.run(saga_purchase())
    failure = only(check_expectations({"compensations": ["refund_payment"]}, clean))
    assert failure.message == (
        "expected the compensations to start in the order refund_payment, "
        "but no compensation started (the run ended completed)"
    )
    assert failure.actual == "none"
    assert failure.trace_lines == ('[      4s] #13 run_finished  status="completed" result=null',)
    failure = only(check_expectations({"compensations": []}, compensated))
    assert failure.message == (
        "expected no compensation to start, but refund_payment, release_inventory started"
    )
    assert (failure.expected, failure.actual) == ("none", "refund_payment, release_inventory")


@pytest.mark.spec("SCN-9")
def test_compensations_name_unknown_compensations(
    compensated: wfsim.RunResult, saga: wfsim.RunResult
) -> None:
    failures = check_expectations(
        {"compensations": ["refund_paymnt", "charge_payment", "reserve_inventory"]},
        compensated,
        line_of=lambda path: 10 + int(path[1]),
    )
    assert [(f.key, f.line, f.message) for f in failures] == [
        (
            "compensations",
            10,
            "workflow 'purchase' has no compensation 'refund_paymnt': "
            "did you mean 'refund_payment'?",
        ),
        (
            "compensations",
            11,
            "'charge_payment' is a step of workflow 'purchase', not a compensation; "
            "its compensation is 'refund_payment'",
        ),
        (
            "compensations",
            12,
            "'reserve_inventory' is a step of workflow 'purchase', not a compensation; "
            "its compensation is 'release_inventory'",
        ),
    ]
    assert (failures[0].expected, failures[0].actual) == (
        "a compensation of workflow 'purchase'",
        "no compensation 'refund_paymnt'",
    )
    failure = only(check_expectations({"compensations": ["refund_payment"]}, saga))
    assert failure.message == (
        "workflow 'purchase' has no compensation 'refund_payment': no step has compensate"
    )


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize("value", ["refund_payment", [1], {"refund_payment": 1}, None])
def test_compensations_must_be_a_list_of_names(compensated: wfsim.RunResult, value: Any) -> None:
    with pytest.raises(ValueError, match=r"^expect\.compensations must be a list of compensation"):
        check_expectations({"compensations": value}, compensated)


@pytest.mark.spec("SCN-9")
def test_saga_statuses(compensated: wfsim.RunResult, refund_fails: wfsim.RunResult) -> None:
    assert check_expectations({"status": "compensated"}, compensated) == []
    assert check_expectations({"status": "compensation_failed"}, refund_fails) == []
    failure = only(check_expectations({"status": "compensated"}, refund_fails))
    assert failure.message == (
        "expected the run to end compensated, but it ended compensation_failed; "
        "step(s) failed: ship_order; compensation(s) failed: refund_payment; "
        "not run: release_inventory"
    )
    assert [line.split()[3] for line in failure.trace_lines] == [
        "step_failed",
        "compensation_failed",
        "compensation_skipped",
        "run_finished",
    ]
    assert "refund_payment#2" in failure.trace_lines[1]  # the final failure, not the first


@pytest.mark.spec("SCN-9")
def test_end_states_of_compensations(
    compensated: wfsim.RunResult, refund_fails: wfsim.RunResult
) -> None:
    expect = {
        "completed": ["reserve_inventory", "charge_payment", "refund_payment", "release_inventory"],
        "failed": ["ship_order"],
        "never_started": ["cancel_shipment"],
    }
    assert check_expectations(expect, compensated) == []
    expect = {
        "failed": ["ship_order", "refund_payment"],
        "skipped": "release_inventory",
        "never_started": ["release_inventory", "cancel_shipment"],
    }
    assert check_expectations(expect, refund_fails) == []
    assert messages(
        check_expectations(
            {
                "completed": ["refund_payment", "release_inventory", "cancel_shipment"],
                "skipped": ["refund_payment"],
                "never_started": ["refund_payment"],
            },
            refund_fails,
        )
    ) == [
        "expected refund_payment to complete, but it failed (ConnectionError on attempt 2)",
        "expected release_inventory to complete, but it was skipped "
        "(compensation 'refund_payment' failed)",
        "expected cancel_shipment to complete, but it never ran",
        "expected refund_payment to be skipped, but it failed (ConnectionError on attempt 2)",
        "expected refund_payment never to start, but it started at t=3s and made 2 attempts",
    ]
    failure = check_expectations({"failed": ["release_inventory"]}, refund_fails)[0]
    assert (failure.expected, failure.actual) == (
        "release_inventory failed",
        "release_inventory skipped",
    )
    assert failure.trace_lines == (
        '[      4s] #21 compensation_skipped release_inventory for_step="reserve_inventory" '
        "reason=\"compensation 'refund_payment' failed\"",
    )


@pytest.mark.spec("SCN-9")
def test_a_compensation_that_failed_once_is_not_failed(compensated: wfsim.RunResult) -> None:
    faults = [SHIPPING_FAILS, Fault.error("refund_payment", attempts=[1], error=ConnectionError)]
    result = wfsim.run(saga_purchase(), faults=faults)
    assert result.status == "compensated"
    expect = {
        "completed": ["refund_payment"],
        "attempts": {"refund_payment": 2, "release_inventory": 1, "cancel_shipment": 0},
        "retry_delays": {"refund_payment": ["1s"], "release_inventory": []},
        "compensations": ["refund_payment", "release_inventory"],
    }
    assert check_expectations(expect, result) == []
    failure = only(check_expectations({"failed": ["refund_payment"]}, result))
    assert failure.message == "expected refund_payment to fail, but it completed"


@pytest.mark.spec("SCN-9")
def test_attempts_and_retry_delays_of_compensations(refund_fails: wfsim.RunResult) -> None:
    failures = check_expectations(
        {"attempts": {"refund_payment": 3}, "retry_delays": {"refund_payment": ["2s"]}},
        refund_fails,
    )
    assert messages(failures) == [
        "expected refund_payment to make 3 attempts, but it made 2",
        "expected refund_payment's retry delays to be [2s], but they were [1s]",
    ]
    assert failures[1].trace_lines == (
        '[      3s] #14 compensation_started refund_payment#1 for_step="charge_payment"',
        '[      3s] #16 compensation_failed refund_payment#1 for_step="charge_payment" '
        'error="ConnectionError" message="injected ConnectionError" retryable=true final=false',
        "[      3s] #17 retry_scheduled refund_payment#1 delay=1.0 next_attempt=2",
        '[      4s] #18 compensation_started refund_payment#2 for_step="charge_payment"',
        '[      4s] #20 compensation_failed refund_payment#2 for_step="charge_payment" '
        'error="ConnectionError" message="injected ConnectionError" retryable=true final=true',
    )


@pytest.mark.spec("SCN-9")
def test_order_with_compensations(
    compensated: wfsim.RunResult, refund_fails: wfsim.RunResult
) -> None:
    chains = [
        "reserve_inventory < charge_payment < refund_payment < release_inventory",
        "reserve_inventory < release_inventory",
    ]
    assert check_expectations({"order": chains}, compensated) == []
    failure = only(
        check_expectations({"order": ["release_inventory < refund_payment"]}, compensated)
    )
    assert failure.message == (
        "expected release_inventory to complete before refund_payment started, but "
        "refund_payment started at t=3s and release_inventory completed at t=3.5s"
    )
    assert failure.trace_lines == (
        '[      3s] #14 compensation_started refund_payment#1 for_step="charge_payment"',
        '[    3.5s] #17 compensation_completed release_inventory#1 for_step="reserve_inventory" '
        'output={"reserved": false}',
    )
    failure = only(
        check_expectations({"order": ["refund_payment < release_inventory"]}, refund_fails)
    )
    assert failure.message == (
        "expected refund_payment to complete before release_inventory started, but "
        "refund_payment never completed (it failed) and release_inventory never started "
        "(it was skipped)"
    )


@pytest.mark.spec("SCN-9")
def test_unknown_names_suggest_steps_and_compensations(compensated: wfsim.RunResult) -> None:
    failures = check_expectations(
        {
            "completed": ["refund_paymnt"],
            "attempts": {"release_inventry": 1},
            "trace_contains": [{"kind": "compensation_started", "step": "cancel_shipmnt"}],
        },
        compensated,
    )
    assert messages(failures) == [
        "workflow 'purchase' has no step or compensation 'refund_paymnt': "
        "did you mean 'refund_payment'?",
        "workflow 'purchase' has no step or compensation 'release_inventry': "
        "did you mean 'release_inventory'?",
        "workflow 'purchase' has no step or compensation 'cancel_shipmnt': "
        "did you mean 'cancel_shipment'?",
    ]
    assert failures[0].expected == "a step or compensation of workflow 'purchase'"


@pytest.mark.spec("SCN-9")
def test_trace_contains_and_context_with_compensations(compensated: wfsim.RunResult) -> None:
    items = [
        {"kind": "compensation_started", "step": "refund_payment", "for_step": "charge_payment"},
        {"kind": "compensation_completed", "step": "release_inventory", "t": "3.5s"},
    ]
    assert (
        check_expectations({"trace_contains": items, "context": {"reserved": False}}, compensated)
        == []
    )
    failure = only(check_expectations({"context": {"reserved": True}}, compensated))
    assert failure.message == "expected the final context to have reserved = true, but it is false"
    assert failure.trace_lines == (
        '[      1s] #3 attempt_succeeded reserve_inventory#1 output={"reserved": true}',
        '[    3.5s] #17 compensation_completed release_inventory#1 for_step="reserve_inventory" '
        'output={"reserved": false}',
    )


@pytest.mark.spec("SCN-9")
def test_a_compensation_cut_by_the_time_limit_is_cancelled() -> None:
    result = wfsim.run(saga_purchase(), faults=[SHIPPING_FAILS], time_limit="3.1s")
    assert result.status == "timed_out"
    expect = {"cancelled": ["refund_payment"], "never_started": ["release_inventory"]}
    assert check_expectations(expect, result) == []
    failure = only(check_expectations({"completed": ["refund_payment"]}, result))
    assert failure.message == (
        "expected refund_payment to complete, but it was cancelled (time limit reached)"
    )


# -- imperative runs: result and signals_received ------------------------------------------------


@wfsim.workflow(signals=["approval"])
async def approval(ctx: wfsim.WorkflowContext, request: dict[str, Any]) -> Any:
    answer = await ctx.wait_for_signal("approval", timeout="1d")
    if request.get("big"):
        return list(range(1000))  # too long for run_finished: only RunResult.result holds it
    return {"approved": answer["approved"], "pair": (1, 2)}


def approved(*signals: wfsim.Signal, **request: Any) -> wfsim.RunResult:
    return wfsim.run(approval, input=request, signals=signals)


APPROVE = wfsim.Signal("approval", at="2h", payload={"approved": True})


@pytest.mark.spec("SCN-9")
def test_result_of_an_imperative_run() -> None:
    result = approved(APPROVE)
    assert check_expectations({"result": {"approved": True, "pair": [1, 2]}}, result) == []
    failure = only(check_expectations({"result": {"approved": False, "pair": [1, 2]}}, result))
    assert failure.message == (
        'expected the run\'s result to be {"approved": false, "pair": [1, 2]}, '
        'but it was {"approved": true, "pair": [1, 2]}'
    )
    assert failure.trace_lines[-1].startswith("[      2h] #2 run_finished  status=")


@pytest.mark.spec("SCN-9")
def test_result_too_large_for_the_trace_is_still_checked() -> None:
    result = approved(APPROVE, big=True)
    assert result.trace.of_kind("run_finished")[0]["result"] is None
    assert check_expectations({"result": list(range(1000))}, result) == []
    failure = only(check_expectations({"result": [0, 1]}, result))
    assert failure.actual.startswith("[0, 1, 2, 3")


@pytest.mark.spec("SCN-9")
def test_signals_received_lists_the_signals_that_arrived_before_the_end() -> None:
    early = wfsim.Signal("approval", at="1h", payload={"approved": False})
    result = approved(APPROVE, early)  # the body ends at 1h: the 2h signal never arrives
    assert result.makespan == 3600
    assert check_expectations({"signals_received": ["approval"]}, result) == []
    assert check_expectations({"signals_received": []}, approved(APPROVE, big=True)) != []
    assert check_expectations({"signals_received": []}, wfsim.run(purchase())) == []


@pytest.mark.spec("SCN-9")
def test_signals_received_mismatches() -> None:
    result = approved(APPROVE)
    failure = only(check_expectations({"signals_received": []}, result))
    assert (failure.key, failure.expected, failure.actual) == (
        "signals_received",
        "none",
        "approval",
    )
    assert failure.message == "expected no signal to arrive, but approval at t=2h arrived"
    assert failure.trace_lines == (
        '[      2h] #1 signal_received  signal="approval" payload={"approved": true}',
    )
    failure = only(check_expectations({"signals_received": ["approval", "approval"]}, result))
    assert failure.message == (
        "expected approval, approval to arrive in this order, but approval at t=2h arrived"
    )
    # A signal due after the run ended is dropped (SIG-5): it never arrives.
    late = approved(wfsim.Signal("approval", at="2d"))
    assert late.status == "failed"
    failure = only(check_expectations({"signals_received": ["approval"]}, late))
    assert failure.message == (
        "expected approval to arrive, but no signal arrived before the run ended failed at "
        "t=24h (signals still pending then are dropped)"
    )
    assert failure.trace_lines[-1].startswith('[     24h] #1 run_finished  status="failed"')


@pytest.mark.spec("SCN-9")
@pytest.mark.parametrize("value", ["approval", [1], {"approval": 1}])
def test_signals_received_must_be_a_list_of_names(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^expect\.signals_received must be a list of signal"):
        check_expectations({"signals_received": value}, approved(APPROVE))


# -- parallel groups (SCN-12) -------------------------------------------------------------------


def ruvon(**group: Any) -> wfsim.Workflow:
    """Ruvon's tutorial: validate, then inventory (1 s), payment (1.5 s), fraud (2 s), ship."""
    wf = wfsim.Workflow("order_processing")
    wf.add_step("validate_order", output={"step": "validate_order"})
    wf.add_parallel(
        "checks",
        [
            wfsim.task("inventory", duration=1, output={"inventory_valid": True}),
            wfsim.task("payment", duration=1.5, output={"payment_valid": True}),
            wfsim.task("fraud", duration=2, output={"fraud_score": 0.12}),
        ],
        after=["validate_order"],
        **group,
    )
    wf.add_step("shipping", after=["checks"], output={"shipping_cost": 9.0})
    return wf


DECLINED = [Fault.error("checks/payment", error="CardDeclined", at="end")]


@pytest.mark.spec("SCN-9", "SCN-12")
def test_group_tasks_stand_wherever_steps_do() -> None:
    wf = ruvon(allow_partial_success=True)
    result = wfsim.run(wf, faults=DECLINED)
    expect = {
        "status": "completed",
        "order": ["validate_order < checks < shipping", "checks/fraud < shipping"],
        "attempts": {"checks": 1, "checks/payment": 1, "checks/fraud": 1},
        "retry_delays": {"checks/payment": []},
        "makespan": "2s",
        "completed": ["checks", "checks/inventory", "checks/fraud", "shipping"],
        "failed": ["checks/payment"],
        "never_started": [],
        "merged": {"checks": ["fraud_score", "inventory_valid"]},
        "trace_contains": [
            {"kind": "step_failed", "step": "checks/payment", "t": "1.5s", "error": "CardDeclined"},
            {"kind": "group_merged", "step": "checks", "failed": ["checks/payment"]},
        ],
    }
    assert check_expectations(expect, result, workflow=wf) == []
    assert check_expectations(expect, result) == []  # the names are read from the run too


@pytest.mark.spec("SCN-9", "SCN-12")
def test_a_group_starts_once_with_group_started() -> None:
    result = wfsim.run(ruvon())
    failure = only(check_expectations({"never_started": ["checks"]}, result))
    assert failure.message == "expected checks never to start, but it started at t=0s"
    assert failure.trace_lines == ("[      0s] #6 group_started checks tasks=3",)
    failure = only(check_expectations({"attempts": {"checks": 2}}, result))
    assert failure.message == "expected checks to make 2 attempts, but it made 1"
    failure = only(check_expectations({"order": ["checks < validate_order"]}, result))
    assert failure.message == (
        "expected checks to complete before validate_order started, but validate_order "
        "started at t=0s and checks completed at t=2s"
    )


@pytest.mark.spec("SCN-9", "SCN-12")
def test_merged_compares_the_keys_in_any_order() -> None:
    wf = ruvon(allow_partial_success=True)
    result = wfsim.run(wf, faults=DECLINED)
    assert (
        check_expectations({"merged": {"checks": ["inventory_valid", "fraud_score"]}}, result) == []
    )
    failure = only(
        check_expectations(
            {"merged": {"checks": ["inventory_valid", "payment_valid", "fraud_score"]}},
            result,
            line_of=lambda path: 7 if path == ("merged", "checks") else None,
        )
    )
    assert (failure.key, failure.line) == ("merged.checks", 7)
    assert (failure.expected, failure.actual) == (
        "[fraud_score, inventory_valid, payment_valid]",
        "[fraud_score, inventory_valid]",
    )
    assert failure.message == (
        "expected checks to merge exactly [fraud_score, inventory_valid, payment_valid], but it "
        "merged [fraud_score, inventory_valid] ([payment_valid] missing); failed tasks: "
        "checks/payment"
    )
    assert failure.trace_lines[0] == (
        '[    1.5s] #17 step_failed checks/payment reason="CardDeclined and the step has no '
        'retry policy" error="CardDeclined"'
    )
    assert failure.trace_lines[1].startswith(
        '[      2s] #20 group_merged checks tasks=["checks/inventory", "checks/fraud"] '
        'failed=["checks/payment"]'
    )
    failure = only(check_expectations({"merged": {"checks": ["fraud_score"]}}, result))
    assert failure.message == (
        "expected checks to merge exactly [fraud_score], but it merged [fraud_score, "
        "inventory_valid] ([inventory_valid] not expected); failed tasks: checks/payment"
    )


@pytest.mark.spec("SCN-9", "SCN-12")
def test_merged_when_the_group_failed_or_is_no_group() -> None:
    wf = ruvon()
    result = wfsim.run(wf, faults=DECLINED)
    failure = only(check_expectations({"merged": {"checks": []}}, result, workflow=wf))
    assert failure.message == (
        "expected checks to merge [], but it failed (parallel task 'checks/payment' failed: "
        "CardDeclined)"
    )
    assert [line.split()[3] for line in failure.trace_lines] == [
        "group_started",
        "group_failed",
        "step_failed",
    ]
    failure = only(check_expectations({"merged": {"shipping": []}}, result, workflow=wf))
    assert failure.message == "shipping is a step, not a parallel group; the groups are checks"
    failure = only(check_expectations({"merged": {"chekcs": []}}, result, workflow=wf))
    assert failure.message == (
        "workflow 'order_processing' has no step 'chekcs': did you mean 'checks'?"
    )
    skipped = wfsim.run(wf, faults=[Fault.error("validate_order")])
    failure = only(check_expectations({"merged": {"checks": []}}, skipped))
    assert failure.message == (
        "checks started no parallel group (the run has no group_started event of it)"
    )
    with pytest.raises(ValueError, match=r"^expect\.merged\.checks must be a list of context"):
        check_expectations({"merged": {"checks": "fraud_score"}}, result)


@pytest.mark.spec("SCN-9", "SCN-12")
def test_the_tasks_of_a_group_that_never_started_never_ran() -> None:
    wf = ruvon()
    result = wfsim.run(wf, faults=[Fault.error("validate_order")])
    expect = {"never_started": ["checks", "checks/fraud"], "skipped": ["checks", "shipping"]}
    assert check_expectations(expect, result, workflow=wf) == []
    failure = only(check_expectations({"skipped": ["checks/fraud"]}, result, workflow=wf))
    assert failure.message == (
        "expected checks/fraud to be skipped, but it never ran: its group checks was skipped "
        "(upstream 'validate_order' failed)"
    )
    assert failure.trace_lines == (
        "[      0s] #6 step_skipped checks reason=\"upstream 'validate_order' failed\" "
        "upstream_failed=true",
    )
    # Without the workflow, a task the run never made is unknown, as a typo is.
    failure = only(check_expectations({"never_started": ["checks/fraud"]}, result))
    assert failure.message == (
        "workflow 'order_processing' has no step 'checks/fraud': did you mean 'checks'?"
    )


@pytest.mark.spec("SCN-9", "SCN-12")
def test_a_missing_context_key_shows_what_the_group_merged() -> None:
    result = wfsim.run(ruvon(allow_partial_success=True), faults=DECLINED)
    failure = only(check_expectations({"context": {"payment_valid": True}}, result))
    assert failure.message == (
        "expected the final context to have payment_valid = true, but the context has no key "
        '"payment_valid"'
    )
    assert failure.trace_lines == ()  # the failed task returned nothing
    failure = only(check_expectations({"context": {"fraud_score": 1}}, result))
    assert [line.split()[3] for line in failure.trace_lines] == [
        "attempt_succeeded",
        "group_merged",
    ]
