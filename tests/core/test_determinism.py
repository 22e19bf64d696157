"""Determinism: same inputs, same trace; every decision from the run's choice source.

The workflows live in :mod:`tests.core.determinism_workflows` so that fresh
processes can import them as ``tests.core.determinism_workflows:NAME``.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import wfsim
from tests.core import determinism_workflows as dw

ROOT = Path(__file__).resolve().parents[2]
HELPERS = "tests.core.determinism_workflows"
SEEDS = range(100)


class LoggingChoices(wfsim.SeededChoices):
    """SeededChoices that also logs every call as ``(n, stream, value)``."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.log: list[tuple[int, str, int]] = []

    def choose(self, n: int, stream: str) -> int:
        value = super().choose(n, stream)
        self.log.append((n, stream, value))
        return value


def run_fanout(seed: int = 0, **kwargs: Any) -> wfsim.RunResult:
    kwargs.setdefault("faults", dw.FANOUT_FAULTS)
    result = wfsim.run(dw.FANOUT, seed=seed, **kwargs)
    assert result.status == "completed", result.message
    return result


def fanout_start_order(result: wfsim.RunResult) -> tuple[str, ...]:
    return tuple(s for s in result.trace.start_order() if s in dw.FANOUT_STEPS)


# -- DET-1 / DET-2 ---------------------------------------------------------------------------
@pytest.mark.spec("DET-1")
def test_same_process_same_digest() -> None:
    first = run_fanout(seed=7, input={"order": 7})
    again = run_fanout(seed=7, input={"order": 7})
    rebuilt = wfsim.run(dw.build_fanout(), seed=7, input={"order": 7}, faults=dw.FANOUT_FAULTS)
    assert again.trace.to_jsonl() == first.trace.to_jsonl()
    assert again.digest() == first.digest() == rebuilt.digest()
    assert again.choices == first.choices
    assert again.context == first.context


_CHILD = f"""
from {HELPERS} import fanout_digests
print("hash=" + str(hash("wfsim-hash-probe")))
for digest in fanout_digests(range({SEEDS.start}, {SEEDS.stop})):
    print(digest)
"""


def _spawn_digests(hash_seed: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.spec("DET-2")
def test_fresh_processes_with_different_hash_seeds_give_identical_digests() -> None:
    children = {h: _spawn_digests(h) for h in ("0", "4242")}
    here = dw.fanout_digests(SEEDS)  # computed while the children run
    outputs: dict[str, list[str]] = {}
    for hash_seed, proc in children.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"PYTHONHASHSEED={hash_seed} child failed:\n{err}"
        outputs[hash_seed] = out.splitlines()
    zero, other = outputs["0"], outputs["4242"]
    # The hash seeds really differ (else this test would prove nothing about them).
    assert zero[0].startswith("hash=") and other[0].startswith("hash=")
    assert zero[0] != other[0]
    zero, other = zero[1:], other[1:]
    assert len(zero) == len(other) == len(here) == len(SEEDS)
    for seed, a, b, c in zip(SEEDS, zero, other, here, strict=True):
        assert a == b == c, f"seed {seed}: PYTHONHASHSEED=0 {a}, =4242 {b}, this process {c}"
    assert len(set(here)) == len(SEEDS)  # the seeds do matter in this workflow


# -- DET-4 -----------------------------------------------------------------------------------
@pytest.mark.spec("DET-4")
def test_different_seeds_reorder_simultaneous_work() -> None:
    orders = {}
    for seed in range(21):
        result = run_fanout(seed=seed)  # asserts the run completed
        order = fanout_start_order(result)
        assert sorted(order) == list(dw.FANOUT_STEPS)
        # every fan-out step started at the same instant (t=1 s)
        starts = {e.step: e.t_ns for e in result.trace.of_kind("attempt_started") if e.attempt == 1}
        assert {starts[s] for s in dw.FANOUT_STEPS} == {wfsim.to_ns(1)}
        orders[seed] = order
    assert len(set(orders.values())) > 1
    assert len(set(orders.values())) > 15  # 20! orders: collisions would be suspicious


@pytest.mark.spec("DET-4")
def test_different_seeds_reorder_attempts_ending_at_the_same_instant() -> None:
    faulted = {f.step for f in dw.FANOUT_FAULTS}
    # code-less, 2 s, no retry, no fault: w00, w10, w15
    same_end = [s for i, s in enumerate(dw.FANOUT_STEPS) if i % 5 == 0 and s not in faulted]
    assert len(same_end) >= 3
    orders = set()
    for seed in range(21):
        result = run_fanout(seed=seed)
        ends = {e.t_ns for e in result.trace.of_kind("step_completed") if e.step in same_end}
        assert ends == {wfsim.to_ns(3)}
        orders.add(tuple(s for s in result.trace.completion_order() if s in same_end))
    assert len(orders) > 1


# -- DET-5 -----------------------------------------------------------------------------------
@pytest.mark.spec("DET-5")
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_replaying_choices_reproduces_the_run(seed: int) -> None:
    original = run_fanout(seed=seed)
    assert original.choices  # the run made decisions
    for choices in (original.choices, wfsim.Tape(original.choices), list(original.choices)):
        replay = run_fanout(seed=seed, choices=choices)
        assert replay.digest() == original.digest()
        assert replay.choices == original.choices
        assert replay.context == original.context


@pytest.mark.spec("DET-5")
@pytest.mark.parametrize("seed", [0, 3])
def test_replay_without_seed_reproduces_every_event_after_run_started(seed: int) -> None:
    original = run_fanout(seed=seed)
    replay = wfsim.run(dw.FANOUT, faults=dw.FANOUT_FAULTS, choices=original.choices)
    assert replay.choices == original.choices
    assert [e.to_json() for e in replay.trace[1:]] == [e.to_json() for e in original.trace[1:]]


@pytest.mark.spec("DET-5")
def test_replay_with_the_seed_reproduces_step_code_randomness() -> None:
    original = wfsim.run(dw.DICE, seed=3)
    replay = wfsim.run(dw.DICE, seed=3, choices=original.choices)
    assert replay.digest() == original.digest()
    assert replay.context == original.context


@pytest.mark.spec("DET-5")
def test_replay_without_seed_reproduces_step_code_randomness() -> None:
    original = wfsim.run(dw.DICE, seed=3)
    replay = wfsim.run(dw.DICE, choices=original.choices)
    assert replay.context == original.context


@pytest.mark.spec("DET-5")
def test_empty_tape_gives_the_canonical_order() -> None:
    canonical = run_fanout(choices=wfsim.Tape([]))
    assert canonical.choices and set(canonical.choices) == {0}
    # Past its end a tape is 0: an explicit all-zero tape and a plain empty list agree.
    zeros = run_fanout(choices=[0] * len(canonical.choices))
    empty_list = run_fanout(choices=[])
    assert zeros.digest() == empty_list.digest() == canonical.digest()
    # With a tape, the seed decides nothing (only run_started's label differs).
    other_seed = run_fanout(seed=9, choices=wfsim.Tape([]))
    assert [e.to_json() for e in other_seed.trace[1:]] == [e.to_json() for e in canonical.trace[1:]]
    # Choice 0 always picks the oldest ready work: the fan-out starts in declaration order.
    assert list(fanout_start_order(canonical)) == list(dw.FANOUT_STEPS)


@pytest.mark.spec("DET-5")
def test_tape_past_its_end_is_zero() -> None:
    result = run_fanout(choices=wfsim.Tape([5]))
    assert result.choices[0] == 5  # the first contested pick: 20 steps ready at t=1 s
    assert set(result.choices[1:]) == {0}
    assert fanout_start_order(result)[0] != fanout_start_order(run_fanout(choices=[]))[0]


@pytest.mark.spec("DET-5")
def test_tape_values_wrap_modulo_n() -> None:
    tape = wfsim.Tape([7, 10, 3, 2**40 + 2**31])
    assert tape.choose(5, "schedule") == 2
    assert tape.choose(5, "schedule") == 0
    assert tape.choose(3, "jitter") == 0
    assert tape.uniform("jitter") == 0.5  # (2**40 + 2**31) mod 2**32 == 2**31
    assert tape.choose(9, "schedule") == 0  # past the end
    assert tape.recorded == (2, 0, 0, 2**31, 0)

    # In a run: every value raised by a multiple of its n replays the same run.
    logged = LoggingChoices(11)
    original = run_fanout(seed=11, choices=logged)
    assert [v for _, _, v in logged.log] == list(original.choices)
    assert {stream for _, stream, _ in logged.log} == {"schedule", "jitter"}
    wrapped = [v + n * (i + 1) for i, (n, _, v) in enumerate(logged.log)]
    assert all(w >= n for w, (n, _, _) in zip(wrapped, logged.log, strict=True))
    replay = run_fanout(seed=11, choices=wfsim.Tape(wrapped))
    assert replay.digest() == original.digest()
    assert replay.choices == original.choices


# -- DET-3 -----------------------------------------------------------------------------------
def _draws(source: wfsim.SeededChoices, stream: str, sizes: list[int]) -> list[int]:
    return [source.choose(n, stream) for n in sizes]


@pytest.mark.spec("DET-3")
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_seeded_streams_are_independent(seed: int) -> None:
    sizes = [2, 3, 20, 7, 2**32, 5, 100, 2, 11] * 5
    alone = _draws(wfsim.SeededChoices(seed), "schedule", sizes)

    mixed = wfsim.SeededChoices(seed)
    schedule: list[int] = []
    jitter: list[float] = []
    for i, n in enumerate(sizes):
        for _ in range(i % 4):  # a varying number of draws on the other streams
            jitter.append(mixed.uniform("jitter"))
            mixed.choose(1 + i, "faults")
        schedule.append(mixed.choose(n, "schedule"))
    assert schedule == alone
    fresh = wfsim.SeededChoices(seed)
    assert [fresh.uniform("jitter") for _ in jitter] == jitter  # schedule draws don't shift it
    # Every call is one recorded choice, in call order.
    assert len(mixed.recorded) == len(sizes) + 2 * sum(i % 4 for i in range(len(sizes)))
    # A choice with one option draws nothing: the stream's values do not shift.
    single = wfsim.SeededChoices(seed)
    assert [(single.choose(1, "schedule"), single.choose(n, "schedule"))[1] for n in sizes] == alone


@pytest.mark.spec("DET-3")
def test_the_engine_asks_only_contested_choices() -> None:
    logged = LoggingChoices(4)
    result = run_fanout(seed=4, choices=logged)
    assert logged.log and all(n >= 2 for n, _, _ in logged.log)
    assert len(result.choices) == len(logged.log)


@pytest.mark.spec("DET-3")
def test_streams_are_derived_from_the_seed_not_from_hash() -> None:
    # The documented derivation: a PRNG per stream seeded from sha256(f"{seed}:{stream}").
    for seed in (0, 42):
        for stream in ("schedule", "jitter", "faults"):
            digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
            expected = random.Random(int.from_bytes(digest[:8], "big"))
            source = wfsim.SeededChoices(seed)
            assert _draws(source, stream, [1000] * 10) == [
                expected.randrange(1000) for _ in range(10)
            ]
    a, b = wfsim.SeededChoices(0), wfsim.SeededChoices(1)
    assert _draws(a, "schedule", [2**32] * 4) != _draws(b, "schedule", [2**32] * 4)
    c = wfsim.SeededChoices(0)
    assert _draws(c, "schedule", [2**32] * 4) != _draws(c, "jitter", [2**32] * 4)


@pytest.mark.spec("DET-3")
def test_seeded_choices_are_randrange_of_the_stream_for_many_seeds_and_sizes() -> None:
    # SeededChoices draws from the stream's getrandbits as randrange does (without its
    # argument checks): the values must stay exactly randrange's, or every pinned digest
    # moves.
    sizes = [2, 3, 5, 7, 10, 16, 17, 100, 255, 256, 1000, 2**31 - 1, 2**32, 2**33 + 1, 2**62]
    sizes += [10**30, 2**64 + 3]
    for seed in [*range(300), 2**40, -7]:
        source = wfsim.SeededChoices(seed)
        for stream in ("schedule", "jitter", "faults", "random"):
            digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
            expected = random.Random(int.from_bytes(digest[:8], "big"))
            order = sizes[seed % len(sizes) :] + sizes[: seed % len(sizes)]
            assert _draws(source, stream, order) == [expected.randrange(n) for n in order]
            assert source.uniform(stream) == expected.randrange(2**32) / 2**32


async def _tick(ctx: wfsim.StepContext) -> None:
    await ctx.sleep(1)
    await ctx.sleep(1)


def _independence_workflow(x_retry: wfsim.RetryPolicy) -> wfsim.Workflow:
    """12 steps at t=0 on whole-second instants, plus ``x`` whose retries land in between."""
    wf = wfsim.Workflow("streams")
    wf.add_step("x", duration="500ms", retry=x_retry)
    names = []
    for i in range(12):
        name = f"s{i:02d}"
        names.append(name)
        if i % 3 == 0:
            wf.add_step(name, fn=_tick)
        else:
            wf.add_step(name, duration=1 + i % 2, output={name: i})
    wf.add_step("join", duration=1, after=names)
    return wf


def _others(result: wfsim.RunResult) -> list[tuple[Any, ...]]:
    """The trace without step ``x`` and without sequence numbers."""
    return [
        (e.t_ns, e.kind, e.step, e.attempt, dict(e.fields)) for e in result.trace if e.step != "x"
    ]


@pytest.mark.spec("DET-3")
@pytest.mark.parametrize("seed", range(5))
def test_faults_and_jitter_elsewhere_leave_the_schedule_stream_alone(seed: int) -> None:
    cap = {"initial_interval": "250ms", "max_interval": "250ms", "max_attempts": 3}
    variants = {
        "plain": (wfsim.RetryPolicy(**cap), []),
        # a fault draws nothing: x fails at t=0, retries at 0.25 s (no instant of the others)
        "fault": (wfsim.RetryPolicy(**cap), [wfsim.Fault.error("x", attempts=[1])]),
        # jitter draws from its own stream: x retries somewhere in [0, 0.25) s
        "fault+full": (
            wfsim.RetryPolicy(**cap, jitter="full"),
            [wfsim.Fault.error("x", attempts=[1, 2])],
        ),
        "fault+equal": (
            wfsim.RetryPolicy(**cap, jitter="equal"),
            [wfsim.Fault.error("x", attempts=[1])],
        ),
    }
    expected_jitter_draws = {"plain": 0, "fault": 0, "fault+full": 2, "fault+equal": 1}
    expected_attempts = {"plain": 1, "fault": 2, "fault+full": 3, "fault+equal": 2}
    runs = {}
    for label, (policy, faults) in variants.items():
        choices = LoggingChoices(seed)
        result = wfsim.run(
            _independence_workflow(policy), seed=seed, faults=faults, choices=choices
        )
        assert result.status == "completed", result.message
        runs[label] = (result, choices.log)

    base, base_log = runs["plain"]
    base_schedule = [(n, v) for n, stream, v in base_log if stream == "schedule"]
    for label, (result, log) in runs.items():
        assert [(n, v) for n, stream, v in log if stream == "schedule"] == base_schedule, label
        assert result.trace.start_order() == base.trace.start_order(), label
        assert _others(result) == _others(base), label
        jitter_draws = [v for _, stream, v in log if stream == "jitter"]
        assert len(jitter_draws) == expected_jitter_draws[label], label
        assert result.steps["x"].attempts == expected_attempts[label], label
    assert runs["fault+full"][0].digest() != base.digest()


# -- DET-6 -----------------------------------------------------------------------------------
def _trio_rng() -> random.Random:
    core_run = getattr(getattr(trio, "_core", None), "_run", None)
    rng = getattr(core_run, "_r", None)
    if not isinstance(rng, random.Random):
        pytest.skip("trio._core._run._r is gone: cannot perturb trio's scheduling RNG")
    return rng


TRIO_SEEDS = (0, 1, 2, 3, 99, 4242, 2**31 - 1)


@pytest.mark.spec("DET-6")
def test_trio_task_order_never_shows() -> None:
    rng = _trio_rng()
    saved = rng.getstate()
    digests, logs = set(), set()
    try:
        for trio_seed in TRIO_SEEDS:
            rng.seed(trio_seed)
            result = wfsim.run(dw.INTERLEAVE, seed=5)
            assert result.status == "completed", result.message
            digests.add(result.digest())
            logs.add(tuple(result.context["log"]))
    finally:
        rng.setstate(saved)
    assert len(digests) == 1
    assert len(logs) == 1
    (log,) = logs
    assert len(log) == dw.INTERLEAVE_WIDTH * 6
    # Only one piece of step code runs at a time, even across a trio checkpoint.
    for before, after in zip(log[::2], log[1::2], strict=True):
        assert after == before + "+", (before, after)
    # The log does record the interleaving: another wfsim seed gives another one.
    assert tuple(wfsim.run(dw.INTERLEAVE, seed=6).context["log"]) != log


@pytest.mark.spec("DET-6")
def test_reseeding_trio_does_reorder_raw_trio_tasks() -> None:
    """The premise of the test above: trio's RNG does decide raw trio task order."""

    async def main() -> tuple[int, ...]:
        out: list[int] = []

        async def task(i: int) -> None:
            for _ in range(3):
                out.append(i)
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(task, i)
        return tuple(out)

    rng = _trio_rng()
    saved = rng.getstate()
    try:
        orders = set()
        for trio_seed in TRIO_SEEDS:
            rng.seed(trio_seed)
            orders.add(trio.run(main))
    finally:
        rng.setstate(saved)
    if len(orders) == 1:
        pytest.skip("reseeding trio._core._run._r no longer changes trio's task order")
    assert len(orders) > 1


# -- DET-7 -----------------------------------------------------------------------------------
@pytest.mark.spec("DET-7")
def test_check_determinism_of_a_module_attr_target() -> None:
    report = wfsim.check_determinism(f"{HELPERS}:FANOUT", seed=3)
    assert report
    assert report.ok and report.first_divergence is None
    assert report.event is None and report.other_event is None
    expected = wfsim.run(dw.FANOUT, seed=3).digest()
    assert report.digest == report.other_digest == expected
    assert expected in report.explain()


@pytest.mark.spec("DET-2", "DET-7")
def test_check_determinism_of_a_workflow_object_with_faults() -> None:
    report = wfsim.check_determinism(dw.FANOUT, seed=3, faults=dw.FANOUT_FAULTS, hash_seed="77")
    assert report, report.explain()
    assert report.digest == run_fanout(seed=3).digest()


@pytest.mark.spec("DET-7")
def test_check_determinism_names_the_first_diverging_event() -> None:
    local = wfsim.run(dw.NONDETERMINISTIC, seed=3).trace
    expected = next(
        i for i, e in enumerate(local) if e.kind == "attempt_succeeded" and e.step == "coin"
    )
    report = wfsim.check_determinism(f"{HELPERS}:NONDETERMINISTIC", seed=3)
    assert not report
    assert report.first_divergence == expected
    assert report.event is not None and report.other_event is not None
    assert (report.event.kind, report.event.step) == ("attempt_succeeded", "coin")
    assert report.event["output"] != report.other_event["output"]
    assert report.digest != report.other_digest
    text = report.explain()
    assert "diverge" in text
    assert f"#{expected}" in text


@pytest.mark.spec("DET-7")
def test_check_determinism_rejects_a_local_step_function() -> None:
    wf = wfsim.Workflow("local")

    async def local_step(ctx: wfsim.StepContext) -> None:
        await ctx.sleep(1)

    wf.add_step("local_step", fn=local_step)
    with pytest.raises(wfsim.DeterminismError, match="'module:attr'"):
        wfsim.check_determinism(wf, seed=3)
