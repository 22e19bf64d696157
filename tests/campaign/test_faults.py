"""The campaign store and its workers under faults: kills, shared stores, broken files.

Rules: ``specs/campaign.md`` CAMP-10..13. Every test runs ``wfsim simulate`` as real
subprocesses and waits for what it needs by polling with a deadline, never by
sleeping for a time that assumes a fast machine. A worker process is found by its
command line (a forked worker keeps its parent's, with the test's own ``--out``
directory in it), so an orphan that was re-parented is found too.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from wfsim._cli import main
from wfsim.campaign import CampaignError, CampaignStore, run_campaign

from .conftest import write
from .test_cli import AS_FROM_A_TERMINAL

TIMEOUT = 60.0
POLL = 0.05

# One run holds a worker for a minute of host time: a campaign that waited for its
# batches would take that long.
SLOW_MODULE = '''\
import time

import wfsim


async def nap(ctx: wfsim.StepContext, seconds: float) -> float:
    time.sleep(seconds)  # host time, on purpose: the worker is busy
    return seconds


@wfsim.workflow
async def slow(ctx: wfsim.WorkflowContext, inp: dict) -> float:
    return await ctx.step(nap, inp["seconds"])
'''
SLOW = """\
scenario: a run that takes a minute of host time
workflow: {python: "slow_in_host_time:slow"}
input: {seconds: 60}
"""


def simulate(cwd: pathlib.Path, *argv: str, group: bool = False) -> subprocess.Popen[str]:
    """Start ``python -m wfsim simulate ARGV`` (in its own process group with ``group``)."""
    return subprocess.Popen(
        [*AS_FROM_A_TERMINAL, "simulate", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=group,
    )


def wait_for(what: str, ready: Callable[[], bool], timeout: float = TIMEOUT) -> float:
    """Poll ``ready`` until it holds; the seconds it took. Fails after ``timeout``."""
    begin = time.monotonic()
    while not ready():
        assert time.monotonic() - begin < timeout, f"gave up waiting for {what}"
        time.sleep(POLL)
    return time.monotonic() - begin


def processes_of(marker: str) -> list[Any]:
    """Live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in cmdline):
            found.append(proc)
    return found


def no_process_of(marker: pathlib.Path) -> bool:
    return not processes_of(str(marker))


def workers_of(parent: subprocess.Popen[str]) -> list[Any]:
    """The worker processes of a campaign whose pool is up (each runs its parent watch)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        children: list[Any] = psutil.Process(parent.pid).children()
        if len(children) >= 2 and all(c.num_threads() >= 2 for c in children):
            return children
    return []


def committed(store: pathlib.Path, campaign: int) -> int:
    """Runs ``campaign`` made itself (not reused) and committed."""
    found = rows(
        store,
        "SELECT COUNT(*) FROM runs WHERE campaign = ? AND reused_from IS NULL",
        campaign,
    )
    return int(str(found[0][0])) if found else 0


def rows(store: pathlib.Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """The rows of a query, or none while the store or its tables do not exist yet."""
    if not store.exists():
        return []
    with contextlib.suppress(sqlite3.OperationalError), contextlib.closing(
        sqlite3.connect(store, timeout=TIMEOUT)
    ) as db:
        return db.execute(sql, args).fetchall()
    return []


def kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)


@pytest.mark.slow
@pytest.mark.spec("CAMP-10", "CAMP-13")
def test_a_campaign_killed_twice_with_its_workers_resumes_with_every_seed_once(
    tmp_path: pathlib.Path, flaky: pathlib.Path
) -> None:
    out = tmp_path / "store"
    store = out / "campaigns.sqlite"
    endless = ["--seeds", "1000000", "--workers", "2", "--out", str(out)]

    # Campaign 1 is killed once it has committed runs; campaign 2 resumes it and is
    # killed once it has committed runs of its own.
    for campaign, extra in ((1, []), (2, ["--resume"])):
        proc = simulate(tmp_path, flaky.name, *endless, *extra)
        try:
            running = functools.partial(
                lambda p, c: committed(store, c) > 0 and bool(workers_of(p)), proc, campaign
            )
            wait_for(f"campaign {campaign} to commit runs", running)
            workers = workers_of(proc)
        finally:
            kill(proc)
        assert len(workers) == 2
        # Nothing of it is left: its workers ended with it (CAMP-13).
        wait_for(f"campaign {campaign}'s workers to end", functools.partial(no_process_of, out))

    def seeds(campaign: int) -> list[int]:
        found = rows(store, "SELECT seed FROM runs WHERE campaign = ? ORDER BY seed", campaign)
        return [int(str(seed)) for seed, in found]

    first, second = seeds(1), seeds(2)
    assert first and set(first) < set(second)
    # Cover a range past the last committed seed, so the resumption has gaps to fill
    # wherever the workers' batches left them.
    count = max(second) + 1 + 30
    proc = simulate(tmp_path, flaky.name, "--seeds", str(count), "--workers", "2",
                    "--out", str(out), "--resume", "--json")
    final, err = proc.communicate(timeout=TIMEOUT)
    summary = json.loads(final)
    assert (proc.returncode, summary["campaign"], summary["runs"]) == (1, 3, count), err
    assert summary["reused"] == len(second)
    assert seeds(3) == list(range(count))  # every seed once
    made = rows(store, "SELECT seed FROM runs WHERE campaign = 3 AND reused_from IS NULL")
    assert sorted(int(str(s)) for s, in made) == sorted(set(range(count)) - set(second))
    origins = rows(store, "SELECT reused_from, COUNT(*) FROM runs WHERE campaign = 3 "
                   "AND reused_from IS NOT NULL GROUP BY reused_from")
    assert dict(origins) == {1: len(first), 2: len(second) - len(first)}
    # The report is the one of an uninterrupted campaign.
    whole = run_campaign([flaky], seeds=count).to_json()
    (resumed_scenario,) = summary["scenarios"]
    (whole_scenario,) = whole["scenarios"]
    assert [f["seed"] for f in resumed_scenario["failing"]] == [
        f["seed"] for f in whole_scenario["failing"]
    ]
    assert (summary["passed"], summary["failed"]) == (whole["passed"], whole["failed"])


@pytest.mark.slow
@pytest.mark.spec("CAMP-11")
def test_two_campaigns_writing_one_store_at_once_both_record_all_their_runs(
    tmp_path: pathlib.Path, flaky: pathlib.Path, steady: pathlib.Path
) -> None:
    out = tmp_path / "shared"
    store = out / "campaigns.sqlite"
    # Long enough for several commits of each (about one a second) while both run: with
    # 3,000 seeds the two-worker campaign ended (~1.2 s) before the other first committed.
    count = 12_000
    procs = [
        simulate(tmp_path, flaky.name, steady.name, "--seeds", str(count), "--workers", "2",
                 "--out", str(out), "--json"),
        simulate(tmp_path, flaky.name, steady.name, "--seeds", str(count), "--workers", "1",
                 "--out", str(out), "--json"),
    ]
    try:
        results = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
    # They overlapped: each committed runs between two commits of the other (the store
    # commits about once a second), so the runs' row order switches campaign at least
    # twice. Read from the store afterwards rather than polled while they run: a poll
    # can miss the overlap when both campaigns are quick.
    order = [campaign for (campaign,) in rows(store, "SELECT campaign FROM runs ORDER BY rowid")]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= 2, f"the campaigns did not commit runs at once ({switches} switches)"
    one, two = (json.loads(out) for out, _ in results)
    assert [proc.returncode for proc in procs] == [1, 1], [err for _, err in results]
    assert {one["campaign"], two["campaign"]} == {1, 2}
    assert (one["runs"], two["runs"]) == (2 * count, 2 * count)
    # The same seeds of the same file fail the same way in both.
    assert one["scenarios"][0]["failing"] == two["scenarios"][0]["failing"]
    assert one["failed"] == two["failed"] > 0
    recorded = dict(rows(store, "SELECT campaign, COUNT(*) FROM runs GROUP BY campaign"))
    assert recorded == {one["campaign"]: 2 * count, two["campaign"]: 2 * count}


@pytest.mark.spec("CAMP-13", "CAMP-5")
def test_workers_end_at_the_time_budget_on_ctrl_c_and_when_one_of_them_is_killed(
    tmp_path: pathlib.Path,
) -> None:
    write(tmp_path, "slow_in_host_time.py", SLOW_MODULE)
    slow = write(tmp_path, "slow.wfsim.yaml", SLOW)
    outs = {name: tmp_path / name for name in ("budget", "ctrl-c", "worker-killed")}
    args = [slow.name, "--seeds", "10", "--workers", "2", "--json"]
    budget = simulate(tmp_path, *args, "--time-budget", "1s", "--out", str(outs["budget"]))
    ctrl_c = simulate(tmp_path, *args, "--out", str(outs["ctrl-c"]), group=True)
    killed = simulate(tmp_path, *args, "--out", str(outs["worker-killed"]))
    procs = (budget, ctrl_c, killed)
    try:
        wait_for("the workers to start", lambda: bool(workers_of(ctrl_c) and workers_of(killed)))
        os.killpg(ctrl_c.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        workers_of(killed)[0].kill()  # as the out-of-memory killer would
        results = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
    for proc, (out, err), stopped in zip(
        procs[:2], results, ("time_budget", "interrupted"), strict=False
    ):
        summary = json.loads(out)
        assert (proc.returncode, summary["stopped"], summary["runs"]) == (0, stopped, 0), err
        assert summary["wall_seconds"] < 60  # no run of a minute was waited for
    out, err = results[2]
    assert (killed.returncode, out) == (2, "")
    assert err == (
        "wfsim: a worker process ended abruptly (killed, or out of memory); the runs "
        "recorded so far are kept: --resume goes on from them\n"
    )
    for name, out_dir in outs.items():
        wait_for(f"the workers of {name} to end", functools.partial(no_process_of, out_dir))
    stops = {}
    for name, out_dir in outs.items():
        with contextlib.closing(sqlite3.connect(out_dir / "campaigns.sqlite")) as db:
            stops[name] = db.execute("SELECT stopped FROM campaigns").fetchone()[0]
    assert stops == {"budget": "time_budget", "ctrl-c": "interrupted", "worker-killed": "error"}


@pytest.mark.spec("CAMP-5", "CAMP-6")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_a_campaign_as_ctrl_c_does(tmp_path: pathlib.Path, workers: str) -> None:
    """``kill PID`` (a CI timeout, a service stop) ends the campaign interrupted, not unfinished."""
    write(tmp_path, "slow_in_host_time.py", SLOW_MODULE)
    slow = write(tmp_path, "slow.wfsim.yaml", SLOW)
    out = tmp_path / "store"
    proc = simulate(tmp_path, slow.name, "--seeds", "10", "--workers", workers, "--json",
                    "--out", str(out))
    try:
        if workers == "1":  # the run is under way once the campaign is recorded
            wait_for("the campaign to start", lambda: bool(
                (out / "campaigns.sqlite").is_file()
                and rows(out / "campaigns.sqlite", "SELECT id FROM campaigns")
            ))
            time.sleep(0.5)
        else:
            wait_for("the workers to start", lambda: bool(workers_of(proc)))
        proc.send_signal(signal.SIGTERM)  # to the campaign's process alone, as kill does
        stdout, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            kill(proc)
    summary = json.loads(stdout)
    assert (proc.returncode, summary["stopped"], summary["runs"]) == (0, "interrupted", 0), err
    assert summary["wall_seconds"] < 60  # the minute-long run was not waited for
    wait_for("the workers to end", functools.partial(no_process_of, out))
    with contextlib.closing(sqlite3.connect(out / "campaigns.sqlite")) as db:
        stopped, finished = db.execute("SELECT stopped, finished FROM campaigns").fetchone()
    assert stopped == "interrupted" and finished is not None  # not "unfinished"


WATCHED = """\
import multiprocessing, os, sys, time
from wfsim.campaign._run import die_with_parent

def child(parent):
    die_with_parent(parent, pdeathsig=False)
    time.sleep(120)

if __name__ == "__main__":
    worker = multiprocessing.get_context("fork").Process(target=child, args=(os.getpid(),))
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.spec("CAMP-13")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the watch is tested with a forked child")
def test_without_the_kernel_signal_a_worker_still_ends_soon_after_its_parent(
    tmp_path: pathlib.Path,
) -> None:
    script = write(tmp_path, "watched.py", WATCHED)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        wait_for("the watch to start", lambda: child.num_threads() >= 2)
    finally:
        kill(parent)

    def gone() -> bool:
        with contextlib.suppress(psutil.NoSuchProcess):
            return bool(child.status() == psutil.STATUS_ZOMBIE)
        return True

    # It polls every PARENT_POLL seconds; a loaded machine may take longer to schedule it.
    wait_for("the orphan to end", gone)


def damaged_stores(tmp_path: pathlib.Path, steady: pathlib.Path) -> dict[str, pathlib.Path]:
    """Store files broken in each way CAMP-12 names, each alone in its directory."""
    good = tmp_path / "good" / "campaigns.sqlite"
    for _ in range(2):
        run_campaign([steady], seeds=300, store=good)
    size = good.stat().st_size
    page = 4096
    assert size > 8 * page
    half = size // 2 // page * page

    def broken(name: str, change: Callable[[pathlib.Path], object]) -> pathlib.Path:
        path = tmp_path / name / "campaigns.sqlite"
        path.parent.mkdir()
        shutil.copy(good, path)
        change(path)
        return path

    def foreign(path: pathlib.Path) -> None:
        path.unlink()
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE users (name TEXT)")
            db.commit()

    def damaged_row(path: pathlib.Path) -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("UPDATE campaigns SET options = '{\"workers\": ' WHERE id = 1")
            db.commit()

    return {
        "not-sqlite": broken("not-sqlite", lambda p: p.write_text("campaigns, but as text\n")),
        "cut-at-a-page": broken("cut-at-a-page", lambda p: os.truncate(p, half)),
        "cut-in-a-page": broken("cut-in-a-page", lambda p: os.truncate(p, size - 1)),
        "cut-to-a-header": broken("cut-to-a-header", lambda p: os.truncate(p, 50)),
        "foreign": broken("foreign", foreign),
        "damaged-row": broken("damaged-row", damaged_row),
    }


EXPECTED = {
    "not-sqlite": "cannot use it as a campaign store: file is not a database",
    "cut-at-a-page": "cannot use it as a campaign store: database disk image is malformed",
    "cut-in-a-page": "cannot use it as a campaign store: truncated (",
    "cut-to-a-header": "cannot use it as a campaign store: truncated (50 bytes, not a whole",
    "foreign": "not a campaign store (an SQLite file with tables users)",
    "damaged-row": "damaged campaign store: a record does not read back (JSONDecodeError",
}


@pytest.mark.spec("CAMP-12")
def test_a_broken_store_is_one_line_naming_the_file_and_exit_2(
    tmp_path: pathlib.Path, steady: pathlib.Path
) -> None:
    stores = damaged_stores(tmp_path, steady)
    before = {name: path.read_bytes() for name, path in stores.items()}
    simulate_argv = [steady.name, "--seeds", "5", "--workers", "1", "--resume", "--out"]
    # Two as real processes (what a user sees), every one in this process too.
    procs = {
        name: simulate(tmp_path, *simulate_argv, str(stores[name].parent))
        for name in ("not-sqlite", "cut-at-a-page")
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=TIMEOUT)
        assert (proc.returncode, out) == (2, ""), err
        assert err.startswith(f"wfsim: {stores[name]}: {EXPECTED[name]}"), err
        assert err.count("\n") == 1 and "Traceback" not in err
    for name, path in stores.items():
        commands = [
            ["simulate", *simulate_argv, str(path.parent)],
            ["campaigns", "list", "--out", str(path.parent)],
            ["campaigns", "show", "1", "--out", str(path.parent)],
            ["campaigns", "diff", "1", "2", "--out", str(path.parent)],
        ]
        for argv in commands:
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.chdir(tmp_path):
                code = main(argv, out=stdout, err=stderr)
            message = stderr.getvalue()
            assert (code, stdout.getvalue()) == (2, ""), (name, argv, message)
            assert message.startswith(f"wfsim: {path}: {EXPECTED[name]}"), message
            assert message.count("\n") == 1
            if name == "damaged-row" and argv[0] == "simulate":
                before[name] = path.read_bytes()  # it began a campaign before reading the row
        assert path.read_bytes() == before[name], f"{name} was written"
    # The API raises CampaignError for the same files.
    with pytest.raises(CampaignError, match="file is not a database"):
        CampaignStore(stores["not-sqlite"])
