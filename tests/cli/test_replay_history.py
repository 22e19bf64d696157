"""``wfsim replay-history`` (CLI-14), run as real subprocesses like the rest of tests/cli."""

from __future__ import annotations

import pathlib

import pytest

from tests.cli.test_cli import wfsim_many, write

HISTORY = "examples/histories/order_v1_in_flight.jsonl"
FORMAT1 = "tests/core/histories/order_v1_in_flight.format1.jsonl"
INPUT = '{"id": 7, "amount": 30}'


@pytest.mark.spec("CLI-14", "IMP-14")
def test_replay_history_exits_0_1_2(tmp_path: pathlib.Path) -> None:
    bad = write(tmp_path, "bad.jsonl", "no trace\n")
    ok, diverged, other, not_trace, no_attr, bad_input, old, new_arg = wfsim_many(
        (
            "replay-history",
            HISTORY,
            "--workflow",
            "examples.order_versions:order_v2",
            "--input",
            INPUT,
        ),
        (
            "replay-history",
            HISTORY,
            "--workflow",
            "examples.order_versions:order_v2_breaking",
            "--input",
            INPUT,
        ),
        ("replay-history", HISTORY, "--workflow", "examples.durable_payment:checkout"),
        ("replay-history", bad, "--workflow", "examples.order_versions:order_v2"),
        ("replay-history", HISTORY, "--workflow", "examples.order_versions:nope"),
        (
            "replay-history",
            HISTORY,
            "--workflow",
            "examples.order_versions:order_v2",
            "--input",
            "{",
        ),
        (
            "replay-history",
            FORMAT1,
            "--workflow",
            "examples.order_versions:order_v2_new_argument",
            "--input",
            INPUT,
        ),
        (
            "replay-history",
            HISTORY,
            "--workflow",
            "examples.order_versions:order_v2_new_argument",
            "--input",
            INPUT,
        ),
    )
    assert (ok.code, ok.err) == (0, ""), ok
    assert ok.out == (
        f"{HISTORY}: workflow 'order' reproduces the recorded run (2 call(s) replayed)\n"
    )
    assert diverged.code == 1, diverged
    assert diverged.out.startswith(
        f"{HISTORY}: diverged at history#2: workflow 'order' is not deterministic: replaying "
        "its history, command 2 of the recorded run (history#2) was the call 'charge', but "
        "now it is ctx.step(check_fraud, "
    ), diverged
    assert (other.code, other.err) == (
        2,
        f"wfsim: {HISTORY} is a history of workflow 'order', not of 'checkout'\n",
    ), other
    assert not_trace.code == 2 and not_trace.err.startswith(f"wfsim: {bad}:1: not a trace event")
    assert (no_attr.code, no_attr.err) == (
        2,
        "wfsim: --workflow 'examples.order_versions:nope': expected a @wfsim.workflow body, "
        "found nothing\n",
    ), no_attr
    assert bad_input.code == 2 and bad_input.err.startswith("wfsim: --input: not JSON"), bad_input
    assert (old.code, old.err) == (0, ""), old
    assert old.out == (
        f"{FORMAT1}: workflow 'order' reproduces the recorded run (2 call(s) replayed; "
        "arguments not compared: the history was recorded before trace format 2 (TRACE-5))\n"
    )
    assert new_arg.code == 1, new_arg
    assert (
        """was the call 'charge' with arguments ({"amount":30,"id":7}), but now it is the call """
        """'charge' with arguments ({"amount":30,"id":7}, cents=3000)"""
    ) in new_arg.out, new_arg
