"""``wfsim diff`` (CLI-12), run as real subprocesses like the rest of tests/cli."""

from __future__ import annotations

import json
import pathlib

import pytest

import wfsim
from tests.cli.test_cli import Done, wfsim_many, write
from wfsim.scenario import load_scenario, run_scenario

# Two workers for three simultaneous steps (the seed orders them) and a fault that a
# seed's dice decide: different seeds part somewhere after the start.
FLAKY = """\
scenario: diff me
seed: 1
workflow:
  name: diffme
  max_concurrency: 2
  steps:
    fetch: {duration: 1s}
    a: {after: [fetch], duration: 2s, retry: {max_attempts: 3, initial_interval: 1s}}
    b: {after: [fetch], duration: 1s}
    c: {after: [fetch], duration: 3s}
faults:
  - {step: a, error: ConnectionError, probability: 0.5}
expect:
  status: completed
"""


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return write(tmp_path_factory.mktemp("diff"), "flaky.wfsim.yaml", FLAKY)


def trace_of(path: pathlib.Path, seed: int) -> wfsim.Trace:
    return run_scenario(load_scenario(str(path)), seed=seed).result.trace


def parting_seeds(path: pathlib.Path) -> tuple[int, int]:
    """Two seeds whose traces differ after event 0 and in some step's attempts."""
    first = trace_of(path, 0)
    for seed in range(1, 30):
        other = trace_of(path, seed)
        if first.attempts("a") != other.attempts("a") and len(other.attempts("a")) > 1:
            return 0, seed
    raise AssertionError("no seed of the fixture retries 'a' differently from seed 0")


def write_trace(directory: pathlib.Path, name: str, trace: wfsim.Trace) -> pathlib.Path:
    path = directory / name
    path.write_text(trace.to_jsonl(), encoding="utf-8")
    return path


@pytest.mark.spec("CLI-12")
def test_identical_runs_exit_0(flaky: pathlib.Path) -> None:
    same = write_trace(flaky.parent, "same.jsonl", trace_of(flaky, 4))
    traces, scenario, scenarios = wfsim_many(
        ["diff", same, same],
        ["diff", flaky, "--seed", "4", "--against", same],
        ["diff", flaky, "--seed", "4", "--seed", "4", "--json"],
    )
    for done in (traces, scenario):
        assert (done.code, done.err) == (0, ""), str(done)
        assert done.out.endswith("identical: every event is the same\n"), str(done)
    assert f"A: {flaky} --seed 4 (" in scenario.out, str(scenario)
    data = json.loads(scenarios.out)
    assert (scenarios.code, data["identical"], data["first_difference"]) == (0, True, None)
    assert data["a"]["digest"] == data["b"]["digest"] == trace_of(flaky, 4).digest()


def _lines_between(done: Done, start: str, end: str) -> list[str]:
    lines = done.out.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.startswith(start))
    stop = next(i for i, line in enumerate(lines) if line.startswith(end))
    return lines[begin + 1 : stop]


@pytest.mark.spec("CLI-12")
def test_diverging_runs_show_the_first_difference_aligned_and_exit_1(
    flaky: pathlib.Path,
) -> None:
    one, two = parting_seeds(flaky)
    a, b = trace_of(flaky, one), trace_of(flaky, two)
    first = next(
        i for i, (x, y) in enumerate(zip(a, b, strict=False)) if i and x.to_json() != y.to_json()
    )
    a_file = write_trace(flaky.parent, "a.jsonl", a)
    b_file = write_trace(flaky.parent, "b.jsonl", b)
    traces, seeds, as_json = wfsim_many(
        ["diff", a_file, b_file, "--context", "2"],
        ["diff", flaky, "--seed", str(one), "--seed", str(two), "--context", "2"],
        ["diff", a_file, b_file, "--json"],
    )
    assert (traces.code, traces.err) == (1, ""), str(traces)
    assert traces.out.startswith(
        f"A: {a_file} ({len(a)} events, digest {a.digest()[:12]})\n"
        f"B: {b_file} ({len(b)} events, digest {b.digest()[:12]})\n"
        f"seeds differ: A ran seed {one}, B seed {two}\n"
        f"first difference at event #{first}:\n"
    ), str(traces)
    window = _lines_between(traces, "first difference", "summary:")
    # Two shared events before, then each differing index as an A line and a B line.
    assert window[:2] == [f"    {a[i].describe()}" for i in (first - 2, first - 1)]
    assert window[2:4] == [f"  A {a[first].describe()}", f"  B {b[first].describe()}"]
    assert len([line for line in window if line.startswith(("  A ", "  B "))]) >= 2
    summary = traces.out.split("summary: ", 1)[1]
    assert "only in A" in summary and "only in B" in summary
    assert "steps whose attempts or outcome differ:\n" in summary
    attempts = (len(a.attempts("a")), len(b.attempts("a")))
    assert f"  a: attempts {attempts[0]} -> {attempts[1]}" in summary, str(traces)
    # The same comparison from the scenario file and two seeds, and as JSON.
    assert seeds.code == 1 and seeds.out.split("\n", 2)[2] == traces.out.split("\n", 2)[2]
    data = json.loads(as_json.out)
    assert (as_json.code, data["identical"], data["seeds"]) == (1, False, [one, two])
    assert data["first_difference"]["index"] == first
    row = next(r for r in data["first_difference"]["context"] if r["index"] == first)
    assert (row["a"], row["b"]) == (a[first].to_dict(), b[first].to_dict())
    assert {"step": "a", "a": {"attempts": attempts[0], "outcome": "completed"},
            "b": {"attempts": attempts[1], "outcome": "completed"}} in data["steps"]


@pytest.mark.spec("CLI-12")
def test_a_longer_trace_shows_where_the_shorter_one_ended(flaky: pathlib.Path) -> None:
    full = trace_of(flaky, 2)
    cut = wfsim.Trace(full[:5])
    a_file = write_trace(flaky.parent, "full.jsonl", full)
    b_file = write_trace(flaky.parent, "cut.jsonl", cut)
    (done,) = wfsim_many(["diff", a_file, b_file])
    assert done.code == 1, str(done)
    window = _lines_between(done, "first difference at event #5", "summary:")
    assert window[3:5] == [f"  A {full[5].describe()}", "  B <trace ended after 5 events>"]
    assert f"summary: {len(full) - 5} events only in A, 0 only in B" in done.out


@pytest.mark.spec("CLI-12")
def test_bad_input_exits_2_with_one_line(flaky: pathlib.Path, tmp_path: pathlib.Path) -> None:
    good = write_trace(tmp_path, "good.jsonl", trace_of(flaky, 0))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(good.read_text().splitlines()[0] + '\n{"seq": 1}\n', encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    bad_yaml = write(tmp_path, "bad.wfsim.yaml", FLAKY.replace("expect:", "expekt:"))
    nope = tmp_path / "nope.wfsim.yaml"
    cases = {
        ("diff", good, broken): f"{broken}:2: not a trace event (one JSON object a line, with "
        "seq, t and kind, as `wfsim run --trace` writes): the event has no 't' field",
        ("diff", good, empty): f"{empty}: the trace file holds no events",
        ("diff", good, tmp_path / "missing.jsonl"): f"{tmp_path / 'missing.jsonl'}: cannot read "
        "the trace file: No such file or directory",
        ("diff", good): f"nothing to compare {good} with: give a second FILE, --against FILE, "
        "or a second --seed",
        ("diff", good, good, "--seed", "1"): f"--seed applies to scenario files, and {good} and "
        f"{good} are traces",
        ("diff", flaky, "--seed", "1", "--seed", "2", "--against", good): "two seeds need two "
        f"scenario files to run, and {good} is a trace; give one --seed",
        ("diff", flaky, good, "--against", good): "give the second run as a second FILE or as "
        "--against, not both",
        ("diff", good, good, good): "diff compares two runs, not 3: give at most two FILEs",
        ("diff", flaky, "--against", nope): f"{nope}: no such file (give a trace, "
        ".jsonl/.ndjson, or a scenario file)",
    }
    runs = wfsim_many(*cases, ["diff", bad_yaml, "--seed", "0", "--against", good],
                      ["diff", good, good, "--seed", "-1"])
    for done, message in zip(runs, cases.values(), strict=False):
        assert (done.code, done.out) == (2, ""), str(done)
        assert done.err == f"wfsim: {message}\n", str(done)
    yaml_error, negative = runs[-2:]
    assert (yaml_error.code, yaml_error.out) == (2, ""), str(yaml_error)
    assert yaml_error.err.startswith(f"wfsim: {bad_yaml}:") and "expekt" in yaml_error.err
    assert yaml_error.err.count("\n") == 1 and "Traceback" not in yaml_error.err
    assert negative.code == 2 and "seed must be an integer >= 0" in negative.err, str(negative)


@pytest.mark.spec("CLI-1", "CLI-12")
def test_diff_has_its_own_help() -> None:
    top, done = wfsim_many(["--help"], ["diff", "--help"])
    assert "    diff " in top.out, str(top)
    assert (done.code, done.err) == (0, ""), str(done)
    for word in ("--seed", "--against", "--json", "--context", "first", "Exit 0"):
        assert word in done.out, f"{word!r} missing\n{done}"
