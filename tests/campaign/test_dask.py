"""The Dask backend (``--dask ADDRESS|local``): the same runs as every other backend.

Rules: ``specs/campaign.md`` CAMP-4 (and CAMP-3, CAMP-5 for its errors and stops).
The in-process tests share one local Dask cluster of two worker processes, started
once for the module; the command-line tests start their own with ``--dask local``.
Tests that need Dask skip without the ``dask`` extra (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from wfsim._cli import main
from wfsim.campaign import CampaignError, CampaignStore, run_campaign
from wfsim.campaign._dask import EXTRA_MESSAGE, connect
from wfsim.campaign._explore import Exploration
from wfsim.campaign._record import file_hash
from wfsim.campaign._store import ScenarioRef
from wfsim.scenario import load_scenario, run_scenario

from .test_campaign import without_wall_clock
from .test_cli import AS_FROM_A_TERMINAL, wfsim_many, without_progress

TIMEOUT = 60
#: What a run is, without the wall clock: equal on every backend.
COLUMNS = "scenario_hash, seed, status, passed, failures, digest, makespan_ns, stats"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a local Dask cluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
    ) as local:
        yield local.scheduler_address


def stored_runs(store: pathlib.Path, campaign: int | None) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store) as db:
        rows = db.execute(
            f"SELECT {COLUMNS} FROM runs WHERE campaign = ? ORDER BY scenario_hash, seed",
            (campaign,),
        ).fetchall()
    return [tuple(row) for row in rows]


@pytest.mark.spec("CAMP-4", "CAMP-6")
def test_a_dask_cluster_gives_the_runs_of_every_other_backend(
    cluster: str, flaky: pathlib.Path, steady: pathlib.Path, store: pathlib.Path
) -> None:
    here = run_campaign([flaky, steady], seeds=40, workers=1, store=store)
    pool = run_campaign([flaky, steady], seeds=40, workers=2, store=store)
    dask = run_campaign([flaky, steady], seeds=40, dask=cluster, store=store)
    assert dask.workers == 2  # the cluster's threads, not the workers argument
    assert 0 < here.failed < 40  # some seeds fail: failures must agree too
    rows = stored_runs(store, here.campaign_id)
    assert len(rows) == 80
    assert stored_runs(store, pool.campaign_id) == rows
    assert stored_runs(store, dask.campaign_id) == rows
    assert without_wall_clock(dask) == without_wall_clock(here)
    # ... and each digest is the one a replay of that seed prints.
    scenario = load_scenario(str(flaky))
    seed = dask.scenarios[0].failing[0].seed
    replay = run_scenario(scenario, seed=seed).result.digest()
    assert [r.digest for r in dask.scenarios[0].failing if r.seed == seed] == [replay]
    assert dask.format().startswith(
        f"40 seeds (0-39) of 2 scenarios, 2 workers on the Dask cluster at {cluster}; "
    )
    with CampaignStore(store, create=False) as db:
        info = db.campaigns()[-1]
        shown = db.summary(info.id)
    assert info.id == dask.campaign_id and (info.runs, info.stopped) == (80, None)
    assert (shown.dask, shown.workers) == (cluster, 2)  # campaigns show says so too
    with sqlite3.connect(store) as db:
        (options,) = db.execute(
            "SELECT options FROM campaigns WHERE id = ?", (dask.campaign_id,)
        ).fetchone()
    assert json.loads(options)["dask"] == cluster


@pytest.mark.spec("CAMP-4")
def test_random_faults_and_schedule_strategies_are_the_same_on_dask(
    cluster: str, flaky: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    options: dict[str, Any] = {"seeds": 30, "fault_rate": 0.2, "swarm": True}
    here = run_campaign([flaky], workers=1, store=tmp_path / "a.sqlite", **options)
    dask = run_campaign([flaky], dask=cluster, store=tmp_path / "b.sqlite", **options)
    assert here.failed > 0
    assert stored_runs(tmp_path / "b.sqlite", 1) == stored_runs(tmp_path / "a.sqlite", 1)
    assert without_wall_clock(dask) == without_wall_clock(here)
    pct = Exploration.make("pct", chaos_phase="3s", liveness_bound="1m")
    explore: dict[str, Any] = {"seeds": 30, "exploration": pct}
    here = run_campaign([flaky], workers=1, store=tmp_path / "a.sqlite", **explore)
    dask = run_campaign([flaky], dask=cluster, store=tmp_path / "b.sqlite", **explore)
    assert stored_runs(tmp_path / "b.sqlite", 2) == stored_runs(tmp_path / "a.sqlite", 2)
    assert without_wall_clock(dask) == without_wall_clock(here)


@pytest.mark.spec("CAMP-5")
def test_max_failures_and_the_time_budget_stop_a_dask_campaign(
    cluster: str, flaky: pathlib.Path, steady: pathlib.Path
) -> None:
    failing = run_campaign([flaky], seeds=100_000, dask=cluster, max_failures=3)
    assert failing.stopped == "max_failures" and failing.failed >= 3
    assert failing.runs < 100_000
    budget = run_campaign([steady], seeds=1_000_000, dask=cluster, time_budget="500ms")
    assert budget.stopped == "time_budget" and budget.ok
    assert budget.runs < 1_000_000
    assert budget.wall_seconds < 10  # batches under way are cancelled, not awaited


@pytest.mark.spec("CAMP-4", "TIME-4")
def test_step_code_on_a_dask_worker_leaves_the_workers_event_loop_on_host_time(
    cluster: str,
) -> None:
    """Regression: the worker's event loop read the run's virtual wall clock and stalled.

    Tornado times the worker's messages to the scheduler with ``time.time()``; when a
    task's run showed it 2026-01-01 the loop waited the months to the host's date, the
    scheduler never heard that batches had finished, and ``--dask local`` over
    ``scenarios/`` hung.
    """
    distributed = pytest.importorskip("distributed")

    def read_clocks() -> tuple[float, float, float]:  # runs on a worker: pickled by value
        import threading
        import time

        import wfsim

        worker = distributed.get_worker()
        seen: list[float] = []
        read = threading.Event()
        wf = wfsim.Workflow("clocks")

        @wf.step
        async def look(ctx: wfsim.StepContext) -> None:
            await ctx.sleep("1h")
            worker.loop.add_callback(lambda: (seen.append(time.time()), read.set()))
            assert read.wait(TIMEOUT)
            seen.append(time.time())

        assert wfsim.run(wf).status == "completed"
        return seen[0], seen[1], time.time()

    with distributed.Client(cluster, set_as_default=False) as client:
        loop, step, host = client.submit(read_clocks, pure=False).result(timeout=TIMEOUT)
    assert step == 1767229200.0  # 2026-01-01T01:00:00Z: the run's virtual clock
    assert abs(loop - host) < TIMEOUT  # the worker's event loop: the host's


@pytest.mark.slow
@pytest.mark.spec("CAMP-4", "TIME-4")
def test_every_shipped_scenario_runs_on_dask_as_in_process(
    cluster: str, tmp_path: pathlib.Path
) -> None:
    """The README's ``wfsim simulate scenarios/ --dask local``: it hung before (above)."""
    files = sorted((pathlib.Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
    here = run_campaign(files, seeds=3, workers=1, store=tmp_path / "a.sqlite")
    dask = run_campaign(
        files, seeds=3, dask=cluster, store=tmp_path / "b.sqlite", time_budget=TIMEOUT
    )
    assert (dask.stopped, dask.runs) == (None, 3 * len(files))  # not the time budget
    assert stored_runs(tmp_path / "b.sqlite", 1) == stored_runs(tmp_path / "a.sqlite", 1)
    assert without_wall_clock(dask) == without_wall_clock(here)


@pytest.mark.spec("CAMP-4")
def test_a_dask_worker_refuses_a_file_that_changed(cluster: str, flaky: pathlib.Path) -> None:
    backend = connect(cluster, workers=1, timeout=10)
    stale = ScenarioRef(str(flaky), "flaky", "0" * 64, str(flaky.resolve()))
    try:
        with pytest.raises(CampaignError, match=r"flaky\.wfsim\.yaml: the scenario file changed"):
            backend.run([stale], iter([(0, (1, 2))]), lambda records: True, None)
    finally:
        backend.close()
    assert file_hash(flaky) != stale.scenario_hash


@pytest.mark.spec("CAMP-3", "CAMP-4")
def test_simulate_dask_local_reports_what_in_process_reports(
    tmp_path: pathlib.Path, flaky: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    simulate = ["simulate", flaky.name, "--seeds", "40", "--json"]
    local, nobody = wfsim_many(
        tmp_path,
        [*simulate, "--workers", "2", "--dask", "local", "--out", "dask"],
        [*simulate, "--dask", "tcp://127.0.0.1:1", "--dask-timeout", "1s"],
    )
    monkeypatch.chdir(tmp_path)  # the same relative path in the replay lines
    here = run_campaign([flaky.name], seeds=40, workers=1, store=tmp_path / "here.sqlite")
    code, out, err = local
    # Some seeds fail; Dask's logs stay quiet. A loaded machine may take longer than
    # the progress interval, so a progress line (CAMP-9) may be there.
    noise = [line for line in err.splitlines() if not line.startswith("wfsim simulate: ")]
    assert (code, noise) == (1, []), err
    data, expected = json.loads(out), here.to_json()
    assert (data["workers"], data["dask"], data["failed"]) == (2, "local", here.failed)
    for key in ("campaign", "store", "workers", "dask", "wall_seconds", "runs_per_second"):
        data.pop(key), expected.pop(key)
    assert data == expected  # every failing seed, with its digest
    assert stored_runs(tmp_path / "dask" / "campaigns.sqlite", 1) == stored_runs(
        tmp_path / "here.sqlite", here.campaign_id
    )
    code, out, err = nobody
    assert (code, out) == (2, "")
    assert err.startswith(
        "wfsim: cannot reach a Dask scheduler at tcp://127.0.0.1:1 within 1s"
    ), err
    assert "Traceback" not in err


@pytest.mark.spec("CAMP-3")
def test_an_address_dask_cannot_parse_is_bad_input(flaky: pathlib.Path) -> None:
    pytest.importorskip("distributed")
    for address, problem in [
        ("nowhere", "missing port number"),
        ("tcp://host", "missing port number"),
        ("carrier-pigeon://host:1", "unknown address scheme"),
    ]:
        with pytest.raises(CampaignError) as caught:
            run_campaign([flaky], seeds=5, dask=address)
        message = str(caught.value)
        assert message.startswith(f"--dask {address!r} is not a Dask scheduler address (")
        assert problem in message and "give 'local' or one such as tcp://host:8786" in message


@pytest.mark.spec("CAMP-3")
def test_a_dask_timeout_that_is_not_positive_is_bad_input_named_as_such(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "x.wfsim.yaml", "--seeds", "1", "--dask-timeout", "0s"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(
        "argument --dask-timeout: Dask timeout must be more than 0s, not '0s'"
    )


@pytest.mark.spec("CAMP-3")
def test_without_the_dask_extra_dask_is_bad_input(
    tmp_path: pathlib.Path, flaky: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `distributed` that cannot be imported, first on the path: as if not installed.
    shim = tmp_path / "shim" / "distributed"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    ((code, out, err),) = wfsim_many(
        tmp_path,
        ["simulate", flaky.name, "--seeds", "5", "--dask", "local"],
        env={"PYTHONPATH": str(shim.parent)},
    )
    assert (code, out) == (2, "")
    assert err == f"wfsim: {EXTRA_MESSAGE}\n"
    assert EXTRA_MESSAGE == (
        "wfsim simulate --dask needs the optional extra: pip install 'pytest-wfsim[dask]'"
    )
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails in process too
    with pytest.raises(CampaignError, match=r"pip install 'pytest-wfsim\[dask\]'"):
        run_campaign([flaky], seeds=5, dask="local")
    with pytest.raises(CampaignError, match="Dask connect timeout must be more than 0s"):
        run_campaign([flaky], seeds=5, dask="local", dask_timeout=0)


@pytest.mark.spec("CAMP-5")
def test_ctrl_c_stops_a_dask_local_campaign_and_its_cluster_cleanly(
    tmp_path: pathlib.Path, steady: pathlib.Path
) -> None:
    pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")  # installed with distributed
    store = tmp_path / "out" / "campaigns.sqlite"
    proc = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, "simulate", steady.name, "--seeds", "1000000",
         "--workers", "1", "--dask", "local", "--out", "out"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job is
    )
    try:
        recorded, deadline = 0, time.monotonic() + TIMEOUT
        while recorded == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            if not store.exists():
                continue
            # The store may exist before its tables do.
            with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(store) as db:
                recorded = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        group = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
        assert len(group) >= 2  # the campaign and its Dask worker
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert (proc.returncode, without_progress(err)) == (0, ""), err
    assert out.rstrip().splitlines()[-1].startswith("stopped early: interrupted (")
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT stopped FROM campaigns").fetchall() == [("interrupted",)]
    # Nothing of it outlives it but zombies (multiprocessing's helpers may take a moment).
    def running() -> list[int]:
        alive = []
        for pid in group[1:]:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        return alive

    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running() == []


@pytest.mark.spec("CAMP-4")
def test_a_scheduler_without_workers_is_an_error_not_a_wait(flaky: pathlib.Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=0, processes=False, dashboard_address=":0", scheduler_kwargs={"dashboard": False}
    ) as empty:
        address = empty.scheduler_address
        begin = time.monotonic()
        with pytest.raises(CampaignError, match=r"has no workers \(waited 0\.5s\)"):
            run_campaign([flaky], seeds=5, dask=address, dask_timeout="500ms")
        assert time.monotonic() - begin < 5
