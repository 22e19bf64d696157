"""``wfsim simulate`` and ``wfsim campaigns`` as real subprocesses (cwd = the test's directory).

Rules: ``specs/campaign.md``. Each test starts its commands together, so the suite pays
for an interpreter start about once per test.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import pytest

from wfsim.campaign import run_campaign

from .conftest import FLAKY, write

TIMEOUT = 60

#: ``python -m wfsim`` as a terminal starts it: Ctrl-C raises KeyboardInterrupt. A child
#: inherits its parent's signal mask and ignored signals, and Python installs its Ctrl-C
#: handler only where SIGINT is not ignored; a test process that happens to block or
#: ignore SIGINT when it forks (a library's helper thread, a fixture) would hand that on,
#: and a test of Ctrl-C would wait on a campaign that never sees it.
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal;"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM});"
    "signal.signal(signal.SIGINT, signal.default_int_handler);"
    "runpy.run_module('wfsim', run_name='__main__', alter_sys=True)",
]


def wfsim_many(
    cwd: pathlib.Path, *argvs: Sequence[str], env: Mapping[str, str] | None = None
) -> list[tuple[int, str, str]]:
    """Run ``python -m wfsim ARGV`` for each argv, all at once; (exit code, stdout, stderr).

    ``env`` adds to (or overrides) this process's environment. simulate's progress lines
    (one every few seconds when stderr is not a terminal) are taken out of stderr: on a
    loaded machine a small campaign may outlast the interval, and the tests pin the rest.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "wfsim", *argv],
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for argv in argvs
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        done.append((proc.returncode, out, without_progress(err)))
    return done


PROGRESS_LINE = re.compile(r"wfsim simulate: \d+/\d+ runs \(\d+%\), \d+ failed, .* ETA \S+\n")


def without_progress(err: str) -> str:
    """``err`` without simulate's periodic progress lines."""
    return PROGRESS_LINE.sub("", err)


@pytest.mark.spec("CAMP-2")
def test_simulate_over_several_files_ends_with_a_table_per_scenario(
    tmp_path: pathlib.Path, flaky: pathlib.Path, steady: pathlib.Path
) -> None:
    [(code, out, err)] = wfsim_many(
        tmp_path, ["simulate", ".", "--seeds", "12", "--workers", "1", "--json", "--out", "j"],
    )
    data = json.loads(out)
    [(code, out, err)] = wfsim_many(
        tmp_path, ["simulate", ".", "--seeds", "12", "--workers", "1", "--out", "t"]
    )
    assert (code, err) == (1, ""), out + err
    flaky_data, steady_data = sorted(data["scenarios"], key=lambda s: s["file"])
    assert flaky_data["failed"] > 0 and steady_data["failed"] == 0
    first = flaky_data["failing"][0]["seed"]
    n = flaky_data["failed"]
    assert out.splitlines()[-5:-1] == [
        "scenario           runs  failed  most failed",
        f"flaky.wfsim.yaml     12  {n:>6}  expect.status ({n}), first seed {first}",
        "steady.wfsim.yaml    12       0",
        "",
    ], out
    assert out.splitlines()[-1].startswith(f"24 runs: {24 - n} passed, {n} failed in ")


@pytest.mark.spec("CAMP-2", "CAMP-3", "CAMP-4", "CAMP-6", "CAMP-9")
def test_simulate_reports_failing_seeds_whose_replay_lines_reproduce_them(
    tmp_path: pathlib.Path, flaky: pathlib.Path, steady: pathlib.Path
) -> None:
    text, data, passing = wfsim_many(
        tmp_path,
        ["simulate", flaky.name, "--seeds", "40", "--workers", "2", "--out", "text"],
        ["simulate", flaky.name, "--seeds", "40", "--workers", "1", "--json", "--out", "json"],
        ["simulate", steady.name, "--seeds", "20", "--workers", "1"],
    )
    code, out, err = text
    assert (code, err) == (1, ""), out + err
    assert out.startswith(
        "40 seeds (0-39) of 1 scenario, 2 workers; campaign 1 in text/campaigns.sqlite\n"
    ), out
    assert re.search(r"^  failed runs by expectation or rule:\n +\d+  expect\.status$", out, re.M)
    replays = re.findall(
        r"^    wfsim replay flaky\.wfsim\.yaml --seed (\d+)  # expect\.status$", out, re.M
    )
    assert len(replays) == 5, out
    code, out, err = data
    assert (code, err) == (1, "")
    summary = json.loads(out)  # one JSON object and nothing else on stdout
    (scenario,) = summary["scenarios"]
    failing = scenario["failing"]
    assert [str(f["seed"]) for f in failing[:5]] == replays  # both backends agree
    assert len(failing) == summary["failed"] > 5
    assert summary["runs"] == 40 and summary["workers"] == 1
    code, out, err = passing
    assert (code, err) == (0, ""), out + err
    assert (tmp_path / ".wfsim" / "campaigns.sqlite").is_file()  # the default store
    assert out.splitlines()[-1].startswith("20 runs: 20 passed, 0 failed in ")

    first, last = failing[0], failing[-1]
    replayed = wfsim_many(
        tmp_path, [*first["replay"].split()[1:], "--json"], [*last["replay"].split()[1:], "--json"]
    )
    for run, (code, out, _) in zip((first, last), replayed, strict=True):
        again = json.loads(out)
        assert code == 1
        assert (again["seed"], again["trace_digest"], again["status"]) == (
            run["seed"],
            run["trace_digest"],
            run["status"],
        )


@pytest.mark.spec("CAMP-3")
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    tmp_path: pathlib.Path, steady: pathlib.Path
) -> None:
    broken = write(
        tmp_path,
        "broken.wfsim.yaml",
        "scenario: x\nworkflow: {steps: {a: {duration: 1s}}}\nexpct: {}\n",
    )
    results = wfsim_many(
        tmp_path,
        ["simulate", "missing.wfsim.yaml", steady.name, "--seeds", "5"],
        ["simulate", broken.name, steady.name, "--seeds", "5"],
        ["simulate", steady.name, "--seeds", "0"],
        ["simulate", steady.name, "--seeds", "5", "--time-budget", "soon"],
    )
    for code, out, err in results:
        assert (code, out) == (2, ""), err
        assert "Traceback" not in err
    missing, bad_file, zero, soon = (err for _, _, err in results)
    assert (
        missing == "missing.wfsim.yaml: cannot read the scenario file: no such file or directory\n"
    )
    assert bad_file.startswith("broken.wfsim.yaml:3: expct") and bad_file.count("\n") == 1
    assert "--seeds: expected an integer >= 1, not 0" in zero
    assert "--time-budget" in soon and "time budget" in soon
    assert not (tmp_path / ".wfsim").exists()  # nothing ran


@pytest.mark.spec("CAMP-8")
def test_campaigns_list_show_and_diff(tmp_path: pathlib.Path, flaky: pathlib.Path) -> None:
    store = tmp_path / "out" / "campaigns.sqlite"
    first = run_campaign([flaky], seeds=30, store=store)
    flaky.write_text(FLAKY.replace("max_attempts: 2", "max_attempts: 3"), encoding="utf-8")
    second = run_campaign([flaky], seeds=30, store=store)
    third = run_campaign([flaky], seeds=30, store=store, max_failures=1)
    listed, shown, diff, unknown, empty = wfsim_many(
        tmp_path,
        ["campaigns", "list", "--out", "out"],
        ["campaigns", "show", "1", "--out", "out", "--json"],
        ["campaigns", "diff", "1", "2", "--out", "out"],
        ["campaigns", "diff", "1", "7", "--out", "out", "--json"],
        ["campaigns", "list", "--out", "nowhere"],
    )
    code, out, err = listed
    assert (code, err) == (0, "")
    one, two, three = out.splitlines()
    assert re.fullmatch(
        rf"   1  \S+  seeds 0-29  30 runs, {first.failed} failed  \S*flaky\.wfsim\.yaml", one
    ), one
    assert two.endswith(f"30 runs, {second.failed} failed  {flaky}"), two
    assert three.endswith(f"{third.runs} runs, 1 failed  {flaky}  (stopped: max failures)")
    code, out, err = shown
    assert code == 1 and json.loads(out)["failed"] == first.failed
    code, out, err = diff
    assert code == 1
    assert out.startswith("campaign 1 -> 2: 30 seeds in both, "), out
    assert re.search(
        r"^  \S*flaky\.wfsim\.yaml seed \d+: failed \(expect\.status\) -> passed", out, re.M
    ), out
    code, out, err = unknown
    assert (code, out) == (2, "")
    assert err == "wfsim: out/campaigns.sqlite: no campaign 7 (campaigns: 1, 2, 3)\n"
    assert empty == (0, "no campaigns recorded in nowhere/campaigns.sqlite\n", "")


@pytest.mark.spec("CAMP-6", "CAMP-7")
def test_a_killed_campaign_resumes_with_only_the_missing_seeds(
    tmp_path: pathlib.Path, steady: pathlib.Path
) -> None:
    store = tmp_path / "out" / "campaigns.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wfsim",
            "simulate",
            steady.name,
            "--seeds",
            "1000000",
            "--workers",
            "1",
            "--out",
            "out",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        recorded = 0
        deadline = time.monotonic() + TIMEOUT
        while recorded == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            if store.exists():  # the store may exist a moment before its tables do
                with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(store) as db:
                    recorded = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(store) as db:
        recorded = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        assert db.execute("SELECT finished FROM campaigns").fetchall() == [(None,)]
    assert recorded > 0
    seeds = recorded + 25
    (code, out, _), (_, listed, _) = wfsim_many(
        tmp_path,
        ["simulate", steady.name, "--seeds", str(seeds), "--resume", "--json", "--out", "out"],
        ["campaigns", "list", "--out", "out"],
    )
    summary = json.loads(out)
    assert (code, summary["campaign"], summary["runs"], summary["reused"]) == (
        0,
        2,
        seeds,
        recorded,
    )
    assert "unfinished" in listed.splitlines()[0]
    with sqlite3.connect(store) as db:
        made = db.execute(
            "SELECT MIN(seed), COUNT(*) FROM runs WHERE campaign = 2 AND reused_from IS NULL"
        ).fetchone()
    assert made == (recorded, 25)
