"""The ``wfsim`` command line, run as real subprocesses from the repository root.

Rules: ``specs/cli.md`` (CLI-1 to CLI-10). Every test starts ``python -m wfsim`` (or the
``wfsim`` console script next to ``sys.executable``) with cwd = the repository, so the
messages name files as the tests name them. To keep the suite fast, the commands of one
test start together (``wfsim_many``) and tests that look at the same command share its
result.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from collections.abc import Sequence

import attrs
import jsonschema
import pytest
import yaml

import wfsim
from wfsim.scenario import load_scenario, run_scenario, schema

REPO = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
INVALID = REPO / "tests" / "scenario" / "invalid"
PYTHON_M = (sys.executable, "-m", "wfsim")
CONSOLE_SCRIPT = pathlib.Path(sys.executable).with_name("wfsim")
HEX64 = re.compile(r"[0-9a-f]{64}")
TIMEOUT = 120

# A passing scenario in virtual hours: a 2 h extract, three 1 h transforms on two workers
# (simultaneous work the seed orders), and a 2 h load that fails at the end of its first
# three attempts and waits 1 h, 2 h, 4 h between them: 19 h of virtual time.
NIGHTLY = """\
scenario: nightly batch with hour-long steps
seed: 7
workflow:
  name: nightly
  max_concurrency: 2
  steps:
    extract: {duration: 2h, output: {rows: 1000}}
    transform_a: {after: [extract], duration: 1h}
    transform_b: {after: [extract], duration: 1h}
    transform_c: {after: [extract], duration: 1h}
    load:
      after: [transform_a, transform_b, transform_c]
      duration: 2h
      timeout: 3h
      retry: {max_attempts: 4, initial_interval: 1h, backoff_coefficient: 2}
faults:
  - {step: load, attempts: [1, 2, 3], error: ConnectionError, at: end}
expect:
  status: completed
  attempts: {load: 4}
  retry_delays: {load: [1h, 2h, 4h]}
  order: [extract < transform_a < load, extract < transform_c < load]
  completed: [extract, transform_a, transform_b, transform_c, load]
  makespan: 19h
  context: {rows: 1000}
"""
NIGHTLY_EDGES = {
    ("extract", "transform_a"),
    ("extract", "transform_b"),
    ("extract", "transform_c"),
    ("transform_a", "load"),
    ("transform_b", "load"),
    ("transform_c", "load"),
}

# A scenario whose second expectation is wrong: the run takes 3 s, not 5 s.
WRONG = """\
scenario: two steps with a wrong makespan
seed: 3
workflow:
  steps:
    a: {duration: 1s}
    b: {after: [a], duration: 2s}
expect:
  status: completed
  makespan: 5s
  attempts: {a: 1}
"""
WRONG_MAKESPAN_LINE = 9


@attrs.frozen
class Done:
    """One finished ``wfsim`` subprocess."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def __str__(self) -> str:  # the message of failing asserts (str: pytest would shorten it)
        return (
            f"$ wfsim {' '.join(self.argv)}\nexit {self.code}\n--- stdout\n{self.out}"
            f"--- stderr\n{self.err}"
        )


# The CLI is deterministic, so a command's result is kept for the whole module: tests that
# look at the same command from different rules share one subprocess.
_RESULTS: dict[tuple[str, ...], Done] = {}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "100"  # help text wraps the same everywhere
    return env


def wfsim_many(
    *argvs: Sequence[str | os.PathLike[str]], program: Sequence[str] = PYTHON_M, fresh: bool = False
) -> list[Done]:
    """Run ``wfsim ARGV`` for every argv (all started at once, cwd = the repository)."""
    keys = [(*program, *map(str, argv)) for argv in argvs]
    todo = [key for key in dict.fromkeys(keys) if fresh or key not in _RESULTS]
    started = []
    for key in todo:
        begin = time.perf_counter()
        proc = subprocess.Popen(
            key,
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        started.append((key, begin, proc))
    for key, begin, proc in started:
        out, err = proc.communicate(timeout=TIMEOUT)
        _RESULTS[key] = Done(
            key[len(program) :], proc.returncode, out, err, time.perf_counter() - begin
        )
    return [_RESULTS[key] for key in keys]


def wfsim_cli(
    *argv: str | os.PathLike[str], program: Sequence[str] = PYTHON_M, fresh: bool = False
) -> Done:
    return wfsim_many(argv, program=program, fresh=fresh)[0]


@attrs.frozen
class Files:
    """The module's scenario files (one directory, so their commands can be shared)."""

    dir: pathlib.Path
    nightly: pathlib.Path
    wrong: pathlib.Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("cli")
    return Files(
        directory,
        write(directory, "nightly.wfsim.yaml", NIGHTLY),
        write(directory, "wrong.wfsim.yaml", WRONG),
    )


def write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def rel(path: pathlib.Path) -> str:
    return path.relative_to(REPO).as_posix()


def expected_error(case: pathlib.Path) -> str:
    return case.with_suffix("").with_suffix(".error").read_text(encoding="utf-8").rstrip("\n")


def assert_usage_error(done: Done, prog: str) -> None:
    assert done.code == 2, str(done)
    assert done.out == "", str(done)
    assert done.err.startswith(f"usage: {prog}"), str(done)
    assert f"{prog}: error: " in done.err, str(done)
    assert "Traceback" not in done.err, str(done)


def digest_of(text: str) -> str:
    """The digest in a ``run`` (``status: ... digest: HEX``) or ``replay`` output."""
    found = re.findall(r"digest: ([0-9a-f]{64})", text)
    assert len(found) == 1, text
    return found[0]


def in_process_trace(path: pathlib.Path | str) -> wfsim.Trace:
    """What ``wfsim.run`` gives in this process for the scenario's workflow and settings."""
    sc = load_scenario(str(path))
    result = wfsim.run(
        sc.workflow,
        input=sc.input,
        seed=sc.seed,
        faults=sc.faults,
        time_limit=f"{sc.time_limit_ns}ns",
        epoch=sc.epoch,
    )
    return result.trace


def scenario_files() -> list[pathlib.Path]:
    return sorted(SCENARIOS.rglob("*.wfsim.yaml"))


# --- CLI-1: verbs and help ---------------------------------------------------------------

VERB_WORDS = {
    "run": ["FILE", "--seed", "--trace", "--json", "--quiet", "--verbose", "expectation"],
    "check": ["FILE", "validate"],
    "replay": ["FILE", "--seed", "--trace", "--timeline", "--json", "digest", "--fault-rate"],
    "graph": ["FILE", "--format", "mermaid", "dot"],
    "minimise": ["FILE", "--seed", "--fault-rate", "--swarm", "--key", "--output", "shrink"],
    "schema": ["JSON Schema", "2020-12"],
    "report": ["FILE", "--seed", "--campaign", "--out", "--output", "HTML", "trace"],
}
BACKOFF = "scenarios/pyworkflow_retry_backoff.wfsim.yaml"


@pytest.mark.spec("CLI-1")
def test_help_lists_every_verb_and_each_verb_has_its_own_help() -> None:
    top, *verbs = wfsim_many(["--help"], *([verb, "--help"] for verb in VERB_WORDS))
    assert top.code == 0 and top.err == "", str(top)
    assert top.out.startswith("usage: wfsim"), str(top)
    for verb in VERB_WORDS:
        assert re.search(rf"^\s+{verb}\s+\S", top.out, re.M), f"{verb} not listed\n{top}"
    assert "Exit codes" in top.out and "2 bad input" in top.out, str(top)
    for verb, done in zip(VERB_WORDS, verbs, strict=True):
        assert done.code == 0 and done.err == "", str(done)
        assert done.out.startswith(f"usage: wfsim {verb}"), str(done)
        for word in VERB_WORDS[verb]:
            assert word.lower() in done.out.lower(), f"{word!r} missing\n{done}"


@pytest.mark.spec("CLI-1")
def test_version() -> None:
    done = wfsim_cli("--version")
    assert (done.code, done.out, done.err) == (0, f"wfsim {wfsim.__version__}\n", ""), str(done)


@pytest.mark.spec("CLI-1")
def test_usage_errors_exit_2_with_the_usage() -> None:
    nothing, unknown, replay_no_seed, bad_format, bad_option = wfsim_many(
        [],
        ["simulate-everything"],
        ["replay", BACKOFF],
        ["graph", BACKOFF, "--format", "svg"],
        ["check", BACKOFF, "--frobnicate"],
    )
    assert_usage_error(nothing, "wfsim")
    assert "COMMAND" in nothing.err, str(nothing)
    assert_usage_error(unknown, "wfsim")
    assert "invalid choice: 'simulate-everything'" in unknown.err, str(unknown)
    assert_usage_error(replay_no_seed, "wfsim replay")
    assert "--seed" in replay_no_seed.err, str(replay_no_seed)
    assert_usage_error(bad_format, "wfsim graph")
    assert "'svg'" in bad_format.err, str(bad_format)
    assert_usage_error(bad_option, "wfsim")
    assert "--frobnicate" in bad_option.err, str(bad_option)


@pytest.mark.spec("CLI-1", "CLI-3")
def test_the_console_script_is_the_same_program_as_python_m_wfsim() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"no wfsim console script next to {sys.executable}"
    version, by_script = wfsim_many(
        ["--version"], ["run", "-q", BACKOFF], program=[str(CONSOLE_SCRIPT)]
    )
    by_module = wfsim_cli("run", "-q", BACKOFF)
    assert (version.code, version.out) == (0, f"wfsim {wfsim.__version__}\n"), str(version)
    assert by_script.code == 0 and by_script.out.startswith(f"ok    {BACKOFF}  seed "), str(
        by_script
    )
    assert (by_script.code, by_script.out, by_script.err) == (
        by_module.code,
        by_module.out,
        by_module.err,
    ), f"{by_script}\n{by_module}"


# --- CLI-2: exit codes -------------------------------------------------------------------


@pytest.mark.spec("CLI-2")
def test_exit_0_when_every_expectation_holds_1_when_one_fails(files: Files) -> None:
    results = wfsim_many(
        ["run", files.nightly],
        ["run", "-q", files.wrong],
        ["replay", files.nightly, "--seed", "7"],
        ["replay", files.wrong, "--seed", "3"],
    )
    assert [done.code for done in results] == [0, 1, 0, 1], "\n".join(map(str, results))
    for done in results:
        assert done.err == "", str(done)


@pytest.mark.spec("CLI-2")
def test_missing_paths_are_bad_input(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "no_such.wfsim.yaml"
    run, replay = wfsim_many(["run", missing], ["replay", missing, "--seed", "1"])
    for done in (run, replay):
        assert (done.code, done.out) == (2, ""), str(done)
        assert done.err.startswith(f"{missing}: "), str(done)
        assert len(done.err.splitlines()) == 1, done  # one line, no traceback
        assert "no such file" in done.err.lower(), str(done)


@pytest.mark.spec("CLI-2")
def test_an_invalid_scenario_prints_exactly_the_loaders_message() -> None:
    cases = [
        INVALID / "11_cycle.wfsim.yaml",
        INVALID / "18_duplicate_key.wfsim.yaml",
        INVALID / "27_python_import_failure.wfsim.yaml",
    ]
    messages = [expected_error(case) for case in cases]
    for case, message in zip(cases, messages, strict=True):
        assert message.startswith(f"{rel(case)}:"), message
    run, replay, graph = wfsim_many(
        ["run", *(rel(case) for case in cases)],
        ["replay", rel(cases[0]), "--seed", "1"],
        ["graph", rel(cases[2])],
    )
    assert (run.code, run.err) == (2, "".join(m + "\n" for m in messages)), str(run)
    assert "scenario:" not in run.out, run  # nothing ran (a summary line may follow)
    assert (replay.code, replay.out, replay.err) == (2, "", messages[0] + "\n"), str(replay)
    assert (graph.code, graph.out, graph.err) == (2, "", messages[2] + "\n"), str(graph)


@pytest.mark.spec("CLI-2", "CLI-3")
def test_bad_input_wins_but_the_other_scenarios_still_run(
    files: Files, tmp_path: pathlib.Path
) -> None:
    invalid = rel(INVALID / "15_unknown_error_class.wfsim.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = wfsim_cli("run", "-q", files.wrong, invalid, empty, BACKOFF)
    assert done.code == 2, str(done)
    assert done.err.splitlines() == [
        f"{empty}: no .wfsim.yaml files in this directory",
        expected_error(REPO / invalid),
    ], str(done)
    assert re.search(rf"^FAIL  {files.wrong} .* failed: expect\.makespan$", done.out, re.M), done
    assert re.search(rf"^ok    {BACKOFF} ", done.out, re.M), str(done)
    assert done.out.rstrip().splitlines()[-1] == "1 passed, 1 failed, 1 invalid", str(done)


@pytest.mark.spec("CLI-2")
def test_a_trace_that_cannot_be_written_is_bad_input(files: Files, tmp_path: pathlib.Path) -> None:
    a_file = write(tmp_path, "not_a_dir", "x")
    results = wfsim_many(
        ["run", files.nightly, "--trace", tmp_path],  # a directory where a file is needed
        ["replay", files.nightly, "--seed", "1", "--trace", a_file / "t.jsonl"],  # under a file
    )
    for done in results:
        assert done.code == 2, str(done)
        assert "Traceback" not in done.err, str(done)
        assert len(done.err.splitlines()) == 1, str(done)


# --- CLI-3: run ----------------------------------------------------------------------------


def _between(text: str, start: str, end: str) -> list[str]:
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if line.startswith(end))
    return lines[first + 1 : last]


@pytest.mark.spec("CLI-3")
def test_run_prints_one_line_per_scenario(files: Files) -> None:
    done, quiet = wfsim_many(["run", files.nightly], ["run", "-q", files.nightly])
    assert done.code == 0 and done.err == "", str(done)
    [line] = done.out.splitlines()
    match = re.fullmatch(rf"ok    {files.nightly}  seed 7  completed  makespan (\S+)", line)
    assert match and wfsim.to_ns(match.group(1)) == 19 * 3600 * 10**9, str(done)
    assert (quiet.code, quiet.out) == (0, done.out), str(quiet)


@pytest.mark.spec("CLI-3")
def test_run_v_prints_the_timeline_status_makespan_digest_and_each_expectation(
    files: Files,
) -> None:
    done = wfsim_cli("run", "-v", files.nightly)
    assert done.code == 0 and done.err == "", str(done)
    here = run_scenario(load_scenario(str(files.nightly)))
    lines = done.out.splitlines()
    assert lines[0] == "scenario: nightly batch with hour-long steps", str(done)
    assert lines[1] == f"file: {files.nightly}  seed: 7", str(done)
    assert _between(done.out, "file: ", "status: ") == here.result.trace.format().splitlines()
    # virtual time, sequence number, kind, step#attempt, fields
    assert re.search(r"^\[\s+17h\] #\d+ attempt_started load#4$", done.out, re.M), str(done)
    assert re.search(
        r"^\[\s+13h\] #\d+ retry_scheduled load#3 delay=14400\.0 next_attempt=4$", done.out, re.M
    ), str(done)
    status = next(line for line in lines if line.startswith("status: "))
    match = re.fullmatch(r"status: (\w+)  makespan: (\S+)  digest: ([0-9a-f]{64})", status)
    assert match, status
    assert match.group(1) == "completed"
    assert wfsim.to_ns(match.group(2)) == 19 * 3600 * 10**9
    assert match.group(3) == here.result.digest()
    verdicts = [line for line in lines if line.startswith("  ")]
    keys = ["status", "attempts", "retry_delays", "order", "completed", "makespan", "context"]
    assert verdicts == [f"  ok   expect.{key}" for key in keys], str(done)
    assert "replay:" not in done.out
    assert_usage_error(wfsim_cli("run", "-q", "-v", files.nightly), "wfsim run")


@pytest.mark.spec("CLI-3")
def test_a_failing_expectation_reports_expected_actual_and_the_replay_line(
    files: Files,
) -> None:
    path = files.wrong
    done, seeded, quiet = wfsim_many(
        ["run", path], ["run", path, "--seed", "41"], ["run", "-q", path]
    )
    assert done.code == 1, str(done)
    out = done.out
    first = out.splitlines()[0]
    assert first == f"FAIL  {path}  seed 3  completed  makespan 3s  failed: expect.makespan"
    assert f"{path}:{WRONG_MAKESPAN_LINE}: expect.makespan: " in out, str(done)
    assert re.search(r"^\s+expected: == 5s$", out, re.M), str(done)
    assert re.search(r"^\s+actual:\s+3s$", out, re.M), str(done)
    assert re.search(r"^\s+\[\s+3s\] #\d+ run_finished", out, re.M), done  # trace lines
    assert re.search(rf"^\s+replay: wfsim replay {path} --seed 3$", out, re.M), str(done)
    # --seed replaces the scenario's seed everywhere, the replay line included
    assert seeded.code == 1, str(seeded)
    assert f"FAIL  {path}  seed 41  " in seeded.out, str(seeded)
    assert f"replay: wfsim replay {path} --seed 41\n" in seeded.out, str(seeded)
    assert "--seed 3\n" not in seeded.out, str(seeded)
    # -q: the one line only
    assert (quiet.code, quiet.out) == (1, first + "\n"), str(quiet)


@pytest.mark.spec("CLI-3")
def test_run_a_directory_runs_every_scenario_in_it() -> None:
    paths = scenario_files()
    assert len(paths) >= 5
    done = wfsim_cli("run", "-q", "scenarios/")
    assert done.code == 0 and done.err == "", str(done)
    *lines, summary = done.out.splitlines()
    shown = [re.match(r"ok    (\S+) +seed \d+  \w+  makespan \S+$", line) for line in lines]
    assert all(shown), str(done)
    assert [m.group(1) for m in shown if m] == [rel(path) for path in paths], str(done)
    assert summary == f"{len(paths)} passed, 0 failed", str(done)


@pytest.mark.spec("CLI-3")
def test_seed_must_be_a_non_negative_integer(files: Files) -> None:
    assert_usage_error(wfsim_cli("run", files.nightly, "--seed", "-1"), "wfsim run")


@pytest.mark.spec("CLI-3")
def test_printed_times_read_back_exactly(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "long.wfsim.yaml",
        """\
scenario: a day and then some
workflow:
  steps:
    long: {duration: 100000.5}
    short: {after: [long], duration: 1250ms}
""",
    )
    done = wfsim_cli("run", "-v", path)
    makespan_ns = 100_001_750_000_000
    assert done.code == 0, str(done)
    printed = re.search(r"makespan: (\S+)", done.out)
    assert printed and wfsim.to_ns(printed.group(1)) == makespan_ns, str(done)
    times = re.findall(r"^\[\s*(\S+)\] #\d+ run_finished", done.out, re.M)
    assert [wfsim.to_ns(t) for t in times] == [makespan_ns], str(done)


# --- CLI-4: --json -----------------------------------------------------------------------

JSON_KEYS = {"scenario", "file", "seed", "status", "makespan", "passed", "failures", "trace_digest"}


@pytest.mark.spec("CLI-4")
def test_json_prints_one_object_per_scenario(files: Files) -> None:
    both, replay = wfsim_many(
        ["run", "--json", files.nightly, files.wrong],
        ["replay", "--json", files.wrong, "--seed", "5"],
    )
    assert both.code == 1 and both.err == "", str(both)
    objects = [json.loads(line) for line in both.out.splitlines()]
    assert len(objects) == 2, str(both)
    for obj in objects:
        assert set(obj) >= JSON_KEYS, obj
    nightly, wrong = objects
    assert nightly["scenario"] == "nightly batch with hour-long steps"
    assert nightly["file"] == str(files.nightly)
    assert (nightly["seed"], nightly["status"], nightly["passed"]) == (7, "completed", True)
    assert nightly["makespan"] == 19 * 3600
    assert nightly["failures"] == []
    assert nightly["trace_digest"] == in_process_trace(files.nightly).digest()
    assert (wrong["seed"], wrong["status"], wrong["passed"]) == (3, "completed", False)
    assert wrong["makespan"] == 3
    assert HEX64.fullmatch(wrong["trace_digest"])
    [failure] = wrong["failures"]
    assert failure["key"] == "makespan"
    assert failure["line"] == WRONG_MAKESPAN_LINE
    assert failure["expected"] == "== 5s" and failure["actual"] == "3s"
    assert "5s" in failure["message"] and "3s" in failure["message"]
    # replay --json prints one object, with the seed it used
    assert replay.code == 1 and replay.err == "", str(replay)
    [replayed] = [json.loads(line) for line in replay.out.splitlines()]
    assert set(replayed) >= JSON_KEYS
    assert (replayed["seed"], replayed["passed"]) == (5, False)
    assert replayed["failures"][0]["key"] == "makespan"


@pytest.mark.spec("CLI-4")
def test_json_for_a_directory_is_json_lines_and_nothing_else() -> None:
    done = wfsim_cli("run", "--json", "scenarios")
    assert done.code == 0 and done.err == "", str(done)
    objects = [json.loads(line) for line in done.out.splitlines()]
    assert [obj["file"] for obj in objects] == [rel(path) for path in scenario_files()]
    assert all(obj["passed"] is True and obj["failures"] == [] for obj in objects)


# --- CLI-5: --trace ------------------------------------------------------------------------


def sha256_file(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.spec("CLI-5")
def test_trace_file_is_the_in_process_trace(files: Files, tmp_path: pathlib.Path) -> None:
    deep = tmp_path / "deep" / "er" / "nightly.jsonl"
    done = wfsim_cli("run", "-v", files.nightly, "--trace", deep)
    assert done.code == 0 and done.err == "", str(done)
    here = in_process_trace(files.nightly)
    assert deep.read_text(encoding="utf-8") == here.to_jsonl()
    assert sha256_file(deep) == digest_of(done.out) == here.digest()
    first = json.loads(deep.read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == ["seq", "t", "kind", "step", "attempt", "workflow", "seed"]


@pytest.mark.spec("CLI-5")
def test_traces_of_several_scenarios_go_to_a_directory(
    files: Files, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the Python scenario imports examples.* from the repository
    python_scenario = "scenarios/cloacina_complex_python.wfsim.yaml"
    traces = tmp_path / "traces"
    replayed = tmp_path / "replayed.jsonl"
    run, replay = wfsim_many(
        ["run", "--json", files.nightly, files.wrong, python_scenario, "--trace", traces],
        ["replay", files.wrong, "--seed", "3", "--trace", replayed],
    )
    assert run.code == 1 and run.err == "", str(run)
    written = {
        "nightly-seed7.jsonl": files.nightly,
        "wrong-seed3.jsonl": files.wrong,
        "cloacina_complex_python-seed4.jsonl": python_scenario,
    }
    assert {p.name for p in traces.iterdir()} == set(written)
    digests = [json.loads(line)["trace_digest"] for line in run.out.splitlines()]
    assert digests == [sha256_file(traces / name) for name in written]
    for name, source in written.items():
        here = in_process_trace(source)
        assert (traces / name).read_text(encoding="utf-8") == here.to_jsonl(), name
    assert replay.code == 1, str(replay)
    assert replayed.read_bytes() == (traces / "wrong-seed3.jsonl").read_bytes()
    assert sha256_file(replayed) == digest_of(replay.out)


# --- CLI-6: replay ------------------------------------------------------------------------


@pytest.mark.spec("CLI-6")
def test_replay_prints_the_digest_run_printed(files: Files) -> None:
    path = files.nightly
    run_own, replay_own, run_3, replay_3, replay_3_timeline = wfsim_many(
        ["run", "-v", path],
        ["replay", path, "--seed", "7"],
        ["run", "-v", path, "--seed", "3"],
        ["replay", path, "--seed", "3"],
        ["replay", path, "--seed", "3", "--timeline"],
    )
    for done in (run_own, replay_own, run_3, replay_3, replay_3_timeline):
        assert done.code == 0 and done.err == "", str(done)
    assert digest_of(replay_own.out) == digest_of(run_own.out)
    assert digest_of(replay_3.out) == digest_of(replay_3_timeline.out) == digest_of(run_3.out)
    head, digest_line = replay_3.out.splitlines()
    match = re.fullmatch(r"seed: 3  status: completed  makespan: (\S+)", head)
    assert match and wfsim.to_ns(match.group(1)) == 19 * 3600 * 10**9, str(replay_3)
    assert digest_line == f"digest: {digest_of(run_3.out)}"
    here = run_scenario(load_scenario(str(path)), seed=3)
    timeline = [line for line in replay_3_timeline.out.splitlines() if line.startswith("[")]
    assert timeline == here.result.trace.format().splitlines()
    assert here.result.digest() == digest_of(replay_3.out)


@pytest.mark.spec("CLI-6")
def test_replay_reproduces_a_failure_from_its_replay_line(files: Files) -> None:
    run = wfsim_cli("run", "-v", files.wrong)
    assert run.code == 1, str(run)
    line = re.search(r"^replay: wfsim (replay .+)$", run.out, re.M)
    assert line, str(run)
    replay = wfsim_cli(*line.group(1).split())
    assert replay.code == 1, str(replay)
    assert digest_of(replay.out) == digest_of(run.out)
    assert f"{files.wrong}:{WRONG_MAKESPAN_LINE}: expect.makespan: " in replay.out, str(replay)
    assert line.group(0) in replay.out


@pytest.mark.spec("CLI-6")
def test_seeds_order_simultaneous_work(files: Files) -> None:
    seeds = range(4)
    results = wfsim_many(
        *(["replay", files.nightly, "--seed", seed, "--timeline"] for seed in seeds)
    )
    orders = set()
    for seed, done in zip(seeds, results, strict=True):
        assert done.code == 0, done  # every order satisfies the expectations
        assert f'run_started  workflow="nightly" seed={seed}\n' in done.out, str(done)
        orders.add(tuple(re.findall(r"attempt_started (transform_\w)#1", done.out)))
    assert len({digest_of(done.out) for done in results}) == len(seeds)
    assert len(orders) > 1, orders  # the transforms started in different orders


# --- CLI-7: check -------------------------------------------------------------------------


@pytest.mark.spec("CLI-7")
def test_check_validates_without_running(files: Files) -> None:
    # the wrong expectation would fail a run; check does not run
    given, directory = wfsim_many(["check", files.wrong, files.nightly], ["check", "scenarios"])
    assert given.code == 0 and given.err == "", str(given)
    assert given.out.splitlines() == [
        f"ok: {files.wrong}: 2 steps, 0 faults, 3 expectations",
        f"ok: {files.nightly}: 5 steps, 1 fault, 7 expectations",
    ], str(given)
    assert directory.code == 0 and directory.err == "", str(directory)
    lines = directory.out.splitlines()
    assert len(lines) == len(scenario_files()), str(directory)
    for path, line in zip(scenario_files(), lines, strict=True):
        assert re.fullmatch(
            rf"ok: {re.escape(rel(path))}: (\d+ steps?|a workflow body \(its steps appear as "
            r"it runs\)|an event workflow \(its steps run as events arrive\)), "
            r"(1 fault|\d+ faults), (1 expectation|\d+ expectations)",
            line,
        ), str(directory)
        assert not re.search(r"(?<!\d)1 (steps|faults|expectations)\b", line), line


TYPOS = """\
scenario: names the workflow does not have
workflow:
  name: pay
  steps:
    charge_card:
      duration: 1s
      breaker: {name: payments, strategy: consecutive, failure_threshold: 3, recovery_timeout: 5s}
      compensate: {name: refund_card, duration: 1s}
    checks:
      after: charge_card
      parallel:
        tasks:
          fraud: {duration: 1s}
    ship: {after: checks}
expect:
  attempts: {charge_crd: 2}
  order: [charge_card < shipp]
  completed: [fraud]
  compensations: [refund_crd]
  breaker_states: {paymnts: [open]}
invariants:
  trace_contains:
    - {kind: attempt_failed, step: chrge_card}
"""


@pytest.mark.spec("CLI-7")
def test_check_finds_names_the_workflow_does_not_have(tmp_path: pathlib.Path) -> None:
    typos = write(tmp_path, "typos.wfsim.yaml", TYPOS)
    inline = (SCENARIOS / "llamaindex_inline_parallel_flow.wfsim.yaml").read_text()
    events = write(
        tmp_path,
        "events.wfsim.yaml",
        inline.replace("completed: [start, step_two:2]", "completed: [start, step_to:2]").replace(
            "step: step_two:2, event: StopEvent", "step: step_two:2, event: StopEvnt"
        ),
    )
    done = wfsim_cli("check", typos, events)
    assert (done.code, done.out) == (2, ""), str(done)
    has = "workflow 'pay' has no"
    assert done.err.splitlines() == [
        f"{typos}:16: expect.attempts.charge_crd: {has} step or compensation 'charge_crd': "
        "did you mean 'charge_card'?",
        f"{typos}:17: expect.order[0]: {has} step or compensation 'shipp': did you mean 'ship'?",
        f"{typos}:18: expect.completed[0]: {has} step or compensation 'fraud': "
        "did you mean 'checks/fraud'?",
        f"{typos}:19: expect.compensations[0]: {has} compensation 'refund_crd': "
        "did you mean 'refund_card'?",
        f"{typos}:20: expect.breaker_states.paymnts: {has} circuit breaker 'paymnts': "
        "did you mean 'payments'?",
        f"{typos}:23: invariants.trace_contains[0].step: {has} step or compensation "
        "'chrge_card': did you mean 'charge_card'?",
        f"{events}:29: expect.completed[1]: workflow 'parallel_flow' has no step 'step_to:2': "
        "did you mean 'step_two:2'?",
        f"{events}:32: expect.trace_contains[0].event: no step of 'parallel_flow' accepts "
        "event type 'StopEvnt': did you mean 'StopEvent'?",
    ], str(done)


@pytest.mark.spec("CLI-7")
def test_check_reports_every_invalid_file_at_once() -> None:
    cases = sorted(INVALID.glob("*.wfsim.yaml"))
    assert len(cases) >= 25
    done, directory = wfsim_many(
        ["check", *(rel(c) for c in cases[:10]), BACKOFF, *(rel(c) for c in cases[10:])],
        ["check", rel(INVALID)],
    )
    assert done.code == 2, str(done)
    assert done.err == "".join(expected_error(c) + "\n" for c in cases), str(done)
    assert done.out == f"ok: {BACKOFF}: 1 step, 1 fault, 5 expectations\n", str(done)
    assert (directory.code, directory.out, directory.err) == (2, "", done.err), str(directory)


# --- CLI-8: graph -------------------------------------------------------------------------


def parse_mermaid(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """(step name -> its label, edges by step name) of a ``flowchart``."""
    ids: dict[str, str] = {}
    labels: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in text.splitlines()[2:]:
        if node := re.fullmatch(r'\s+(\w+)\["([^"]*)"\]', line):
            name = node.group(2).split(" | ")[0]
            ids[node.group(1)] = name
            labels[name] = node.group(2)
        elif edge := re.fullmatch(r"\s+(\w+) --> (\w+)", line):
            edges.add((ids[edge.group(1)], ids[edge.group(2)]))
        else:
            raise AssertionError(f"unexpected mermaid line {line!r}")
    return labels, edges


QUOTED = r'("(?:[^"\\]|\\.)*")'


def parse_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    labels: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if node := re.fullmatch(rf"\s+{QUOTED} \[label={QUOTED}\];", line):
            labels[json.loads(node.group(1))] = json.loads(node.group(2))
        elif edge := re.fullmatch(rf"\s+{QUOTED} -> {QUOTED};", line):
            edges.add((json.loads(edge.group(1)), json.loads(edge.group(2))))
    return labels, edges


def workflow_edges(path: str | pathlib.Path) -> tuple[set[str], set[tuple[str, str]]]:
    steps = load_scenario(str(path)).workflow.steps
    return set(steps), {(dep, name) for name, step in steps.items() for dep in step.after}


@pytest.mark.spec("CLI-8")
def test_graph_draws_every_step_and_edge(files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cloacina = "scenarios/cloacina_complex_customer_analysis.wfsim.yaml"
    python_scenario = "scenarios/cloacina_complex_python.wfsim.yaml"
    default, mermaid, dot, cloacina_dot, python_mermaid = wfsim_many(
        ["graph", files.nightly],
        ["graph", files.nightly, "--format", "mermaid"],
        ["graph", files.nightly, "--format", "dot"],
        ["graph", cloacina, "--format", "dot"],
        ["graph", python_scenario],
    )
    for done in (default, mermaid, dot, cloacina_dot, python_mermaid):
        assert done.code == 0 and done.err == "", str(done)
    assert default.out == mermaid.out
    for src, done in ((files.nightly, mermaid), (python_scenario, python_mermaid)):
        first, second = done.out.splitlines()[:2]
        assert first.startswith("%% workflow "), str(done)
        assert second == "flowchart LR", str(done)
        assert parse_mermaid(done.out)[1] == workflow_edges(src)[1], str(done)
        assert set(parse_mermaid(done.out)[0]) == workflow_edges(src)[0], str(done)
    for src, done in ((files.nightly, dot), (cloacina, cloacina_dot)):
        assert done.out.startswith("digraph "), str(done)
        assert done.out.rstrip().endswith("}"), str(done)
        labels, drawn = parse_dot(done.out)
        assert (set(labels), drawn) == workflow_edges(src), str(done)
    assert len(workflow_edges(python_scenario)[0]) == 15
    assert workflow_edges(files.nightly)[1] == NIGHTLY_EDGES
    assert mermaid.out.splitlines()[0] == "%% workflow nightly"
    for labels in (parse_mermaid(mermaid.out)[0], parse_dot(dot.out)[0]):
        assert labels["extract"] == "extract | 2h"
        assert labels["load"] == "load | 2h | retry x4 | timeout 3h"


@pytest.mark.spec("CLI-8")
def test_graph_draws_event_workflows_as_steps_and_event_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    inline = "scenarios/llamaindex_inline_concurrent_flow_declared_order.wfsim.yaml"
    python = "scenarios/llamaindex_parallel_flow.wfsim.yaml"
    body = "scenarios/sequencely_approval_auto.wfsim.yaml"
    mermaid, dot, python_mermaid, refused = wfsim_many(
        ["graph", inline], ["graph", inline, "--format", "dot"], ["graph", python], ["graph", body]
    )
    assert (refused.code, refused.out) == (2, ""), str(refused)
    assert refused.err == (
        f"{body}: wfsim graph draws DAG and event workflows; 'approval_workflow' is a workflow "
        "body whose steps exist only as it runs (see its trace: wfsim run)\n"
    ), str(refused)
    for done in (mermaid, dot, python_mermaid):
        assert done.code == 0 and done.err == "", str(done)
    lines = mermaid.out.splitlines()
    assert lines[:2] == ["%% event workflow concurrent_flow_mixed", "flowchart LR"]
    assert '    e_StepCCompleteEvent(["StepCCompleteEvent"])' in lines
    assert (
        '    s4_step_three["step_three | workers 4 | collects StepCCompleteEvent, '
        'StepACompleteEvent, StepBCompleteEvent"]'
    ) in lines
    # accepted types point at the step; emitted ones are dashed, returned ones solid
    for edge in (
        "e_StartEvent --> s0_start",
        "s0_start -.-> e_StepAEvent",
        "e_StepAEvent --> s1_step_a",
        "s1_step_a --> e_StepACompleteEvent",
        "e_StepBCompleteEvent --> s4_step_three",
        "s4_step_three --> e_StopEvent",
    ):
        assert f"    {edge}" in lines, edge
    assert sum(" --> " in line or " -.-> " in line for line in lines) == 14
    assert '    "event:StepAEvent" -> "step_a";' in dot.out.splitlines()
    assert '    "start" -> "event:StepAEvent" [style=dashed];' in dot.out.splitlines()
    # A Python step's code decides what it sends: only what it accepts is drawn.
    assert '    s1_step_two["step_two | workers 4 | code"]' in python_mermaid.out.splitlines()
    assert "-.->" not in python_mermaid.out


# --- CLI-9: schema ------------------------------------------------------------------------


@pytest.mark.spec("CLI-9")
def test_schema_prints_the_draft_2020_12_schema() -> None:
    done = wfsim_cli("schema")
    assert done.code == 0 and done.err == "", str(done)
    printed = json.loads(done.out)
    assert printed == schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed)
    validator = jsonschema.Draft202012Validator(printed)
    for path in scenario_files():
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(document)]
        assert not errors, f"{path}: {errors}"
    assert list(validator.iter_errors({"scenario": "x"}))  # 'workflow' is required


# --- CLI-10: virtual hours ----------------------------------------------------------------


@pytest.mark.spec("CLI-10")
def test_virtual_hours_take_no_wall_time(files: Files) -> None:
    startup = wfsim_cli("--version")  # the interpreter and wfsim's imports alone
    begin = time.perf_counter()
    done = wfsim_cli("run", "--json", files.nightly, fresh=True)
    wall = time.perf_counter() - begin
    assert done.code == 0, str(done)
    result = json.loads(done.out)
    assert (result["makespan"], result["passed"]) == (19 * 3600, True)
    begin = time.perf_counter()
    outcome = run_scenario(load_scenario(str(files.nightly)))
    in_process = time.perf_counter() - begin
    assert outcome.passed
    assert outcome.result.trace.retry_delays("load") == [3600.0, 7200.0, 14400.0]
    print(
        f"\nCLI-10: 19 h of virtual time (a 2h step retried after 1h, 2h, 4h): "
        f"`wfsim run --json` subprocess {wall:.3f} s wall "
        f"(`wfsim --version` alone: {startup.seconds:.3f} s); "
        f"load + run in process: {in_process * 1000:.1f} ms"
    )
    assert wall < 10.0
    assert in_process < 10.0


@pytest.mark.spec("CLI-8")
def test_graph_draws_a_parallel_groups_tasks() -> None:
    from wfsim.report import to_dot, to_mermaid

    workflow = load_scenario(SCENARIOS / "ruvon_parallel_order.wfsim.yaml").workflow
    mermaid = to_mermaid(workflow).splitlines()
    group = "s1_parallel_validation"
    label = "parallel_validation | parallel, 3 tasks, merge shallow | timeout 5m"
    assert f'    {group}["{label}"]' in mermaid
    assert f'    subgraph {group}_tasks["parallel_validation: tasks run concurrently"]' in mermaid
    for i, (task, seconds) in enumerate(
        [("check_inventory", "1s"), ("verify_payment", "1.5s"), ("fraud_check", "2s")]
    ):
        assert f'        {group}_tasks_{i}["parallel_validation/{task} | {seconds}"]' in mermaid
    assert f"    {group} -.- {group}_tasks" in mermaid
    assert f"    s0_validate_order --> {group}" in mermaid
    dot = to_dot(workflow)
    assert '    subgraph "cluster_parallel_validation" {' in dot
    assert (
        '        "parallel_validation/fraud_check" [label="parallel_validation/fraud_check | 2s"];'
        in dot
    )
    assert (
        '    "parallel_validation" -> "parallel_validation/verify_payment" '
        "[style=dotted, arrowhead=none];" in dot
    )
